//! What `GET /_stats` reports: per-route request and response counts, kept by
//! a middleware, and a snapshot of every bottleneck's state.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use serde::Serialize;

use crate::AppState;
use crate::db::PoolStats;
use crate::extract::json;
use crate::reviews::ReviewStats;
use crate::upstream::UpstreamStats;

const STATS_PATH: &str = "/_stats";
const UNMATCHED: &str = "unmatched";

/// Counts for one route key (`METHOD /template`).
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct RouteCount {
    pub received: u64,
    /// By status code; JSON object keys are the codes as strings.
    pub responses: BTreeMap<u16, u64>,
}

/// Per-route counters, keyed like `POST /api/rooms/{id}/messages`.
#[derive(Default)]
pub struct RouteCounters {
    routes: Mutex<BTreeMap<String, RouteCount>>,
}

impl RouteCounters {
    fn with_route(&self, key: &str, change: impl FnOnce(&mut RouteCount)) {
        let mut routes = self.routes.lock().expect("route counters lock");
        match routes.get_mut(key) {
            Some(count) => change(count),
            None => change(routes.entry(key.to_owned()).or_default()),
        }
    }

    pub fn received(&self, key: &str) {
        self.with_route(key, |count| count.received += 1);
    }

    pub fn responded(&self, key: &str, status: StatusCode) {
        self.with_route(key, |count| {
            *count.responses.entry(status.as_u16()).or_default() += 1;
        });
    }

    pub fn snapshot(&self) -> BTreeMap<String, RouteCount> {
        self.routes.lock().expect("route counters lock").clone()
    }
}

/// The route key of a request: its method and matched route template.
fn route_key(request: &Request) -> Option<String> {
    match request.extensions().get::<MatchedPath>() {
        // The stats route reads the counters; counting it would disturb what it reports.
        Some(path) if path.as_str() == STATS_PATH => None,
        Some(path) => Some(format!("{} {}", request.method(), path.as_str())),
        None => Some(UNMATCHED.to_owned()),
    }
}

/// Middleware: counts the request on arrival and its status once the handler
/// has produced the response head (before any streamed body is sent).
pub async fn count(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let Some(key) = route_key(&request) else {
        return next.run(request).await;
    };
    state.routes.received(&key);
    let response = next.run(request).await;
    state.routes.responded(&key, response.status());
    response
}

/// Everything `/_stats` reports.
#[derive(Serialize)]
pub struct Snapshot {
    routes: BTreeMap<String, RouteCount>,
    reviews: ReviewStats,
    upstream: UpstreamStats,
    db_pool: PoolStats,
}

impl Snapshot {
    pub fn of(state: &AppState) -> Self {
        Self {
            routes: state.routes.snapshot(),
            reviews: state.reviews.stats(),
            upstream: state.upstream.stats(),
            db_pool: state.pool.stats(),
        }
    }
}

/// `GET /_stats`: no auth and no database connection, so it works even when the pool is exhausted.
pub async fn snapshot(State(state): State<Arc<AppState>>) -> Response {
    json(StatusCode::OK, &Snapshot::of(&state))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_track_arrivals_and_statuses_per_route() {
        let counters = RouteCounters::default();
        let key = "POST /api/rooms/{id}/messages";
        counters.received(key);
        counters.received(key);
        counters.received(UNMATCHED);
        counters.responded(key, StatusCode::OK);
        counters.responded(key, StatusCode::TOO_MANY_REQUESTS);
        let routes = counters.snapshot();
        assert_eq!(routes[key].received, 2);
        assert_eq!(routes[key].responses, BTreeMap::from([(200, 1), (429, 1)]));
        assert_eq!(routes[UNMATCHED].received, 1);
        let json = serde_json::to_value(&routes[key]).unwrap();
        assert_eq!(json["responses"]["429"], 1);
    }
}
