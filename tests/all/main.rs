//! End-to-end tests: each starts its own server on 127.0.0.1, runs the
//! `throng` binary against it, and compares what the server saw with what
//! throng reported. See tests/README.md.

mod arrival;
mod bad_input;
mod failures;
mod guests;
mod harness;
mod http;
mod interrupt;
mod merge;
mod nginx;
mod origin;
mod plans;
mod scenarios;
mod server;
mod streams;
mod thresholds;
mod workload;
