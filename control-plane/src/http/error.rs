//! `ApiError`: every failure of the admin REST API, mapped to the contract's status and body.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::borrow::Cow;
use std::sync::Arc;

/// A failed admin request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 with a message.
    #[error("{0}")]
    BadRequest(String),
    /// 401 with a message.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// 403 with a message.
    #[error("{0}")]
    Forbidden(&'static str),
    /// 404 with a message.
    #[error("{0}")]
    NotFound(Cow<'static, str>),
    /// 409 with a message.
    #[error("{0}")]
    Conflict(Cow<'static, str>),
    /// 413: the body is larger than allowed.
    #[error("Request body too large")]
    TooLarge,
    /// 422 with the validation list.
    #[error("validation failed")]
    Validation(Vec<Value>),
    /// 503 with `Retry-After`: the control database cannot be reached right now.
    #[error("The database is unavailable; try again shortly")]
    Unavailable,
    /// 500; the cause is logged, never shown.
    #[error("Internal Server Error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    /// The same error with `prefix` before its message (a batch says which step failed).
    pub fn prefixed(self, prefix: &str) -> Self {
        match self {
            Self::BadRequest(m) => Self::BadRequest(format!("{prefix}{m}")),
            Self::NotFound(m) => Self::NotFound(format!("{prefix}{m}").into()),
            Self::Conflict(m) => Self::Conflict(format!("{prefix}{m}").into()),
            other => other,
        }
    }
}

impl From<Vec<Value>> for ApiError {
    fn from(items: Vec<Value>) -> Self {
        Self::Validation(items)
    }
}

/// Logs that the database is unreachable, at most once a second (every request says so while
/// it is down).
fn warn_unavailable(e: &dyn std::fmt::Display) {
    static LAST: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if LAST.swap(now, std::sync::atomic::Ordering::Relaxed) != now {
        tracing::warn!("database unavailable: {e}");
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        if model::sql::unavailable(&e) {
            warn_unavailable(&e);
            return Self::Unavailable;
        }
        let code = e.as_database_error().and_then(|d| d.code());
        match code.as_deref() {
            // Text Postgres cannot store (a NUL character) or mis-encoded input.
            Some("22021" | "22P05") => {
                Self::BadRequest("Text must not contain NUL characters".into())
            }
            _ => Self::Internal(e.into()),
        }
    }
}

/// The cause of a 500, carried to the logging middleware.
#[derive(Clone)]
pub struct InternalCause(pub Arc<anyhow::Error>);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // A database error that reached here inside another error is still a 503.
        let this = match self {
            Self::Internal(cause)
                if cause.chain().any(|e| {
                    e.downcast_ref::<sqlx::Error>()
                        .is_some_and(model::sql::unavailable)
                }) =>
            {
                warn_unavailable(&format!("{cause:#}"));
                Self::Unavailable
            }
            other => other,
        };
        let (status, code) = match &this {
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Self::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Self::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            Self::Validation(_) => (StatusCode::UNPROCESSABLE_ENTITY, "validation"),
            Self::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        let body = match &this {
            Self::Validation(items) => json!({ "detail": items, "code": code }),
            other => json!({ "detail": other.to_string(), "code": code }),
        };
        let mut res = (status, Json(body)).into_response();
        if matches!(this, Self::Unavailable) {
            res.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, 1.into());
        }
        if let Self::Internal(cause) = this {
            res.extensions_mut().insert(InternalCause(Arc::new(cause)));
        }
        res
    }
}

/// Logs the cause of every 500, once.
pub async fn log_internal(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let path = req.uri().path().to_owned();
    let res = next.run(req).await;
    if let Some(InternalCause(cause)) = res.extensions().get::<InternalCause>() {
        tracing::error!(http.path = %path, "internal error: {cause:#}");
    }
    res
}
