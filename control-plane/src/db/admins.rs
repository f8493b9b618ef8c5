//! Admin users and their refresh tokens.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor, Row};
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

/// Stores a refresh token's hash in `family`, or in a family of its own (login, register).
pub async fn insert_refresh(
    db: impl PgExecutor<'_>,
    admin_id: Uuid,
    token_hash: &str,
    expires_at: DateTime<Utc>,
    family: Option<Uuid>,
) -> Result<(), sqlx::Error> {
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO control.admin_refresh_tokens (id, admin_id, token_hash, expires_at, family_id)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(admin_id)
    .bind(token_hash)
    .bind(expires_at)
    .bind(family.unwrap_or(id))
    .execute(db)
    .await?;
    Ok(())
}

/// What presenting a refresh token found.
#[derive(Debug, PartialEq, Eq)]
pub enum Redeemed {
    /// Unknown, logged out, or its family was ended.
    Invalid,
    /// Found and revoked, but past its expiry.
    Expired,
    /// Rotated out before and presented again: it leaked, and its whole family is now revoked.
    Reused,
    /// Found, live, now revoked and rotated: the admin it belonged to and its family, which the
    /// caller hands on to the token it issues in the same transaction.
    Ok {
        /// The admin.
        admin: Uuid,
        /// The family the next token joins.
        family: Uuid,
    },
}

/// Redeems a refresh token, at most once (its row stays locked until the caller's transaction
/// ends, so a replay racing the rotation waits for it and then finds it rotated). Commit whatever
/// the outcome: a reuse revokes the family.
pub async fn redeem_refresh(
    db: &mut PgConnection,
    token_hash: &str,
) -> Result<Redeemed, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, admin_id, family_id, revoked, rotated, expires_at <= now()
         FROM control.admin_refresh_tokens WHERE token_hash = $1 FOR UPDATE",
    )
    .bind(token_hash)
    .fetch_optional(&mut *db)
    .await?;
    let Some(row) = row else {
        return Ok(Redeemed::Invalid);
    };
    let (id, admin, family): (Uuid, Uuid, Uuid) = (row.get(0), row.get(1), row.get(2));
    let (revoked, rotated, expired): (bool, bool, bool) = (row.get(3), row.get(4), row.get(5));
    if revoked && rotated {
        let ended = sqlx::query(
            "UPDATE control.admin_refresh_tokens SET revoked = true
             WHERE family_id = $1 AND NOT revoked",
        )
        .bind(family)
        .execute(&mut *db)
        .await?
        .rows_affected();
        tracing::warn!(
            admin.id = %admin,
            family.id = %family,
            revoked = ended,
            "admin refresh token reused: its family is revoked"
        );
        return Ok(Redeemed::Reused);
    }
    if revoked {
        return Ok(Redeemed::Invalid);
    }
    sqlx::query(
        "UPDATE control.admin_refresh_tokens SET revoked = true, rotated = $2 WHERE id = $1",
    )
    .bind(id)
    .bind(!expired)
    .execute(&mut *db)
    .await?;
    Ok(if expired {
        Redeemed::Expired
    } else {
        Redeemed::Ok { admin, family }
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
