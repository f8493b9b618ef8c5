//! Admin API tokens (`control.admin_api_tokens`): long-lived credentials for automation, kept as
//! SHA-256 digests.

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgExecutor, Row};
use uuid::Uuid;

/// A token as listed (never the token itself).
#[derive(Debug, Clone)]
pub struct Token {
    /// Id.
    pub id: Uuid,
    /// Name given at creation.
    pub name: String,
    /// The token's first characters, to recognize it.
    pub prefix: String,
    /// Projects it is limited to (`None`: every project of its admin).
    pub project_ids: Option<Vec<Uuid>>,
    /// Only reads (GET) are allowed.
    pub read_only: bool,
    /// When it stops working.
    pub expires_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last used (updated at most once a minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// Revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// What a live token grants: its admin, and its limits.
#[derive(Debug, Clone)]
pub struct Grant {
    /// The token's id.
    pub id: Uuid,
    /// Its admin.
    pub admin_id: Uuid,
    /// The admin's email.
    pub email: String,
    /// Projects it is limited to.
    pub project_ids: Option<Vec<Uuid>>,
    /// Reads only.
    pub read_only: bool,
}

fn token(r: PgRow) -> Token {
    Token {
        id: r.get(0),
        name: r.get(1),
        prefix: r.get(2),
        project_ids: r.get(3),
        read_only: r.get(4),
        expires_at: r.get(5),
        created_at: r.get(6),
        last_used_at: r.get(7),
        revoked_at: r.get(8),
    }
}

const COLUMNS: &str =
    "id, name, prefix, project_ids, read_only, expires_at, created_at, last_used_at, revoked_at";

/// Stores a new token.
#[allow(clippy::too_many_arguments)]
pub async fn insert(
    db: impl PgExecutor<'_>,
    admin_id: Uuid,
    name: &str,
    prefix: &str,
    token_hash: &str,
    project_ids: Option<&[Uuid]>,
    read_only: bool,
    expires_at: Option<DateTime<Utc>>,
) -> Result<Token, sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO control.admin_api_tokens
            (id, admin_id, name, prefix, token_hash, project_ids, read_only, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {COLUMNS}"
    ))
    .bind(Uuid::new_v4())
    .bind(admin_id)
    .bind(name)
    .bind(prefix)
    .bind(token_hash)
    .bind(project_ids)
    .bind(read_only)
    .bind(expires_at)
    .fetch_one(db)
    .await
    .map(token)
}

/// The admin's tokens, oldest first (revoked and expired ones included).
pub async fn list(db: impl PgExecutor<'_>, admin_id: Uuid) -> Result<Vec<Token>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM control.admin_api_tokens WHERE admin_id = $1
         ORDER BY created_at, id"
    ))
    .bind(admin_id)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(token).collect())
}

/// Revokes one of the admin's tokens (idempotent); `None` when the admin has no such token.
pub async fn revoke(
    db: impl PgExecutor<'_>,
    admin_id: Uuid,
    id: Uuid,
) -> Result<Option<Token>, sqlx::Error> {
    sqlx::query(&format!(
        "UPDATE control.admin_api_tokens SET revoked_at = coalesce(revoked_at, clock_timestamp())
         WHERE id = $1 AND admin_id = $2 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(admin_id)
    .fetch_optional(db)
    .await
    .map(|r| r.map(token))
}

/// The grant of a live token by its digest (not revoked, not expired), noting its use.
pub async fn grant(
    db: impl PgExecutor<'_>,
    token_hash: &str,
) -> Result<Option<Grant>, sqlx::Error> {
    sqlx::query(
        "WITH g AS (
            SELECT t.id, t.admin_id, a.email, t.project_ids, t.read_only, t.last_used_at
            FROM control.admin_api_tokens t JOIN control.admins a ON a.id = t.admin_id
            WHERE t.token_hash = $1 AND t.revoked_at IS NULL
              AND (t.expires_at IS NULL OR t.expires_at > clock_timestamp())),
         used AS (
            UPDATE control.admin_api_tokens SET last_used_at = clock_timestamp()
            WHERE id = (SELECT id FROM g)
              AND (last_used_at IS NULL OR last_used_at < clock_timestamp() - interval '1 minute'))
         SELECT id, admin_id, email, project_ids, read_only FROM g",
    )
    .bind(token_hash)
    .fetch_optional(db)
    .await
    .map(|r| {
        r.map(|r| Grant {
            id: r.get(0),
            admin_id: r.get(1),
            email: r.get(2),
            project_ids: r.get(3),
            read_only: r.get(4),
        })
    })
}
