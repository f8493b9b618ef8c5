//! Webhook definitions (`spec/webhooks.md`): create (the secret is shown once), list, get,
//! update, rotate the secret, delete. The signing key is `whsec_` + base64 of 32 random bytes
//! (Standard Webhooks); it is stored sealed and travels to the workers in the project config,
//! which deliver from the project's outbox. Every change returns once the workers have it.

use super::body::{Fields, JsonObject};
use super::error::ApiError;
use super::member::{Member, Pushed};
use crate::db::catalog;
use crate::db::webhooks::{self, NewWebhook, Webhook};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use base64::Engine;
use model::webhooks::RECORD_EVENTS;
use rand::RngCore;
use serde_json::{json, Value};
use sqlx::PgConnection;
use uuid::Uuid;

type WebhookPath = Path<(String, String)>;

/// Longest accepted target URL.
const MAX_URL_CHARS: usize = 2048;
/// How long a rotated-out key keeps signing beside the new one.
const ROTATION_GRACE: chrono::Duration = chrono::Duration::hours(24);

fn not_found() -> ApiError {
    ApiError::NotFound("Webhook not found".into())
}

/// `WebhookResponse`, plus the collection filter and, when workers stopped it, why (it is then
/// not active).
fn out(w: &Webhook, stopped: Option<&String>) -> Value {
    json!({
        "id": w.id, "project_id": w.project_id, "name": w.name, "url": w.url,
        "events": w.events, "collections": w.collections,
        "is_active": w.is_active && stopped.is_none(), "disabled_reason": stopped,
        "created_at": w.created_at, "updated_at": w.updated_at,
    })
}

/// A new signing key: its raw bytes and the `whsec_…` form shown to the admin.
fn new_secret() -> ([u8; 32], String) {
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    let shown = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    );
    (key, shown)
}

/// The body keys of create and update, checked.
#[derive(Default)]
struct Input {
    name: Option<String>,
    url: Option<String>,
    events: Option<Vec<String>>,
    is_active: Option<bool>,
    /// `Some(None)`: every collection (given as null).
    collections: Option<Option<Vec<String>>>,
}

fn read_input(body: JsonObject, create: bool) -> Result<Input, ApiError> {
    let mut f = Fields::new(body);
    let name = if create {
        f.string("name", 1, 255)
    } else {
        f.opt_string("name", 255)
    };
    let url = if create {
        f.string("url", 1, MAX_URL_CHARS)
    } else {
        f.opt_string("url", MAX_URL_CHARS)
    };
    if let Some(u) = &url {
        if let Err(msg) = check_url(u) {
            f.reject("url", "url_parsing", msg, u);
        }
    }
    let events = string_list(&mut f, "events", create, |e| {
        (e == "*" || RECORD_EVENTS.contains(&e))
            .then_some(())
            .ok_or("Events must be 'record.created', 'record.updated', 'record.deleted' or '*'")
    });
    let collections = match f.value("collections") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(_) => string_list(&mut f, "collections", false, |_| Ok(())).map(Some),
    };
    let is_active = f.opt_bool("is_active");
    f.finish()?;
    Ok(Input {
        name,
        url,
        events,
        is_active,
        collections,
    })
}

/// An absolute http(s) URL with a host, written plainly: no whitespace or control characters and
/// an authority right after `scheme://` (the URL parser would quietly repair such input, and what
/// is stored and shown must be what is dialled).
fn check_url(raw: &str) -> Result<(), &'static str> {
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("URL must not contain spaces or control characters");
    }
    let url = url::Url::parse(raw).map_err(|_| "URL must be an absolute http or https URL")?;
    let authority = raw
        .get(url.scheme().len()..)
        .and_then(|r| r.strip_prefix("://"));
    if authority.is_none_or(|a| a.is_empty() || a.starts_with(['/', '\\'])) {
        return Err("URL must be an absolute http or https URL");
    }
    if !matches!(url.scheme(), "http" | "https") {
        return Err("URL must use http or https");
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("URL must name a host");
    }
    Ok(())
}

/// A non-empty array of strings under `key`, each passing `check`.
fn string_list(
    f: &mut Fields,
    key: &str,
    required: bool,
    check: impl Fn(&str) -> Result<(), &'static str>,
) -> Option<Vec<String>> {
    let value = match f.value(key).cloned() {
        None | Some(Value::Null) if !required => return None,
        None => {
            f.reject(key, "missing", "Field required", "");
            return None;
        }
        Some(v) => v,
    };
    let Value::Array(items) = &value else {
        f.reject(
            key,
            "list_type",
            "Input should be a valid list",
            &value.to_string(),
        );
        return None;
    };
    if items.is_empty() {
        f.reject(key, "too_short", "List should have at least 1 item", "[]");
        return None;
    }
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match item.as_str().map(|s| (s, check(s))) {
            Some((s, Ok(()))) => out.push(s.to_owned()),
            Some((s, Err(msg))) => {
                f.reject(key, "value_error", msg, s);
                return None;
            }
            None => {
                let msg = "Input should be a list of strings";
                f.reject(key, "string_type", msg, &item.to_string());
                return None;
            }
        }
    }
    Some(out)
}

/// The ids of the named collections of the project (400 for a name that is not one).
async fn collection_ids(
    tx: &mut PgConnection,
    project: Uuid,
    names: &[String],
) -> Result<Vec<Uuid>, ApiError> {
    let mut ids = Vec::with_capacity(names.len());
    for name in names {
        let c = catalog::collection_by_name(&mut *tx, project, name)
            .await?
            .ok_or_else(|| ApiError::BadRequest(format!("Collection '{name}' not found")))?;
        if !ids.contains(&c.id) {
            ids.push(c.id);
        }
    }
    Ok(ids)
}

async fn find(tx: &mut PgConnection, project: Uuid, id: &str) -> Result<Webhook, ApiError> {
    let id = Uuid::parse_str(id).map_err(|_| not_found())?;
    webhooks::get(tx, project, id).await?.ok_or_else(not_found)
}

/// `POST …/webhooks`: `201` with the webhook and its secret (shown only here).
pub async fn create(
    State(state): State<AppState>,
    m: Member,
    body: JsonObject,
) -> Result<Pushed<(StatusCode, Json<Value>)>, ApiError> {
    let input = read_input(body, true)?;
    let pid = m.project.id;
    let mut tx = state.db.begin().await?;
    m.lock(&mut tx).await?;
    let filter = match input.collections.flatten() {
        Some(names) => Some(collection_ids(&mut tx, pid, &names).await?),
        None => None,
    };
    let id = Uuid::new_v4();
    let (key, shown) = new_secret();
    let sealed = state.secrets.seal(&key, id.as_bytes());
    let new = NewWebhook {
        id,
        name: input.name.as_deref().unwrap_or_default(),
        url: input.url.as_deref().unwrap_or_default(),
        events: input.events.as_deref().unwrap_or_default(),
        collection_ids: filter.as_deref(),
        is_active: input.is_active.unwrap_or(true),
        secret_sealed: &sealed,
        created_by: m.admin.id,
    };
    let w = webhooks::insert(&mut *tx, pid, &new).await?;
    let lagging = m.publish(&state, tx).await?;
    tracing::info!(project.id = %pid, webhook.id = %id, "created webhook {}", w.name);
    let mut body = out(&w, None);
    body["secret"] = json!(shown);
    Ok(Pushed((StatusCode::CREATED, Json(body)), lagging))
}

/// `GET …/webhooks`: every webhook of the project in creation order, without secrets.
pub async fn list(State(state): State<AppState>, m: Member) -> Result<Json<Vec<Value>>, ApiError> {
    let all = webhooks::list(&state.db, m.project.id).await?;
    let stops = webhooks::platform_stops(state.cells.pool(&m.project.cell)?, &m.project).await?;
    Ok(Json(all.iter().map(|w| out(w, stops.get(&w.id))).collect()))
}

/// `GET …/webhooks/{webhook_id}`
pub async fn get(
    State(state): State<AppState>,
    m: Member,
    Path((_, id)): WebhookPath,
) -> Result<Json<Value>, ApiError> {
    let mut conn = state.db.acquire().await?;
    let w = find(&mut conn, m.project.id, &id).await?;
    // One connection at a time (the default cell's pool is this one).
    drop(conn);
    let stops = webhooks::platform_stops(state.cells.pool(&m.project.cell)?, &m.project).await?;
    Ok(Json(out(&w, stops.get(&w.id))))
}

/// `PATCH …/webhooks/{webhook_id}`: absent keys keep their value; `collections: null` removes
/// the filter. Turning a webhook on clears the workers' stop and its count of failures.
pub async fn update(
    State(state): State<AppState>,
    m: Member,
    Path((_, id)): WebhookPath,
    body: JsonObject,
) -> Result<Pushed<Json<Value>>, ApiError> {
    let input = read_input(body, false)?;
    let pid = m.project.id;
    let mut tx = state.db.begin().await?;
    m.lock(&mut tx).await?;
    // The cell's transaction only once the project is ours: queued changes hold no cell
    // connection.
    let mut unit = state.cells.join(tx, &m.project.cell).await?;
    let mut w = find(unit.control(), pid, &id).await?;
    if let Some(name) = input.name {
        w.name = name;
    }
    if let Some(url) = input.url {
        w.url = url;
    }
    if let Some(events) = input.events {
        w.events = events;
    }
    if let Some(filter) = input.collections {
        w.collection_ids = match filter {
            Some(names) => Some(collection_ids(unit.control(), pid, &names).await?),
            None => None,
        };
    }
    if let Some(active) = input.is_active {
        if active {
            webhooks::clear_platform_state(unit.cell(), &m.project, w.id, false).await?;
        }
        w.is_active = active;
    }
    let w = webhooks::update(unit.control(), &w).await?;
    let stops = webhooks::platform_stops(unit.cell(), &m.project).await?;
    let body = out(&w, stops.get(&w.id));
    let lagging = m.publish(&state, unit).await?;
    tracing::info!(project.id = %pid, webhook.id = %w.id, "updated webhook {}", w.name);
    Ok(Pushed(Json(body), lagging))
}

/// `POST …/webhooks/{webhook_id}/rotate-secret`: a new secret, shown once; the old one keeps
/// signing beside it for 24 hours so receivers can switch without losing deliveries.
pub async fn rotate_secret(
    State(state): State<AppState>,
    m: Member,
    Path((_, id)): WebhookPath,
) -> Result<Pushed<Json<Value>>, ApiError> {
    let pid = m.project.id;
    let mut tx = state.db.begin().await?;
    m.lock(&mut tx).await?;
    let w = find(&mut tx, pid, &id).await?;
    let (key, shown) = new_secret();
    let sealed = state.secrets.seal(&key, w.id.as_bytes());
    let until = chrono::Utc::now() + ROTATION_GRACE;
    let w = webhooks::rotate_secret(&mut *tx, &w, &sealed, until).await?;
    // Read before the commit: past it, a failure would lose the new secret, shown only once.
    let stops = if m.project.cell == crate::cells::DEFAULT {
        webhooks::platform_stops(&mut *tx, &m.project).await?
    } else {
        webhooks::platform_stops(state.cells.pool(&m.project.cell)?, &m.project).await?
    };
    let lagging = m.publish(&state, tx).await?;
    tracing::info!(project.id = %pid, webhook.id = %w.id, "rotated the secret of webhook {}", w.name);
    let mut body = out(&w, stops.get(&w.id));
    body["secret"] = json!(shown);
    body["previous_secret_expires_at"] = json!(until);
    Ok(Pushed(Json(body), lagging))
}

/// `DELETE …/webhooks/{webhook_id}`: `204`, with its deliveries; workers stop delivering to it
/// before this returns.
pub async fn delete(
    State(state): State<AppState>,
    m: Member,
    Path((_, id)): WebhookPath,
) -> Result<Pushed<StatusCode>, ApiError> {
    let pid = m.project.id;
    let id = Uuid::parse_str(&id).map_err(|_| not_found())?;
    let mut tx = state.db.begin().await?;
    m.lock(&mut tx).await?;
    // The cell's transaction only once the project is ours: queued changes hold no cell
    // connection.
    let mut unit = state.cells.join(tx, &m.project.cell).await?;
    if !webhooks::delete(unit.control(), pid, id).await? {
        return Err(not_found());
    }
    webhooks::clear_platform_state(unit.cell(), &m.project, id, true).await?;
    let lagging = m.publish(&state, unit).await?;
    tracing::info!(project.id = %pid, webhook.id = %id, "deleted webhook");
    Ok(Pushed(StatusCode::NO_CONTENT, lagging))
}
