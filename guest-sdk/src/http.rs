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
#[must_use = "a request is sent only by `send`"]
pub struct Request {
    inner: wit::Request,
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
    /// longer than `timeout` (the run's `--timeout` otherwise).
    ///
    /// ```no_run
    /// # fn f() -> throng_sdk::Result<()> {
    /// use std::time::Duration;
    /// throng_sdk::http::get("/slow").timeout(Duration::from_secs(2)).send()?;
    /// # Ok(()) }
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.inner.timeout_ms = Some(u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX));
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
