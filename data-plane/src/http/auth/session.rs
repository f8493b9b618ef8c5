//! Sign-up, login and sessions: providers, register, login, refresh (rotation with reuse
//! detection), logout, logout everywhere, me, password change.

use super::{current_user, email_of, issue_pair, limit, no_signing_key, origin};
use crate::auth::store::{self, Rotation, UserChange};
use crate::auth::tokens::{self, TokenPair};
use crate::auth::{password, roles};
use crate::db;
use crate::http::context::{JsonObject, ProjectOf};
use crate::http::error::ApiError;
use crate::ratelimit::Bucket;
use crate::AppState;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use model::fields::Fields;
use serde_json::{json, Value};

const EMAIL_PASSWORD_OFF: &str = "Email/password authentication is not enabled for this project";

/// `GET …/auth/providers`
pub async fn providers(ProjectOf(p): ProjectOf) -> Json<Value> {
    let s = &p.config.auth.settings;
    Json(json!({
        "email_password": s.enable_email_password, "magic_link": s.enable_magic_link,
        "otp": s.enable_otp, "oauth_google": s.enable_oauth_google,
        "oauth_github": s.enable_oauth_github, "session_mode": s.session_mode,
        "allow_public_signup": s.allow_public_signup,
    }))
}

/// `POST …/auth/register`
pub async fn register(
    State(st): State<AppState>,
    ProjectOf(p): ProjectOf,
    parts: Parts,
    JsonObject(body): JsonObject,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let mut f = Fields::new(body);
    let email = email_of(&mut f, "email");
    let pw = f.string("password", 8, 128);
    f.finish()?;
    let (email, pw) = (email.unwrap_or_default(), pw.unwrap_or_default());
    let origin = origin(&parts, &st);
    limit(&st, &p, Bucket::Register, &origin, None).await?;
    let s = &p.config.auth.settings;
    if !s.enable_email_password {
        return Err(ApiError::BadRequest(EMAIL_PASSWORD_OFF.into()));
    }
    if !s.allow_public_signup {
        return Err(ApiError::Forbidden(
            "Public signup is not allowed for this project".into(),
        ));
    }
    let exists = || ApiError::Conflict("User with this email already exists".into());
    // No database connection is held while argon2 works.
    let hash = password::hash(&pw).await.map_err(super::hashing)?;
    let mut tx = db::begin(&st.db, &p).await?;
    let user = store::insert_user(&mut tx, &email, Some(&hash), false, false)
        .await?
        .ok_or_else(exists)?;
    roles::assign_default_role(&mut tx, &p.config, &user.id).await?;
    let pair = issue_pair(&mut tx, &p, &user.id, &origin).await?;
    store::audit_user(&mut tx, "auth.register", &user, Value::Null, &origin).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(pair)))
}

/// `POST …/auth/login`
pub async fn login(
    State(st): State<AppState>,
    ProjectOf(p): ProjectOf,
    parts: Parts,
    JsonObject(body): JsonObject,
) -> Result<Json<Value>, ApiError> {
    let mut f = Fields::new(body);
    let email = email_of(&mut f, "email");
    let pw = f.string("password", 0, usize::MAX);
    f.finish()?;
    let (email, pw) = (email.unwrap_or_default(), pw.unwrap_or_default());
    let origin = origin(&parts, &st);
    limit(&st, &p, Bucket::Login, &origin, Some(&email)).await?;
    let s = &p.config.auth.settings;
    if !s.enable_email_password {
        return Err(ApiError::BadRequest(EMAIL_PASSWORD_OFF.into()));
    }
    let mut tx = db::begin(&st.db, &p).await?;
    let user = store::user_by_email(&mut tx, &email).await?;
    // No database connection is held while argon2 works.
    tx.commit().await?;
    let stored = user.as_ref().and_then(|u| u.password_hash.as_deref());
    let ok = password::verify(&pw, stored)
        .await
        .map_err(super::hashing)?;
    let Some(user) = user.filter(|_| ok) else {
        return Err(ApiError::Unauthorized("Invalid credentials"));
    };
    if user.is_disabled {
        return Err(ApiError::Forbidden("User account is disabled".into()));
    }
    if s.require_email_verification && !user.is_email_verified {
        return Err(ApiError::Forbidden("Email verification required".into()));
    }
    let mut tx = db::begin(&st.db, &p).await?;
    let pair = issue_pair(&mut tx, &p, &user.id, &origin).await?;
    store::audit_user(&mut tx, "auth.login", &user, Value::Null, &origin).await?;
    tx.commit().await?;
    Ok(Json(pair))
}

fn refresh_token_of(body: serde_json::Map<String, Value>) -> Result<String, ApiError> {
    let mut f = Fields::new(body);
    let token = f.string("refresh_token", 0, usize::MAX);
    f.finish()?;
    Ok(token.unwrap_or_default())
}

/// `POST …/auth/refresh`: rotates the refresh token. Presenting one that was already rotated
/// out revokes its whole session (the token leaked, or a client raced itself).
pub async fn refresh(
    State(st): State<AppState>,
    ProjectOf(p): ProjectOf,
    parts: Parts,
    JsonObject(body): JsonObject,
) -> Result<Json<Value>, ApiError> {
    let presented = refresh_token_of(body)?;
    let origin = origin(&parts, &st);
    let ttl = p.config.auth.settings.refresh_ttl_days;
    let mut tx = db::begin(&st.db, &p).await?;
    let rotation = store::rotate(&mut tx, &presented, ttl, &origin).await?;
    let (user_id, session, refresh) = match rotation {
        Rotation::Rotated {
            user_id,
            session,
            token,
        } => (user_id, session, token),
        Rotation::Reused | Rotation::Invalid => {
            // A reuse has revoked the session: that must stick.
            tx.commit().await?;
            return Err(ApiError::Unauthorized("Invalid refresh token"));
        }
        Rotation::Expired => return Err(ApiError::Unauthorized("Refresh token expired")),
    };
    let user = store::user_by_id(&mut tx, &user_id).await?;
    let Some(user) = user else {
        return Err(ApiError::Unauthorized("Invalid refresh token"));
    };
    if user.is_disabled {
        // The presented token stays revoked, and its successor is never handed out.
        store::logout(&mut tx, &refresh).await?;
        tx.commit().await?;
        return Err(ApiError::Forbidden("User account is disabled".into()));
    }
    let access = tokens::issue(&p.config, &user.id, session).ok_or_else(no_signing_key)?;
    store::audit_user(&mut tx, "auth.refresh", &user, Value::Null, &origin).await?;
    tx.commit().await?;
    Ok(Json(TokenPair::body(access, refresh, &p.config)))
}

/// `POST …/auth/logout`: ends the session of the refresh token; 204 whatever it was.
pub async fn logout(
    State(st): State<AppState>,
    ProjectOf(p): ProjectOf,
    parts: Parts,
    JsonObject(body): JsonObject,
) -> Result<StatusCode, ApiError> {
    let presented = refresh_token_of(body)?;
    let origin = origin(&parts, &st);
    let mut tx = db::begin(&st.db, &p).await?;
    if let Some(user) = store::logout(&mut tx, &presented).await? {
        let details = json!({ "success": true });
        store::audit(&mut tx, "auth.logout", Some(&user), &details, &origin).await?;
    }
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET …/auth/me`
pub async fn me(
    State(st): State<AppState>,
    ProjectOf(p): ProjectOf,
    parts: Parts,
) -> Result<Json<Value>, ApiError> {
    let (user, _) = current_user(&st, &parts, &p).await?;
    Ok(Json(json!({
        "id": user.id, "email": user.email, "is_email_verified": user.is_email_verified,
    })))
}

/// `POST …/auth/password/change` (sessions stay signed in).
pub async fn change_password(
    State(st): State<AppState>,
    ProjectOf(p): ProjectOf,
    parts: Parts,
    JsonObject(body): JsonObject,
) -> Result<StatusCode, ApiError> {
    let (user, _) = current_user(&st, &parts, &p).await?;
    let mut f = Fields::new(body);
    let current = f.string("current_password", 0, usize::MAX);
    let new = f.string("new_password", 8, 128);
    f.finish()?;
    let (current, new) = (current.unwrap_or_default(), new.unwrap_or_default());
    let Some(stored) = user.password_hash.as_deref() else {
        return Err(ApiError::BadRequest(
            "User does not have a password set".into(),
        ));
    };
    if !password::verify(&current, Some(stored))
        .await
        .map_err(super::hashing)?
    {
        return Err(ApiError::Unauthorized("Current password is incorrect"));
    }
    let hash = password::hash(&new).await.map_err(super::hashing)?;
    let origin = origin(&parts, &st);
    let mut tx = db::begin(&st.db, &p).await?;
    let change = UserChange {
        password_hash: Some(&hash),
        ..Default::default()
    };
    store::update_user(&mut tx, &user.id, &change).await?;
    store::audit_user(&mut tx, "auth.password_change", &user, Value::Null, &origin).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST …/auth/logout/all`: ends every session of the caller.
pub async fn logout_all(
    State(st): State<AppState>,
    ProjectOf(p): ProjectOf,
    parts: Parts,
) -> Result<StatusCode, ApiError> {
    let (user, _) = current_user(&st, &parts, &p).await?;
    let origin = origin(&parts, &st);
    let mut tx = db::begin(&st.db, &p).await?;
    let n = store::end_all_sessions(&mut tx, &user.id, "logout all").await?;
    store::audit_user(
        &mut tx,
        "auth.logout",
        &user,
        json!({ "all_sessions": true, "revoked_count": n }),
        &origin,
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
