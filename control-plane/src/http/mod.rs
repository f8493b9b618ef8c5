//! The admin REST API: thin handlers over `db` and the publish path in `state`. Every route is
//! listed once, in [`routes`]: the app serves that list, and the admin OpenAPI document's test
//! checks that it documents each path and method of it.

pub mod api_keys;
pub mod api_tokens;
pub mod audit;
pub mod auth;
pub mod auth_settings;
pub mod body;
pub mod document;
pub mod error;
pub mod evolution;
pub mod member;
pub mod openapi;
pub mod params;
pub mod policies;
pub mod projects;
pub mod relations;
pub mod roles;
pub mod schema;
pub mod validations;
pub mod views;
pub mod webhooks;
pub mod workflows;

use crate::state::AppState;
use axum::routing::{delete, get, post, MethodRouter};
use axum::{Json, Router};
use body::BodyLimit;
use serde_json::json;

/// A path and its handlers.
pub type Route = (String, MethodRouter<AppState>);

/// The control plane's HTTP routes.
pub fn app(state: AppState, body_limit: usize) -> Router {
    routes()
        .into_iter()
        .fold(Router::new(), |app, (path, handlers)| {
            app.route(&path, handlers)
        })
        .fallback(|| async {
            (
                axum::http::StatusCode::NOT_FOUND,
                Json(json!({ "detail": "Not Found" })),
            )
        })
        .method_not_allowed_fallback(|| async {
            (
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                Json(json!({ "detail": "Method Not Allowed" })),
            )
        })
        .layer(axum::middleware::from_fn(error::log_internal))
        .layer(axum::Extension(BodyLimit(body_limit)))
        .with_state(state)
}

/// Every route of the admin API, each path once.
pub fn routes() -> Vec<Route> {
    let p = "/api/projects/{project_id}";
    let mut routes: Vec<Route> = vec![
        (
            "/health".into(),
            get(|| async { Json(json!({ "ok": true })) }),
        ),
        ("/ready".into(), get(ready)),
        (
            "/".into(),
            get(|| async {
                Json(
                    json!({ "name": "Backendify BaaS", "version": env!("CARGO_PKG_VERSION"), "docs": "/docs", "health": "/health" }),
                )
            }),
        ),
        ("/openapi.json".into(), get(openapi::document)),
        ("/docs".into(), get(openapi::docs_page)),
        ("/api/auth/register".into(), post(auth::register)),
        ("/api/auth/login".into(), post(auth::login)),
        ("/api/auth/refresh".into(), post(auth::refresh)),
        ("/api/auth/logout".into(), post(auth::logout)),
        ("/api/me".into(), get(auth::me)),
        (
            "/api/auth/tokens".into(),
            post(api_tokens::create).get(api_tokens::list),
        ),
        (
            "/api/auth/tokens/{token_id}".into(),
            axum::routing::delete(api_tokens::revoke),
        ),
        (
            "/api/projects".into(),
            post(projects::create).get(projects::list),
        ),
        (p.into(), get(projects::get)),
        (format!("{p}/audit/schema-ops"), get(audit::schema_ops)),
        (
            format!("{p}/api-keys"),
            post(api_keys::create).get(api_keys::list),
        ),
        (
            format!("{p}/api-keys/{{api_key_id}}/revoke"),
            post(api_keys::revoke),
        ),
        (
            format!("{p}/settings/auth"),
            get(auth_settings::get).put(auth_settings::put),
        ),
        (
            format!("{p}/settings/auth/oauth"),
            get(auth_settings::providers),
        ),
        (
            format!("{p}/settings/auth/oauth/{{provider}}"),
            axum::routing::put(auth_settings::put_provider).delete(auth_settings::delete_provider),
        ),
        (
            format!("{p}/settings/auth/signing-keys"),
            get(auth_settings::signing_keys),
        ),
        (
            format!("{p}/settings/auth/signing-keys/rotate"),
            post(auth_settings::rotate_signing_key),
        ),
        (format!("{p}/schema/export"), get(document::export)),
        (format!("{p}/schema/import"), post(document::import)),
    ];
    routes.extend(schema_routes(p));
    routes.extend(relation_routes(p));
    routes.extend(evolution_routes(p));
    routes.extend(view_routes(p));
    routes.extend(access_routes(p));
    routes.extend(validation_routes(p));
    routes.extend(webhook_routes(p));
    routes.extend(workflow_routes(p));
    routes
}

/// `GET /ready`: 200 once the control plane serves (it is: it answers this), with the control
/// database's state as information. Readiness does not follow the database: taking the only
/// control plane out of its Service while Postgres is away would turn the 503s its routes answer
/// then into 502s, and keep restarted workers and routers from joining.
async fn ready(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> Json<serde_json::Value> {
    let probe = tokio::time::timeout(
        std::time::Duration::from_secs(1),
        sqlx::query("SELECT 1").execute(&state.db),
    )
    .await;
    let database = if matches!(probe, Ok(Ok(_))) {
        "ok"
    } else {
        "unavailable"
    };
    Json(json!({ "ready": true, "database": database }))
}

fn access_routes(p: &str) -> Vec<Route> {
    let policies = format!("{p}/schema/collections/{{collection_name}}/policies");
    let r = format!("{p}/rbac");
    vec![
        (policies.clone(), post(policies::create).get(policies::list)),
        (
            format!("{policies}/{{policy_id}}"),
            get(policies::get)
                .patch(policies::update)
                .delete(policies::delete),
        ),
        (format!("{r}/roles"), post(roles::create).get(roles::list)),
        (
            format!("{r}/roles/{{role_id}}"),
            get(roles::get).patch(roles::update).delete(roles::delete),
        ),
        (format!("{r}/initialize"), post(roles::initialize)),
    ]
}

fn schema_routes(p: &str) -> Vec<Route> {
    let c = format!("{p}/schema/collections");
    vec![
        (
            c.clone(),
            post(schema::create_collection).get(schema::list_collections),
        ),
        (
            format!("{c}/{{collection_name}}"),
            get(schema::get_collection)
                .patch(schema::update_collection)
                .delete(schema::delete_collection),
        ),
        (
            format!("{c}/{{collection_name}}/fields"),
            post(schema::create_field).get(schema::list_fields),
        ),
        (
            format!("{c}/{{collection_name}}/fields/{{field_name}}"),
            get(schema::get_field).patch(schema::update_field),
        ),
    ]
}

fn relation_routes(p: &str) -> Vec<Route> {
    let r = format!("{p}/schema/relations");
    vec![
        (
            format!("{r}/collections/{{collection_id}}/relations"),
            post(relations::create).get(relations::list),
        ),
        (
            format!("{r}/collections/{{collection_id}}/reverse-relations"),
            get(relations::reverse),
        ),
        (
            format!("{r}/collections/{{collection_id}}/relations/{{field_id}}"),
            delete(relations::delete),
        ),
        (format!("{r}/relation-options"), get(relations::options)),
    ]
}

fn evolution_routes(p: &str) -> Vec<Route> {
    let e = format!("{p}/schema/evolution");
    let c = format!("{e}/collections/{{collection_id}}");
    let f = format!("{c}/fields/{{field_id}}");
    vec![
        (format!("{c}/rename"), post(evolution::rename_collection)),
        (
            format!("{c}/preview-migration"),
            post(evolution::preview_migration),
        ),
        (format!("{f}/rename"), post(evolution::rename_field)),
        (
            format!("{f}/soft-delete"),
            post(evolution::soft_delete_field),
        ),
        (
            format!("{f}/hard-delete"),
            post(evolution::hard_delete_field),
        ),
        (format!("{f}/restore"), post(evolution::restore_field)),
        (
            format!("{f}/change-type"),
            post(evolution::change_field_type),
        ),
        (format!("{e}/aliases"), get(evolution::aliases)),
        (
            format!("{e}/safe-conversions"),
            get(evolution::safe_conversions),
        ),
        (
            format!("{e}/pending"),
            get(evolution::list_pending)
                .post(evolution::stage)
                .delete(evolution::discard_all),
        ),
        (
            format!("{e}/pending/preview"),
            post(evolution::preview_pending),
        ),
        (
            format!("{e}/pending/{{change_id}}"),
            delete(evolution::discard_one),
        ),
        (format!("{e}/apply"), post(evolution::apply_pending)),
        (format!("{e}/history"), get(evolution::history)),
    ]
}

fn view_routes(p: &str) -> Vec<Route> {
    let v = format!("{p}/views");
    vec![
        (v.clone(), post(views::create).get(views::list)),
        // The static `operators` wins over `{view_name}` (matchit prefers statics); a view named
        // `operators` is still updated and deleted here.
        (
            format!("{v}/operators"),
            get(views::operators)
                .patch(views::update)
                .delete(views::delete),
        ),
        (
            format!("{v}/{{view_name}}"),
            get(views::get).patch(views::update).delete(views::delete),
        ),
        (format!("{v}/{{view_name}}/versions"), get(views::versions)),
        (format!("{v}/{{view_name}}/meta"), get(views::get_meta)),
    ]
}

fn webhook_routes(p: &str) -> Vec<Route> {
    let w = format!("{p}/webhooks");
    vec![
        (w.clone(), post(webhooks::create).get(webhooks::list)),
        (
            format!("{w}/{{webhook_id}}"),
            get(webhooks::get)
                .patch(webhooks::update)
                .delete(webhooks::delete),
        ),
        (
            format!("{w}/{{webhook_id}}/rotate-secret"),
            post(webhooks::rotate_secret),
        ),
    ]
}

fn workflow_routes(p: &str) -> Vec<Route> {
    let w = format!("{p}/workflows");
    vec![
        (w.clone(), post(workflows::create).get(workflows::list)),
        (
            format!("{w}/{{workflow_id}}"),
            get(workflows::get)
                .patch(workflows::update)
                .delete(workflows::delete),
        ),
    ]
}

fn validation_routes(p: &str) -> Vec<Route> {
    let v = format!("{p}/validations");
    vec![
        (
            format!("{v}/collections/{{collection_name}}/fields/{{field_name}}/rules"),
            post(validations::create).get(validations::list),
        ),
        (
            format!("{v}/rules/{{rule_id}}"),
            axum::routing::patch(validations::update).delete(validations::delete),
        ),
        (format!("{v}/rule-types"), get(validations::rule_types)),
    ]
}
