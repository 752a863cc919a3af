//! The HTTP API: the router, one handler per route, and the streamed chat
//! reply. Each handler releases its database connection before it answers.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri, header};
use axum::middleware;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::stream::{self, Stream};
use serde::Deserialize;
use tokio::time::{Duration, Instant};

use crate::AppState;
use crate::extract::{ApiError, Authed, Db, JsonBody, RawId, json};

/// Words the simulated LLM strings its replies from.
const WORDS: &[&str] = &[
    "the",
    "origin",
    "of",
    "this",
    "answer",
    "is",
    "a",
    "retrieved",
    "passage",
    "and",
    "some",
    "reasoning",
    "about",
    "your",
    "question",
    "which",
    "we",
    "summarise",
    "here",
    "briefly",
];

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/api/users", post(create_user))
        .route("/api/rooms", get(list_rooms).post(create_room))
        .route("/api/rooms/{id}/subrooms", post(create_subroom))
        .route("/api/rooms/{id}/messages", post(post_message))
        .route("/api/rooms/{id}/reviews", post(start_review))
        .route("/api/reviews/{id}", get(get_review))
        .route("/_stats", get(crate::stats::snapshot))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(no_route)
        // A router layer runs after routing, so the counter sees the matched template.
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            crate::stats::count,
        ))
        .with_state(state)
}

#[derive(Deserialize)]
struct NewUser {
    name: String,
}

#[derive(Deserialize)]
struct NewRoom {
    name: String,
}

#[derive(Deserialize)]
struct NewMessage {
    #[expect(
        dead_code,
        reason = "required in the body, but the simulated LLM ignores it"
    )]
    content: String,
}

async fn create_user(
    State(state): State<Arc<AppState>>,
    Db(conn): Db,
    JsonBody(body): JsonBody<NewUser>,
) -> Response {
    let user = state.tables.create_user(body.name);
    drop(conn);
    json(StatusCode::CREATED, &user)
}

async fn list_rooms(State(state): State<Arc<AppState>>, auth: Authed) -> Response {
    let rooms = state.tables.rooms_of(auth.user);
    drop(auth.conn);
    json(StatusCode::OK, &rooms)
}

async fn create_room(
    State(state): State<Arc<AppState>>,
    auth: Authed,
    JsonBody(body): JsonBody<NewRoom>,
) -> Response {
    let room = state.tables.create_room(auth.user, body.name, None);
    drop(auth.conn);
    // Without a parent there is nothing that can be missing.
    json(
        StatusCode::CREATED,
        &room.expect("main room is always created"),
    )
}

async fn create_subroom(
    State(state): State<Arc<AppState>>,
    auth: Authed,
    id: RawId,
    JsonBody(body): JsonBody<NewRoom>,
) -> Result<Response, ApiError> {
    let room = id
        .parse()
        .and_then(|parent| state.tables.create_room(auth.user, body.name, Some(parent)));
    drop(auth.conn);
    let room = room.ok_or_else(|| no_room(&id))?;
    Ok(json(StatusCode::CREATED, &room))
}

async fn post_message(
    State(state): State<Arc<AppState>>,
    auth: Authed,
    id: RawId,
    JsonBody(_message): JsonBody<NewMessage>,
) -> Result<Response, ApiError> {
    let room = id
        .parse()
        .and_then(|room| state.tables.room_of(auth.user, room))
        .ok_or_else(|| no_room(&id))?;
    // Retrieval is a vector query, so the connection stays checked out through it.
    auth.conn.hold(state.config.retrieval_delay).await;
    drop(auth.conn);
    state.upstream.try_call().map_err(ApiError::rate_limited)?;
    let message_id = state
        .tables
        .next_message_id(auth.user, room.id)
        .ok_or_else(|| no_room(&id))?;
    let reply = reply_events(
        state.config.reply_tokens,
        state.config.token_interval,
        message_id,
    );
    Ok(Sse::new(reply).into_response())
}

/// The streamed reply on a fixed schedule (so slow polling does not stretch
/// it): token `i` at `i` intervals after the start, the first at once, and
/// the done event one interval after the last token, where the model's end of
/// stream would arrive. A reply thus takes `tokens` intervals in all.
fn reply_events(
    tokens: u32,
    interval: Duration,
    message_id: u64,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let start = Instant::now();
    stream::unfold(0u32, move |index| async move {
        if index > tokens {
            return None;
        }
        tokio::time::sleep_until(start + interval * index).await;
        let event = if index == tokens {
            let done = serde_json::json!({ "message_id": message_id, "tokens": tokens });
            Event::default().event("done").data(done.to_string())
        } else {
            let word = WORDS[fastrand::usize(..WORDS.len())];
            let token = serde_json::json!({ "index": index, "text": format!("{word} ") });
            Event::default().event("token").data(token.to_string())
        };
        Some((Ok(event), index + 1))
    })
}

async fn start_review(
    State(state): State<Arc<AppState>>,
    auth: Authed,
    id: RawId,
) -> Result<Response, ApiError> {
    let room = id
        .parse()
        .and_then(|room| state.tables.room_of(auth.user, room));
    drop(auth.conn);
    let room = room.ok_or_else(|| no_room(&id))?;
    if room.parent_id.is_none() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("reviews run on sub-rooms; room {} is a main room", room.id),
        ));
    }
    let review = state.reviews.enqueue(auth.user, room.id);
    let body = serde_json::json!({ "id": review.id, "room_id": room.id, "status": review.status });
    let mut response = json(StatusCode::ACCEPTED, &body);
    let location = format!("/api/reviews/{}", review.id);
    // Digits and slashes only, so always a valid header value.
    let location = location.parse().expect("location header");
    response.headers_mut().insert(header::LOCATION, location);
    Ok(response)
}

async fn get_review(
    State(state): State<Arc<AppState>>,
    auth: Authed,
    id: RawId,
) -> Result<Response, ApiError> {
    let review = id
        .parse()
        .and_then(|review| state.reviews.view(auth.user, review));
    drop(auth.conn);
    let review = review.ok_or_else(|| ApiError::not_found(format!("no review {}", id.0)))?;
    Ok(json(StatusCode::OK, &review))
}

fn no_room(id: &RawId) -> ApiError {
    ApiError::not_found(format!("no room {}", id.0))
}

async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!("no route for {method} {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method {method} not allowed on {}", uri.path()),
    )
}
