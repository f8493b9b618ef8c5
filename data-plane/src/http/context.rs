//! Per-request context: the project of the path (404 when unknown) and the caller, resolved from
//! the config alone (spec/policies.md, principal resolution). A bad token is not an error here: it
//! degrades to the next principal kind.

use super::error::ApiError;
use crate::registry::Project;
use crate::AppState;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use model::error_body::{json_invalid, not_an_object};
use model::jwt::{self, AdminClaims};
use serde_json::{Map, Value};
use std::sync::Arc;
use uuid::Uuid;

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A member admin of this project.
    Admin(Uuid),
    /// Nobody we know.
    Anonymous,
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

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let id = parts
            .uri
            .path()
            .strip_prefix("/api/projects/")
            .and_then(|rest| rest.split('/').next())
            .and_then(|id| Uuid::parse_str(id).ok())
            .ok_or(ApiError::NotFound("Project not found"))?;
        let project = match state.registry.get(&id) {
            Some(p) => p,
            // Before the first snapshot this worker cannot tell; after it, unknown means missing.
            None if !state.synced() => {
                return Err(ApiError::Unavailable(
                    "Worker is still loading project configs",
                ))
            }
            None => return Err(ApiError::NotFound("Project not found")),
        };
        let caller = match bearer(parts) {
            Some(token) => admin(&project, token)?,
            None => Caller::Anonymous,
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
/// (404, as on every admin endpoint); anything else is anonymous.
fn admin(project: &Project, token: &str) -> Result<Caller, ApiError> {
    let now = chrono::Utc::now().timestamp();
    let Ok(claims) =
        jwt::verify::<AdminClaims>(token, project.config.admin_token_key.as_bytes(), now)
    else {
        return Ok(Caller::Anonymous);
    };
    let Some(id) = claims
        .kind
        .is_none()
        .then(|| Uuid::parse_str(&claims.sub).ok())
        .flatten()
    else {
        return Ok(Caller::Anonymous);
    };
    if project.config.members.contains(&id) {
        Ok(Caller::Admin(id))
    } else {
        Err(ApiError::NotFound("Project not found"))
    }
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
