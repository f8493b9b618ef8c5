//! Collections and fields (`spec/schema.md`). Every change runs catalog + DDL + version bump in one
//! transaction, with the project row locked (concurrent changes of one project serialize), and
//! is pushed to the workers after commit.

use super::body::{Fields, JsonObject};
use super::error::ApiError;
use super::member::{Member, Pushed};
use crate::db::{catalog, ddl, projects};
use crate::names::{is_valid_slug, matches_pattern, SYSTEM_COLUMNS};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use model::value::coerce_text;
use model::FieldType;
use serde_json::json;
use uuid::Uuid;

const NAME_PATTERN_MSG: &str = "String should match pattern '^[a-z][a-z0-9_]*$'";

/// Reads `name` (request pattern, 422) and `display_name`.
fn name_and_display(f: &mut Fields) -> (Option<String>, Option<String>) {
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
    let (name, display_name) = (name.unwrap_or_default(), display_name.unwrap_or_default());
    if !is_valid_slug(&name) {
        return Err(ApiError::BadRequest("Invalid collection name. Must be lowercase, start with a letter, and contain only letters, numbers, and underscores.".into()));
    }
    let p = &m.project;
    let mut tx = state.db.begin().await?;
    projects::lock_for(&mut *tx, p.id, m.admin.id)
        .await?
        .ok_or(ApiError::NotFound("Project not found"))?;
    let new = catalog::NewCollection {
        project_id: p.id,
        name: &name,
        display_name: &display_name,
        is_system: false,
    };
    let c = catalog::insert_collection(&mut *tx, &new)
        .await?
        .ok_or(ApiError::Conflict(
            "Collection with this name already exists",
        ))?;
    ddl::as_project_role(
        &mut tx,
        &p.db_role,
        &[ddl::create_collection_table(&p.db_schema, &name)],
    )
    .await?;
    let payload =
        json!({ "schema_name": p.db_schema, "table_name": name, "collection_name": name });
    projects::log_schema_op(
        &mut *tx,
        p.id,
        Some(c.id),
        "create_table",
        payload,
        m.admin.id,
    )
    .await?;
    projects::bump_version(&mut *tx, p.id).await?;
    tx.commit().await?;
    let lagging = state.push_project(p.id).await?;
    Ok(Pushed((StatusCode::CREATED, Json(c)), lagging))
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
        .ok_or(ApiError::NotFound("Collection not found"))
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

/// A checked field-creation request.
struct FieldRequest {
    name: String,
    display_name: String,
    field_type: String,
    is_required: bool,
    is_unique: bool,
    is_indexed: bool,
    default_value: Option<String>,
}

fn field_request(body: JsonObject) -> Result<FieldRequest, ApiError> {
    let mut f = Fields::new(body);
    let (name, display_name) = name_and_display(&mut f);
    let field_type = f.string("field_type", 0, 32);
    let is_required = f.bool("is_required", false);
    let is_unique = f.bool("is_unique", false);
    let is_indexed = f.bool("is_indexed", false);
    let default_value = f.opt_string("default_value", 10_000);
    f.finish()?;
    Ok(FieldRequest {
        name: name.unwrap_or_default(),
        display_name: display_name.unwrap_or_default(),
        field_type: field_type.unwrap_or_default(),
        is_required,
        is_unique,
        is_indexed,
        default_value,
    })
}

fn system_field(name: &str) -> ApiError {
    ApiError::BadRequest(format!(
        "Field '{name}' is a system field and cannot be modified."
    ))
}

/// `POST …/schema/collections/{collection_name}/fields`
pub async fn create_field(
    State(state): State<AppState>,
    m: Member,
    Path((_, cname)): Path<(String, String)>,
    body: JsonObject,
) -> Result<Pushed<(StatusCode, Json<catalog::Field>)>, ApiError> {
    let req = field_request(body)?;
    let p = &m.project;
    let mut tx = state.db.begin().await?;
    projects::lock_for(&mut *tx, p.id, m.admin.id)
        .await?
        .ok_or(ApiError::NotFound("Project not found"))?;
    let c = catalog::collection_by_name(&mut *tx, p.id, &cname)
        .await?
        .ok_or(ApiError::NotFound("Collection not found"))?;
    if !is_valid_slug(&req.name) {
        return Err(ApiError::BadRequest("Invalid field name. Must be lowercase, start with a letter, and contain only letters, numbers, and underscores.".into()));
    }
    let ty = FieldType::parse(&req.field_type)
        .filter(|t| FieldType::CREATABLE.contains(t))
        .ok_or_else(|| ApiError::BadRequest("Invalid field type. Must be one of: string, int, float, bool, date, datetime, uuid".into()))?;
    let existing = catalog::all_fields(&mut *tx, c.id).await?;
    if let Some(clash) = existing
        .iter()
        .find(|f| f.name == req.name || f.sql_column_name == req.name)
    {
        return Err(if clash.is_system {
            system_field(&req.name)
        } else {
            ApiError::Conflict("Field with this name already exists")
        });
    }
    if SYSTEM_COLUMNS.contains(&req.name.as_str()) {
        return Err(system_field(&req.name));
    }
    if req.is_required && req.default_value.is_none() {
        return Err(ApiError::BadRequest(
            "Required fields must have a default value for existing rows".into(),
        ));
    }
    let default = match &req.default_value {
        Some(v) => Some(
            coerce_text(ty, v)
                .map_err(|e| ApiError::BadRequest(format!("Invalid default value '{v}': {e}")))?,
        ),
        None => None,
    };
    let field = catalog::NewField {
        collection_id: c.id,
        name: &req.name,
        display_name: &req.display_name,
        field_type: ty.as_str(),
        sql_column_name: &req.name,
        sql_type: ty.sql_type(),
        is_required: req.is_required,
        is_unique: req.is_unique,
        is_indexed: req.is_indexed,
        default_value: default.as_deref(),
        is_system: false,
        is_hidden: false,
    };
    let created = catalog::insert_field(&mut *tx, &field)
        .await?
        .ok_or(ApiError::Conflict("Field with this name already exists"))?;
    let add = ddl::AddColumn {
        schema: &p.db_schema,
        table: &c.sql_table_name,
        column: &req.name,
        sql_type: ty.sql_type(),
        required_default: if req.is_required {
            default.as_deref()
        } else {
            None
        },
        unique: req.is_unique,
        indexed: req.is_indexed,
    };
    ddl::as_project_role(&mut tx, &p.db_role, &ddl::add_column(&add)).await?;
    let payload = json!({
        "table_name": c.sql_table_name, "column_name": req.name, "field_type": ty.as_str(),
        "is_required": req.is_required, "is_unique": req.is_unique, "is_indexed": req.is_indexed,
    });
    projects::log_schema_op(
        &mut *tx,
        p.id,
        Some(c.id),
        "add_column",
        payload,
        m.admin.id,
    )
    .await?;
    projects::bump_version(&mut *tx, p.id).await?;
    tx.commit().await?;
    let lagging = state.push_project(p.id).await?;
    Ok(Pushed((StatusCode::CREATED, Json(created)), lagging))
}
