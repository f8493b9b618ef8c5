//! Schema evolution (`spec/schema-evolution.md`): renames with aliases, soft/hard delete, restore,
//! safe type changes, previews; and what the spec's README promised and never shipped: pending
//! changes (stage, list, preview together, apply as one transaction, discard) and the history of
//! applied change sets.

use super::body::{Fields, JsonObject};
use super::error::ApiError;
use super::member::{Member, Pushed};
use super::params::Params;
use super::schema::{collection_by_path_id, operation};
use crate::changes::run::{self, Mode};
use crate::changes::{is_safe_conversion, Change, SAFE_CONVERSIONS};
use crate::db::{catalog, history};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use model::error_body::validation_item;
use serde_json::{json, Map, Value};
use uuid::Uuid;

/// The active collection of the path id, or 404 (checked before the body, as the spec orders).
async fn collection_ref(state: &AppState, m: &Member, id: &str) -> Result<String, ApiError> {
    Ok(collection_by_path_id(state, m, id).await?.id.to_string())
}

/// A field of that collection (soft-deleted ones included), or 404.
async fn field_ref(state: &AppState, collection: &str, id: &str) -> Result<String, ApiError> {
    let id = Uuid::parse_str(id).map_err(|_| ApiError::NotFound("Field not found".into()))?;
    match catalog::field_by_id(&state.db, id).await? {
        Some(f) if f.collection_id.to_string() == collection => Ok(id.to_string()),
        _ => Err(ApiError::NotFound("Field not found".into())),
    }
}

/// `new_name` (1–63) and the optional `new_display_name`.
fn rename_body(body: JsonObject) -> Result<(String, Option<String>), ApiError> {
    let mut f = Fields::new(body);
    let new_name = f.string("new_name", 1, 63);
    let display = f.opt_string("new_display_name", 255);
    f.finish()?;
    Ok((new_name.unwrap_or_default(), display))
}

/// `POST …/evolution/collections/{collection_id}/rename`
pub async fn rename_collection(
    State(state): State<AppState>,
    m: Member,
    Path((_, cid)): Path<(String, String)>,
    body: JsonObject,
) -> Result<Pushed<Json<Value>>, ApiError> {
    let collection = collection_ref(&state, &m, &cid).await?;
    let (new_name, new_display_name) = rename_body(body)?;
    let change = Change::RenameCollection {
        collection,
        new_name,
        new_display_name,
    };
    operation(&state, &m, change).await
}

/// `POST …/evolution/collections/{collection_id}/fields/{field_id}/rename`
pub async fn rename_field(
    State(state): State<AppState>,
    m: Member,
    Path((_, cid, fid)): Path<(String, String, String)>,
    body: JsonObject,
) -> Result<Pushed<Json<Value>>, ApiError> {
    let collection = collection_ref(&state, &m, &cid).await?;
    let field = field_ref(&state, &collection, &fid).await?;
    let (new_name, new_display_name) = rename_body(body)?;
    let change = Change::RenameField {
        collection,
        field,
        new_name,
        new_display_name,
    };
    operation(&state, &m, change).await
}

/// `POST …/fields/{field_id}/soft-delete`
pub async fn soft_delete_field(
    State(state): State<AppState>,
    m: Member,
    Path((_, cid, fid)): Path<(String, String, String)>,
) -> Result<Pushed<Json<Value>>, ApiError> {
    let collection = collection_ref(&state, &m, &cid).await?;
    let field = field_ref(&state, &collection, &fid).await?;
    operation(&state, &m, Change::SoftDeleteField { collection, field }).await
}

/// `POST …/fields/{field_id}/restore`
pub async fn restore_field(
    State(state): State<AppState>,
    m: Member,
    Path((_, cid, fid)): Path<(String, String, String)>,
) -> Result<Pushed<Json<Value>>, ApiError> {
    let collection = collection_ref(&state, &m, &cid).await?;
    let field = field_ref(&state, &collection, &fid).await?;
    operation(&state, &m, Change::RestoreField { collection, field }).await
}

/// `POST …/fields/{field_id}/hard-delete?force=`
pub async fn hard_delete_field(
    State(state): State<AppState>,
    m: Member,
    Path((_, cid, fid)): Path<(String, String, String)>,
    params: Params,
) -> Result<Pushed<Json<Value>>, ApiError> {
    let force = params.bool("force", false)?;
    let collection = collection_ref(&state, &m, &cid).await?;
    let field = field_ref(&state, &collection, &fid).await?;
    let change = Change::HardDeleteField {
        collection,
        field,
        force,
    };
    operation(&state, &m, change).await
}

/// `POST …/fields/{field_id}/change-type`
pub async fn change_field_type(
    State(state): State<AppState>,
    m: Member,
    Path((_, cid, fid)): Path<(String, String, String)>,
    body: JsonObject,
) -> Result<Pushed<Json<Value>>, ApiError> {
    let collection = collection_ref(&state, &m, &cid).await?;
    let field = field_ref(&state, &collection, &fid).await?;
    let mut f = Fields::new(body);
    let new_type = f.string("new_type", 1, 32);
    f.finish()?;
    let change = Change::ChangeFieldType {
        collection,
        field,
        new_type: new_type.unwrap_or_default(),
    };
    operation(&state, &m, change).await
}

/// Reads a required string out of preview `params`, with the spec's message when missing.
fn param(params: &Map<String, Value>, key: &str, missing: &str) -> Result<String, ApiError> {
    match params.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        _ => Err(ApiError::BadRequest(missing.to_owned())),
    }
}

/// `POST …/evolution/collections/{collection_id}/preview-migration`: runs the change in a
/// transaction that is rolled back and shows the SQL it ran, with warnings.
pub async fn preview_migration(
    State(state): State<AppState>,
    m: Member,
    Path((_, cid)): Path<(String, String)>,
    body: JsonObject,
) -> Result<Json<Value>, ApiError> {
    let coll = collection_by_path_id(&state, &m, &cid).await?;
    let collection = coll.id.to_string();
    let mut f = Fields::new(body);
    let operation = f.string("operation", 1, 64).unwrap_or_default();
    let params = match f.value("params") {
        Some(Value::Object(p)) => p.clone(),
        Some(other) => {
            let item = validation_item(
                "dict_type",
                &["body", "params"],
                "Input should be a valid dictionary",
                other.clone(),
            );
            return Err(ApiError::Validation(vec![item]));
        }
        None => {
            f.string("params", 0, 0);
            Map::new()
        }
    };
    f.finish()?;
    let c = collection.clone();
    let field = || param(&params, "field_id", "field_id is required");
    let change = match operation.as_str() {
        "rename_collection" => Change::RenameCollection {
            collection: c,
            new_name: param(&params, "new_name", "new_name is required")?,
            new_display_name: None,
        },
        "rename_field" => {
            let msg = "field_id and new_name are required";
            Change::RenameField {
                collection: c,
                field: param(&params, "field_id", msg)?,
                new_name: param(&params, "new_name", msg)?,
                new_display_name: None,
            }
        }
        "soft_delete_field" => Change::SoftDeleteField {
            collection: c,
            field: field()?,
        },
        "hard_delete_field" => Change::HardDeleteField {
            collection: c,
            field: field()?,
            force: true,
        },
        "change_field_type" => {
            let msg = "field_id and new_type are required";
            let (field, new_type) = (
                param(&params, "field_id", msg)?,
                param(&params, "new_type", msg)?,
            );
            // An unsafe conversion is previewed as warnings without steps, not refused.
            let id = Uuid::parse_str(&field).ok();
            let current = catalog::all_fields(&state.db, coll.id)
                .await?
                .into_iter()
                .find(|f| Some(f.id) == id || f.name == field)
                .ok_or_else(|| ApiError::BadRequest("Field not found".into()))?;
            let from = current.field_type;
            // `boolean` names `bool`.
            let to = model::FieldType::parse(&new_type).map_or(new_type.as_str(), |t| t.as_str());
            if from != to && !is_safe_conversion(&from, to) {
                let warnings = [
                    format!("UNSAFE: Cannot convert {from} → {new_type} directly"),
                    "Use migration wizard: create new column, migrate data, swap".to_owned(),
                ];
                return Ok(Json(json!({
                    "operation": operation, "collection": coll.name, "steps": [],
                    "warnings": warnings, "params": params,
                })));
            }
            Change::ChangeFieldType {
                collection: c,
                field,
                new_type,
            }
        }
        other => return Err(ApiError::BadRequest(format!("Unknown operation: {other}"))),
    };
    let (steps, warnings) = match run::run(
        &state,
        &m,
        "preview",
        std::slice::from_ref(&change),
        Mode::Preview,
    )
    .await
    {
        Ok(ran) => (ran.steps, ran.warnings),
        Err(ApiError::NotFound(msg)) if msg == "Field not found" => {
            return Err(ApiError::BadRequest("Field not found".into()))
        }
        Err(e) => return Err(e),
    };
    Ok(Json(json!({
        "operation": operation, "collection": coll.name, "steps": steps, "warnings": warnings,
        "params": params,
    })))
}

/// `GET …/evolution/aliases`: unexpired aliases of the project.
pub async fn aliases(State(state): State<AppState>, m: Member) -> Result<Json<Value>, ApiError> {
    let collections = catalog::collection_aliases(&state.db, m.project.id).await?;
    let fields = catalog::field_aliases(&state.db, m.project.id).await?;
    Ok(Json(
        json!({ "collection_aliases": collections, "field_aliases": fields }),
    ))
}

/// `GET …/evolution/safe-conversions`
pub async fn safe_conversions(_m: Member) -> Json<Value> {
    let list: Vec<Value> = SAFE_CONVERSIONS
        .iter()
        .map(|(from, to, d)| json!({ "from": from, "to": to, "description": d }))
        .collect();
    Json(json!({ "safe_conversions": list }))
}

/// Parses a change body (`{"op": …}`), with a 422 that says what is wrong.
fn parse_change(value: Value) -> Result<Change, ApiError> {
    serde_json::from_value(value.clone()).map_err(|e| {
        ApiError::Validation(vec![validation_item(
            "change_invalid",
            &["body"],
            &format!("Invalid change: {e}"),
            value,
        )])
    })
}

/// The staged changes of the project, parsed.
async fn staged(
    state: &AppState,
    m: &Member,
) -> Result<(Vec<history::Pending>, Vec<Change>), ApiError> {
    let pending = history::pending_list(&state.db, m.project.id).await?;
    let changes = pending
        .iter()
        .map(|p| parse_change(p.change.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((pending, changes))
}

/// `GET …/evolution/pending`: staged changes in the order they will run.
pub async fn list_pending(
    State(state): State<AppState>,
    m: Member,
) -> Result<Json<Value>, ApiError> {
    let pending = history::pending_list(&state.db, m.project.id).await?;
    Ok(Json(json!({ "pending": pending })))
}

/// `POST …/evolution/pending`: stages one change. It is checked at once, after the changes
/// already staged (a dry run), so a change that could never apply is refused now, not later.
pub async fn stage(
    State(state): State<AppState>,
    m: Member,
    JsonObject(body): JsonObject,
) -> Result<(StatusCode, Json<history::Pending>), ApiError> {
    let change = parse_change(Value::Object(body))?;
    let (_, mut changes) = staged(&state, &m).await?;
    changes.push(change.clone());
    run::run(&state, &m, "pending", &changes, Mode::Preview).await?;
    let stored = history::stage(&state.db, m.project.id, &json!(change), m.admin.id).await?;
    Ok((StatusCode::CREATED, Json(stored)))
}

/// `DELETE …/evolution/pending`: discards every staged change.
pub async fn discard_all(
    State(state): State<AppState>,
    m: Member,
) -> Result<Json<Value>, ApiError> {
    let n = history::discard(&state.db, m.project.id, None).await?;
    Ok(Json(json!({ "discarded": n })))
}

/// `DELETE …/evolution/pending/{change_id}`: discards one staged change.
pub async fn discard_one(
    State(state): State<AppState>,
    m: Member,
    Path((_, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let id =
        Uuid::parse_str(&id).map_err(|_| ApiError::NotFound("Pending change not found".into()))?;
    match history::discard(&state.db, m.project.id, Some(id)).await? {
        0 => Err(ApiError::NotFound("Pending change not found".into())),
        _ => Ok(StatusCode::NO_CONTENT),
    }
}

/// `POST …/evolution/pending/preview`: every staged change run together and rolled back.
pub async fn preview_pending(
    State(state): State<AppState>,
    m: Member,
) -> Result<Json<Value>, ApiError> {
    let (_, changes) = staged(&state, &m).await?;
    let ran = run::run(&state, &m, "pending", &changes, Mode::Preview).await?;
    Ok(Json(json!({
        "changes": changes, "steps": ran.steps, "warnings": ran.warnings,
        "schema_version": ran.schema_version,
        "destructive": changes.iter().any(Change::is_destructive),
    })))
}

/// `POST …/evolution/apply`: applies every staged change as one transaction (all or nothing),
/// one schema version, then clears the queue.
pub async fn apply_pending(
    State(state): State<AppState>,
    m: Member,
) -> Result<Pushed<Json<Value>>, ApiError> {
    let (pending, changes) = staged(&state, &m).await?;
    if changes.is_empty() {
        return Err(ApiError::BadRequest(
            "There are no pending changes to apply".into(),
        ));
    }
    let ids: Vec<Uuid> = pending.iter().map(|p| p.id).collect();
    let ran = run::run_consuming(&state, &m, "pending", &changes, Mode::Apply, &ids, None).await?;
    let results: Vec<Value> = changes
        .iter()
        .zip(&ran.outcomes)
        .map(|(c, o)| json!({ "operation": c.op(), "details": o.details }))
        .collect();
    let body = json!({
        "success": true, "applied": changes.len(), "schema_version": ran.schema_version,
        "results": results, "steps": ran.steps, "warnings": ran.warnings,
    });
    Ok(Pushed(Json(body), ran.lagging))
}

/// `GET …/evolution/history?limit=&offset=`: applied change sets, newest first.
pub async fn history(
    State(state): State<AppState>,
    m: Member,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    let limit = params.int("limit", 50, 1, 1000)?;
    let offset = params.int("offset", 0, 0, i64::MAX)?;
    let entries = history::list(&state.db, m.project.id, limit, offset).await?;
    let current = history::schema_version(&state.db, m.project.id).await?;
    Ok(Json(
        json!({ "schema_version": current, "history": entries }),
    ))
}
