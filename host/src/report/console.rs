//! The terminal: a live line every two seconds, and the summary tables at
//! the end.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::RunInfo;
use crate::runtime::vu::Run;
use crate::stats::{Samples, Snapshot};
use crate::thresholds::Verdict;

pub const LIVE_INTERVAL: Duration = Duration::from_secs(2);

/// Prints the live line every [`LIVE_INTERVAL`] until aborted. On a terminal
/// the line is rewritten in place; elsewhere each is a plain line.
pub async fn live(run: Arc<Run>, run_time: Option<Duration>) {
    let terminal = std::io::stdout().is_terminal();
    let mut ticker = tokio::time::interval(LIVE_INTERVAL);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let window = run.stats.take_window();
        let elapsed = run.stats.elapsed();
        let seconds = LIVE_INTERVAL.as_secs_f64();
        let remaining = match run_time {
            _ if run.stopping.load(Ordering::Relaxed) => "stopping".to_owned(),
            Some(run_time) => format!("{} left", clock(run_time.saturating_sub(elapsed))),
            None => "until Ctrl-C".to_owned(),
        };
        let line = format!(
            "[{}] users {:>4} | {:>8.1} req/s | {:>6.1} fail/s | p50 {:>8} | p95 {:>8} | {remaining}",
            clock(elapsed),
            run.active_users.load(Ordering::Relaxed),
            window.requests as f64 / seconds,
            window.failures as f64 / seconds,
            ms(window.p50),
            ms(window.p95),
        );
        let mut stdout = std::io::stdout().lock();
        let _ = if terminal {
            write!(stdout, "\r\x1b[2K{line}")
        } else {
            writeln!(stdout, "{line}")
        };
        let _ = stdout.flush();
    }
}

/// Ends the live line on a terminal, so the summary starts on its own line.
pub fn end_live() {
    if std::io::stdout().is_terminal() {
        outln!();
    }
}

fn clock(duration: Duration) -> String {
    let secs = duration.as_secs();
    format!("{:02}:{:02}", secs / 60, secs % 60)
}

fn ms(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0} ms")
    } else {
        format!("{value:.1} ms")
    }
}

/// The summary: requests per name, tasks, the scenario's metrics, failures.
pub fn summary(info: &RunInfo, snapshot: &Snapshot) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nscenario {} {} · {} · {:.1} s · {}",
        info.scenario,
        info.version,
        users(info.users),
        snapshot.elapsed.as_secs_f64(),
        info.outcome
    );

    let total = snapshot.total();
    // In the arrival-rate model the times shown are corrected, and marked.
    let corrected = !total.corrected.is_empty();
    let mark = |header: &'static str| {
        if corrected {
            format!("{header}*")
        } else {
            header.to_owned()
        }
    };
    let headers: Vec<String> = ["Min", "Mean", "p50", "p90", "p95", "p99", "p99.9", "Max"]
        .into_iter()
        .map(mark)
        .collect();
    let mut header = vec!["Request", "Method", "Reqs", "Fails", "Req/s"];
    header.extend(headers.iter().map(String::as_str));
    header.extend(["TTFB p50", "Bytes"]);
    let mut requests = Table::new(&header);
    let rows = snapshot.requests.iter().map(|row| {
        (
            label(snapshot, &row.scenario, &row.name),
            row.method.as_str(),
            &row.stats,
        )
    });
    for (name, method, stats) in rows.chain(std::iter::once(("Total".to_owned(), "", &total))) {
        let mut row = vec![
            name,
            method.to_owned(),
            stats.count.to_string(),
            fails(stats.failures, stats.count),
            format!("{:.1}", snapshot.rate(stats.count)),
        ];
        match stats.timed().summary_if_any() {
            Some(s) => {
                row.extend([s.min, s.mean, s.p50, s.p90, s.p95, s.p99, s.p999, s.max].map(latency))
            }
            // Requests cut at the stop are counted but have no time.
            None => row.extend(std::iter::repeat_n("-".to_owned(), 8)),
        }
        row.push(quantile(&stats.first_byte, 0.50));
        row.push(bytes(stats.bytes));
        requests.row(row);
    }
    let note = if corrected && snapshot.has_plans() {
        "latencies in ms, to the last byte; * in the rows of arrival-rate plans and the \
         total, from when each iteration was due, corrected for coordinated omission (the \
         raw times are in the JSON results); TTFB: time to the first body byte"
    } else if corrected {
        "latencies in ms, to the last byte; * from when each iteration was due, corrected \
         for coordinated omission (the raw times are in the JSON results); TTFB: time to \
         the first body byte"
    } else {
        "latencies in ms, to the last byte; TTFB: time to the first body byte"
    };
    let _ = writeln!(out, "\n{}", requests.render(note));
    for (scenario, iterations) in &snapshot.iterations {
        let _ = writeln!(
            out,
            "Iterations{}: {} due, {} started, {} dropped\n",
            if snapshot.has_plans() {
                format!(" of {scenario}")
            } else {
                String::new()
            },
            iterations.due,
            iterations.started,
            iterations.dropped
        );
    }

    out.push_str(&streams(snapshot));
    out.push_str(&websockets(snapshot));

    let mut tasks = Table::new(&["Task", "Runs", "Fails", "Mean", "p50", "p95", "p99", "Max"]);
    for task in &snapshot.tasks {
        let stats = &task.value;
        let s = stats.duration.summary();
        tasks.row(vec![
            label(snapshot, &task.scenario, &task.name),
            stats.count.to_string(),
            fails(stats.failures, stats.count),
            latency(s.mean),
            latency(s.p50),
            latency(s.p95),
            latency(s.p99),
            latency(s.max),
        ]);
    }
    let _ = writeln!(out, "{}", tasks.render("durations in ms"));

    if !snapshot.trends.is_empty() {
        let mut trends = Table::new(&[
            "Trend", "Count", "Min", "Mean", "p50", "p90", "p95", "p99", "Max",
        ]);
        for trend in &snapshot.trends {
            let name = label(snapshot, &trend.scenario, &trend.name);
            trends.row(trend_row(&name, &trend.value));
        }
        let _ = writeln!(out, "{}", trends.render("in the scenario's unit"));
    }
    if !snapshot.checks.is_empty() {
        let mut checks = Table::new(&["Check", "Passes", "Fails", "Passed"]);
        for check in &snapshot.checks {
            let row = &check.value;
            let all = row.passes + row.failures;
            let share = if all == 0 {
                0.0
            } else {
                row.passes as f64 * 100.0 / all as f64
            };
            checks.row(vec![
                label(snapshot, &check.scenario, &check.name),
                row.passes.to_string(),
                row.failures.to_string(),
                format!("{share:.1}%"),
            ]);
        }
        let _ = writeln!(out, "{}", checks.render(""));
    }
    if !snapshot.counters.is_empty() {
        let mut counters = Table::new(&["Counter", "Value", "Per s"]);
        for counter in &snapshot.counters {
            counters.row(vec![
                label(snapshot, &counter.scenario, &counter.name),
                counter.value.to_string(),
                format!("{:.1}", snapshot.rate(counter.value)),
            ]);
        }
        let _ = writeln!(out, "{}", counters.render(""));
    }
    if snapshot.errors.is_empty() {
        let _ = writeln!(out, "No failures.");
    } else {
        let mut errors = Table::new(&["Failures", "Kind", "Method", "Name", "Message"]);
        for row in &snapshot.errors {
            errors.row(vec![
                row.count.to_string(),
                row.kind.to_string(),
                row.method.clone().unwrap_or_default(),
                label(snapshot, &row.scenario, &row.name),
                row.message.clone(),
            ]);
        }
        let _ = writeln!(out, "{}", errors.render(""));
    }
    for starts in snapshot.tasks.iter().filter(|task| task.name == "on-start") {
        if starts.value.count > 0 && starts.value.failures == starts.value.count {
            let _ = writeln!(
                out,
                "No user{} got past on-start: all {} starts failed, so no task ran.",
                if snapshot.has_plans() {
                    format!(" of {}", starts.scenario)
                } else {
                    String::new()
                },
                starts.value.count
            );
        }
    }
    out
}

/// A row's name, after its plan's when the run had several.
fn label(snapshot: &Snapshot, scenario: &str, name: &str) -> String {
    if snapshot.has_plans() {
        format!("{scenario} · {name}")
    } else {
        name.to_owned()
    }
}

/// The streamed rows: how their streams ended, the chunks, and the events
/// the scenario marked. Nothing when no response was streamed.
fn streams(snapshot: &Snapshot) -> String {
    let rows: Vec<_> = snapshot
        .requests
        .iter()
        .filter_map(|row| {
            Some((
                label(snapshot, &row.scenario, &row.name),
                &row.method,
                row.stats.stream.as_deref()?,
            ))
        })
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    let mut table = Table::new(&[
        "Stream",
        "Method",
        "Done",
        "Cancelled",
        "Timed out",
        "Cut",
        "Chunks",
        "First p50",
        "First p95",
        "Gap p50",
        "Gap p95",
        "Gap p99",
        "Gap max",
    ]);
    for (name, method, stream) in &rows {
        table.row(vec![
            (*name).clone(),
            (*method).clone(),
            stream.completed.to_string(),
            stream.cancelled.to_string(),
            stream.timed_out.to_string(),
            stream.cut.to_string(),
            stream.chunks.to_string(),
            quantile(&stream.first_chunk, 0.50),
            quantile(&stream.first_chunk, 0.95),
            quantile(&stream.chunk_gaps, 0.50),
            quantile(&stream.chunk_gaps, 0.95),
            quantile(&stream.chunk_gaps, 0.99),
            quantile(&stream.chunk_gaps, 1.0),
        ]);
    }
    let _ = writeln!(
        out,
        "{}",
        table.render("in ms: to the first chunk from sending, and between chunks as they arrived")
    );
    if rows.iter().any(|(_, _, stream)| stream.events > 0) {
        let mut table = Table::new(&[
            "Events",
            "Method",
            "Count",
            "First p50",
            "First p95",
            "First p99",
            "Gap p50",
            "Gap p95",
            "Gap p99",
            "Gap max",
        ]);
        for (name, method, stream) in rows.iter().filter(|(_, _, stream)| stream.events > 0) {
            table.row(vec![
                (*name).clone(),
                (*method).clone(),
                stream.events.to_string(),
                quantile(&stream.first_event, 0.50),
                quantile(&stream.first_event, 0.95),
                quantile(&stream.first_event, 0.99),
                quantile(&stream.event_gaps, 0.50),
                quantile(&stream.event_gaps, 0.95),
                quantile(&stream.event_gaps, 0.99),
                quantile(&stream.event_gaps, 1.0),
            ]);
        }
        let _ = writeln!(
            out,
            "{}",
            table.render(
                "in ms, by the arrival of the chunk that completed each event: the first \
                 (time to first token) and the gaps between them (inter-token latency)"
            )
        );
    }
    out
}

/// The WebSocket rows: handshakes, messages and how connections closed.
/// Nothing when the scenario opened none.
fn websockets(snapshot: &Snapshot) -> String {
    let rows: Vec<_> = snapshot
        .requests
        .iter()
        .filter_map(|row| {
            Some((
                label(snapshot, &row.scenario, &row.name),
                &row.stats,
                row.stats.ws.as_deref()?,
            ))
        })
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    let mut table = Table::new(&[
        "WebSocket",
        "Opened",
        "Fails",
        "Open p50",
        "Open p95",
        "Sent",
        "Received",
        "Bytes out",
        "Bytes in",
        "Closes (code×count)",
    ]);
    for (name, stats, ws) in rows {
        let closes = ws
            .closes
            .iter()
            .map(|(code, count)| format!("{code}×{count}"))
            .collect::<Vec<_>>()
            .join(" ");
        table.row(vec![
            name.clone(),
            stats.count.to_string(),
            fails(stats.failures, stats.count),
            quantile(&stats.latency, 0.50),
            quantile(&stats.latency, 0.95),
            ws.sent.to_string(),
            ws.received.to_string(),
            bytes(ws.bytes_sent),
            bytes(ws.bytes_received),
            closes,
        ]);
    }
    format!(
        "{}\n",
        table.render(
            "connects: handshakes tried; open: the opening handshake, in ms; closes by code \
             (1006: ended without a close frame)"
        )
    )
}

/// A quantile in ms for a table cell; `-` when nothing was recorded.
fn quantile(samples: &Samples, quantile: f64) -> String {
    if samples.is_empty() {
        "-".to_owned()
    } else {
        latency(samples.quantile(quantile))
    }
}

/// Each threshold with the figure it was judged on and its result, then
/// how many failed. Nothing when the run has none.
pub fn thresholds(verdicts: &[Verdict]) -> String {
    if verdicts.is_empty() {
        return String::new();
    }
    let mut table = Table::new(&["Threshold", "Value", "Result"]);
    for verdict in verdicts {
        table.row(vec![
            verdict.expression.clone(),
            verdict
                .value
                .clone()
                .unwrap_or_else(|| "no data".to_owned()),
            if verdict.passed { "pass" } else { "FAIL" }.to_owned(),
        ]);
    }
    let failed = verdicts.iter().filter(|verdict| !verdict.passed).count();
    let mut out = format!("\n{}", table.render(""));
    let _ = match failed {
        0 if verdicts.len() == 1 => writeln!(out, "The threshold passed."),
        0 => writeln!(out, "All {} thresholds passed.", verdicts.len()),
        _ => writeln!(out, "{failed} of {} thresholds failed.", verdicts.len()),
    };
    out
}

/// `1 user`, `20 users`.
pub fn users(count: impl Into<u64>) -> String {
    match count.into() {
        1 => "1 user".to_owned(),
        count => format!("{count} users"),
    }
}

fn trend_row(name: &str, samples: &Samples) -> Vec<String> {
    let s = samples.summary();
    let values = [s.min, s.mean, s.p50, s.p90, s.p95, s.p99, s.max];
    let mut row = vec![name.to_owned(), samples.len().to_string()];
    row.extend(values.iter().map(|value| latency(*value)));
    row
}

fn latency(value: f64) -> String {
    if value >= 1000.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

fn fails(failures: u64, count: u64) -> String {
    if failures == 0 || count == 0 {
        return failures.to_string();
    }
    format!(
        "{failures} ({:.1}%)",
        failures as f64 * 100.0 / count as f64
    )
}

fn bytes(count: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = count as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{count} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A plain text table: the first column left-aligned, the rest right-aligned
/// (the last one left-aligned when it holds messages).
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(header: &[&str]) -> Self {
        Self {
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    fn row(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    fn render(&self, note: &str) -> String {
        let columns = self.header.len();
        let widths: Vec<usize> = (0..columns)
            .map(|i| {
                std::iter::once(&self.header)
                    .chain(&self.rows)
                    .map(|row| row[i].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let left = |i: usize| {
            i == 0
                || self.header[i] == "Message"
                || self.header[i] == "Method"
                || self.header[i] == "Name"
        };
        let mut out = String::new();
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let cells: Vec<String> = row
                .iter()
                .enumerate()
                .map(|(i, cell)| {
                    if left(i) {
                        format!("{cell:<w$}", w = widths[i])
                    } else {
                        format!("{cell:>w$}", w = widths[i])
                    }
                })
                .collect();
            let _ = writeln!(out, "{}", cells.join("  ").trim_end());
        }
        if !note.is_empty() {
            let _ = writeln!(out, "({note})");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns() {
        let mut table = Table::new(&["Request", "Reqs"]);
        table.row(vec!["/a".into(), "5".into()]);
        table.row(vec!["/longer".into(), "12345".into()]);
        assert_eq!(
            table.render(""),
            "Request   Reqs\n/a           5\n/longer  12345\n"
        );
    }

    #[test]
    fn sizes_and_failures_read_naturally() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(fails(0, 10), "0");
        assert_eq!(fails(1, 4), "1 (25.0%)");
    }
}
