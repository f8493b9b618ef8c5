//! Field validation rules (`spec/validations.md`; running them is the data plane's). Rules are
//! compiled into the project config, so every change runs with the project locked and returns
//! once the workers have the new config (`Member::publish`).

mod request;
mod types;

use super::body::JsonObject;
use super::error::ApiError;
use super::member::{Member, Pushed};
use crate::db::catalog::{self, Field};
use crate::db::rules::{self, NewRule, Rule};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

type FieldPath = Path<(String, String, String)>;
type RulePath = Path<(String, String)>;

fn rule_not_found() -> ApiError {
    ApiError::NotFound("Rule not found".into())
}

/// The live field of an active collection, by names: neither soft-deleted nor hidden.
async fn find_field(
    db: &mut PgConnection,
    project: Uuid,
    collection: &str,
    field: &str,
) -> Result<Field, ApiError> {
    let c = catalog::collection_by_name(&mut *db, project, collection)
        .await?
        .ok_or(ApiError::NotFound("Collection not found".into()))?;
    catalog::all_fields(&mut *db, c.id)
        .await?
        .into_iter()
        .find(|f| f.name == field && !f.is_deleted && !f.is_hidden)
        .ok_or(ApiError::NotFound("Field not found".into()))
}

/// The rule of the path, if it belongs to the project.
async fn find_rule(db: &mut PgConnection, project: Uuid, id: &str) -> Result<Rule, ApiError> {
    let id = Uuid::parse_str(id).map_err(|_| rule_not_found())?;
    rules::in_project(db, project, id)
        .await?
        .ok_or_else(rule_not_found)
}

/// `POST …/validations/collections/{collection_name}/fields/{field_name}/rules`
pub async fn create(
    State(state): State<AppState>,
    m: Member,
    Path((_, collection, field)): FieldPath,
    body: JsonObject,
) -> Result<Pushed<(StatusCode, Json<Rule>)>, ApiError> {
    let req = request::create(body)?;
    let mut tx = state.db.begin().await?;
    m.lock(&mut tx).await?;
    let field = find_field(&mut tx, m.project.id, &collection, &field).await?;
    let kind = types::find(&req.rule_type)
        .ok_or_else(|| ApiError::BadRequest(types::invalid(&req.rule_type)))?;
    // A `text` field holds strings: the string rules apply to it too.
    let as_type = match field.field_type.as_str() {
        "text" => "string",
        other => other,
    };
    if !kind.applies_to.contains(&as_type) {
        return Err(ApiError::BadRequest(format!(
            "Rule type '{}' cannot be applied to field type '{}'",
            kind.name, field.field_type
        )));
    }
    request::check_config(kind, req.config.as_ref())?;
    let new = NewRule {
        field_id: field.id,
        rule_type: kind.name,
        config: req.config.as_ref(),
        error_message: req.error_message.as_deref(),
        priority: req.priority,
    };
    let rule = rules::insert(&mut *tx, &new).await?;
    let lagging = m.publish(&state, tx).await?;
    tracing::info!(project.id = %m.project.id, rule.id = %rule.id, "created {} rule", rule.rule_type);
    Ok(Pushed((StatusCode::CREATED, Json(rule)), lagging))
}

/// `GET …/validations/collections/{collection_name}/fields/{field_name}/rules`: the active
/// rules, in evaluation order.
pub async fn list(
    State(state): State<AppState>,
    m: Member,
    Path((_, collection, field)): FieldPath,
) -> Result<Json<Vec<Rule>>, ApiError> {
    let mut db = state.db.acquire().await?;
    let field = find_field(&mut db, m.project.id, &collection, &field).await?;
    Ok(Json(rules::active_of_field(&mut *db, field.id).await?))
}

/// `PATCH …/validations/rules/{rule_id}`: config (`{}` clears it), message, priority, active.
/// The rule type never changes.
pub async fn update(
    State(state): State<AppState>,
    m: Member,
    Path((_, id)): RulePath,
    body: JsonObject,
) -> Result<Pushed<Json<Rule>>, ApiError> {
    let req = request::update(body)?;
    let mut tx = state.db.begin().await?;
    m.lock(&mut tx).await?;
    let mut rule = find_rule(&mut tx, m.project.id, &id).await?;
    if let Some(config) = req.config {
        if let Some(kind) = types::find(&rule.rule_type) {
            request::check_config(kind, config.as_ref())?;
        }
        rule.config = config;
    }
    rule.error_message = req.error_message.or(rule.error_message);
    rule.priority = req.priority.unwrap_or(rule.priority);
    rule.is_active = req.is_active.unwrap_or(rule.is_active);
    let rule = rules::update(&mut *tx, &rule).await?;
    let lagging = m.publish(&state, tx).await?;
    Ok(Pushed(Json(rule), lagging))
}

/// `DELETE …/validations/rules/{rule_id}`
pub async fn delete(
    State(state): State<AppState>,
    m: Member,
    Path((_, id)): RulePath,
) -> Result<Pushed<StatusCode>, ApiError> {
    let mut tx = state.db.begin().await?;
    m.lock(&mut tx).await?;
    let rule = find_rule(&mut tx, m.project.id, &id).await?;
    rules::delete(&mut *tx, rule.id).await?;
    let lagging = m.publish(&state, tx).await?;
    tracing::info!(project.id = %m.project.id, rule.id = %rule.id, "deleted {} rule", rule.rule_type);
    Ok(Pushed(StatusCode::NO_CONTENT, lagging))
}

/// `GET …/validations/rule-types`
pub async fn rule_types(_m: Member) -> Json<Value> {
    Json(types::listing())
}
