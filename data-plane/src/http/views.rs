//! `POST …/views/{view_name}/execute` (`spec/views.md`): runs a compiled view. Member admins run
//! any view; API keys, app users and anonymous callers get what the base collection's `list`
//! policy lets them list (the contract's Recommended choice, which its `meta` output promises).

use super::context::{Caller, Ctx, JsonObject};
use super::error::ApiError;
use super::records::{json, list_rule};
use crate::db;
use crate::query::view::{self, ExecuteRequest};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use model::error_body::validation_item;
use serde_json::Value;

fn body(map: serde_json::Map<String, Value>) -> Result<ExecuteRequest, ApiError> {
    let mut errors = Vec::new();
    let mut req = ExecuteRequest::default();
    match map.get("params") {
        None | Some(Value::Null) => {}
        Some(Value::Object(p)) => req.params = p.clone(),
        Some(v) => errors.push(validation_item(
            "dict_type",
            &["body", "params"],
            "Input should be a valid dictionary",
            v.clone(),
        )),
    }
    let int = |key: &str, errors: &mut Vec<Value>| match map.get(key) {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_i64() {
            Some(n) => Some(n),
            None => {
                errors.push(validation_item(
                    "int_type",
                    &["body", key],
                    "Input should be a valid integer",
                    v.clone(),
                ));
                None
            }
        },
    };
    req.limit = int("limit", &mut errors);
    req.offset = int("offset", &mut errors).unwrap_or(0);
    if errors.is_empty() {
        Ok(req)
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// `POST …/views/{view_name}/execute`
pub async fn execute(
    State(st): State<AppState>,
    ctx: Ctx,
    Path((_, name)): Path<(String, String)>,
    JsonObject(map): JsonObject,
) -> Result<Response, ApiError> {
    let req = body(map)?;
    let v = ctx
        .project
        .views
        .get(&name)
        .cloned()
        .ok_or(ApiError::NotFound("View not found"))?;
    let c = ctx
        .project
        .by_id
        .get(&v.base_collection_id)
        .cloned()
        .ok_or_else(|| ApiError::BadRequest("Base collection not found".into()))?;
    let mut plan = view::plan(&v, &c, &req)?;
    // Members run any view; other callers read through it what the base collection's `list`
    // policy lets them list (spec/views.md, Recommended), in the same statement.
    plan.rule = match list_rule(&ctx, &c) {
        Err(_) if ctx.caller == Caller::Anonymous => {
            return Err(ApiError::Unauthorized("Not authenticated"))
        }
        rule => rule?,
    };
    let page = db::view_page(&st.db, &ctx.project, &c, &v, &plan).await?;
    Ok(json(StatusCode::OK, page))
}
