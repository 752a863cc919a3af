//! The simulated LLM reply to a chat message, shared by the two chat routes
//! (server-sent events and WebSocket): the work before its first token, and
//! its parts on a fixed schedule.

use futures_util::stream::{self, Stream};
use serde::{Deserialize, Serialize};
use tokio::time::{Duration, Instant};

use crate::AppState;
use crate::db::Conn;
use crate::extract::ApiError;

/// Words the simulated LLM strings its replies from.
const WORDS: &[&str] = &[
    "the",
    "origin",
    "of",
    "this",
    "answer",
    "is",
    "a",
    "retrieved",
    "passage",
    "and",
    "some",
    "reasoning",
    "about",
    "your",
    "question",
    "which",
    "we",
    "summarise",
    "here",
    "briefly",
];

/// A chat message as clients send it, in a request body or a WebSocket message.
#[derive(Deserialize)]
pub struct NewMessage {
    #[expect(
        dead_code,
        reason = "required in the message, but the simulated LLM ignores it"
    )]
    content: String,
}

/// One part of a streamed reply. The SSE route sends the inner struct as an
/// event's data, named by the variant; the WebSocket route sends the whole
/// part, the variant named in `type`.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ReplyPart {
    Token(Token),
    Done(Done),
}

/// The `index`-th token of a reply, counting from 0.
#[derive(Debug, Serialize)]
pub struct Token {
    pub index: u32,
    pub text: String,
}

/// The end of a reply: the id of the message it answers and its token count.
#[derive(Debug, Serialize)]
pub struct Done {
    pub message_id: u64,
    pub tokens: u32,
}

/// What a chat message costs before its reply streams: retrieval, a vector
/// query that holds `conn` (released after it), then one upstream LLM call.
/// Returns the id the message gets in `user`'s `room`.
pub async fn begin(state: &AppState, conn: Conn, user: u64, room: u64) -> Result<u64, ApiError> {
    conn.hold(state.config.retrieval_delay).await;
    drop(conn);
    state.upstream.try_call().map_err(ApiError::rate_limited)?;
    state
        .tables
        .next_message_id(user, room)
        .ok_or_else(|| ApiError::not_found(format!("no room {room}")))
}

/// The reply's parts on a fixed schedule (so a slow reader does not stretch
/// it): token `i` at `i` intervals after the start, the first at once, and
/// the done part one interval after the last token, where the model's end of
/// stream would arrive. A reply thus takes `tokens` intervals in all.
pub fn parts(tokens: u32, interval: Duration, message_id: u64) -> impl Stream<Item = ReplyPart> {
    let start = Instant::now();
    stream::unfold(0u32, move |index| async move {
        if index > tokens {
            return None;
        }
        tokio::time::sleep_until(start + interval * index).await;
        let part = if index == tokens {
            ReplyPart::Done(Done { message_id, tokens })
        } else {
            let word = WORDS[fastrand::usize(..WORDS.len())];
            let text = format!("{word} ");
            ReplyPart::Token(Token { index, text })
        };
        Some((part, index + 1))
    })
}
