//! Streamed responses and WebSockets against a server in the test process
//! that paces its bodies itself: the host's timings must match the delays
//! the server put between the chunks.

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::stream::{self, Stream, StreamExt as _};
use serde_json::Value;

use crate::harness::{Run, as_f64, as_u64, run_ok};
use crate::server::Background;

/// Messages the echo routes received.
#[derive(Default)]
struct Seen {
    messages: AtomicU64,
}

/// A body of `count` chunks, the first after `first` and the others
/// `gap` apart, each flushed as it is made; with `cut`, the connection
/// breaks after the last one instead of ending the body.
fn paced(first: Duration, gap: Duration, chunks: Vec<Bytes>, cut: bool) -> Body {
    let body = stream::iter(chunks.into_iter().enumerate()).then(move |(at, chunk)| async move {
        tokio::time::sleep(if at == 0 { first } else { gap }).await;
        Ok::<_, std::io::Error>(chunk)
    });
    // The break comes a gap after the last chunk, so that the chunk has
    // left the server before it.
    let ending = stream::iter(cut.then_some(())).then(move |()| async move {
        tokio::time::sleep(gap).await;
        Err(std::io::Error::other("cut on purpose"))
    });
    Body::from_stream(body.chain(ending))
}

fn chunks(count: usize, size: usize) -> Vec<Bytes> {
    (0..count)
        .map(|i| Bytes::from(vec![b'a' + (i % 26) as u8; size]))
        .collect()
}

fn forever() -> impl Stream<Item = Result<Bytes, std::io::Error>> {
    stream::unfold((), |()| async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        Some((Ok(Bytes::from_static(b"tick\n")), ()))
    })
}

async fn echo(socket: WebSocketUpgrade, State(seen): State<Arc<Seen>>) -> Response {
    socket.on_upgrade(move |mut socket: WebSocket| async move {
        while let Some(Ok(message)) = socket.recv().await {
            match message {
                Message::Text(_) | Message::Binary(_) => {
                    seen.messages.fetch_add(1, Ordering::SeqCst);
                    if socket.send(message).await.is_err() {
                        break;
                    }
                }
                Message::Close(_) => break,
                _ => {}
            }
        }
    })
}

/// Echoes one message, then closes with code 4001.
async fn echo_once(socket: WebSocketUpgrade, State(seen): State<Arc<Seen>>) -> Response {
    socket.on_upgrade(move |mut socket: WebSocket| async move {
        if let Some(Ok(message)) = socket.recv().await {
            seen.messages.fetch_add(1, Ordering::SeqCst);
            let _ = socket.send(message).await;
            let frame = CloseFrame {
                code: 4001,
                reason: "shift over".into(),
            };
            let _ = socket.send(Message::Close(Some(frame))).await;
            while let Some(Ok(_)) = socket.recv().await {}
        }
    })
}

fn start() -> (Background, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let state = seen.clone();
    let server = Background::start(move |listener, shutdown| async move {
        let ms = Duration::from_millis;
        let app = Router::new()
            .route(
                "/chunks",
                get(move || async move { paced(ms(300), ms(50), chunks(11, 100), false) }),
            )
            .route(
                "/length",
                get(move || async move {
                    let body = paced(ms(300), ms(50), chunks(11, 100), false);
                    ([(CONTENT_LENGTH, "1100")], body).into_response()
                }),
            )
            .route(
                "/sse",
                get(move || async move {
                    let events = (0..20)
                        .map(|i| Bytes::from(format!("event: token\ndata: {{\"i\": {i}}}\n\n")))
                        .collect();
                    let body = paced(ms(200), ms(30), events, false);
                    ([(CONTENT_TYPE, "text/event-stream")], body).into_response()
                }),
            )
            .route("/forever", get(|| async { Body::from_stream(forever()) }))
            .route(
                "/stall",
                get(move || async move { paced(ms(10), ms(10_000), chunks(2, 10), false) }),
            )
            .route(
                "/cut",
                get(move || async move { paced(ms(10), ms(20), chunks(3, 10), true) }),
            )
            .route(
                "/gzip",
                get(|| async {
                    let text = "every token the model wrote\n".repeat(2000);
                    let mut encoder =
                        flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                    encoder.write_all(text.as_bytes()).unwrap();
                    let wire = encoder.finish().unwrap();
                    ([(CONTENT_ENCODING, "gzip")], wire).into_response()
                }),
            )
            .route("/echo", get(echo))
            .route("/echo-once", get(echo_once))
            .with_state(state);
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
            .unwrap();
    });
    (server, seen)
}

/// Milliseconds of a summary figure of `times` (`p50`, `min`, `max`).
fn ms(times: &Value, figure: &str) -> f64 {
    as_f64(&times["ms"][figure])
}

fn stream_run(server: &Background, args: &[&str]) -> Run {
    run_ok("stream", &server.url(), args)
}

#[test]
fn chunks_are_timed_as_they_arrive() {
    let (server, _) = start();
    let run = stream_run(
        &server,
        &["-u", "2", "--iterations", "2", "--var", "path=/chunks"],
    );
    let row = run.request("/chunks");
    assert_eq!(as_u64(&row["count"]), 4);
    assert_eq!(as_u64(&row["failures"]), 0);
    let stream = &row["stream"];
    assert_eq!(as_u64(&stream["completed"]), 4);
    assert_eq!(as_u64(&stream["chunks"]), 44, "11 chunks per stream");
    let first_byte = ms(&row["first_byte"], "p50");
    assert!(
        (300.0..=320.0).contains(&first_byte),
        "first byte {first_byte} ms"
    );
    assert!((300.0..=320.0).contains(&ms(&stream["first_chunk"], "p50")));
    let last_byte = as_f64(&row["latency_ms"]["p50"]);
    assert!(
        (800.0..=840.0).contains(&last_byte),
        "last byte {last_byte} ms"
    );
    assert_eq!(as_u64(&stream["chunk_gaps"]["count"]), 40);
    let gap = ms(&stream["chunk_gaps"], "p50");
    assert!((50.0..=55.0).contains(&gap), "gap p50 {gap} ms");
    assert!(ms(&row["headers"], "p50") < 50.0, "headers come at once");
    // Each user connected once and kept the connection.
    let connects = as_u64(&row["connect"]["count"]);
    assert!((2..=4).contains(&connects), "{connects} connections");
    assert!(ms(&row["connect"], "max") < 50.0);
    let counters = run.rows("counters");
    assert!(
        counters
            .iter()
            .any(|c| c["name"] == "chunks_read" && c["value"] == 44)
    );
    assert!(run.stdout.contains("Stream"), "{}", run.stdout);
}

#[test]
fn a_slow_body_with_a_length_has_its_first_and_last_byte_apart() {
    let (server, _) = start();
    let run = stream_run(
        &server,
        &["-u", "1", "--iterations", "1", "--var", "path=/length"],
    );
    let row = run.request("/length");
    let first_byte = ms(&row["first_byte"], "p50");
    let last_byte = as_f64(&row["latency_ms"]["p50"]);
    assert!(
        (300.0..=320.0).contains(&first_byte),
        "first byte {first_byte} ms"
    );
    assert!(
        (800.0..=840.0).contains(&last_byte),
        "last byte {last_byte} ms"
    );
    assert_eq!(as_u64(&row["bytes"]), 1100);
}

#[test]
fn server_sent_events_give_time_to_first_token_and_the_gaps() {
    let (server, _) = start();
    let run = stream_run(
        &server,
        &[
            "-u",
            "1",
            "--iterations",
            "2",
            "--var",
            "mode=events",
            "--var",
            "path=/sse",
        ],
    );
    let row = run.request("/sse");
    let stream = &row["stream"];
    assert_eq!(as_u64(&stream["completed"]), 2);
    assert_eq!(as_u64(&stream["events"]), 40);
    let first = ms(&stream["first_event"], "p50");
    assert!((200.0..=215.0).contains(&first), "first event {first} ms");
    assert_eq!(
        as_u64(&stream["event_gaps"]["count"]),
        38,
        "19 gaps a stream"
    );
    let (low, high) = (
        ms(&stream["event_gaps"], "p50"),
        ms(&stream["event_gaps"], "p90"),
    );
    assert!((30.0..=35.0).contains(&low), "gap p50 {low} ms");
    assert!(high < 45.0, "gap p90 {high} ms");
    assert!(run.stdout.contains("time to first token"), "{}", run.stdout);
}

#[test]
fn a_stream_that_never_ends_times_out_and_the_user_goes_on() {
    let (server, _) = start();
    let run = stream_run(
        &server,
        &[
            "-u",
            "1",
            "--iterations",
            "3",
            "--var",
            "path=/forever",
            "--var",
            "timeout_ms=300",
        ],
    );
    let row = run.request("/forever");
    assert_eq!(as_u64(&row["count"]), 3, "each iteration ran");
    assert_eq!(as_u64(&row["stream"]["timed_out"]), 3);
    assert_eq!(run.errors("/forever", "stream-timeout"), 3);
    let took = as_f64(&row["latency_ms"]["p50"]);
    assert!((300.0..400.0).contains(&took), "timed out after {took} ms");

    let run = stream_run(
        &server,
        &[
            "-u",
            "1",
            "--iterations",
            "1",
            "--var",
            "path=/stall",
            "--var",
            "chunk_timeout_ms=200",
        ],
    );
    assert_eq!(run.errors("/stall", "stream-timeout"), 1);
    assert!(
        run.stdout.contains("no chunk within 200ms"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_stream_the_server_cuts_is_counted_once() {
    let (server, _) = start();
    let run = stream_run(
        &server,
        &["-u", "1", "--iterations", "2", "--var", "path=/cut"],
    );
    let row = run.request("/cut");
    assert_eq!(as_u64(&row["count"]), 2);
    assert_eq!(as_u64(&row["failures"]), 2);
    assert_eq!(as_u64(&row["stream"]["cut"]), 2);
    assert_eq!(run.errors("/cut", "stream-cut"), 2);
    assert_eq!(as_u64(&row["stream"]["chunks"]), 6);
    // The task saw the failure too, in its own words.
    assert_eq!(run.errors("stream", "task"), 2);
}

#[test]
fn a_cancelled_stream_is_not_a_failure() {
    let (server, _) = start();
    let run = stream_run(
        &server,
        &[
            "-u",
            "1",
            "--iterations",
            "2",
            "--var",
            "mode=cancel",
            "--var",
            "path=/forever",
        ],
    );
    let row = run.request("/forever");
    assert_eq!(as_u64(&row["count"]), 2);
    assert_eq!(as_u64(&row["failures"]), 0);
    assert_eq!(as_u64(&row["stream"]["cancelled"]), 2);
}

#[test]
fn gzip_bodies_count_wire_and_decoded_bytes_apart() {
    let (server, _) = start();
    let run = stream_run(
        &server,
        &["-u", "1", "--iterations", "2", "--var", "path=/gzip"],
    );
    let row = run.request("/gzip");
    let decoded = as_u64(&row["bytes"]);
    let wire = as_u64(&row["wire_bytes"]);
    assert_eq!(decoded, 2 * 28 * 2000);
    assert!(wire * 10 < decoded, "wire {wire} B, decoded {decoded} B");
    let counters = run.rows("counters");
    assert!(
        counters
            .iter()
            .any(|c| c["name"] == "bytes_read" && as_u64(&c["value"]) == decoded)
    );
}

#[test]
fn websocket_round_trips_are_counted_on_both_sides() {
    let (server, seen) = start();
    let run = stream_run(
        &server,
        &[
            "-u",
            "2",
            "--iterations",
            "5",
            "--var",
            "mode=ws",
            "--var",
            "path=/echo",
            "--var",
            "rounds=100",
        ],
    );
    let row = run.request("/echo");
    assert_eq!(row["method"], "WS");
    assert_eq!(as_u64(&row["count"]), 10, "one connection per iteration");
    assert_eq!(as_u64(&row["failures"]), 0);
    let ws = &row["websocket"];
    assert_eq!(as_u64(&ws["messages_sent"]), 1000);
    assert_eq!(as_u64(&ws["messages_received"]), 1000);
    assert_eq!(seen.messages.load(Ordering::SeqCst), 1000);
    assert_eq!(
        ws["closes"],
        serde_json::json!([{ "code": 1000, "count": 10 }])
    );
    let counters = run.rows("counters");
    assert!(
        counters
            .iter()
            .any(|c| c["name"] == "echoes" && c["value"] == 1000)
    );
    assert!(run.stdout.contains("WebSocket"), "{}", run.stdout);
}

#[test]
fn a_server_close_with_a_code_is_a_ws_closed_failure() {
    let (server, _) = start();
    let run = stream_run(
        &server,
        &[
            "-u",
            "1",
            "--iterations",
            "2",
            "--var",
            "mode=ws",
            "--var",
            "path=/echo-once",
            "--var",
            "rounds=3",
        ],
    );
    let row = run.request("/echo-once");
    assert_eq!(as_u64(&row["count"]), 2);
    assert_eq!(run.errors("/echo-once", "ws-closed"), 2);
    assert_eq!(
        row["websocket"]["closes"],
        serde_json::json!([{ "code": 4001, "count": 2 }])
    );
    assert!(
        run.stdout
            .contains("closed by the server with code 4001: shift over"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_slow_reader_does_not_slow_the_clock() {
    let (server, _) = start();
    // The guest spends 120 ms on each chunk that came 50 ms after the one
    // before: the host still times the chunks as they arrived.
    let run = stream_run(
        &server,
        &[
            "-u",
            "1",
            "--iterations",
            "1",
            "--var",
            "path=/chunks",
            "--var",
            "read_sleep_ms=120",
        ],
    );
    let row = run.request("/chunks");
    let gap = ms(&row["stream"]["chunk_gaps"], "p50");
    assert!((50.0..=55.0).contains(&gap), "gap p50 {gap} ms");
    let last_byte = as_f64(&row["latency_ms"]["p50"]);
    assert!(
        (800.0..=840.0).contains(&last_byte),
        "last byte {last_byte} ms"
    );
    assert!(run.task("stream")["duration_ms"]["max"].as_f64().unwrap() > 1300.0);
}

#[test]
fn streams_and_sockets_the_stop_cuts_are_counted() {
    let (server, _) = start();
    let cut = ["-u", "4", "-r", "100", "-t", "1s", "--stop-timeout", "1s"];
    let mut args = cut.to_vec();
    args.extend(["--var", "mode=hold", "--var", "path=/forever"]);
    let run = stream_run(&server, &args);
    let row = run.request("/forever");
    assert_eq!(as_u64(&row["count"]), 4, "{}", run.stdout);
    assert_eq!(as_u64(&row["stream"]["cancelled"]), 4);
    assert_eq!(run.errors("/forever", "aborted"), 4);

    let mut args = cut.to_vec();
    args.extend(["--var", "mode=ws-hold", "--var", "path=/echo"]);
    let run = stream_run(&server, &args);
    let row = run.request("/echo");
    assert_eq!(as_u64(&row["count"]), 4);
    let going_away = serde_json::json!([{ "code": 1001, "count": 4 }]);
    assert_eq!(row["websocket"]["closes"], going_away, "{}", run.stdout);
}

#[test]
fn a_websocket_handshake_that_is_not_answered_is_a_connect_failure() {
    let (server, _) = start();
    let run = stream_run(
        &server,
        &[
            "-u",
            "1",
            "--iterations",
            "1",
            "--var",
            "mode=ws",
            "--var",
            "path=/gzip",
        ],
    );
    assert_eq!(run.errors("/gzip", "connect"), 1, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("answered the handshake with status 200")
    );
    assert!(run.request("/gzip")["websocket"].is_object());
}
