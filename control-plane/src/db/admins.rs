//! Admin users and their refresh tokens.

use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, Row};
use uuid::Uuid;

/// An admin row.
pub struct Admin {
    /// Id.
    pub id: Uuid,
    /// Normalized email.
    pub email: String,
    /// Argon2id PHC string.
    pub password_hash: String,
}

/// Inserts an admin; `Ok(false)` when the email is taken.
pub async fn insert(
    db: impl PgExecutor<'_>,
    id: Uuid,
    email: &str,
    hash: &str,
) -> Result<bool, sqlx::Error> {
    let res = sqlx::query(
        "INSERT INTO control.admins (id, email, password_hash) VALUES ($1, $2, $3)
         ON CONFLICT (email) DO NOTHING",
    )
    .bind(id)
    .bind(email)
    .bind(hash)
    .execute(db)
    .await?;
    Ok(res.rows_affected() == 1)
}

/// The admin with this email.
pub async fn by_email(db: impl PgExecutor<'_>, email: &str) -> Result<Option<Admin>, sqlx::Error> {
    let row = sqlx::query("SELECT id, email, password_hash FROM control.admins WHERE email = $1")
        .bind(email)
        .fetch_optional(db)
        .await?;
    Ok(row.map(|r| Admin {
        id: r.get(0),
        email: r.get(1),
        password_hash: r.get(2),
    }))
}

/// The email of the admin with this id.
pub async fn email_by_id(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT email FROM control.admins WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Stores a refresh token's hash.
pub async fn insert_refresh(
    db: impl PgExecutor<'_>,
    admin_id: Uuid,
    token_hash: &str,
    expires_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO control.admin_refresh_tokens (id, admin_id, token_hash, expires_at)
         VALUES ($1, $2, $3, $4)",
    )
    .bind(Uuid::new_v4())
    .bind(admin_id)
    .bind(token_hash)
    .bind(expires_at)
    .execute(db)
    .await?;
    Ok(())
}

/// What revoking a refresh token found.
pub enum Redeemed {
    /// Unknown or already revoked.
    Invalid,
    /// Found and revoked, but past its expiry.
    Expired,
    /// Found, live, now revoked: the admin it belonged to.
    Ok(Uuid),
}

/// Revokes a live refresh token atomically (a token is redeemed at most once).
pub async fn redeem_refresh(
    db: impl PgExecutor<'_>,
    token_hash: &str,
) -> Result<Redeemed, sqlx::Error> {
    let row = sqlx::query(
        "UPDATE control.admin_refresh_tokens SET revoked = true
         WHERE token_hash = $1 AND NOT revoked
         RETURNING admin_id, expires_at <= now()",
    )
    .bind(token_hash)
    .fetch_optional(db)
    .await?;
    Ok(match row {
        None => Redeemed::Invalid,
        Some(r) if r.get::<bool, _>(1) => Redeemed::Expired,
        Some(r) => Redeemed::Ok(r.get(0)),
    })
}

/// Revokes a refresh token if it exists.
pub async fn revoke_refresh(db: impl PgExecutor<'_>, token_hash: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE control.admin_refresh_tokens SET revoked = true WHERE token_hash = $1")
        .bind(token_hash)
        .execute(db)
        .await?;
    Ok(())
}
