//! Time as the virtual user sees it: a monotonic clock and a sleep that
//! suspends only this user.

use std::time::Duration;

use crate::bindings::throng::scenario::clock as wit;

/// Time since the run started, on a monotonic clock.
///
/// ```no_run
/// let started = throng_sdk::clock::now();
/// // ... poll something ...
/// let took = throng_sdk::clock::now() - started;
/// throng_sdk::metrics::trend_duration("job_completion", took);
/// ```
pub fn now() -> Duration {
    Duration::from_nanos(wit::now())
}

/// Suspends this user for `duration`; other users go on. A task still
/// running when the run's stop timeout ends is cut off, sleep or not.
///
/// ```no_run
/// throng_sdk::clock::sleep(std::time::Duration::from_secs(1));
/// ```
pub fn sleep(duration: Duration) {
    wit::sleep(u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX));
}
