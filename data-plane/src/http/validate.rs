//! Field validation rules at run time (`spec/validations.md`): `POST …/validations/collections/
//! {collection_name}/validate`, which checks a record without writing it (an admin tool: member
//! admins only), and [`check_record`], the same check for record writes.

use super::auth::require_admin;
use super::context::{Ctx, JsonObject};
use super::error::ApiError;
use crate::registry::Collection;
use axum::extract::Path;
use axum::Json;
use model::error_body::validation_item;
use serde_json::{json, Map, Value};

/// Runs the collection's active validation rules over a create or update body (absent and null
/// values pass). `Err` is the contract's
/// `400 {"detail": {"validation_errors": {"<field name>": ["<message>", …]}}}`.
pub fn check_record(c: &Collection, body: &Map<String, Value>) -> Result<(), ApiError> {
    if c.rules.is_empty() {
        return Ok(());
    }
    let errors = c.rules.evaluate(body);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::RuleViolations(errors))
    }
}

/// The record of a validate body: `data`, a required object.
fn data_of(mut body: Map<String, Value>) -> Result<Map<String, Value>, ApiError> {
    let item = match body.remove("data") {
        Some(Value::Object(data)) => return Ok(data),
        None => validation_item(
            "missing",
            &["body", "data"],
            "Field required",
            Value::Object(body),
        ),
        Some(other) => validation_item(
            "dict_type",
            &["body", "data"],
            "Input should be a valid dictionary",
            other,
        ),
    };
    Err(ApiError::Validation(vec![item]))
}

/// `POST …/validations/collections/{collection_name}/validate`: `{"is_valid", "errors"}`.
/// Check order: project (404), caller (401), body (422), collection (404).
pub async fn validate(
    ctx: Ctx,
    Path((_, name)): Path<(String, String)>,
    body: Result<JsonObject, ApiError>,
) -> Result<Json<Value>, ApiError> {
    require_admin(&ctx)?;
    let data = data_of(body?.0)?;
    let c = ctx
        .project
        .collections
        .get(&name)
        .ok_or(ApiError::NotFound("Collection not found"))?;
    let errors = c.rules.evaluate(&data);
    Ok(Json(
        json!({ "is_valid": errors.is_empty(), "errors": errors }),
    ))
}
