//! `origin-chat`: the users of a chat product with an LLM behind it, as their
//! Locust test had them. Each user signs up, keeps its token and creates its
//! main room; then it chats (weight 5), lists its rooms (weight 2), or opens
//! a sub-room and follows an AI review to the end (weight 1), waiting one to
//! three seconds between tasks.
//!
//! Run it against the stand-in API on loopback (`scripts/demo` does both):
//!
//! ```sh
//! origin-api --port 8080 &
//! throng run scenarios/origin-chat --host http://127.0.0.1:8080 -u 50 -r 5 -t 60s
//! ```
//!
//! Variables (`--var key=value`):
//!
//! | variable | meaning | default |
//! | --- | --- | --- |
//! | `chat_weight`, `list_weight`, `review_weight` | the tasks' weights | 5, 2, 1 |
//! | `review_poll_ms` | how often a review's status is read | 1000 |
//! | `review_timeout_s` | how long a review may take before the task fails | 60 |
//! | `chat_over` | `sse` (a POST whose reply streams as server-sent events) or `websocket` (one socket per user, kept open between messages) | `sse` |
//!
//! Over SSE the host times each token event, so the summary's Events table
//! shows time to first token and inter-token gaps for the chat route. Over
//! WebSocket the scenario times them itself, as the trends `ws_first_token`
//! and `ws_token_gap` (ms).

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;
use throng_sdk::prelude::*;

/// One signed-up user of the chat product.
struct ChatUser {
    token: String,
    main_room: u64,
    /// The user's chat socket, when chatting over WebSocket; opened at the
    /// first message and again after the server closed it.
    socket: Option<ws::Socket>,
}

/// A message of the chat socket's reply.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Reply {
    Token,
    Done,
    Error { status: u16, message: String },
}

#[derive(Deserialize)]
struct SignedUp {
    token: String,
}

#[derive(Deserialize)]
struct Room {
    id: u64,
}

#[derive(Deserialize)]
struct Review {
    id: u64,
    status: String,
    #[serde(default)]
    queued_ms: u64,
    error: Option<String>,
}

impl Scenario for ChatUser {
    fn describe() -> Describe<Self> {
        // Read once here so that a bad value stops the run before it starts.
        review_polling();
        over_websocket();
        Describe::new("origin-chat")
            .version("0.1.0")
            .description("chat, list rooms, and follow AI reviews, as Origin's users do")
            .wait(Wait::between(
                Duration::from_secs(1),
                Duration::from_secs(3),
            ))
            .task(
                "send_chat_message",
                number("chat_weight", 5),
                Self::send_chat_message,
            )
            .task("list_rooms", number("list_weight", 2), Self::list_rooms)
            .task(
                "create_sub_room_and_start_review",
                number("review_weight", 1),
                Self::create_sub_room_and_start_review,
            )
    }

    fn on_start() -> Result<Self> {
        let name = format!("user-{}", context::user_id());
        let user: SignedUp = http::post("/api/users")
            .json(&json!({ "name": name }))?
            .send()?
            .error_for_status()?
            .json()?;
        let room: Room = http::post("/api/rooms")
            .bearer(&user.token)
            .json(&json!({ "name": "main" }))?
            .send()?
            .error_for_status()?
            .json()?;
        Ok(ChatUser {
            token: user.token,
            main_room: room.id,
            socket: None,
        })
    }
}

impl ChatUser {
    /// Posts to the main room and reads the assistant's reply as it
    /// streams.
    fn send_chat_message(&mut self) -> Result<()> {
        if over_websocket() {
            return self.chat_over_websocket();
        }
        let reply = http::post(format!("/api/rooms/{}/messages", self.main_room))
            .name("/api/rooms/{id}/messages")
            .bearer(&self.token)
            .json(&json!({ "content": QUESTION }))?
            .open()?
            .error_for_status()?;
        let (mut tokens, mut done) = (0, false);
        // Read to the end of the stream, past `done`: the host then counts
        // the stream as completed rather than cancelled.
        for event in reply.events() {
            match event?.event.as_str() {
                "token" => tokens += 1,
                "done" => done = true,
                _ => {}
            }
        }
        metrics::check("chat reply arrived", done && tokens > 0);
        metrics::counter("reply_tokens", tokens);
        Ok(())
    }

    /// Sends the message on the user's socket and reads the reply's
    /// messages up to `done`, timing the first token and the gaps.
    fn chat_over_websocket(&mut self) -> Result<()> {
        let socket = match self.socket.take() {
            Some(socket) => socket,
            None => ws::connect(format!("/api/rooms/{}/chat", self.main_room))
                .name("/api/rooms/{id}/chat")
                .bearer(&self.token)
                .open()?,
        };
        let sent = clock::now();
        socket.send_json(&json!({ "content": QUESTION }))?;
        let (mut tokens, mut last) = (0u64, sent);
        loop {
            // An error leaves the socket behind; the next message opens a
            // new one.
            let message = socket
                .receive_timeout(Duration::from_secs(30))?
                .ok_or("no reply on the chat socket within 30 s")?;
            let now = clock::now();
            match message.json::<Reply>()? {
                Reply::Token => {
                    let trend = if tokens == 0 {
                        "ws_first_token"
                    } else {
                        "ws_token_gap"
                    };
                    metrics::trend(trend, (now - last).as_secs_f64() * 1000.0);
                    tokens += 1;
                    last = now;
                }
                Reply::Done => break,
                Reply::Error { status, message } => {
                    self.socket = Some(socket);
                    metrics::check("chat reply arrived", false);
                    return Err(Error::Message(format!(
                        "chat refused with status {status}: {message}"
                    )));
                }
            }
        }
        self.socket = Some(socket);
        metrics::check("chat reply arrived", tokens > 0);
        metrics::counter("reply_tokens", tokens);
        Ok(())
    }

    fn list_rooms(&mut self) -> Result<()> {
        let rooms: Vec<Room> = http::get("/api/rooms")
            .bearer(&self.token)
            .send()?
            .error_for_status()?
            .json()?;
        metrics::check(
            "rooms include the main room",
            rooms.iter().any(|room| room.id == self.main_room),
        );
        Ok(())
    }

    /// Opens a sub-room, starts a review there, and reads its status until
    /// it is done or failed, recording the time from start to done as the
    /// trend `review_completion`, and the part of it spent waiting for a
    /// worker as `review_queued`. Failure messages leave the review's id
    /// out, so that the failures table has one row per cause.
    fn create_sub_room_and_start_review(&mut self) -> Result<()> {
        let (poll, limit) = review_polling();

        let sub_room: Room = http::post(format!("/api/rooms/{}/subrooms", self.main_room))
            .name("/api/rooms/{id}/subrooms")
            .bearer(&self.token)
            .json(&json!({ "name": "review" }))?
            .send()?
            .error_for_status()?
            .json()?;

        let started = clock::now();
        let mut review: Review = http::post(format!("/api/rooms/{}/reviews", sub_room.id))
            .name("/api/rooms/{id}/reviews")
            .bearer(&self.token)
            .send()?
            .error_for_status()?
            .json()?;
        while review.status != "done" && review.status != "failed" {
            if clock::now() - started >= limit {
                metrics::check("review finished", false);
                return Err(Error::Message(format!(
                    "review still {} after {}s",
                    review.status,
                    limit.as_secs()
                )));
            }
            clock::sleep(poll);
            review = http::get(format!("/api/reviews/{}", review.id))
                .name("/api/reviews/{id}")
                .bearer(&self.token)
                .send()?
                .error_for_status()?
                .json()?;
        }

        let finished = review.status == "done";
        metrics::check("review finished", finished);
        if !finished {
            let why = review.error.unwrap_or_default();
            return Err(Error::Message(format!("review failed: {why}")));
        }
        metrics::trend_duration("review_completion", clock::now() - started);
        // The server's word on how much of that the review spent queued for
        // a worker, which tells a full worker pool from slow upstream calls.
        metrics::trend("review_queued", review.queued_ms as f64);
        Ok(())
    }
}

/// `--var key=N`, or `default`. A value that is not a whole number panics,
/// which in `describe` stops the run before it starts, naming the variable.
fn number<T: std::str::FromStr>(key: &str, default: T) -> T {
    match context::var(key) {
        None => default,
        Some(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("variable `{key}` must be a whole number, not `{text}`")),
    }
}

/// What every chat message asks.
const QUESTION: &str = "what changed in the last release?";

/// Whether chat goes over the WebSocket route (`--var chat_over=websocket`)
/// rather than server-sent events. Another value panics, which in
/// `describe` stops the run before it starts.
fn over_websocket() -> bool {
    match context::var("chat_over").as_deref() {
        None | Some("sse") => false,
        Some("websocket") => true,
        Some(other) => panic!("variable `chat_over` must be `sse` or `websocket`, not `{other}`"),
    }
}

/// How a review is followed: how often its status is read, and for how
/// long at most.
fn review_polling() -> (Duration, Duration) {
    (
        Duration::from_millis(number("review_poll_ms", 1000)),
        Duration::from_secs(number("review_timeout_s", 60)),
    )
}

throng_sdk::export!(ChatUser);
