//! Webhook definitions of projects (`spec/webhooks.md`). Signing keys are stored sealed; callers
//! seal and open them with the control plane's `SecretBox`. Collection filters are kept as ids
//! and shown by the collections' current names.

use super::ddl::ident as q;
use super::projects::Project;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgExecutor, Row};
use std::collections::HashMap;
use uuid::Uuid;

/// A stored webhook, with its collection filter resolved to current names.
#[derive(Debug, Clone)]
pub struct Webhook {
    /// Id.
    pub id: Uuid,
    /// The project.
    pub project_id: Uuid,
    /// Name.
    pub name: String,
    /// Target URL.
    pub url: String,
    /// Event names as given.
    pub events: Vec<String>,
    /// Collection ids it is limited to; `None`: every collection.
    pub collection_ids: Option<Vec<Uuid>>,
    /// Current names of [`Webhook::collection_ids`] that still exist (same order).
    pub collections: Option<Vec<String>>,
    /// Turned on by its admins.
    pub is_active: bool,
    /// The sealed signing key.
    pub secret_sealed: Vec<u8>,
    /// The sealed previous key and until when it still signs.
    pub previous_secret: Option<(Vec<u8>, DateTime<Utc>)>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

const COLS: &str = "w.id, w.project_id, w.name, w.url, w.events, w.collection_ids, w.is_active, \
    NULL, w.secret_sealed, w.previous_secret_sealed, w.previous_secret_expires_at, \
    w.created_at, w.updated_at, \
    (SELECT array_agg(c.name ORDER BY k.ord) FROM unnest(w.collection_ids) WITH ORDINALITY k(id, ord) \
       JOIN control.collections c ON c.id = k.id AND c.is_active) AS collection_names";

fn webhook(r: PgRow) -> Webhook {
    let events: Value = r.get(4);
    let collection_ids: Option<Vec<Uuid>> = r.get(5);
    let names: Option<Vec<String>> = r.get(13);
    let previous: Option<Vec<u8>> = r.get(9);
    let previous_until: Option<DateTime<Utc>> = r.get(10);
    Webhook {
        id: r.get(0),
        project_id: r.get(1),
        name: r.get(2),
        url: r.get(3),
        events: serde_json::from_value(events).unwrap_or_default(),
        collections: collection_ids.as_ref().map(|_| names.unwrap_or_default()),
        collection_ids,
        is_active: r.get(6),
        secret_sealed: r.get(8),
        previous_secret: previous.zip(previous_until),
        created_at: r.get(11),
        updated_at: r.get(12),
    }
}

/// What a new webhook is made of.
pub struct NewWebhook<'a> {
    /// Its id (the sealed key is bound to it).
    pub id: Uuid,
    /// Name.
    pub name: &'a str,
    /// Target URL.
    pub url: &'a str,
    /// Event names.
    pub events: &'a [String],
    /// Collection filter.
    pub collection_ids: Option<&'a [Uuid]>,
    /// Initially active.
    pub is_active: bool,
    /// The sealed signing key.
    pub secret_sealed: &'a [u8],
    /// The creating admin.
    pub created_by: Uuid,
}

/// Inserts a webhook and returns it.
pub async fn insert(
    db: impl PgExecutor<'_>,
    project: Uuid,
    w: &NewWebhook<'_>,
) -> Result<Webhook, sqlx::Error> {
    let sql = format!(
        "WITH w AS (
            INSERT INTO control.webhooks (id, project_id, name, url, events, collection_ids,
                is_active, secret_sealed, created_by)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *)
         SELECT {COLS} FROM w"
    );
    let row = sqlx::query(&sql)
        .bind(w.id)
        .bind(project)
        .bind(w.name)
        .bind(w.url)
        .bind(serde_json::to_value(w.events).expect("strings serialize"))
        .bind(w.collection_ids)
        .bind(w.is_active)
        .bind(w.secret_sealed)
        .bind(w.created_by)
        .fetch_one(db)
        .await?;
    Ok(webhook(row))
}

/// The project's webhooks in creation order.
pub async fn list(db: impl PgExecutor<'_>, project: Uuid) -> Result<Vec<Webhook>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLS} FROM control.webhooks w WHERE w.project_id = $1
         ORDER BY w.created_at, w.id"
    );
    let rows = sqlx::query(&sql).bind(project).fetch_all(db).await?;
    Ok(rows.into_iter().map(webhook).collect())
}

/// A webhook of the project.
pub async fn get(
    db: impl PgExecutor<'_>,
    project: Uuid,
    id: Uuid,
) -> Result<Option<Webhook>, sqlx::Error> {
    let sql =
        format!("SELECT {COLS} FROM control.webhooks w WHERE w.project_id = $1 AND w.id = $2");
    let row = sqlx::query(&sql)
        .bind(project)
        .bind(id)
        .fetch_optional(db)
        .await?;
    Ok(row.map(webhook))
}

/// Writes a webhook's changeable attributes (name, url, events, filter, active flag)
/// and returns the row.
pub async fn update(db: impl PgExecutor<'_>, w: &Webhook) -> Result<Webhook, sqlx::Error> {
    let sql = format!(
        "WITH w AS (
            UPDATE control.webhooks SET name = $3, url = $4, events = $5, collection_ids = $6,
                is_active = $7, updated_at = clock_timestamp()
            WHERE project_id = $1 AND id = $2 RETURNING *)
         SELECT {COLS} FROM w"
    );
    let row = sqlx::query(&sql)
        .bind(w.project_id)
        .bind(w.id)
        .bind(&w.name)
        .bind(&w.url)
        .bind(serde_json::to_value(&w.events).expect("strings serialize"))
        .bind(&w.collection_ids)
        .bind(w.is_active)
        .fetch_one(db)
        .await?;
    Ok(webhook(row))
}

/// Replaces the signing key; the old one keeps signing beside it until `previous_until`.
pub async fn rotate_secret(
    db: impl PgExecutor<'_>,
    w: &Webhook,
    new_sealed: &[u8],
    previous_until: DateTime<Utc>,
) -> Result<Webhook, sqlx::Error> {
    let sql = format!(
        "WITH w AS (
            UPDATE control.webhooks SET previous_secret_sealed = secret_sealed,
                previous_secret_expires_at = $4, secret_sealed = $3,
                updated_at = clock_timestamp()
            WHERE project_id = $1 AND id = $2 RETURNING *)
         SELECT {COLS} FROM w"
    );
    let row = sqlx::query(&sql)
        .bind(w.project_id)
        .bind(w.id)
        .bind(new_sealed)
        .bind(previous_until)
        .fetch_one(db)
        .await?;
    Ok(webhook(row))
}

/// Deletes a webhook; false when there was none.
pub async fn delete(db: impl PgExecutor<'_>, project: Uuid, id: Uuid) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM control.webhooks WHERE project_id = $1 AND id = $2")
        .bind(project)
        .bind(id)
        .execute(db)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Why workers stopped some of the project's webhooks (a 410 answer, too many failed deliveries
/// in a row), by webhook: read from the project's schema, where workers keep it.
pub async fn platform_stops(
    db: impl PgExecutor<'_>,
    p: &Project,
) -> Result<HashMap<Uuid, String>, sqlx::Error> {
    let sql = format!(
        "SELECT \"webhook_id\", \"disabled_reason\" FROM {}.\"_webhook_state\"
         WHERE \"disabled_reason\" IS NOT NULL",
        q(&p.db_schema)
    );
    let rows: Vec<(Uuid, String)> = sqlx::query_as(&sql).persistent(false).fetch_all(db).await?;
    Ok(rows.into_iter().collect())
}

/// Forgets the workers' stop and failure count of a webhook (an admin turned it on again, or
/// deleted it), and with `deliveries` its deliveries too. In the project's schema, as its role.
pub async fn clear_platform_state(
    db: &mut PgConnection,
    p: &Project,
    id: Uuid,
    deliveries: bool,
) -> Result<(), sqlx::Error> {
    let set_role = format!("SET LOCAL ROLE {}", q(&p.db_role));
    sqlx::query(&set_role)
        .persistent(false)
        .execute(&mut *db)
        .await?;
    let mut tables = vec!["_webhook_state"];
    if deliveries {
        tables.push("_webhook_deliveries");
    }
    for table in tables {
        let sql = format!(
            "DELETE FROM {}.{} WHERE \"webhook_id\" = $1",
            q(&p.db_schema),
            q(table)
        );
        sqlx::query(&sql)
            .bind(id)
            .persistent(false)
            .execute(&mut *db)
            .await?;
    }
    sqlx::query("RESET ROLE").execute(&mut *db).await?;
    Ok(())
}
