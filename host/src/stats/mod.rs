//! Statistics of a run: requests per name and method, tasks, the scenario's
//! checks, trends and counters, and failures. Everything the users record
//! goes through one [`Stats`]; reports read [`Snapshot`]s of it.

mod errors;
mod histogram;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
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
/// A run holds one or more plans (the config file's `[[scenarios]]`), each
/// a component, its tasks and a load model; every row is kept per plan and
/// reported with the plan's name as its `scenario`. Users record through a
/// [`Recorder`] for their plan.
///
/// One lock guards them all: recording a sample is a hash look-up and a
/// histogram increment, far shorter than the request it describes.
#[derive(Debug)]
pub struct Stats {
    started: Instant,
    /// The plans' names, in the order they were given.
    plans: Vec<String>,
    inner: Mutex<Aggregate>,
}

/// Records for one plan of a run: what its users, and the imports they
/// call, hold.
#[derive(Debug, Clone)]
pub struct Recorder {
    stats: Arc<Stats>,
    plan: usize,
}

/// A failure to record: its kind and message.
pub type Failure<'a> = Option<(ErrorKind, &'a str)>;

#[derive(Debug, Default)]
struct Aggregate {
    /// One per plan, in the plans' order.
    plans: Vec<Rows>,
    window: Window,
    /// Requests since the history last looked (once a second).
    second: Window,
    /// All requests so far, kept as they come so the history need not
    /// merge every row each second.
    total: RequestStats,
    /// The kinds of name (`request`, `trend`, ...) already folded into
    /// [`OTHER_NAMES`], so that each is warned about once.
    folded: Vec<&'static str>,
}

/// The rows of one plan.
#[derive(Debug, Default)]
struct Rows {
    /// Keyed by name, then a short list of methods, so that a look-up needs
    /// no allocation.
    requests: HashMap<String, Vec<(String, RequestStats)>>,
    tasks: HashMap<String, TaskStats>,
    trends: HashMap<String, Samples>,
    checks: HashMap<String, CheckRow>,
    counters: HashMap<String, u64>,
    errors: errors::ErrorTable,
    /// `None` in the closed model.
    iterations: Option<Iterations>,
}

#[derive(Debug, Default, Clone)]
pub struct RequestStats {
    pub count: u64,
    pub failures: u64,
    /// Body bytes as the guest got them, decompressed.
    pub bytes: u64,
    /// Body bytes as they came over the wire, before decompression.
    pub wire_bytes: u64,
    /// Every request that ended with a response or a transport error; those
    /// cut short at the stop are counted but not timed. For a stream, the
    /// time to its last byte; for a WebSocket, the opening handshake.
    pub latency: Samples,
    /// In the arrival-rate model: the same requests timed as a user arriving
    /// on their own would feel them, the first of each iteration from when
    /// the iteration was due (coordinated omission corrected). Empty in the
    /// closed model.
    pub corrected: Samples,
    /// Time to connect (DNS, TCP and TLS), for the requests that made a new
    /// connection.
    pub connect: Samples,
    /// Time to the response headers.
    pub headers: Samples,
    /// Time to the first body byte, for responses with a body.
    pub first_byte: Samples,
    /// Streamed responses only.
    pub stream: Option<Box<StreamStats>>,
    /// WebSocket connections only.
    pub ws: Option<Box<WsStats>>,
}

impl RequestStats {
    /// Adds `other`'s counts and histograms to these.
    pub fn add(&mut self, other: &RequestStats) {
        self.count += other.count;
        self.failures += other.failures;
        self.bytes += other.bytes;
        self.wire_bytes += other.wire_bytes;
        self.latency.add(&other.latency);
        self.corrected.add(&other.corrected);
        self.connect.add(&other.connect);
        self.headers.add(&other.headers);
        self.first_byte.add(&other.first_byte);
        if let Some(theirs) = &other.stream {
            self.stream.get_or_insert_default().add(theirs);
        }
        if let Some(theirs) = &other.ws {
            self.ws.get_or_insert_default().add(theirs);
        }
    }

    /// The times to judge and show: corrected where there are any.
    pub fn timed(&self) -> &Samples {
        if self.corrected.is_empty() {
            &self.latency
        } else {
            &self.corrected
        }
    }
}

/// How a streamed response ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnd {
    /// The body ended as the server meant it to.
    Completed,
    /// The scenario stopped reading (or the host did: the body grew past
    /// its limit, or the user stopped).
    Cancelled,
    /// No chunk within the chunk timeout, or the whole timeout ran out.
    TimedOut,
    /// The server closed or reset the connection before the body ended.
    Cut,
}

/// The figures only streamed responses have. Times in microseconds.
#[derive(Debug, Default, Clone)]
pub struct StreamStats {
    pub completed: u64,
    pub cancelled: u64,
    pub timed_out: u64,
    pub cut: u64,
    /// Pieces of the body as they were read off the connection.
    pub chunks: u64,
    /// From sending the request to the first chunk.
    pub first_chunk: Samples,
    /// Between consecutive chunks of one stream.
    pub chunk_gaps: Samples,
    /// Events the scenario marked (server-sent events, tokens).
    pub events: u64,
    /// From sending the request to the chunk that completed the first
    /// event.
    pub first_event: Samples,
    /// Between consecutive events of one stream, by their chunks' arrival.
    pub event_gaps: Samples,
}

impl StreamStats {
    pub fn add(&mut self, other: &StreamStats) {
        self.completed += other.completed;
        self.cancelled += other.cancelled;
        self.timed_out += other.timed_out;
        self.cut += other.cut;
        self.chunks += other.chunks;
        self.first_chunk.add(&other.first_chunk);
        self.chunk_gaps.add(&other.chunk_gaps);
        self.events += other.events;
        self.first_event.add(&other.first_event);
        self.event_gaps.add(&other.event_gaps);
    }
}

/// The most distinct close codes kept per WebSocket row; past it, codes
/// are counted under 0.
const MAX_CLOSE_CODES: usize = 32;

/// The figures only WebSocket connections have.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WsStats {
    pub sent: u64,
    pub received: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Closed connections by close code (1006: no close frame), sorted by
    /// code.
    pub closes: Vec<(u16, u64)>,
}

impl WsStats {
    pub fn add(&mut self, other: &WsStats) {
        self.sent += other.sent;
        self.received += other.received;
        self.bytes_sent += other.bytes_sent;
        self.bytes_received += other.bytes_received;
        for &(code, count) in &other.closes {
            self.count_close(code, count);
        }
    }

    fn count_close(&mut self, code: u16, count: u64) {
        let code = if self.closes.len() >= MAX_CLOSE_CODES
            && !self.closes.iter().any(|(c, _)| *c == code)
        {
            0
        } else {
            code
        };
        match self.closes.binary_search_by_key(&code, |(c, _)| *c) {
            Ok(at) => self.closes[at].1 += count,
            Err(at) => self.closes.insert(at, (code, count)),
        }
    }
}

/// What the host measured of one exchange, for [`Recorder::record_request`].
#[derive(Debug, Default, Clone, Copy)]
pub struct Exchange {
    /// To the last byte (or, for a WebSocket, to the end of the handshake);
    /// `None` for an exchange cut short at the stop, which is counted but
    /// not timed.
    pub elapsed: Option<Duration>,
    /// From when the request's iteration was due, in the arrival-rate model
    /// only.
    pub corrected: Option<Duration>,
    /// Body bytes, decompressed.
    pub bytes: u64,
    /// Body bytes on the wire.
    pub wire_bytes: u64,
    /// Set when the exchange made a new connection.
    pub connect: Option<Duration>,
    pub headers: Option<Duration>,
    pub first_byte: Option<Duration>,
    /// Set for a streamed response.
    pub stream: Option<StreamEnd>,
}

/// Which of a stream's histograms a timing goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamMark {
    /// A chunk arrived: the first after `elapsed` since sending, or `gap`
    /// after the one before.
    Chunk,
    /// The scenario marked an event.
    Event,
}

/// What happened on a WebSocket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WsEvent {
    Sent(u64),
    Received(u64),
    Closed(u16),
}

/// Iterations of the arrival-rate model.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Iterations {
    /// Due by the rate so far.
    pub due: u64,
    /// Taken up by a user.
    pub started: u64,
    /// Found the queue full, or were still queued at the end.
    pub dropped: u64,
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

/// One second of the run, and the totals at its end.
#[derive(Debug, Clone)]
pub struct Second {
    pub requests: u64,
    pub failures: u64,
    /// Microseconds.
    pub latency: Samples,
    pub total_count: u64,
    pub total_failures: u64,
    pub total_bytes: u64,
    /// Milliseconds.
    pub total_latency: Summary,
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

/// A row of requests: one name and method of one plan.
#[derive(Debug, Clone)]
pub struct RequestRow {
    /// The plan's name.
    pub scenario: String,
    pub name: String,
    pub method: String,
    pub stats: RequestStats,
}

/// A task, trend, check or counter of one plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row<T> {
    /// The plan's name.
    pub scenario: String,
    pub name: String,
    pub value: T,
}

/// Everything recorded so far, sorted for reports: by plan, in the plans'
/// order, then by name (and method).
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub elapsed: Duration,
    /// The plans' names, in order; the results of a run of one plan have
    /// one.
    pub scenarios: Vec<String>,
    pub requests: Vec<RequestRow>,
    pub tasks: Vec<Row<TaskStats>>,
    pub trends: Vec<Row<Samples>>,
    pub checks: Vec<Row<CheckRow>>,
    pub counters: Vec<Row<u64>>,
    pub errors: Vec<ErrorRow>,
    /// The plans in the arrival-rate model, with their iterations.
    pub iterations: Vec<(String, Iterations)>,
}

impl Snapshot {
    /// Adds `other`'s figures to these: counts add up and histograms merge,
    /// so the result is what one run that recorded both would show. Rows
    /// match by plan and name. `elapsed` is left to the caller, who knows
    /// how the runs overlapped.
    pub fn merge(&mut self, other: &Snapshot) {
        for scenario in &other.scenarios {
            if !self.scenarios.contains(scenario) {
                self.scenarios.push(scenario.clone());
            }
        }
        for row in &other.requests {
            let at = self.requests.iter().position(|mine| {
                (&mine.scenario, &mine.name, &mine.method)
                    == (&row.scenario, &row.name, &row.method)
            });
            match at {
                Some(at) => self.requests[at].stats.add(&row.stats),
                None => self.requests.push(row.clone()),
            }
        }
        for (scenario, theirs) in &other.iterations {
            match self
                .iterations
                .iter_mut()
                .find(|(name, _)| name == scenario)
            {
                Some((_, mine)) => {
                    mine.due += theirs.due;
                    mine.started += theirs.started;
                    mine.dropped += theirs.dropped;
                }
                None => self.iterations.push((scenario.clone(), *theirs)),
            }
        }
        merge_named(&mut self.tasks, &other.tasks, |mine, theirs| {
            mine.count += theirs.count;
            mine.failures += theirs.failures;
            mine.duration.add(&theirs.duration);
        });
        merge_named(&mut self.trends, &other.trends, |mine, theirs| {
            mine.add(theirs)
        });
        merge_named(&mut self.checks, &other.checks, |mine, theirs| {
            mine.passes += theirs.passes;
            mine.failures += theirs.failures;
        });
        merge_named(&mut self.counters, &other.counters, |mine, theirs| {
            *mine = mine.saturating_add(*theirs)
        });
        for row in &other.errors {
            let same = self.errors.iter_mut().find(|mine| {
                (
                    &mine.scenario,
                    &mine.method,
                    &mine.name,
                    mine.kind,
                    &mine.message,
                ) == (
                    &row.scenario,
                    &row.method,
                    &row.name,
                    row.kind,
                    &row.message,
                )
            });
            match same {
                Some(mine) => mine.count += row.count,
                None => self.errors.push(row.clone()),
            }
        }
        self.sort();
    }

    /// Puts every table in report order: by plan, then by name.
    pub fn sort(&mut self) {
        let scenarios = self.scenarios.clone();
        let place = |scenario: &str| {
            scenarios
                .iter()
                .position(|name| name == scenario)
                .unwrap_or(usize::MAX)
        };
        self.requests.sort_by(|a, b| {
            (place(&a.scenario), &a.name, &a.method).cmp(&(place(&b.scenario), &b.name, &b.method))
        });
        self.iterations.sort_by_key(|(scenario, _)| place(scenario));
        fn by_plan<T>(rows: &mut [Row<T>], place: &dyn Fn(&str) -> usize) {
            rows.sort_by(|a, b| (place(&a.scenario), &a.name).cmp(&(place(&b.scenario), &b.name)));
        }
        by_plan(&mut self.tasks, &place);
        by_plan(&mut self.trends, &place);
        by_plan(&mut self.checks, &place);
        by_plan(&mut self.counters, &place);
        errors::sort_rows(&mut self.errors);
    }

    /// Whether the rows come from more than one plan, so reports show
    /// which.
    pub fn has_plans(&self) -> bool {
        self.scenarios.len() > 1
    }

    /// All requests as one row.
    pub fn total(&self) -> RequestStats {
        combine(self.requests.iter().map(|row| &row.stats))
    }

    /// The iterations of every plan in the arrival-rate model, added up;
    /// `None` when no plan is.
    pub fn iterations_total(&self) -> Option<Iterations> {
        self.iterations
            .iter()
            .map(|(_, iterations)| *iterations)
            .reduce(|all, one| Iterations {
                due: all.due + one.due,
                started: all.started + one.started,
                dropped: all.dropped + one.dropped,
            })
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

/// Rows of requests as one. When some rows have corrected times (plans in
/// the arrival-rate model) and others do not, the corrected times of the
/// whole are the ones each row shows, so they still count every request.
pub fn combine<'a>(rows: impl IntoIterator<Item = &'a RequestStats>) -> RequestStats {
    let rows: Vec<&RequestStats> = rows.into_iter().collect();
    let mut total = RequestStats::default();
    for row in &rows {
        total.add(row);
    }
    if !total.corrected.is_empty() {
        for row in rows.iter().filter(|row| row.corrected.is_empty()) {
            total.corrected.add(&row.latency);
        }
    }
    total
}

impl Stats {
    /// Statistics for a run of these plans, by name.
    pub fn new(plans: Vec<String>) -> Self {
        let mut aggregate = Aggregate::default();
        aggregate.plans.resize_with(plans.len(), Rows::default);
        Self {
            started: Instant::now(),
            plans,
            inner: Mutex::new(aggregate),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Aggregate> {
        // A panic while holding the lock leaves counts that are still
        // usable: keep going rather than lose the run's results.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The plans' names, in order.
    pub fn plans(&self) -> &[String] {
        &self.plans
    }

    /// The recorder of plan `plan` (its index in the names given to
    /// [`Stats::new`]).
    pub fn recorder(self: &Arc<Self>, plan: usize) -> Recorder {
        assert!(plan < self.plans.len(), "a plan of this run");
        Recorder {
            stats: self.clone(),
            plan,
        }
    }

    /// The last second's requests and the totals so far, for the history
    /// (`--csv`).
    pub fn take_second(&self) -> Second {
        let mut agg = self.lock();
        let agg = &mut *agg;
        let second = Second {
            requests: agg.second.requests,
            failures: agg.second.failures,
            latency: agg.second.latency.clone(),
            total_count: agg.total.count,
            total_failures: agg.total.failures,
            total_bytes: agg.total.bytes,
            total_latency: agg.total.latency.summary(),
        };
        agg.second.requests = 0;
        agg.second.failures = 0;
        agg.second.latency.reset();
        second
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
        let mut snapshot = Snapshot {
            elapsed,
            scenarios: self.plans.clone(),
            requests: Vec::new(),
            tasks: Vec::new(),
            trends: Vec::new(),
            checks: Vec::new(),
            counters: Vec::new(),
            errors: Vec::new(),
            iterations: Vec::new(),
        };
        for (scenario, rows) in self.plans.iter().zip(&agg.plans) {
            for (name, methods) in &rows.requests {
                for (method, stats) in methods {
                    snapshot.requests.push(RequestRow {
                        scenario: scenario.clone(),
                        name: name.clone(),
                        method: method.clone(),
                        stats: stats.clone(),
                    });
                }
            }
            tagged(&mut snapshot.tasks, scenario, &rows.tasks);
            tagged(&mut snapshot.trends, scenario, &rows.trends);
            tagged(&mut snapshot.checks, scenario, &rows.checks);
            tagged(&mut snapshot.counters, scenario, &rows.counters);
            snapshot.errors.extend(rows.errors.rows(scenario));
            if let Some(iterations) = rows.iterations {
                snapshot.iterations.push((scenario.clone(), iterations));
            }
        }
        snapshot.sort();
        snapshot
    }
}

#[cfg(test)]
impl Recorder {
    /// Statistics of a run of one plan, named `scenario`, and its recorder.
    pub fn single(scenario: &str) -> Self {
        Arc::new(Stats::new(vec![scenario.to_owned()])).recorder(0)
    }

    /// The statistics of the whole run.
    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }

    /// A snapshot of the whole run.
    pub fn snapshot(&self) -> Snapshot {
        self.stats.snapshot()
    }
}

impl Recorder {
    /// Records one request, streamed or not, or one WebSocket connection.
    pub fn record_request(
        &self,
        name: &str,
        method: &str,
        exchange: &Exchange,
        failure: Failure<'_>,
    ) {
        let micros = exchange.elapsed.map(micros);
        let mut agg = self.stats.lock();
        let agg = &mut *agg;
        let rows = &mut agg.plans[self.plan];
        let (name, stats) = row(&mut rows.requests, name, method, &mut agg.folded);
        if method == WS_METHOD {
            stats.ws.get_or_insert_default();
        }
        stats.count += 1;
        stats.bytes += exchange.bytes;
        stats.wire_bytes += exchange.wire_bytes;
        for (samples, time) in [
            (&mut stats.connect, exchange.connect),
            (&mut stats.headers, exchange.headers),
            (&mut stats.first_byte, exchange.first_byte),
        ] {
            if let Some(time) = time {
                samples.record(self::micros(time));
            }
        }
        if let Some(end) = exchange.stream {
            let stream = stats.stream.get_or_insert_default();
            match end {
                StreamEnd::Completed => stream.completed += 1,
                StreamEnd::Cancelled => stream.cancelled += 1,
                StreamEnd::TimedOut => stream.timed_out += 1,
                StreamEnd::Cut => stream.cut += 1,
            }
        }
        agg.window.requests += 1;
        agg.second.requests += 1;
        agg.total.count += 1;
        agg.total.bytes += exchange.bytes;
        agg.total.wire_bytes += exchange.wire_bytes;
        if let Some(micros) = micros {
            stats.latency.record(micros);
            // The live line shows what the summary will: corrected times in
            // the arrival-rate model.
            let mut shown = micros;
            if let Some(corrected) = exchange.corrected {
                shown = self::micros(corrected).max(micros);
                stats.corrected.record(shown);
            }
            agg.window.latency.record(shown);
            agg.second.latency.record(micros);
            agg.total.latency.record(micros);
        }
        if let Some((kind, message)) = failure {
            stats.failures += 1;
            agg.window.failures += 1;
            agg.second.failures += 1;
            agg.total.failures += 1;
            rows.errors.record(Some(method), name, kind, message);
        }
    }

    /// Records a chunk's arrival or an event of a stream still going:
    /// `elapsed` since sending for the first, the gap since the one before
    /// for the others.
    pub fn record_stream(
        &self,
        name: &str,
        method: &str,
        mark: StreamMark,
        first: bool,
        time: Duration,
    ) {
        let mut agg = self.stats.lock();
        let agg = &mut *agg;
        let rows = &mut agg.plans[self.plan];
        let (_, stats) = row(&mut rows.requests, name, method, &mut agg.folded);
        let stream = stats.stream.get_or_insert_default();
        let (count, first_time, gaps) = match mark {
            StreamMark::Chunk => (
                &mut stream.chunks,
                &mut stream.first_chunk,
                &mut stream.chunk_gaps,
            ),
            StreamMark::Event => (
                &mut stream.events,
                &mut stream.first_event,
                &mut stream.event_gaps,
            ),
        };
        *count += 1;
        if first {
            first_time.record(micros(time));
        } else {
            gaps.record(micros(time));
        }
    }

    /// Records a message or a close on a WebSocket counted under `name`.
    pub fn record_ws(&self, name: &str, event: WsEvent) {
        let mut agg = self.stats.lock();
        let agg = &mut *agg;
        let rows = &mut agg.plans[self.plan];
        let (_, stats) = row(&mut rows.requests, name, WS_METHOD, &mut agg.folded);
        let ws = stats.ws.get_or_insert_default();
        match event {
            WsEvent::Sent(bytes) => {
                ws.sent += 1;
                ws.bytes_sent += bytes;
            }
            WsEvent::Received(bytes) => {
                ws.received += 1;
                ws.bytes_received += bytes;
            }
            WsEvent::Closed(code) => ws.count_close(code, 1),
        }
    }

    /// Records a failure of a request already counted (a WebSocket the
    /// server closed): its row's failures grow, its count does not.
    pub fn record_late_failure(&self, name: &str, method: &str, kind: ErrorKind, message: &str) {
        let mut agg = self.stats.lock();
        let agg = &mut *agg;
        let rows = &mut agg.plans[self.plan];
        let (name, stats) = row(&mut rows.requests, name, method, &mut agg.folded);
        stats.failures += 1;
        agg.window.failures += 1;
        agg.second.failures += 1;
        agg.total.failures += 1;
        rows.errors.record(Some(method), name, kind, message);
    }

    /// Records a request that could not be sent at all: a failure under
    /// its name, but no request.
    pub fn record_unsent(&self, name: &str, method: &str, kind: ErrorKind, message: &str) {
        let mut agg = self.stats.lock();
        let agg = &mut *agg;
        let rows = &mut agg.plans[self.plan];
        let name = bounded(&rows.requests, name, &mut agg.folded, "request");
        rows.errors.record(Some(method), name, kind, message);
    }

    /// Records one run of a task (or of `on-start` / `on-stop`).
    pub fn record_task(&self, name: &str, elapsed: Duration, failure: Failure<'_>) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let mut agg = self.stats.lock();
        let rows = &mut agg.plans[self.plan];
        let stats = match rows.tasks.get_mut(name) {
            Some(stats) => stats,
            None => rows.tasks.entry(name.to_owned()).or_default(),
        };
        stats.count += 1;
        stats.duration.record(micros);
        if let Some((kind, message)) = failure {
            stats.failures += 1;
            rows.errors.record(None, name, kind, message);
        }
    }

    pub fn record_check(&self, name: &str, passed: bool) {
        let mut agg = self.stats.lock();
        let agg = &mut *agg;
        let rows = &mut agg.plans[self.plan];
        let name = bounded(&rows.checks, name, &mut agg.folded, "check");
        let row = match rows.checks.get_mut(name) {
            Some(row) => row,
            None => rows.checks.entry(name.to_owned()).or_default(),
        };
        if passed {
            row.passes += 1;
        } else {
            row.failures += 1;
            rows.errors
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
        let mut agg = self.stats.lock();
        let agg = &mut *agg;
        let rows = &mut agg.plans[self.plan];
        let name = bounded(&rows.trends, name, &mut agg.folded, "trend");
        match rows.trends.get_mut(name) {
            Some(samples) => samples.record(thousandths),
            None => rows
                .trends
                .entry(name.to_owned())
                .or_default()
                .record(thousandths),
        }
        true
    }

    pub fn record_counter(&self, name: &str, delta: u64) {
        let mut agg = self.stats.lock();
        let agg = &mut *agg;
        let rows = &mut agg.plans[self.plan];
        let name = bounded(&rows.counters, name, &mut agg.folded, "counter");
        match rows.counters.get_mut(name) {
            Some(value) => *value = value.saturating_add(delta),
            None => {
                rows.counters.insert(name.to_owned(), delta);
            }
        }
    }

    /// Starts counting iterations: the plan is in the arrival-rate model.
    pub fn count_iterations(&self) {
        self.stats.lock().plans[self.plan]
            .iterations
            .get_or_insert_with(Iterations::default);
    }

    /// Counts iterations as due, started or dropped.
    pub fn record_iterations(&self, due: u64, started: u64, dropped: u64) {
        let mut agg = self.stats.lock();
        let iterations = agg.plans[self.plan]
            .iterations
            .get_or_insert_with(Iterations::default);
        iterations.due += due;
        iterations.started += started;
        iterations.dropped += dropped;
    }
}

/// Adds each of `theirs` to the row of the same plan and name in `mine`,
/// or as a new row.
fn merge_named<T: Clone + Default>(
    mine: &mut Vec<Row<T>>,
    theirs: &[Row<T>],
    add: impl Fn(&mut T, &T),
) {
    for row in theirs {
        match mine
            .iter_mut()
            .find(|mine| mine.scenario == row.scenario && mine.name == row.name)
        {
            Some(mine) => add(&mut mine.value, &row.value),
            None => {
                let mut value = T::default();
                add(&mut value, &row.value);
                mine.push(Row {
                    scenario: row.scenario.clone(),
                    name: row.name.clone(),
                    value,
                });
            }
        }
    }
}

/// Appends `map`'s rows, tagged with `scenario`.
fn tagged<T: Clone>(rows: &mut Vec<Row<T>>, scenario: &str, map: &HashMap<String, T>) {
    rows.extend(map.iter().map(|(name, value)| Row {
        scenario: scenario.to_owned(),
        name: name.clone(),
        value: value.clone(),
    }));
}

/// The method WebSocket connections are counted under.
pub const WS_METHOD: &str = "WS";

fn micros(time: Duration) -> u64 {
    u64::try_from(time.as_micros()).unwrap_or(u64::MAX)
}

/// The row of requests `method name`, made if need be; `name` is folded
/// into [`OTHER_NAMES`] past [`MAX_NAMES`]. Returns the name used.
fn row<'a, 'n>(
    requests: &'a mut HashMap<String, Vec<(String, RequestStats)>>,
    name: &'n str,
    method: &str,
    folded: &mut Vec<&'static str>,
) -> (&'n str, &'a mut RequestStats) {
    let name = bounded(requests, name, folded, "request");
    if !requests.contains_key(name) {
        requests.insert(name.to_owned(), Vec::new());
    }
    let methods = requests.get_mut(name).expect("inserted above");
    let index = match methods.iter().position(|(m, _)| m == method) {
        Some(index) => index,
        None => {
            methods.push((method.to_owned(), RequestStats::default()));
            methods.len() - 1
        }
    };
    (name, &mut methods[index].1)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_halves_equal_one_run_that_recorded_both() {
        let (whole, first, second) = (
            Recorder::single("s"),
            Recorder::single("s"),
            Recorder::single("s"),
        );
        for ms in 1..=400u64 {
            let half = if ms % 2 == 0 { &first } else { &second };
            let failure = (ms % 50 == 0).then_some((ErrorKind::Status5xx, "status 503"));
            for stats in [&whole, half] {
                let elapsed = Some(Duration::from_millis(ms));
                stats.record_request(
                    "/r",
                    "GET",
                    &Exchange {
                        elapsed,
                        bytes: 10,
                        ..Exchange::default()
                    },
                    failure,
                );
                stats.record_task("t", Duration::from_millis(ms * 2), None);
                stats.record_trend("trend", ms as f64);
                stats.record_check("c", ms % 3 != 0);
                stats.record_counter("n", 2);
            }
        }
        let whole = whole.snapshot();
        let mut merged = first.snapshot();
        merged.merge(&second.snapshot());
        let row = |snapshot: &Snapshot| {
            let stats = &snapshot.requests[0].stats;
            (
                stats.count,
                stats.failures,
                stats.bytes,
                stats.latency.summary(),
            )
        };
        assert_eq!(row(&merged), row(&whole));
        assert_eq!(
            merged.tasks[0].value.duration.summary(),
            whole.tasks[0].value.duration.summary()
        );
        assert_eq!(
            merged.trends[0].value.summary(),
            whole.trends[0].value.summary()
        );
        assert_eq!(merged.checks, whole.checks);
        assert_eq!(merged.counters, whole.counters);
        assert_eq!(merged.errors, whole.errors);
    }

    #[test]
    fn names_past_the_limit_fold_into_one_row() {
        let stats = Recorder::single("s");
        for i in 0..MAX_NAMES + 5 {
            let name = format!("/item/{i}");
            stats.record_request(
                &name,
                "GET",
                &Exchange {
                    elapsed: Some(Duration::from_millis(1)),
                    ..Exchange::default()
                },
                None,
            );
            stats.record_trend(&name, 1.0);
        }
        stats.record_request(
            "/item/7",
            "GET",
            &Exchange {
                elapsed: Some(Duration::from_millis(1)),
                ..Exchange::default()
            },
            None,
        );
        let snapshot = stats.snapshot();
        assert_eq!(snapshot.requests.len(), MAX_NAMES + 1);
        let other = snapshot.requests.iter().find(|row| row.name == OTHER_NAMES);
        assert_eq!(other.map(|row| row.stats.count), Some(5));
        let known = snapshot.requests.iter().find(|row| row.name == "/item/7");
        assert_eq!(known.map(|row| row.stats.count), Some(2));
        assert_eq!(snapshot.trends.len(), MAX_NAMES + 1);
        assert_eq!(snapshot.total().count, MAX_NAMES as u64 + 6);
    }

    #[test]
    fn requests_are_grouped_by_name_and_method() {
        let stats = Recorder::single("s");
        let ms = |n| Some(Duration::from_millis(n));
        stats.record_request(
            "/rooms",
            "GET",
            &Exchange {
                elapsed: ms(10),
                bytes: 100,
                ..Exchange::default()
            },
            None,
        );
        stats.record_request(
            "/rooms",
            "GET",
            &Exchange {
                elapsed: ms(20),
                bytes: 100,
                ..Exchange::default()
            },
            None,
        );
        stats.record_request(
            "/rooms",
            "POST",
            &Exchange {
                elapsed: ms(30),
                bytes: 5,
                ..Exchange::default()
            },
            Some((ErrorKind::Status5xx, "status 503")),
        );
        let snapshot = stats.snapshot();
        assert_eq!(snapshot.requests.len(), 2);
        let get = &snapshot.requests[0].stats;
        assert_eq!(
            (
                snapshot.requests[0].method.as_str(),
                get.count,
                get.failures,
                get.bytes
            ),
            ("GET", 2, 0, 200)
        );
        let total = snapshot.total();
        assert_eq!((total.count, total.failures), (3, 1));
        assert_eq!(snapshot.errors[0].kind, ErrorKind::Status5xx);
    }

    #[test]
    fn aborted_requests_are_counted_but_not_timed() {
        let stats = Recorder::single("s");
        stats.record_request(
            "/slow",
            "GET",
            &Exchange {
                elapsed: None,
                ..Exchange::default()
            },
            Some((ErrorKind::Aborted, "stopped")),
        );
        let row = &stats.snapshot().requests[0].stats;
        assert_eq!((row.count, row.failures, row.latency.len()), (1, 1, 0));
    }

    #[test]
    fn window_resets_after_each_look() {
        let stats = Recorder::single("s");
        stats.record_request(
            "/",
            "GET",
            &Exchange {
                elapsed: Some(Duration::from_millis(5)),
                ..Exchange::default()
            },
            None,
        );
        let first = stats.stats().take_window();
        assert_eq!(first.requests, 1);
        assert!((first.p50 - 5.0).abs() < 0.01);
        let second = stats.stats().take_window();
        assert_eq!((second.requests, second.p50), (0, 0.0));
    }

    #[test]
    fn failed_checks_are_failures_of_kind_check() {
        let stats = Recorder::single("s");
        stats.record_check("reply arrived", true);
        stats.record_check("reply arrived", false);
        let snapshot = stats.snapshot();
        assert_eq!(
            snapshot.checks[0].value,
            CheckRow {
                passes: 1,
                failures: 1
            }
        );
        assert_eq!(snapshot.errors[0].kind, ErrorKind::Check);
    }

    #[test]
    fn trends_drop_values_they_cannot_hold() {
        let stats = Recorder::single("s");
        assert!(stats.record_trend("t", 12.5));
        assert!(!stats.record_trend("t", -1.0));
        assert!(!stats.record_trend("t", f64::NAN));
        let snapshot = stats.snapshot();
        assert_eq!(snapshot.trends[0].value.len(), 1);
        assert!((snapshot.trends[0].value.summary().p50 - 12.5).abs() < 0.01);
    }
}

#[cfg(test)]
mod plan_tests {
    use super::*;

    fn timed(ms: u64) -> Exchange {
        Exchange {
            elapsed: Some(Duration::from_millis(ms)),
            ..Exchange::default()
        }
    }

    #[test]
    fn rows_of_each_plan_are_kept_and_tagged_apart() {
        let stats = Arc::new(Stats::new(vec!["browse".into(), "buy".into()]));
        let (browse, buy) = (stats.recorder(0), stats.recorder(1));
        browse.record_request("/items", "GET", &timed(10), None);
        browse.record_request("/items", "GET", &timed(12), None);
        buy.record_request(
            "/items",
            "GET",
            &timed(40),
            Some((ErrorKind::Status5xx, "503")),
        );
        buy.record_task("checkout", Duration::from_millis(50), None);
        buy.record_iterations(3, 2, 1);
        let snapshot = stats.snapshot();
        assert_eq!(snapshot.scenarios, ["browse", "buy"]);
        assert!(snapshot.has_plans());
        let rows: Vec<(&str, u64, u64)> = snapshot
            .requests
            .iter()
            .map(|row| (row.scenario.as_str(), row.stats.count, row.stats.failures))
            .collect();
        assert_eq!(rows, [("browse", 2, 0), ("buy", 1, 1)]);
        assert_eq!(snapshot.tasks[0].scenario, "buy");
        assert_eq!(snapshot.errors[0].scenario, "buy");
        assert_eq!(snapshot.iterations.len(), 1);
        assert_eq!(snapshot.iterations[0].0, "buy");
        assert_eq!(snapshot.total().count, 3);
    }

    #[test]
    fn a_total_over_corrected_and_closed_rows_times_every_request() {
        let stats = Arc::new(Stats::new(vec!["open".into(), "closed".into()]));
        let corrected = Exchange {
            corrected: Some(Duration::from_millis(900)),
            ..timed(5)
        };
        stats
            .recorder(0)
            .record_request("/a", "GET", &corrected, None);
        stats
            .recorder(1)
            .record_request("/a", "GET", &timed(7), None);
        let total = stats.snapshot().total();
        assert_eq!(total.latency.len(), 2);
        assert_eq!(total.timed().len(), 2);
        assert!((total.timed().quantile(1.0) - 900.0).abs() < 5.0);
    }

    #[test]
    fn merging_keeps_plans_apart_and_adds_the_same_plan() {
        let one = Recorder::single("browse");
        one.record_request("/", "GET", &timed(1), None);
        let other = Recorder::single("buy");
        other.record_request("/", "GET", &timed(2), None);
        let again = Recorder::single("browse");
        again.record_request("/", "GET", &timed(3), None);
        let mut merged = one.snapshot();
        merged.merge(&other.snapshot());
        merged.merge(&again.snapshot());
        let rows: Vec<(&str, u64)> = merged
            .requests
            .iter()
            .map(|row| (row.scenario.as_str(), row.stats.count))
            .collect();
        assert_eq!(rows, [("browse", 2), ("buy", 1)]);
    }
}
