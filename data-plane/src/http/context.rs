//! Per-request context: the project of the path (404 when unknown) and the caller, resolved from
//! the config alone (spec/policies.md, principal resolution). A bad token is not an error here: it
//! degrades to the next principal kind.

use super::error::ApiError;
use crate::auth::principals::Seen;
use crate::auth::tokens;
use crate::db::{self, LiveCheck};
use crate::registry::Project;
use crate::AppState;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use model::error_body::{json_invalid, not_an_object};
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
    /// Names of the roles the user holds (spec/rbac.md).
    pub roles: Vec<String>,
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
    /// fails any check degrades to the next step; it is never an error by itself. An app user is
    /// read from the database first (writes and everything else rely on it).
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(ReadCtx::resolve(parts, state, false).await?.ctx)
    }
}

/// Where a request came from (client IP, `User-Agent`): what the events of a write record.
pub struct ClientOrigin(pub crate::auth::store::Origin);

impl FromRequestParts<AppState> for ClientOrigin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(Self(super::auth::origin(parts, state)))
    }
}

/// The context of a read (get, list, aggregate): like [`Ctx`], but an app user whose session
/// this worker has seen is taken as last seen, and the read's own statement reports them as they
/// are now ([`crate::auth::principals`]). The handler reads again with [`ReadCtx::settle`]'s
/// correction when they changed, so a read costs one round trip and never uses stale facts.
pub struct ReadCtx {
    /// Project and caller.
    pub ctx: Ctx,
    /// The app user taken as last seen (the check's `assumed` holds what was seen).
    assumed: Option<LiveCheck>,
    /// Who the caller is without the app-user token (API key or anonymous).
    fallback: Caller,
}

impl FromRequestParts<AppState> for ReadCtx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Self::resolve(parts, state, true).await
    }
}

impl ReadCtx {
    async fn resolve(parts: &mut Parts, state: &AppState, reuse: bool) -> Result<Self, ApiError> {
        let ProjectOf(project) = ProjectOf::from_request_parts(parts, state).await?;
        let fallback = api_key(&project, parts).unwrap_or(Caller::Anonymous);
        let mut caller = None;
        if let Some(token) = bearer(parts) {
            caller = match state.tokens.verify(&project.config, token) {
                Ok(t) => {
                    let pid = project.config.project_id;
                    let (user, session) = (t.user_id, t.session_id);
                    let seen = match state.principals.get(pid, session, &user) {
                        Some(seen) if reuse => {
                            let caller = app_user(&project, &user, &seen);
                            let live = LiveCheck {
                                schema: project.quoted_schema.clone(),
                                user_id: user,
                                session_id: session,
                                roles: project.roles_matter,
                                assumed: Some(seen),
                            };
                            return Ok(Self {
                                ctx: Ctx { project, caller },
                                assumed: Some(live),
                                fallback,
                            });
                        }
                        _ => {
                            let seen =
                                db::live_principal(&state.db, &project, &user, session).await?;
                            state.principals.put(pid, session, &user, seen.as_ref());
                            seen
                        }
                    };
                    seen.map(|s| app_user(&project, &user, &s))
                }
                // Not an app-user token: maybe an admin's.
                Err(tokens::Refusal::WrongType) => admin(state, &project, token)?,
                Err(_) => None,
            };
        }
        let caller = caller.unwrap_or_else(|| fallback.clone());
        Ok(Self {
            ctx: Ctx { project, caller },
            assumed: None,
            fallback,
        })
    }

    /// The app user the read must report back, if it assumed one.
    pub fn check(&self) -> Option<&LiveCheck> {
        self.assumed.as_ref()
    }

    /// Before refusing on what was last seen: reads the app user now; `Some` is the corrected
    /// context when they changed.
    pub async fn confirm(&self, state: &AppState) -> Result<Option<ReadCtx>, ApiError> {
        let Some(live) = &self.assumed else {
            return Ok(None);
        };
        let project = &self.ctx.project;
        let read = db::read(&state.db, project, || {
            let mut qb = db::read_prefix(Some(live));
            qb.push("NULL)");
            qb
        })
        .await?;
        Ok(self.settle(state, read.principal.as_deref()))
    }

    /// After a read that reported `now` for [`Self::check`]: `None` when the caller was as
    /// assumed (the answer stands), else the corrected context to read again with.
    pub fn settle(&self, state: &AppState, now: Option<&str>) -> Option<ReadCtx> {
        let live = self.assumed.as_ref()?;
        if now == Some(db::SAME) {
            return None;
        }
        let now = Seen::parse(now);
        if now.is_some() && now == live.assumed {
            return None;
        }
        let project = &self.ctx.project;
        let pid = project.config.project_id;
        state
            .principals
            .put(pid, live.session_id, &live.user_id, now.as_ref());
        let caller = match &now {
            Some(s) => app_user(project, &live.user_id, s),
            None => self.fallback.clone(),
        };
        Some(ReadCtx {
            ctx: Ctx {
                project: project.clone(),
                caller,
            },
            assumed: None,
            fallback: self.fallback.clone(),
        })
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
fn admin(state: &AppState, project: &Project, token: &str) -> Result<Option<Caller>, ApiError> {
    let Some(id) = state.tokens.admin(&project.config, token) else {
        return Ok(None);
    };
    if project.config.members.contains(&id) {
        Ok(Some(Caller::Admin(id)))
    } else {
        Err(ApiError::NotFound("Project not found"))
    }
}

/// The app-user principal of a live user.
pub fn app_user(project: &Project, id: &str, seen: &Seen) -> Caller {
    let roles = project
        .config
        .roles
        .iter()
        .filter(|r| seen.roles.contains(&r.id))
        .map(|r| r.name.clone())
        .collect();
    Caller::AppUser(AppUser {
        id: id.to_owned(),
        email: seen.email.clone(),
        verified: seen.verified,
        roles,
    })
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
