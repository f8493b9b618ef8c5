//! The admin REST API: thin handlers over `db` and the publish path in `state`.

pub mod auth;
pub mod body;
pub mod error;
pub mod member;
pub mod projects;
pub mod schema;
pub mod views;

use crate::state::AppState;
use axum::routing::{get, post};
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
        .route(&format!("{p}/schema/collections/{{collection_name}}"), get(schema::get_collection))
        .route(
            &format!("{p}/schema/collections/{{collection_name}}/fields"),
            post(schema::create_field).get(schema::list_fields),
        )
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
