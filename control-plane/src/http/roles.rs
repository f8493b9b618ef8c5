//! RBAC roles of a project (`spec/rbac.md`): create, list, get, update, delete, and the three
//! system roles of `rbac/initialize`. Roles are compiled into the project config (workers answer
//! role assignments and give new app users the default role from it), so every change runs under
//! the project lock and returns once the workers have it.

use super::body::{Fields, JsonObject};
use super::error::ApiError;
use super::member::{Member, Pushed};
use crate::db::roles::{self, NewRole, Role};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};
use sqlx::PgExecutor;
use uuid::Uuid;

type RolePath = Path<(String, String)>;

/// The roles `rbac/initialize` creates: (name, display name, description, default).
const SYSTEM_ROLES: [(&str, &str, &str, bool); 3] = [
    (
        "admin",
        "Administrator",
        "Full access to all resources",
        false,
    ),
    ("member", "Member", "Standard member access", true),
    ("viewer", "Viewer", "Read-only access", false),
];

fn role_not_found() -> ApiError {
    ApiError::NotFound("Role not found".into())
}

async fn find(db: impl PgExecutor<'_>, project: Uuid, id: &str) -> Result<Role, ApiError> {
    let id = Uuid::parse_str(id).map_err(|_| role_not_found())?;
    roles::get(db, project, id)
        .await?
        .ok_or_else(role_not_found)
}

/// `POST …/rbac/roles`: `is_default` takes the default from every other role.
pub async fn create(
    State(state): State<AppState>,
    m: Member,
    body: JsonObject,
) -> Result<Pushed<(StatusCode, Json<Role>)>, ApiError> {
    let mut f = Fields::new(body);
    let name = f.string("name", 1, 63);
    let display_name = f.string("display_name", 0, 127);
    let description = f.opt_string("description", usize::MAX);
    let is_default = f.bool("is_default", false);
    f.finish()?;
    let (name, display_name) = (name.unwrap_or_default(), display_name.unwrap_or_default());
    let pid = m.project.id;
    let mut tx = state.db.begin().await?;
    m.lock(&mut tx).await?;
    if is_default {
        roles::clear_default(&mut *tx, pid, None).await?;
    }
    let new = NewRole {
        name: &name,
        display_name: &display_name,
        description: description.as_deref(),
        is_default,
        is_system: false,
    };
    let role = roles::insert(&mut *tx, pid, &new).await?.ok_or_else(|| {
        ApiError::Conflict(format!("Role '{name}' already exists in this project").into())
    })?;
    let lagging = m.publish(&state, tx).await?;
    tracing::info!(project.id = %pid, role.id = %role.id, "created role {name}");
    Ok(Pushed((StatusCode::CREATED, Json(role)), lagging))
}

/// `GET …/rbac/roles`: system roles first, then by name.
pub async fn list(State(state): State<AppState>, m: Member) -> Result<Json<Vec<Role>>, ApiError> {
    Ok(Json(roles::list(&state.db, m.project.id).await?))
}

/// `GET …/rbac/roles/{role_id}`
pub async fn get(
    State(state): State<AppState>,
    m: Member,
    Path((_, id)): RolePath,
) -> Result<Json<Role>, ApiError> {
    Ok(Json(find(&state.db, m.project.id, &id).await?))
}

/// `PATCH …/rbac/roles/{role_id}`: absent or null keys keep their value; `name` never changes.
pub async fn update(
    State(state): State<AppState>,
    m: Member,
    Path((_, id)): RolePath,
    body: JsonObject,
) -> Result<Pushed<Json<Role>>, ApiError> {
    let mut f = Fields::new(body);
    let display_name = f.opt_string("display_name", 127);
    let description = f.opt_string("description", usize::MAX);
    let is_default = f.opt_bool("is_default");
    f.finish()?;
    let mut tx = state.db.begin().await?;
    m.lock(&mut tx).await?;
    let mut role = find(&mut *tx, m.project.id, &id).await?;
    if role.is_system {
        return Err(ApiError::Forbidden("Cannot modify system roles"));
    }
    if let Some(d) = display_name {
        role.display_name = d;
    }
    if description.is_some() {
        role.description = description;
    }
    if let Some(d) = is_default {
        role.is_default = d;
        if d {
            roles::clear_default(&mut *tx, m.project.id, Some(role.id)).await?;
        }
    }
    let role = roles::update(&mut *tx, &role).await?;
    let lagging = m.publish(&state, tx).await?;
    Ok(Pushed(Json(role), lagging))
}

/// `DELETE …/rbac/roles/{role_id}`: with every assignment of it.
pub async fn delete(
    State(state): State<AppState>,
    m: Member,
    Path((_, id)): RolePath,
) -> Result<Pushed<StatusCode>, ApiError> {
    let mut tx = state.db.begin().await?;
    m.lock(&mut tx).await?;
    // The cell's transaction only once the project is ours: queued changes hold no cell
    // connection.
    let mut unit = state.cells.join(tx, &m.project.cell).await?;
    let role = find(unit.control(), m.project.id, &id).await?;
    if role.is_system {
        return Err(ApiError::Forbidden("Cannot delete system roles"));
    }
    if !roles::delete(&mut unit, &m.project, role.id).await? {
        return Err(role_not_found());
    }
    let lagging = m.publish(&state, unit).await?;
    tracing::info!(project.id = %m.project.id, role.id = %role.id, "deleted role {}", role.name);
    Ok(Pushed(StatusCode::NO_CONTENT, lagging))
}

/// `POST …/rbac/initialize`: creates whichever of `admin`, `member` and `viewer` is missing (by
/// name). `member` becomes the default only when the project has no default role yet: an
/// existing default is left in place.
pub async fn initialize(
    State(state): State<AppState>,
    m: Member,
) -> Result<Pushed<(StatusCode, Json<Value>)>, ApiError> {
    let pid = m.project.id;
    let mut tx = state.db.begin().await?;
    m.lock(&mut tx).await?;
    let had_default = roles::has_default(&mut *tx, pid).await?;
    let mut created = 0;
    for (name, display_name, description, is_default) in SYSTEM_ROLES {
        let new = NewRole {
            name,
            display_name,
            description: Some(description),
            is_default: is_default && !had_default,
            is_system: true,
        };
        if roles::insert(&mut *tx, pid, &new).await?.is_some() {
            created += 1;
        }
    }
    let out = (
        StatusCode::CREATED,
        Json(json!({ "roles_created": created })),
    );
    if created == 0 {
        // Nothing changed: the transaction rolls back and the config stays as it is.
        return Ok(Pushed(out, Vec::new()));
    }
    let lagging = m.publish(&state, tx).await?;
    tracing::info!(project.id = %pid, "initialized {created} system roles");
    Ok(Pushed(out, lagging))
}
