//! The schema history (applied change sets), staged changes and the schema-op log.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::{PgExecutor, Row};
use uuid::Uuid;

/// Gives the project its next schema version; returns it.
pub async fn bump_schema_version(
    db: impl PgExecutor<'_>,
    project: Uuid,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE control.projects SET schema_version = schema_version + 1 WHERE id = $1
         RETURNING schema_version",
    )
    .bind(project)
    .fetch_one(db)
    .await
}

/// The project's current schema version.
pub async fn schema_version(db: impl PgExecutor<'_>, project: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT schema_version FROM control.projects WHERE id = $1")
        .bind(project)
        .fetch_one(db)
        .await
}

/// One applied change set.
#[derive(Debug, Serialize)]
pub struct HistoryEntry {
    /// Id.
    pub id: Uuid,
    /// The schema version this set produced.
    pub schema_version: i64,
    /// `immediate`, `pending` or `import`.
    pub source: String,
    /// The changes, in order.
    pub changes: Value,
    /// The SQL that ran.
    pub steps: Value,
    /// Who applied it.
    pub actor_user_id: Option<Uuid>,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// Records an applied change set.
pub async fn insert(
    db: impl PgExecutor<'_>,
    project: Uuid,
    schema_version: i64,
    source: &str,
    changes: &Value,
    steps: &Value,
    actor: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO control.schema_history (id, project_id, schema_version, source, changes, steps, actor_user_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(Uuid::new_v4())
    .bind(project)
    .bind(schema_version)
    .bind(source)
    .bind(changes)
    .bind(steps)
    .bind(actor)
    .execute(db)
    .await?;
    Ok(())
}

/// History, newest first.
pub async fn list(
    db: impl PgExecutor<'_>,
    project: Uuid,
    limit: i64,
    offset: i64,
) -> Result<Vec<HistoryEntry>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, schema_version, source, changes, steps, actor_user_id, created_at
         FROM control.schema_history WHERE project_id = $1
         ORDER BY schema_version DESC LIMIT $2 OFFSET $3",
    )
    .bind(project)
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| HistoryEntry {
            id: r.get(0),
            schema_version: r.get(1),
            source: r.get(2),
            changes: r.get(3),
            steps: r.get(4),
            actor_user_id: r.get(5),
            created_at: r.get(6),
        })
        .collect())
}

/// A staged change.
#[derive(Debug, Serialize)]
pub struct Pending {
    /// Id.
    pub id: Uuid,
    /// The change (`{"op": …}`).
    pub change: Value,
    /// Who staged it.
    pub actor_user_id: Option<Uuid>,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// Stages a change at the end of the project's queue.
pub async fn stage(
    db: impl PgExecutor<'_>,
    project: Uuid,
    change: &Value,
    actor: Uuid,
) -> Result<Pending, sqlx::Error> {
    let r = sqlx::query(
        "INSERT INTO control.pending_changes (id, project_id, change, actor_user_id)
         VALUES ($1, $2, $3, $4) RETURNING id, change, actor_user_id, created_at",
    )
    .bind(Uuid::new_v4())
    .bind(project)
    .bind(change)
    .bind(actor)
    .fetch_one(db)
    .await?;
    Ok(pending(r))
}

fn pending(r: sqlx::postgres::PgRow) -> Pending {
    Pending {
        id: r.get(0),
        change: r.get(1),
        actor_user_id: r.get(2),
        created_at: r.get(3),
    }
}

/// The staged changes, in staging order.
pub async fn pending_list(
    db: impl PgExecutor<'_>,
    project: Uuid,
) -> Result<Vec<Pending>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, change, actor_user_id, created_at FROM control.pending_changes
         WHERE project_id = $1 ORDER BY seq",
    )
    .bind(project)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(pending).collect())
}

/// Discards one staged change (`false` if it was not there) or, with `None`, all of them.
pub async fn discard(
    db: impl PgExecutor<'_>,
    project: Uuid,
    id: Option<Uuid>,
) -> Result<u64, sqlx::Error> {
    let res = sqlx::query(
        "DELETE FROM control.pending_changes WHERE project_id = $1 AND ($2::uuid IS NULL OR id = $2)",
    )
    .bind(project)
    .bind(id)
    .execute(db)
    .await?;
    Ok(res.rows_affected())
}

/// `SchemaOpOut`.
#[derive(Debug, Serialize)]
pub struct SchemaOp {
    /// Id.
    pub id: Uuid,
    /// Project.
    pub project_id: Uuid,
    /// Collection, if any.
    pub collection_id: Option<Uuid>,
    /// Operation.
    pub op_type: String,
    /// Payload as JSON text.
    pub payload_json: String,
    /// Always `applied`.
    pub status: String,
    /// Unused.
    pub error: Option<String>,
    /// Admin.
    pub actor_user_id: Option<Uuid>,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// The schema-op log, newest first, optionally filtered.
pub async fn schema_ops(
    db: impl PgExecutor<'_>,
    project: Uuid,
    collection: Option<Uuid>,
    op_type: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<Vec<SchemaOp>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, project_id, collection_id, op_type, payload_json::text, status, error,
             actor_user_id, created_at
         FROM control.schema_ops
         WHERE project_id = $1 AND ($2::uuid IS NULL OR collection_id = $2)
             AND ($3::text IS NULL OR op_type = $3)
         ORDER BY created_at DESC, seq DESC LIMIT $4 OFFSET $5",
    )
    .bind(project)
    .bind(collection)
    .bind(op_type)
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| SchemaOp {
            id: r.get(0),
            project_id: r.get(1),
            collection_id: r.get(2),
            op_type: r.get(3),
            payload_json: r.get(4),
            status: r.get(5),
            error: r.get(6),
            actor_user_id: r.get(7),
            created_at: r.get(8),
        })
        .collect())
}
