//! `origin-api`: a stand-in of the Origin chat product's API, used as a load
//! test target on loopback. This file owns the shared server state and
//! [`serve`], which wires the bottlenecks together and runs the HTTP server.
//!
//! Users post chat messages to rooms and get an LLM reply streamed back as
//! server-sent events, or chat in a room over a WebSocket
//! (`GET /api/rooms/{id}/chat`), where each message gets the same reply as
//! JSON text messages; they can open sub-rooms and start AI reviews, which
//! run as background jobs on a fixed worker pool. Nothing answers instantly:
//! each slow or narrow part of the real stack is simulated with timers,
//! semaphores and queues (never busy CPU work), and each has a knob in
//! [`Config`]:
//!
//! - a bounded database connection pool in front of every `/api` request
//!   and every WebSocket chat message (503 when no connection frees up in
//!   time),
//! - a retrieval step that holds a connection while it "searches",
//! - an upstream LLM rate limit: one token bucket shared by chat replies and
//!   review calls (429 with `Retry-After` for chat, back-off for reviews),
//! - token-by-token streaming of replies,
//! - a review queue drained by a fixed number of workers.
//!
//! On the WebSocket an error is a message and the socket stays open; the
//! server can also close sockets itself after a number of replies
//! ([`Config::ws_close_after`]).
//!
//! `GET /_stats` reports per-route request and response counts (and on the
//! WebSocket route, messages received and replies sent) plus the state of
//! each bottleneck, so a load tester's numbers can be checked against the
//! server's.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let config = origin_api::Config::default();
//! origin_api::serve(listener, config, async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await
//! # }
//! ```

mod chat_socket;
mod config;
mod db;
mod extract;
mod reply;
mod reviews;
mod routes;
mod stats;
mod upstream;

use std::io;
use std::sync::Arc;

pub use config::{Args, Config};

/// Everything the handlers share: the configuration and each simulated component.
struct AppState {
    config: Config,
    pool: db::Pool,
    tables: db::Tables,
    upstream: Arc<upstream::Upstream>,
    reviews: Arc<reviews::Reviews>,
    routes: stats::RouteCounters,
}

impl AppState {
    fn new(config: Config) -> Self {
        let pool = db::Pool::new(
            config.db_pool,
            config.db_acquire_timeout,
            config.db_query_time,
        );
        let upstream = upstream::Upstream::new(config.llm_rate, config.llm_burst);
        let reviews = reviews::Reviews::new(reviews::JobShape {
            workers: config.workers,
            calls: config.review_calls,
            call_time: config.llm_call_time,
            retries: config.review_retries,
        });
        Self {
            config,
            pool,
            tables: db::Tables::default(),
            upstream: Arc::new(upstream),
            reviews: Arc::new(reviews),
            routes: stats::RouteCounters::default(),
        }
    }
}

/// Serves until `shutdown` completes; spawns the review workers itself.
///
/// In-flight responses (including reply streams) are allowed to finish after
/// `shutdown` completes; review workers are stopped when this returns.
/// Upgraded WebSocket sessions are not waited for: they go on until their
/// client or the runtime ends them, and a report misses what they do after.
/// An invalid `config` (see [`Config::validate`]) is an
/// [`io::ErrorKind::InvalidInput`] error.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    serve_and_report(listener, config, shutdown).await.map(drop)
}

/// Like [`serve`], and once stopped returns the final `/_stats` document, so
/// that the binary can say on exit what it saw.
pub async fn serve_and_report(
    listener: tokio::net::TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<serde_json::Value> {
    config
        .validate()
        .map_err(|why| io::Error::new(io::ErrorKind::InvalidInput, why))?;
    let state = Arc::new(AppState::new(config));
    // Dropping the set aborts the workers, so none outlive the server.
    let workers = state.reviews.spawn_workers(Arc::clone(&state.upstream));
    axum::serve(listener, routes::router(Arc::clone(&state)))
        .with_graceful_shutdown(shutdown)
        .await?;
    drop(workers);
    let report = serde_json::to_value(stats::Snapshot::of(&state));
    Ok(report.expect("stats serialize"))
}
