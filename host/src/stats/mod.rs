//! Statistics of a run: requests per name and method, tasks, the scenario's
//! checks, trends and counters, and failures. Everything the users record
//! goes through one [`Stats`]; reports read [`Snapshot`]s of it.

mod errors;
mod histogram;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use errors::{ErrorKind, ErrorRow};
pub use histogram::{Samples, Summary};

/// The most distinct names kept for requests, and for trends, checks and
/// counters each. A scenario that names requests by their full URL (ids
/// and all) would otherwise grow the statistics without bound.
pub const MAX_NAMES: usize = 1000;

/// Where names past [`MAX_NAMES`] are counted.
pub const OTHER_NAMES: &str = "(other names)";

/// The statistics of one run, shared by every user.
///
/// One lock guards them all: recording a sample is a hash look-up and a
/// histogram increment, far shorter than the request it describes.
#[derive(Debug)]
pub struct Stats {
    started: Instant,
    inner: Mutex<Aggregate>,
}

/// A failure to record: its kind and message.
pub type Failure<'a> = Option<(ErrorKind, &'a str)>;

#[derive(Debug, Default)]
struct Aggregate {
    /// Keyed by name, then a short list of methods, so that a look-up needs
    /// no allocation.
    requests: HashMap<String, Vec<(String, RequestStats)>>,
    tasks: HashMap<String, TaskStats>,
    trends: HashMap<String, Samples>,
    checks: HashMap<String, CheckRow>,
    counters: HashMap<String, u64>,
    errors: errors::ErrorTable,
    window: Window,
    /// The kinds of name (`request`, `trend`, ...) already folded into
    /// [`OTHER_NAMES`], so that each is warned about once.
    folded: Vec<&'static str>,
}

#[derive(Debug, Default, Clone)]
pub struct RequestStats {
    pub count: u64,
    pub failures: u64,
    pub bytes: u64,
    /// Every request that ended with a response or a transport error; those
    /// cut short at the stop are counted but not timed.
    pub latency: Samples,
}

#[derive(Debug, Default, Clone)]
pub struct TaskStats {
    pub count: u64,
    pub failures: u64,
    pub duration: Samples,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CheckRow {
    pub passes: u64,
    pub failures: u64,
}

/// Requests since the live line last looked.
#[derive(Debug, Default)]
struct Window {
    requests: u64,
    failures: u64,
    latency: Samples,
}

/// What the live line shows for the last window.
#[derive(Debug, Clone, Copy, Default)]
pub struct WindowSnapshot {
    pub requests: u64,
    pub failures: u64,
    /// Milliseconds.
    pub p50: f64,
    /// Milliseconds.
    pub p95: f64,
}

/// Everything recorded so far, sorted for reports.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub elapsed: Duration,
    /// Sorted by name, then method.
    pub requests: Vec<(String, String, RequestStats)>,
    pub tasks: Vec<(String, TaskStats)>,
    pub trends: Vec<(String, Samples)>,
    pub checks: Vec<(String, CheckRow)>,
    pub counters: Vec<(String, u64)>,
    pub errors: Vec<ErrorRow>,
}

impl Snapshot {
    /// All requests as one row.
    pub fn total(&self) -> RequestStats {
        let mut total = RequestStats::default();
        for (_, _, stats) in &self.requests {
            total.count += stats.count;
            total.failures += stats.failures;
            total.bytes += stats.bytes;
            total.latency.add(&stats.latency);
        }
        total
    }

    /// Events per second over the run so far.
    pub fn rate(&self, count: u64) -> f64 {
        let seconds = self.elapsed.as_secs_f64();
        if seconds <= 0.0 {
            0.0
        } else {
            count as f64 / seconds
        }
    }
}

impl Stats {
    pub fn new() -> Self {
        Self {
            started: Instant::now(),
            inner: Mutex::new(Aggregate::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Aggregate> {
        // A panic while holding the lock leaves counts that are still
        // usable: keep going rather than lose the run's results.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records one request. `elapsed` is `None` for a request cut short at
    /// the stop, which is counted but not timed.
    pub fn record_request(
        &self,
        name: &str,
        method: &str,
        elapsed: Option<Duration>,
        bytes: u64,
        failure: Failure<'_>,
    ) {
        let micros = elapsed.map(|elapsed| u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX));
        let mut agg = self.lock();
        let agg = &mut *agg;
        let name = bounded(&agg.requests, name, &mut agg.folded, "request");
        let methods = match agg.requests.get_mut(name) {
            Some(methods) => methods,
            None => agg.requests.entry(name.to_owned()).or_default(),
        };
        let index = match methods.iter().position(|(m, _)| m == method) {
            Some(index) => index,
            None => {
                methods.push((method.to_owned(), RequestStats::default()));
                methods.len() - 1
            }
        };
        let stats = &mut methods[index].1;
        stats.count += 1;
        stats.bytes += bytes;
        agg.window.requests += 1;
        if let Some(micros) = micros {
            stats.latency.record(micros);
            agg.window.latency.record(micros);
        }
        if let Some((kind, message)) = failure {
            stats.failures += 1;
            agg.window.failures += 1;
            agg.errors.record(Some(method), name, kind, message);
        }
    }

    /// Records a request that could not be sent at all: a failure under
    /// its name, but no request.
    pub fn record_unsent(&self, name: &str, method: &str, kind: ErrorKind, message: &str) {
        let mut agg = self.lock();
        let agg = &mut *agg;
        let name = bounded(&agg.requests, name, &mut agg.folded, "request");
        agg.errors.record(Some(method), name, kind, message);
    }

    /// Records one run of a task (or of `on-start` / `on-stop`).
    pub fn record_task(&self, name: &str, elapsed: Duration, failure: Failure<'_>) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let mut agg = self.lock();
        let agg = &mut *agg;
        let stats = match agg.tasks.get_mut(name) {
            Some(stats) => stats,
            None => agg.tasks.entry(name.to_owned()).or_default(),
        };
        stats.count += 1;
        stats.duration.record(micros);
        if let Some((kind, message)) = failure {
            stats.failures += 1;
            agg.errors.record(None, name, kind, message);
        }
    }

    pub fn record_check(&self, name: &str, passed: bool) {
        let mut agg = self.lock();
        let agg = &mut *agg;
        let name = bounded(&agg.checks, name, &mut agg.folded, "check");
        let row = match agg.checks.get_mut(name) {
            Some(row) => row,
            None => agg.checks.entry(name.to_owned()).or_default(),
        };
        if passed {
            row.passes += 1;
        } else {
            row.failures += 1;
            agg.errors
                .record(None, name, ErrorKind::Check, "check failed");
        }
    }

    /// Records a trend value, kept to a thousandth. Returns false (and
    /// records nothing) for a negative or non-finite value.
    pub fn record_trend(&self, name: &str, value: f64) -> bool {
        if !value.is_finite() || value < 0.0 {
            return false;
        }
        let thousandths = (value * 1000.0).round() as u64;
        let mut agg = self.lock();
        let agg = &mut *agg;
        let name = bounded(&agg.trends, name, &mut agg.folded, "trend");
        match agg.trends.get_mut(name) {
            Some(samples) => samples.record(thousandths),
            None => agg
                .trends
                .entry(name.to_owned())
                .or_default()
                .record(thousandths),
        }
        true
    }

    pub fn record_counter(&self, name: &str, delta: u64) {
        let mut agg = self.lock();
        let agg = &mut *agg;
        let name = bounded(&agg.counters, name, &mut agg.folded, "counter");
        match agg.counters.get_mut(name) {
            Some(value) => *value = value.saturating_add(delta),
            None => {
                agg.counters.insert(name.to_owned(), delta);
            }
        }
    }

    /// The requests since the last call, for the live line.
    pub fn take_window(&self) -> WindowSnapshot {
        let mut agg = self.lock();
        let window = &mut agg.window;
        let snapshot = WindowSnapshot {
            requests: window.requests,
            failures: window.failures,
            p50: window.latency.quantile(0.50),
            p95: window.latency.quantile(0.95),
        };
        window.requests = 0;
        window.failures = 0;
        window.latency.reset();
        snapshot
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    pub fn snapshot(&self) -> Snapshot {
        let elapsed = self.started.elapsed();
        let agg = self.lock();
        let mut requests: Vec<_> = agg
            .requests
            .iter()
            .flat_map(|(name, methods)| {
                methods
                    .iter()
                    .map(|(method, stats)| (name.clone(), method.clone(), stats.clone()))
            })
            .collect();
        requests.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        Snapshot {
            elapsed,
            requests,
            tasks: sorted(&agg.tasks),
            trends: sorted(&agg.trends),
            checks: sorted(&agg.checks),
            counters: sorted(&agg.counters),
            errors: agg.errors.rows(),
        }
    }
}

impl Default for Stats {
    fn default() -> Self {
        Self::new()
    }
}

/// `name`, or [`OTHER_NAMES`] when `map` already holds [`MAX_NAMES`] names
/// and not this one; the first fold of each `kind` is logged.
fn bounded<'a, T>(
    map: &HashMap<String, T>,
    name: &'a str,
    folded: &mut Vec<&'static str>,
    kind: &'static str,
) -> &'a str {
    if map.len() < MAX_NAMES || map.contains_key(name) {
        return name;
    }
    if !folded.contains(&kind) {
        folded.push(kind);
        tracing::warn!(
            kind,
            limit = MAX_NAMES,
            "too many distinct names; the rest are counted under `(other names)` \
             (name requests with `.name(..)` to leave ids out)"
        );
    }
    OTHER_NAMES
}

fn sorted<T: Clone>(map: &HashMap<String, T>) -> Vec<(String, T)> {
    let mut rows: Vec<_> = map.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_past_the_limit_fold_into_one_row() {
        let stats = Stats::new();
        for i in 0..MAX_NAMES + 5 {
            let name = format!("/item/{i}");
            stats.record_request(&name, "GET", Some(Duration::from_millis(1)), 0, None);
            stats.record_trend(&name, 1.0);
        }
        stats.record_request("/item/7", "GET", Some(Duration::from_millis(1)), 0, None);
        let snapshot = stats.snapshot();
        assert_eq!(snapshot.requests.len(), MAX_NAMES + 1);
        let other = snapshot
            .requests
            .iter()
            .find(|(name, _, _)| name == OTHER_NAMES);
        assert_eq!(other.map(|(_, _, stats)| stats.count), Some(5));
        let known = snapshot
            .requests
            .iter()
            .find(|(name, _, _)| name == "/item/7");
        assert_eq!(known.map(|(_, _, stats)| stats.count), Some(2));
        assert_eq!(snapshot.trends.len(), MAX_NAMES + 1);
        assert_eq!(snapshot.total().count, MAX_NAMES as u64 + 6);
    }

    #[test]
    fn requests_are_grouped_by_name_and_method() {
        let stats = Stats::new();
        let ms = |n| Some(Duration::from_millis(n));
        stats.record_request("/rooms", "GET", ms(10), 100, None);
        stats.record_request("/rooms", "GET", ms(20), 100, None);
        stats.record_request(
            "/rooms",
            "POST",
            ms(30),
            5,
            Some((ErrorKind::Status5xx, "status 503")),
        );
        let snapshot = stats.snapshot();
        assert_eq!(snapshot.requests.len(), 2);
        let (_, method, get) = &snapshot.requests[0];
        assert_eq!(
            (method.as_str(), get.count, get.failures, get.bytes),
            ("GET", 2, 0, 200)
        );
        let total = snapshot.total();
        assert_eq!((total.count, total.failures), (3, 1));
        assert_eq!(snapshot.errors[0].kind, ErrorKind::Status5xx);
    }

    #[test]
    fn aborted_requests_are_counted_but_not_timed() {
        let stats = Stats::new();
        stats.record_request(
            "/slow",
            "GET",
            None,
            0,
            Some((ErrorKind::Aborted, "stopped")),
        );
        let (_, _, row) = &stats.snapshot().requests[0];
        assert_eq!((row.count, row.failures, row.latency.len()), (1, 1, 0));
    }

    #[test]
    fn window_resets_after_each_look() {
        let stats = Stats::new();
        stats.record_request("/", "GET", Some(Duration::from_millis(5)), 0, None);
        let first = stats.take_window();
        assert_eq!(first.requests, 1);
        assert!((first.p50 - 5.0).abs() < 0.01);
        let second = stats.take_window();
        assert_eq!((second.requests, second.p50), (0, 0.0));
    }

    #[test]
    fn failed_checks_are_failures_of_kind_check() {
        let stats = Stats::new();
        stats.record_check("reply arrived", true);
        stats.record_check("reply arrived", false);
        let snapshot = stats.snapshot();
        assert_eq!(
            snapshot.checks[0].1,
            CheckRow {
                passes: 1,
                failures: 1
            }
        );
        assert_eq!(snapshot.errors[0].kind, ErrorKind::Check);
    }

    #[test]
    fn trends_drop_values_they_cannot_hold() {
        let stats = Stats::new();
        assert!(stats.record_trend("t", 12.5));
        assert!(!stats.record_trend("t", -1.0));
        assert!(!stats.record_trend("t", f64::NAN));
        let snapshot = stats.snapshot();
        assert_eq!(snapshot.trends[0].1.len(), 1);
        assert!((snapshot.trends[0].1.summary().p50 - 12.5).abs() < 0.01);
    }
}
