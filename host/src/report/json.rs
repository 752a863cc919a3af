//! The results file (`--json`): every figure of the summary plus the
//! histograms, so that runs can be merged exactly later. The schema is
//! versioned and documented in `docs/results.md`; a change that breaks
//! readers raises [`SCHEMA_VERSION`].

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use super::{PlanInfo, RunInfo};
use crate::schedule::Stage;
use crate::stats::{
    CheckRow, ErrorRow, Iterations, RequestRow, RequestStats, Row, Samples, Snapshot, StreamStats,
    Summary, TaskStats, WsStats,
};
use crate::thresholds::Verdict;

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize)]
struct Results<'a> {
    schema_version: u32,
    throng_version: &'static str,
    scenario: ScenarioJson<'a>,
    run: RunJson<'a>,
    scenarios: Vec<PlanJson>,
    requests: Vec<RequestJson>,
    total: RequestJson,
    tasks: Vec<TaskJson>,
    trends: Vec<TrendJson>,
    checks: Vec<CheckJson>,
    counters: Vec<CounterJson>,
    errors: &'a [ErrorRow],
    thresholds: Vec<ThresholdJson<'a>>,
}

#[derive(Serialize)]
struct ThresholdJson<'a> {
    expression: &'a str,
    /// With its unit (`412.0 ms`, `0.50%`); `None` when nothing was recorded
    /// under the name.
    value: Option<&'a str>,
    passed: bool,
}

#[derive(Serialize)]
struct ScenarioJson<'a> {
    name: &'a str,
    version: &'a str,
    source: &'a str,
}

#[derive(Serialize)]
struct RunJson<'a> {
    started_at: String,
    duration_s: f64,
    outcome: &'a str,
    users: u32,
    spawn_rate: f64,
    run_time_s: Option<f64>,
    host: Option<&'a str>,
    stages: Vec<StageJson>,
    /// The arrival-rate model's iterations; `None` in the closed model.
    iterations: Option<IterationsJson>,
}

/// One plan of the run; its name is the `scenario` of its rows.
#[derive(Serialize, Deserialize)]
struct PlanJson {
    name: String,
    source: String,
    tasks: Vec<String>,
    start_s: f64,
    load: String,
    users: u32,
    /// The arrival-rate model's iterations; `None` in the closed model.
    iterations: Option<IterationsJson>,
}

#[derive(Serialize, Deserialize, Clone, Copy)]
struct IterationsJson {
    due: u64,
    started: u64,
    dropped: u64,
}

#[derive(Serialize, Deserialize)]
struct StageJson {
    duration_s: f64,
    users: u32,
}

#[derive(Serialize)]
struct RequestJson {
    /// The plan; `None` for the total.
    #[serde(skip_serializing_if = "Option::is_none")]
    scenario: Option<String>,
    name: String,
    method: String,
    count: u64,
    failures: u64,
    rps: f64,
    bytes: u64,
    /// `None` when no request under this name got as far as being timed.
    latency_ms: Option<Summary>,
    /// Microseconds, HdrHistogram V2 deflate, base64.
    histogram: String,
    /// In the arrival-rate model, the times corrected for coordinated
    /// omission (the first request of each iteration timed from when the
    /// iteration was due); `None` in the closed model.
    corrected_latency_ms: Option<Summary>,
    corrected_histogram: Option<String>,
    /// Body bytes as they came over the wire, before decompression.
    wire_bytes: u64,
    /// Time to connect, for the requests that made a new connection.
    connect: Option<TimesJson>,
    /// Time to the response headers.
    headers: Option<TimesJson>,
    /// Time to the first body byte.
    first_byte: Option<TimesJson>,
    /// Streamed responses only.
    stream: Option<StreamJson>,
    /// WebSocket connections only.
    websocket: Option<WsJson>,
}

/// One histogram of times: its summary and its serialised form.
#[derive(Serialize)]
struct TimesJson {
    count: u64,
    ms: Summary,
    /// Microseconds, HdrHistogram V2 deflate, base64.
    histogram: String,
}

impl TimesJson {
    fn of(samples: &Samples) -> Option<Self> {
        Some(TimesJson {
            count: samples.len(),
            ms: samples.summary_if_any()?,
            histogram: samples.encode(),
        })
    }
}

#[derive(Serialize)]
struct StreamJson {
    completed: u64,
    cancelled: u64,
    timed_out: u64,
    cut: u64,
    chunks: u64,
    first_chunk: Option<TimesJson>,
    chunk_gaps: Option<TimesJson>,
    events: u64,
    first_event: Option<TimesJson>,
    event_gaps: Option<TimesJson>,
}

#[derive(Serialize, Deserialize)]
struct WsJson {
    messages_sent: u64,
    messages_received: u64,
    bytes_sent: u64,
    bytes_received: u64,
    closes: Vec<CloseJson>,
}

#[derive(Serialize, Deserialize)]
struct CloseJson {
    code: u16,
    count: u64,
}

#[derive(Serialize)]
struct TaskJson {
    scenario: String,
    name: String,
    count: u64,
    failures: u64,
    duration_ms: Summary,
    /// Microseconds, HdrHistogram V2 deflate, base64.
    histogram: String,
}

#[derive(Serialize)]
struct TrendJson {
    scenario: String,
    name: String,
    count: u64,
    values: Summary,
    /// Thousandths of the trend's unit, HdrHistogram V2 deflate, base64.
    histogram: String,
}

#[derive(Serialize)]
struct CheckJson {
    scenario: String,
    name: String,
    passes: u64,
    failures: u64,
}

#[derive(Serialize)]
struct CounterJson {
    scenario: String,
    name: String,
    value: u64,
}

fn request(
    scenario: Option<&str>,
    name: &str,
    method: &str,
    stats: &RequestStats,
    snapshot: &Snapshot,
) -> RequestJson {
    RequestJson {
        scenario: scenario.map(str::to_owned),
        name: name.to_owned(),
        method: method.to_owned(),
        count: stats.count,
        failures: stats.failures,
        rps: snapshot.rate(stats.count),
        bytes: stats.bytes,
        latency_ms: stats.latency.summary_if_any(),
        histogram: stats.latency.encode(),
        corrected_latency_ms: stats.corrected.summary_if_any(),
        corrected_histogram: (!stats.corrected.is_empty()).then(|| stats.corrected.encode()),
        wire_bytes: stats.wire_bytes,
        connect: TimesJson::of(&stats.connect),
        headers: TimesJson::of(&stats.headers),
        first_byte: TimesJson::of(&stats.first_byte),
        stream: stats.stream.as_deref().map(|stream| StreamJson {
            completed: stream.completed,
            cancelled: stream.cancelled,
            timed_out: stream.timed_out,
            cut: stream.cut,
            chunks: stream.chunks,
            first_chunk: TimesJson::of(&stream.first_chunk),
            chunk_gaps: TimesJson::of(&stream.chunk_gaps),
            events: stream.events,
            first_event: TimesJson::of(&stream.first_event),
            event_gaps: TimesJson::of(&stream.event_gaps),
        }),
        websocket: stats.ws.as_deref().map(|ws| WsJson {
            messages_sent: ws.sent,
            messages_received: ws.received,
            bytes_sent: ws.bytes_sent,
            bytes_received: ws.bytes_received,
            closes: ws
                .closes
                .iter()
                .map(|&(code, count)| CloseJson { code, count })
                .collect(),
        }),
    }
}

/// The results as JSON text.
pub fn render(info: &RunInfo, snapshot: &Snapshot, verdicts: &[Verdict]) -> String {
    let results = Results {
        schema_version: SCHEMA_VERSION,
        throng_version: env!("CARGO_PKG_VERSION"),
        scenario: ScenarioJson {
            name: &info.scenario,
            version: &info.version,
            source: &info.source,
        },
        run: RunJson {
            started_at: humantime::format_rfc3339_millis(info.started_at).to_string(),
            duration_s: snapshot.elapsed.as_secs_f64(),
            outcome: info.outcome,
            users: info.users,
            spawn_rate: info.spawn_rate,
            run_time_s: info.run_time.map(|run_time| run_time.as_secs_f64()),
            host: info.host.as_deref(),
            stages: info
                .stages
                .iter()
                .map(|stage| StageJson {
                    duration_s: stage.duration.as_secs_f64(),
                    users: stage.users,
                })
                .collect(),
            iterations: snapshot.iterations_total().map(iterations_json),
        },
        scenarios: info
            .plans
            .iter()
            .map(|plan| PlanJson {
                name: plan.name.clone(),
                source: plan.source.clone(),
                tasks: plan.tasks.clone(),
                start_s: plan.start.as_secs_f64(),
                load: plan.load.clone(),
                users: plan.users,
                iterations: snapshot
                    .iterations
                    .iter()
                    .find(|(name, _)| *name == plan.name)
                    .map(|(_, iterations)| iterations_json(*iterations)),
            })
            .collect(),
        requests: snapshot
            .requests
            .iter()
            .map(|row| {
                request(
                    Some(&row.scenario),
                    &row.name,
                    &row.method,
                    &row.stats,
                    snapshot,
                )
            })
            .collect(),
        total: request(None, "Total", "", &snapshot.total(), snapshot),
        tasks: snapshot
            .tasks
            .iter()
            .map(|row| TaskJson {
                scenario: row.scenario.clone(),
                name: row.name.clone(),
                count: row.value.count,
                failures: row.value.failures,
                duration_ms: row.value.duration.summary(),
                histogram: row.value.duration.encode(),
            })
            .collect(),
        trends: snapshot
            .trends
            .iter()
            .map(|row| TrendJson {
                scenario: row.scenario.clone(),
                name: row.name.clone(),
                count: row.value.len(),
                values: row.value.summary(),
                histogram: row.value.encode(),
            })
            .collect(),
        checks: snapshot
            .checks
            .iter()
            .map(|row| CheckJson {
                scenario: row.scenario.clone(),
                name: row.name.clone(),
                passes: row.value.passes,
                failures: row.value.failures,
            })
            .collect(),
        counters: snapshot
            .counters
            .iter()
            .map(|row| CounterJson {
                scenario: row.scenario.clone(),
                name: row.name.clone(),
                value: row.value,
            })
            .collect(),
        errors: &snapshot.errors,
        thresholds: verdicts
            .iter()
            .map(|verdict| ThresholdJson {
                expression: &verdict.expression,
                value: verdict.value.as_deref(),
                passed: verdict.passed,
            })
            .collect(),
    };
    serde_json::to_string_pretty(&results).expect("results serialise")
}

fn iterations_json(iterations: Iterations) -> IterationsJson {
    IterationsJson {
        due: iterations.due,
        started: iterations.started,
        dropped: iterations.dropped,
    }
}

/// Writes the results file.
pub fn write(
    path: &Path,
    info: &RunInfo,
    snapshot: &Snapshot,
    verdicts: &[Verdict],
) -> anyhow::Result<()> {
    std::fs::write(path, render(info, snapshot, verdicts) + "\n")
        .with_context(|| format!("failed to write results to `{}`", path.display()))
}

/// A results file read back: what `throng merge` combines.
pub struct ReadResults {
    pub info: RunInfo,
    pub snapshot: Snapshot,
    /// The thresholds' expressions, judged again on the merged figures.
    pub thresholds: Vec<String>,
}

#[derive(Deserialize)]
struct ResultsIn {
    schema_version: u32,
    scenario: ScenarioIn,
    run: RunIn,
    /// Missing in files written before plans had names.
    #[serde(default)]
    scenarios: Vec<PlanJson>,
    requests: Vec<RowIn>,
    tasks: Vec<RowIn>,
    trends: Vec<RowIn>,
    checks: Vec<CheckIn>,
    counters: Vec<CounterIn>,
    errors: Vec<ErrorRow>,
    #[serde(default)]
    thresholds: Vec<ThresholdIn>,
}

#[derive(Deserialize)]
struct ScenarioIn {
    name: String,
    version: String,
    source: String,
}

#[derive(Deserialize)]
struct RunIn {
    started_at: String,
    duration_s: f64,
    outcome: String,
    users: u32,
    spawn_rate: f64,
    run_time_s: Option<f64>,
    host: Option<String>,
    #[serde(default)]
    stages: Vec<StageJson>,
    #[serde(default)]
    iterations: Option<IterationsJson>,
}

/// A request, task or trend row: the fields merging needs.
#[derive(Deserialize)]
struct RowIn {
    #[serde(default)]
    scenario: Option<String>,
    name: String,
    #[serde(default)]
    method: String,
    #[serde(default)]
    count: u64,
    #[serde(default)]
    failures: u64,
    #[serde(default)]
    bytes: u64,
    histogram: String,
    #[serde(default)]
    corrected_histogram: Option<String>,
    #[serde(default)]
    wire_bytes: u64,
    #[serde(default)]
    connect: Option<TimesIn>,
    #[serde(default)]
    headers: Option<TimesIn>,
    #[serde(default)]
    first_byte: Option<TimesIn>,
    #[serde(default)]
    stream: Option<StreamIn>,
    #[serde(default)]
    websocket: Option<WsJson>,
}

#[derive(Deserialize)]
struct TimesIn {
    histogram: String,
}

#[derive(Deserialize)]
struct StreamIn {
    completed: u64,
    cancelled: u64,
    timed_out: u64,
    cut: u64,
    chunks: u64,
    first_chunk: Option<TimesIn>,
    chunk_gaps: Option<TimesIn>,
    events: u64,
    first_event: Option<TimesIn>,
    event_gaps: Option<TimesIn>,
}

#[derive(Deserialize)]
struct CheckIn {
    #[serde(default)]
    scenario: Option<String>,
    name: String,
    passes: u64,
    failures: u64,
}

#[derive(Deserialize)]
struct CounterIn {
    #[serde(default)]
    scenario: Option<String>,
    name: String,
    value: u64,
}

#[derive(Deserialize)]
struct ThresholdIn {
    expression: String,
}

/// Reads a results file that [`write()`] wrote. Errors name the file.
pub fn read(path: &Path) -> Result<ReadResults, String> {
    let at = |what: String| format!("`{}`: {what}", path.display());
    let text = std::fs::read_to_string(path).map_err(|err| at(format!("cannot read it: {err}")))?;
    let results: ResultsIn = serde_json::from_str(&text)
        .map_err(|err| at(format!("not a throng results file ({err})")))?;
    if results.schema_version != SCHEMA_VERSION {
        return Err(at(format!(
            "schema version {} where this throng reads {SCHEMA_VERSION}",
            results.schema_version
        )));
    }
    let samples = |row: &RowIn| Samples::decode(&row.histogram).map_err(&at);
    // Files written before plans had names hold one, named after the
    // scenario.
    let plain = results.scenario.name.clone();
    let plan_of = |scenario: &Option<String>| scenario.clone().unwrap_or_else(|| plain.clone());
    let iterations = |json: &IterationsJson| Iterations {
        due: json.due,
        started: json.started,
        dropped: json.dropped,
    };
    let mut snapshot = Snapshot {
        elapsed: Duration::from_secs_f64(results.run.duration_s.max(0.0)),
        scenarios: if results.scenarios.is_empty() {
            vec![plain.clone()]
        } else {
            results
                .scenarios
                .iter()
                .map(|plan| plan.name.clone())
                .collect()
        },
        requests: Vec::new(),
        tasks: Vec::new(),
        trends: Vec::new(),
        checks: Vec::new(),
        counters: Vec::new(),
        errors: results.errors,
        iterations: if results.scenarios.is_empty() {
            results
                .run
                .iterations
                .iter()
                .map(|json| (plain.clone(), iterations(json)))
                .collect()
        } else {
            results
                .scenarios
                .iter()
                .filter_map(|plan| Some((plan.name.clone(), iterations(plan.iterations.as_ref()?))))
                .collect()
        },
    };
    for row in &mut snapshot.errors {
        if row.scenario.is_empty() {
            row.scenario.clone_from(&plain);
        }
    }
    let times = |times: &Option<TimesIn>| match times {
        Some(times) => Samples::decode(&times.histogram).map_err(&at),
        None => Ok(Samples::new()),
    };
    for row in &results.requests {
        let stream = match &row.stream {
            Some(stream) => Some(Box::new(StreamStats {
                completed: stream.completed,
                cancelled: stream.cancelled,
                timed_out: stream.timed_out,
                cut: stream.cut,
                chunks: stream.chunks,
                first_chunk: times(&stream.first_chunk)?,
                chunk_gaps: times(&stream.chunk_gaps)?,
                events: stream.events,
                first_event: times(&stream.first_event)?,
                event_gaps: times(&stream.event_gaps)?,
            })),
            None => None,
        };
        let stats = RequestStats {
            count: row.count,
            failures: row.failures,
            bytes: row.bytes,
            wire_bytes: row.wire_bytes,
            latency: samples(row)?,
            corrected: match &row.corrected_histogram {
                Some(histogram) => Samples::decode(histogram).map_err(&at)?,
                None => Samples::new(),
            },
            connect: times(&row.connect)?,
            headers: times(&row.headers)?,
            first_byte: times(&row.first_byte)?,
            stream,
            ws: row.websocket.as_ref().map(|ws| {
                Box::new(WsStats {
                    sent: ws.messages_sent,
                    received: ws.messages_received,
                    bytes_sent: ws.bytes_sent,
                    bytes_received: ws.bytes_received,
                    closes: ws
                        .closes
                        .iter()
                        .map(|close| (close.code, close.count))
                        .collect(),
                })
            }),
        };
        snapshot.requests.push(RequestRow {
            scenario: plan_of(&row.scenario),
            name: row.name.clone(),
            method: row.method.clone(),
            stats,
        });
    }
    for row in &results.tasks {
        snapshot.tasks.push(Row {
            scenario: plan_of(&row.scenario),
            name: row.name.clone(),
            value: TaskStats {
                count: row.count,
                failures: row.failures,
                duration: samples(row)?,
            },
        });
    }
    for row in &results.trends {
        snapshot.trends.push(Row {
            scenario: plan_of(&row.scenario),
            name: row.name.clone(),
            value: samples(row)?,
        });
    }
    for check in results.checks {
        snapshot.checks.push(Row {
            scenario: plan_of(&check.scenario),
            name: check.name,
            value: CheckRow {
                passes: check.passes,
                failures: check.failures,
            },
        });
    }
    for counter in results.counters {
        snapshot.counters.push(Row {
            scenario: plan_of(&counter.scenario),
            name: counter.name,
            value: counter.value,
        });
    }
    snapshot.sort();

    let run = results.run;
    let started_at = humantime::parse_rfc3339_weak(&run.started_at)
        .map_err(|err| at(format!("`run.started_at` is not a time ({err})")))?;
    let outcome = OUTCOMES
        .into_iter()
        .find(|outcome| *outcome == run.outcome)
        .ok_or_else(|| at(format!("`run.outcome` `{}` is unknown", run.outcome)))?;
    let info = RunInfo {
        scenario: results.scenario.name,
        version: results.scenario.version,
        source: results.scenario.source,
        host: run.host,
        users: run.users,
        spawn_rate: run.spawn_rate,
        run_time: run.run_time_s.map(|s| Duration::from_secs_f64(s.max(0.0))),
        stages: run
            .stages
            .iter()
            .map(|stage| Stage {
                duration: Duration::from_secs_f64(stage.duration_s.max(0.0)),
                users: stage.users,
            })
            .collect(),
        started_at,
        outcome,
        plans: results
            .scenarios
            .into_iter()
            .map(|plan| PlanInfo {
                name: plan.name,
                source: plan.source,
                tasks: plan.tasks,
                start: Duration::from_secs_f64(plan.start_s.max(0.0)),
                load: plan.load,
                users: plan.users,
            })
            .collect(),
    };
    Ok(ReadResults {
        info,
        snapshot,
        thresholds: results
            .thresholds
            .into_iter()
            .map(|threshold| threshold.expression)
            .collect(),
    })
}

/// Every `run.outcome` a results file can hold.
pub const OUTCOMES: [&str; 5] = [
    "completed",
    "interrupted",
    "aborted",
    "misconfigured",
    "halted",
];
