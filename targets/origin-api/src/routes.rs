//! The HTTP API: the router and one handler per route, the chat reply
//! streamed as server-sent events or, on its WebSocket route, handed to
//! [`chat_socket`]. Each handler releases its database connection before it
//! answers (a WebSocket message takes its own).

use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{MatchedPath, State};
use axum::http::{Method, StatusCode, Uri, header};
use axum::middleware;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::StreamExt;
use serde::Deserialize;

use crate::extract::{ApiError, Authed, Db, JsonBody, RawId, json};
use crate::reply::{self, NewMessage, ReplyPart};
use crate::{AppState, chat_socket};

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/api/users", post(create_user))
        .route("/api/rooms", get(list_rooms).post(create_room))
        .route("/api/rooms/{id}/subrooms", post(create_subroom))
        .route("/api/rooms/{id}/messages", post(post_message))
        .route("/api/rooms/{id}/chat", get(open_chat))
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
    let room = find_room(&state, auth.user, &id)?;
    // Retrieval is a vector query, so the connection goes along to be held through it.
    let message_id = reply::begin(&state, auth.conn, auth.user, room.id).await?;
    let config = &state.config;
    let reply = reply::parts(config.reply_tokens, config.token_interval, message_id);
    Ok(Sse::new(reply.map(sse_event)).into_response())
}

/// A reply part as an event named by its kind, with the part as JSON data.
fn sse_event(part: ReplyPart) -> Result<Event, Infallible> {
    let (name, data) = match &part {
        ReplyPart::Token(token) => ("token", serde_json::to_string(token)),
        ReplyPart::Done(done) => ("done", serde_json::to_string(done)),
    };
    // Plain structs of numbers and strings always serialize.
    Ok(Event::default()
        .event(name)
        .data(data.expect("reply part serializes")))
}

/// The chat over WebSocket: the same checks as `post_message` before the
/// upgrade, then [`chat_socket::Session`] answers the messages.
async fn open_chat(
    State(state): State<Arc<AppState>>,
    auth: Authed,
    id: RawId,
    method: Method,
    path: MatchedPath,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let room = find_room(&state, auth.user, &id);
    drop(auth.conn);
    let room = room?;
    // Checked last, so that a request without the upgrade headers still
    // learns first whether its token and room are good.
    let upgrade =
        upgrade.map_err(|rejection| ApiError::new(rejection.status(), rejection.body_text()))?;
    let session = chat_socket::Session {
        state,
        key: crate::stats::route_key(&method, &path),
        user: auth.user,
        room: room.id,
    };
    Ok(upgrade.on_upgrade(|socket| session.run(socket)))
}

async fn start_review(
    State(state): State<Arc<AppState>>,
    auth: Authed,
    id: RawId,
) -> Result<Response, ApiError> {
    let room = find_room(&state, auth.user, &id);
    drop(auth.conn);
    let room = room?;
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

/// Room `id` if `user` owns it, or a 404 that names it.
fn find_room(state: &AppState, user: u64, id: &RawId) -> Result<crate::db::Room, ApiError> {
    id.parse()
        .and_then(|room| state.tables.room_of(user, room))
        .ok_or_else(|| no_room(id))
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
