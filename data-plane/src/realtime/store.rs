//! What realtime reads: the sealed audit chain (its `chain_seq` is the event id: gapless, in the
//! order events became visible), the live app users of open streams, and predicates that only
//! the database can judge.

use crate::auth::principals::Seen;
use crate::db::{self, Pool};
use crate::query::filter::{push_pred, Pred};
use crate::registry::{Collection, Project};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sqlx::{Postgres, QueryBuilder, Row};
use std::collections::HashMap;
use uuid::Uuid;

/// A record event of the chain.
#[derive(Debug, Clone)]
pub struct Event {
    /// Its place in the chain: the stream's event id.
    pub seq: i64,
    /// The collection.
    pub collection: Uuid,
    /// The record id, as text.
    pub record_id: String,
    /// `create`, `update` or `delete`.
    pub action: String,
    /// The record as reads show it (after the change; before it for a delete).
    pub record: Map<String, Value>,
    /// When it was written.
    pub at: DateTime<Utc>,
}

/// The last sealed place of the project's chain (0 when nothing was sealed yet).
pub async fn head(pool: &Pool, project: &Project) -> Result<i64, sqlx::Error> {
    let mut tx = db::begin(pool, project).await?;
    let head: i64 = sqlx::query_scalar(
        "SELECT GREATEST(
            (SELECT max(\"chain_seq\") FROM \"_audit_events\"),
            (SELECT max(\"chain_seq\") FROM \"_audit_anchor\"), 0)",
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(head)
}

/// A page of the chain.
#[derive(Debug, Default)]
pub struct Page {
    /// Its record events.
    pub events: Vec<Event>,
    /// The last place read (record event or not); `None` when nothing was read.
    pub last: Option<i64>,
    /// Places read.
    pub rows: usize,
    /// The first place kept after the one asked from (`None` when none is): a replay that does
    /// not start right after it has a hole, purged by retention.
    pub first: Option<i64>,
}

/// Sealed events after `after` (up to `upto` when given), in chain order, at most `limit`.
pub async fn events(
    pool: &Pool,
    project: &Project,
    after: i64,
    upto: Option<i64>,
    limit: i64,
) -> Result<Page, sqlx::Error> {
    let mut tx = db::begin(pool, project).await?;
    let rows = sqlx::query(
        "SELECT \"chain_seq\", \"collection_id\", \"record_id\", \"action\",
                coalesce(\"new_data_json\", \"old_data_json\"), \"created_at\"
         FROM \"_audit_events\"
         WHERE \"chain_seq\" > $1 AND \"chain_seq\" <= $2
         ORDER BY \"chain_seq\" LIMIT $3",
    )
    .bind(after)
    .bind(upto.unwrap_or(i64::MAX))
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    let first: Option<i64> = match rows.first() {
        Some(r) if r.get::<i64, _>(0) == after + 1 => Some(after + 1),
        _ => {
            sqlx::query_scalar(
                "SELECT min(\"chain_seq\") FROM \"_audit_events\" WHERE \"chain_seq\" > $1",
            )
            .bind(after)
            .fetch_one(&mut *tx)
            .await?
        }
    };
    tx.commit().await?;
    let mut page = Page {
        last: rows.last().map(|r| r.get(0)),
        rows: rows.len(),
        first,
        events: Vec::with_capacity(rows.len()),
    };
    for r in rows {
        let (Some(collection), Some(record_id)) =
            (r.get::<Option<Uuid>, _>(1), r.get::<Option<String>, _>(2))
        else {
            // Not a record event (sign-ins and the like): realtime has nothing to say of it.
            continue;
        };
        let action: String = r.get(3);
        if !matches!(action.as_str(), "create" | "update" | "delete") {
            continue;
        }
        let record = r
            .get::<Option<String>, _>(4)
            .and_then(|j| serde_json::from_str::<Map<String, Value>>(&j).ok())
            .unwrap_or_default();
        page.events.push(Event {
            seq: r.get(0),
            collection,
            record_id,
            action,
            record,
            at: r.get(5),
        });
    }
    Ok(page)
}

/// The sessions among `sessions` that are still live (user enabled, session not revoked), with
/// what policies need to know of their user.
pub async fn live_sessions(
    pool: &Pool,
    project: &Project,
    sessions: &[Uuid],
) -> Result<HashMap<Uuid, Seen>, sqlx::Error> {
    let roles = if project.roles_matter {
        "ARRAY(SELECT r.\"role_id\" FROM \"_user_roles\" r WHERE r.\"user_id\" = u.\"id\" ORDER BY 1)"
    } else {
        "ARRAY[]::uuid[]"
    };
    let mut tx = db::begin(pool, project).await?;
    let rows = sqlx::query(&format!(
        "SELECT s.\"id\", json_build_object('email', u.\"email\", 'verified', u.\"is_email_verified\",
                'roles', {roles})::text
         FROM \"_auth_sessions\" s JOIN \"_users\" u ON u.\"id\" = s.\"user_id\"
         WHERE s.\"id\" = ANY($1) AND s.\"revoked_at\" IS NULL AND NOT u.\"is_disabled\""
    ))
    .bind(sessions)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let seen = Seen::parse(r.get::<Option<&str>, _>(1))?;
            Some((r.get::<Uuid, _>(0), seen))
        })
        .collect())
}

/// The key that keeps the records' order (field names never start with `_`).
const ORDER: &str = "__rt_order";

/// For each predicate, which of `records` (all of collection `c`) it holds for, judged by the
/// database in one statement: the records become typed rows (`jsonb_to_recordset` with the
/// collection's columns), each predicate one boolean column.
pub async fn judge(
    pool: &Pool,
    project: &Project,
    c: &Collection,
    records: &[&Map<String, Value>],
    preds: &[&Pred],
) -> Result<Vec<Vec<bool>>, sqlx::Error> {
    if preds.is_empty() || records.is_empty() {
        return Ok(vec![Vec::new(); preds.len()]);
    }
    let rows = Value::Array(
        records
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let mut r = (*r).clone();
                r.insert(ORDER.into(), Value::from(i));
                Value::Object(r)
            })
            .collect(),
    );
    let mut qb: QueryBuilder<'_, Postgres> = QueryBuilder::new("SELECT ARRAY[");
    for (i, p) in preds.iter().enumerate() {
        if i > 0 {
            qb.push(", ");
        }
        qb.push("coalesce(");
        push_pred(&mut qb, p);
        qb.push(", false)");
    }
    qb.push("]::bool[] FROM jsonb_to_recordset(");
    qb.push_bind(rows);
    qb.push("::jsonb) AS _r(");
    let mut seen = std::collections::HashSet::new();
    for col in c.columns.values() {
        if seen.insert(col.sql.as_sql().to_owned()) {
            qb.push(format_args!("{} {}, ", col.sql.as_sql(), col.sql_type));
        }
    }
    qb.push(format_args!("\"{ORDER}\" bigint) ORDER BY \"{ORDER}\""));
    let mut tx = db::begin(pool, project).await?;
    let answers: Vec<Vec<bool>> = qb
        .build_query_scalar::<Vec<bool>>()
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    let mut out = vec![Vec::with_capacity(records.len()); preds.len()];
    for row in answers {
        for (i, b) in row.into_iter().enumerate() {
            if let Some(o) = out.get_mut(i) {
                o.push(b);
            }
        }
    }
    Ok(out)
}
