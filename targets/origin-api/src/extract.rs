//! The HTTP edges every handler shares: the JSON error type, JSON responses,
//! and the extractors for the database connection, the bearer token, path ids
//! and JSON bodies.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::header::{self, HeaderName, HeaderValue};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::db::{Conn, PoolTimeout};
use crate::upstream::retry_after_secs;

/// An error answer: a status, `{"error": message}`, and maybe one extra header.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    header: Option<(HeaderName, HeaderValue)>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            header: None,
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub fn bad_json(reason: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            format!("invalid JSON body: {reason}"),
        )
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    fn unauthorized() -> Self {
        let mut error = Self::new(StatusCode::UNAUTHORIZED, "missing or invalid bearer token");
        error.header = Some((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
        error
    }

    /// The upstream bucket is empty; `wait` is how long until it has a token.
    pub fn rate_limited(wait: Duration) -> Self {
        let mut error = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "upstream LLM rate limit reached",
        );
        error.header = Some((header::RETRY_AFTER, retry_after_secs(wait).into()));
        error
    }
}

impl From<PoolTimeout> for ApiError {
    fn from(PoolTimeout(waited): PoolTimeout) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "database pool had no free connection within {}",
                humantime::format_duration(waited)
            ),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.message });
        let mut response = json(self.status, &body);
        if let Some((name, value)) = self.header {
            response.headers_mut().insert(name, value);
        }
        response
    }
}

/// A JSON response with `status`.
pub fn json(status: StatusCode, body: &impl Serialize) -> Response {
    // Our own plain structs always serialize; a failure would be a bug here.
    let bytes = serde_json::to_vec(body).expect("response body serializes");
    let content_type = [(header::CONTENT_TYPE, "application/json")];
    (status, content_type, bytes).into_response()
}

/// A database connection, checked out before anything else a request does
/// and already held through the request's queries.
pub struct Db(pub Conn);

impl FromRequestParts<Arc<AppState>> for Db {
    type Rejection = ApiError;

    async fn from_request_parts(
        _parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let conn = state.pool.acquire().await?;
        conn.query().await;
        Ok(Self(conn))
    }
}

/// The caller, identified by bearer token; the lookup is a database query,
/// so the connection comes with it for the handler to use and release.
pub struct Authed {
    pub user: u64,
    pub conn: Conn,
}

impl FromRequestParts<Arc<AppState>> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let Db(conn) = Db::from_request_parts(parts, state).await?;
        let user = bearer_token(&parts.headers)
            .and_then(|token| state.tables.user_for_token(token))
            .ok_or_else(ApiError::unauthorized)?;
        Ok(Self { user, conn })
    }
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The `{id}` path segment as written; handlers parse it so that a
/// non-numeric id reads as "no such room" rather than a framework error.
pub struct RawId(pub String);

impl RawId {
    pub fn parse(&self) -> Option<u64> {
        self.0.parse().ok()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RawId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| ApiError::new(StatusCode::BAD_REQUEST, rejection.body_text()))?;
        Ok(Self(id))
    }
}

/// A JSON request body; every way it can be wrong is a 400 with the reason,
/// except a body past axum's limit (2 MB), a 413.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(request.headers()) {
            return Err(ApiError::bad_json("expected content-type application/json"));
        }
        // Bytes' rejection carries the fitting status: 413 past the body
        // limit, 400 for a body that could not be read.
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| ApiError::new(rejection.status(), rejection.body_text()))?;
        serde_json::from_slice(&bytes)
            .map(Self)
            .map_err(ApiError::bad_json)
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return false;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
        || essence.to_ascii_lowercase().ends_with("+json")
}
