//! View definitions (`spec/views.md`; execution is the data plane's). Views are compiled into the
//! project config, so every change runs with the project row locked, bumps the config version in
//! the same transaction and is pushed to the workers after commit.

mod meta;
mod request;

use super::body::JsonObject;
use super::error::ApiError;
use super::member::{Member, Pushed};
use crate::db::catalog;
use crate::db::views::{self, BaseCollection, NewView, View, ViewVersion};
use crate::names::is_valid_slug;
use crate::state::AppState;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use serde_json::Value;
use sqlx::PgConnection;
use std::collections::HashMap;
use uuid::Uuid;

/// The `{view_name}` of the path. The static `…/views/operators` route shadows a view named
/// `operators` for GET only; its PATCH and DELETE land here with this name.
pub struct ViewName(String);

impl<S: Send + Sync> FromRequestParts<S> for ViewName {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound("View not found".into()))?;
        Ok(Self(
            params
                .get("view_name")
                .cloned()
                .unwrap_or_else(|| "operators".to_owned()),
        ))
    }
}

fn view_not_found() -> ApiError {
    ApiError::NotFound("View not found".into())
}

/// The list a PATCH sets (`None` when it leaves it alone or clears it).
fn given<T>(change: &request::Change<Vec<T>>) -> Option<&[T]> {
    change.as_ref().and_then(|c| c.as_deref())
}

fn base_not_found() -> ApiError {
    ApiError::BadRequest("Base collection not found".into())
}

/// The active base collection of the project, by id as sent.
async fn find_base(
    db: &mut PgConnection,
    project: Uuid,
    id: &str,
) -> Result<BaseCollection, ApiError> {
    let id = Uuid::parse_str(id).map_err(|_| base_not_found())?;
    views::base_collection(db, project, id)
        .await?
        .ok_or_else(base_not_found)
}

/// The columns views of this collection may name.
/// The columns a view may name, and which of them are `json` fields.
async fn columns(
    db: &mut PgConnection,
    collection: Uuid,
) -> Result<(Vec<String>, Vec<String>), ApiError> {
    let fields = catalog::all_fields(db, collection).await?;
    Ok((request::columns(&fields), request::json_columns(&fields)))
}

/// `POST …/views`
pub async fn create(
    State(state): State<AppState>,
    m: Member,
    body: JsonObject,
) -> Result<Pushed<(StatusCode, Json<View>)>, ApiError> {
    let req = request::create(body)?;
    if !is_valid_slug(&req.name) {
        return Err(ApiError::BadRequest(format!(
            "Invalid view name: {}",
            req.name
        )));
    }
    let duplicate =
        || ApiError::BadRequest(format!("View with name '{}' already exists", req.name));
    let p = &m.project;
    let mut tx = state.db.begin().await?;
    m.lock(&mut tx).await?;
    if views::active_by_name(&mut *tx, p.id, &req.name)
        .await?
        .is_some()
    {
        return Err(duplicate());
    }
    let base = find_base(&mut tx, p.id, &req.base_collection_id).await?;
    let def = &req.def;
    request::check_rules(def.filters.as_deref(), def.joins.as_deref())?;
    let (cols, json) = columns(&mut tx, base.id).await?;
    request::check_columns(
        def.projection.as_deref(),
        def.filters.as_deref(),
        def.sorts.as_deref(),
        &cols,
    )?;
    request::check_json_columns(def.filters.as_deref(), def.sorts.as_deref(), &json)?;
    let (default_limit, max_limit) = request::limits(req.default_limit, req.max_limit)?;
    let new = NewView {
        project_id: p.id,
        name: &req.name,
        display_name: &req.display_name,
        description: req.description.as_deref(),
        base_collection_id: base.id,
        def,
        default_limit,
        max_limit,
        created_by: m.admin.id,
    };
    let view = views::insert(&mut *tx, &new).await?.ok_or_else(duplicate)?;
    views::insert_version(&mut *tx, &view, m.admin.id).await?;
    let lagging = m.publish(&state, tx).await?;
    tracing::info!(project.id = %p.id, view.name = %view.name, "created view");
    Ok(Pushed((StatusCode::CREATED, Json(view)), lagging))
}

/// `GET …/views`: active views by name.
pub async fn list(State(state): State<AppState>, m: Member) -> Result<Json<Vec<View>>, ApiError> {
    Ok(Json(views::list_active(&state.db, m.project.id).await?))
}

/// `GET …/views/operators`
pub async fn operators(_m: Member) -> Json<Value> {
    Json(meta::operators())
}

async fn find(state: &AppState, project: Uuid, name: &str) -> Result<View, ApiError> {
    views::active_by_name(&state.db, project, name)
        .await?
        .ok_or_else(view_not_found)
}

/// `GET …/views/{view_name}`
pub async fn get(
    State(state): State<AppState>,
    m: Member,
    ViewName(name): ViewName,
) -> Result<Json<View>, ApiError> {
    Ok(Json(find(&state, m.project.id, &name).await?))
}

/// `PATCH …/views/{view_name}`: every call makes a new version, even when nothing changed.
pub async fn update(
    State(state): State<AppState>,
    m: Member,
    ViewName(name): ViewName,
    body: JsonObject,
) -> Result<Pushed<Json<View>>, ApiError> {
    let req = request::update(body)?;
    let p = &m.project;
    let mut tx = state.db.begin().await?;
    m.lock(&mut tx).await?;
    let mut view = views::active_by_name(&mut *tx, p.id, &name)
        .await?
        .ok_or_else(view_not_found)?;
    let (projection, filters, sorts) = (
        given(&req.projection),
        given(&req.filters),
        given(&req.sorts),
    );
    request::check_rules(filters, given(&req.joins))?;
    if projection.is_some() || filters.is_some() || sorts.is_some() {
        let base = views::base_collection(&mut *tx, p.id, view.base_collection_id)
            .await?
            .ok_or_else(base_not_found)?;
        let (cols, json) = columns(&mut tx, base.id).await?;
        request::check_columns(projection, filters, sorts, &cols)?;
        request::check_json_columns(filters, sorts, &json)?;
    }
    if let Some(d) = &req.display_name {
        view.display_name.clone_from(d);
    }
    if let Some(d) = &req.description {
        view.description = Some(d.clone());
    }
    req.apply(&mut view.def);
    let view = views::update(&mut *tx, &view).await?;
    views::insert_version(&mut *tx, &view, m.admin.id).await?;
    let lagging = m.publish(&state, tx).await?;
    Ok(Pushed(Json(view), lagging))
}

/// `DELETE …/views/{view_name}`: soft delete; the name becomes free.
pub async fn delete(
    State(state): State<AppState>,
    m: Member,
    ViewName(name): ViewName,
) -> Result<Pushed<StatusCode>, ApiError> {
    let p = &m.project;
    let mut tx = state.db.begin().await?;
    m.lock(&mut tx).await?;
    let view = views::active_by_name(&mut *tx, p.id, &name)
        .await?
        .ok_or_else(view_not_found)?;
    views::deactivate(&mut *tx, view.id).await?;
    let lagging = m.publish(&state, tx).await?;
    tracing::info!(project.id = %p.id, view.name = %view.name, "deleted view");
    Ok(Pushed(StatusCode::NO_CONTENT, lagging))
}

/// `GET …/views/{view_name}/versions`: newest first.
pub async fn versions(
    State(state): State<AppState>,
    m: Member,
    ViewName(name): ViewName,
) -> Result<Json<Vec<ViewVersion>>, ApiError> {
    let view = find(&state, m.project.id, &name).await?;
    Ok(Json(views::versions(&state.db, view.id).await?))
}

/// `GET …/views/{view_name}/meta`
pub async fn get_meta(
    State(state): State<AppState>,
    m: Member,
    ViewName(name): ViewName,
) -> Result<Json<Value>, ApiError> {
    let view = find(&state, m.project.id, &name).await?;
    let base = views::base_collection(&state.db, m.project.id, view.base_collection_id)
        .await?
        .ok_or_else(base_not_found)?;
    let fields = catalog::all_fields(&state.db, base.id).await?;
    Ok(Json(meta::meta(m.project.id, &view, &base, &fields)))
}

/// A view as a schema document carries it: the `POST …/views` body with the base collection
/// named instead of identified.
pub fn document_form(v: &View, base_name: &str) -> Value {
    serde_json::json!({
        "name": v.name, "display_name": v.display_name, "description": v.description,
        "base_collection": base_name, "projection": v.def.projection, "filters": v.def.filters,
        "sorts": v.def.sorts, "joins": v.def.joins, "params_schema": v.def.params_schema,
        "default_limit": v.default_limit, "max_limit": v.max_limit,
    })
}

/// Creates or updates a view from its document form inside a schema change (the project is
/// locked by the caller), with the checks of `POST …/views`.
pub async fn put_from_document(
    tx: &mut PgConnection,
    project: Uuid,
    actor: Uuid,
    doc: &Value,
) -> Result<(), ApiError> {
    let Value::Object(mut map) = doc.clone() else {
        return Err(ApiError::BadRequest("A view must be an object".into()));
    };
    let base_name = match map.remove("base_collection") {
        Some(Value::String(s)) => s,
        _ => return Err(ApiError::BadRequest("A view needs base_collection".into())),
    };
    let base = catalog::collection_by_name(&mut *tx, project, &base_name)
        .await?
        .ok_or_else(base_not_found)?;
    map.insert(
        "base_collection_id".into(),
        Value::String(base.id.to_string()),
    );
    let req = request::create(JsonObject(map))?;
    if !is_valid_slug(&req.name) {
        return Err(ApiError::BadRequest(format!(
            "Invalid view name: {}",
            req.name
        )));
    }
    let def = &req.def;
    request::check_rules(def.filters.as_deref(), def.joins.as_deref())?;
    let (cols, json) = columns(tx, base.id).await?;
    request::check_columns(
        def.projection.as_deref(),
        def.filters.as_deref(),
        def.sorts.as_deref(),
        &cols,
    )?;
    request::check_json_columns(def.filters.as_deref(), def.sorts.as_deref(), &json)?;
    let (default_limit, max_limit) = request::limits(req.default_limit, req.max_limit)?;
    match views::active_by_name(&mut *tx, project, &req.name).await? {
        Some(mut view) => {
            if view.base_collection_id != base.id {
                return Err(ApiError::BadRequest(format!(
                    "View '{}' reads another collection in the project; delete it first",
                    req.name
                )));
            }
            view.display_name = req.display_name.clone();
            view.description = req.description.clone();
            view.def = req.def.clone();
            let view = views::update(&mut *tx, &view).await?;
            views::set_limits(&mut *tx, view.id, default_limit, max_limit).await?;
            views::insert_version(&mut *tx, &view, actor).await?;
        }
        None => {
            let new = NewView {
                project_id: project,
                name: &req.name,
                display_name: &req.display_name,
                description: req.description.as_deref(),
                base_collection_id: base.id,
                def,
                default_limit,
                max_limit,
                created_by: actor,
            };
            let view = views::insert(&mut *tx, &new).await?.ok_or_else(|| {
                ApiError::BadRequest(format!("View with name '{}' already exists", req.name))
            })?;
            views::insert_version(&mut *tx, &view, actor).await?;
        }
    }
    Ok(())
}

/// Soft-deletes a view by name inside a schema change.
pub async fn delete_by_name(
    tx: &mut PgConnection,
    project: Uuid,
    name: &str,
) -> Result<(), ApiError> {
    let view = views::active_by_name(&mut *tx, project, name)
        .await?
        .ok_or_else(view_not_found)?;
    views::deactivate(&mut *tx, view.id).await?;
    Ok(())
}
