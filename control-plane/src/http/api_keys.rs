//! API keys (`spec/api-keys.md`): create (the plaintext is shown once), list, revoke. Only the
//! SHA-256 digest is stored; live keys travel to the workers in the project config, so a revoked
//! key stops working everywhere before the revoke call returns.

use super::body::{Fields, JsonObject};
use super::error::ApiError;
use super::member::{Member, Pushed};
use crate::db::auth;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use model::secret::{random_token, token_hash};
use serde_json::{json, Value};
use uuid::Uuid;

/// `POST …/api-keys`
pub async fn create(
    State(state): State<AppState>,
    m: Member,
    body: JsonObject,
) -> Result<Pushed<(StatusCode, Json<Value>)>, ApiError> {
    let mut f = Fields::new(body);
    let name = f.string("name", 0, 255);
    f.finish()?;
    let name = name.unwrap_or_default();
    let key = random_token();
    let prefix = &key[..8];
    let mut tx = state.db.begin().await?;
    m.lock(&mut tx).await?;
    let id = auth::insert_api_key(
        &mut *tx,
        m.project.id,
        &name,
        prefix,
        &token_hash(&key),
        m.admin.id,
    )
    .await?;
    let lagging = m.publish(&state, tx).await?;
    tracing::info!(project.id = %m.project.id, api_key.id = %id, "created API key {prefix}…");
    let out = json!({ "id": id, "name": name, "prefix": prefix, "api_key": key });
    Ok(Pushed((StatusCode::CREATED, Json(out)), lagging))
}

/// `GET …/api-keys`: revoked keys included, never the key itself.
pub async fn list(State(state): State<AppState>, m: Member) -> Result<Json<Vec<Value>>, ApiError> {
    let keys = auth::api_keys(&state.db, m.project.id).await?;
    Ok(Json(
        keys.iter()
            .map(|k| {
                json!({ "id": k.id, "name": k.name, "prefix": k.prefix, "revoked": k.revoked,
                        "created_at": k.created_at })
            })
            .collect(),
    ))
}

/// `POST …/api-keys/{api_key_id}/revoke` (idempotent).
pub async fn revoke(
    State(state): State<AppState>,
    m: Member,
    Path((_, key_id)): Path<(String, String)>,
) -> Result<Pushed<StatusCode>, ApiError> {
    let not_found = || ApiError::NotFound("API key not found".into());
    let id = Uuid::parse_str(&key_id).map_err(|_| not_found())?;
    let mut tx = state.db.begin().await?;
    m.lock(&mut tx).await?;
    if !auth::revoke_api_key(&mut *tx, m.project.id, id).await? {
        return Err(not_found());
    }
    let lagging = m.publish(&state, tx).await?;
    tracing::info!(project.id = %m.project.id, api_key.id = %id, "revoked API key");
    Ok(Pushed(StatusCode::NO_CONTENT, lagging))
}
