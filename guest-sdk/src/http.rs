//! HTTP requests on behalf of the virtual user: a builder for the request,
//! the response with its body read, and the ways a request can fail.
//!
//! Each user has its own connections and cookie jar. The host times each
//! request itself and groups its statistics under the request's name.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Error;
use crate::bindings::throng::scenario::http as wit;

pub use wit::Error as HttpError;
pub use wit::StreamError;

/// Starts a `GET` request.
///
/// ```no_run
/// # fn f() -> throng_sdk::Result<()> {
/// let rooms = throng_sdk::http::get("/api/rooms").name("list rooms").send()?;
/// # Ok(()) }
/// ```
pub fn get(url: impl Into<String>) -> Request {
    Request::new("GET", url)
}

/// Starts a `POST` request.
///
/// ```no_run
/// # fn f() -> throng_sdk::Result<()> {
/// throng_sdk::http::post("/api/rooms")
///     .json(&serde_json::json!({ "title": "general" }))?
///     .send()?;
/// # Ok(()) }
/// ```
pub fn post(url: impl Into<String>) -> Request {
    Request::new("POST", url)
}

/// Starts a `PUT` request.
///
/// ```no_run
/// # fn f() -> throng_sdk::Result<()> {
/// throng_sdk::http::put("/api/profile").body("{}").send()?;
/// # Ok(()) }
/// ```
pub fn put(url: impl Into<String>) -> Request {
    Request::new("PUT", url)
}

/// Starts a `PATCH` request.
///
/// ```no_run
/// # fn f() -> throng_sdk::Result<()> {
/// throng_sdk::http::patch("/api/profile").body("{}").send()?;
/// # Ok(()) }
/// ```
pub fn patch(url: impl Into<String>) -> Request {
    Request::new("PATCH", url)
}

/// Starts a `DELETE` request.
///
/// ```no_run
/// # fn f() -> throng_sdk::Result<()> {
/// throng_sdk::http::delete("/api/rooms/7").name("/api/rooms/:id").send()?;
/// # Ok(()) }
/// ```
pub fn delete(url: impl Into<String>) -> Request {
    Request::new("DELETE", url)
}

/// A request being built. Nothing is sent until [`Request::send`].
#[derive(Debug, Clone)]
#[must_use = "a request is sent only by `send` or `open`"]
pub struct Request {
    inner: wit::Request,
    chunk_timeout_ms: Option<u32>,
}

impl Request {
    /// A request with any method, such as `HEAD` or `OPTIONS`.
    ///
    /// ```no_run
    /// # fn f() -> throng_sdk::Result<()> {
    /// throng_sdk::http::Request::new("HEAD", "/").send()?;
    /// # Ok(()) }
    /// ```
    pub fn new(method: &str, url: impl Into<String>) -> Self {
        Self {
            inner: wit::Request {
                method: method.to_ascii_uppercase(),
                url: url.into(),
                headers: Vec::new(),
                body: None,
                name: None,
                timeout_ms: None,
                expected_statuses: Vec::new(),
            },
            chunk_timeout_ms: None,
        }
    }

    /// Adds a header; a name may be added more than once.
    ///
    /// ```no_run
    /// # fn f() -> throng_sdk::Result<()> {
    /// throng_sdk::http::get("/api/me").header("x-trace", "1").send()?;
    /// # Ok(()) }
    /// ```
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.inner.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Adds `authorization: Bearer <token>`.
    ///
    /// ```no_run
    /// # fn f(token: &str) -> throng_sdk::Result<()> {
    /// throng_sdk::http::get("/api/rooms").bearer(token).send()?;
    /// # Ok(()) }
    /// ```
    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    /// Sets the body as it is.
    ///
    /// ```no_run
    /// # fn f() -> throng_sdk::Result<()> {
    /// throng_sdk::http::post("/upload").body(vec![0u8; 1024]).send()?;
    /// # Ok(()) }
    /// ```
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.inner.body = Some(body.into());
        self
    }

    /// Sets a JSON body and `content-type: application/json`.
    ///
    /// # Errors
    ///
    /// [`Error::Json`] when `value` cannot be serialised.
    ///
    /// ```no_run
    /// # fn f() -> throng_sdk::Result<()> {
    /// throng_sdk::http::post("/api/users")
    ///     .json(&serde_json::json!({ "name": "ada" }))?
    ///     .send()?;
    /// # Ok(()) }
    /// ```
    pub fn json<T: Serialize + ?Sized>(self, value: &T) -> crate::Result<Self> {
        let body = serde_json::to_vec(value).map_err(|err| Error::Json(err.to_string()))?;
        Ok(self.header("content-type", "application/json").body(body))
    }

    /// Groups this request's statistics under `name` instead of its URL, so
    /// that `/rooms/1` and `/rooms/2` share one row.
    ///
    /// ```no_run
    /// # fn f(id: u64) -> throng_sdk::Result<()> {
    /// throng_sdk::http::get(format!("/api/rooms/{id}")).name("/api/rooms/:id").send()?;
    /// # Ok(()) }
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.inner.name = Some(name.into());
        self
    }

    /// Fails the request with kind `timeout` when the whole exchange takes
    /// longer than `timeout` (the run's `--timeout` otherwise). For a
    /// stream ([`Request::open`]) it bounds the whole stream, and a stream
    /// that outlasts it fails with kind `stream-timeout`.
    ///
    /// ```no_run
    /// # fn f() -> throng_sdk::Result<()> {
    /// use std::time::Duration;
    /// throng_sdk::http::get("/slow").timeout(Duration::from_secs(2)).send()?;
    /// # Ok(()) }
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.inner.timeout_ms = Some(crate::timeout_ms(timeout));
        self
    }

    /// For a stream ([`Request::open`]): fails it with kind
    /// `stream-timeout` when no chunk arrives within `timeout` of the
    /// headers or of the chunk before.
    ///
    /// ```no_run
    /// # fn f() -> throng_sdk::Result<()> {
    /// use std::time::Duration;
    /// let stream = throng_sdk::http::get("/events")
    ///     .chunk_timeout(Duration::from_secs(5))
    ///     .open()?;
    /// # Ok(()) }
    /// ```
    pub fn chunk_timeout(mut self, timeout: Duration) -> Self {
        self.chunk_timeout_ms = Some(crate::timeout_ms(timeout));
        self
    }

    /// Counts `status` (400 and up) as a success for this request.
    ///
    /// ```no_run
    /// # fn f() -> throng_sdk::Result<()> {
    /// throng_sdk::http::get("/api/rooms/0").expect_status(404).send()?;
    /// # Ok(()) }
    /// ```
    pub fn expect_status(mut self, status: u16) -> Self {
        self.inner.expected_statuses.push(status);
        self
    }

    /// Sends the request and reads the whole body. A status of 400 and up
    /// comes back as a [`Response`]; see [`Response::error_for_status`].
    ///
    /// # Errors
    ///
    /// [`Error::Http`] when no response arrived: the URL was invalid or not
    /// allowed, the connection failed, the request timed out, the body was
    /// too large.
    ///
    /// ```no_run
    /// # fn f() -> throng_sdk::Result<()> {
    /// let response = throng_sdk::http::get("/").send()?;
    /// throng_sdk::metrics::check("home page is up", response.status() == 200);
    /// # Ok(()) }
    /// ```
    pub fn send(self) -> crate::Result<Response> {
        match wit::send(&self.inner) {
            Ok(inner) => Ok(Response {
                inner,
                method: self.inner.method,
                request: self.inner.name.unwrap_or(self.inner.url),
            }),
            Err(source) => Err(Error::Http {
                method: self.inner.method,
                url: self.inner.url,
                name: self.inner.name,
                source,
            }),
        }
    }

    /// Sends the request and returns once the response headers have
    /// arrived, with the body to read chunk by chunk as it comes
    /// ([`Stream::next_chunk`]) or as server-sent events
    /// ([`Stream::events`]).
    ///
    /// The host times every chunk as it arrives and counts the stream once
    /// it ends, under the request's name: completed, cancelled, timed out
    /// or cut by the server.
    ///
    /// # Errors
    ///
    /// [`Error::Http`] when no response headers arrived, as for
    /// [`Request::send`].
    ///
    /// ```no_run
    /// # fn f() -> throng_sdk::Result<()> {
    /// let mut stream = throng_sdk::http::get("/download").open()?;
    /// let mut size = 0;
    /// while let Some(chunk) = stream.next_chunk()? {
    ///     size += chunk.len();
    /// }
    /// # Ok(()) }
    /// ```
    pub fn open(self) -> crate::Result<Stream> {
        match wit::open(&self.inner, self.chunk_timeout_ms) {
            Ok(inner) => Ok(Stream {
                inner,
                method: self.inner.method,
                request: self.inner.name.unwrap_or(self.inner.url),
                ended: false,
            }),
            Err(source) => Err(Error::Http {
                method: self.inner.method,
                url: self.inner.url,
                name: self.inner.name,
                source,
            }),
        }
    }
}

/// A response whose body has been read to the end.
#[derive(Debug, Clone)]
pub struct Response {
    inner: wit::Response,
    /// The request's method and name (or URL as written), for error
    /// messages.
    method: String,
    request: String,
}

impl Response {
    /// The status code.
    ///
    /// ```no_run
    /// # fn f() -> throng_sdk::Result<()> {
    /// let ok = throng_sdk::http::get("/").send()?.status() == 200;
    /// # Ok(()) }
    /// ```
    pub fn status(&self) -> u16 {
        self.inner.status
    }

    /// The first value of a header, by case-insensitive name.
    ///
    /// ```no_run
    /// # fn f() -> throng_sdk::Result<()> {
    /// let response = throng_sdk::http::get("/").send()?;
    /// let kind = response.header("content-type").unwrap_or("none");
    /// # Ok(()) }
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        self.inner
            .headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Every header, in the order received.
    ///
    /// ```no_run
    /// # fn f() -> throng_sdk::Result<()> {
    /// let count = throng_sdk::http::get("/").send()?.headers().len();
    /// # Ok(()) }
    /// ```
    pub fn headers(&self) -> &[(String, String)] {
        &self.inner.headers
    }

    /// The body, decompressed.
    ///
    /// ```no_run
    /// # fn f() -> throng_sdk::Result<()> {
    /// let size = throng_sdk::http::get("/").send()?.body().len();
    /// # Ok(()) }
    /// ```
    pub fn body(&self) -> &[u8] {
        &self.inner.body
    }

    /// The body as text, with invalid UTF-8 replaced.
    ///
    /// ```no_run
    /// # fn f() -> throng_sdk::Result<()> {
    /// let page = throng_sdk::http::get("/").send()?.text();
    /// # Ok(()) }
    /// ```
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.inner.body).into_owned()
    }

    /// The body parsed as JSON.
    ///
    /// # Errors
    ///
    /// [`Error::Json`] when the body is not JSON of that shape.
    ///
    /// ```no_run
    /// # fn f() -> throng_sdk::Result<()> {
    /// #[derive(serde::Deserialize)]
    /// struct Token { token: String }
    /// let token: Token = throng_sdk::http::post("/api/users").send()?.json()?;
    /// # Ok(()) }
    /// ```
    pub fn json<T: DeserializeOwned>(&self) -> crate::Result<T> {
        serde_json::from_slice(&self.inner.body).map_err(|err| Error::Json(err.to_string()))
    }

    /// The final URL, after redirects.
    ///
    /// ```no_run
    /// # fn f() -> throng_sdk::Result<()> {
    /// let landed = throng_sdk::http::get("/login").send()?.url().to_owned();
    /// # Ok(()) }
    /// ```
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// How long the exchange took, as the host timed it.
    ///
    /// ```no_run
    /// # fn f() -> throng_sdk::Result<()> {
    /// let took = throng_sdk::http::get("/").send()?.elapsed();
    /// # Ok(()) }
    /// ```
    pub fn elapsed(&self) -> Duration {
        Duration::from_micros(self.inner.elapsed_us)
    }

    /// Turns a status of 400 and up into [`Error::Status`], so that `?`
    /// ends the task.
    ///
    /// # Errors
    ///
    /// [`Error::Status`] with the status and the final URL.
    ///
    /// ```no_run
    /// # fn f() -> throng_sdk::Result<()> {
    /// let rooms = throng_sdk::http::get("/api/rooms").send()?.error_for_status()?;
    /// # Ok(()) }
    /// ```
    pub fn error_for_status(self) -> crate::Result<Self> {
        if self.inner.status >= 400 {
            return Err(Error::Status {
                status: self.inner.status,
                method: self.method,
                url: self.inner.url,
                request: self.request,
            });
        }
        Ok(self)
    }
}

/// A response whose body is read as it arrives; see [`Request::open`].
///
/// Dropping a stream before its end cancels it.
#[derive(Debug)]
pub struct Stream {
    inner: wit::BodyStream,
    /// The request's method and name (or URL as written), for errors.
    method: String,
    request: String,
    /// Whether the body has ended or failed, so there is nothing to cancel.
    ended: bool,
}

impl Stream {
    /// The status code.
    pub fn status(&self) -> u16 {
        self.inner.status()
    }

    /// The first value of a header, by case-insensitive name.
    ///
    /// ```no_run
    /// # fn f() -> throng_sdk::Result<()> {
    /// let stream = throng_sdk::http::get("/events").open()?;
    /// let sse = stream.header("content-type").is_some_and(|t| t.starts_with("text/event-stream"));
    /// # Ok(()) }
    /// ```
    pub fn header(&self, name: &str) -> Option<String> {
        self.inner
            .headers()
            .into_iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    }

    /// Every header, in the order received.
    pub fn headers(&self) -> Vec<(String, String)> {
        self.inner.headers()
    }

    /// The final URL, after redirects.
    pub fn url(&self) -> String {
        self.inner.url()
    }

    /// The next piece of the body, decompressed; `None` once the body has
    /// ended. Blocks only this user.
    ///
    /// # Errors
    ///
    /// [`Error::Stream`] when the stream timed out, was cut by the server,
    /// grew past the run's body limit, or had already failed.
    pub fn next_chunk(&mut self) -> crate::Result<Option<Vec<u8>>> {
        if self.ended {
            return Ok(None);
        }
        match self.inner.next_chunk() {
            Ok(Some(chunk)) => Ok(Some(chunk)),
            Ok(None) => {
                self.ended = true;
                Ok(None)
            }
            Err(source) => {
                self.ended = true;
                Err(Error::Stream {
                    method: self.method.clone(),
                    request: self.request.clone(),
                    source,
                })
            }
        }
    }

    /// Reads the rest of the body.
    ///
    /// # Errors
    ///
    /// As [`Stream::next_chunk`].
    pub fn read_to_end(mut self) -> crate::Result<Vec<u8>> {
        let mut body = Vec::new();
        while let Some(chunk) = self.next_chunk()? {
            body.extend(chunk);
        }
        Ok(body)
    }

    /// Tells the host that the chunk [`Stream::next_chunk`] returned last
    /// completed an event of the scenario's own (a token in a format that
    /// is not server-sent events), so that the host times it: the first
    /// from the start of the request, the others from the event before.
    /// [`Stream::events`] does this by itself.
    pub fn mark_event(&self) {
        self.inner.mark_event();
    }

    /// Reads the body as server-sent events. The host times each event by
    /// the arrival of the chunk that completed it, so the summary shows
    /// the time to the first event (time to first token) and the gaps
    /// between events (inter-token latency) for this request's row.
    ///
    /// ```no_run
    /// # fn f() -> throng_sdk::Result<()> {
    /// let mut reply = String::new();
    /// let mut done = false;
    /// let stream = throng_sdk::http::post("/api/chat").body("{}").name("chat").open()?;
    /// // Read to the end rather than stop at `done`: a stream left early
    /// // counts as cancelled.
    /// for event in stream.error_for_status()?.events() {
    ///     let event = event?;
    ///     match event.event.as_str() {
    ///         "token" => reply.push_str(&event.data),
    ///         "done" => done = true,
    ///         _ => {}
    ///     }
    /// }
    /// throng_sdk::metrics::check("reply finished", done);
    /// # Ok(()) }
    /// ```
    pub fn events(self) -> Events {
        Events {
            stream: self,
            parser: crate::sse::Parser::new(),
            ready: std::collections::VecDeque::new(),
        }
    }

    /// Stops reading and closes the connection. The stream is counted as
    /// cancelled, not as a failure, unless it had already ended.
    pub fn cancel(mut self) {
        self.cancel_now();
    }

    fn cancel_now(&mut self) {
        if !self.ended {
            self.ended = true;
            self.inner.cancel();
        }
    }

    /// Turns a status of 400 and up into [`Error::Status`], so that `?`
    /// ends the task. The error's body is read to its end first (within
    /// the stream's timeouts), so the stream counts as completed, and as a
    /// failure by its status, however quickly the server sent it.
    ///
    /// # Errors
    ///
    /// [`Error::Status`] with the status and the final URL.
    pub fn error_for_status(mut self) -> crate::Result<Self> {
        let status = self.status();
        if status >= 400 {
            // A failure to read the rest is counted by the host already;
            // the status is what the caller needs to hear of.
            while let Ok(Some(_)) = self.next_chunk() {}
            return Err(Error::Status {
                status,
                method: self.method.clone(),
                url: self.url(),
                request: self.request.clone(),
            });
        }
        Ok(self)
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        // Cancelling (rather than only letting go) has the host count the
        // stream before the user goes on.
        self.cancel_now();
    }
}

/// The server-sent events of a [`Stream`]; see [`Stream::events`].
///
/// Ends when the body ends; an event left unfinished at the end is
/// dropped, as browsers do. Dropping it before the end cancels the stream.
#[derive(Debug)]
pub struct Events {
    stream: Stream,
    parser: crate::sse::Parser,
    ready: std::collections::VecDeque<crate::sse::Event>,
}

impl Events {
    /// The stream underneath, for its status and headers.
    pub fn stream(&self) -> &Stream {
        &self.stream
    }

    /// Stops reading; see [`Stream::cancel`].
    pub fn cancel(self) {
        self.stream.cancel();
    }
}

impl Iterator for Events {
    type Item = crate::Result<crate::sse::Event>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some(Ok(event));
            }
            match self.stream.next_chunk() {
                Ok(Some(chunk)) => {
                    for event in self.parser.push(&chunk) {
                        // Timed by the chunk just read, which completed it.
                        self.stream.mark_event();
                        self.ready.push_back(event);
                    }
                }
                Ok(None) => return None,
                Err(err) => return Some(Err(err)),
            }
        }
    }
}
