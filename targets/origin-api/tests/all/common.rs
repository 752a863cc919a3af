//! Shared test harness: starts the real server on 127.0.0.1 port 0 inside the
//! test's runtime and wraps a reqwest client pointed at it; opens its chat
//! WebSocket with tokio-tungstenite.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use origin_api::Config;
use reqwest::{Client, Method, Response, StatusCode};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A client's end of a chat WebSocket.
pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Knobs small enough that a whole test takes milliseconds, not seconds.
pub fn fast() -> Config {
    Config {
        retrieval_delay: Duration::from_millis(20),
        reply_tokens: 3,
        token_interval: Duration::from_millis(5),
        workers: 2,
        review_calls: 2,
        llm_call_time: Duration::from_millis(10),
        llm_rate: 1000.0,
        llm_burst: 100,
        review_retries: 2,
        db_pool: 4,
        db_acquire_timeout: Duration::from_millis(500),
        db_query_time: Duration::from_millis(1),
        ws_close_after: 0,
    }
}

pub struct Server {
    pub base: String,
    pub client: Client,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

pub async fn start(config: Config) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (shutdown, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(origin_api::serve(listener, config, async {
        let _ = stopped.await;
    }));
    // No proxy: an HTTP_PROXY in the environment must not divert loopback traffic.
    let client = Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    Server {
        base,
        client,
        shutdown: Some(shutdown),
        task,
    }
}

impl Server {
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        request.send().await.unwrap()
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.send(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Response {
        self.send(Method::POST, path, Some(token), Some(body)).await
    }

    /// Creates a user and returns its bearer token.
    pub async fn user(&self, name: &str) -> String {
        let response = self
            .send(
                Method::POST,
                "/api/users",
                None,
                Some(json!({ "name": name })),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let user: Value = response.json_value().await;
        user["token"].as_str().unwrap().to_owned()
    }

    /// Creates a main room (or a sub-room under `parent`) and returns its id.
    pub async fn room(&self, token: &str, parent: Option<u64>) -> u64 {
        let path = match parent {
            Some(parent) => format!("/api/rooms/{parent}/subrooms"),
            None => "/api/rooms".to_owned(),
        };
        let response = self.post(&path, token, json!({ "name": "r" })).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let room: Value = response.json_value().await;
        room["id"].as_u64().unwrap()
    }

    pub async fn chat(&self, token: &str, room: u64) -> Response {
        let path = format!("/api/rooms/{room}/messages");
        self.post(&path, token, json!({ "content": "hello" })).await
    }

    /// Starts a review of `room` and returns its id.
    pub async fn start_review(&self, token: &str, room: u64) -> u64 {
        let path = format!("/api/rooms/{room}/reviews");
        let response = self.send(Method::POST, &path, Some(token), None).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        response.json_value().await["id"].as_u64().unwrap()
    }

    /// Polls a review until `reached(review)` holds, for at most five seconds.
    pub async fn wait_for_review(
        &self,
        token: &str,
        id: u64,
        reached: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let path = format!("/api/reviews/{id}");
            let review = self.get(&path, token).await.json_value().await;
            if reached(&review) {
                return review;
            }
            assert!(
                Instant::now() < deadline,
                "review never got there: {review}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Opens the chat WebSocket of `room` (as written in the path), with
    /// `token` as bearer token if given. A refused upgrade is
    /// [`tungstenite::Error::Http`], holding the response.
    pub async fn open_chat(
        &self,
        token: Option<&str>,
        room: &str,
    ) -> Result<Socket, tungstenite::Error> {
        let base = self.base.replacen("http://", "ws://", 1);
        let mut request = format!("{base}/api/rooms/{room}/chat")
            .into_client_request()
            .unwrap();
        if let Some(token) = token {
            let value = format!("Bearer {token}").parse().unwrap();
            request.headers_mut().insert("authorization", value);
        }
        let (socket, _response) = tokio_tungstenite::connect_async(request).await?;
        Ok(socket)
    }

    pub async fn stats(&self) -> Value {
        let response = self.client.get(format!("{}/_stats", self.base)).send();
        response.await.unwrap().json_value().await
    }

    /// Stops the server and waits for it to return cleanly.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let stopped = tokio::time::timeout(Duration::from_secs(5), &mut self.task);
        stopped.await.unwrap().unwrap().unwrap();
    }
}

/// Parses a response body as JSON (reqwest's own `json` is a feature the workspace leaves off).
pub trait ResponseJson {
    async fn json_value(self) -> Value;
}

impl ResponseJson for Response {
    async fn json_value(self) -> Value {
        let text = self.text().await.unwrap();
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e} in {text:?}"))
    }
}

/// Reads `{"error": ...}` from an error response, checking it is JSON.
pub async fn error_of(response: Response) -> String {
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert_eq!(content_type, "application/json");
    let body: Value = response.json_value().await;
    body["error"].as_str().unwrap().to_owned()
}

/// Parses a server-sent events body into (event, data) pairs.
pub fn sse_events(body: &str) -> Vec<(String, Value)> {
    let blocks = body.split("\n\n").filter(|block| !block.trim().is_empty());
    let parse = |block: &str| {
        let field = |name: &str| {
            let value = block.lines().find_map(|line| line.strip_prefix(name));
            value
                .unwrap_or_else(|| panic!("no {name} in {block:?}"))
                .trim()
                .to_owned()
        };
        (
            field("event:"),
            serde_json::from_str(&field("data:")).unwrap(),
        )
    };
    blocks.map(parse).collect()
}

/// Sends a chat message's JSON as a text message.
pub async fn say(socket: &mut Socket, message: Value) {
    socket
        .send(Message::text(message.to_string()))
        .await
        .unwrap();
}

/// The next message from the server, for at most five seconds.
pub async fn next_message(socket: &mut Socket) -> Message {
    let next = tokio::time::timeout(Duration::from_secs(5), socket.next());
    let next = next.await.expect("a message within 5 s");
    next.expect("the socket is open").unwrap()
}

/// The next message from the server, which must be JSON text.
pub async fn next_json(socket: &mut Socket) -> Value {
    match next_message(socket).await {
        Message::Text(text) => serde_json::from_str(text.as_str())
            .unwrap_or_else(|e| panic!("{e} in {:?}", text.as_str())),
        other => panic!("expected a text message, got {other:?}"),
    }
}

/// Reads one whole reply: its token messages and the `done` that ends it.
pub async fn reply(socket: &mut Socket) -> (Vec<Value>, Value) {
    let mut tokens = Vec::new();
    loop {
        let message = next_json(socket).await;
        match message["type"].as_str() {
            Some("token") => tokens.push(message),
            Some("done") => return (tokens, message),
            _ => panic!("expected a token or done, got {message}"),
        }
    }
}
