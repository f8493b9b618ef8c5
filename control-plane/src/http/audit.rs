//! The schema-op log (`spec/audit.md`, "Schema ops"). Audit events are served by the workers.

use super::error::ApiError;
use super::member::Member;
use super::params::Params;
use crate::db::history::{self, SchemaOp};
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use uuid::Uuid;

/// `GET …/audit/schema-ops?collection_id=&op_type=&limit=&offset=`: newest first.
pub async fn schema_ops(
    State(state): State<AppState>,
    m: Member,
    params: Params,
) -> Result<Json<Vec<SchemaOp>>, ApiError> {
    let limit = params.int("limit", 100, 1, 1000)?;
    let offset = params.int("offset", 0, 0, i64::MAX)?;
    let collection = match params.string("collection_id") {
        // An id that cannot exist matches nothing.
        Some(s) => match Uuid::parse_str(s) {
            Ok(id) => Some(id),
            Err(_) => return Ok(Json(Vec::new())),
        },
        None => None,
    };
    let ops = history::schema_ops(
        &state.db,
        m.project.id,
        collection,
        params.string("op_type"),
        limit,
        offset,
    )
    .await?;
    Ok(Json(ops))
}
