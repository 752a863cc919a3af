//! `throng:scenario/ws`: WebSocket connections on behalf of one user. The
//! host times the opening handshake, counts messages and bytes each way,
//! and records how every connection closed, under the socket's name with
//! method `WS`.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use reqwest::cookie::CookieStore as _;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::protocol::{CloseFrame as WireClose, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message as WireMessage};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};
use url::Url;
use wasmtime::component::Resource;

use super::http::{AbortOnDrop, InFlight, root_cause};
use crate::config::HttpConfig;
use crate::runtime::VuState;
use crate::runtime::bindings::throng::scenario::ws::{
    CloseFrame, ConnectRequest, Error, Host, HostSocket, Message,
};
use crate::runtime::vu::RunContext;
use crate::stats::{ErrorKind, Exchange, WS_METHOD, WsEvent};

/// The close code of a connection that ended without a close frame.
const ABNORMAL: u16 = 1006;

/// How long `close` and a dropped socket wait for the server's answer.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

type Wire = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// An open connection the guest holds.
pub struct Socket {
    name: String,
    run: Arc<RunContext>,
    /// `None` once the connection is closed.
    wire: Option<Wire>,
}

/// Buffers sized for many sockets at once: tungstenite's defaults (128 KiB
/// to read, 128 KiB to write) would cost every user a quarter of a
/// megabyte. Messages up to the run's body limit are still accepted.
fn config(max_body: u64) -> WebSocketConfig {
    let max = usize::try_from(max_body).unwrap_or(usize::MAX);
    WebSocketConfig::default()
        .read_buffer_size(4 << 10)
        .write_buffer_size(0)
        .max_message_size(Some(max))
        .max_frame_size(Some(max))
}

/// TLS for `wss://`: the run's roots, offering only HTTP/1.1, which the
/// WebSocket handshake needs.
fn tls() -> Result<Arc<rustls::ClientConfig>, String> {
    static TLS: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    TLS.get_or_init(|| {
        let mut config = super::http::tls_config().map_err(|err| err.to_string())?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    })
    .clone()
}

/// Turns the guest's URL into an absolute `ws` or `wss` one the run allows.
fn resolve(http: &HttpConfig, text: &str) -> Result<Url, String> {
    let mut url = match Url::parse(text) {
        Ok(url) => url,
        Err(url::ParseError::RelativeUrlWithoutBase) => {
            let Some(host) = &http.host else {
                return Err(format!(
                    "WebSocket URL `{text}` is relative, but the run has no `--host`"
                ));
            };
            let mut url = host
                .join(text)
                .map_err(|err| format!("bad WebSocket URL `{text}`: {err}"))?;
            let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
            url.set_scheme(scheme)
                .map_err(|()| format!("bad WebSocket URL `{text}`"))?;
            url
        }
        Err(err) => return Err(format!("bad WebSocket URL `{text}`: {err}")),
    };
    if !matches!(url.scheme(), "ws" | "wss") {
        return Err(format!("URL `{text}` is not ws or wss"));
    }
    url.set_fragment(None);
    if !http.allows(&url) {
        let host = url.host_str().unwrap_or_default();
        let authority = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        return Err(format!(
            "host `{authority}` is not allowed: aim `--host` at it or pass `--allow-host {authority}`"
        ));
    }
    Ok(url)
}

/// The `http` URL whose cookies go with a WebSocket URL.
fn cookie_url(url: &Url) -> Option<Url> {
    let mut http = url.clone();
    let scheme = if url.scheme() == "wss" {
        "https"
    } else {
        "http"
    };
    http.set_scheme(scheme).ok()?;
    Some(http)
}

/// The handshake request: the URL, the guest's headers, the user's
/// cookies.
fn handshake(
    url: &Url,
    headers: &[(String, String)],
    cookies: Option<reqwest::header::HeaderValue>,
) -> Result<tungstenite::handshake::client::Request, String> {
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|err| format!("bad WebSocket request: {err}"))?;
    for (name, value) in headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("bad header name `{name}`"))?;
        let value =
            HeaderValue::from_str(value).map_err(|_| format!("bad value for header `{name}`"))?;
        request.headers_mut().append(name, value);
    }
    if let Some(cookies) = cookies
        && let Ok(value) = HeaderValue::from_bytes(cookies.as_bytes())
    {
        request
            .headers_mut()
            .append(tungstenite::http::header::COOKIE, value);
    }
    Ok(request)
}

impl Host for VuState {
    async fn connect(&mut self, request: ConnectRequest) -> Result<Resource<Socket>, Error> {
        self.touch();
        let run = self.run.clone();
        let name = request.name.clone().unwrap_or_else(|| request.url.clone());
        let url = match resolve(&run.http, &request.url) {
            Ok(url) => url,
            Err(message) => {
                if run.http.host.is_none() && Url::parse(&request.url).is_err() {
                    run.fail_run(message.clone());
                } else {
                    run.stats
                        .record_unsent(&name, WS_METHOD, ErrorKind::Invalid, &message);
                }
                return Err(Error::Invalid(message));
            }
        };
        let cookies = cookie_url(&url).and_then(|http| self.http.cookies.cookies(&http));
        let handshake = match handshake(&url, &request.headers, cookies) {
            Ok(handshake) => handshake,
            Err(message) => {
                run.stats
                    .record_unsent(&name, WS_METHOD, ErrorKind::Invalid, &message);
                return Err(Error::Invalid(message));
            }
        };
        let connector = match url.scheme() {
            "wss" => match tls() {
                Ok(tls) => Connector::Rustls(tls),
                Err(message) => return Err(Error::Other(message)),
            },
            _ => Connector::Plain,
        };
        let timeout = request
            .timeout_ms
            .map_or(run.http.timeout, |ms| Duration::from_millis(ms.into()));

        let mut flight = InFlight::new(&run.stats, &name, WS_METHOD);
        let started = Instant::now();
        let due = self.due.take();
        let config = config(run.http.max_body);
        let task = tokio::spawn(tokio::time::timeout(
            timeout,
            tokio_tungstenite::connect_async_tls_with_config(
                handshake,
                Some(config),
                true,
                Some(connector),
            ),
        ));
        let result = AbortOnDrop::new(task).join().await;
        let ended = Instant::now();
        flight.done = true;
        self.touch();

        let stats = Exchange {
            elapsed: Some(ended - started),
            corrected: run
                .corrects_omission
                .then(|| ended.saturating_duration_since(due.unwrap_or(started))),
            ..Exchange::default()
        };
        let (kind, error) = match result {
            Some(Ok(Ok((wire, _response)))) => {
                run.stats.record_request(&name, WS_METHOD, &stats, None);
                let socket = Socket {
                    name: name.clone(),
                    run: run.clone(),
                    wire: Some(wire),
                };
                return self
                    .table
                    .push(socket)
                    .map_err(|err| Error::Other(format!("the socket could not be kept: {err}")));
            }
            Some(Ok(Err(err))) => handshake_failure(&err),
            Some(Err(_)) => (
                ErrorKind::Timeout,
                Error::Timeout(format!("no WebSocket handshake within {timeout:?}")),
            ),
            None => (
                ErrorKind::Transport,
                Error::Other("the WebSocket handshake panicked".to_owned()),
            ),
        };
        let message = error_text(&error);
        run.stats
            .record_request(&name, WS_METHOD, &stats, Some((kind, &message)));
        Err(error)
    }
}

/// The kind and error of a failed handshake.
fn handshake_failure(err: &tungstenite::Error) -> (ErrorKind, Error) {
    match err {
        tungstenite::Error::Http(response) => {
            let status = response.status().as_u16();
            let message = format!("the server answered the handshake with status {status}");
            // A refusal counts by its status; any other answer (a page, a
            // redirect) means no WebSocket there.
            let kind = if status >= 400 {
                ErrorKind::of_status(status)
            } else {
                ErrorKind::Connect
            };
            (kind, Error::Connect(message))
        }
        tungstenite::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            (ErrorKind::Connect, Error::Connect(root_cause(io)))
        }
        tungstenite::Error::Tls(tls) => (ErrorKind::Tls, Error::Connect(tls.to_string())),
        tungstenite::Error::Url(url) => (ErrorKind::Invalid, Error::Invalid(url.to_string())),
        other => (ErrorKind::Connect, Error::Connect(other.to_string())),
    }
}

fn error_text(error: &Error) -> String {
    match error {
        Error::Invalid(m) | Error::Connect(m) | Error::Timeout(m) | Error::Other(m) => m.clone(),
        Error::Closed(frame) => closed_text(frame),
    }
}

fn closed_text(frame: &CloseFrame) -> String {
    if frame.code == ABNORMAL {
        return "the connection ended without a close frame".to_owned();
    }
    if frame.reason.is_empty() {
        format!("closed by the server with code {}", frame.code)
    } else {
        format!(
            "closed by the server with code {}: {}",
            frame.code, frame.reason
        )
    }
}

impl Socket {
    /// Counts the end of the connection: a server's close with a code
    /// other than 1000 (or none), or no close frame at all, is a failure.
    fn server_closed(&mut self, frame: CloseFrame) -> Error {
        self.wire = None;
        self.run
            .stats
            .record_ws(&self.name, WsEvent::Closed(frame.code));
        // 1000 is a normal close, 1005 a close frame without a code.
        if !matches!(frame.code, 1000 | 1005) {
            self.run.stats.record_late_failure(
                &self.name,
                WS_METHOD,
                ErrorKind::WsClosed,
                &closed_text(&frame),
            );
        }
        Error::Closed(frame)
    }

    /// A message past the run's `--max-body-size`: the host closes the
    /// connection with 1009 (message too big) and counts a failure of its
    /// own, not the server's.
    fn too_large(&mut self, detail: &str) -> Error {
        let message = format!("a message was larger than --max-body-size ({detail})");
        self.run.stats.record_late_failure(
            &self.name,
            WS_METHOD,
            ErrorKind::BodyTooLarge,
            &message,
        );
        self.close_in_background(1009, "message too big");
        Error::Other(message)
    }

    /// Closes the connection politely without waiting for it, and counts
    /// the close under `code`.
    fn close_in_background(&mut self, code: u16, reason: &'static str) {
        let Some(mut wire) = self.wire.take() else {
            return;
        };
        self.run.stats.record_ws(&self.name, WsEvent::Closed(code));
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            let frame = WireClose {
                code: code.into(),
                reason: reason.into(),
            };
            let _ = tokio::time::timeout(CLOSE_WAIT, close_and_drain(&mut wire, frame)).await;
        });
    }

    fn already_closed() -> Error {
        Error::Other("the socket is closed".to_owned())
    }
}

/// A socket still open when its user's instance goes (the run stopped, or
/// the guest trapped) is closed with 1001, going away.
impl Drop for Socket {
    fn drop(&mut self) {
        if self.wire.is_some() {
            self.close_in_background(1001, "going away");
        }
    }
}

fn frame_of(close: Option<WireClose>) -> CloseFrame {
    match close {
        Some(close) => CloseFrame {
            code: close.code.into(),
            reason: close.reason.to_string(),
        },
        // A close frame without a code: "no status received".
        None => CloseFrame {
            code: 1005,
            reason: String::new(),
        },
    }
}

fn abnormal(reason: String) -> CloseFrame {
    CloseFrame {
        code: ABNORMAL,
        reason,
    }
}

impl HostSocket for VuState {
    async fn send(&mut self, socket: Resource<Socket>, message: Message) -> Result<(), Error> {
        self.touch();
        let Ok(socket) = self.table.get_mut(&socket) else {
            return Err(Socket::already_closed());
        };
        let Some(wire) = socket.wire.as_mut() else {
            return Err(Socket::already_closed());
        };
        let (message, bytes) = match message {
            Message::Text(text) => {
                let bytes = text.len() as u64;
                (WireMessage::text(text), bytes)
            }
            Message::Binary(data) => {
                let bytes = data.len() as u64;
                (WireMessage::binary(data), bytes)
            }
        };
        let result = match wire.send(message).await {
            Ok(()) => {
                socket
                    .run
                    .stats
                    .record_ws(&socket.name, WsEvent::Sent(bytes));
                Ok(())
            }
            Err(err) => Err(socket.server_closed(abnormal(err.to_string()))),
        };
        self.touch();
        result
    }

    async fn receive(
        &mut self,
        socket: Resource<Socket>,
        timeout_ms: Option<u32>,
    ) -> Result<Message, Error> {
        self.touch();
        let Ok(socket) = self.table.get_mut(&socket) else {
            return Err(Socket::already_closed());
        };
        let deadline = timeout_ms.map(|ms| Instant::now() + Duration::from_millis(ms.into()));
        let result = loop {
            let Some(wire) = socket.wire.as_mut() else {
                break Err(Socket::already_closed());
            };
            let next = match deadline {
                Some(deadline) => match tokio::time::timeout_at(deadline.into(), wire.next()).await
                {
                    Ok(next) => next,
                    Err(_) => {
                        let waited = timeout_ms.unwrap_or_default();
                        break Err(Error::Timeout(format!("no message within {waited} ms")));
                    }
                },
                None => wire.next().await,
            };
            match next {
                Some(Ok(WireMessage::Text(text))) => {
                    let text = text.to_string();
                    socket
                        .run
                        .stats
                        .record_ws(&socket.name, WsEvent::Received(text.len() as u64));
                    break Ok(Message::Text(text));
                }
                Some(Ok(WireMessage::Binary(data))) => {
                    socket
                        .run
                        .stats
                        .record_ws(&socket.name, WsEvent::Received(data.len() as u64));
                    break Ok(Message::Binary(data.to_vec()));
                }
                // Pings are answered by tungstenite as it reads.
                Some(Ok(WireMessage::Ping(_) | WireMessage::Pong(_) | WireMessage::Frame(_))) => {}
                Some(Ok(WireMessage::Close(close))) => {
                    // tungstenite has queued the answer; send it.
                    let _ = tokio::time::timeout(CLOSE_WAIT, wire.flush()).await;
                    break Err(socket.server_closed(frame_of(close)));
                }
                Some(Err(tungstenite::Error::Capacity(err))) => {
                    break Err(socket.too_large(&err.to_string()));
                }
                Some(Err(err)) => break Err(socket.server_closed(abnormal(err.to_string()))),
                None => {
                    let reason = "the connection ended".to_owned();
                    break Err(socket.server_closed(abnormal(reason)));
                }
            }
        };
        self.touch();
        result
    }

    async fn close(
        &mut self,
        socket: Resource<Socket>,
        code: u16,
        reason: String,
    ) -> Result<(), Error> {
        self.touch();
        let Ok(socket) = self.table.get_mut(&socket) else {
            return Err(Socket::already_closed());
        };
        let Some(mut wire) = socket.wire.take() else {
            return Err(Socket::already_closed());
        };
        let frame = WireClose {
            code: code.into(),
            reason: reason.into(),
        };
        let closed = tokio::time::timeout(CLOSE_WAIT, close_and_drain(&mut wire, frame)).await;
        socket
            .run
            .stats
            .record_ws(&socket.name, WsEvent::Closed(code));
        self.touch();
        match closed {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(Error::Other(format!("the close failed: {err}"))),
            Err(_) => Err(Error::Timeout(format!(
                "the server did not answer the close within {CLOSE_WAIT:?}"
            ))),
        }
    }

    fn drop(&mut self, socket: Resource<Socket>) -> wasmtime::Result<()> {
        // A socket the guest let go of without closing it is closed
        // politely in the background, and counted as closed normally.
        let mut socket = self.table.delete(socket)?;
        socket.close_in_background(1000, "");
        Ok(())
    }
}

/// Sends a close frame and reads until the server answers it.
async fn close_and_drain(wire: &mut Wire, frame: WireClose) -> Result<(), tungstenite::Error> {
    wire.close(Some(frame)).await?;
    while let Some(message) = wire.next().await {
        match message {
            Ok(_) => {}
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imports::http::tests::config;

    #[test]
    fn paths_join_the_host_with_its_websocket_scheme() {
        let http = config(Some("http://127.0.0.1:8080"), &[]);
        let url = resolve(&http, "/api/rooms/1/chat?x=1").unwrap();
        assert_eq!(url.as_str(), "ws://127.0.0.1:8080/api/rooms/1/chat?x=1");
        let https = config(Some("https://127.0.0.1:8443"), &[]);
        assert_eq!(
            resolve(&https, "/live").unwrap().as_str(),
            "wss://127.0.0.1:8443/live"
        );
        assert!(resolve(&http, "ws://127.0.0.1:8080/x").is_ok());
    }

    #[test]
    fn other_hosts_and_schemes_are_refused() {
        let http = config(Some("http://127.0.0.1:8080"), &["localhost:9000"]);
        assert!(resolve(&http, "ws://example.com/").is_err());
        assert!(resolve(&http, "ws://localhost:9000/").is_ok());
        assert!(resolve(&http, "http://127.0.0.1:8080/").is_err());
        assert!(resolve(&config(None, &[]), "/chat").is_err());
    }

    #[test]
    fn close_messages_say_who_closed_and_why() {
        let frame = CloseFrame {
            code: 4000,
            reason: "message limit".into(),
        };
        assert_eq!(
            closed_text(&frame),
            "closed by the server with code 4000: message limit"
        );
        assert_eq!(
            closed_text(&abnormal("reset".into())),
            "the connection ended without a close frame"
        );
    }
}
