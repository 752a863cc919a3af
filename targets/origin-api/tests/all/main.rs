//! origin-api's tests, one binary: the HTTP API's contract, the chat
//! WebSocket, the simulated bottlenecks seen from outside, and the binary as
//! scripts use it. Each test starts its own server on 127.0.0.1.

mod api;
mod binary;
mod bottlenecks;
mod chat_socket;
mod common;
