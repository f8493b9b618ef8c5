//! Workflow definitions of projects (`spec/workflows.md`), stored as given. Runs live in the
//! project's schema, where workers write them.

use super::ddl::ident as q;
use super::projects::Project;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgExecutor, Row};
use uuid::Uuid;

/// A stored workflow.
#[derive(Debug, Clone)]
pub struct Workflow {
    /// Id.
    pub id: Uuid,
    /// The project.
    pub project_id: Uuid,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Trigger type as given.
    pub trigger_type: String,
    /// Trigger config as given (an object).
    pub trigger_config: Value,
    /// Steps as given (an array of objects).
    pub steps: Value,
    /// Turned on by its admins.
    pub is_active: bool,
    /// The admin who made it.
    pub created_by: Option<Uuid>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

const COLS: &str = "id, project_id, name, description, trigger_type, trigger_config, steps, \
    is_active, created_by, created_at, updated_at";

fn workflow(r: PgRow) -> Workflow {
    Workflow {
        id: r.get(0),
        project_id: r.get(1),
        name: r.get(2),
        description: r.get(3),
        trigger_type: r.get(4),
        trigger_config: r.get(5),
        steps: r.get(6),
        is_active: r.get(7),
        created_by: r.get(8),
        created_at: r.get(9),
        updated_at: r.get(10),
    }
}

/// Inserts a workflow and returns it.
pub async fn insert(db: impl PgExecutor<'_>, w: &Workflow) -> Result<Workflow, sqlx::Error> {
    let sql = format!(
        "INSERT INTO control.workflows (id, project_id, name, description, trigger_type,
            trigger_config, steps, is_active, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {COLS}"
    );
    let row = sqlx::query(&sql)
        .bind(w.id)
        .bind(w.project_id)
        .bind(&w.name)
        .bind(&w.description)
        .bind(&w.trigger_type)
        .bind(&w.trigger_config)
        .bind(&w.steps)
        .bind(w.is_active)
        .bind(w.created_by)
        .fetch_one(db)
        .await?;
    Ok(workflow(row))
}

/// The project's workflows in creation order.
pub async fn list(db: impl PgExecutor<'_>, project: Uuid) -> Result<Vec<Workflow>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLS} FROM control.workflows WHERE project_id = $1 ORDER BY created_at, id"
    );
    let rows = sqlx::query(&sql).bind(project).fetch_all(db).await?;
    Ok(rows.into_iter().map(workflow).collect())
}

/// A workflow of the project.
pub async fn get(
    db: impl PgExecutor<'_>,
    project: Uuid,
    id: Uuid,
) -> Result<Option<Workflow>, sqlx::Error> {
    let sql = format!("SELECT {COLS} FROM control.workflows WHERE project_id = $1 AND id = $2");
    let row = sqlx::query(&sql)
        .bind(project)
        .bind(id)
        .fetch_optional(db)
        .await?;
    Ok(row.map(workflow))
}

/// Writes a workflow's changeable attributes and returns the row.
pub async fn update(db: impl PgExecutor<'_>, w: &Workflow) -> Result<Workflow, sqlx::Error> {
    let sql = format!(
        "UPDATE control.workflows SET name = $3, description = $4, trigger_type = $5,
            trigger_config = $6, steps = $7, is_active = $8, updated_at = clock_timestamp()
         WHERE project_id = $1 AND id = $2 RETURNING {COLS}"
    );
    let row = sqlx::query(&sql)
        .bind(w.project_id)
        .bind(w.id)
        .bind(&w.name)
        .bind(&w.description)
        .bind(&w.trigger_type)
        .bind(&w.trigger_config)
        .bind(&w.steps)
        .bind(w.is_active)
        .fetch_one(db)
        .await?;
    Ok(workflow(row))
}

/// Deletes a workflow; false when there was none.
pub async fn delete(db: impl PgExecutor<'_>, project: Uuid, id: Uuid) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM control.workflows WHERE project_id = $1 AND id = $2")
        .bind(project)
        .bind(id)
        .execute(db)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Removes a deleted workflow's runs, their steps and its schedule mark from the project's
/// schema, as the project's role.
pub async fn delete_runs(db: &mut PgConnection, p: &Project, id: Uuid) -> Result<(), sqlx::Error> {
    let set_role = format!("SET LOCAL ROLE {}", q(&p.db_role));
    sqlx::query(&set_role)
        .persistent(false)
        .execute(&mut *db)
        .await?;
    let s = q(&p.db_schema);
    let sql = format!(
        "WITH r AS (DELETE FROM {s}.\"_workflow_runs\" WHERE \"workflow_id\" = $1 RETURNING \"id\"),
              st AS (DELETE FROM {s}.\"_workflow_run_steps\" WHERE \"run_id\" IN (SELECT \"id\" FROM r))
         DELETE FROM {s}.\"_workflow_schedule\" WHERE \"workflow_id\" = $1"
    );
    sqlx::query(&sql)
        .bind(id)
        .persistent(false)
        .execute(&mut *db)
        .await?;
    sqlx::query("RESET ROLE").execute(&mut *db).await?;
    Ok(())
}
