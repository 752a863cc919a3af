//! The simulated bottlenecks seen from outside: streamed replies and their
//! timing, the upstream rate limit, pool exhaustion, the review queue, and
//! `/_stats` agreeing with what a client sent.

use std::time::{Duration, Instant};

use crate::common::{error_of, fast, sse_events, start};
use origin_api::Config;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_streams_tokens_then_done_after_retrieval_and_intervals() {
    let config = Config {
        retrieval_delay: Duration::from_millis(100),
        reply_tokens: 5,
        token_interval: Duration::from_millis(40),
        ..fast()
    };
    let server = start(config).await;
    let token = server.user("ada").await;
    let room = server.room(&token, None).await;
    let sent = Instant::now();
    let response = server.chat(&token, room).await;
    let head = sent.elapsed();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert_eq!(response.headers()["cache-control"], "no-cache");
    let body = response.text().await.unwrap();
    let total = sent.elapsed();
    // Retrieval comes before the head; five token intervals follow it.
    assert!(head >= Duration::from_millis(100), "head after {head:?}");
    assert!(
        total >= Duration::from_millis(100 + 5 * 40),
        "body after {total:?}"
    );
    assert!(total < Duration::from_millis(1500), "body after {total:?}");

    let events = sse_events(&body);
    assert_eq!(events.len(), 6, "{body}");
    for (index, (name, data)) in events[..5].iter().enumerate() {
        assert_eq!(name, "token");
        assert_eq!(data["index"], index);
        assert!(data["text"].as_str().unwrap().ends_with(' '));
    }
    assert_eq!(
        events[5],
        ("done".into(), json!({ "message_id": 1, "tokens": 5 }))
    );
    let body = server.chat(&token, room).await.text().await.unwrap();
    assert_eq!(sse_events(&body)[5].1["message_id"], 2);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_is_429_with_retry_after_when_the_upstream_bucket_is_empty() {
    let config = Config {
        llm_burst: 1,
        llm_rate: 0.01,
        ..fast()
    };
    let server = start(config).await;
    let token = server.user("ada").await;
    let room = server.room(&token, None).await;
    let first = server.chat(&token, room).await;
    assert_eq!(first.status(), StatusCode::OK);
    first.text().await.unwrap();
    let second = server.chat(&token, room).await;
    assert_eq!(second.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = second.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // One token per 100 s, just spent: the wait is a little under 100 s, rounded up.
    assert_eq!(retry_after, 100);
    assert_eq!(error_of(second).await, "upstream LLM rate limit reached");
    let upstream = &server.stats().await["upstream"];
    assert_eq!(
        (
            upstream["calls"].as_u64(),
            upstream["rate_limited"].as_u64()
        ),
        (Some(1), Some(1))
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausted_pool_is_503_naming_the_acquire_timeout() {
    let config = Config {
        db_pool: 1,
        retrieval_delay: Duration::from_millis(600),
        db_acquire_timeout: Duration::from_millis(50),
        ..fast()
    };
    let server = start(config).await;
    let token = server.user("ada").await;
    let room = server.room(&token, None).await;
    let holder = {
        let (client, url, token) = (server.client.clone(), server.base.clone(), token.clone());
        tokio::spawn(async move {
            let url = format!("{url}/api/rooms/{room}/messages");
            let request = client.post(url).bearer_auth(token);
            let request = request.header("content-type", "application/json");
            let response = request.body(r#"{"content": "hi"}"#).send().await.unwrap();
            response.status()
        })
    };
    // Once the chat holds the only connection, it keeps it for its 600 ms retrieval.
    while server.stats().await["db_pool"]["in_use"] != 1 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let response = server.get("/api/rooms", &token).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let expected = "database pool had no free connection within 50ms";
    assert_eq!(error_of(response).await, expected);
    let pool = server.stats().await["db_pool"].clone();
    assert_eq!(pool, json!({ "size": 1, "in_use": 1, "timeouts": 1 }));
    assert_eq!(holder.await.unwrap(), StatusCode::OK);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reviews_wait_in_the_queue_while_the_only_worker_is_busy() {
    let config = Config {
        workers: 1,
        review_calls: 2,
        llm_call_time: Duration::from_millis(150),
        ..fast()
    };
    let server = start(config).await;
    let token = server.user("ada").await;
    let main = server.room(&token, None).await;
    let sub = server.room(&token, Some(main)).await;
    let first = server.start_review(&token, sub).await;
    let second = server.start_review(&token, sub).await;
    server
        .wait_for_review(&token, first, |r| r["status"] == "running")
        .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let waiting = server.wait_for_review(&token, second, |_| true).await;
    assert_eq!(waiting["status"], "queued");
    assert!(waiting["queued_ms"].as_u64().unwrap() > 0, "{waiting}");
    let reviews = server.stats().await["reviews"].clone();
    assert_eq!(
        (reviews["queued"].as_u64(), reviews["running"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(reviews["workers"], 1);

    let done = server
        .wait_for_review(&token, second, |r| r["status"] == "done")
        .await;
    assert_eq!(
        (done["calls_done"].as_u64(), done["calls_total"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(done["error"], Value::Null);
    // It waited for both of the first review's calls.
    assert!(done["queued_ms"].as_u64().unwrap() >= 250, "{done}");
    let first = server.wait_for_review(&token, first, |_| true).await;
    assert_eq!(first["status"], "done");
    let reviews = server.stats().await["reviews"].clone();
    assert_eq!(
        reviews,
        json!({ "queued": 0, "running": 0, "workers": 1, "done": 2, "failed": 0 })
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_fails_with_the_reason_when_the_upstream_bucket_stays_empty() {
    // A tiny rate means the bucket does not refill within the test; with no
    // retries allowed the refusal is final (retries are covered with paused time).
    let config = Config {
        llm_burst: 1,
        llm_rate: 0.001,
        review_retries: 0,
        ..fast()
    };
    let server = start(config).await;
    let token = server.user("ada").await;
    let main = server.room(&token, None).await;
    let sub = server.room(&token, Some(main)).await;
    server.chat(&token, main).await.text().await.unwrap();
    let id = server.start_review(&token, sub).await;
    let review = server
        .wait_for_review(&token, id, |r| r["status"] == "failed")
        .await;
    assert_eq!(
        review["error"],
        "upstream rate limit: gave up after 0 retries"
    );
    assert_eq!(review["calls_done"], 0);
    let stats = server.stats().await;
    assert_eq!(stats["reviews"]["failed"], 1);
    assert_eq!(stats["upstream"]["rate_limited"], 1);
    assert_eq!(stats["upstream"]["retries"], 0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_counts_equal_what_was_sent_per_route_and_status() {
    let config = Config {
        llm_burst: 2,
        llm_rate: 0.001,
        ..fast()
    };
    let server = start(config).await;
    let token = server.user("ada").await;
    server.user("bob").await;
    let room = server.room(&token, None).await;
    for _ in 0..3 {
        assert_eq!(
            server.get("/api/rooms", &token).await.status(),
            StatusCode::OK
        );
    }
    let response = server.send(Method::GET, "/api/rooms", None, None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    for expected in [
        StatusCode::OK,
        StatusCode::OK,
        StatusCode::TOO_MANY_REQUESTS,
    ] {
        let response = server.chat(&token, room).await;
        assert_eq!(response.status(), expected);
        response.text().await.unwrap();
    }
    assert_eq!(
        server.get("/nowhere", &token).await.status(),
        StatusCode::NOT_FOUND
    );
    let response = server
        .send(Method::DELETE, "/api/rooms", Some(&token), None)
        .await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    server.stats().await;

    let stats = server.stats().await;
    let expected = json!({
        "DELETE /api/rooms": { "received": 1, "responses": { "405": 1 } },
        "GET /api/rooms": { "received": 4, "responses": { "200": 3, "401": 1 } },
        "POST /api/rooms": { "received": 1, "responses": { "201": 1 } },
        "POST /api/rooms/{id}/messages": { "received": 3, "responses": { "200": 2, "429": 1 } },
        "POST /api/users": { "received": 2, "responses": { "201": 2 } },
        "unmatched": { "received": 1, "responses": { "404": 1 } },
    });
    assert_eq!(stats["routes"], expected);
    let upstream =
        json!({ "calls": 2, "rate_limited": 1, "retries": 0, "rate": 0.001, "burst": 2 });
    assert_eq!(stats["upstream"], upstream);
    assert_eq!(
        stats["db_pool"],
        json!({ "size": 4, "in_use": 0, "timeouts": 0 })
    );
    server.stop().await;
}
