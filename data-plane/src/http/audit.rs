//! `GET …/audit/events` and `GET …/audit/events/export` (`spec/audit.md`): member admins read
//! the project's audit log, filtered, paged or streamed whole.

use super::auth::require_admin;
use super::context::Ctx;
use super::error::ApiError;
use crate::audit::filter::{AuditFilter, FilterError};
use crate::audit::{self, Format};
use crate::AppState;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::Response;
use axum::Json;
use model::error_body::validation_item;
use serde_json::Value;

fn filter(ctx: &Ctx, params: &[(String, String)]) -> Result<AuditFilter, ApiError> {
    AuditFilter::parse(&ctx.project.config, params).map_err(|e| match e {
        FilterError::Invalid(items) => ApiError::Validation(items),
        FilterError::UnknownCollection(name) => {
            ApiError::BadRequest(format!("Collection '{name}' not found"))
        }
    })
}

/// `GET …/audit/events`: `{"events", "total", "limit", "offset"}`, newest first.
pub async fn list(
    State(st): State<AppState>,
    ctx: Ctx,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, ApiError> {
    require_admin(&ctx)?;
    let f = filter(&ctx, &params)?;
    Ok(Json(audit::list(&st.db, &ctx.project, &f).await?))
}

/// `GET …/audit/events/export?format=csv|ndjson`: every matching event, newest first, streamed
/// (the list's filters; `limit` and `offset` do not apply).
pub async fn export(
    State(st): State<AppState>,
    ctx: Ctx,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    require_admin(&ctx)?;
    let format = match params
        .iter()
        .rev()
        .find(|(k, _)| k == "format")
        .map(|(_, v)| v.as_str())
    {
        None | Some("ndjson") => Format::Ndjson,
        Some("csv") => Format::Csv,
        Some(other) => {
            return Err(ApiError::Validation(vec![validation_item(
                "enum",
                &["query", "format"],
                "Input should be 'csv' or 'ndjson'",
                Value::String(other.to_owned()),
            )]))
        }
    };
    let f = filter(&ctx, &params)?;
    let (content_type, name) = match format {
        Format::Ndjson => ("application/x-ndjson", "audit-events.ndjson"),
        Format::Csv => ("text/csv; charset=utf-8", "audit-events.csv"),
    };
    let lines = audit::export(st.db.clone(), ctx.project.clone(), f, format);
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(lines));
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type)
        .header(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        )
        .body(body)
        .expect("static headers"))
}

/// `GET …/audit/verify`: walks the project's sealed hash chain and names the first broken link.
pub async fn verify(State(st): State<AppState>, ctx: Ctx) -> Result<Json<Value>, ApiError> {
    require_admin(&ctx)?;
    Ok(Json(audit::chain::verify(&st.db, &ctx.project).await?))
}
