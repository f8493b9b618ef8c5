//! `GET /api/projects/{project_id}/openapi.json`: the project's data API as an OpenAPI document.
//! Anyone who can reach the project may read it: it shows the schema, never data.

use super::context::Ctx;
use axum::Json;
use serde_json::Value;

/// `GET …/openapi.json`
pub async fn document(ctx: Ctx) -> Json<Value> {
    Json(crate::openapi::document(&ctx.project))
}
