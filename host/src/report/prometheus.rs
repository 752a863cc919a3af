//! A Prometheus endpoint (`--metrics-addr 127.0.0.1:9464`): `GET /metrics`
//! answers the run's live counters and histograms in Prometheus' text
//! format, under the names and labels its users expect (`_total` counters,
//! `_seconds` histograms with cumulative `le` buckets), each series labelled
//! with the `scenario` (plan) it came from. A small HTTP/1.1
//! responder: one request per connection, nothing else served.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use crate::runtime::vu::Run;
use crate::stats::{Samples, Snapshot};

/// Bucket bounds of the latency histograms, in seconds.
const BUCKETS: [f64; 13] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Binds `addr`, so that a taken port is found before the run starts.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves `/metrics` until aborted.
pub async fn serve(listener: TcpListener, run: Arc<Run>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let run = run.clone();
        tokio::spawn(async move {
            let answered =
                tokio::time::timeout(Duration::from_secs(10), answer(stream, &run)).await;
            if let Ok(Err(err)) = answered {
                tracing::debug!(error = %err, "metrics request failed");
            }
        });
    }
}

async fn answer(mut stream: TcpStream, run: &Run) -> std::io::Result<()> {
    // The request head, at most 8 KiB.
    let mut head = Vec::new();
    let mut buffer = [0u8; 1024];
    while !head.windows(4).any(|window| window == b"\r\n\r\n") && head.len() < 8192 {
        let read = stream.read(&mut buffer).await?;
        if read == 0 {
            break;
        }
        head.extend_from_slice(&buffer[..read]);
    }
    let line = String::from_utf8_lossy(&head);
    let target = line.split_whitespace().take(2).collect::<Vec<_>>();
    let (status, content_type, body) = match target.as_slice() {
        ["GET", "/metrics"] => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            render(
                &run.stats.snapshot(),
                &run.plan_users
                    .iter()
                    .map(|plan| plan.alive.load(Ordering::Relaxed))
                    .collect::<Vec<_>>(),
            ),
        ),
        _ => (
            "404 Not Found",
            "text/plain",
            "only GET /metrics is served\n".to_owned(),
        ),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

/// The text exposition of everything recorded so far; `users` are the
/// users alive in each plan, in the plans' order.
pub fn render(snapshot: &Snapshot, users: &[u32]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP throng_users Virtual users running now.\n# TYPE throng_users gauge"
    );
    for (scenario, users) in snapshot.scenarios.iter().zip(users) {
        let _ = writeln!(out, "throng_users{{{}}} {users}", plan(scenario));
    }

    let requests = &snapshot.requests;
    let labels = |row: &crate::stats::RequestRow| {
        format!(
            "scenario=\"{}\",name=\"{}\",method=\"{}\"",
            escape(&row.scenario),
            escape(&row.name),
            escape(&row.method)
        )
    };
    let mut text = String::new();
    let mut section = |name: &str, kind: &str, help: &str, body: &mut dyn FnMut(&mut String)| {
        let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} {kind}");
        body(&mut text);
    };
    section(
        "throng_requests_total",
        "counter",
        "Requests sent, by name and method.",
        &mut |out| {
            for row in requests {
                let _ = writeln!(
                    out,
                    "throng_requests_total{{{}}} {}",
                    labels(row),
                    row.stats.count
                );
            }
        },
    );
    section(
        "throng_request_failures_total",
        "counter",
        "Requests that failed (transport errors and unexpected statuses of 400 and up).",
        &mut |out| {
            for row in requests {
                let _ = writeln!(
                    out,
                    "throng_request_failures_total{{{}}} {}",
                    labels(row),
                    row.stats.failures
                );
            }
        },
    );
    section(
        "throng_request_duration_seconds",
        "histogram",
        "Request latency (corrected for coordinated omission in the arrival-rate model).",
        &mut |out| {
            for row in requests {
                histogram(
                    out,
                    "throng_request_duration_seconds",
                    &labels(row),
                    row.stats.timed(),
                );
            }
        },
    );
    section(
        "throng_tasks_total",
        "counter",
        "Task runs, by task.",
        &mut |out| {
            for task in &snapshot.tasks {
                let _ = writeln!(
                    out,
                    "throng_tasks_total{{{},task=\"{}\"}} {}",
                    plan(&task.scenario),
                    escape(&task.name),
                    task.value.count
                );
            }
        },
    );
    section(
        "throng_task_failures_total",
        "counter",
        "Task runs that failed, by task.",
        &mut |out| {
            for task in &snapshot.tasks {
                let _ = writeln!(
                    out,
                    "throng_task_failures_total{{{},task=\"{}\"}} {}",
                    plan(&task.scenario),
                    escape(&task.name),
                    task.value.failures
                );
            }
        },
    );
    section(
        "throng_checks_total",
        "counter",
        "Check results, by check and result.",
        &mut |out| {
            for check in &snapshot.checks {
                let (plan, name) = (plan(&check.scenario), escape(&check.name));
                let _ = writeln!(
                    out,
                    "throng_checks_total{{{plan},check=\"{name}\",result=\"pass\"}} {}",
                    check.value.passes
                );
                let _ = writeln!(
                    out,
                    "throng_checks_total{{{plan},check=\"{name}\",result=\"fail\"}} {}",
                    check.value.failures
                );
            }
        },
    );
    section(
        "throng_counter_total",
        "counter",
        "The scenario's counters.",
        &mut |out| {
            for counter in &snapshot.counters {
                let _ = writeln!(
                    out,
                    "throng_counter_total{{{},counter=\"{}\"}} {}",
                    plan(&counter.scenario),
                    escape(&counter.name),
                    counter.value
                );
            }
        },
    );
    section(
        "throng_trend",
        "summary",
        "The scenario's trends, in their own unit.",
        &mut |out| {
            for trend in &snapshot.trends {
                let samples = &trend.value;
                let name = format!(
                    "{},trend=\"{}\"",
                    plan(&trend.scenario),
                    escape(&trend.name)
                );
                for quantile in [0.5, 0.9, 0.95, 0.99] {
                    let value = samples.quantile(quantile);
                    let _ = writeln!(
                        out,
                        "throng_trend{{{name},quantile=\"{quantile}\"}} {value}"
                    );
                }
                let _ = writeln!(out, "throng_trend_sum{{{name}}} {}", samples.sum());
                let _ = writeln!(out, "throng_trend_count{{{name}}} {}", samples.len());
            }
        },
    );
    if !snapshot.iterations.is_empty() {
        section(
            "throng_iterations_total",
            "counter",
            "Arrival-rate iterations: due, started and dropped.",
            &mut |out| {
                for (scenario, iterations) in &snapshot.iterations {
                    for (state, count) in [
                        ("due", iterations.due),
                        ("started", iterations.started),
                        ("dropped", iterations.dropped),
                    ] {
                        let _ = writeln!(
                            out,
                            "throng_iterations_total{{{},state=\"{state}\"}} {count}",
                            plan(scenario)
                        );
                    }
                }
            },
        );
    }
    out.push_str(&text);
    out
}

/// A histogram in seconds from samples in microseconds.
fn histogram(out: &mut String, name: &str, labels: &str, samples: &Samples) {
    for bound in BUCKETS {
        let count = samples.count_at_most((bound * 1e6) as u64);
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {count}");
    }
    let _ = writeln!(
        out,
        "{name}_bucket{{{labels},le=\"+Inf\"}} {}",
        samples.len()
    );
    let _ = writeln!(out, "{name}_sum{{{labels}}} {}", samples.sum() / 1000.0);
    let _ = writeln!(out, "{name}_count{{{labels}}} {}", samples.len());
}

/// The `scenario` label.
fn plan(scenario: &str) -> String {
    format!("scenario=\"{}\"", escape(scenario))
}

/// A label value as the text format wants it.
fn escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{Exchange, Recorder};

    #[test]
    fn requests_come_out_as_counters_and_cumulative_buckets() {
        let stats = Recorder::single("shop");
        for ms in [2, 20, 200] {
            let elapsed = Some(Duration::from_millis(ms));
            stats.record_request(
                "/a \"quoted\"",
                "GET",
                &Exchange {
                    elapsed,
                    ..Exchange::default()
                },
                None,
            );
        }
        stats.record_check("ok", true);
        let text = render(&stats.snapshot(), &[3]);
        let labels = r#"scenario="shop",name="/a \"quoted\"",method="GET""#;
        assert!(
            text.contains("throng_users{scenario=\"shop\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains(&format!("throng_requests_total{{{labels}}} 3\n")),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "throng_request_duration_seconds_bucket{{{labels},le=\"0.001\"}} 0\n"
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "throng_request_duration_seconds_bucket{{{labels},le=\"0.025\"}} 2\n"
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "throng_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} 3\n"
            )),
            "{text}"
        );
        assert!(
            text.contains(
                "throng_checks_total{scenario=\"shop\",check=\"ok\",result=\"pass\"} 1\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("# TYPE throng_request_duration_seconds histogram\n"),
            "{text}"
        );
    }
}
