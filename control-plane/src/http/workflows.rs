//! Workflow definitions (`spec/workflows.md`): create, list, get, update, delete. The trigger and
//! every step are checked when saved (a 422 item names the step index and key; an unknown
//! collection is a 400), stored exactly as given, and compiled into the project config, where
//! workers run them. Every change returns once the workers have it.

use super::body::{Fields, JsonObject};
use super::error::ApiError;
use super::member::{Member, Pushed};
use crate::db::catalog;
use crate::db::workflows::{self, Workflow};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use model::error_body::validation_item;
use model::workflows::{Action, Definition, Trigger};
use serde_json::{json, Map, Value};
use sqlx::PgConnection;
use uuid::Uuid;

type WorkflowPath = Path<(String, String)>;

fn not_found() -> ApiError {
    ApiError::NotFound("Workflow not found".into())
}

/// `WorkflowResponse`.
fn out(w: &Workflow) -> Value {
    json!({
        "id": w.id, "project_id": w.project_id, "name": w.name, "description": w.description,
        "trigger_type": w.trigger_type, "trigger_config": w.trigger_config, "steps": w.steps,
        "is_active": w.is_active, "created_at": w.created_at, "updated_at": w.updated_at,
    })
}

/// The body keys of create and update, checked for type (the definition is checked after).
#[derive(Default)]
struct Input {
    name: Option<String>,
    description: Option<Option<String>>,
    trigger_type: Option<String>,
    trigger_config: Option<Value>,
    steps: Option<Value>,
    is_active: Option<bool>,
}

fn read_input(body: JsonObject, create: bool) -> Result<Input, ApiError> {
    let mut f = Fields::new(body);
    let name = if create {
        f.string("name", 1, 255)
    } else {
        f.opt_string("name", 255)
    };
    let description = f.nullable_string("description", 10_000);
    let trigger_type = if create {
        f.string("trigger_type", 1, 64)
    } else {
        f.opt_string("trigger_type", 64)
    };
    let trigger_config = match f.value("trigger_config").cloned() {
        None | Some(Value::Null) => None,
        Some(v @ Value::Object(_)) => Some(v),
        Some(v) => {
            let msg = "Input should be a valid dictionary";
            f.reject("trigger_config", "dict_type", msg, &v.to_string());
            None
        }
    };
    let mut extra = Vec::new();
    let steps = match f.value("steps").cloned() {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                if !item.is_object() {
                    let mut e = validation_item(
                        "dict_type",
                        &[],
                        "Input should be a valid dictionary",
                        item.clone(),
                    );
                    e["loc"] = json!(["body", "steps", i]);
                    extra.push(e);
                }
            }
            Some(Value::Array(items))
        }
        Some(v) => {
            f.reject(
                "steps",
                "list_type",
                "Input should be a valid list",
                &v.to_string(),
            );
            None
        }
    };
    let is_active = f.opt_bool("is_active");
    match f.finish() {
        Err(mut items) => {
            items.extend(extra);
            return Err(ApiError::Validation(items));
        }
        Ok(()) if !extra.is_empty() => return Err(ApiError::Validation(extra)),
        Ok(()) => {}
    }
    Ok(Input {
        name,
        description,
        trigger_type,
        trigger_config,
        steps,
        is_active,
    })
}

/// Checks the definition (422 naming the step and key) and that every collection it names
/// exists (400).
async fn check(tx: &mut PgConnection, project: Uuid, w: &Workflow) -> Result<(), ApiError> {
    let empty = Map::new();
    let steps: &[Value] = w.steps.as_array().map_or(&[], Vec::as_slice);
    let (trigger, steps) = Definition {
        trigger_type: &w.trigger_type,
        trigger_config: w.trigger_config.as_object().unwrap_or(&empty),
        steps,
    }
    .compile()
    .map_err(ApiError::Validation)?;
    if let Trigger::Record {
        collection: Some(name),
        ..
    } = &trigger
    {
        if catalog::collection_by_name(&mut *tx, project, name)
            .await?
            .is_none()
        {
            return Err(ApiError::BadRequest(format!(
                "Collection '{name}' not found"
            )));
        }
    }
    for (i, s) in steps.iter().enumerate() {
        let collection = match &s.action {
            Action::CreateRecord { collection, .. }
            | Action::UpdateRecord { collection, .. }
            | Action::DeleteRecord { collection, .. } => collection,
            _ => continue,
        };
        if catalog::collection_by_name(&mut *tx, project, collection)
            .await?
            .is_none()
        {
            return Err(ApiError::BadRequest(format!(
                "Step {i}: collection '{collection}' not found"
            )));
        }
    }
    Ok(())
}

async fn find(tx: &mut PgConnection, project: Uuid, id: &str) -> Result<Workflow, ApiError> {
    let id = Uuid::parse_str(id).map_err(|_| not_found())?;
    workflows::get(tx, project, id).await?.ok_or_else(not_found)
}

/// `POST …/workflows`: `201` with the workflow.
pub async fn create(
    State(state): State<AppState>,
    m: Member,
    body: JsonObject,
) -> Result<Pushed<(StatusCode, Json<Value>)>, ApiError> {
    let input = read_input(body, true)?;
    let pid = m.project.id;
    let now = chrono::Utc::now();
    let w = Workflow {
        id: Uuid::new_v4(),
        project_id: pid,
        name: input.name.unwrap_or_default(),
        description: input.description.flatten(),
        trigger_type: input.trigger_type.unwrap_or_default(),
        trigger_config: input.trigger_config.unwrap_or_else(|| json!({})),
        steps: input.steps.unwrap_or_else(|| json!([])),
        is_active: input.is_active.unwrap_or(true),
        created_by: Some(m.admin.id),
        created_at: now,
        updated_at: now,
    };
    let mut tx = state.db.begin().await?;
    m.lock(&mut tx).await?;
    check(&mut tx, pid, &w).await?;
    let w = workflows::insert(&mut *tx, &w).await?;
    let lagging = m.publish(&state, tx).await?;
    tracing::info!(project.id = %pid, workflow.id = %w.id, "created workflow {}", w.name);
    Ok(Pushed((StatusCode::CREATED, Json(out(&w))), lagging))
}

/// `GET …/workflows`: every workflow of the project in creation order.
pub async fn list(State(state): State<AppState>, m: Member) -> Result<Json<Vec<Value>>, ApiError> {
    let all = workflows::list(&state.db, m.project.id).await?;
    Ok(Json(all.iter().map(out).collect()))
}

/// `GET …/workflows/{workflow_id}`
pub async fn get(
    State(state): State<AppState>,
    m: Member,
    Path((_, id)): WorkflowPath,
) -> Result<Json<Value>, ApiError> {
    let mut conn = state.db.acquire().await?;
    Ok(Json(out(&find(&mut conn, m.project.id, &id).await?)))
}

/// `PATCH …/workflows/{workflow_id}`: absent keys keep their value; the result is checked as a
/// whole, like a create.
pub async fn update(
    State(state): State<AppState>,
    m: Member,
    Path((_, id)): WorkflowPath,
    body: JsonObject,
) -> Result<Pushed<Json<Value>>, ApiError> {
    let input = read_input(body, false)?;
    let pid = m.project.id;
    let mut tx = state.db.begin().await?;
    m.lock(&mut tx).await?;
    let mut w = find(&mut tx, pid, &id).await?;
    if let Some(name) = input.name {
        w.name = name;
    }
    if let Some(description) = input.description {
        w.description = description;
    }
    if let Some(t) = input.trigger_type {
        w.trigger_type = t;
    }
    if let Some(c) = input.trigger_config {
        w.trigger_config = c;
    }
    if let Some(s) = input.steps {
        w.steps = s;
    }
    if let Some(active) = input.is_active {
        w.is_active = active;
    }
    check(&mut tx, pid, &w).await?;
    let w = workflows::update(&mut *tx, &w).await?;
    let lagging = m.publish(&state, tx).await?;
    tracing::info!(project.id = %pid, workflow.id = %w.id, "updated workflow {}", w.name);
    Ok(Pushed(Json(out(&w)), lagging))
}

/// `DELETE …/workflows/{workflow_id}`: `204`, with its runs; workers start none of it after
/// this returns.
pub async fn delete(
    State(state): State<AppState>,
    m: Member,
    Path((_, id)): WorkflowPath,
) -> Result<Pushed<StatusCode>, ApiError> {
    let pid = m.project.id;
    let id = Uuid::parse_str(&id).map_err(|_| not_found())?;
    let mut tx = state.db.begin().await?;
    m.lock(&mut tx).await?;
    // The cell's transaction only once the project is ours: queued changes hold no cell
    // connection.
    let mut unit = state.cells.join(tx, &m.project.cell).await?;
    if !workflows::delete(unit.control(), pid, id).await? {
        return Err(not_found());
    }
    workflows::delete_runs(unit.cell(), &m.project, id).await?;
    let lagging = m.publish(&state, unit).await?;
    tracing::info!(project.id = %pid, workflow.id = %id, "deleted workflow");
    Ok(Pushed(StatusCode::NO_CONTENT, lagging))
}
