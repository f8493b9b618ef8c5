//! Schema as code: `GET …/schema/export` gives the project's schema as one JSON or YAML document;
//! `POST …/schema/import` makes a project match such a document (a preview with `dry_run=true`;
//! destructive steps only with `force=true`), as one transaction and one schema version.

use super::body::BodyLimit;
use super::error::ApiError;
use super::member::{Member, Pushed};
use super::params::Params;
use crate::changes::document::{self, Document};
use crate::changes::run::{self, Mode};
use crate::changes::Change;
use crate::db::views as db_views;
use crate::db::{catalog, history};
use crate::http::views as http_views;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

/// The project's catalog: collections, fields and views in document form.
struct Current {
    collections: Vec<catalog::Collection>,
    fields: Vec<catalog::Field>,
    views: Vec<Value>,
}

async fn current(state: &AppState, m: &Member) -> Result<Current, ApiError> {
    let collections = catalog::list_collections(&state.db, m.project.id).await?;
    let fields = catalog::project_fields(&state.db, m.project.id)
        .await?
        .into_iter()
        .map(|(_, f)| f)
        .collect();
    let views = db_views::list_active(&state.db, m.project.id)
        .await?
        .iter()
        .map(|v| {
            let base = collections
                .iter()
                .find(|c| c.id == v.base_collection_id)
                .map_or("", |c| c.name.as_str());
            http_views::document_form(v, base)
        })
        .collect();
    Ok(Current {
        collections,
        fields,
        views,
    })
}

/// `GET …/schema/export?format=json|yaml`
pub async fn export(
    State(state): State<AppState>,
    m: Member,
    params: Params,
) -> Result<Response, ApiError> {
    let cur = current(&state, &m).await?;
    let doc = document::export(&cur.collections, &cur.fields, cur.views);
    match params.string("format").unwrap_or("json") {
        "json" => Ok(Json(doc).into_response()),
        "yaml" | "yml" => {
            let text = serde_yaml::to_string(&doc).map_err(|e| ApiError::Internal(e.into()))?;
            Ok((
                [(header::CONTENT_TYPE, "application/yaml; charset=utf-8")],
                text,
            )
                .into_response())
        }
        other => Err(ApiError::BadRequest(format!(
            "Unknown format '{other}'; use json or yaml"
        ))),
    }
}

/// Reads the document: YAML when the content type says so, JSON otherwise.
async fn read_document(req: Request) -> Result<Document, ApiError> {
    let limit = req.extensions().get::<BodyLimit>().map_or(1 << 20, |l| l.0);
    let yaml = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.contains("yaml"));
    let bytes = axum::body::to_bytes(req.into_body(), limit)
        .await
        .map_err(|_| ApiError::TooLarge)?;
    let parsed = if yaml {
        serde_yaml::from_slice(&bytes).map_err(|e| e.to_string())
    } else {
        serde_json::from_slice(&bytes).map_err(|e| e.to_string())
    };
    parsed.map_err(|e| ApiError::BadRequest(format!("Invalid schema document: {e}")))
}

/// `POST …/schema/import?dry_run=&force=` with a document as the body.
pub async fn import(
    State(state): State<AppState>,
    m: Member,
    params: Params,
    req: Request,
) -> Result<Pushed<Json<Value>>, ApiError> {
    let dry_run = params.bool("dry_run", false)?;
    let force = params.bool("force", false)?;
    let doc = read_document(req).await?;
    let version = history::schema_version(&state.db, m.project.id).await?;
    let cur = current(&state, &m).await?;
    let changes = document::plan(&doc, &cur.collections, &cur.fields, &cur.views)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let destructive: Vec<Value> = changes
        .iter()
        .filter(|c| c.is_destructive())
        .map(|c| json!(c))
        .collect();
    let mode = if dry_run { Mode::Preview } else { Mode::Apply };
    if mode == Mode::Apply && !destructive.is_empty() && !force {
        let list: Vec<String> = changes
            .iter()
            .filter(|c| c.is_destructive())
            .map(describe)
            .collect();
        return Err(ApiError::BadRequest(format!(
            "The document would delete data ({}); preview with dry_run=true, then pass force=true to apply it",
            list.join(", ")
        )));
    }
    // Planned from a read outside the project lock: refuse if the schema moved meanwhile.
    let ran = run::run_consuming(&state, &m, "import", &changes, mode, &[], Some(version)).await?;
    let body = json!({
        "success": true, "dry_run": dry_run, "applied": if dry_run { 0 } else { changes.len() },
        "changes": changes, "destructive": destructive, "steps": ran.steps,
        "warnings": ran.warnings, "schema_version": ran.schema_version,
    });
    Ok(Pushed(Json(body), ran.lagging))
}

fn describe(c: &Change) -> String {
    match c {
        Change::DeleteCollection { collection, .. } => format!("delete collection '{collection}'"),
        Change::HardDeleteField {
            collection, field, ..
        } => format!("drop field '{collection}.{field}'"),
        other => other.op().to_owned(),
    }
}
