//! The scenario's own measurements: checks, trends and counters, reported
//! beside the request statistics.

use std::time::Duration;

use crate::bindings::throng::scenario::metrics as wit;

/// Records whether a check passed and returns `passed`. A failed check is
/// counted in the run's failures with kind `check`; the task goes on.
///
/// ```no_run
/// # let body = String::new();
/// throng_sdk::metrics::check("reply is not empty", !body.is_empty());
/// ```
pub fn check(name: &str, passed: bool) -> bool {
    wit::check(name, passed);
    passed
}

/// Records one value of a trend; durations in milliseconds by convention.
/// Negative and non-finite values are dropped by the host with a warning.
///
/// ```no_run
/// throng_sdk::metrics::trend("tokens_per_reply", 20.0);
/// ```
pub fn trend(name: &str, value: f64) {
    wit::trend(name, value);
}

/// Records a duration in a trend, in milliseconds.
///
/// ```no_run
/// throng_sdk::metrics::trend_duration("review_completion", std::time::Duration::from_secs(3));
/// ```
pub fn trend_duration(name: &str, duration: Duration) {
    wit::trend(name, duration.as_secs_f64() * 1000.0);
}

/// Adds `delta` to a counter.
///
/// ```no_run
/// throng_sdk::metrics::counter("messages_sent", 1);
/// ```
pub fn counter(name: &str, delta: u64) {
    wit::counter(name, delta);
}
