//! The SQL of app-user auth, inside a project transaction (`db::begin`: the project's role, its
//! schema as search path, so the names below can only mean this project's tables).
//!
//! Sessions: a login opens a session (`_auth_sessions`); each refresh rotates its refresh token
//! (`_auth_refresh_tokens`). A rotated-out token presented again means it leaked: the whole
//! session is revoked (reuse detection). Access tokens name their session, so revoking it ends
//! them too.

use crate::db::Tx;
use chrono::{DateTime, Utc};
use model::secret::token_hash;
use serde_json::Value;
use sqlx::Row;
use uuid::Uuid;

/// An app user. Its `Debug` leaves the password hash out.
#[derive(Clone)]
pub struct User {
    /// UUID string.
    pub id: String,
    /// Lower-cased email.
    pub email: String,
    /// argon2id PHC string; `None` for passwordless users.
    pub password_hash: Option<String>,
    /// Email verified.
    pub is_email_verified: bool,
    /// Disabled.
    pub is_disabled: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("is_email_verified", &self.is_email_verified)
            .field("is_disabled", &self.is_disabled)
            .finish_non_exhaustive()
    }
}

const USER_COLUMNS: &str =
    "\"id\", \"email\", \"password_hash\", \"is_email_verified\", \"is_disabled\", \"created_at\"";

fn user(r: sqlx::postgres::PgRow) -> User {
    User {
        id: r.get(0),
        email: r.get(1),
        password_hash: r.get(2),
        is_email_verified: r.get(3),
        is_disabled: r.get(4),
        created_at: r.get(5),
    }
}

/// The `AppUserListOut` body.
pub fn list_out(u: &User) -> Value {
    serde_json::json!({
        "id": u.id, "email": u.email, "is_email_verified": u.is_email_verified,
        "is_disabled": u.is_disabled, "created_at": u.created_at,
    })
}

/// The user with this (lower-cased) email.
pub async fn user_by_email(tx: &mut Tx, email: &str) -> Result<Option<User>, sqlx::Error> {
    let sql = format!("SELECT {USER_COLUMNS} FROM \"_users\" WHERE \"email\" = $1");
    let row = sqlx::query(&sql)
        .bind(email.to_lowercase())
        .fetch_optional(&mut **tx)
        .await?;
    Ok(row.map(user))
}

/// The user with this id.
pub async fn user_by_id(tx: &mut Tx, id: &str) -> Result<Option<User>, sqlx::Error> {
    let sql = format!("SELECT {USER_COLUMNS} FROM \"_users\" WHERE \"id\" = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(&mut **tx).await?;
    Ok(row.map(user))
}

/// Users, newest first.
pub async fn list_users(tx: &mut Tx, limit: i64, offset: i64) -> Result<Vec<User>, sqlx::Error> {
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM \"_users\" ORDER BY \"created_at\" DESC, \"id\" LIMIT $1 OFFSET $2"
    );
    let rows = sqlx::query(&sql)
        .bind(limit)
        .bind(offset)
        .fetch_all(&mut **tx)
        .await?;
    Ok(rows.into_iter().map(user).collect())
}

/// A new user; `None` when the email is taken.
pub async fn insert_user(
    tx: &mut Tx,
    email: &str,
    password_hash: Option<&str>,
    verified: bool,
    disabled: bool,
) -> Result<Option<User>, sqlx::Error> {
    let sql = format!(
        "INSERT INTO \"_users\" (\"id\", \"email\", \"password_hash\", \"is_email_verified\", \"is_disabled\")
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (\"email\") DO NOTHING RETURNING {USER_COLUMNS}"
    );
    let row = sqlx::query(&sql)
        .bind(Uuid::new_v4().to_string())
        .bind(email.to_lowercase())
        .bind(password_hash)
        .bind(verified)
        .bind(disabled)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(row.map(user))
}

/// Changes to a user; `None` leaves a column alone.
#[derive(Default)]
pub struct UserChange<'a> {
    /// New (lower-cased) email.
    pub email: Option<&'a str>,
    /// New password hash.
    pub password_hash: Option<&'a str>,
    /// Verified flag.
    pub is_email_verified: Option<bool>,
    /// Disabled flag.
    pub is_disabled: Option<bool>,
}

/// Applies a change; `None` when the user does not exist.
pub async fn update_user(
    tx: &mut Tx,
    id: &str,
    c: &UserChange<'_>,
) -> Result<Option<User>, sqlx::Error> {
    let sql = format!(
        "UPDATE \"_users\" SET
            \"email\" = COALESCE($2, \"email\"),
            \"password_hash\" = COALESCE($3, \"password_hash\"),
            \"is_email_verified\" = COALESCE($4, \"is_email_verified\"),
            \"is_disabled\" = COALESCE($5, \"is_disabled\"),
            \"updated_at\" = now()
         WHERE \"id\" = $1 RETURNING {USER_COLUMNS}"
    );
    let row = sqlx::query(&sql)
        .bind(id)
        .bind(c.email.map(str::to_lowercase))
        .bind(c.password_hash)
        .bind(c.is_email_verified)
        .bind(c.is_disabled)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(row.map(user))
}

/// The owner of the address just proved it (a one-time code, or a provider that verified it).
/// If the account was unverified, whatever was set up on it before is not trusted: anyone could
/// have registered that address. Its password is cleared and its sessions end (so an account
/// registered in someone else's name cannot be kept once they sign in), then it is verified.
pub async fn prove_email(tx: &mut Tx, user: &User) -> Result<(), sqlx::Error> {
    if user.is_email_verified {
        return Ok(());
    }
    if user.password_hash.is_some() {
        end_all_sessions(tx, &user.id, "email proven by its owner").await?;
    }
    sqlx::query(
        "UPDATE \"_users\" SET \"password_hash\" = NULL, \"is_email_verified\" = true,
            \"updated_at\" = now() WHERE \"id\" = $1",
    )
    .bind(&user.id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Deletes a user with its sessions, tokens and identities (cascade); false when unknown.
pub async fn delete_user(tx: &mut Tx, id: &str) -> Result<bool, sqlx::Error> {
    let n = sqlx::query("DELETE FROM \"_users\" WHERE \"id\" = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    Ok(n == 1)
}

/// Where a request came from, for sessions and audit events.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    /// Client IP.
    pub ip: Option<String>,
    /// `User-Agent`, at most 512 characters.
    pub user_agent: Option<String>,
}

/// Opens a session for `user` and issues its first refresh token. Returns (session id, token).
pub async fn open_session(
    tx: &mut Tx,
    user: &str,
    ttl_days: i32,
    origin: &Origin,
) -> Result<(Uuid, String), sqlx::Error> {
    let session = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO \"_auth_sessions\" (\"id\", \"user_id\", \"ip_address\", \"user_agent\")
         VALUES ($1, $2, $3, $4)",
    )
    .bind(session)
    .bind(user)
    .bind(&origin.ip)
    .bind(&origin.user_agent)
    .execute(&mut **tx)
    .await?;
    let token = issue_refresh(tx, session, user, ttl_days, origin).await?;
    Ok((session, token))
}

async fn issue_refresh(
    tx: &mut Tx,
    session: Uuid,
    user: &str,
    ttl_days: i32,
    origin: &Origin,
) -> Result<String, sqlx::Error> {
    let token = model::secret::random_token();
    sqlx::query(
        "INSERT INTO \"_auth_refresh_tokens\"
            (\"token_hash\", \"session_id\", \"user_id\", \"expires_at\", \"ip_address\", \"user_agent\")
         VALUES ($1, $2, $3, now() + make_interval(days => $4), $5, $6)",
    )
    .bind(token_hash(&token))
    .bind(session)
    .bind(user)
    .bind(ttl_days)
    .bind(&origin.ip)
    .bind(&origin.user_agent)
    .execute(&mut **tx)
    .await?;
    Ok(token)
}

/// What presenting a refresh token did.
pub enum Rotation {
    /// Rotated: the user and the new refresh token of the same session.
    Rotated {
        /// App-user id.
        user_id: String,
        /// The session.
        session: Uuid,
        /// The new refresh token.
        token: String,
    },
    /// Unknown, logged out, or its session ended.
    Invalid,
    /// Past its expiry.
    Expired,
    /// A token already rotated out was presented again: its session has now been revoked.
    Reused,
}

/// Rotates a refresh token (spec/app-auth.md refresh, plus reuse detection). Commit the
/// transaction whatever the outcome: a reuse revokes the session.
pub async fn rotate(
    tx: &mut Tx,
    presented: &str,
    ttl_days: i32,
    origin: &Origin,
) -> Result<Rotation, sqlx::Error> {
    let hash = token_hash(presented);
    let row = sqlx::query(
        "SELECT t.\"session_id\", t.\"user_id\", t.\"revoked\", t.\"rotated\",
                t.\"expires_at\" <= now(), s.\"revoked_at\" IS NOT NULL
         FROM \"_auth_refresh_tokens\" t JOIN \"_auth_sessions\" s ON s.\"id\" = t.\"session_id\"
         WHERE t.\"token_hash\" = $1 FOR UPDATE OF t",
    )
    .bind(&hash)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else {
        return Ok(Rotation::Invalid);
    };
    let (session, user_id): (Uuid, String) = (row.get(0), row.get(1));
    let (revoked, rotated, expired, session_ended): (bool, bool, bool, bool) =
        (row.get(2), row.get(3), row.get(4), row.get(5));
    if revoked && rotated && !session_ended {
        end_session(tx, session, "refresh token reuse").await?;
        tracing::warn!(session.id = %session, "refresh token reused: session revoked");
        return Ok(Rotation::Reused);
    }
    if revoked || session_ended {
        return Ok(Rotation::Invalid);
    }
    if expired {
        return Ok(Rotation::Expired);
    }
    sqlx::query(
        "UPDATE \"_auth_refresh_tokens\" SET \"revoked\" = true, \"rotated\" = true,
            \"last_used_at\" = now() WHERE \"token_hash\" = $1",
    )
    .bind(&hash)
    .execute(&mut **tx)
    .await?;
    let token = issue_refresh(tx, session, &user_id, ttl_days, origin).await?;
    Ok(Rotation::Rotated {
        user_id,
        session,
        token,
    })
}

async fn end_session(tx: &mut Tx, session: Uuid, reason: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE \"_auth_sessions\" SET \"revoked_at\" = now(), \"revoke_reason\" = $2
         WHERE \"id\" = $1 AND \"revoked_at\" IS NULL",
    )
    .bind(session)
    .bind(reason)
    .execute(&mut **tx)
    .await?;
    sqlx::query("UPDATE \"_auth_refresh_tokens\" SET \"revoked\" = true WHERE \"session_id\" = $1")
        .bind(session)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Logout: ends the session of a refresh token (revoked or not). Returns its user, if the token
/// exists.
pub async fn logout(tx: &mut Tx, presented: &str) -> Result<Option<String>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT \"session_id\", \"user_id\" FROM \"_auth_refresh_tokens\" WHERE \"token_hash\" = $1",
    )
    .bind(token_hash(presented))
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else { return Ok(None) };
    end_session(tx, row.get(0), "logout").await?;
    Ok(Some(row.get(1)))
}

/// Ends every live session of a user; returns how many refresh tokens were still live.
pub async fn end_all_sessions(tx: &mut Tx, user: &str, reason: &str) -> Result<u64, sqlx::Error> {
    let live = sqlx::query(
        "UPDATE \"_auth_refresh_tokens\" SET \"revoked\" = true
         WHERE \"user_id\" = $1 AND NOT \"revoked\"",
    )
    .bind(user)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    sqlx::query(
        "UPDATE \"_auth_sessions\" SET \"revoked_at\" = now(), \"revoke_reason\" = $2
         WHERE \"user_id\" = $1 AND \"revoked_at\" IS NULL",
    )
    .bind(user)
    .bind(reason)
    .execute(&mut **tx)
    .await?;
    Ok(live)
}

/// Whether a session is live (not revoked).
pub async fn session_live(tx: &mut Tx, session: Uuid) -> Result<bool, sqlx::Error> {
    let live: Option<bool> = sqlx::query_scalar(
        "SELECT \"revoked_at\" IS NULL FROM \"_auth_sessions\" WHERE \"id\" = $1",
    )
    .bind(session)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(live == Some(true))
}

/// One-time token purposes.
pub const VERIFY_EMAIL: &str = "verify_email";
/// Password reset.
pub const PASSWORD_RESET: &str = "password_reset";

/// Replaces the user's unused tokens of `purpose` with a new one valid `ttl_minutes`.
pub async fn new_one_time_token(
    tx: &mut Tx,
    user: &str,
    purpose: &str,
    ttl_minutes: i32,
) -> Result<String, sqlx::Error> {
    sqlx::query(
        "DELETE FROM \"_auth_tokens\" WHERE \"user_id\" = $1 AND \"purpose\" = $2 AND \"used_at\" IS NULL",
    )
    .bind(user)
    .bind(purpose)
    .execute(&mut **tx)
    .await?;
    let token = model::secret::random_token();
    sqlx::query(
        "INSERT INTO \"_auth_tokens\" (\"token_hash\", \"user_id\", \"purpose\", \"expires_at\")
         VALUES ($1, $2, $3, now() + make_interval(mins => $4))",
    )
    .bind(token_hash(&token))
    .bind(user)
    .bind(purpose)
    .bind(ttl_minutes)
    .execute(&mut **tx)
    .await?;
    Ok(token)
}

/// What redeeming a one-time token found.
pub enum Redeemed {
    /// Unknown, used, or of another purpose.
    Invalid,
    /// Past its expiry.
    Expired,
    /// Valid, now marked used: its user.
    User(String),
}

/// Redeems a one-time token (marks it used).
pub async fn redeem(tx: &mut Tx, presented: &str, purpose: &str) -> Result<Redeemed, sqlx::Error> {
    let row = sqlx::query(
        "UPDATE \"_auth_tokens\" SET \"used_at\" = now()
         WHERE \"token_hash\" = $1 AND \"purpose\" = $2 AND \"used_at\" IS NULL
         RETURNING \"user_id\", \"expires_at\" <= now()",
    )
    .bind(token_hash(presented))
    .bind(purpose)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(match row {
        None => Redeemed::Invalid,
        Some(r) if r.get::<bool, _>(1) => Redeemed::Expired,
        Some(r) => Redeemed::User(r.get(0)),
    })
}

/// A pending one-time login code.
pub struct Otp {
    /// SHA-256 of the code.
    pub code_hash: String,
    /// Wrong guesses so far.
    pub attempts: i32,
    /// Past its expiry.
    pub expired: bool,
}

/// Replaces the pending login code of an email with a new one valid `ttl_minutes`.
pub async fn new_otp(
    tx: &mut Tx,
    email: &str,
    code: &str,
    ttl_minutes: i32,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO \"_auth_otp\" (\"email\", \"purpose\", \"code_hash\", \"expires_at\")
         VALUES ($1, 'login', $2, now() + make_interval(mins => $3))
         ON CONFLICT (\"email\", \"purpose\") DO UPDATE SET \"code_hash\" = $2, \"attempts\" = 0,
            \"expires_at\" = now() + make_interval(mins => $3), \"created_at\" = now()",
    )
    .bind(email.to_lowercase())
    .bind(token_hash(code))
    .bind(ttl_minutes)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The pending login code of an email (locked).
pub async fn otp(tx: &mut Tx, email: &str) -> Result<Option<Otp>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT \"code_hash\", \"attempts\", \"expires_at\" <= now() FROM \"_auth_otp\"
         WHERE \"email\" = $1 AND \"purpose\" = 'login' FOR UPDATE",
    )
    .bind(email.to_lowercase())
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.map(|r| Otp {
        code_hash: r.get(0),
        attempts: r.get(1),
        expired: r.get(2),
    }))
}

/// Counts a wrong guess.
pub async fn otp_failed(tx: &mut Tx, email: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE \"_auth_otp\" SET \"attempts\" = \"attempts\" + 1 WHERE \"email\" = $1 AND \"purpose\" = 'login'",
    )
    .bind(email.to_lowercase())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Deletes the pending code of an email.
pub async fn delete_otp(tx: &mut Tx, email: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM \"_auth_otp\" WHERE \"email\" = $1 AND \"purpose\" = 'login'")
        .bind(email.to_lowercase())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The user linked to a provider identity.
pub async fn identity(
    tx: &mut Tx,
    provider: &str,
    provider_user_id: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT \"user_id\" FROM \"_auth_identities\" WHERE \"provider\" = $1 AND \"provider_user_id\" = $2",
    )
    .bind(provider)
    .bind(provider_user_id)
    .fetch_optional(&mut **tx)
    .await
}

/// Links a provider identity to a user.
pub async fn link_identity(
    tx: &mut Tx,
    provider: &str,
    provider_user_id: &str,
    user: &str,
    email: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO \"_auth_identities\" (\"provider\", \"provider_user_id\", \"user_id\", \"email\")
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    )
    .bind(provider)
    .bind(provider_user_id)
    .bind(user)
    .bind(email)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Remembers a started OAuth authorization (its PKCE verifier, and the flow secret that the app
/// which started it must show to finish it) for ten minutes.
pub async fn save_oauth_state(
    tx: &mut Tx,
    id: Uuid,
    provider: &str,
    redirect_uri: &str,
    verifier: &str,
    flow: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM \"_auth_oauth_states\" WHERE \"expires_at\" < now()")
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "INSERT INTO \"_auth_oauth_states\" (\"id\", \"provider\", \"redirect_uri\", \"verifier\", \"flow_hash\", \"expires_at\")
         VALUES ($1, $2, $3, $4, $5, now() + interval '10 minutes')",
    )
    .bind(id)
    .bind(provider)
    .bind(redirect_uri)
    .bind(verifier)
    .bind(token_hash(flow))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Takes (once) a started authorization, if `flow` is the secret of the app that started it:
/// `(provider, redirect_uri, verifier)`. A wrong flow leaves it in place for its owner.
pub async fn take_oauth_state(
    tx: &mut Tx,
    id: Uuid,
    flow: &str,
) -> Result<Option<(String, String, String)>, sqlx::Error> {
    let row = sqlx::query(
        "DELETE FROM \"_auth_oauth_states\"
         WHERE \"id\" = $1 AND \"flow_hash\" = $2 AND \"expires_at\" > now()
         RETURNING \"provider\", \"redirect_uri\", \"verifier\"",
    )
    .bind(id)
    .bind(token_hash(flow))
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.map(|r| (r.get(0), r.get(1), r.get(2))))
}

/// Appends a successful auth event of `user` (`spec/audit.md`): `new_data_json` is
/// `{"email": …, "success": true}` plus the keys of `extra` (an object, or `null`).
pub async fn audit_user(
    tx: &mut Tx,
    action: &str,
    user: &User,
    extra: Value,
    origin: &Origin,
) -> Result<(), sqlx::Error> {
    let mut details = serde_json::json!({ "email": user.email, "success": true });
    if let (Value::Object(d), Value::Object(extra)) = (&mut details, extra) {
        d.extend(extra);
    }
    audit(tx, action, Some(&user.id), &details, origin).await
}

/// Appends an auth audit event (`spec/audit.md`): `new_data_json` is `details` as JSON text.
pub async fn audit(
    tx: &mut Tx,
    action: &str,
    actor: Option<&str>,
    details: &Value,
    origin: &Origin,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO \"_audit_events\" (\"id\", \"action\", \"actor_app_user_id\", \"new_data_json\",
            \"ip_address\", \"user_agent\")
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(Uuid::new_v4())
    .bind(action)
    .bind(actor)
    .bind(details.to_string())
    .bind(&origin.ip)
    .bind(&origin.user_agent)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
