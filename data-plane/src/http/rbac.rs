//! Role assignments of app users (`spec/rbac.md`, `…/rbac/users/{user_id}/roles`): list, assign,
//! remove. Member admins only (app-user tokens and API keys get 401). Roles are the project's
//! compiled ones; the assignments live in the project's schema.

use super::auth::require_admin;
use super::context::{Ctx, JsonObject};
use super::error::ApiError;
use crate::auth::roles::{self, BY_ADMIN};
use crate::auth::store::{self, User};
use crate::db::{self, Tx};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use model::error_body::validation_item;
use model::{ProjectConfig, RoleConfig};
use serde_json::{json, Map, Value};
use uuid::Uuid;

type UserPath = Path<(String, String)>;
type UserRolePath = Path<(String, String, String)>;

async fn find_user(tx: &mut Tx, id: &str) -> Result<User, ApiError> {
    let not_found = || ApiError::NotFound("App user not found");
    if id.contains('\0') {
        return Err(not_found());
    }
    store::user_by_id(tx, id).await?.ok_or_else(not_found)
}

/// The project's role with this id.
fn find_role<'a>(config: &'a ProjectConfig, id: &str) -> Result<&'a RoleConfig, ApiError> {
    Uuid::parse_str(id)
        .ok()
        .and_then(|id| config.roles.iter().find(|r| r.id == id))
        .ok_or(ApiError::NotFound("Role not found"))
}

/// The contract's `RoleOut`.
fn role_out(config: &ProjectConfig, r: &RoleConfig) -> Value {
    json!({
        "id": r.id, "project_id": config.project_id, "name": r.name,
        "display_name": r.display_name, "description": r.description,
        "is_default": r.is_default, "is_system": r.is_system,
        "created_at": r.created_at, "updated_at": r.updated_at,
    })
}

/// `{"app_user_id", "roles"}`: the project's roles among `held`, by name.
fn user_roles_out(config: &ProjectConfig, user: &str, held: &[Uuid]) -> Value {
    let mut held: Vec<&RoleConfig> = config
        .roles
        .iter()
        .filter(|r| held.contains(&r.id))
        .collect();
    held.sort_by(|a, b| a.name.cmp(&b.name));
    let roles: Vec<Value> = held.iter().map(|r| role_out(config, r)).collect();
    json!({ "app_user_id": user, "roles": roles })
}

/// The body's `role_ids`: a required list of strings (422 otherwise).
fn role_ids(body: &Map<String, Value>) -> Result<Vec<String>, ApiError> {
    let invalid = |kind: &str, msg: &str, input: Value| {
        ApiError::Validation(vec![validation_item(
            kind,
            &["body", "role_ids"],
            msg,
            input,
        )])
    };
    match body.get("role_ids") {
        None => Err(invalid(
            "missing",
            "Field required",
            Value::Object(body.clone()),
        )),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                other => Err(invalid(
                    "string_type",
                    "Input should be a valid string",
                    other.clone(),
                )),
            })
            .collect(),
        Some(other) => Err(invalid(
            "list_type",
            "Input should be a valid list",
            other.clone(),
        )),
    }
}

/// `GET …/rbac/users/{user_id}/roles`
pub async fn list(
    State(st): State<AppState>,
    ctx: Ctx,
    Path((_, user_id)): UserPath,
) -> Result<Json<Value>, ApiError> {
    require_admin(&ctx)?;
    let mut tx = db::begin(&st.db, &ctx.project).await?;
    let user = find_user(&mut tx, &user_id).await?;
    let held = roles::held(&mut tx, &user.id).await?;
    tx.commit().await?;
    Ok(Json(user_roles_out(&ctx.project.config, &user.id, &held)))
}

/// `POST …/rbac/users/{user_id}/roles`: every id is checked before any is assigned; roles the
/// user already holds are skipped. Answers every role the user now holds.
pub async fn assign(
    State(st): State<AppState>,
    ctx: Ctx,
    Path((_, user_id)): UserPath,
    JsonObject(body): JsonObject,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    require_admin(&ctx)?;
    let ids = role_ids(&body)?;
    let config = &ctx.project.config;
    let mut tx = db::begin(&st.db, &ctx.project).await?;
    let user = find_user(&mut tx, &user_id).await?;
    let mut ids = ids
        .iter()
        .map(|id| find_role(config, id).map(|r| r.id))
        .collect::<Result<Vec<Uuid>, ApiError>>()?;
    ids.sort_unstable();
    ids.dedup();
    roles::assign(&mut tx, &user.id, &ids, BY_ADMIN).await?;
    let held = roles::held(&mut tx, &user.id).await?;
    tx.commit().await?;
    let out = user_roles_out(config, &user.id, &held);
    Ok((StatusCode::CREATED, Json(out)))
}

/// `DELETE …/rbac/users/{user_id}/roles/{role_id}`
pub async fn remove(
    State(st): State<AppState>,
    ctx: Ctx,
    Path((_, user_id, role_id)): UserRolePath,
) -> Result<StatusCode, ApiError> {
    require_admin(&ctx)?;
    let mut tx = db::begin(&st.db, &ctx.project).await?;
    let user = find_user(&mut tx, &user_id).await?;
    let role = find_role(&ctx.project.config, &role_id)?;
    if !roles::remove(&mut tx, &user.id, role.id).await? {
        return Err(ApiError::NotFound("User does not have this role"));
    }
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
