//! RBAC roles of projects (`spec/rbac.md`). Rows serialize as the contract's `RoleOut`. Which app
//! users hold a role is kept in the project's own schema (`_user_roles`, served by workers); the
//! only thing the control plane does there is drop a deleted role's assignments.

use super::ddl::ident as q;
use super::projects::Project;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::postgres::PgRow;
use sqlx::{PgExecutor, Row};
use uuid::Uuid;

/// `RoleOut`.
#[derive(Debug, Clone, Serialize)]
pub struct Role {
    /// Id.
    pub id: Uuid,
    /// The project.
    pub project_id: Uuid,
    /// Name, unique in the project (what policies name).
    pub name: String,
    /// Display name.
    pub display_name: String,
    /// Description.
    pub description: Option<String>,
    /// New app users receive it.
    pub is_default: bool,
    /// Made by `rbac/initialize`: cannot be changed or deleted.
    pub is_system: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

const COLS: &str = "id, project_id, name, display_name, description, is_default, is_system, \
    created_at, updated_at";

fn role(r: PgRow) -> Role {
    Role {
        id: r.get(0),
        project_id: r.get(1),
        name: r.get(2),
        display_name: r.get(3),
        description: r.get(4),
        is_default: r.get(5),
        is_system: r.get(6),
        created_at: r.get(7),
        updated_at: r.get(8),
    }
}

/// A role to insert.
pub struct NewRole<'a> {
    /// Name.
    pub name: &'a str,
    /// Display name.
    pub display_name: &'a str,
    /// Description.
    pub description: Option<&'a str>,
    /// Default for new app users.
    pub is_default: bool,
    /// A system role.
    pub is_system: bool,
}

/// Inserts a role; `Ok(None)` when the name is taken in this project.
pub async fn insert(
    db: impl PgExecutor<'_>,
    project: Uuid,
    r: &NewRole<'_>,
) -> Result<Option<Role>, sqlx::Error> {
    let sql = format!(
        "INSERT INTO control.roles (id, project_id, name, display_name, description, is_default,
            is_system)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (project_id, name) DO NOTHING
         RETURNING {COLS}"
    );
    let row = sqlx::query(&sql)
        .bind(Uuid::new_v4())
        .bind(project)
        .bind(r.name)
        .bind(r.display_name)
        .bind(r.description)
        .bind(r.is_default)
        .bind(r.is_system)
        .fetch_optional(db)
        .await?;
    Ok(row.map(role))
}

/// The project's roles: system roles first, then by name (byte order).
pub async fn list(db: impl PgExecutor<'_>, project: Uuid) -> Result<Vec<Role>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLS} FROM control.roles WHERE project_id = $1
         ORDER BY is_system DESC, name COLLATE \"C\""
    );
    let rows = sqlx::query(&sql).bind(project).fetch_all(db).await?;
    Ok(rows.into_iter().map(role).collect())
}

/// A role of the project.
pub async fn get(
    db: impl PgExecutor<'_>,
    project: Uuid,
    id: Uuid,
) -> Result<Option<Role>, sqlx::Error> {
    let sql = format!("SELECT {COLS} FROM control.roles WHERE project_id = $1 AND id = $2");
    let row = sqlx::query(&sql)
        .bind(project)
        .bind(id)
        .fetch_optional(db)
        .await?;
    Ok(row.map(role))
}

/// Whether any role of the project is its default.
pub async fn has_default(db: impl PgExecutor<'_>, project: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM control.roles WHERE project_id = $1 AND is_default)",
    )
    .bind(project)
    .fetch_one(db)
    .await
}

/// Makes every role of the project but `keep` non-default.
pub async fn clear_default(
    db: impl PgExecutor<'_>,
    project: Uuid,
    keep: Option<Uuid>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE control.roles SET is_default = false, updated_at = clock_timestamp()
         WHERE project_id = $1 AND is_default AND id IS DISTINCT FROM $2",
    )
    .bind(project)
    .bind(keep)
    .execute(db)
    .await?;
    Ok(())
}

/// Writes a role's changeable attributes; returns the row.
pub async fn update(db: impl PgExecutor<'_>, r: &Role) -> Result<Role, sqlx::Error> {
    let sql = format!(
        "UPDATE control.roles SET display_name = $2, description = $3, is_default = $4,
            updated_at = clock_timestamp()
         WHERE id = $1 RETURNING {COLS}"
    );
    let row = sqlx::query(&sql)
        .bind(r.id)
        .bind(&r.display_name)
        .bind(&r.description)
        .bind(r.is_default)
        .fetch_one(db)
        .await?;
    Ok(role(row))
}

/// Deletes a role of the project and, in its schema (as its role), every assignment of it.
/// False when there was no such role.
pub async fn delete(
    unit: &mut crate::cells::Unit,
    p: &Project,
    id: Uuid,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query("DELETE FROM control.roles WHERE project_id = $1 AND id = $2")
        .bind(p.id)
        .bind(id)
        .execute(unit.control())
        .await?
        .rows_affected();
    if n == 0 {
        return Ok(false);
    }
    let db = unit.cell();
    let set_role = format!("SET LOCAL ROLE {}", q(&p.db_role));
    sqlx::query(&set_role)
        .persistent(false)
        .execute(&mut *db)
        .await?;
    let sql = format!(
        "DELETE FROM {}.\"_user_roles\" WHERE \"role_id\" = $1",
        q(&p.db_schema)
    );
    sqlx::query(&sql)
        .bind(id)
        .persistent(false)
        .execute(&mut *db)
        .await?;
    sqlx::query("RESET ROLE").execute(&mut *db).await?;
    Ok(true)
}
