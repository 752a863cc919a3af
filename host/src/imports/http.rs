//! `throng:scenario/http`: requests on behalf of one user, through that
//! user's own [`Session`] (its connections and cookie jar). The host times
//! each exchange itself (connecting, the headers, the first and the last
//! byte of the body), follows redirects itself (only to hosts the run
//! allows), and records the exchange under the request's name. Streamed
//! bodies are read in [`super::stream`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::cookie::{CookieStore, Jar};
use reqwest::header::{ACCEPT_ENCODING, COOKIE, HeaderValue, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use url::Url;
use wasmtime::component::Resource;

use super::stream::BodyStream;
use super::wire::{self, ConnectClock, Decoder};
use crate::config::HttpConfig;
use crate::runtime::VuState;
use crate::runtime::bindings::throng::scenario::http::{Error, Host, Request, Response};
use crate::runtime::vu::RunContext;
use crate::stats::{ErrorKind, Exchange, Recorder};

/// Redirects followed for one request before it fails.
const MAX_REDIRECTS: usize = 10;

/// Builds the TLS configuration once per run; every user's client shares it,
/// so starting a user does not load the root certificates again.
pub fn tls_config() -> anyhow::Result<rustls::ClientConfig> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// One user's HTTP state, like one browser session: a connection pool, a
/// cookie jar, and the clock of its connections.
///
/// Cookies and redirects are handled here rather than by reqwest's layers,
/// which turned every request's URI back into a URL (twice) to consult the
/// jar and the redirect policy; and a redirect must be checked against the
/// hosts the run allows.
#[derive(Clone)]
pub struct Session {
    pub(crate) client: reqwest::Client,
    pub(crate) cookies: Arc<Jar>,
    connects: ConnectClock,
}

impl Session {
    pub fn new(tls: &rustls::ClientConfig) -> reqwest::Result<Self> {
        let connects = ConnectClock::default();
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls.clone())
            .user_agent(concat!("throng/", env!("CARGO_PKG_VERSION")))
            .redirect(Policy::none())
            .pool_max_idle_per_host(8)
            .connector_layer(connects.clone())
            .build()?;
        Ok(Self {
            client,
            cookies: Arc::new(Jar::default()),
            connects,
        })
    }
}

/// What the statistics of a request checked and ready to go need.
pub(crate) struct Prepared {
    pub name: String,
    pub method: String,
    pub expected_statuses: Vec<u16>,
    pub timeout: Duration,
    /// In the arrival-rate model, when the request's iteration was due:
    /// the first request of an iteration is also timed from then.
    pub due: Option<Instant>,
    pub corrects: bool,
}

impl Prepared {
    /// The time from when the iteration was due (or the request started)
    /// to `end`, in the arrival-rate model only.
    pub fn corrected(&self, started: Instant, end: Instant) -> Option<Duration> {
        self.corrects
            .then(|| end.saturating_duration_since(self.due.unwrap_or(started)))
    }
}

impl Prepared {
    /// Counts an exchange that ended without a response (or, unsent, as a
    /// failure only), and returns what the guest is told.
    pub fn count_failure(
        &self,
        stats: &Recorder,
        failed: Failed,
        started: Instant,
        ended: Instant,
    ) -> Error {
        if let Failed::Unsent(message) = failed {
            stats.record_unsent(&self.name, &self.method, ErrorKind::Invalid, &message);
            return Error::Invalid(message);
        }
        let (kind, error) = failed.classify();
        let message = error_message(&error);
        let exchange = Exchange {
            elapsed: Some(ended - started),
            corrected: self.corrected(started, ended),
            ..Exchange::default()
        };
        stats.record_request(&self.name, &self.method, &exchange, Some((kind, &message)));
        error
    }
}

impl VuState {
    /// Resolves the request's URL and takes what its statistics need; the
    /// request and its URL come back to be sent. An error has been counted
    /// already.
    pub(crate) fn prepare(
        &mut self,
        mut request: Request,
    ) -> Result<(Prepared, Request, Url), Error> {
        let run = &self.run;
        let name = request.name.take().unwrap_or_else(|| request.url.clone());
        let method = request.method.clone();
        let expected_statuses = std::mem::take(&mut request.expected_statuses);
        let url = match resolve(&run.http, &request.url) {
            Ok(url) => url,
            Err(Unresolved::NoHost) => {
                let message = format!(
                    "request `{} {}` uses a relative URL, but the run has no `--host`",
                    request.method, request.url
                );
                run.fail_run(message.clone());
                return Err(Error::Invalid(message));
            }
            Err(Unresolved::Invalid(message)) => {
                // Nothing was sent: a failure, not a request.
                run.stats
                    .record_unsent(&name, &method, ErrorKind::Invalid, &message);
                return Err(Error::Invalid(message));
            }
        };
        let timeout = request
            .timeout_ms
            .map_or(run.http.timeout, |ms| Duration::from_millis(ms.into()));
        let prepared = Prepared {
            name,
            method,
            expected_statuses,
            timeout,
            due: self.due.take(),
            corrects: run.corrects_omission,
        };
        Ok((prepared, request, url))
    }
}

/// The failure a response's status counts as, if any: 400 and up unless
/// expected, with the start of the body, which often says why.
pub(crate) fn status_failure(
    status: u16,
    expected: &[u16],
    body: &[u8],
) -> Option<(ErrorKind, String)> {
    if status < 400 || expected.contains(&status) {
        return None;
    }
    let reason = reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|code| code.canonical_reason())
        .unwrap_or_default();
    let mut message = format!("status {status} {reason}").trim_end().to_owned();
    if let Some(excerpt) = body_excerpt(body) {
        message.push_str(": ");
        message.push_str(&excerpt);
    }
    Some((ErrorKind::of_status(status), message))
}

impl Host for VuState {
    async fn send(&mut self, request: Request) -> Result<Response, Error> {
        self.touch();
        let run = self.run.clone();
        let (prepared, request, url) = self.prepare(request)?;
        let Prepared { name, method, .. } = &prepared;

        let mut flight = InFlight::new(&run.stats, name, method);
        let started = Instant::now();
        // The exchange runs as its own task: polled from the guest's fiber,
        // reqwest's deep futures would keep that much more of every user's
        // fiber stack resident.
        let exchange = tokio::spawn(tokio::time::timeout(
            prepared.timeout,
            exchange(self.http.clone(), run.clone(), request, url),
        ));
        let result = match AbortOnDrop::new(exchange).join().await {
            Some(result) => result,
            None => Ok(Err(Failed::Panicked)),
        };
        let ended = Instant::now();
        flight.done = true;
        self.touch();

        let result = match result {
            Ok(result) => result,
            Err(_) => Err(Failed::Timeout(prepared.timeout)),
        };
        match result {
            Ok(received) => {
                let Received {
                    response,
                    timings,
                    wire_bytes,
                } = received;
                let failure =
                    status_failure(response.status, &prepared.expected_statuses, &response.body);
                let failure = failure
                    .as_ref()
                    .map(|(kind, message)| (*kind, message.as_str()));
                let elapsed = timings.last_byte - started;
                let stats = Exchange {
                    elapsed: Some(elapsed),
                    corrected: prepared.corrected(started, timings.last_byte),
                    bytes: response.body.len() as u64,
                    wire_bytes,
                    connect: timings.connect,
                    headers: Some(timings.headers - started),
                    first_byte: timings.first_byte.map(|at| at - started),
                    stream: None,
                };
                run.stats.record_request(name, method, &stats, failure);
                Ok(Response {
                    elapsed_us: u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
                    ..response
                })
            }
            Err(failed) => Err(prepared.count_failure(&run.stats, failed, started, ended)),
        }
    }

    async fn open(
        &mut self,
        request: Request,
        chunk_timeout_ms: Option<u32>,
    ) -> Result<Resource<BodyStream>, Error> {
        self.touch();
        let (prepared, request, url) = self.prepare(request)?;
        let chunk_timeout = chunk_timeout_ms.map(|ms| Duration::from_millis(ms.into()));
        let (session, run) = (self.http.clone(), self.run.clone());
        let opened = super::stream::open(session, run, prepared, request, url, chunk_timeout).await;
        self.touch();
        let stream = opened?;
        self.table
            .push(stream)
            .map_err(|err| Error::Other(format!("the stream could not be kept: {err}")))
    }
}

enum Unresolved {
    NoHost,
    Invalid(String),
}

/// Turns the guest's URL into an absolute one the run allows.
fn resolve(http: &HttpConfig, text: &str) -> Result<Url, Unresolved> {
    let joined = http.host.as_ref().and_then(|host| join_path(host, text));
    let url = match joined.map_or_else(|| Url::parse(text), Ok) {
        Ok(url) => url,
        Err(url::ParseError::RelativeUrlWithoutBase) => match &http.host {
            Some(host) => host
                .join(text)
                .map_err(|err| Unresolved::Invalid(format!("bad URL `{text}`: {err}")))?,
            None => return Err(Unresolved::NoHost),
        },
        Err(err) => return Err(Unresolved::Invalid(format!("bad URL `{text}`: {err}"))),
    };
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Unresolved::Invalid(format!(
            "URL `{text}` is not http or https"
        )));
    }
    if !http.allows(&url) {
        let host = url.host_str().unwrap_or_default();
        let authority = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        return Err(Unresolved::Invalid(format!(
            "host `{authority}` is not allowed: aim `--host` at it or pass `--allow-host {authority}`"
        )));
    }
    Ok(url)
}

/// Joins an absolute path (`/rooms/7?page=2`), the usual relative URL, to
/// the base by setting its parts. The same as `Url::join`, without parsing
/// the base's host again: url runs IDNA on every host it parses, which cost
/// a few percent of the CPU of a request.
fn join_path(base: &Url, text: &str) -> Option<Url> {
    // The parser drops tabs and newlines before it reads a URL, so a text
    // holding them is left to it.
    if !text.starts_with('/')
        || text.starts_with("//")
        || text.starts_with("/\\")
        || text.contains(['\t', '\n', '\r'])
    {
        return None;
    }
    let (rest, fragment) = match text.split_once('#') {
        Some((rest, fragment)) => (rest, Some(fragment)),
        None => (text, None),
    };
    let (path, query) = match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    };
    let mut url = base.clone();
    url.set_path(path);
    url.set_query(query);
    url.set_fragment(fragment);
    Some(url)
}

fn build(
    client: &reqwest::Client,
    request: &Request,
    url: Url,
) -> Result<reqwest::Request, String> {
    let method = reqwest::Method::from_bytes(request.method.as_bytes())
        .map_err(|_| format!("bad method `{}`", request.method))?;
    let mut builder = client.request(method, url);
    for (name, value) in &request.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    if let Some(body) = &request.body {
        builder = builder.body(body.clone());
    }
    builder
        .build()
        .map_err(|err| format!("bad request: {}", root_cause(&err)))
}

pub(crate) enum Failed {
    /// The request could not be built: nothing was sent.
    Unsent(String),
    /// A redirect led to a host the run does not allow, or could not be
    /// built.
    Invalid(String),
    Transport(reqwest::Error),
    /// The exchange's task panicked: a bug in the HTTP stack, reported as
    /// a transport failure rather than taking the user down.
    Panicked,
    TooManyRedirects,
    TooLarge(u64),
    Timeout(Duration),
    /// A compressed body that did not decode.
    Decode(String),
}

/// When the parts of a response arrived.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timings {
    /// Set when the exchange made a new connection.
    pub connect: Option<Duration>,
    pub headers: Instant,
    /// `None` for an empty body.
    pub first_byte: Option<Instant>,
    pub last_byte: Instant,
}

/// A response read to the end, and how it arrived.
pub(crate) struct Received {
    pub response: Response,
    pub timings: Timings,
    pub wire_bytes: u64,
}

/// A response whose headers have arrived, its body still to read.
pub(crate) struct Head {
    pub response: reqwest::Response,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub url: Url,
    pub decoder: Decoder,
    pub connect: Option<Duration>,
    pub headers_at: Instant,
}

/// Sends the request, following redirects, and reads the final body; the
/// time of the last byte is taken before the body is decompressed.
async fn exchange(
    session: Session,
    run: Arc<RunContext>,
    request: Request,
    url: Url,
) -> Result<Received, Failed> {
    let Head {
        mut response,
        status,
        headers,
        url,
        mut decoder,
        connect,
        headers_at,
    } = head(&session, &run, request, url).await?;
    let max_body = run.http.max_body;
    let mut body = Vec::new();
    let mut wire_bytes = 0u64;
    let mut first_byte = None;
    while let Some(chunk) = response.chunk().await.map_err(Failed::Transport)? {
        first_byte.get_or_insert_with(Instant::now);
        wire_bytes += chunk.len() as u64;
        if wire_bytes > max_body {
            return Err(Failed::TooLarge(max_body));
        }
        match &mut decoder {
            Decoder::Identity => body.extend_from_slice(&chunk),
            decoder => body.extend(decoder.push(&chunk).map_err(Failed::Decode)?),
        }
        if body.len() as u64 > max_body {
            return Err(Failed::TooLarge(max_body));
        }
    }
    let last_byte = Instant::now();
    body.extend(decoder.finish().map_err(Failed::Decode)?);
    if body.len() as u64 > max_body {
        return Err(Failed::TooLarge(max_body));
    }
    Ok(Received {
        response: Response {
            status,
            headers,
            body,
            url: url.into(),
            elapsed_us: 0,
        },
        timings: Timings {
            connect,
            headers: headers_at,
            first_byte,
            last_byte,
        },
        wire_bytes,
    })
}

/// Sends the request and follows redirects up to the final response's
/// headers.
pub(crate) async fn head(
    session: &Session,
    run: &RunContext,
    mut request: Request,
    mut url: Url,
) -> Result<Head, Failed> {
    let mut response = None;
    for hop in 0..=MAX_REDIRECTS {
        let mut built = build(&session.client, &request, url.clone()).map_err(|message| {
            if hop == 0 {
                Failed::Unsent(message)
            } else {
                Failed::Invalid(message)
            }
        })?;
        if let Some(jar) = session.cookies.cookies(&url) {
            add_cookies(built.headers_mut(), jar);
        }
        if !built.headers().contains_key(ACCEPT_ENCODING) {
            built.headers_mut().insert(
                ACCEPT_ENCODING,
                HeaderValue::from_static(wire::ACCEPT_ENCODING),
            );
        }
        let answer = session
            .client
            .execute(built)
            .await
            .map_err(Failed::Transport)?;
        let mut set_cookies = answer.headers().get_all(SET_COOKIE).iter().peekable();
        if set_cookies.peek().is_some() {
            session.cookies.set_cookies(&mut set_cookies, &url);
        }
        let Some(next) = redirect_target(&answer, &url) else {
            response = Some(answer);
            break;
        };
        if !matches!(next.scheme(), "http" | "https") || !run.http.allows(&next) {
            return Err(Failed::Invalid(format!(
                "redirect to `{next}` is not allowed: aim `--host` at it or pass `--allow-host`"
            )));
        }
        follow(&mut request, answer.status().as_u16(), &url, &next);
        url = next;
    }
    let Some(mut response) = response else {
        return Err(Failed::TooManyRedirects);
    };
    let headers_at = Instant::now();
    let connect = session.connects.take();
    let decoder = Decoder::for_headers(response.headers_mut());
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| {
            let value = match value.to_str() {
                Ok(text) => text.to_owned(),
                Err(_) => String::from_utf8_lossy(value.as_bytes()).into_owned(),
            };
            (name.as_str().to_owned(), value)
        })
        .collect();
    Ok(Head {
        response,
        status,
        headers,
        url,
        decoder,
        connect,
        headers_at,
    })
}

/// Where a redirect response points, resolved against the URL it came from.
/// Only the statuses browsers follow count; a 304 or 300 is an answer.
fn redirect_target(response: &reqwest::Response, url: &Url) -> Option<Url> {
    if !matches!(response.status().as_u16(), 301 | 302 | 303 | 307 | 308) {
        return None;
    }
    let location = response.headers().get(LOCATION)?.to_str().ok()?;
    url.join(location).ok()
}

/// Headers that describe a body, dropped when a redirect drops the body.
const BODY_HEADERS: [&str; 6] = [
    "content-length",
    "content-type",
    "content-encoding",
    "content-language",
    "content-location",
    "transfer-encoding",
];

/// Headers that carry credentials or name the origin, dropped when a
/// redirect leaves it.
const ORIGIN_HEADERS: [&str; 5] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "www-authenticate",
    "host",
];

/// Turns the request into the one a redirect with `status` from `from` to
/// `to` asks for, as browsers do: 303 (but for HEAD), and 301 or 302 after a
/// POST, become a GET without a body or the headers that described it; 307
/// and 308 repeat the request. Leaving the origin drops credentials.
fn follow(request: &mut Request, status: u16, from: &Url, to: &Url) {
    let to_get = (status == 303 && request.method != "HEAD")
        || (matches!(status, 301 | 302) && request.method == "POST");
    if to_get {
        request.method = "GET".to_owned();
        request.body = None;
        request
            .headers
            .retain(|(name, _)| !BODY_HEADERS.iter().any(|h| name.eq_ignore_ascii_case(h)));
    }
    if from.origin() != to.origin() {
        request
            .headers
            .retain(|(name, _)| !ORIGIN_HEADERS.iter().any(|h| name.eq_ignore_ascii_case(h)));
    }
}

/// Adds the jar's cookies to those the guest set itself, in one header.
fn add_cookies(headers: &mut reqwest::header::HeaderMap, jar: reqwest::header::HeaderValue) {
    let merged = match headers.get(COOKIE).and_then(|own| own.to_str().ok()) {
        Some(own) => match jar.to_str() {
            Ok(jar_text) => {
                reqwest::header::HeaderValue::from_str(&format!("{own}; {jar_text}")).ok()
            }
            Err(_) => None,
        },
        None => Some(jar),
    };
    if let Some(merged) = merged {
        headers.insert(COOKIE, merged);
    }
}

impl Failed {
    pub(crate) fn classify(self) -> (ErrorKind, Error) {
        let err = match self {
            Failed::TooLarge(limit) => {
                return (ErrorKind::BodyTooLarge, Error::BodyTooLarge(limit));
            }
            Failed::Timeout(limit) => {
                return (
                    ErrorKind::Timeout,
                    Error::Timeout(format!("no complete response within {limit:?}")),
                );
            }
            Failed::Unsent(message) | Failed::Invalid(message) => {
                return (ErrorKind::Invalid, Error::Invalid(message));
            }
            Failed::Decode(message) => return (ErrorKind::Transport, Error::Other(message)),
            Failed::TooManyRedirects => {
                let message = format!("more than {MAX_REDIRECTS} redirects");
                return (ErrorKind::Transport, Error::Other(message));
            }
            Failed::Panicked => {
                return (
                    ErrorKind::Transport,
                    Error::Other("the HTTP exchange panicked".to_owned()),
                );
            }
            Failed::Transport(err) => err,
        };
        let message = root_cause(&err);
        let chain = chain_text(&err);
        let io_kind = io_error_kind(&err);
        if err.is_timeout() {
            (ErrorKind::Timeout, Error::Timeout(message))
        } else if chain.contains("dns error") || chain.contains("failed to lookup address") {
            (ErrorKind::Dns, Error::Dns(message))
        } else if chain.contains("certificate")
            || chain.contains("tls handshake")
            || chain.contains("InvalidCertificate")
        {
            (ErrorKind::Tls, Error::Tls(message))
        } else if err.is_connect() {
            (ErrorKind::Connect, Error::Connect(message))
        } else if matches!(
            io_kind,
            Some(
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::UnexpectedEof
            )
        ) || chain.contains("connection closed")
            || chain.contains("IncompleteMessage")
            || chain.contains("end of file")
        {
            (ErrorKind::Reset, Error::Reset(message))
        } else {
            (ErrorKind::Transport, Error::Other(message))
        }
    }
}

/// The start of an error response's body, for the failures table: servers
/// often say there why they failed ("no free database connection"). `None`
/// for an empty or binary body.
pub(crate) fn body_excerpt(body: &[u8]) -> Option<String> {
    const LONGEST: usize = 120;
    let start = &body[..body.len().min(4 * LONGEST)];
    let text = match std::str::from_utf8(start) {
        Ok(text) => text,
        // Cut inside a character by the slice above, not binary.
        Err(err) if err.error_len().is_none() => {
            std::str::from_utf8(&start[..err.valid_up_to()]).ok()?
        }
        Err(_) => return None,
    };
    if text.chars().any(|c| c.is_control() && !c.is_whitespace()) {
        return None;
    }
    let mut excerpt = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if excerpt.is_empty() {
        return None;
    }
    if let Some((cut, _)) = excerpt.char_indices().nth(LONGEST) {
        excerpt.truncate(cut);
        excerpt.push('…');
    }
    Some(excerpt)
}

pub(crate) fn error_message(error: &Error) -> String {
    match error {
        Error::Invalid(m)
        | Error::Dns(m)
        | Error::Connect(m)
        | Error::Tls(m)
        | Error::Timeout(m)
        | Error::Reset(m)
        | Error::Other(m) => m.clone(),
        Error::BodyTooLarge(limit) => format!("body larger than {limit} bytes"),
    }
}

pub(crate) fn chain_text(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = String::new();
    let mut current = Some(err);
    while let Some(err) = current {
        text.push_str(&format!("{err} / {err:?} / "));
        current = err.source();
    }
    text
}

/// The innermost cause: "Connection refused (os error 111)" says more than
/// "error sending request for url".
pub(crate) fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut current = err;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}

pub(crate) fn io_error_kind(err: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut current = Some(err);
    while let Some(err) = current {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        current = err.source();
    }
    None
}

/// Ends the exchange's task when the guest's call is dropped (the run's
/// stop timeout ran out), so no request outlives its user.
pub(crate) struct AbortOnDrop<T>(Option<tokio::task::JoinHandle<T>>);

impl<T> AbortOnDrop<T> {
    pub fn new(task: tokio::task::JoinHandle<T>) -> Self {
        Self(Some(task))
    }

    /// The task's output, or `None` if it panicked.
    pub async fn join(mut self) -> Option<T> {
        let task = self.0.as_mut()?;
        task.await.ok()
    }

    /// Lets the task run on its own, even once this is dropped.
    pub fn disarm(mut self) -> Option<tokio::task::JoinHandle<T>> {
        self.0.take()
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        if let Some(task) = &self.0 {
            task.abort();
        }
    }
}

/// Counts a request that was still in flight when the run's stop timeout
/// ended it: it was sent, so it is counted, but it has no time.
pub(crate) struct InFlight<'a> {
    stats: &'a Recorder,
    name: &'a str,
    method: &'a str,
    pub done: bool,
}

impl<'a> InFlight<'a> {
    /// A request about to be sent; set `done` once it has been counted.
    pub fn new(stats: &'a Recorder, name: &'a str, method: &'a str) -> Self {
        Self {
            stats,
            name,
            method,
            done: false,
        }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if !self.done {
            let failure = Some((
                ErrorKind::Aborted,
                "the run stopped before the response ended",
            ));
            self.stats
                .record_request(self.name, self.method, &Exchange::default(), failure);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn error_bodies_are_quoted_in_short() {
        let pool = br#"{"error": "database pool had no free connection within 200ms"}"#;
        assert_eq!(
            body_excerpt(pool).as_deref(),
            Some(r#"{"error": "database pool had no free connection within 200ms"}"#)
        );
        assert_eq!(
            body_excerpt(b"<p>\n  busy\n</p>\n").as_deref(),
            Some("<p> busy </p>")
        );
        let long = "é".repeat(300);
        let excerpt = body_excerpt(long.as_bytes()).unwrap();
        assert_eq!(excerpt.chars().count(), 121);
        assert!(excerpt.ends_with('…'));
        assert_eq!(body_excerpt(b""), None);
        assert_eq!(body_excerpt(b" \n "), None);
        assert_eq!(body_excerpt(&[0x89, b'P', b'N', b'G', 0, 1]), None);
    }

    /// A run's HTTP settings with this `--host` and these `--allow-host`s.
    pub(crate) fn config(host: Option<&str>, allow: &[&str]) -> HttpConfig {
        HttpConfig {
            host: host.map(|h| Url::parse(h).unwrap()),
            allowed_hosts: allow.iter().map(|s| s.to_string()).collect(),
            timeout: Duration::from_secs(1),
            max_body: 1 << 20,
        }
    }

    #[test]
    fn relative_urls_join_the_host() {
        let http = config(Some("http://127.0.0.1:8080"), &[]);
        let url = resolve(&http, "/api/rooms?page=2").ok().unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:8080/api/rooms?page=2");
    }

    #[test]
    fn joining_a_path_agrees_with_the_url_parser() {
        let base = Url::parse("http://127.0.0.1:8080/base/").unwrap();
        for text in [
            "/",
            "/a/b?c=d&e=f",
            "/a/../b/./c",
            "/with space/ünïcode?q=ä b",
            "/%20encoded%2Fpath?x=%41",
            "/path?#frag",
            "/p#f?not-a-query",
            "/?",
        ] {
            let fast = join_path(&base, text).unwrap();
            assert_eq!(fast, base.join(text).unwrap(), "`{text}`");
        }
        assert!(join_path(&base, "//other.host/").is_none());
        assert!(join_path(&base, "/\t/127.0.0.2:9/x").is_none());
        assert!(join_path(&base, "relative").is_none());
    }

    fn request(method: &str, headers: &[(&str, &str)]) -> Request {
        Request {
            method: method.into(),
            url: "/".into(),
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
            body: Some(b"hello".to_vec()),
            name: None,
            timeout_ms: None,
            expected_statuses: Vec::new(),
        }
    }

    #[test]
    fn a_redirect_that_drops_the_body_drops_its_headers() {
        let here = Url::parse("http://127.0.0.1:8080/a").unwrap();
        let there = Url::parse("http://127.0.0.1:8080/b").unwrap();
        let mut post = request(
            "POST",
            &[
                ("Content-Length", "5"),
                ("content-type", "text/plain"),
                ("x-id", "1"),
            ],
        );
        follow(&mut post, 302, &here, &there);
        assert_eq!(post.method, "GET");
        assert_eq!(post.body, None);
        assert_eq!(post.headers, vec![("x-id".to_owned(), "1".to_owned())]);

        let mut put = request("PUT", &[("content-type", "text/plain")]);
        follow(&mut put, 307, &here, &there);
        assert_eq!(
            (put.method.as_str(), put.body.is_some(), put.headers.len()),
            ("PUT", true, 1)
        );

        let mut head = request("HEAD", &[]);
        follow(&mut head, 303, &here, &there);
        assert_eq!(head.method, "HEAD");
    }

    #[test]
    fn a_redirect_to_another_origin_drops_credentials() {
        let here = Url::parse("http://127.0.0.1:8080/a").unwrap();
        let there = Url::parse("http://localhost:8080/b").unwrap();
        let mut get = request(
            "GET",
            &[
                ("Authorization", "Bearer secret"),
                ("Cookie", "a=1"),
                ("x-id", "1"),
            ],
        );
        follow(&mut get, 302, &here, &here);
        assert_eq!(get.headers.len(), 3, "same origin keeps them");
        follow(&mut get, 302, &here, &there);
        assert_eq!(get.headers, vec![("x-id".to_owned(), "1".to_owned())]);
    }

    #[test]
    fn jar_cookies_join_the_guests_own() {
        use reqwest::header::{HeaderMap, HeaderValue};
        let mut headers = HeaderMap::new();
        add_cookies(&mut headers, HeaderValue::from_static("sid=abc"));
        assert_eq!(headers[COOKIE], "sid=abc");
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, HeaderValue::from_static("mine=1"));
        add_cookies(&mut headers, HeaderValue::from_static("sid=abc"));
        assert_eq!(headers[COOKIE], "mine=1; sid=abc");
    }

    #[test]
    fn relative_url_without_host_is_a_configuration_error() {
        let http = config(None, &[]);
        assert!(matches!(resolve(&http, "/"), Err(Unresolved::NoHost)));
    }

    #[test]
    fn other_hosts_need_to_be_allowed() {
        let http = config(Some("http://127.0.0.1:8080"), &["localhost:9000"]);
        assert!(matches!(
            resolve(&http, "http://example.com/"),
            Err(Unresolved::Invalid(_))
        ));
        assert!(resolve(&http, "http://localhost:9000/x").is_ok());
        assert!(matches!(
            resolve(&http, "http://localhost:9001/x"),
            Err(Unresolved::Invalid(_))
        ));
        assert!(matches!(
            resolve(&http, "ftp://127.0.0.1:8080/"),
            Err(Unresolved::Invalid(_))
        ));
    }
}
