//! Write [throng](https://github.com/throng-rs/throng) load-test scenarios in
//! Rust.
//!
//! A scenario is the behaviour of one virtual user. You write a struct that
//! holds one user's state, build it in [`Scenario::on_start`], list its
//! tasks with weights in [`Scenario::describe`], and export it with
//! [`export!`]. throng compiles the crate to a WebAssembly component and runs
//! one instance of it per virtual user; code here is plain blocking code, and
//! a request blocks only its own user.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use throng_sdk::prelude::*;
//!
//! /// One signed-in visitor of the shop.
//! struct Shopper {
//!     token: String,
//! }
//!
//! #[derive(serde::Deserialize)]
//! struct Login {
//!     token: String,
//! }
//!
//! impl Scenario for Shopper {
//!     fn describe() -> Describe<Self> {
//!         Describe::new("shop")
//!             .description("browse, search and buy")
//!             .wait(Wait::between(Duration::from_secs(1), Duration::from_secs(3)))
//!             .task("browse", 5, Self::browse)
//!             .task("search", 2, Self::search)
//!             .task("buy", 1, Self::buy)
//!     }
//!
//!     fn on_start() -> Result<Self> {
//!         let user = format!("user{}", context::user_id());
//!         let login: Login = http::post("/api/login").json(&serde_json::json!({ "user": user }))?.send()?.json()?;
//!         Ok(Shopper { token: login.token })
//!     }
//! }
//!
//! impl Shopper {
//!     fn browse(&mut self) -> Result<()> {
//!         http::get("/api/products").bearer(&self.token).send()?;
//!         Ok(())
//!     }
//!
//!     fn search(&mut self) -> Result<()> {
//!         let found = http::get("/api/search?q=lamp").name("/api/search").bearer(&self.token).send()?;
//!         metrics::check("search finds something", !found.body().is_empty());
//!         Ok(())
//!     }
//!
//!     fn buy(&mut self) -> Result<()> {
//!         http::post("/api/orders").bearer(&self.token).body("{}").send()?.error_for_status()?;
//!         Ok(())
//!     }
//! }
//!
//! throng_sdk::export!(Shopper);
//! ```
//!
//! Build it with `cargo build --release --target wasm32-wasip2` (the crate is a
//! `cdylib`), or let `throng run path/to/crate` build it.

#![warn(missing_docs)]

// The generated bindings name this crate by its public path, which must
// also resolve inside it.
extern crate self as throng_sdk;

pub mod clock;
pub mod context;
pub mod http;
pub mod log;
pub mod metrics;
pub mod sse;
pub mod ws;

#[doc(hidden)]
pub mod bindings;
mod scenario;

pub use scenario::{Describe, Scenario, Wait};

/// A timeout in the whole milliseconds the host's imports take, capped at
/// about 49 days.
pub(crate) fn timeout_ms(timeout: std::time::Duration) -> u32 {
    u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX)
}

/// Everything a scenario usually needs, in one import.
pub mod prelude {
    pub use crate::{Describe, Error, Result, Scenario, Wait};
    pub use crate::{clock, context, http, log, metrics, ws};
}

/// The result of a task, of `on_start` and of most calls in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a task, a start or a stop failed. The message reaches the run's
/// failures table.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A request produced no response.
    Http {
        /// The request's method.
        method: String,
        /// The request's URL as given.
        url: String,
        /// The request's name ([`http::Request::name`]), if it had one. The
        /// message shows it instead of the URL, so that failures of
        /// `/rooms/1` and `/rooms/2` share a row.
        name: Option<String>,
        /// What went wrong.
        source: http::HttpError,
    },
    /// A streamed body failed while it was read
    /// ([`http::Stream::next_chunk`]).
    Stream {
        /// The request's method.
        method: String,
        /// The request as the results name it: its name, or else its URL
        /// as written.
        request: String,
        /// What went wrong.
        source: http::StreamError,
    },
    /// A WebSocket could not be opened, or a call on it failed.
    WebSocket {
        /// The socket as the results name it: its name, or else its URL as
        /// written.
        socket: String,
        /// What went wrong.
        source: ws::WsError,
    },
    /// A response had a status of 400 and up where success was needed
    /// ([`http::Response::error_for_status`]).
    Status {
        /// The status code.
        status: u16,
        /// The request's method.
        method: String,
        /// The final URL.
        url: String,
        /// The request as the results name it: its name, or else its URL
        /// as written.
        request: String,
    },
    /// A body could not be serialised to or parsed from JSON.
    Json(String),
    /// Anything else, in the scenario's own words.
    Message(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Http {
                method,
                url,
                name,
                source,
            } => {
                write!(f, "{method} {}: ", name.as_ref().unwrap_or(url))?;
                match source {
                    http::HttpError::Invalid(m) => write!(f, "invalid request: {m}"),
                    http::HttpError::Dns(m) => write!(f, "dns: {m}"),
                    http::HttpError::Connect(m) => write!(f, "connect: {m}"),
                    http::HttpError::Tls(m) => write!(f, "tls: {m}"),
                    http::HttpError::Timeout(m) => write!(f, "timeout: {m}"),
                    http::HttpError::Reset(m) => write!(f, "reset: {m}"),
                    http::HttpError::BodyTooLarge(limit) => {
                        write!(f, "body larger than {limit} bytes")
                    }
                    http::HttpError::Other(m) => f.write_str(m),
                }
            }
            Error::Status {
                status,
                method,
                request,
                ..
            } => write!(f, "status {status} from {method} {request}"),
            Error::Stream {
                method,
                request,
                source,
            } => {
                write!(f, "{method} {request}: ")?;
                match source {
                    http::StreamError::Timeout(m) => write!(f, "stream timeout: {m}"),
                    http::StreamError::Cut(m) => write!(f, "stream cut: {m}"),
                    http::StreamError::BodyTooLarge(limit) => {
                        write!(f, "body larger than {limit} bytes")
                    }
                    http::StreamError::Closed => f.write_str("the stream is closed"),
                }
            }
            Error::WebSocket { socket, source } => {
                write!(f, "WS {socket}: ")?;
                match source {
                    ws::WsError::Invalid(m) => write!(f, "invalid request: {m}"),
                    ws::WsError::Connect(m) => write!(f, "connect: {m}"),
                    ws::WsError::Timeout(m) => write!(f, "timeout: {m}"),
                    ws::WsError::Closed(frame) if frame.reason.is_empty() => {
                        write!(f, "closed with code {}", frame.code)
                    }
                    ws::WsError::Closed(frame) => {
                        write!(f, "closed with code {}: {}", frame.code, frame.reason)
                    }
                    ws::WsError::Other(m) => f.write_str(m),
                }
            }
            Error::Json(message) => write!(f, "json: {message}"),
            Error::Message(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for Error {}

impl From<String> for Error {
    fn from(message: String) -> Self {
        Error::Message(message)
    }
}

impl From<&str> for Error {
    fn from(message: &str) -> Self {
        Error::Message(message.to_owned())
    }
}

/// Exports a type that implements [`Scenario`] as the component's scenario.
/// Use it once per crate.
///
/// ```no_run
/// use throng_sdk::prelude::*;
///
/// struct Visitor;
///
/// impl Scenario for Visitor {
///     fn describe() -> Describe<Self> {
///         Describe::new("visitor").task("home", 1, |_| {
///             http::get("/").send()?;
///             Ok(())
///         })
///     }
///
///     fn on_start() -> Result<Self> {
///         Ok(Visitor)
///     }
/// }
///
/// throng_sdk::export!(Visitor);
/// ```
#[macro_export]
macro_rules! export {
    ($scenario:ty) => {
        const _: () = {
            struct ThrongExport;

            impl $crate::__private::bindings::Guest for ThrongExport {
                fn describe() -> $crate::__private::bindings::Description {
                    $crate::__private::describe::<$scenario>()
                }

                fn on_start() -> ::std::result::Result<(), ::std::string::String> {
                    $crate::__private::on_start::<$scenario>()
                }

                fn run_task(name: ::std::string::String) -> ::std::result::Result<(), ::std::string::String> {
                    $crate::__private::run_task::<$scenario>(&name)
                }

                fn on_stop() -> ::std::result::Result<(), ::std::string::String> {
                    $crate::__private::on_stop::<$scenario>()
                }
            }

            $crate::__private::bindings::__export_scenario!(ThrongExport with_types_in $crate::__private::bindings);
        };
    };
}

#[doc(hidden)]
pub mod __private {
    pub use crate::bindings;
    pub use crate::scenario::{describe, on_start, on_stop, run_task};
    pub use wit_bindgen;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_requests_are_named_as_the_results_name_them() {
        let status = Error::Status {
            status: 503,
            method: "POST".into(),
            url: "http://127.0.0.1:8080/api/rooms/7/messages".into(),
            request: "/api/rooms/{id}/messages".into(),
        };
        assert_eq!(
            status.to_string(),
            "status 503 from POST /api/rooms/{id}/messages"
        );
        let unsent = Error::Http {
            method: "GET".into(),
            url: "/api/rooms/7".into(),
            name: None,
            source: http::HttpError::Timeout("after 60s".into()),
        };
        assert_eq!(unsent.to_string(), "GET /api/rooms/7: timeout: after 60s");
    }
}
