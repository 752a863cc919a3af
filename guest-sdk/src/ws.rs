//! WebSocket connections on behalf of the virtual user.
//!
//! The host times the opening handshake and counts the messages and bytes
//! each way and how each connection closed, under the socket's name with
//! method `WS`. Time request-reply pairs with a trend of your own:
//!
//! ```no_run
//! # fn f() -> throng_sdk::Result<()> {
//! use std::time::Duration;
//! use throng_sdk::{clock, metrics, ws};
//!
//! let socket = ws::connect("/api/echo").name("echo").open()?;
//! let sent = clock::now();
//! socket.send_text("ping")?;
//! let reply = socket.receive_timeout(Duration::from_secs(5))?;
//! metrics::trend("echo_round_trip", (clock::now() - sent).as_secs_f64() * 1000.0);
//! metrics::check("echo answered", reply.is_some());
//! socket.close(1000, "done")?;
//! # Ok(()) }
//! ```

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Error;
use crate::bindings::throng::scenario::ws as wit;

pub use wit::CloseFrame;
pub use wit::Error as WsError;

/// Starts a connection to a `ws://` or `wss://` URL, or to a path on the
/// run's `--host`.
pub fn connect(url: impl Into<String>) -> Connect {
    Connect {
        inner: wit::ConnectRequest {
            url: url.into(),
            headers: Vec::new(),
            name: None,
            timeout_ms: None,
        },
    }
}

/// A connection being set up. Nothing is sent until [`Connect::open`].
#[derive(Debug, Clone)]
#[must_use = "a connection is made only by `open`"]
pub struct Connect {
    inner: wit::ConnectRequest,
}

impl Connect {
    /// Adds a header to the opening handshake.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.inner.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Adds `authorization: Bearer <token>` to the opening handshake.
    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    /// Groups this socket's statistics under `name` instead of its URL.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.inner.name = Some(name.into());
        self
    }

    /// Fails the handshake with kind `timeout` when it takes longer than
    /// `timeout` (the run's `--timeout` otherwise).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.inner.timeout_ms = Some(crate::timeout_ms(timeout));
        self
    }

    /// Opens the connection.
    ///
    /// # Errors
    ///
    /// [`Error::WebSocket`] when the URL is invalid or not allowed, the
    /// connection failed, the server refused the handshake, or it timed
    /// out.
    pub fn open(self) -> crate::Result<Socket> {
        let socket = self.inner.name.clone().unwrap_or(self.inner.url.clone());
        match wit::connect(&self.inner) {
            Ok(inner) => Ok(Socket { inner, socket }),
            Err(source) => Err(Error::WebSocket { socket, source }),
        }
    }
}

/// One message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
}

impl Message {
    /// The text of a text message.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Message::Text(text) => Some(text),
            Message::Binary(_) => None,
        }
    }

    /// The message's bytes, whichever its kind.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Message::Text(text) => text.as_bytes(),
            Message::Binary(data) => data,
        }
    }

    /// The message parsed as JSON.
    ///
    /// # Errors
    ///
    /// [`Error::Json`] when the message is not JSON of that shape.
    pub fn json<T: DeserializeOwned>(&self) -> crate::Result<T> {
        serde_json::from_slice(self.as_bytes()).map_err(|err| Error::Json(err.to_string()))
    }
}

/// An open connection; see [`connect`]. Dropping it closes it with code
/// 1000.
#[derive(Debug)]
pub struct Socket {
    inner: wit::Socket,
    /// The socket as the results name it, for errors.
    socket: String,
}

impl Socket {
    fn error(&self, source: WsError) -> Error {
        Error::WebSocket {
            socket: self.socket.clone(),
            source,
        }
    }

    /// Sends a text message.
    ///
    /// # Errors
    ///
    /// [`Error::WebSocket`] when the connection has closed.
    pub fn send_text(&self, text: &str) -> crate::Result<()> {
        self.inner
            .send(&wit::Message::Text(text.to_owned()))
            .map_err(|source| self.error(source))
    }

    /// Sends a binary message.
    ///
    /// # Errors
    ///
    /// [`Error::WebSocket`] when the connection has closed.
    pub fn send_binary(&self, data: &[u8]) -> crate::Result<()> {
        self.inner
            .send(&wit::Message::Binary(data.to_vec()))
            .map_err(|source| self.error(source))
    }

    /// Sends a value as a JSON text message.
    ///
    /// # Errors
    ///
    /// [`Error::Json`] when the value cannot be serialised;
    /// [`Error::WebSocket`] when the connection has closed.
    pub fn send_json<T: Serialize + ?Sized>(&self, value: &T) -> crate::Result<()> {
        let text = serde_json::to_string(value).map_err(|err| Error::Json(err.to_string()))?;
        self.send_text(&text)
    }

    /// Waits for the next message, however long it takes.
    ///
    /// # Errors
    ///
    /// [`Error::WebSocket`] when the server closed the connection (with
    /// its close code) or it broke.
    pub fn receive(&self) -> crate::Result<Message> {
        match self.inner.receive(None) {
            Ok(message) => Ok(message.into()),
            Err(source) => Err(self.error(source)),
        }
    }

    /// Waits at most `timeout` for the next message; `None` when none
    /// came. A timeout is not a failure, and the socket stays open.
    ///
    /// # Errors
    ///
    /// As [`Socket::receive`].
    pub fn receive_timeout(&self, timeout: Duration) -> crate::Result<Option<Message>> {
        match self.inner.receive(Some(crate::timeout_ms(timeout))) {
            Ok(message) => Ok(Some(message.into())),
            Err(WsError::Timeout(_)) => Ok(None),
            Err(source) => Err(self.error(source)),
        }
    }

    /// Closes the connection with a code (1000 for a normal close) and a
    /// reason, and waits for the server's answer.
    ///
    /// # Errors
    ///
    /// [`Error::WebSocket`] when the connection had already closed or the
    /// server did not answer.
    pub fn close(self, code: u16, reason: &str) -> crate::Result<()> {
        self.inner
            .close(code, reason)
            .map_err(|source| self.error(source))
    }
}

impl From<wit::Message> for Message {
    fn from(message: wit::Message) -> Self {
        match message {
            wit::Message::Text(text) => Message::Text(text),
            wit::Message::Binary(data) => Message::Binary(data),
        }
    }
}
