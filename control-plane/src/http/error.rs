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

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
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
        let (status, code) = match &self {
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Self::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Self::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            Self::Validation(_) => (StatusCode::UNPROCESSABLE_ENTITY, "validation"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        let body = match &self {
            Self::Validation(items) => json!({ "detail": items, "code": code }),
            other => json!({ "detail": other.to_string(), "code": code }),
        };
        let mut res = (status, Json(body)).into_response();
        if let Self::Internal(cause) = self {
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
