//! App-user auth configuration of projects: settings, token signing keys, API keys and OAuth
//! providers (the control schema's side; app users themselves live in project schemas).

use super::ddl;
use super::projects::Project;
use crate::cells::{Cells, Unit};
use model::secret::random_token;
use model::{ApiKeyConfig, AuthSettings, OAuthProviderConfig, SigningKey};
use sqlx::{PgConnection, PgExecutor, Row};
use uuid::Uuid;

const SETTINGS_COLUMNS: &str = "enable_email_password, enable_magic_link, enable_otp,
    enable_oauth_google, enable_oauth_github, access_ttl_minutes, refresh_ttl_days, session_mode,
    allow_public_signup, require_email_verification, audit_retention_days";

/// The project's settings; the documented defaults when no row exists yet.
pub async fn settings(db: impl PgExecutor<'_>, project: Uuid) -> Result<AuthSettings, sqlx::Error> {
    let row = sqlx::query(&format!(
        "SELECT {SETTINGS_COLUMNS} FROM control.auth_settings WHERE project_id = $1"
    ))
    .bind(project)
    .fetch_optional(db)
    .await?;
    Ok(row.map_or_else(AuthSettings::default, |r| AuthSettings {
        enable_email_password: r.get(0),
        enable_magic_link: r.get(1),
        enable_otp: r.get(2),
        enable_oauth_google: r.get(3),
        enable_oauth_github: r.get(4),
        access_ttl_minutes: r.get(5),
        refresh_ttl_days: r.get(6),
        session_mode: r.get(7),
        allow_public_signup: r.get(8),
        require_email_verification: r.get(9),
        audit_retention_days: r.get(10),
    }))
}

/// Writes the whole settings row.
pub async fn save_settings(
    db: impl PgExecutor<'_>,
    project: Uuid,
    s: &AuthSettings,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO control.auth_settings (project_id, {SETTINGS_COLUMNS})
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         ON CONFLICT (project_id) DO UPDATE SET
            enable_email_password = $2, enable_magic_link = $3, enable_otp = $4,
            enable_oauth_google = $5, enable_oauth_github = $6, access_ttl_minutes = $7,
            refresh_ttl_days = $8, session_mode = $9, allow_public_signup = $10,
            require_email_verification = $11, audit_retention_days = $12, updated_at = now()"
    ))
    .bind(project)
    .bind(s.enable_email_password)
    .bind(s.enable_magic_link)
    .bind(s.enable_otp)
    .bind(s.enable_oauth_google)
    .bind(s.enable_oauth_github)
    .bind(s.access_ttl_minutes)
    .bind(s.refresh_ttl_days)
    .bind(&s.session_mode)
    .bind(s.allow_public_signup)
    .bind(s.require_email_verification)
    .bind(s.audit_retention_days)
    .execute(db)
    .await?;
    Ok(())
}

/// A signing key as admins see it (never the secret).
pub struct KeyInfo {
    /// Key id.
    pub kid: String,
    /// Created.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Retired (still verifying for a day), or current.
    pub retired_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Adds a new current signing key and retires the previous ones. Returns the new key id.
pub async fn rotate_signing_key(
    db: &mut PgConnection,
    project: Uuid,
) -> Result<String, sqlx::Error> {
    sqlx::query(
        "UPDATE control.signing_keys SET retired_at = clock_timestamp()
         WHERE project_id = $1 AND retired_at IS NULL",
    )
    .bind(project)
    .execute(&mut *db)
    .await?;
    let kid = format!("k{}", &Uuid::new_v4().simple().to_string()[..12]);
    sqlx::query("INSERT INTO control.signing_keys (kid, project_id, secret) VALUES ($1, $2, $3)")
        .bind(&kid)
        .bind(project)
        .bind(random_token())
        .execute(&mut *db)
        .await?;
    Ok(kid)
}

/// The keys that verify tokens, current first: unretired, or retired less than a day ago.
pub async fn signing_keys(
    db: impl PgExecutor<'_>,
    project: Uuid,
) -> Result<Vec<SigningKey>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT kid, secret FROM control.signing_keys
         WHERE project_id = $1 AND (retired_at IS NULL OR retired_at > now() - interval '1 day')
         ORDER BY retired_at IS NOT NULL, created_at DESC",
    )
    .bind(project)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| SigningKey {
            kid: r.get(0),
            secret: r.get(1),
        })
        .collect())
}

/// Every key of the project, newest first, without secrets.
pub async fn key_infos(
    db: impl PgExecutor<'_>,
    project: Uuid,
) -> Result<Vec<KeyInfo>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT kid, created_at, retired_at FROM control.signing_keys
         WHERE project_id = $1 ORDER BY created_at DESC",
    )
    .bind(project)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| KeyInfo {
            kid: r.get(0),
            created_at: r.get(1),
            retired_at: r.get(2),
        })
        .collect())
}

/// An API key row (never the key itself).
pub struct ApiKey {
    /// Id.
    pub id: Uuid,
    /// Name given by the admin.
    pub name: String,
    /// First 8 characters of the key.
    pub prefix: String,
    /// Revoked keys stay listed.
    pub revoked: bool,
    /// Created.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// Stores a new key by its hash.
pub async fn insert_api_key(
    db: impl PgExecutor<'_>,
    project: Uuid,
    name: &str,
    prefix: &str,
    hash: &str,
    actor: Uuid,
) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO control.api_keys (id, project_id, name, prefix, key_hash, created_by)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(project)
    .bind(name)
    .bind(prefix)
    .bind(hash)
    .bind(actor)
    .execute(db)
    .await?;
    Ok(id)
}

/// The project's keys in creation order, revoked ones included.
pub async fn api_keys(db: impl PgExecutor<'_>, project: Uuid) -> Result<Vec<ApiKey>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, name, prefix, revoked, created_at FROM control.api_keys
         WHERE project_id = $1 ORDER BY created_at, id",
    )
    .bind(project)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ApiKey {
            id: r.get(0),
            name: r.get(1),
            prefix: r.get(2),
            revoked: r.get(3),
            created_at: r.get(4),
        })
        .collect())
}

/// Revokes a key of the project; false when there is no such key.
pub async fn revoke_api_key(
    db: impl PgExecutor<'_>,
    project: Uuid,
    id: Uuid,
) -> Result<bool, sqlx::Error> {
    let n =
        sqlx::query("UPDATE control.api_keys SET revoked = true WHERE project_id = $1 AND id = $2")
            .bind(project)
            .bind(id)
            .execute(db)
            .await?
            .rows_affected();
    Ok(n == 1)
}

/// Live keys, as workers need them.
pub async fn live_api_keys(
    db: impl PgExecutor<'_>,
    project: Uuid,
) -> Result<Vec<ApiKeyConfig>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, prefix, key_hash FROM control.api_keys
         WHERE project_id = $1 AND NOT revoked ORDER BY created_at",
    )
    .bind(project)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ApiKeyConfig {
            id: r.get(0),
            prefix: r.get(1),
            hash: r.get(2),
        })
        .collect())
}

/// The project's OAuth providers by name.
pub async fn oauth_providers(
    db: impl PgExecutor<'_>,
    project: Uuid,
) -> Result<Vec<OAuthProviderConfig>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT name, kind, client_id, client_secret, issuer, authorize_url, token_url,
                userinfo_url, scopes
         FROM control.oauth_providers WHERE project_id = $1 ORDER BY name",
    )
    .bind(project)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| OAuthProviderConfig {
            name: r.get(0),
            kind: r.get(1),
            client_id: r.get(2),
            client_secret: r.get(3),
            issuer: r.get(4),
            authorize_url: r.get(5),
            token_url: r.get(6),
            userinfo_url: r.get(7),
            scopes: r.get(8),
        })
        .collect())
}

/// Creates or replaces a provider.
pub async fn save_oauth_provider(
    db: impl PgExecutor<'_>,
    project: Uuid,
    p: &OAuthProviderConfig,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO control.oauth_providers (project_id, name, kind, client_id, client_secret,
            issuer, authorize_url, token_url, userinfo_url, scopes)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (project_id, name) DO UPDATE SET kind = $3, client_id = $4,
            client_secret = $5, issuer = $6, authorize_url = $7, token_url = $8,
            userinfo_url = $9, scopes = $10, updated_at = now()",
    )
    .bind(project)
    .bind(&p.name)
    .bind(&p.kind)
    .bind(&p.client_id)
    .bind(&p.client_secret)
    .bind(&p.issuer)
    .bind(&p.authorize_url)
    .bind(&p.token_url)
    .bind(&p.userinfo_url)
    .bind(&p.scopes)
    .execute(db)
    .await?;
    Ok(())
}

/// Deletes a provider; false when there was none.
pub async fn delete_oauth_provider(
    db: impl PgExecutor<'_>,
    project: Uuid,
    name: &str,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query("DELETE FROM control.oauth_providers WHERE project_id = $1 AND name = $2")
        .bind(project)
        .bind(name)
        .execute(db)
        .await?
        .rows_affected();
    Ok(n == 1)
}

/// Creates the auth tables in a project's schema (as its role) and records their version.
pub async fn create_project_tables(unit: &mut Unit, p: &Project) -> Result<(), sqlx::Error> {
    ddl::as_project_role(
        unit.cell(),
        &p.db_role,
        &ddl::create_auth_tables(&p.db_schema),
    )
    .await?;
    sqlx::query("UPDATE control.projects SET auth_tables_version = $2 WHERE id = $1")
        .bind(p.id)
        .bind(ddl::AUTH_TABLES_VERSION)
        .execute(unit.control())
        .await?;
    Ok(())
}

/// Brings every project whose auth tables are older than this build up to date (at start-up).
pub async fn upgrade_project_tables(cells: &Cells) -> anyhow::Result<usize> {
    let rows = sqlx::query(
        "SELECT id, name, db_schema, db_role, cell FROM control.projects
         WHERE auth_tables_version < $1 ORDER BY seq",
    )
    .bind(ddl::AUTH_TABLES_VERSION)
    .fetch_all(cells.pool(crate::cells::DEFAULT)?)
    .await?;
    for r in &rows {
        let p = Project {
            id: r.get(0),
            name: r.get(1),
            db_schema: r.get(2),
            db_role: r.get(3),
            cell: r.get(4),
        };
        let mut unit = cells.begin(&p).await?;
        create_project_tables(&mut unit, &p).await?;
        unit.commit().await?;
    }
    Ok(rows.len())
}
