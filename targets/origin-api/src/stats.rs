//! What `GET /_stats` reports: per-route request and response counts, kept by
//! a middleware (and a WebSocket route's message counts, kept by its
//! sockets), and a snapshot of every bottleneck's state.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode};
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
    /// On a WebSocket route, the messages its sockets carried; absent until
    /// one arrives, and on every other route.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages: Option<MessageCount>,
}

/// Messages received on a WebSocket route's sockets and the replies to them.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct MessageCount {
    /// Data messages read, text or binary, whether answered or not (one read
    /// while either side is closing the socket goes unanswered).
    pub received: u64,
    /// By the status the reply carries, as `responses` counts them: 200 for
    /// a streamed reply (counted as it starts, like the SSE route's 200 at
    /// its head), the error's status otherwise.
    pub replies: BTreeMap<u16, u64>,
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

    /// A chat message arrived on one of the route's sockets.
    pub fn message_received(&self, key: &str) {
        self.with_route(key, |count| {
            count.messages.get_or_insert_default().received += 1;
        });
    }

    /// The server answered a message on one of the route's sockets with `status`.
    pub fn message_replied(&self, key: &str, status: StatusCode) {
        self.with_route(key, |count| {
            let replies = &mut count.messages.get_or_insert_default().replies;
            *replies.entry(status.as_u16()).or_default() += 1;
        });
    }

    pub fn snapshot(&self) -> BTreeMap<String, RouteCount> {
        self.routes.lock().expect("route counters lock").clone()
    }
}

/// The key a route is counted under: its method and matched route template.
pub fn route_key(method: &Method, path: &MatchedPath) -> String {
    format!("{method} {}", path.as_str())
}

/// The route key of a request, if it is counted at all.
fn request_key(request: &Request) -> Option<String> {
    match request.extensions().get::<MatchedPath>() {
        // The stats route reads the counters; counting it would disturb what it reports.
        Some(path) if path.as_str() == STATS_PATH => None,
        Some(path) => Some(route_key(request.method(), path)),
        None => Some(UNMATCHED.to_owned()),
    }
}

/// Middleware: counts the request on arrival and its status once the handler
/// has produced the response head (before any streamed body is sent).
pub async fn count(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let Some(key) = request_key(&request) else {
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
        assert!(json.get("messages").is_none(), "{json}");
    }

    #[test]
    fn socket_messages_are_counted_under_their_route() {
        let counters = RouteCounters::default();
        let key = "GET /api/rooms/{id}/chat";
        counters.received(key);
        counters.responded(key, StatusCode::SWITCHING_PROTOCOLS);
        for status in [StatusCode::OK, StatusCode::OK, StatusCode::BAD_REQUEST] {
            counters.message_received(key);
            counters.message_replied(key, status);
        }
        counters.message_received(key);
        let json = serde_json::to_value(&counters.snapshot()[key]).unwrap();
        let expected = serde_json::json!({
            "received": 1,
            "responses": { "101": 1 },
            "messages": { "received": 4, "replies": { "200": 2, "400": 1 } },
        });
        assert_eq!(json, expected);
    }
}
