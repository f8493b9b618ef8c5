//! Collections and fields (`spec/schema.md`), plus what the spec never shipped: update a
//! collection's display name, delete a collection, read and update one field. Every change goes
//! through `changes::run` (one transaction under the project lock, pushed after commit).

use super::body::{Fields, JsonObject};
use super::error::ApiError;
use super::member::{Member, Pushed};
use super::params::Params;
use crate::changes::{run, Change};
use crate::db::catalog;
use crate::names::matches_pattern;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};
use uuid::Uuid;

const NAME_PATTERN_MSG: &str = "String should match pattern '^[a-z][a-z0-9_]*$'";

/// Reads `name` (request pattern, 422) and `display_name`.
pub(crate) fn name_and_display(f: &mut Fields) -> (Option<String>, Option<String>) {
    let name = f.string("name", 1, 63);
    let name = name.filter(|n| {
        let ok = matches_pattern(n);
        if !ok {
            f.reject("name", "string_pattern_mismatch", NAME_PATTERN_MSG, n);
        }
        ok
    });
    (name, f.string("display_name", 1, 255))
}

/// `POST …/schema/collections`
pub async fn create_collection(
    State(state): State<AppState>,
    m: Member,
    body: JsonObject,
) -> Result<Pushed<(StatusCode, Json<catalog::Collection>)>, ApiError> {
    let mut f = Fields::new(body);
    let (name, display_name) = name_and_display(&mut f);
    f.finish()?;
    let change = Change::CreateCollection {
        name: name.unwrap_or_default(),
        display_name: display_name.unwrap_or_default(),
    };
    let (outcome, ran) = run::one(&state, &m, change).await?;
    let c = read_collection(&state, &m, outcome.collection_id).await?;
    Ok(Pushed((StatusCode::CREATED, Json(c)), ran.lagging))
}

/// The active collection of a path's `{collection_id}`, or 404 `Collection not found`.
pub(crate) async fn collection_by_path_id(
    state: &AppState,
    m: &Member,
    id: &str,
) -> Result<catalog::Collection, ApiError> {
    let not_found = || ApiError::NotFound("Collection not found".into());
    let id = Uuid::parse_str(id).map_err(|_| not_found())?;
    catalog::collection_by_id(&state.db, m.project.id, id)
        .await?
        .ok_or_else(not_found)
}

/// Reads back the collection a change touched.
async fn read_collection(
    state: &AppState,
    m: &Member,
    id: Option<Uuid>,
) -> Result<catalog::Collection, ApiError> {
    let id = id.ok_or(ApiError::NotFound("Collection not found".into()))?;
    catalog::collection_by_id(&state.db, m.project.id, id)
        .await?
        .ok_or(ApiError::NotFound("Collection not found".into()))
}

/// Reads back the field a change touched.
async fn read_field(state: &AppState, id: Option<Uuid>) -> Result<catalog::Field, ApiError> {
    let id = id.ok_or(ApiError::NotFound("Field not found".into()))?;
    catalog::field_by_id(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound("Field not found".into()))
}

/// `PATCH …/schema/collections/{collection_name}`: the display name.
pub async fn update_collection(
    State(state): State<AppState>,
    m: Member,
    Path((_, name)): Path<(String, String)>,
    body: JsonObject,
) -> Result<Pushed<Json<catalog::Collection>>, ApiError> {
    let mut f = Fields::new(body);
    let display_name = f.string("display_name", 1, 255);
    f.finish()?;
    let change = Change::UpdateCollection {
        collection: name,
        display_name: display_name.unwrap_or_default(),
    };
    let (outcome, ran) = run::one(&state, &m, change).await?;
    let c = read_collection(&state, &m, outcome.collection_id).await?;
    Ok(Pushed(Json(c), ran.lagging))
}

/// `DELETE …/schema/collections/{collection_name}?force=`: drops the table. A collection with
/// records needs `force=true`; one that other collections' relations point at is refused.
pub async fn delete_collection(
    State(state): State<AppState>,
    m: Member,
    Path((_, name)): Path<(String, String)>,
    params: Params,
) -> Result<Pushed<Json<Value>>, ApiError> {
    let force = params.bool("force", false)?;
    let change = Change::DeleteCollection {
        collection: name,
        force,
    };
    operation(&state, &m, change).await
}

/// Runs one change and answers `SchemaOperationResponse`.
pub async fn operation(
    state: &AppState,
    m: &Member,
    change: Change,
) -> Result<Pushed<Json<Value>>, ApiError> {
    let op = change.op();
    let (outcome, ran) = run::one(state, m, change).await?;
    let body = json!({ "success": true, "operation": op, "details": outcome.details, "schema_version": ran.schema_version });
    Ok(Pushed(Json(body), ran.lagging))
}

/// `GET …/schema/collections`
pub async fn list_collections(
    State(state): State<AppState>,
    m: Member,
) -> Result<Json<Vec<catalog::Collection>>, ApiError> {
    Ok(Json(
        catalog::list_collections(&state.db, m.project.id).await?,
    ))
}

async fn find_collection(
    state: &AppState,
    project: Uuid,
    name: &str,
) -> Result<catalog::Collection, ApiError> {
    catalog::collection_by_name(&state.db, project, name)
        .await?
        .ok_or(ApiError::NotFound("Collection not found".into()))
}

/// `GET …/schema/collections/{collection_name}`
pub async fn get_collection(
    State(state): State<AppState>,
    m: Member,
    Path((_, name)): Path<(String, String)>,
) -> Result<Json<catalog::Collection>, ApiError> {
    Ok(Json(find_collection(&state, m.project.id, &name).await?))
}

/// `GET …/schema/collections/{collection_name}/fields`: neither deleted nor hidden.
pub async fn list_fields(
    State(state): State<AppState>,
    m: Member,
    Path((_, name)): Path<(String, String)>,
) -> Result<Json<Vec<catalog::Field>>, ApiError> {
    let c = find_collection(&state, m.project.id, &name).await?;
    let fields = catalog::all_fields(&state.db, c.id).await?;
    Ok(Json(
        fields
            .into_iter()
            .filter(|f| !f.is_deleted && !f.is_hidden)
            .collect(),
    ))
}

/// `POST …/schema/collections/{collection_name}/fields`
pub async fn create_field(
    State(state): State<AppState>,
    m: Member,
    Path((_, collection)): Path<(String, String)>,
    body: JsonObject,
) -> Result<Pushed<(StatusCode, Json<catalog::Field>)>, ApiError> {
    let mut f = Fields::new(body);
    let (name, display_name) = name_and_display(&mut f);
    let field_type = f.string("field_type", 0, 32);
    let is_required = f.bool("is_required", false);
    let is_unique = f.bool("is_unique", false);
    let is_indexed = f.bool("is_indexed", false);
    let default_value = f.opt_string("default_value", 10_000);
    f.finish()?;
    let change = Change::AddField {
        collection,
        name: name.unwrap_or_default(),
        display_name: display_name.unwrap_or_default(),
        field_type: field_type.unwrap_or_default(),
        is_required,
        is_unique,
        is_indexed,
        default_value,
    };
    let (outcome, ran) = run::one(&state, &m, change).await?;
    let field = read_field(&state, outcome.field_id).await?;
    Ok(Pushed((StatusCode::CREATED, Json(field)), ran.lagging))
}

/// `GET …/schema/collections/{collection_name}/fields/{field_name}` (soft-deleted ones too, so
/// the console can offer to restore them; hidden ones never).
pub async fn get_field(
    State(state): State<AppState>,
    m: Member,
    Path((_, cname, fname)): Path<(String, String, String)>,
) -> Result<Json<catalog::Field>, ApiError> {
    let c = find_collection(&state, m.project.id, &cname).await?;
    catalog::all_fields(&state.db, c.id)
        .await?
        .into_iter()
        .find(|f| f.name == fname && !f.is_hidden)
        .map(Json)
        .ok_or(ApiError::NotFound("Field not found".into()))
}

/// `PATCH …/schema/collections/{collection_name}/fields/{field_name}`: display name and flags.
pub async fn update_field(
    State(state): State<AppState>,
    m: Member,
    Path((_, collection, field)): Path<(String, String, String)>,
    body: JsonObject,
) -> Result<Pushed<Json<catalog::Field>>, ApiError> {
    let mut f = Fields::new(body);
    let display_name = f.opt_string("display_name", 255);
    let is_required = f.opt_bool("is_required");
    let is_unique = f.opt_bool("is_unique");
    let is_indexed = f.opt_bool("is_indexed");
    let default_value = f.nullable_string("default_value", 10_000);
    let display_field = f.nullable_string("display_field", 63);
    f.finish()?;
    let change = Change::UpdateField {
        collection,
        field,
        display_name,
        is_required,
        is_unique,
        is_indexed,
        default_value,
        display_field,
    };
    let (outcome, ran) = run::one(&state, &m, change).await?;
    let field = read_field(&state, outcome.field_id).await?;
    Ok(Pushed(Json(field), ran.lagging))
}
