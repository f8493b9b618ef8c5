//! Admins' management of a project's app users (`…/settings/auth/users`): list, create, get,
//! update (disable, verify, email, password), delete, and sign a user out everywhere. Member
//! admins only; app-user tokens and API keys get 401.

use super::{email_of, origin, require_admin};
use crate::auth::store::{self, list_out, User, UserChange};
use crate::auth::{password, roles};
use crate::db::{self, Tx};
use crate::http::context::{Ctx, JsonObject};
use crate::http::error::ApiError;
use crate::query::int_param;
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use model::fields::Fields;
use serde_json::{json, Value};

type UserPath = Path<(String, String)>;

fn not_found() -> ApiError {
    ApiError::NotFound("App user not found")
}

fn email_taken() -> ApiError {
    ApiError::Conflict("User with this email already exists".into())
}

async fn find(tx: &mut Tx, id: &str) -> Result<User, ApiError> {
    if id.contains('\0') {
        return Err(not_found());
    }
    store::user_by_id(tx, id).await?.ok_or_else(not_found)
}

/// A password to set: 8–128 characters, or absent/null.
fn password_of(f: &mut Fields) -> Option<String> {
    match f.value("password") {
        None | Some(Value::Null) => None,
        Some(_) => f.string("password", 8, 128),
    }
}

async fn hash_of(pw: Option<&str>) -> Result<Option<String>, ApiError> {
    match pw {
        Some(pw) => Ok(Some(password::hash(pw).await.map_err(super::hashing)?)),
        None => Ok(None),
    }
}

/// `GET …/settings/auth/users?limit=&offset=`, newest first.
pub async fn list(
    State(st): State<AppState>,
    ctx: Ctx,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Json<Vec<Value>>, ApiError> {
    require_admin(&ctx)?;
    let limit = match super::opt_param(&params, "limit") {
        Some(raw) => int_param("limit", raw, 1, 1000)?,
        None => 100,
    };
    let offset = match super::opt_param(&params, "offset") {
        Some(raw) => int_param("offset", raw, 0, i64::MAX)?,
        None => 0,
    };
    let mut tx = db::begin(&st.db, &ctx.project).await?;
    let users = store::list_users(&mut tx, limit, offset).await?;
    tx.commit().await?;
    Ok(Json(users.iter().map(list_out).collect()))
}

/// `POST …/settings/auth/users`
pub async fn create(
    State(st): State<AppState>,
    ctx: Ctx,
    JsonObject(body): JsonObject,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    require_admin(&ctx)?;
    let mut f = Fields::new(body);
    let email = email_of(&mut f, "email");
    let pw = password_of(&mut f);
    let verified = f.bool("is_email_verified", false);
    let disabled = f.bool("is_disabled", false);
    f.finish()?;
    let email = email.unwrap_or_default();
    let hash = hash_of(pw.as_deref()).await?;
    let mut tx = db::begin(&st.db, &ctx.project).await?;
    let user = store::insert_user(&mut tx, &email, hash.as_deref(), verified, disabled)
        .await?
        .ok_or_else(email_taken)?;
    roles::assign_default_role(&mut tx, &ctx.project.config, &user.id).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(list_out(&user))))
}

/// `GET …/settings/auth/users/{id}`
pub async fn get(
    State(st): State<AppState>,
    ctx: Ctx,
    Path((_, id)): UserPath,
) -> Result<Json<Value>, ApiError> {
    require_admin(&ctx)?;
    let mut tx = db::begin(&st.db, &ctx.project).await?;
    let user = find(&mut tx, &id).await?;
    tx.commit().await?;
    Ok(Json(list_out(&user)))
}

/// `PATCH …/settings/auth/users/{id}`. Disabling takes effect on the user's live access tokens
/// at once (every data request checks the user), without revoking refresh tokens (the
/// contract's choice; refresh refuses disabled users anyway).
pub async fn update(
    State(st): State<AppState>,
    ctx: Ctx,
    Path((_, id)): UserPath,
    JsonObject(body): JsonObject,
) -> Result<Json<Value>, ApiError> {
    require_admin(&ctx)?;
    let mut f = Fields::new(body);
    let email = match f.value("email") {
        None | Some(Value::Null) => None,
        Some(_) => email_of(&mut f, "email"),
    };
    let pw = password_of(&mut f);
    let disabled = f.opt_bool("is_disabled");
    let verified = f.opt_bool("is_email_verified");
    f.finish()?;
    let mut tx = db::begin(&st.db, &ctx.project).await?;
    find(&mut tx, &id).await?;
    tx.commit().await?;
    // No connection is held while argon2 works.
    let hash = hash_of(pw.as_deref()).await?;
    let mut tx = db::begin(&st.db, &ctx.project).await?;
    if let Some(e) = &email {
        if store::user_by_email(&mut tx, e)
            .await?
            .is_some_and(|other| other.id != id)
        {
            return Err(email_taken());
        }
    }
    let change = UserChange {
        email: email.as_deref(),
        password_hash: hash.as_deref(),
        is_email_verified: verified,
        is_disabled: disabled,
    };
    let user = store::update_user(&mut tx, &id, &change)
        .await?
        .ok_or_else(not_found)?;
    tx.commit().await?;
    Ok(Json(list_out(&user)))
}

/// `DELETE …/settings/auth/users/{id}`: with its sessions, tokens and identities.
pub async fn delete(
    State(st): State<AppState>,
    ctx: Ctx,
    Path((_, id)): UserPath,
) -> Result<StatusCode, ApiError> {
    require_admin(&ctx)?;
    let mut tx = db::begin(&st.db, &ctx.project).await?;
    find(&mut tx, &id).await?;
    if !store::delete_user(&mut tx, &id).await? {
        return Err(not_found());
    }
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST …/settings/auth/users/{id}/revoke-sessions`: every session ends, access tokens
/// included.
pub async fn revoke_sessions(
    State(st): State<AppState>,
    ctx: Ctx,
    Path((_, id)): UserPath,
    parts: Parts,
) -> Result<StatusCode, ApiError> {
    require_admin(&ctx)?;
    let origin = origin(&parts, &st);
    let mut tx = db::begin(&st.db, &ctx.project).await?;
    let user = find(&mut tx, &id).await?;
    let n = store::end_all_sessions(&mut tx, &user.id, "revoked by an admin").await?;
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
