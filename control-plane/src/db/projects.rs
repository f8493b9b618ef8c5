//! Projects and memberships.

use sqlx::{PgExecutor, Row};
use uuid::Uuid;

/// A project row.
#[derive(Debug, Clone)]
pub struct Project {
    /// Id.
    pub id: Uuid,
    /// Display name.
    pub name: String,
    /// Postgres schema.
    pub db_schema: String,
    /// Postgres role.
    pub db_role: String,
    /// The cell holding its schema (`crate::cells`).
    pub cell: String,
}

fn from_row(r: sqlx::postgres::PgRow) -> Project {
    Project {
        id: r.get("id"),
        name: r.get("name"),
        db_schema: r.get("db_schema"),
        db_role: r.get("db_role"),
        cell: r.get("cell"),
    }
}

/// Inserts a project and its owner membership.
pub async fn insert(
    db: &mut sqlx::PgConnection,
    p: &Project,
    owner: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO control.projects (id, name, db_schema, db_role, cell, config_version)
         VALUES ($1, $2, $3, $4, $5, nextval('control.config_version_seq'))",
    )
    .bind(p.id)
    .bind(&p.name)
    .bind(&p.db_schema)
    .bind(&p.db_role)
    .bind(&p.cell)
    .execute(&mut *db)
    .await?;
    sqlx::query("INSERT INTO control.memberships (id, admin_id, project_id) VALUES ($1, $2, $3)")
        .bind(Uuid::new_v4())
        .bind(owner)
        .bind(p.id)
        .execute(&mut *db)
        .await?;
    Ok(())
}

/// Projects the admin is a member of, in creation order.
pub async fn list_for(db: impl PgExecutor<'_>, admin: Uuid) -> Result<Vec<Project>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT p.id, p.name, p.db_schema, p.db_role, p.cell FROM control.projects p
         JOIN control.memberships m ON m.project_id = p.id
         WHERE m.admin_id = $1 ORDER BY p.seq",
    )
    .bind(admin)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(from_row).collect())
}

/// The project if the admin is a member of it.
pub async fn get_for(
    db: impl PgExecutor<'_>,
    id: Uuid,
    admin: Uuid,
) -> Result<Option<Project>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT p.id, p.name, p.db_schema, p.db_role, p.cell FROM control.projects p
         JOIN control.memberships m ON m.project_id = p.id
         WHERE p.id = $1 AND m.admin_id = $2",
    )
    .bind(id)
    .bind(admin)
    .fetch_optional(db)
    .await?;
    Ok(row.map(from_row))
}

/// Locks the project row for a config change (serializes concurrent schema changes), if the admin
/// is a member.
pub async fn lock_for(
    db: impl PgExecutor<'_>,
    id: Uuid,
    admin: Uuid,
) -> Result<Option<Project>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT p.id, p.name, p.db_schema, p.db_role, p.cell FROM control.projects p
         WHERE p.id = $1 AND EXISTS (
             SELECT 1 FROM control.memberships m WHERE m.project_id = p.id AND m.admin_id = $2)
         FOR UPDATE OF p",
    )
    .bind(id)
    .bind(admin)
    .fetch_optional(db)
    .await?;
    Ok(row.map(from_row))
}

/// Gives the project a new config version; returns it.
pub async fn bump_version(db: impl PgExecutor<'_>, id: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE control.projects SET config_version = nextval('control.config_version_seq')
         WHERE id = $1 RETURNING config_version",
    )
    .bind(id)
    .fetch_one(db)
    .await
}

/// Every project id (for the start-up compile).
pub async fn all_ids(db: impl PgExecutor<'_>) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM control.projects ORDER BY seq")
        .fetch_all(db)
        .await
}

/// Records a schema operation in the project's log.
pub async fn log_schema_op(
    db: impl PgExecutor<'_>,
    project: Uuid,
    collection: Option<Uuid>,
    op_type: &str,
    payload: serde_json::Value,
    actor: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO control.schema_ops (id, project_id, collection_id, op_type, payload_json, actor_user_id)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(Uuid::new_v4())
    .bind(project)
    .bind(collection)
    .bind(op_type)
    .bind(payload)
    .bind(actor)
    .execute(db)
    .await?;
    Ok(())
}
