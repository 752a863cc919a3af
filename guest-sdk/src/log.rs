//! Messages to the run's log (the host's stderr), tagged with the user id.
//! The guest's own stdout and stderr also reach the log, but these carry a
//! level.

use crate::bindings::throng::scenario::log::{self as wit, Level};

/// Logs at trace level.
///
/// ```no_run
/// throng_sdk::log::trace("polling again");
/// ```
pub fn trace(message: &str) {
    wit::log(Level::Trace, message);
}

/// Logs at debug level.
///
/// ```no_run
/// throng_sdk::log::debug("token refreshed");
/// ```
pub fn debug(message: &str) {
    wit::log(Level::Debug, message);
}

/// Logs at info level.
///
/// ```no_run
/// throng_sdk::log::info("signed up");
/// ```
pub fn info(message: &str) {
    wit::log(Level::Info, message);
}

/// Logs at warn level.
///
/// ```no_run
/// throng_sdk::log::warn("review took more than a minute");
/// ```
pub fn warn(message: &str) {
    wit::log(Level::Warn, message);
}

/// Logs at error level.
///
/// ```no_run
/// throng_sdk::log::error("the room vanished");
/// ```
pub fn error(message: &str) {
    wit::log(Level::Error, message);
}
