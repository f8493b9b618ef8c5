//! Runs a list of changes as one transaction: lock the project, apply each change, then either
//! roll back (a preview) or bump the config and schema versions, record the history entry, commit
//! and push the new config to the workers. A failing change leaves the schema exactly as before.

use super::apply::{Applier, Outcome};
use super::Change;
use crate::db::{history, projects};
use crate::http::error::ApiError;
use crate::http::member::Member;
use crate::state::AppState;
use serde_json::json;

/// Apply for real, or only show what would happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Commit and push.
    Apply,
    /// Roll back after running everything.
    Preview,
}

/// What a run did (or would do).
#[derive(Debug)]
pub struct Ran {
    /// One outcome per change.
    pub outcomes: Vec<Outcome>,
    /// The SQL, in order.
    pub steps: Vec<String>,
    /// Warnings of every change.
    pub warnings: Vec<String>,
    /// The schema version after an apply; the current one after a preview or an empty run.
    pub schema_version: i64,
    /// Workers that had not applied the new config when the wait ended.
    pub lagging: Vec<String>,
}

/// Runs `changes` for the member's project. `source` names where they came from in the history
/// (`immediate`, `pending`, `import`). In a batch, an error says which step failed.
pub async fn run(
    state: &AppState,
    m: &Member,
    source: &str,
    changes: &[Change],
    mode: Mode,
) -> Result<Ran, ApiError> {
    run_consuming(state, m, source, changes, mode, &[], None).await
}

/// 409 when the project's lock could not be had in time.
fn lock_error(e: sqlx::Error) -> ApiError {
    let busy = e
        .as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == "55P03");
    if busy {
        ApiError::Conflict("Could not acquire lock for schema change".into())
    } else {
        e.into()
    }
}

/// [`run`], also removing the staged changes `consume` in the same transaction (an apply of the
/// pending queue; 409 if another apply took them first), and, with `expect_version`, refusing
/// with 409 when the schema version moved since the changes were planned.
pub async fn run_consuming(
    state: &AppState,
    m: &Member,
    source: &str,
    changes: &[Change],
    mode: Mode,
    consume: &[uuid::Uuid],
    expect_version: Option<i64>,
) -> Result<Ran, ApiError> {
    let mut tx = state.db.begin().await?;
    // Another change of this project may hold its lock for a while (a big import or index build).
    sqlx::query("SET LOCAL lock_timeout = '20s'")
        .execute(&mut *tx)
        .await?;
    let project = projects::lock_for(&mut *tx, m.project.id, m.admin.id)
        .await
        .map_err(lock_error)?
        .ok_or(ApiError::NotFound("Project not found".into()))?;
    if let Some(expected) = expect_version {
        if history::schema_version(&mut *tx, project.id).await? != expected {
            return Err(ApiError::Conflict(
                "The schema changed while this request was being prepared; try again".into(),
            ));
        }
    }
    // The catalog is written here; the DDL runs in the project's cell, which may be another
    // database.
    let mut unit = state.cells.join(tx, &project.cell).await?;
    // DDL waits at most this long for table locks held by running queries, then answers 409.
    sqlx::query("SET LOCAL lock_timeout = '5s'")
        .execute(unit.cell())
        .await?;
    let mut applier = Applier::new(&mut unit, &project, m.admin.id);
    let mut outcomes = Vec::with_capacity(changes.len());
    for (i, change) in changes.iter().enumerate() {
        match applier.apply(change).await {
            Ok(o) => outcomes.push(o),
            Err(e) if changes.len() > 1 => {
                let prefix = format!("Change {} of {} ({}): ", i + 1, changes.len(), change.op());
                return Err(e.prefixed(&prefix));
            }
            Err(e) => return Err(e),
        }
    }
    let (steps, warnings) = (
        std::mem::take(&mut applier.steps),
        std::mem::take(&mut applier.warnings),
    );
    drop(applier);
    if mode == Mode::Preview || changes.is_empty() {
        let schema_version = history::schema_version(unit.control(), project.id).await?;
        unit.rollback().await?;
        return Ok(Ran {
            outcomes,
            steps,
            warnings,
            schema_version,
            lagging: Vec::new(),
        });
    }
    for id in consume {
        if history::discard(unit.control(), project.id, Some(*id)).await? == 0 {
            return Err(ApiError::Conflict(
                "The pending changes were applied or discarded meanwhile".into(),
            ));
        }
    }
    projects::bump_version(unit.control(), project.id).await?;
    let schema_version = history::bump_schema_version(unit.control(), project.id).await?;
    history::insert(
        unit.control(),
        project.id,
        schema_version,
        source,
        &json!(changes),
        &json!(steps),
        m.admin.id,
    )
    .await?;
    unit.commit().await?;
    let lagging = state.push_project(project.id).await?;
    Ok(Ran {
        outcomes,
        steps,
        warnings,
        schema_version,
        lagging,
    })
}

/// Runs a single change now.
pub async fn one(state: &AppState, m: &Member, change: Change) -> Result<(Outcome, Ran), ApiError> {
    let mut ran = run(
        state,
        m,
        "immediate",
        std::slice::from_ref(&change),
        Mode::Apply,
    )
    .await?;
    let outcome = ran.outcomes.pop().unwrap_or_default();
    Ok((outcome, ran))
}
