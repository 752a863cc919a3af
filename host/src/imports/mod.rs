//! The host side of every WIT interface, one file each, implemented on
//! [`VuState`](crate::runtime::VuState). Each import first tells the user's
//! state that the guest called the host, which resets its CPU budget.

mod clock;
mod context;
pub mod http;
mod log;
mod metrics;
pub mod stream;
mod wire;
pub mod ws;
