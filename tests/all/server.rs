//! A target server for the tests, in the test process, on 127.0.0.1: it
//! counts every request it receives by path, and answers as the path says:
//! `/delay/<ms>` after that many milliseconds; `/stall/<from>/<ms>` after
//! 10 ms, except that during a window of `<ms>` opening `<from>` ms after
//! the first `/stall` request it holds every request to the window's end;
//! `/status/<code>` with that status; `/redirect/<path>` with a 302 to
//! `/<path>`; `/away` with a 302 to another host; `/login` with a session
//! cookie; `/needs-cookie` with 200 only when that cookie comes back (401
//! otherwise); anything else 200 `ok` at once.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::oneshot;

use axum::Router;
use axum::http::header::{COOKIE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

type Counts = Arc<Mutex<HashMap<String, u64>>>;

/// A server on its own thread and Tokio runtime, on 127.0.0.1, stopped
/// when dropped.
pub struct Background {
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Completes when the server should stop.
pub type Shutdown = Pin<Box<dyn Future<Output = ()> + Send>>;

impl Background {
    /// Binds a free loopback port and runs `serve` on it until shut down.
    pub fn start<F, Fut>(serve: F) -> Self
    where
        F: FnOnce(TcpListener, Shutdown) -> Fut + Send + 'static,
        Fut: Future<Output = ()>,
    {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("test server runtime");
            runtime.block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind loopback");
                ready_tx.send(listener.local_addr().unwrap()).unwrap();
                let shutdown = Box::pin(async {
                    let _ = shutdown_rx.await;
                });
                serve(listener, shutdown).await;
            });
        });
        let addr = ready_rx.recv().expect("server started");
        Self {
            addr,
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

pub struct TestServer {
    pub addr: SocketAddr,
    counts: Counts,
    load: Arc<Load>,
    _server: Background,
}

/// When the first `/stall` request came, how many `/delay` and `/stall`
/// requests the server held at once, and when each path was first asked
/// for.
#[derive(Debug)]
struct Load {
    first_seen: Mutex<HashMap<String, Instant>>,
    first_stall: std::sync::OnceLock<Instant>,
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
}

/// Counts a held request while it lives.
struct Held<'a>(&'a Load);

impl<'a> Held<'a> {
    fn new(load: &'a Load) -> Self {
        let now = load.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        load.most_in_flight.fetch_max(now, Ordering::SeqCst);
        Held(load)
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

impl TestServer {
    pub fn start() -> Self {
        let counts: Counts = Arc::default();
        let load = Arc::new(Load {
            first_seen: Mutex::default(),
            first_stall: std::sync::OnceLock::new(),
            in_flight: AtomicUsize::new(0),
            most_in_flight: AtomicUsize::new(0),
        });
        let (seen, held) = (counts.clone(), load.clone());
        let server = Background::start(|listener, shutdown| async move {
            let app = Router::new().fallback(move |uri: Uri, headers: HeaderMap| {
                answer(seen.clone(), held.clone(), uri, headers)
            });
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
                .expect("serve");
        });
        Self {
            addr: server.addr,
            counts,
            load,
            _server: server,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Requests received for `path`.
    pub fn count(&self, path: &str) -> u64 {
        self.counts.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    /// Requests received in all.
    pub fn total(&self) -> u64 {
        self.counts.lock().unwrap().values().sum()
    }

    /// When `path` was first asked for, if it was.
    pub fn first_seen(&self, path: &str) -> Option<Instant> {
        self.load.first_seen.lock().unwrap().get(path).copied()
    }

    /// The most `/delay` and `/stall` requests held at once.
    pub fn most_in_flight(&self) -> usize {
        self.load.most_in_flight.load(Ordering::SeqCst)
    }
}

async fn answer(counts: Counts, load: Arc<Load>, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path().to_owned();
    *counts.lock().unwrap().entry(path.clone()).or_default() += 1;
    load.first_seen
        .lock()
        .unwrap()
        .entry(path.clone())
        .or_insert_with(Instant::now);
    if let Some(ms) = path.strip_prefix("/delay/").and_then(|ms| ms.parse().ok()) {
        let _held = Held::new(&load);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        return (StatusCode::OK, "ok").into_response();
    }
    if let Some((from, length)) = path
        .strip_prefix("/stall/")
        .and_then(|window| window.split_once('/'))
        .and_then(|(from, length)| Some((from.parse::<u64>().ok()?, length.parse::<u64>().ok()?)))
    {
        // Held to the end of the window [from, from + length) ms after the
        // first `/stall` request, then 10 ms, as a server that stalls for
        // a while. Timed from the first request rather than the server's
        // start, so that a slow start of the run does not move the window.
        let _held = Held::new(&load);
        let now = Instant::now();
        let first = *load.first_stall.get_or_init(|| now);
        let window_end = first + Duration::from_millis(from + length);
        if now >= first + Duration::from_millis(from) && now < window_end {
            tokio::time::sleep_until(window_end.into()).await;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        return (StatusCode::OK, "ok").into_response();
    }
    if let Some(code) = path
        .strip_prefix("/status/")
        .and_then(|code| code.parse().ok())
    {
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::IM_A_TEAPOT);
        return (status, "as asked").into_response();
    }
    if let Some(target) = path.strip_prefix("/redirect/") {
        return (StatusCode::FOUND, [(LOCATION, format!("/{target}"))]).into_response();
    }
    match path.as_str() {
        "/away" => (StatusCode::FOUND, [(LOCATION, "http://127.0.0.2:9/")]).into_response(),
        "/login" => (
            StatusCode::OK,
            [(SET_COOKIE, "session=abc; Path=/")],
            "welcome",
        )
            .into_response(),
        "/needs-cookie" => {
            let cookie = headers
                .get(COOKIE)
                .and_then(|value| value.to_str().ok())
                .unwrap_or("");
            if cookie.split("; ").any(|pair| pair == "session=abc") {
                (StatusCode::OK, "known").into_response()
            } else {
                (StatusCode::UNAUTHORIZED, "who are you").into_response()
            }
        }
        _ => (StatusCode::OK, "ok").into_response(),
    }
}
