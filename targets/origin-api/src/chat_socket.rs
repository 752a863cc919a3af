//! The chat WebSocket behind `GET /api/rooms/{id}/chat`, once upgraded: each
//! chat message on it is answered as the SSE chat route answers a request.
//!
//! The client sends text messages `{"content": "..."}`. The server answers
//! each one in text messages: a reply, `{"type":"token","index":i,"text":"..."}`
//! per token then `{"type":"done","message_id":m,"tokens":n}`, on the SSE
//! route's schedule; or one `{"type":"error","status":s,"message":"..."}`:
//! 429 when the upstream LLM refuses, 503 when no database connection frees
//! up in time, 400 for a message that is not a chat message (binary ones
//! included). The socket stays open after an error.
//!
//! Messages are answered one at a time, in order. While one is answered the
//! server reads on up to the next chat message, so a client's close is
//! answered at once, abandoning the reply under way (or, behind a waiting
//! message, as soon as the current reply ends, abandoning the waiting one).
//! With [`Config::ws_close_after`](crate::Config::ws_close_after) set, the
//! server closes with code 4000 ("message limit") after that many answers,
//! errors included; what the client sent meanwhile goes unanswered.

use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::http::StatusCode;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};

use crate::AppState;
use crate::extract::ApiError;
use crate::reply::{self, NewMessage};

/// Close code of the server's close after `ws_close_after` answers (4000 to
/// 4999 are codes for applications).
const MESSAGE_LIMIT: u16 = 4000;

/// How long the server waits for the client to answer its close.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// One upgraded chat socket: whose it is, its room, and the route key its
/// messages are counted under.
pub struct Session {
    pub state: Arc<AppState>,
    pub key: String,
    pub user: u64,
    pub room: u64,
}

/// What the session makes of the next thing read from the socket.
enum Read {
    /// A chat message, or why it is not one.
    Chat(Result<(), ApiError>),
    /// A ping or a pong; the library answers pings itself.
    Control,
    /// The client's close, which the next read answers.
    Close,
    /// The connection failed or ended without a close.
    Gone,
}

impl Read {
    fn of(next: Option<Result<Message, axum::Error>>) -> Self {
        match next {
            Some(Ok(Message::Text(text))) => {
                let chat = serde_json::from_str::<NewMessage>(text.as_str());
                Self::Chat(chat.map(drop).map_err(|reason| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        format!("invalid JSON message: {reason}"),
                    )
                }))
            }
            Some(Ok(Message::Binary(_))) => Self::Chat(Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "binary messages are not chat messages; send JSON as text",
            ))),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => Self::Control,
            Some(Ok(Message::Close(_))) => Self::Close,
            Some(Err(_)) | None => Self::Gone,
        }
    }
}

impl Session {
    /// Answers the socket's chat messages until either side closes it or the
    /// connection fails.
    pub async fn run(self, socket: WebSocket) {
        let (mut outgoing, mut incoming) = socket.split();
        // A chat message that arrived while an earlier one was being answered.
        let mut pending = None;
        let mut answers = 0;
        loop {
            let chat = match pending.take() {
                Some(chat) => chat,
                None => match self.read(incoming.next().await) {
                    Read::Chat(chat) => chat,
                    Read::Control => continue,
                    Read::Close => return self.finish(incoming).await,
                    Read::Gone => return,
                },
            };
            // Reading goes on meanwhile, so that a close is answered at once;
            // the next chat message waits for its turn.
            let answered = {
                let mut answer = pin!(self.answer(chat, &mut outgoing));
                loop {
                    tokio::select! {
                        answered = &mut answer => break answered,
                        next = incoming.next(), if pending.is_none() => match self.read(next) {
                            Read::Chat(chat) => pending = Some(chat),
                            Read::Control => {}
                            Read::Close => return self.finish(incoming).await,
                            Read::Gone => return,
                        },
                    }
                }
            };
            if answered.is_err() {
                return;
            }
            answers += 1;
            if answers == self.state.config.ws_close_after {
                let limit = CloseFrame {
                    code: MESSAGE_LIMIT,
                    reason: "message limit".into(),
                };
                if outgoing.send(Message::Close(Some(limit))).await.is_ok() {
                    self.finish(incoming).await;
                }
                return;
            }
        }
    }

    /// Makes sense of the next thing read from the socket, counting a chat
    /// message (or what should have been one) as received.
    fn read(&self, next: Option<Result<Message, axum::Error>>) -> Read {
        let read = Read::of(next);
        if let Read::Chat(_) = read {
            self.state.routes.message_received(&self.key);
        }
        read
    }

    /// Reads to the end of the connection, which sends the answer to a
    /// client's close or waits for the client's answer to the server's.
    /// Messages still arriving are counted but go unanswered; a client that
    /// never answers is dropped after [`CLOSE_TIMEOUT`].
    async fn finish(&self, mut incoming: SplitStream<WebSocket>) {
        let drained = async {
            while let Some(next) = incoming.next().await {
                self.read(Some(next));
            }
        };
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, drained).await;
    }

    /// Answers one chat message: the reply's parts on their schedule, or an
    /// error message. The outcome is counted as soon as it is known; an
    /// error is the socket's.
    async fn answer(
        &self,
        chat: Result<(), ApiError>,
        outgoing: &mut SplitSink<WebSocket, Message>,
    ) -> Result<(), axum::Error> {
        let begun = match chat {
            Ok(()) => self.begin().await,
            Err(error) => Err(error),
        };
        let message_id = match begun {
            Ok(message_id) => message_id,
            Err(error) => {
                self.state.routes.message_replied(&self.key, error.status());
                let body = serde_json::json!({
                    "type": "error",
                    "status": error.status().as_u16(),
                    "message": error.message(),
                });
                return outgoing.send(Message::text(body.to_string())).await;
            }
        };
        self.state.routes.message_replied(&self.key, StatusCode::OK);
        let config = &self.state.config;
        let mut parts = pin!(reply::parts(
            config.reply_tokens,
            config.token_interval,
            message_id
        ));
        while let Some(part) = parts.next().await {
            // Plain structs of numbers and strings always serialize.
            let text = serde_json::to_string(&part).expect("reply part serializes");
            outgoing.send(Message::text(text)).await?;
        }
        Ok(())
    }

    /// What the SSE route's request does before its reply, per message: a
    /// database connection held through the message's queries and the
    /// retrieval, then the upstream call. Returns the message's id.
    async fn begin(&self) -> Result<u64, ApiError> {
        let conn = self.state.pool.acquire().await?;
        conn.query().await;
        reply::begin(&self.state, conn, self.user, self.room).await
    }
}
