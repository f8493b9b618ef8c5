//! The data side of webhooks (`spec/webhooks.md`): a webhook's deliveries, a test event, and a
//! manual retry. Member admins only. The definitions are the control plane's; workers know them
//! from the project config.

use super::auth::require_admin;
use super::context::Ctx;
use super::error::ApiError;
use crate::db;
use crate::webhook::store;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use model::WebhookConfig;
use serde_json::{json, Value};
use uuid::Uuid;

/// The newest deliveries a listing shows.
const LISTED: i64 = 50;

fn find<'a>(ctx: &'a Ctx, id: &str) -> Result<&'a WebhookConfig, ApiError> {
    Uuid::parse_str(id)
        .ok()
        .and_then(|id| ctx.project.config.webhooks.iter().find(|w| w.id == id))
        .ok_or(ApiError::NotFound("Webhook not found"))
}

/// `GET …/webhooks/{webhook_id}/deliveries`: the newest 50, newest first.
pub async fn deliveries(
    State(st): State<AppState>,
    ctx: Ctx,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<Vec<Value>>, ApiError> {
    require_admin(&ctx)?;
    let hook = find(&ctx, &id)?;
    let mut tx = db::begin(&st.db, &ctx.project).await?;
    let list = store::recent(&mut tx, hook.id, LISTED).await?;
    tx.commit().await?;
    Ok(Json(list))
}

/// `POST …/webhooks/{webhook_id}/test`: queues a `webhook.test` event for this webhook alone
/// (also when it is inactive) and answers `202` with its delivery.
pub async fn test(
    State(st): State<AppState>,
    ctx: Ctx,
    Path((_, id)): Path<(String, String)>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let admin = require_admin(&ctx)?;
    let hook = find(&ctx, &id)?;
    let pid = ctx.project.config.project_id;
    let payload = json!({
        "event": "webhook.test", "timestamp": chrono::Utc::now(), "project_id": pid,
        "webhook_id": hook.id, "actor_user_id": admin,
        "message": "A test event sent from the webhook's settings.",
    })
    .to_string();
    let mut tx = db::begin(&st.db, &ctx.project).await?;
    let delivery = store::enqueue(&mut tx, hook.id, "webhook.test", &payload).await?;
    let out = store::one(&mut tx, delivery).await?;
    tx.commit().await?;
    st.webhooks.committed(pid);
    Ok((StatusCode::ACCEPTED, Json(out.unwrap_or(Value::Null))))
}

/// `POST …/webhooks/{webhook_id}/deliveries/{delivery_id}/retry`: sends the delivery again now
/// (one attempt, with the same `webhook-id`); `202` with the delivery.
pub async fn retry(
    State(st): State<AppState>,
    ctx: Ctx,
    Path((_, id, delivery)): Path<(String, String, String)>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    require_admin(&ctx)?;
    let hook = find(&ctx, &id)?;
    let not_found = ApiError::NotFound("Delivery not found");
    let delivery = Uuid::parse_str(&delivery).map_err(|_| not_found)?;
    let mut tx = db::begin(&st.db, &ctx.project).await?;
    let out = store::retry_now(&mut tx, hook.id, delivery)
        .await?
        .ok_or(ApiError::NotFound("Delivery not found"))?;
    tx.commit().await?;
    st.webhooks.committed(ctx.project.config.project_id);
    Ok((StatusCode::ACCEPTED, Json(out)))
}
