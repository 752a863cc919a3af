//! A target server for the tests, in the test process, on 127.0.0.1: it
//! counts every request it receives by path, and answers as the path says:
//! `/delay/<ms>` after that many milliseconds, `/status/<code>` with that
//! status, `/redirect/<path>` with a 302 to `/<path>`, `/away` with a 302 to
//! another host, `/login` with a session cookie, `/needs-cookie` with 200
//! only when that cookie comes back (401 otherwise), anything else 200 `ok`
//! at once.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
    _server: Background,
}

impl TestServer {
    pub fn start() -> Self {
        let counts: Counts = Arc::default();
        let seen = counts.clone();
        let server = Background::start(|listener, shutdown| async move {
            let app = Router::new()
                .fallback(move |uri: Uri, headers: HeaderMap| answer(seen.clone(), uri, headers));
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
                .expect("serve");
        });
        Self {
            addr: server.addr,
            counts,
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
}

async fn answer(counts: Counts, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path().to_owned();
    *counts.lock().unwrap().entry(path.clone()).or_default() += 1;
    if let Some(ms) = path.strip_prefix("/delay/").and_then(|ms| ms.parse().ok()) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
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
