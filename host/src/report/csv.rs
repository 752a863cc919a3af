//! CSV results (`--csv PREFIX`) in Locust's layout, which dashboards and
//! scripts already read: `PREFIX_stats.csv` (a row per request and an
//! `Aggregated` row), `PREFIX_failures.csv`, and `PREFIX_stats_history.csv`,
//! a row a second written as the run goes, so that memory stays flat
//! however long it runs. Times are milliseconds, unrounded. Rows of the
//! stats and failures files end with a `Scenario` column Locust has not:
//! the plan they came from.

use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context as _;

use crate::runtime::vu::Run;
use crate::stats::{RequestStats, Samples, Second, Snapshot};

const SECOND: Duration = Duration::from_secs(1);

/// The percentiles Locust's files list, as fractions.
const QUANTILES: [f64; 11] = [
    0.50, 0.66, 0.75, 0.80, 0.90, 0.95, 0.98, 0.99, 0.999, 0.9999, 1.0,
];

const PERCENTILE_HEADERS: &str = "50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%";

/// `PREFIX_name.csv`.
pub fn path(prefix: &Path, name: &str) -> PathBuf {
    let mut file = prefix.as_os_str().to_owned();
    file.push(format!("_{name}.csv"));
    PathBuf::from(file)
}

/// Writes `PREFIX_stats.csv` and `PREFIX_failures.csv` at the end.
pub fn write(prefix: &Path, snapshot: &Snapshot) -> anyhow::Result<()> {
    let stats = path(prefix, "stats");
    std::fs::write(&stats, stats_csv(snapshot))
        .with_context(|| format!("failed to write `{}`", stats.display()))?;
    let failures = path(prefix, "failures");
    std::fs::write(&failures, failures_csv(snapshot))
        .with_context(|| format!("failed to write `{}`", failures.display()))
}

fn stats_csv(snapshot: &Snapshot) -> String {
    let mut out = format!(
        "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,\
         Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,\
         {PERCENTILE_HEADERS},Scenario\n"
    );
    let total = snapshot.total();
    let rows = snapshot.requests.iter().map(|row| {
        (
            row.method.as_str(),
            row.name.as_str(),
            &row.stats,
            row.scenario.as_str(),
        )
    });
    for (method, name, stats, scenario) in
        rows.chain(std::iter::once(("", "Aggregated", &total, "")))
    {
        out.push_str(&stats_row(method, name, stats, scenario, snapshot));
    }
    out
}

fn stats_row(
    method: &str,
    name: &str,
    stats: &RequestStats,
    scenario: &str,
    snapshot: &Snapshot,
) -> String {
    let timed = stats.timed();
    let summary = timed.summary();
    let mut row = vec![
        field(method),
        field(name),
        stats.count.to_string(),
        stats.failures.to_string(),
        number(summary.p50),
        number(summary.mean),
        number(summary.min),
        number(summary.max),
        number(average(stats.bytes, stats.count)),
        number(snapshot.rate(stats.count)),
        number(snapshot.rate(stats.failures)),
    ];
    row.extend(percentiles(timed));
    row.push(field(scenario));
    row.join(",") + "\n"
}

fn failures_csv(snapshot: &Snapshot) -> String {
    let mut out = String::from("Method,Name,Error,Occurrences,Scenario\n");
    for row in &snapshot.errors {
        let method = row.method.as_deref().unwrap_or("");
        let error = format!("{}: {}", row.kind, row.message);
        let line = [
            field(method),
            field(&row.name),
            field(&error),
            row.count.to_string(),
            field(&row.scenario),
        ];
        out.push_str(&(line.join(",") + "\n"));
    }
    out
}

/// `PREFIX_stats_history.csv`, a row written each second.
pub struct History {
    file: BufWriter<File>,
    path: PathBuf,
}

impl History {
    pub fn create(prefix: &Path) -> anyhow::Result<Self> {
        let path = path(prefix, "stats_history");
        let file =
            File::create(&path).with_context(|| format!("failed to write `{}`", path.display()))?;
        let mut history = Self {
            file: BufWriter::new(file),
            path,
        };
        history.line(&format!(
            "Timestamp,User Count,Type,Name,Requests/s,Failures/s,{PERCENTILE_HEADERS},\
             Total Request Count,Total Failure Count,Total Median Response Time,\
             Total Average Response Time,Total Min Response Time,Total Max Response Time,\
             Total Average Content Size"
        ))?;
        Ok(history)
    }

    /// Adds the row of one second over `seconds` of time, with `users` alive.
    pub fn row(&mut self, second: &Second, seconds: f64, users: u32) -> anyhow::Result<()> {
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        let total = &second.total_latency;
        let mut row = vec![
            timestamp.to_string(),
            users.to_string(),
            String::new(),
            "Aggregated".to_owned(),
            number(second.requests as f64 / seconds),
            number(second.failures as f64 / seconds),
        ];
        row.extend(percentiles(&second.latency));
        row.extend([
            second.total_count.to_string(),
            second.total_failures.to_string(),
            number(total.p50),
            number(total.mean),
            number(total.min),
            number(total.max),
            number(average(second.total_bytes, second.total_count)),
        ]);
        self.line(&row.join(","))
    }

    fn line(&mut self, line: &str) -> anyhow::Result<()> {
        writeln!(self.file, "{line}")
            .and_then(|()| self.file.flush())
            .with_context(|| format!("failed to write `{}`", self.path.display()))
    }
}

/// Writes a history row every second until aborted (at the run's end).
pub async fn record(run: Arc<Run>, mut history: History) {
    let mut ticker = tokio::time::interval(SECOND);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let second = run.stats.take_second();
        let users = run.active_users.load(Ordering::Relaxed);
        if let Err(err) = history.row(&second, SECOND.as_secs_f64(), users) {
            tracing::warn!(error = %format!("{err:#}"), "stopped writing the CSV history");
            return;
        }
    }
}

fn percentiles(samples: &Samples) -> Vec<String> {
    QUANTILES
        .iter()
        .map(|&quantile| number(samples.quantile(quantile)))
        .collect()
}

fn average(total: u64, count: u64) -> f64 {
    if count == 0 {
        0.0
    } else {
        total as f64 / count as f64
    }
}

/// A number with at most three decimals and no trailing zeros.
fn number(value: f64) -> String {
    let text = format!("{value:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text.is_empty() || text == "-" {
        "0".to_owned()
    } else {
        text.to_owned()
    }
}

/// A field, quoted when it holds a comma, a quote or a line break.
fn field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_only_when_they_must_be() {
        assert_eq!(field("/api/rooms"), "/api/rooms");
        assert_eq!(
            field("status 503: {\"a\",1}"),
            "\"status 503: {\"\"a\"\",1}\""
        );
        assert_eq!(number(12.0), "12");
        assert_eq!(number(0.1234), "0.123");
        assert_eq!(number(0.0), "0");
        assert_eq!(
            path(Path::new("out/run"), "stats"),
            PathBuf::from("out/run_stats.csv")
        );
    }
}
