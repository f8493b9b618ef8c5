//! App-user auth endpoints (`spec/app-auth.md`) under `/api/projects/{id}/auth`, and admins'
//! management of app users under `…/settings/auth/users`. Every endpoint resolves the project
//! first (404), then validates its input (422), then applies rate limits (429), then its rules.

mod email;
mod meta;
mod oauth;
mod session;
mod users;

use super::context::{Caller, Ctx};
use super::error::ApiError;
use crate::auth::store::{self, Origin, User};
use crate::auth::tokens::{self, TokenPair};
use crate::db::{self, Tx};
use crate::ratelimit::Bucket;
use crate::registry::Project;
use crate::AppState;
use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use axum::routing::{get, post};
use axum::Router;
use model::error_body::validation_item;
use model::fields::normalize_email;
use serde_json::{json, Value};
use std::net::{IpAddr, SocketAddr};

/// The auth routes, merged into the worker's app.
pub fn routes() -> Router<AppState> {
    let a = "/api/projects/{project_id}/auth";
    let users = "/api/projects/{project_id}/settings/auth/users";
    Router::new()
        .route(&format!("{a}/providers"), get(session::providers))
        .route(&format!("{a}/register"), post(session::register))
        .route(&format!("{a}/login"), post(session::login))
        .route(&format!("{a}/refresh"), post(session::refresh))
        .route(&format!("{a}/logout"), post(session::logout))
        .route(&format!("{a}/logout/all"), post(session::logout_all))
        .route(&format!("{a}/me"), get(session::me))
        .route(
            &format!("{a}/password/change"),
            post(session::change_password),
        )
        .route(&format!("{a}/verify/send"), post(email::send_verification))
        .route(
            &format!("{a}/verify/confirm"),
            post(email::confirm_verification),
        )
        .route(&format!("{a}/password/reset/send"), post(email::send_reset))
        .route(
            &format!("{a}/password/reset/confirm"),
            post(email::confirm_reset),
        )
        .route(&format!("{a}/otp/send"), post(email::send_otp))
        .route(&format!("{a}/otp/verify"), post(email::verify_otp))
        .route(&format!("{a}/oauth/callback"), post(oauth::callback))
        .route(&format!("{a}/oauth/{{provider}}/url"), get(oauth::url))
        .route(
            &format!("{a}/oauth/{{provider}}/callback"),
            get(oauth::provider_callback).post(oauth::provider_callback),
        )
        .route(&format!("{a}/meta"), get(meta::meta))
        .route(users, get(users::list).post(users::create))
        .route(
            &format!("{users}/{{app_user_id}}"),
            get(users::get).patch(users::update).delete(users::delete),
        )
        .route(
            &format!("{users}/{{app_user_id}}/revoke-sessions"),
            post(users::revoke_sessions),
        )
}

/// Where a request came from: the TCP peer, or the client address a trusted proxy (the
/// router) put in `X-Forwarded-For`; and the `User-Agent`.
pub fn origin(parts: &Parts, st: &AppState) -> Origin {
    let forwarded = || {
        let header = parts.headers.get("x-forwarded-for")?.to_str().ok()?;
        header.rsplit(',').next()?.trim().parse::<IpAddr>().ok()
    };
    let ip = match peer(parts) {
        Some(p) if via_trusted_proxy(parts, st) => forwarded().or(Some(p)),
        other => other,
    };
    let user_agent = parts
        .headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(512).collect());
    Origin {
        ip: ip.map(|ip| ip.to_string()),
        user_agent,
    }
}

/// The TCP peer of the request.
fn peer(parts: &Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

/// Marks a request that came over the worker's Unix socket: only processes of the worker's own
/// user on its machine can connect there (mode 0600), i.e. a router, whatever `TRUSTED_PROXIES`
/// says about addresses.
#[derive(Clone, Copy)]
pub struct UnixPeer;

/// True when the request came through a trusted proxy (the router), whose forwarding headers
/// are believed.
pub fn via_trusted_proxy(parts: &Parts, st: &AppState) -> bool {
    parts.extensions.get::<UnixPeer>().is_some()
        || peer(parts).is_some_and(|p| st.trusted_proxies.allows(p))
}

/// Applies a rate-limit bucket to the client IP and, when given, the email.
pub async fn limit(
    st: &AppState,
    project: &Project,
    bucket: Bucket,
    origin: &Origin,
    email: Option<&str>,
) -> Result<(), ApiError> {
    let ip = origin.ip.clone().unwrap_or_else(|| "unknown".into());
    let email_key = email.map(|e| format!("email:{}", e.to_lowercase()));
    let mut keys = vec![ip.as_str()];
    keys.extend(email_key.as_deref());
    st.limiter
        .check(bucket, project.config.project_id, &keys)
        .await
        .map_err(|l| ApiError::RateLimited(l.retry_after_secs))
}

/// A required query parameter (422 in the contract's shape when missing, or when it holds a NUL
/// character, which no stored value can contain).
pub fn query_param<'a>(params: &'a [(String, String)], name: &str) -> Result<&'a str, ApiError> {
    let value = params
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .ok_or_else(|| {
            ApiError::Validation(vec![validation_item(
                "missing",
                &["query", name],
                "Field required",
                Value::Null,
            )])
        })?;
    if value.contains('\0') {
        return Err(ApiError::Validation(vec![validation_item(
            "string_nul",
            &["query", name],
            "String should not contain NUL characters",
            json!(value),
        )]));
    }
    Ok(value)
}

/// Maps a password-hashing failure: a full queue is a 503 (try again), anything else a 500.
pub fn hashing(e: anyhow::Error) -> ApiError {
    if e.is::<crate::auth::password::Busy>() {
        ApiError::Unavailable("Too many sign-ins at once; try again in a moment")
    } else {
        ApiError::Internal(e)
    }
}

/// An optional query parameter (one holding a NUL character counts as absent).
pub fn opt_param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.contains('\0'))
}

/// A body email, validated and lower-cased (app-user emails compare case-insensitively).
pub fn email_of(f: &mut model::fields::Fields, key: &str) -> Option<String> {
    let raw = f.string(key, 0, 320)?;
    match normalize_email(&raw) {
        Some(e) => Some(e.to_lowercase()),
        None => {
            f.reject(
                key,
                "value_error",
                "value is not a valid email address: An email address must have an @-sign and a valid domain.",
                &raw,
            );
            None
        }
    }
}

/// Opens a session for the user and answers the token pair.
pub async fn issue_pair(
    tx: &mut Tx,
    project: &Project,
    user: &str,
    origin: &Origin,
) -> Result<Value, ApiError> {
    let settings = &project.config.auth.settings;
    let (session, refresh) =
        store::open_session(tx, user, settings.refresh_ttl_days, origin).await?;
    let access = tokens::issue(&project.config, user, session).ok_or_else(no_signing_key)?;
    Ok(TokenPair::body(access, refresh, &project.config))
}

/// A config without signing keys comes from a control plane older than app auth.
pub fn no_signing_key() -> ApiError {
    ApiError::Unavailable("This project has no token signing key yet; try again shortly")
}

/// The contract's "current app user" guard (`/me`, `/password/change`, `/logout/all`,
/// `/verify/send`): a valid app-user token of this project, a live session, an enabled user.
pub async fn current_user(
    st: &AppState,
    parts: &Parts,
    project: &Project,
) -> Result<(User, uuid::Uuid), ApiError> {
    let Some(header) = parts.headers.get(axum::http::header::AUTHORIZATION) else {
        return Err(ApiError::Validation(vec![validation_item(
            "missing",
            &["header", "authorization"],
            "Field required",
            Value::Null,
        )]));
    };
    let token = header
        .to_str()
        .ok()
        .and_then(|h| h.strip_prefix("Bearer "))
        .ok_or(ApiError::Unauthorized("Invalid authorization header"))?;
    let t = st
        .tokens
        .verify(&project.config, token.trim())
        .map_err(|r| ApiError::Unauthorized(r.detail()))?;
    let mut tx = db::begin(&st.db, project).await?;
    let user = store::user_by_id(&mut tx, &t.user_id)
        .await?
        .ok_or(ApiError::Unauthorized("User not found"))?;
    let live = store::session_live(&mut tx, t.session_id).await?;
    tx.commit().await?;
    if user.is_disabled {
        return Err(ApiError::Forbidden("User account is disabled".into()));
    }
    if !live {
        return Err(ApiError::Unauthorized("Session has been signed out"));
    }
    Ok((user, t.session_id))
}

/// Admin-only endpoints: a member admin's token, nothing else.
pub fn require_admin(ctx: &Ctx) -> Result<uuid::Uuid, ApiError> {
    match ctx.caller {
        Caller::Admin(id) => Ok(id),
        _ => Err(ApiError::Unauthorized("Not authenticated")),
    }
}

/// `{"message": …}` plus, in development mode only, the secret under `key`.
pub fn with_secret(st: &AppState, message: &str, key: &str, secret: Option<String>) -> Value {
    let mut body = json!({ "message": message });
    if let (true, Some(secret)) = (st.dev_mode, secret) {
        body[key] = json!(secret);
    }
    body
}
