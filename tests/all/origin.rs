//! The Origin workload: the `origin-chat` scenario against the origin-api
//! stand-in, started in the test process on 127.0.0.1. throng's counts are
//! held against what origin-api says it saw (`GET /_stats`), and each of
//! the stand-in's bottlenecks, cut low, shows in throng's results as its
//! own kind of failure or as a slower review.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::Value;

use crate::harness::{Run, as_f64, as_u64, example, run_component_ok};
use crate::server::Background;

/// origin-api on its own thread and runtime, stopped when dropped.
struct Origin {
    server: Background,
}

impl Origin {
    fn start(config: origin_api::Config) -> Self {
        let server = Background::start(|listener, shutdown| async move {
            origin_api::serve(listener, config, shutdown)
                .await
                .expect("origin-api serves");
        });
        Self { server }
    }

    fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    fn url(&self) -> String {
        self.server.url()
    }

    /// What origin-api says it saw.
    fn stats(&self) -> Value {
        let mut stream = TcpStream::connect(self.addr()).expect("connect to origin-api");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        write!(
            stream,
            "GET /_stats HTTP/1.1\r\nhost: {}\r\nconnection: close\r\n\r\n",
            self.addr()
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        serde_json::from_str(body).expect("/_stats is JSON")
    }

    /// Responses with `status` per route, as origin-api counted them.
    fn responses(&self, status: u16) -> BTreeMap<String, u64> {
        let stats = self.stats();
        let routes = stats["routes"].as_object().expect("routes");
        routes
            .iter()
            .filter_map(|(route, counts)| {
                let count = counts["responses"][status.to_string()].as_u64()?;
                Some((route.clone(), count))
            })
            .collect()
    }
}

fn run_origin_chat(origin: &Origin, args: &[&str]) -> Run {
    run_component_ok(&example("origin-chat"), &origin.url(), args)
}

/// throng's request count per route, in origin-api's spelling
/// (`POST /api/rooms/{id}/messages`).
fn requests_per_route(run: &Run) -> BTreeMap<String, u64> {
    run.rows("requests")
        .iter()
        .map(|row| {
            let route = format!(
                "{} {}",
                row["method"].as_str().unwrap(),
                row["name"].as_str().unwrap()
            );
            (route, as_u64(&row["count"]))
        })
        .collect()
}

/// Request failures of `kind` per route, in origin-api's spelling.
fn failures_per_route(run: &Run, kind: &str) -> BTreeMap<String, u64> {
    let mut failures = BTreeMap::new();
    for row in run.rows("errors").iter().filter(|row| row["kind"] == kind) {
        let route = format!(
            "{} {}",
            row["method"].as_str().unwrap(),
            row["name"].as_str().unwrap()
        );
        *failures.entry(route).or_default() += as_u64(&row["count"]);
    }
    failures
}

#[test]
fn origin_chat_counts_match_what_origin_api_saw() {
    let origin = Origin::start(origin_api::Config::default());
    let run = run_origin_chat(&origin, &["-u", "20", "-r", "20", "-t", "15s"]);

    let counts = [
        run.task_count("send_chat_message"),
        run.task_count("list_rooms"),
        run.task_count("create_sub_room_and_start_review"),
    ];
    let total: u64 = counts.iter().sum();
    assert!(total >= 60, "only {total} tasks ran: {counts:?}");
    for (count, expected) in counts.iter().zip([0.625, 0.25, 0.125]) {
        let share = *count as f64 / total as f64;
        assert!(
            (share - expected).abs() <= 0.05,
            "share {share:.3} is not within 5 points of {expected}: {counts:?}"
        );
    }

    let stats = origin.stats();
    let seen: BTreeMap<String, u64> = stats["routes"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(route, counts)| (route.clone(), as_u64(&counts["received"])))
        .collect();
    assert_eq!(
        requests_per_route(&run),
        seen,
        "throng and origin-api disagree"
    );
    assert_eq!(seen["POST /api/users"], 20);

    let results = run.results.as_ref().unwrap();
    assert_eq!(results["errors"], serde_json::json!([]), "{}", run.stdout);
    for check in run.rows("checks") {
        assert_eq!(check["failures"], 0, "{check}");
    }
    assert_eq!(stats["reviews"]["failed"], 0);

    // Every reply was read event by event to its end: the host timed the
    // first token after the 300 ms retrieval and the tokens 30 ms apart.
    let chat = run.request("/api/rooms/{id}/messages");
    let stream = &chat["stream"];
    let chats = run.task_count("send_chat_message");
    assert_eq!(as_u64(&stream["completed"]), chats);
    assert_eq!(as_u64(&stream["events"]), chats * 21, "20 tokens and done");
    let first = as_f64(&stream["first_event"]["ms"]["p50"]);
    assert!(
        (300.0..400.0).contains(&first),
        "time to first token {first} ms"
    );
    let gap = as_f64(&stream["event_gaps"]["ms"]["p50"]);
    assert!((29.0..=36.0).contains(&gap), "inter-token gap {gap} ms");
    assert!(run.stdout.contains("time to first token"), "{}", run.stdout);
}

#[test]
fn chat_over_websocket_counts_match_what_origin_api_saw() {
    let origin = Origin::start(origin_api::Config::default());
    let args = [
        "-u",
        "10",
        "-r",
        "10",
        "-t",
        "8s",
        "--var",
        "chat_over=websocket",
        "--var",
        "list_weight=1",
        "--var",
        "review_weight=1",
    ];
    let run = run_origin_chat(&origin, &args);
    let stats = origin.stats();
    let route = &stats["routes"]["GET /api/rooms/{id}/chat"];
    let socket = run.request("/api/rooms/{id}/chat");
    assert_eq!(socket["method"], "WS");
    // A user opens its socket at its first chat, and keeps it.
    let sockets = as_u64(&socket["count"]);
    assert!(
        (5..=10).contains(&sockets),
        "{sockets} sockets for 10 users"
    );
    assert_eq!(as_u64(&route["responses"]["101"]), sockets);
    let ws = &socket["websocket"];
    let chats = run.task_count("send_chat_message");
    assert!(chats >= 20, "{}", run.stdout);
    assert_eq!(as_u64(&ws["messages_sent"]), chats);
    assert_eq!(as_u64(&route["messages"]["received"]), chats);
    assert_eq!(as_u64(&ws["messages_received"]), chats * 21);
    assert_eq!(
        run.results.as_ref().unwrap()["errors"],
        serde_json::json!([])
    );
    let first = as_f64(&run.trend("ws_first_token")["values"]["p50"]);
    assert!(
        (300.0..400.0).contains(&first),
        "time to first token {first} ms"
    );
}

#[test]
fn a_smaller_worker_pool_slows_reviews_down() {
    // Short upstream calls and quick polling keep the run short; a generous
    // rate limit keeps it out of the way.
    let config = |workers| origin_api::Config {
        workers,
        llm_call_time: Duration::from_millis(100),
        llm_rate: 10_000.0,
        llm_burst: 10_000,
        ..origin_api::Config::default()
    };
    let args = [
        "-u",
        "20",
        "-r",
        "20",
        "-t",
        "12s",
        "--var",
        "review_weight=20",
        "--var",
        "review_poll_ms=50",
    ];
    let (four, one) = std::thread::scope(|scope| {
        let four = scope.spawn(|| {
            let origin = Origin::start(config(4));
            run_origin_chat(&origin, &args)
        });
        let one = scope.spawn(|| {
            let origin = Origin::start(config(1));
            run_origin_chat(&origin, &args)
        });
        (four.join().unwrap(), one.join().unwrap())
    });

    let p50 = |run: &Run| as_f64(&run.trend("review_completion")["values"]["p50"]);
    let (fast, slow) = (p50(&four), p50(&one));
    assert!(
        slow >= 3.0 * fast,
        "review_completion p50 was {fast} ms with 4 workers and {slow} ms with 1"
    );
    assert!(one.stdout.contains("review_completion"), "{}", one.stdout);
    // origin-api's own account: most of the slower reviews' time was spent
    // queued for the one worker.
    let queued = as_f64(&one.trend("review_queued")["values"]["p50"]);
    assert!(
        queued >= slow / 2.0,
        "reviews waited {queued} ms of {slow} ms in the queue"
    );
}

#[test]
fn the_upstream_rate_limit_shows_as_429s() {
    let origin = Origin::start(origin_api::Config {
        llm_rate: 0.5,
        llm_burst: 2,
        ..origin_api::Config::default()
    });
    let run = run_origin_chat(&origin, &["-u", "10", "-r", "10", "-t", "8s"]);

    let reported = failures_per_route(&run, "status-429");
    let seen = origin.responses(429);
    assert!(
        seen.get("POST /api/rooms/{id}/messages")
            .copied()
            .unwrap_or(0)
            > 0,
        "origin-api limited no chat reply: {seen:?}"
    );
    assert_eq!(reported, seen);
    assert!(run.stdout.contains("status-429"), "{}", run.stdout);
}

#[test]
fn an_exhausted_database_pool_shows_as_503s() {
    let origin = Origin::start(origin_api::Config {
        db_pool: 1,
        ..origin_api::Config::default()
    });
    let run = run_origin_chat(&origin, &["-u", "10", "-r", "10", "-t", "8s"]);

    let reported = failures_per_route(&run, "status-5xx");
    let seen = origin.responses(503);
    assert!(seen.values().sum::<u64>() > 0, "the pool never ran out");
    assert_eq!(reported, seen);
    let pool_message = run
        .rows("errors")
        .iter()
        .filter(|row| row["kind"] == "status-5xx")
        .all(|row| row["message"].as_str().unwrap().contains("database pool"));
    assert!(pool_message, "{}", run.stdout);
}
