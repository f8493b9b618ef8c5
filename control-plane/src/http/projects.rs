//! Projects (`spec/projects.md`). Creating one places it on the emptiest cell, provisions its
//! schema, its role and the `_users` system collection there with its catalog rows (one change,
//! see `crate::cells`), then pushes the new config.

use super::auth::Admin;
use super::body::{Fields, JsonObject};
use super::error::ApiError;
use super::member::{Member, Pushed};
use crate::cells::Unit;
use crate::db::projects::{self, Project};
use crate::db::{auth, catalog, ddl};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use model::config::project_db_name;
use serde_json::{json, Value};
use uuid::Uuid;

fn out(p: &Project) -> Value {
    json!({ "id": p.id, "name": p.name })
}

/// `POST /api/projects`
pub async fn create(
    State(state): State<AppState>,
    admin: Admin,
    body: JsonObject,
) -> Result<Pushed<(StatusCode, Json<Value>)>, ApiError> {
    if admin.token.as_ref().is_some_and(|t| t.projects.is_some()) {
        return Err(ApiError::Forbidden(
            "This API token is limited to some projects and cannot create others",
        ));
    }
    let mut f = Fields::new(body);
    let name = f.string("name", 0, 255);
    f.finish()?;
    let id = Uuid::new_v4();
    let db_name = project_db_name(id);
    let project = Project {
        id,
        name: name.unwrap_or_default(),
        db_schema: db_name.clone(),
        db_role: db_name,
        cell: state.cells.emptiest().await?,
    };
    let mut unit = state.cells.begin(&project).await?;
    projects::insert(unit.control(), &project, admin.id).await?;
    ddl::create_project_namespace(unit.cell(), &project.db_schema, &project.db_role).await?;
    let payload = json!({ "schema_name": project.db_schema });
    projects::log_schema_op(unit.control(), id, None, "create_schema", payload, admin.id).await?;
    create_users_collection(&mut unit, &project, admin.id).await?;
    auth::create_project_tables(&mut unit, &project).await?;
    auth::rotate_signing_key(unit.control(), id).await?;
    unit.commit().await?;
    tracing::info!(project.id = %id, cell = %project.cell, "created project on cell {}", project.cell);
    let lagging = state.push_project(id).await?;
    Ok(Pushed((StatusCode::CREATED, Json(out(&project))), lagging))
}

type SystemField = (
    &'static str,
    &'static str,
    &'static str,
    bool,
    Option<&'static str>,
    bool,
);

/// The `_users` system collection: catalog rows and table (`spec/users-collection.md`).
async fn create_users_collection(
    unit: &mut Unit,
    p: &Project,
    actor: Uuid,
) -> Result<(), ApiError> {
    let new = catalog::NewCollection {
        project_id: p.id,
        name: "_users",
        display_name: "Users",
        is_system: true,
    };
    let c = catalog::insert_collection(unit.control(), &new)
        .await?
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("_users already exists")))?;
    ddl::as_project_role(
        unit.cell(),
        &p.db_role,
        &[ddl::create_users_table(&p.db_schema)],
    )
    .await?;
    // (name, display name, type, required, default, hidden)
    let system_fields: [SystemField; 4] = [
        ("email", "Email", "string", true, None, false),
        (
            "password_hash",
            "Password Hash",
            "string",
            false,
            None,
            true,
        ),
        (
            "is_email_verified",
            "Email Verified",
            "bool",
            false,
            Some("false"),
            false,
        ),
        (
            "is_disabled",
            "Disabled",
            "bool",
            false,
            Some("false"),
            false,
        ),
    ];
    for (name, display, ty, required, default, hidden) in system_fields {
        let sql_type = if ty == "bool" { "boolean" } else { "text" };
        let field = catalog::NewField {
            collection_id: c.id,
            name,
            display_name: display,
            field_type: ty,
            sql_column_name: name,
            sql_type,
            is_required: required,
            is_unique: name == "email",
            is_indexed: name == "email",
            default_value: default,
            is_system: true,
            is_hidden: hidden,
            relation: None,
        };
        catalog::insert_field(unit.control(), &field).await?;
    }
    let payload =
        json!({ "schema_name": p.db_schema, "table_name": "_users", "collection_name": "_users" });
    projects::log_schema_op(
        unit.control(),
        p.id,
        Some(c.id),
        "create_table",
        payload,
        actor,
    )
    .await?;
    Ok(())
}

/// `GET /api/projects`
pub async fn list(
    State(state): State<AppState>,
    admin: Admin,
) -> Result<Json<Vec<Value>>, ApiError> {
    let list = projects::list_for(&state.db, admin.id).await?;
    Ok(Json(
        list.iter()
            .filter(|p| admin.reaches(p.id))
            .map(out)
            .collect(),
    ))
}

/// `GET /api/projects/{project_id}`
pub async fn get(member: Member) -> Json<Value> {
    Json(out(&member.project))
}
