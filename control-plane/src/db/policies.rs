//! Access policies of collections (`spec/policies.md`). Rows serialize as the contract's
//! `PolicyOut`; `condition_json` is the text the admin sent, compiled only into the config.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::postgres::PgRow;
use sqlx::{PgExecutor, Row};
use uuid::Uuid;

/// `PolicyOut`.
#[derive(Debug, Clone, Serialize)]
pub struct Policy {
    /// Id.
    pub id: Uuid,
    /// The collection it governs.
    pub collection_id: Uuid,
    /// Name.
    pub name: String,
    /// `create`, `read`, `update`, `delete` or `list`.
    pub action: String,
    /// `allow` or `deny`.
    pub effect: String,
    /// The condition as sent.
    pub condition_json: Option<String>,
    /// Inactive policies are kept but never evaluated.
    pub is_active: bool,
    /// Higher first.
    pub priority: i32,
    /// Comma list of principal kinds (null or empty: `admin_user,api_key`).
    pub allowed_principals: Option<String>,
    /// Only callers with a verified email.
    pub require_email_verified: bool,
    /// Comma list of role names.
    pub allowed_roles: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

const COLS: &str = "id, collection_id, name, action, effect, condition_json, is_active, priority, \
    allowed_principals, require_email_verified, allowed_roles, created_at, updated_at";

/// Evaluation order (spec/policies.md): priority, then creation order.
const ORDER: &str = "priority DESC, created_at, id";

fn policy(r: PgRow) -> Policy {
    Policy {
        id: r.get(0),
        collection_id: r.get(1),
        name: r.get(2),
        action: r.get(3),
        effect: r.get(4),
        condition_json: r.get(5),
        is_active: r.get(6),
        priority: r.get(7),
        allowed_principals: r.get(8),
        require_email_verified: r.get(9),
        allowed_roles: r.get(10),
        created_at: r.get(11),
        updated_at: r.get(12),
    }
}

/// A policy's settable attributes (`action` and the collection never change).
pub struct PolicyValues<'a> {
    /// Name.
    pub name: &'a str,
    /// `allow` or `deny`.
    pub effect: &'a str,
    /// The condition as sent.
    pub condition_json: Option<&'a str>,
    /// Evaluated at all.
    pub is_active: bool,
    /// Higher first.
    pub priority: i32,
    /// Comma list of principal kinds.
    pub allowed_principals: Option<&'a str>,
    /// Only verified callers.
    pub require_email_verified: bool,
    /// Comma list of role names.
    pub allowed_roles: Option<&'a str>,
}

impl<'a> PolicyValues<'a> {
    /// Binds the attributes, in field order, after what `q` has bound already.
    fn bind(&self, q: PgQuery<'a>) -> PgQuery<'a> {
        q.bind(self.name)
            .bind(self.effect)
            .bind(self.condition_json)
            .bind(self.is_active)
            .bind(self.priority)
            .bind(self.allowed_principals)
            .bind(self.require_email_verified)
            .bind(self.allowed_roles)
    }
}

type PgQuery<'a> = sqlx::query::Query<'a, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// Inserts a policy of a collection.
pub async fn insert(
    db: impl PgExecutor<'_>,
    collection: Uuid,
    action: &str,
    v: &PolicyValues<'_>,
) -> Result<Policy, sqlx::Error> {
    let sql = format!(
        "INSERT INTO control.policies (id, collection_id, action, name, effect, condition_json,
            is_active, priority, allowed_principals, require_email_verified, allowed_roles)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING {COLS}"
    );
    let q = sqlx::query(&sql)
        .bind(Uuid::new_v4())
        .bind(collection)
        .bind(action);
    let row = v.bind(q).fetch_one(db).await?;
    Ok(policy(row))
}

/// Writes a policy's attributes back whole; returns the row.
pub async fn update(
    db: impl PgExecutor<'_>,
    id: Uuid,
    v: &PolicyValues<'_>,
) -> Result<Policy, sqlx::Error> {
    let sql = format!(
        "UPDATE control.policies SET name = $2, effect = $3, condition_json = $4, is_active = $5,
            priority = $6, allowed_principals = $7, require_email_verified = $8,
            allowed_roles = $9, updated_at = clock_timestamp()
         WHERE id = $1 RETURNING {COLS}"
    );
    let row = v.bind(sqlx::query(&sql).bind(id)).fetch_one(db).await?;
    Ok(policy(row))
}

/// The active policies of a collection in evaluation order.
pub async fn list_active(
    db: impl PgExecutor<'_>,
    collection: Uuid,
) -> Result<Vec<Policy>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLS} FROM control.policies WHERE collection_id = $1 AND is_active ORDER BY {ORDER}"
    );
    let rows = sqlx::query(&sql).bind(collection).fetch_all(db).await?;
    Ok(rows.into_iter().map(policy).collect())
}

/// A policy of this collection (active or not).
pub async fn get(
    db: impl PgExecutor<'_>,
    collection: Uuid,
    id: Uuid,
) -> Result<Option<Policy>, sqlx::Error> {
    let sql = format!("SELECT {COLS} FROM control.policies WHERE collection_id = $1 AND id = $2");
    let row = sqlx::query(&sql)
        .bind(collection)
        .bind(id)
        .fetch_optional(db)
        .await?;
    Ok(row.map(policy))
}

/// Deletes a policy of this collection; false when there was none.
pub async fn delete(
    db: impl PgExecutor<'_>,
    collection: Uuid,
    id: Uuid,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query("DELETE FROM control.policies WHERE collection_id = $1 AND id = $2")
        .bind(collection)
        .bind(id)
        .execute(db)
        .await?
        .rows_affected();
    Ok(n == 1)
}

/// The active policies of every active collection of a project and of its files (whose
/// collection id is the project's), in evaluation order within each (for compiling).
pub async fn project_active(
    db: impl PgExecutor<'_>,
    project: Uuid,
) -> Result<Vec<Policy>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLS} FROM control.policies
         WHERE is_active AND (collection_id = $1 OR collection_id IN (
             SELECT id FROM control.collections WHERE project_id = $1 AND is_active))
         ORDER BY collection_id, {ORDER}"
    );
    let rows = sqlx::query(&sql).bind(project).fetch_all(db).await?;
    Ok(rows.into_iter().map(policy).collect())
}
