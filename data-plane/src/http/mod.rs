//! The data API's routes: thin handlers over `query` and `db`.

pub mod audit;
pub mod auth;
pub mod batch;
pub mod context;
pub mod error;
pub mod files;
pub mod openapi;
pub mod rbac;
pub mod realtime;
pub mod records;
pub mod validate;
pub mod views;
pub mod webhooks;
pub mod workflows;

use crate::AppState;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use context::BodyLimit;
use serde_json::json;

/// The worker's HTTP routes.
pub fn app(state: AppState, body_limit: usize) -> Router {
    let data = "/api/projects/{project_id}/data/{collection}";
    Router::new()
        .route("/health", get(|| async { Json(json!({ "ok": true })) }))
        .route("/ready", get(ready))
        .route(
            "/api/projects/{project_id}/data/_batch",
            axum::routing::post(batch::batch),
        )
        .route(
            "/api/projects/{project_id}/openapi.json",
            get(openapi::document),
        )
        .merge(auth::routes())
        .route(
            "/api/projects/{project_id}/rbac/users/{user_id}/roles",
            get(rbac::list).post(rbac::assign),
        )
        .route(
            "/api/projects/{project_id}/rbac/users/{user_id}/roles/{role_id}",
            axum::routing::delete(rbac::remove),
        )
        .route(
            "/api/projects/{project_id}/webhooks/{webhook_id}/deliveries",
            get(webhooks::deliveries),
        )
        .route(
            "/api/projects/{project_id}/webhooks/{webhook_id}/test",
            axum::routing::post(webhooks::test),
        )
        .route(
            "/api/projects/{project_id}/webhooks/{webhook_id}/deliveries/{delivery_id}/retry",
            axum::routing::post(webhooks::retry),
        )
        .route(
            "/api/projects/{project_id}/workflows/{workflow_id}/runs",
            get(workflows::runs),
        )
        .route(
            "/api/projects/{project_id}/workflows/{workflow_id}/runs/{run_id}",
            get(workflows::run),
        )
        .route(
            "/api/projects/{project_id}/workflows/{workflow_id}/run",
            axum::routing::post(workflows::start),
        )
        .route(
            "/api/projects/{project_id}/files/upload",
            axum::routing::post(files::upload),
        )
        .route("/api/projects/{project_id}/files", get(files::list))
        .route("/api/projects/{project_id}/files/stats", get(files::stats))
        .route(
            "/api/projects/{project_id}/files/{file_id}",
            get(files::get).delete(files::delete),
        )
        .route(
            "/api/projects/{project_id}/files/{file_id}/download",
            get(files::download),
        )
        .route(
            "/api/projects/{project_id}/files/{file_id}/signed-url",
            axum::routing::post(files::signed_url),
        )
        .route("/api/projects/{project_id}/realtime", get(realtime::stream))
        .route("/api/projects/{project_id}/audit/events", get(audit::list))
        .route(
            "/api/projects/{project_id}/audit/events/export",
            get(audit::export),
        )
        .route(
            "/api/projects/{project_id}/audit/verify",
            get(audit::verify),
        )
        .route(data, get(records::list).post(records::create))
        .route(&format!("{data}/_aggregate"), get(records::aggregate))
        .route(
            "/api/projects/{project_id}/views/{view_name}/execute",
            axum::routing::post(views::execute),
        )
        .route(
            "/api/projects/{project_id}/validations/collections/{collection_name}/validate",
            axum::routing::post(validate::validate),
        )
        .route(
            &format!("{data}/{{record_id}}"),
            get(records::get)
                .patch(records::update)
                .delete(records::delete),
        )
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                Json(json!({ "detail": "Not Found" })),
            )
        })
        .method_not_allowed_fallback(|| async {
            (
                StatusCode::METHOD_NOT_ALLOWED,
                Json(json!({ "detail": "Method Not Allowed" })),
            )
        })
        .layer(axum::middleware::from_fn(error::log_internal))
        .layer(axum::middleware::from_fn(count_in_flight))
        .layer(axum::middleware::from_fn(proto::metrics::track))
        .layer(axum::Extension(BodyLimit(body_limit)))
        .with_state(state)
}

/// `GET /ready`: 200 once the worker has the control plane's configs, else 503 (it would answer
/// "still loading" to every project). Readiness does not follow the database: every worker shares
/// it, so taking them all out while it is away helps no one (their routes answer 503 with
/// `Retry-After` meanwhile), and a probe that waits for a busy pool would fail under load.
async fn ready(
    axum::extract::State(st): axum::extract::State<AppState>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if st.synced() {
        Json(json!({ "ready": true })).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "ready": false, "detail": "no configs from the control plane yet" })),
        )
            .into_response()
    }
}

/// Requests this process is answering now: background work (workflow runs) yields while many are.
pub static IN_FLIGHT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Counts a request in [`IN_FLIGHT`] while its handler runs.
async fn count_in_flight(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    struct Counted;
    impl Drop for Counted {
        fn drop(&mut self) {
            IN_FLIGHT.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
    IN_FLIGHT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let _counted = Counted;
    next.run(req).await
}
