//! Access policies of a collection (`spec/policies.md`): create, list the active ones, get,
//! update, delete. Policies are compiled into the project config, so every change runs under the
//! project lock and returns once the workers enforce it.

use super::body::{Fields, JsonObject};
use super::error::ApiError;
use super::member::{Member, Pushed};
use crate::db::catalog;
use crate::db::policies::{self, Policy, PolicyValues};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use model::access::{check_condition, compile_condition, Action, PrincipalKind};
use model::FieldType;
use sqlx::PgExecutor;
use uuid::Uuid;

type CollectionPath = Path<(String, String)>;
type PolicyPath = Path<(String, String, String)>;

const TEXT_MAX: usize = usize::MAX;
const PRIORITY: (i64, i64) = (i32::MIN as i64, i32::MAX as i64);

/// The id policies of collection `name` are kept under: the collection's, or for the files
/// pseudo-collection (`_files`, `model::files`) the project's own.
async fn find_collection(
    db: impl PgExecutor<'_>,
    project: Uuid,
    name: &str,
) -> Result<Uuid, ApiError> {
    if name == model::files::NAME {
        return Ok(project);
    }
    catalog::collection_by_name(db, project, name)
        .await?
        .map(|c| c.id)
        .ok_or(ApiError::NotFound("Collection not found".into()))
}

fn policy_not_found() -> ApiError {
    ApiError::NotFound("Policy not found".into())
}

async fn find_policy(
    db: impl PgExecutor<'_>,
    collection: Uuid,
    id: &str,
) -> Result<Policy, ApiError> {
    let id = Uuid::parse_str(id).map_err(|_| policy_not_found())?;
    policies::get(db, collection, id)
        .await?
        .ok_or_else(policy_not_found)
}

fn check_effect(effect: &str) -> Result<(), ApiError> {
    match effect {
        "allow" | "deny" => Ok(()),
        _ => Err(ApiError::BadRequest(
            "Invalid effect. Must be one of: allow, deny".into(),
        )),
    }
}

/// `allowed_principals` and `condition_json`, checked in the contract's order.
fn check_principals_and_condition(
    principals: Option<&str>,
    condition: Option<&str>,
) -> Result<(), ApiError> {
    PrincipalKind::parse_list(principals).map_err(|bad| {
        ApiError::BadRequest(format!(
            "Invalid principal '{bad}'. Must be one of: admin_user, app_user, api_key, anonymous"
        ))
    })?;
    check_condition(condition).map_err(|e| ApiError::BadRequest(e.to_string()))
}

/// Refuses a condition that compares a `json` field other than by JSON equality (`$gt`,
/// `$contains`, `$now`, the caller's ids): it could never hold, and compiled it would match
/// nothing.
async fn check_json_fields(
    db: &mut sqlx::PgConnection,
    collection: Uuid,
    condition: Option<&str>,
) -> Result<(), ApiError> {
    if condition.is_none_or(|c| !c.contains('$')) {
        return Ok(());
    }
    let fields = catalog::all_fields(&mut *db, collection).await?;
    let column = |name: &str| {
        fields
            .iter()
            .find(|f| !f.is_deleted && (f.name == name || f.sql_column_name == name))
            .map(|f| {
                let ty = FieldType::parse(&f.field_type).unwrap_or(FieldType::String);
                (f.sql_column_name.clone(), ty)
            })
    };
    compile_condition(condition, &column).map(|_| ()).map_err(|_| {
        ApiError::BadRequest(
            "Invalid condition JSON: a json field can only be compared with $eq or $neq and a literal value".into(),
        )
    })
}

/// `POST …/policies`
pub async fn create(
    State(state): State<AppState>,
    m: Member,
    Path((_, collection)): CollectionPath,
    body: JsonObject,
) -> Result<Pushed<(StatusCode, Json<Policy>)>, ApiError> {
    let mut f = Fields::new(body);
    let name = f.string("name", 1, 63);
    let action = f.string("action", 0, TEXT_MAX);
    let effect = f.opt_string("effect", TEXT_MAX);
    let condition = f.opt_string("condition_json", TEXT_MAX);
    let priority = f.opt_int("priority", PRIORITY.0, PRIORITY.1);
    let principals = f.opt_string("allowed_principals", TEXT_MAX);
    let verified = f.bool("require_email_verified", false);
    let roles = f.opt_string("allowed_roles", TEXT_MAX);
    f.finish()?;
    let (name, action) = (name.unwrap_or_default(), action.unwrap_or_default());
    let effect = effect.unwrap_or_else(|| "allow".to_owned());
    let mut tx = state.db.begin().await?;
    m.lock(&mut tx).await?;
    let c = find_collection(&mut *tx, m.project.id, &collection).await?;
    if Action::parse(&action).is_none() {
        return Err(ApiError::BadRequest(
            "Invalid action. Must be one of: create, read, update, delete, list".into(),
        ));
    }
    check_effect(&effect)?;
    check_principals_and_condition(principals.as_deref(), condition.as_deref())?;
    if c != m.project.id {
        // The files pseudo-collection has no json field.
        check_json_fields(&mut tx, c, condition.as_deref()).await?;
    }
    let values = PolicyValues {
        name: &name,
        effect: &effect,
        condition_json: condition.as_deref(),
        is_active: true,
        priority: priority.unwrap_or(0) as i32,
        allowed_principals: principals.as_deref(),
        require_email_verified: verified,
        allowed_roles: roles.as_deref(),
    };
    let policy = policies::insert(&mut *tx, c, &action, &values).await?;
    let lagging = m.publish(&state, tx).await?;
    tracing::info!(project.id = %m.project.id, policy.id = %policy.id, "created policy");
    Ok(Pushed((StatusCode::CREATED, Json(policy)), lagging))
}

/// `GET …/policies`: the active ones, in evaluation order.
pub async fn list(
    State(state): State<AppState>,
    m: Member,
    Path((_, collection)): CollectionPath,
) -> Result<Json<Vec<Policy>>, ApiError> {
    let c = find_collection(&state.db, m.project.id, &collection).await?;
    Ok(Json(policies::list_active(&state.db, c).await?))
}

/// `GET …/policies/{policy_id}` (inactive ones too).
pub async fn get(
    State(state): State<AppState>,
    m: Member,
    Path((_, collection, id)): PolicyPath,
) -> Result<Json<Policy>, ApiError> {
    let c = find_collection(&state.db, m.project.id, &collection).await?;
    Ok(Json(find_policy(&state.db, c, &id).await?))
}

/// `PATCH …/policies/{policy_id}`: absent or null keys keep their value; `action` never changes.
pub async fn update(
    State(state): State<AppState>,
    m: Member,
    Path((_, collection, id)): PolicyPath,
    body: JsonObject,
) -> Result<Pushed<Json<Policy>>, ApiError> {
    let mut f = Fields::new(body);
    let name = f.opt_string("name", 63);
    if name.as_deref() == Some("") {
        f.reject(
            "name",
            "string_too_short",
            "String should have at least 1 character",
            "",
        );
    }
    let effect = f.opt_string("effect", TEXT_MAX);
    let condition = f.opt_string("condition_json", TEXT_MAX);
    let priority = f.opt_int("priority", PRIORITY.0, PRIORITY.1);
    let active = f.opt_bool("is_active");
    let principals = f.opt_string("allowed_principals", TEXT_MAX);
    let verified = f.opt_bool("require_email_verified");
    let roles = f.opt_string("allowed_roles", TEXT_MAX);
    f.finish()?;
    let mut tx = state.db.begin().await?;
    m.lock(&mut tx).await?;
    let c = find_collection(&mut *tx, m.project.id, &collection).await?;
    let old = find_policy(&mut *tx, c, &id).await?;
    if let Some(e) = &effect {
        check_effect(e)?;
    }
    check_principals_and_condition(principals.as_deref(), condition.as_deref())?;
    if c != m.project.id {
        // The files pseudo-collection has no json field.
        check_json_fields(&mut tx, c, condition.as_deref()).await?;
    }
    let values = PolicyValues {
        name: name.as_deref().unwrap_or(&old.name),
        effect: effect.as_deref().unwrap_or(&old.effect),
        condition_json: condition.as_deref().or(old.condition_json.as_deref()),
        is_active: active.unwrap_or(old.is_active),
        priority: priority.map_or(old.priority, |p| p as i32),
        allowed_principals: principals.as_deref().or(old.allowed_principals.as_deref()),
        require_email_verified: verified.unwrap_or(old.require_email_verified),
        allowed_roles: roles.as_deref().or(old.allowed_roles.as_deref()),
    };
    let policy = policies::update(&mut *tx, old.id, &values).await?;
    let lagging = m.publish(&state, tx).await?;
    Ok(Pushed(Json(policy), lagging))
}

/// `DELETE …/policies/{policy_id}`: a hard delete.
pub async fn delete(
    State(state): State<AppState>,
    m: Member,
    Path((_, collection, id)): PolicyPath,
) -> Result<Pushed<StatusCode>, ApiError> {
    let mut tx = state.db.begin().await?;
    m.lock(&mut tx).await?;
    let c = find_collection(&mut *tx, m.project.id, &collection).await?;
    let policy = find_policy(&mut *tx, c, &id).await?;
    policies::delete(&mut *tx, c, policy.id).await?;
    let lagging = m.publish(&state, tx).await?;
    tracing::info!(project.id = %m.project.id, policy.id = %policy.id, "deleted policy");
    Ok(Pushed(StatusCode::NO_CONTENT, lagging))
}
