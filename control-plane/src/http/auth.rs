//! Admin authentication (`spec/admin-auth.md`): register, login, refresh with rotation, logout,
//! `GET /api/me`, and the `Admin` extractor every admin endpoint uses.

use super::body::{normalize_email, Fields, JsonObject};
use super::error::ApiError;
use crate::db::admins::{self, Redeemed};
use crate::db::api_tokens;
use crate::state::AppState;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::Json;
use model::jwt::{self, AdminClaims};
use model::secret::{hash_password, random_token, token_hash, verify_password};
use serde::Serialize;
use serde_json::{json, Value};
use uuid::Uuid;

/// A verified admin caller.
pub struct Admin {
    /// Admin id.
    pub id: Uuid,
    /// Admin email.
    pub email: String,
    /// The admin API token the call came with, and its limits (`None` for a signed-in admin's
    /// access token).
    pub token: Option<TokenScope>,
}

/// The limits of an admin API token.
#[derive(Debug, Clone)]
pub struct TokenScope {
    /// The token's id.
    pub id: Uuid,
    /// The projects it may reach (`None`: all of its admin's).
    pub projects: Option<Vec<Uuid>>,
    /// Reads only.
    pub read_only: bool,
}

impl Admin {
    /// Whether the call may reach `project` (a token may be limited to some projects).
    pub fn reaches(&self, project: Uuid) -> bool {
        match self.token.as_ref().and_then(|t| t.projects.as_ref()) {
            Some(list) => list.contains(&project),
            None => true,
        }
    }
}

/// What admin API tokens start with (and access tokens never do).
pub const API_TOKEN_PREFIX: &str = "bfy_";

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok());
        let token = header
            .and_then(|h| h.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim())
            .ok_or(ApiError::Unauthorized("Not authenticated"))?;
        if token.starts_with(API_TOKEN_PREFIX) {
            let grant = api_tokens::grant(&state.db, &token_hash(token))
                .await?
                .ok_or(ApiError::Unauthorized("Invalid token"))?;
            if grant.read_only && !matches!(parts.method, Method::GET | Method::HEAD) {
                return Err(ApiError::Forbidden("This API token is read-only"));
            }
            return Ok(Admin {
                id: grant.admin_id,
                email: grant.email,
                token: Some(TokenScope {
                    id: grant.id,
                    projects: grant.project_ids,
                    read_only: grant.read_only,
                }),
            });
        }
        let claims: AdminClaims = jwt::verify(token, state.jwt_secret.as_bytes())
            .map_err(|_| ApiError::Unauthorized("Invalid token"))?;
        let not_found = ApiError::Unauthorized("User not found");
        if claims.kind.is_some() {
            return Err(not_found);
        }
        let id =
            Uuid::parse_str(&claims.sub).map_err(|_| ApiError::Unauthorized("User not found"))?;
        let email = admins::email_by_id(&state.db, id).await?.ok_or(not_found)?;
        Ok(Admin {
            id,
            email,
            token: None,
        })
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// `TokenPair`.
#[derive(Serialize)]
pub struct TokenPair {
    access_token: String,
    refresh_token: String,
    token_type: &'static str,
}

/// A new pair; the refresh token joins `family`, or starts one (login, register).
async fn issue_tokens(
    state: &AppState,
    db: impl sqlx::PgExecutor<'_>,
    admin: Uuid,
    family: Option<Uuid>,
) -> Result<TokenPair, ApiError> {
    let claims = AdminClaims {
        sub: admin.to_string(),
        exp: now() + state.access_ttl.as_secs() as i64,
        kind: None,
    };
    let refresh = random_token();
    let expires = chrono::Utc::now() + state.refresh_ttl;
    admins::insert_refresh(db, admin, &token_hash(&refresh), expires, family).await?;
    Ok(TokenPair {
        access_token: jwt::sign(&claims, state.jwt_secret.as_bytes()),
        refresh_token: refresh,
        token_type: "bearer",
    })
}

/// Reads `email` and `password` (password of `min..=72` characters).
fn credentials(body: JsonObject, min_password: usize) -> Result<(String, String), ApiError> {
    let mut f = Fields::new(body);
    let raw_email = f.string("email", 0, usize::MAX);
    let password = f.string("password", min_password, 72);
    let email = raw_email.as_deref().and_then(|raw| {
        let email = normalize_email(raw);
        if email.is_none() {
            f.reject(
                "email",
                "value_error",
                "value is not a valid email address",
                raw,
            );
        }
        email
    });
    f.finish()?;
    Ok((email.unwrap_or_default(), password.unwrap_or_default()))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(e.into()))
}

/// `POST /api/auth/register`
pub async fn register(
    State(state): State<AppState>,
    body: JsonObject,
) -> Result<(StatusCode, Json<TokenPair>), ApiError> {
    let (email, password) = credentials(body, 8)?;
    if admins::by_email(&state.db, &email).await?.is_some() {
        return Err(ApiError::Conflict("User already exists".into()));
    }
    let hash = blocking(move || hash_password(&password)).await?;
    let id = Uuid::new_v4();
    if !admins::insert(&state.db, id, &email, &hash).await? {
        return Err(ApiError::Conflict("User already exists".into()));
    }
    Ok((
        StatusCode::CREATED,
        Json(issue_tokens(&state, &state.db, id, None).await?),
    ))
}

/// `POST /api/auth/login`
pub async fn login(
    State(state): State<AppState>,
    body: JsonObject,
) -> Result<Json<TokenPair>, ApiError> {
    let (email, password) = credentials(body, 0)?;
    let admin = admins::by_email(&state.db, &email).await?;
    // Verify against a fixed hash when the email is unknown, so timing does not tell.
    let (id, hash) = match admin {
        Some(a) => (Some(a.id), a.password_hash),
        None => (None, DUMMY_HASH.clone()),
    };
    let ok = blocking(move || verify_password(&password, &hash)).await?;
    match id {
        Some(id) if ok => Ok(Json(issue_tokens(&state, &state.db, id, None).await?)),
        _ => Err(ApiError::Unauthorized("Invalid credentials")),
    }
}

/// A real hash to verify against for unknown emails (same work as a known one).
static DUMMY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| hash_password("no such admin"));

fn refresh_token(body: JsonObject) -> Result<String, ApiError> {
    let mut f = Fields::new(body);
    let token = f.string("refresh_token", 0, usize::MAX);
    f.finish()?;
    Ok(token.unwrap_or_default())
}

/// `POST /api/auth/refresh`: rotates the refresh token; a rotated-out token presented again ends
/// its family (the token it was exchanged for, and every later one, stop working).
pub async fn refresh(
    State(state): State<AppState>,
    body: JsonObject,
) -> Result<Json<TokenPair>, ApiError> {
    let token = refresh_token(body)?;
    let mut tx = state.db.begin().await?;
    let pair = match admins::redeem_refresh(&mut tx, &token_hash(&token)).await? {
        Redeemed::Invalid | Redeemed::Reused => {
            Err(ApiError::Unauthorized("Invalid refresh token"))
        }
        Redeemed::Expired => Err(ApiError::Unauthorized("Refresh token expired")),
        Redeemed::Ok { admin, family } => issue_tokens(&state, &mut *tx, admin, Some(family)).await,
    };
    tx.commit().await?;
    pair.map(Json)
}

/// `POST /api/auth/logout`: revokes the refresh token; 204 whatever it was.
pub async fn logout(
    State(state): State<AppState>,
    body: JsonObject,
) -> Result<StatusCode, ApiError> {
    let token = refresh_token(body)?;
    admins::revoke_refresh(&state.db, &token_hash(&token)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/me`
pub async fn me(admin: Admin) -> Json<Value> {
    Json(json!({ "id": admin.id, "email": admin.email }))
}
