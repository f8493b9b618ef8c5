//! Admin API tokens (`/api/auth/tokens`): long-lived credentials for automation, shown once and
//! kept as SHA-256 digests, optionally limited to some projects and to reading, with an expiry.
//! A token is sent like an access token (`Authorization: Bearer bfy_…`) on every admin endpoint;
//! what it may do is judged by the [`Admin`] extractor (read-only) and [`super::member`] (projects).

use super::auth::{Admin, API_TOKEN_PREFIX};
use super::body::{Fields, JsonObject};
use super::error::ApiError;
use crate::db::api_tokens::{self, Token};
use crate::db::projects;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{Duration, Utc};
use model::secret::{random_token, token_hash};
use serde_json::{json, Value};
use uuid::Uuid;

/// How long a token may live at most, in days.
pub const MAX_DAYS: i64 = 3650;

fn out(t: &Token) -> Value {
    let status = if t.revoked_at.is_some() {
        "revoked"
    } else if t.expires_at.is_some_and(|e| e <= Utc::now()) {
        "expired"
    } else {
        "active"
    };
    json!({
        "id": t.id, "name": t.name, "prefix": t.prefix, "project_ids": t.project_ids,
        "read_only": t.read_only, "expires_at": t.expires_at, "created_at": t.created_at,
        "last_used_at": t.last_used_at, "revoked_at": t.revoked_at, "status": status,
    })
}

/// `POST /api/auth/tokens`: `{name, project_ids?, read_only?, expires_in_days?}`; the token is in
/// the answer once (`token`), never again. Only a signed-in admin makes tokens.
pub async fn create(
    State(state): State<AppState>,
    admin: Admin,
    body: JsonObject,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if admin.token.is_some() {
        return Err(ApiError::Forbidden(
            "API tokens are made by a signed-in admin, not with another API token",
        ));
    }
    let mut f = Fields::new(body);
    let name = f.string("name", 1, 255);
    let read_only = f.bool("read_only", false);
    let days = f.opt_int("expires_in_days", 1, MAX_DAYS);
    let mut project_ids: Option<Vec<Uuid>> = None;
    match f.value("project_ids").cloned() {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            let mut ids = Vec::with_capacity(items.len());
            for item in items {
                match item.as_str().and_then(|s| Uuid::parse_str(s).ok()) {
                    Some(id) => ids.push(id),
                    None => f.reject(
                        "project_ids",
                        "uuid_parsing",
                        "Input should be a list of project ids",
                        &item.to_string(),
                    ),
                }
            }
            ids.sort();
            ids.dedup();
            project_ids = Some(ids);
        }
        Some(other) => f.reject(
            "project_ids",
            "list_type",
            "Input should be a valid list",
            &other.to_string(),
        ),
    }
    f.finish()?;
    // Only projects the admin is a member of.
    for id in project_ids.iter().flatten() {
        if projects::get_for(&state.db, *id, admin.id).await?.is_none() {
            return Err(ApiError::NotFound("Project not found".into()));
        }
    }
    let token = format!("{API_TOKEN_PREFIX}{}", random_token());
    let prefix = &token[..API_TOKEN_PREFIX.len() + 8];
    let expires_at = days.map(|d| Utc::now() + Duration::days(d));
    let t = api_tokens::insert(
        &state.db,
        admin.id,
        &name.unwrap_or_default(),
        prefix,
        &token_hash(&token),
        project_ids.as_deref(),
        read_only,
        expires_at,
    )
    .await?;
    tracing::info!(admin.id = %admin.id, token.id = %t.id, "created admin API token {prefix}…");
    let mut body = out(&t);
    body["token"] = json!(token);
    Ok((StatusCode::CREATED, Json(body)))
}

/// `GET /api/auth/tokens`: the admin's tokens (revoked and expired ones too), never the secret.
pub async fn list(State(state): State<AppState>, admin: Admin) -> Result<Json<Value>, ApiError> {
    let tokens = api_tokens::list(&state.db, admin.id).await?;
    Ok(Json(Value::Array(tokens.iter().map(out).collect())))
}

/// `DELETE /api/auth/tokens/{token_id}`: revokes at once (idempotent); 404 for another admin's.
pub async fn revoke(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let not_found = || ApiError::NotFound("Token not found".into());
    let id = Uuid::parse_str(&id).map_err(|_| not_found())?;
    api_tokens::revoke(&state.db, admin.id, id)
        .await?
        .ok_or_else(not_found)?;
    tracing::info!(admin.id = %admin.id, token.id = %id, "revoked admin API token");
    Ok(StatusCode::NO_CONTENT)
}
