//! Relations (`spec/relations.md`): many-to-one fields with real foreign keys, their reverse side,
//! and the static options list.

use super::body::{Fields, JsonObject};
use super::error::ApiError;
use super::member::{Member, Pushed};
use super::schema::{collection_by_path_id, operation};
use crate::changes::{run, Change};
use crate::db::catalog::{self, Field};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};
use uuid::Uuid;

/// `RelationFieldOut`.
fn relation_out(f: &Field, target_name: &str) -> Value {
    json!({
        "id": f.id, "name": f.name, "display_name": f.display_name, "field_type": f.field_type,
        "sql_column_name": f.sql_column_name, "is_required": f.is_required,
        "relation_target_collection_id": f.relation_target_collection_id,
        "relation_type": f.relation_type, "relation_on_delete": f.relation_on_delete,
        "relation_display_field": f.relation_display_field,
        "target_collection_name": target_name, "created_at": f.created_at, "updated_at": f.updated_at,
    })
}

async fn name_of(state: &AppState, m: &Member, id: Option<Uuid>) -> Result<String, ApiError> {
    let Some(id) = id else {
        return Ok(String::new());
    };
    Ok(catalog::collection_by_id(&state.db, m.project.id, id)
        .await?
        .map(|c| c.name)
        .unwrap_or_default())
}

/// `POST …/schema/relations/collections/{collection_id}/relations`
pub async fn create(
    State(state): State<AppState>,
    m: Member,
    Path((_, cid)): Path<(String, String)>,
    body: JsonObject,
) -> Result<Pushed<(StatusCode, Json<Value>)>, ApiError> {
    let mut f = Fields::new(body);
    let name = f.string("name", 1, 63);
    let display_name = f.string("display_name", 1, 255);
    let target = f.string("target_collection_id", 0, 200);
    let relation_type = f.opt_string("relation_type", 64);
    let on_delete = f.opt_string("on_delete", 64);
    let display_field = f.opt_string("display_field", 255);
    let is_required = f.bool("is_required", false);
    f.finish()?;
    let c = collection_by_path_id(&state, &m, &cid).await?;
    let change = Change::AddRelation {
        collection: c.id.to_string(),
        name: name.unwrap_or_default(),
        display_name: display_name.unwrap_or_default(),
        target: target.unwrap_or_default(),
        relation_type: relation_type.unwrap_or_else(|| "many_to_one".into()),
        on_delete: on_delete.unwrap_or_else(|| "RESTRICT".into()),
        display_field,
        is_required,
    };
    let (outcome, ran) = run::one(&state, &m, change).await?;
    let field = match outcome.field_id {
        Some(id) => catalog::field_by_id(&state.db, id).await?,
        None => None,
    }
    .ok_or(ApiError::NotFound("Field not found".into()))?;
    let target = name_of(&state, &m, field.relation_target_collection_id).await?;
    Ok(Pushed(
        (StatusCode::CREATED, Json(relation_out(&field, &target))),
        ran.lagging,
    ))
}

/// `GET …/schema/relations/collections/{collection_id}/relations`
pub async fn list(
    State(state): State<AppState>,
    m: Member,
    Path((_, cid)): Path<(String, String)>,
) -> Result<Json<Vec<Value>>, ApiError> {
    let c = collection_by_path_id(&state, &m, &cid).await?;
    let mut out = Vec::new();
    for f in catalog::all_fields(&state.db, c.id).await? {
        if f.relation_target_collection_id.is_some() && !f.is_deleted {
            let target = name_of(&state, &m, f.relation_target_collection_id).await?;
            out.push(relation_out(&f, &target));
        }
    }
    Ok(Json(out))
}

/// `GET …/schema/relations/collections/{collection_id}/reverse-relations`
pub async fn reverse(
    State(state): State<AppState>,
    m: Member,
    Path((_, cid)): Path<(String, String)>,
) -> Result<Json<Vec<Value>>, ApiError> {
    let c = collection_by_path_id(&state, &m, &cid).await?;
    let mut out = Vec::new();
    for f in catalog::relations_to(&state.db, c.id).await? {
        if f.is_deleted {
            continue;
        }
        let Some(src) = catalog::collection_by_id(&state.db, m.project.id, f.collection_id).await?
        else {
            continue;
        };
        out.push(json!({
            "id": f.id, "name": f.name, "display_name": f.display_name,
            "source_collection_id": src.id, "source_collection_name": src.name,
            "relation_type": "one_to_many", "sql_column_name": f.sql_column_name,
        }));
    }
    Ok(Json(out))
}

/// `DELETE …/schema/relations/collections/{collection_id}/relations/{field_id}`: drops the
/// relation's key column and its foreign key (the spec never shipped this; it answers as the
/// schema-evolution operations do).
pub async fn delete(
    State(state): State<AppState>,
    m: Member,
    Path((_, cid, fid)): Path<(String, String, String)>,
) -> Result<Pushed<Json<Value>>, ApiError> {
    let c = collection_by_path_id(&state, &m, &cid).await?;
    let field = Uuid::parse_str(&fid)
        .ok()
        .ok_or(ApiError::NotFound("Relation not found".into()))?;
    match catalog::field_by_id(&state.db, field).await? {
        Some(f) if f.collection_id == c.id && f.relation_target_collection_id.is_some() => {}
        _ => return Err(ApiError::NotFound("Relation not found".into())),
    }
    let change = Change::HardDeleteField {
        collection: c.id.to_string(),
        field: field.to_string(),
        force: true,
    };
    operation(&state, &m, change).await
}

/// `GET …/schema/relations/relation-options`
pub async fn options(_m: Member) -> Json<Value> {
    Json(json!({
        "relation_types": [{"value": "many_to_one", "label": "Many to One", "description": "e.g., Order → Customer"}],
        "on_delete_actions": [
            {"value": "RESTRICT", "label": "Restrict", "description": "Prevent deletion if referenced"},
            {"value": "CASCADE", "label": "Cascade", "description": "Delete related records"},
            {"value": "SET NULL", "label": "Set Null", "description": "Set reference to null"}
        ]
    }))
}
