//! The admin REST API: thin handlers over `db` and the publish path in `state`.

pub mod audit;
pub mod auth;
pub mod body;
pub mod document;
pub mod error;
pub mod evolution;
pub mod member;
pub mod params;
pub mod projects;
pub mod relations;
pub mod schema;
pub mod views;

use crate::state::AppState;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use body::BodyLimit;
use serde_json::json;

/// The control plane's HTTP routes.
pub fn app(state: AppState, body_limit: usize) -> Router {
    let p = "/api/projects/{project_id}";
    Router::new()
        .route("/health", get(|| async { Json(json!({ "ok": true })) }))
        .route("/", get(|| async { Json(json!({ "name": "Backendify BaaS", "version": env!("CARGO_PKG_VERSION"), "docs": "/docs", "health": "/health" })) }))
        .route("/api/auth/register", post(auth::register))
        .route("/api/auth/login", post(auth::login))
        .route("/api/auth/refresh", post(auth::refresh))
        .route("/api/auth/logout", post(auth::logout))
        .route("/api/me", get(auth::me))
        .route("/api/projects", post(projects::create).get(projects::list))
        .route(p, get(projects::get))
        .route(&format!("{p}/schema/collections"), post(schema::create_collection).get(schema::list_collections))
        .route(
            &format!("{p}/schema/collections/{{collection_name}}"),
            get(schema::get_collection).patch(schema::update_collection).delete(schema::delete_collection),
        )
        .route(
            &format!("{p}/schema/collections/{{collection_name}}/fields"),
            post(schema::create_field).get(schema::list_fields),
        )
        .route(
            &format!("{p}/schema/collections/{{collection_name}}/fields/{{field_name}}"),
            get(schema::get_field).patch(schema::update_field),
        )
        .merge(relation_routes(p))
        .merge(evolution_routes(p))
        .route(&format!("{p}/audit/schema-ops"), get(audit::schema_ops))
        .route(&format!("{p}/schema/export"), get(document::export))
        .route(&format!("{p}/schema/import"), post(document::import))
        // Views: the static `operators` route wins over `{view_name}` (matchit prefers statics).
        .route(&format!("{p}/views"), post(views::create).get(views::list))
        .route(
            &format!("{p}/views/operators"),
            get(views::operators).patch(views::update).delete(views::delete),
        )
        .route(
            &format!("{p}/views/{{view_name}}"),
            get(views::get).patch(views::update).delete(views::delete),
        )
        .route(&format!("{p}/views/{{view_name}}/versions"), get(views::versions))
        .route(&format!("{p}/views/{{view_name}}/meta"), get(views::get_meta))
        .fallback(|| async { (axum::http::StatusCode::NOT_FOUND, Json(json!({ "detail": "Not Found" }))) })
        .method_not_allowed_fallback(|| async {
            (axum::http::StatusCode::METHOD_NOT_ALLOWED, Json(json!({ "detail": "Method Not Allowed" })))
        })
        .layer(axum::middleware::from_fn(error::log_internal))
        .layer(axum::Extension(BodyLimit(body_limit)))
        .with_state(state)
}

fn relation_routes(p: &str) -> Router<AppState> {
    let r = format!("{p}/schema/relations");
    Router::new()
        .route(
            &format!("{r}/collections/{{collection_id}}/relations"),
            post(relations::create).get(relations::list),
        )
        .route(
            &format!("{r}/collections/{{collection_id}}/reverse-relations"),
            get(relations::reverse),
        )
        .route(
            &format!("{r}/collections/{{collection_id}}/relations/{{field_id}}"),
            delete(relations::delete),
        )
        .route(&format!("{r}/relation-options"), get(relations::options))
}

fn evolution_routes(p: &str) -> Router<AppState> {
    let e = format!("{p}/schema/evolution");
    let c = format!("{e}/collections/{{collection_id}}");
    let f = format!("{c}/fields/{{field_id}}");
    Router::new()
        .route(&format!("{c}/rename"), post(evolution::rename_collection))
        .route(
            &format!("{c}/preview-migration"),
            post(evolution::preview_migration),
        )
        .route(&format!("{f}/rename"), post(evolution::rename_field))
        .route(
            &format!("{f}/soft-delete"),
            post(evolution::soft_delete_field),
        )
        .route(
            &format!("{f}/hard-delete"),
            post(evolution::hard_delete_field),
        )
        .route(&format!("{f}/restore"), post(evolution::restore_field))
        .route(
            &format!("{f}/change-type"),
            post(evolution::change_field_type),
        )
        .route(&format!("{e}/aliases"), get(evolution::aliases))
        .route(
            &format!("{e}/safe-conversions"),
            get(evolution::safe_conversions),
        )
        .route(
            &format!("{e}/pending"),
            get(evolution::list_pending)
                .post(evolution::stage)
                .delete(evolution::discard_all),
        )
        .route(
            &format!("{e}/pending/preview"),
            post(evolution::preview_pending),
        )
        .route(
            &format!("{e}/pending/{{change_id}}"),
            delete(evolution::discard_one),
        )
        .route(&format!("{e}/apply"), post(evolution::apply_pending))
        .route(&format!("{e}/history"), get(evolution::history))
}
