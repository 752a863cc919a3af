//! The `origin-api` binary: parses the flags, binds 127.0.0.1, announces the
//! address on stdout, serves until SIGINT or SIGTERM, then prints its final
//! `/_stats` to stderr as a short table.

use std::io::Write;
use std::net::Ipv4Addr;
use std::process::ExitCode;

use clap::Parser;
use origin_api::{Args, Config};
use serde_json::Value;

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let port = args.port;
    let config = Config::from(args);
    let listener = match tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("origin-api: cannot listen on 127.0.0.1:{port}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let address = match listener.local_addr() {
        Ok(address) => address,
        Err(e) => {
            eprintln!("origin-api: cannot read the bound address: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Scripts wait for exactly this line, so it goes out whole and flushed.
    let mut stdout = std::io::stdout().lock();
    let announced =
        writeln!(stdout, "origin-api listening on http://{address}").and_then(|()| stdout.flush());
    drop(stdout);
    if let Err(e) = announced {
        eprintln!("origin-api: cannot write to stdout: {e}");
        return ExitCode::FAILURE;
    }
    eprintln!("origin-api knobs: {config}");
    match origin_api::serve_and_report(listener, config, shutdown_signal()).await {
        Ok(report) => {
            // Scripts show this after a run, next to the load tester's own numbers.
            eprint!("{}", summary(&report));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("origin-api: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Completes on the first SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            // Without a SIGTERM handler, SIGINT still shuts down gracefully.
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

const CHAT_ROUTE: &str = "POST /api/rooms/{id}/messages";
const CHAT_SOCKET_ROUTE: &str = "GET /api/rooms/{id}/chat";

/// The final `/_stats` as a person reads it: requests and responses per
/// route (and under a WebSocket route, its messages and their replies), then
/// the state of each bottleneck.
fn summary(report: &Value) -> String {
    let number = |value: &Value| value.as_u64().unwrap_or(0);
    // One row: a label, what arrived, and the answers by status.
    let row = |label: &str, counts: &Value, answers: &str| {
        let answers: Vec<String> = counts[answers]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(status, count)| format!("{status}: {}", number(count)))
            .collect();
        (
            label.to_owned(),
            number(&counts["received"]),
            answers.join(", "),
        )
    };
    let routes = report["routes"].as_object().cloned().unwrap_or_default();
    let mut rows = Vec::new();
    for (route, counts) in &routes {
        rows.push(row(route, counts, "responses"));
        if counts.get("messages").is_some() {
            rows.push(row("  messages", &counts["messages"], "replies"));
        }
    }
    let widest = rows.iter().map(|(label, ..)| label.len()).max();
    let width = widest.unwrap_or(0).max(5);
    let mut text = format!(
        "origin-api saw:\n{:width$}  {:>8}  responses\n",
        "route", "received"
    );
    for (label, received, answers) in rows {
        text.push_str(&format!("{label:width$}  {received:>8}  {answers}\n"));
    }
    let (reviews, upstream, pool) = (&report["reviews"], &report["upstream"], &report["db_pool"]);
    text.push_str(&format!(
        "reviews: {} done, {} failed, {} still queued, {} running on {} workers\n",
        number(&reviews["done"]),
        number(&reviews["failed"]),
        number(&reviews["queued"]),
        number(&reviews["running"]),
        number(&reviews["workers"]),
    ));
    // Refusals reach clients only as chat's 429s (responses on the SSE route,
    // error messages on the socket); the rest were review calls, which retry
    // or give up inside the worker.
    let chat_refused = number(&report["routes"][CHAT_ROUTE]["responses"]["429"])
        + number(&report["routes"][CHAT_SOCKET_ROUTE]["messages"]["replies"]["429"]);
    let refused = number(&upstream["rate_limited"]);
    text.push_str(&format!(
        "upstream LLM ({}/s, burst {}): {} calls, {} refused: {} chat replies (429) and {} review calls ({} retries)\n",
        upstream["rate"],
        number(&upstream["burst"]),
        number(&upstream["calls"]),
        refused,
        chat_refused,
        refused.saturating_sub(chat_refused),
        number(&upstream["retries"]),
    ));
    text.push_str(&format!(
        "database pool of {}: {} requests found no free connection in time (503)\n",
        number(&pool["size"]),
        number(&pool["timeouts"]),
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_names_each_route_and_bottleneck() {
        let report = serde_json::json!({
            "routes": {
                "POST /api/rooms/{id}/messages": { "received": 12, "responses": { "200": 10, "429": 2 } },
                "GET /api/rooms": { "received": 3, "responses": { "200": 3 } },
                "GET /api/rooms/{id}/chat": {
                    "received": 2,
                    "responses": { "101": 2 },
                    "messages": { "received": 9, "replies": { "200": 7, "429": 1, "503": 1 } }
                }
            },
            "reviews": { "queued": 1, "running": 4, "workers": 4, "done": 5, "failed": 0 },
            "upstream": { "calls": 40, "rate_limited": 4, "retries": 1, "rate": 10.0, "burst": 20 },
            "db_pool": { "size": 10, "in_use": 0, "timeouts": 7 }
        });
        let text = summary(&report);
        assert!(
            text.contains("POST /api/rooms/{id}/messages        12  200: 10, 429: 2"),
            "{text}"
        );
        assert!(
            text.contains(
                "GET /api/rooms/{id}/chat              2  101: 2\n  messages                            9  200: 7, 429: 1, 503: 1\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("5 done, 0 failed, 1 still queued, 4 running on 4 workers"),
            "{text}"
        );
        assert!(
            text.contains(
                "(10.0/s, burst 20): 40 calls, 4 refused: 3 chat replies (429) and 1 review calls (1 retries)"
            ),
            "{text}"
        );
        assert!(
            text.contains("database pool of 10: 7 requests found no free connection in time (503)"),
            "{text}"
        );
    }
}
