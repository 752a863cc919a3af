//! The chat WebSocket: replies streamed as messages on the SSE route's
//! schedule, the checks before the upgrade, errors as messages on a socket
//! that stays open, both sides' closes, and its counts in `/_stats`.

use std::time::{Duration, Instant};

use crate::common::{Socket, error_of, fast, next_json, next_message, reply, say, start};
use futures_util::{SinkExt, StreamExt};
use origin_api::Config;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};

const ROUTE: &str = "GET /api/rooms/{id}/chat";

/// The error message the server answers with, checked for its shape.
async fn error_message(socket: &mut Socket) -> (u64, String) {
    let error = next_json(socket).await;
    assert_eq!(error["type"], "error", "{error}");
    let status = error["status"].as_u64().unwrap();
    (status, error["message"].as_str().unwrap().to_owned())
}

/// Reads until the server's close and returns it, checking the stream then ends.
async fn server_close(socket: &mut Socket) -> Option<CloseFrame> {
    let close = match next_message(socket).await {
        Message::Close(frame) => frame,
        other => panic!("expected a close, got {other:?}"),
    };
    let end = tokio::time::timeout(Duration::from_secs(5), socket.next());
    assert!(end.await.unwrap().is_none(), "the connection ends");
    close
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_streams_token_messages_at_the_interval_then_done() {
    let config = Config {
        retrieval_delay: Duration::from_millis(50),
        reply_tokens: 5,
        token_interval: Duration::from_millis(10),
        ..fast()
    };
    let server = start(config).await;
    let token = server.user("ada").await;
    let room = server.room(&token, None).await;
    let mut socket = server
        .open_chat(Some(&token), &room.to_string())
        .await
        .unwrap();
    let sent = Instant::now();
    say(&mut socket, json!({ "content": "hello" })).await;
    let first = next_json(&mut socket).await;
    let first_after = sent.elapsed();
    assert_eq!(first["type"], "token", "{first}");
    assert_eq!(first["index"], 0);
    let (tokens, done) = reply(&mut socket).await;
    let total = sent.elapsed();
    // Retrieval comes before the first token; five token intervals follow
    // it, which the client sees spread out (less a little of its own delay
    // in reading the first token).
    assert!(first_after >= Duration::from_millis(50), "{first_after:?}");
    assert!(total >= Duration::from_millis(50 + 5 * 10), "{total:?}");
    let streamed = total - first_after;
    assert!(streamed >= Duration::from_millis(40), "{streamed:?}");
    assert!(total < Duration::from_millis(1500), "{total:?}");
    assert_eq!(tokens.len(), 4);
    for (index, token) in std::iter::once(&first).chain(&tokens).enumerate() {
        assert_eq!(token["index"], index, "{token}");
        assert!(token["text"].as_str().unwrap().ends_with(' '), "{token}");
    }
    assert_eq!(
        done,
        json!({ "type": "done", "message_id": 1, "tokens": 5 })
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_on_one_socket_are_answered_one_at_a_time_in_order() {
    let server = start(fast()).await;
    let token = server.user("ada").await;
    let room = server.room(&token, None).await;
    // A message posted over HTTP takes the room's next message id too.
    server.chat(&token, room).await.text().await.unwrap();
    let mut socket = server
        .open_chat(Some(&token), &room.to_string())
        .await
        .unwrap();
    for _ in 0..3 {
        say(&mut socket, json!({ "content": "hi" })).await;
    }
    for message_id in 2..=4 {
        let (tokens, done) = reply(&mut socket).await;
        assert_eq!(tokens.len(), 3);
        assert_eq!(done["message_id"], message_id, "{done}");
    }
    say(&mut socket, json!({ "content": "and again" })).await;
    assert_eq!(reply(&mut socket).await.1["message_id"], 5);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_is_refused_with_401_or_404_like_the_http_routes() {
    let server = start(fast()).await;
    let token = server.user("ada").await;
    let room = server.room(&token, None).await.to_string();
    let other = server.user("eve").await;
    let wrong = "0123456789abcdef0123456789abcdef";
    let unauthorized = "missing or invalid bearer token";
    let not_ours = format!("no room {room}");
    let cases = [
        (None, room.as_str(), 401, unauthorized),
        (Some(wrong), &room, 401, unauthorized),
        (Some(token.as_str()), "999", 404, "no room 999"),
        (Some(&token), "abc", 404, "no room abc"),
        (Some(&other), &room, 404, &not_ours),
    ];
    for (token, room, status, error) in cases {
        let refused = server.open_chat(token, room).await.err();
        let Some(tungstenite::Error::Http(response)) = refused else {
            panic!("expected an HTTP refusal for {token:?} {room}, got {refused:?}");
        };
        assert_eq!(response.status().as_u16(), status, "{token:?} {room}");
        let body: Value = serde_json::from_slice(response.body().as_deref().unwrap()).unwrap();
        assert_eq!(body, json!({ "error": error }));
    }
    // A plain GET with a good token and room is told what the upgrade lacks.
    let path = format!("/api/rooms/{room}/chat");
    let response = server.get(&path, &token).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let error = error_of(response).await;
    assert_eq!(error, "Connection header did not include 'upgrade'");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_message_is_a_429_message_and_the_socket_stays_open() {
    let config = Config {
        llm_burst: 1,
        llm_rate: 0.01,
        ..fast()
    };
    let server = start(config).await;
    let token = server.user("ada").await;
    let room = server.room(&token, None).await;
    let mut socket = server
        .open_chat(Some(&token), &room.to_string())
        .await
        .unwrap();
    say(&mut socket, json!({ "content": "one" })).await;
    assert_eq!(reply(&mut socket).await.1["tokens"], 3);
    for _ in 0..2 {
        say(&mut socket, json!({ "content": "more" })).await;
        let refused = (429, "upstream LLM rate limit reached".to_owned());
        assert_eq!(error_message(&mut socket).await, refused);
    }
    say(&mut socket, json!({ "no": "content" })).await;
    assert_eq!(error_message(&mut socket).await.0, 400);
    let upstream = server.stats().await["upstream"].clone();
    assert_eq!(
        (
            upstream["calls"].as_u64(),
            upstream["rate_limited"].as_u64()
        ),
        (Some(1), Some(2))
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausted_pool_is_a_503_message() {
    let config = Config {
        db_pool: 1,
        retrieval_delay: Duration::from_millis(300),
        db_acquire_timeout: Duration::from_millis(30),
        ..fast()
    };
    let server = start(config).await;
    let token = server.user("ada").await;
    let room = server.room(&token, None).await.to_string();
    let mut holder = server.open_chat(Some(&token), &room).await.unwrap();
    let mut starved = server.open_chat(Some(&token), &room).await.unwrap();
    say(&mut holder, json!({ "content": "slow" })).await;
    // Once the first message holds the only connection, it keeps it for its retrieval.
    while server.stats().await["db_pool"]["in_use"] != 1 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    say(&mut starved, json!({ "content": "starved" })).await;
    let expected = "database pool had no free connection within 30ms";
    assert_eq!(
        error_message(&mut starved).await,
        (503, expected.to_owned())
    );
    assert_eq!(reply(&mut holder).await.1["tokens"], 3);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_that_are_not_chat_messages_are_400_messages_with_the_reason() {
    let server = start(fast()).await;
    let token = server.user("ada").await;
    let room = server.room(&token, None).await;
    let mut socket = server
        .open_chat(Some(&token), &room.to_string())
        .await
        .unwrap();
    let cases = [
        ("{not json", "key must be a string"),
        ("{\"title\": \"x\"}", "missing field `content`"),
        ("[1]", "invalid type"),
    ];
    for (text, reason) in cases {
        socket.send(Message::text(text)).await.unwrap();
        let (status, message) = error_message(&mut socket).await;
        assert_eq!(status, 400, "{text}");
        assert!(message.starts_with("invalid JSON message: "), "{message}");
        assert!(message.contains(reason), "{message}");
    }
    socket.send(Message::binary(b"{}".to_vec())).await.unwrap();
    let expected = "binary messages are not chat messages; send JSON as text";
    assert_eq!(error_message(&mut socket).await, (400, expected.to_owned()));
    say(&mut socket, json!({ "content": "still here" })).await;
    assert_eq!(reply(&mut socket).await.1["message_id"], 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_close_is_answered_at_once_even_during_a_reply() {
    let config = Config {
        reply_tokens: 200,
        token_interval: Duration::from_millis(10),
        ..fast()
    };
    let server = start(config).await;
    let token = server.user("ada").await;
    let room = server.room(&token, None).await;
    let mut socket = server
        .open_chat(Some(&token), &room.to_string())
        .await
        .unwrap();
    say(&mut socket, json!({ "content": "a long one" })).await;
    assert_eq!(next_json(&mut socket).await["type"], "token");
    let closed = Instant::now();
    socket.close(None).await.unwrap();
    // Tokens already on their way may come first; the close follows them.
    let answer = loop {
        match next_message(&mut socket).await {
            Message::Text(_) => {}
            Message::Close(frame) => break frame,
            other => panic!("expected tokens then a close, got {other:?}"),
        }
    };
    // The reply had two seconds to go.
    assert!(closed.elapsed() < Duration::from_millis(1000), "{closed:?}");
    assert_eq!(answer.map(|frame| frame.code), None);
    let end = tokio::time::timeout(Duration::from_secs(5), socket.next());
    assert!(end.await.unwrap().is_none(), "the connection ends");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_closes_with_4000_after_the_configured_number_of_replies() {
    let config = Config {
        ws_close_after: 2,
        llm_burst: 1,
        llm_rate: 0.01,
        ..fast()
    };
    let server = start(config).await;
    let token = server.user("ada").await;
    let room = server.room(&token, None).await;
    let mut socket = server
        .open_chat(Some(&token), &room.to_string())
        .await
        .unwrap();
    for _ in 0..3 {
        say(&mut socket, json!({ "content": "hi" })).await;
    }
    // A refusal is a reply too: the bucket holds one call.
    assert_eq!(reply(&mut socket).await.1["message_id"], 1);
    assert_eq!(error_message(&mut socket).await.0, 429);
    let close = server_close(&mut socket).await.expect("a close frame");
    assert_eq!(close.code, CloseCode::from(4000));
    assert_eq!(close.reason.as_str(), "message limit");
    // The third message was read, but the close came before its turn.
    let stats = server.stats().await;
    let expected = json!({ "received": 3, "replies": { "200": 1, "429": 1 } });
    assert_eq!(stats["routes"][ROUTE]["messages"], expected);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_count_upgrades_messages_and_replies_on_the_socket_route() {
    let server = start(fast()).await;
    let token = server.user("ada").await;
    let room = server.room(&token, None).await.to_string();
    assert!(server.open_chat(None, &room).await.is_err());
    assert!(server.open_chat(Some(&token), "999").await.is_err());
    let mut socket = server.open_chat(Some(&token), &room).await.unwrap();
    let mut idle = server.open_chat(Some(&token), &room).await.unwrap();
    for _ in 0..2 {
        say(&mut socket, json!({ "content": "hi" })).await;
        reply(&mut socket).await;
    }
    socket.send(Message::text("{}")).await.unwrap();
    assert_eq!(error_message(&mut socket).await.0, 400);
    let stats = server.stats().await;
    let expected = json!({
        "received": 4,
        "responses": { "101": 2, "401": 1, "404": 1 },
        "messages": { "received": 3, "replies": { "200": 2, "400": 1 } },
    });
    assert_eq!(stats["routes"][ROUTE], expected);
    // The HTTP routes' counts keep their shape.
    let rooms = json!({ "received": 1, "responses": { "201": 1 } });
    assert_eq!(stats["routes"]["POST /api/rooms"], rooms);
    idle.close(None).await.unwrap();
    server.stop().await;
}
