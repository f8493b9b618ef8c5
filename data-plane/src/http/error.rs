//! `ApiError` of the data API, mapped to the contract's status and body; Postgres errors are
//! mapped on purpose (unique → 409, not-null / bad value / missing FK target → 400).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// A failed data request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 with a message.
    #[error("{0}")]
    BadRequest(String),
    /// 400 whose detail is `{"validation_errors": {"<field name>": ["<message>", …]}}`: a record
    /// breaks its fields' validation rules.
    #[error("Validation failed")]
    RuleViolations(Map<String, Value>),
    /// 401 with a message.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// 403 with a message.
    #[error("{0}")]
    Forbidden(String),
    /// 404 with a message.
    #[error("{0}")]
    NotFound(&'static str),
    /// 409 with a message.
    #[error("{0}")]
    Conflict(String),
    /// 413.
    #[error("Request body too large")]
    TooLarge,
    /// 422 with the validation list.
    #[error("validation failed")]
    Validation(Vec<Value>),
    /// 429 with the seconds until the client may retry (`spec/rate-limits.md`).
    #[error("Rate limit exceeded. Try again in {0} seconds.")]
    RateLimited(u64),
    /// 429 for a limit that is not a rate (open realtime streams), saying which.
    #[error("{0}")]
    TooMany(String),
    /// 502: an upstream (an OAuth provider) failed.
    #[error("{0}")]
    BadGateway(String),
    /// 503: this worker has no config for the project yet.
    #[error("{0}")]
    Unavailable(&'static str),
    /// 500; the cause is logged once by the middleware, never shown.
    #[error("Internal Server Error")]
    Internal(#[source] anyhow::Error),
    /// A failed step of a batch: that step's status and detail, plus its index.
    #[error("{1}")]
    InBatch(usize, Box<ApiError>),
}

impl From<Vec<Value>> for ApiError {
    fn from(items: Vec<Value>) -> Self {
        Self::Validation(items)
    }
}

/// What a request that found the database unreachable is told (503, with `Retry-After`).
pub const DB_UNAVAILABLE: &str = "The database is unavailable; try again shortly";

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
            return Self::Unavailable(DB_UNAVAILABLE);
        }
        let Some(db) = e.as_database_error() else {
            return Self::Internal(e.into());
        };
        let code = db.code().unwrap_or_default();
        match code.as_ref() {
            "23505" => Self::Conflict(match db.constraint() {
                Some(c) => format!("Unique constraint violated: {c}"),
                None => "Unique constraint violated".into(),
            }),
            "23502" => Self::BadRequest(
                match db
                    .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                    .and_then(|p| p.column())
                {
                    Some(col) => format!("Field '{col}' is required"),
                    None => "A required field is missing".into(),
                },
            ),
            "23503" => foreign_key(db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>()),
            // program_limit_exceeded: a value too large for its column's B-tree index.
            "54000" if db.message().contains("index row") => Self::BadRequest(
                "Value too large for an indexed field: a value of an indexed or unique field must stay under about 2,700 bytes".into(),
            ),
            c if c.starts_with("22") => {
                Self::BadRequest(format!("Invalid value: {}", db.message()))
            }
            _ => Self::Internal(e.into()),
        }
    }
}

/// A foreign-key violation: a write naming a record that does not exist (400), or a delete of a
/// record that others still point at under `RESTRICT` (409).
fn foreign_key(pg: Option<&sqlx::postgres::PgDatabaseError>) -> ApiError {
    let detail = pg.and_then(|p| p.detail()).unwrap_or_default();
    if detail.contains("is still referenced") {
        let table = pg.and_then(|p| p.table()).unwrap_or("another collection");
        return ApiError::Conflict(format!(
            "Record is still referenced by records of '{table}'"
        ));
    }
    // `Key (author_id)=(42) is not present in table "authors".`
    let parsed = detail
        .strip_prefix("Key (")
        .and_then(|rest| rest.split_once(")=("))
        .and_then(|(col, rest)| rest.split_once(") ").map(|(v, _)| (col, v)));
    match parsed {
        Some((col, value)) => {
            let name = col.strip_suffix("_id").unwrap_or(col);
            ApiError::BadRequest(format!("Invalid reference for field '{name}': {value}"))
        }
        None => ApiError::BadRequest("Related record not found".into()),
    }
}

/// The cause of a 500, carried to the logging middleware.
#[derive(Clone)]
pub struct InternalCause(pub Arc<anyhow::Error>);

impl ApiError {
    fn status_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Self::RuleViolations(_) => (StatusCode::BAD_REQUEST, "validation_rules"),
            Self::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Self::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            Self::Validation(_) => (StatusCode::UNPROCESSABLE_ENTITY, "validation"),
            Self::RateLimited(_) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            Self::TooMany(_) => (StatusCode::TOO_MANY_REQUESTS, "too_many"),
            Self::BadGateway(_) => (StatusCode::BAD_GATEWAY, "bad_gateway"),
            Self::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            Self::InBatch(_, inner) => inner.status_code(),
        }
    }

    fn detail(&self) -> Value {
        match self {
            Self::Validation(items) => json!(items),
            Self::RuleViolations(errors) => json!({ "validation_errors": errors }),
            Self::InBatch(_, inner) => inner.detail(),
            other => json!(other.to_string()),
        }
    }
}

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
                Self::Unavailable(DB_UNAVAILABLE)
            }
            other => other,
        };
        let (status, code) = this.status_code();
        let mut body = json!({ "detail": this.detail(), "code": code });
        if let Self::InBatch(i, _) = &this {
            body["operation"] = json!(i);
        }
        let mut res = (status, Json(body)).into_response();
        if let Self::RateLimited(secs) = &this {
            let h = res.headers_mut();
            h.insert("x-ratelimit-remaining", 0.into());
            h.insert("x-ratelimit-reset", (*secs).into());
            h.insert(axum::http::header::RETRY_AFTER, (*secs).into());
        }
        if matches!(this, Self::Unavailable(_)) {
            // A moment: the database comes back, or a config arrives.
            res.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, 1.into());
        }
        let cause = match this {
            Self::Internal(cause) => Some(cause),
            Self::InBatch(_, inner) => match *inner {
                Self::Internal(cause) => Some(cause),
                _ => None,
            },
            _ => None,
        };
        if let Some(cause) = cause {
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
