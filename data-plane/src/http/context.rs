//! Per-request context: the project of the path (404 when unknown) and the caller, resolved from
//! the config alone (spec/policies.md, principal resolution). A bad token is not an error here: it
//! degrades to the next principal kind.

use super::error::ApiError;
use crate::auth::tokens;
use crate::db;
use crate::registry::Project;
use crate::AppState;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use model::error_body::{json_invalid, not_an_object};
use model::jwt::{self, AdminClaims};
use model::secret::{ct_eq, token_hash};
use serde_json::{Map, Value};
use std::sync::Arc;
use uuid::Uuid;

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A member admin of this project.
    Admin(Uuid),
    /// A live app user of this project (token verified, user enabled, session not revoked).
    AppUser(AppUser),
    /// A live API key of this project.
    ApiKey(Uuid),
    /// Nobody we know.
    Anonymous,
}

/// An app-user principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppUser {
    /// App-user id.
    pub id: String,
    /// Email (lower-cased).
    pub email: String,
    /// Email verified.
    pub verified: bool,
}

/// The project of the path (404 when unknown), without resolving the caller: app-auth
/// endpoints judge their tokens themselves.
pub struct ProjectOf(pub Arc<Project>);

impl FromRequestParts<AppState> for ProjectOf {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let id = parts
            .uri
            .path()
            .strip_prefix("/api/projects/")
            .and_then(|rest| rest.split('/').next())
            .and_then(|id| Uuid::parse_str(id).ok())
            .ok_or(ApiError::NotFound("Project not found"))?;
        match state.registry.get(&id) {
            Some(p) => Ok(Self(p)),
            // Before the first snapshot this worker cannot tell; after it, unknown means missing.
            None if !state.synced() => Err(ApiError::Unavailable(
                "Worker is still loading project configs",
            )),
            None => Err(ApiError::NotFound("Project not found")),
        }
    }
}

/// The project of the path and the caller.
pub struct Ctx {
    /// The project's config, loaded once for the whole request.
    pub project: Arc<Project>,
    /// The caller.
    pub caller: Caller,
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = ApiError;

    /// Principal resolution of spec/policies.md: a bearer token first (an app-user token of this
    /// project, else a member admin's token), then `X-API-Key`, else anonymous. A token that
    /// fails any check degrades to the next step; it is never an error by itself.
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let ProjectOf(project) = ProjectOf::from_request_parts(parts, state).await?;
        let mut caller = None;
        if let Some(token) = bearer(parts) {
            caller = match tokens::verify(&project.config, token) {
                Ok(t) => app_user(state, &project, t).await?,
                // Not an app-user token: maybe an admin's.
                Err(tokens::Refusal::WrongType) => admin(&project, token)?,
                Err(_) => None,
            };
        }
        let caller = match caller {
            Some(c) => c,
            None => api_key(&project, parts).unwrap_or(Caller::Anonymous),
        };
        Ok(Ctx { project, caller })
    }
}

fn bearer(parts: &Parts) -> Option<&str> {
    let header = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = header.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// A verified admin token of a member is an admin; of a non-member, the project is invisible
/// (404, as on every admin endpoint); anything else is no one.
fn admin(project: &Project, token: &str) -> Result<Option<Caller>, ApiError> {
    let now = chrono::Utc::now().timestamp();
    let Ok(claims) =
        jwt::verify::<AdminClaims>(token, project.config.admin_token_key.as_bytes(), now)
    else {
        return Ok(None);
    };
    let Some(id) = claims
        .kind
        .is_none()
        .then(|| Uuid::parse_str(&claims.sub).ok())
        .flatten()
    else {
        return Ok(None);
    };
    if project.config.members.contains(&id) {
        Ok(Some(Caller::Admin(id)))
    } else {
        Err(ApiError::NotFound("Project not found"))
    }
}

/// A verified app-user token of this project whose user is enabled and whose session is live (one
/// statement, so disabling a user or ending a session takes effect on every worker at once).
async fn app_user(
    state: &AppState,
    project: &Project,
    t: tokens::AppToken,
) -> Result<Option<Caller>, ApiError> {
    let live = db::live_principal(&state.db, project, &t.user_id, t.session_id).await?;
    Ok(live.map(|(email, verified)| {
        Caller::AppUser(AppUser {
            id: t.user_id,
            email,
            verified,
        })
    }))
}

/// A live API key of this project: found by prefix, compared by SHA-256 in constant time.
fn api_key(project: &Project, parts: &Parts) -> Option<Caller> {
    let presented = parts.headers.get("x-api-key")?.to_str().ok()?.trim();
    let candidates = project.api_keys.get(presented.get(..8)?)?;
    let hash = token_hash(presented);
    candidates
        .iter()
        .find(|k| ct_eq(k.hash.as_bytes(), hash.as_bytes()))
        .map(|k| Caller::ApiKey(k.id))
}

/// Largest body a request may carry; the app sets it from the config.
#[derive(Clone, Copy)]
pub struct BodyLimit(pub usize);

/// A JSON object body (422 when malformed or not an object, 413 when too large).
pub struct JsonObject(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let limit = req.extensions().get::<BodyLimit>().map_or(1 << 20, |l| l.0);
        let bytes = axum::body::to_bytes(req.into_body(), limit)
            .await
            .map_err(|_| ApiError::TooLarge)?;
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(Self(map)),
            Ok(other) => Err(ApiError::Validation(vec![not_an_object(other)])),
            Err(e) => Err(ApiError::Validation(vec![json_invalid(&e.to_string())])),
        }
    }
}
