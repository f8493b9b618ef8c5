//! The audit log's hash chain: tamper evidence without making writes wait on each other.
//!
//! Writers insert events as usual. After commit, a sealer (any worker; one per project at a time,
//! by an advisory lock) takes the committed events not yet sealed, in the order of their `seq`,
//! and gives each the next place in the chain (`chain_seq`), the previous event's hash
//! (`prev_hash`) and its own: SHA-256 over a domain tag, the previous hash and a length-prefixed
//! encoding of every column of the event. An event that commits late is simply sealed later.
//! Retention deletes a prefix of the chain and keeps the last deleted event's place and hash in
//! `_audit_anchor`. [`verify`] walks the sealed chain from the anchor and names the first event
//! whose place, link or content does not add up.

use crate::db::{self, Pool};
use crate::registry::Project;
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sqlx::postgres::PgRow;
use sqlx::Row;
use uuid::Uuid;

/// Events sealed per transaction.
pub const BATCH: i64 = 500;
/// Hash of the place before the first event (and of an empty log).
const GENESIS: [u8; 32] = [0; 32];

/// The columns an event's hash covers, in order.
const CONTENT: &str = "\"id\", \"collection_id\", \"record_id\", \"action\", \"actor_user_id\",
    \"actor_api_key_id\", \"actor_app_user_id\", \"old_data_json\", \"new_data_json\",
    \"ip_address\", \"user_agent\", \"created_at\"";

/// The hash of an event (a row whose columns start with [`CONTENT`]) after `prev`.
fn event_hash(prev: &[u8], r: &PgRow) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"backendify audit v1\0");
    h.update(prev);
    let mut field = |bytes: Option<&[u8]>| match bytes {
        None => h.update(u32::MAX.to_be_bytes()),
        Some(b) => {
            h.update((b.len() as u32).to_be_bytes());
            h.update(b);
        }
    };
    field(Some(r.get::<Uuid, _>(0).as_bytes()));
    field(
        r.get::<Option<Uuid>, _>(1)
            .as_ref()
            .map(|u| &u.as_bytes()[..]),
    );
    for i in [2, 3] {
        field(r.get::<Option<&str>, _>(i).map(str::as_bytes));
    }
    for i in [4, 5] {
        field(
            r.get::<Option<Uuid>, _>(i)
                .as_ref()
                .map(|u| &u.as_bytes()[..]),
        );
    }
    for i in 6..=10 {
        field(r.get::<Option<&str>, _>(i).map(str::as_bytes));
    }
    let at: DateTime<Utc> = r.get(11);
    field(Some(&at.timestamp_micros().to_be_bytes()));
    h.finalize().into()
}

/// Takes the project's chain for this transaction (sealing and purging are one at a time);
/// false when another worker holds it.
async fn lock_chain(tx: &mut db::Tx) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT pg_try_advisory_xact_lock(hashtextextended('backendify.audit.' || current_schema(), 0))",
    )
    .fetch_one(&mut **tx)
    .await
}

/// What a seal did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sealed {
    /// Another worker is sealing this project: try again shortly.
    Busy,
    /// This many events were sealed (up to [`BATCH`]).
    Events(usize),
}

/// Seals what is committed and unsealed in the project's log (up to a batch). Does nothing when
/// another worker is sealing this project.
pub async fn seal(pool: &Pool, project: &Project) -> Result<Sealed, sqlx::Error> {
    let mut tx = db::begin(pool, project).await?;
    if !lock_chain(&mut tx).await? {
        return Ok(Sealed::Busy);
    }
    let rows = sqlx::query(&format!(
        "SELECT {CONTENT}, \"seq\" FROM \"_audit_events\" WHERE \"chain_seq\" IS NULL
         ORDER BY \"seq\" LIMIT $1"
    ))
    .bind(BATCH)
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        return Ok(Sealed::Events(0));
    }
    let (mut place, mut prev) = last_sealed(&mut tx).await?;
    let (mut seqs, mut places, mut prevs, mut hashes) = (vec![], vec![], vec![], vec![]);
    for r in &rows {
        place += 1;
        let hash = event_hash(&prev, r);
        seqs.push(r.get::<i64, _>(12));
        places.push(place);
        prevs.push(prev.to_vec());
        hashes.push(hash.to_vec());
        prev = hash;
    }
    sqlx::query(
        "UPDATE \"_audit_events\" e SET \"chain_seq\" = u.c, \"prev_hash\" = u.p, \"hash\" = u.h
         FROM unnest($1::bigint[], $2::bigint[], $3::bytea[], $4::bytea[]) AS u(s, c, p, h)
         WHERE e.\"seq\" = u.s",
    )
    .bind(&seqs)
    .bind(&places)
    .bind(&prevs)
    .bind(&hashes)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Sealed::Events(rows.len()))
}

/// The place and hash of the chain's last sealed event (or of the anchor, or genesis).
async fn last_sealed(tx: &mut db::Tx) -> Result<(i64, [u8; 32]), sqlx::Error> {
    let row: Option<(i64, Vec<u8>)> = sqlx::query_as(
        "SELECT \"chain_seq\", \"hash\" FROM \"_audit_events\" WHERE \"chain_seq\" IS NOT NULL
         ORDER BY \"chain_seq\" DESC LIMIT 1",
    )
    .fetch_optional(&mut **tx)
    .await?;
    let row = match row {
        Some(r) => Some(r),
        None => {
            sqlx::query_as("SELECT \"chain_seq\", \"hash\" FROM \"_audit_anchor\"")
                .fetch_optional(&mut **tx)
                .await?
        }
    };
    Ok(match row {
        Some((place, hash)) => (place, hash.try_into().unwrap_or(GENESIS)),
        None => (0, GENESIS),
    })
}

/// Walks the sealed chain from its anchor: `{"valid", "checked", "unsealed", "anchor",
/// "last_hash", "first_broken"}`, where `first_broken` names the first event whose place, link
/// to the previous event or content does not match (`null` when none).
pub async fn verify(pool: &Pool, project: &Project) -> Result<Value, sqlx::Error> {
    let mut tx = db::begin(pool, project).await?;
    // Waits for a seal or purge in progress, and keeps them out while the chain is read (a purge
    // between reading the anchor and the events would look like a missing event).
    sqlx::query(
        "SELECT pg_advisory_xact_lock(hashtextextended('backendify.audit.' || current_schema(), 0))",
    )
    .execute(&mut *tx)
    .await?;
    let anchor: Option<(i64, Vec<u8>)> =
        sqlx::query_as("SELECT \"chain_seq\", \"hash\" FROM \"_audit_anchor\"")
            .fetch_optional(&mut *tx)
            .await?;
    let unsealed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM \"_audit_events\" WHERE \"chain_seq\" IS NULL")
            .fetch_one(&mut *tx)
            .await?;
    let (mut place, mut prev) = match &anchor {
        Some((p, h)) => (*p, h.clone()),
        None => (0, GENESIS.to_vec()),
    };
    let mut checked = 0u64;
    let mut broken = Value::Null;
    {
        let sql = format!(
            "SELECT {CONTENT}, \"chain_seq\", \"prev_hash\", \"hash\" FROM \"_audit_events\"
             WHERE \"chain_seq\" IS NOT NULL ORDER BY \"chain_seq\""
        );
        let mut rows = sqlx::query(&sql).fetch(&mut *tx);
        while let Some(r) = rows.try_next().await? {
            let at: i64 = r.get(12);
            let stored_prev: Vec<u8> = r.get(13);
            let stored: Vec<u8> = r.get(14);
            let reason = if at != place + 1 {
                Some(format!("event {} is missing from the chain", place + 1))
            } else if stored_prev != prev {
                Some("its link to the previous event does not match".to_owned())
            } else if event_hash(&prev, &r)[..] != stored[..] {
                Some("its content was changed after it was sealed".to_owned())
            } else {
                None
            };
            if let Some(reason) = reason {
                broken = json!({
                    "chain_seq": at, "id": r.get::<Uuid, _>(0), "reason": reason,
                });
                break;
            }
            checked += 1;
            place = at;
            prev = stored;
        }
    }
    tx.commit().await?;
    Ok(json!({
        "valid": broken.is_null(),
        "checked": checked,
        "unsealed": unsealed,
        "anchor": anchor.map(|(p, h)| json!({ "chain_seq": p, "hash": hex(&h) })),
        "last_hash": hex(&prev),
        "first_broken": broken,
    }))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Deletes the sealed events older than `days` that start the chain (an old event after a newer
/// one stays until everything before it goes), and keeps the last deleted event's place and hash
/// as the anchor [`verify`] starts from. Returns how many were deleted; nothing when another
/// worker is sealing or purging this project.
pub async fn purge(pool: &Pool, project: &Project, days: i32) -> Result<u64, sqlx::Error> {
    let mut tx = db::begin(pool, project).await?;
    if !lock_chain(&mut tx).await? {
        return Ok(0);
    }
    let last: Option<(i64, Vec<u8>)> = sqlx::query_as(
        "WITH cut AS (SELECT clock_timestamp() - make_interval(days => $1) AS t)
         SELECT \"chain_seq\", \"hash\" FROM \"_audit_events\", cut
         WHERE \"chain_seq\" IS NOT NULL AND \"created_at\" < cut.t
           AND \"chain_seq\" < coalesce((SELECT min(\"chain_seq\") FROM \"_audit_events\"
                 WHERE \"chain_seq\" IS NOT NULL AND \"created_at\" >= cut.t), 9223372036854775807)
         ORDER BY \"chain_seq\" DESC LIMIT 1",
    )
    .bind(days)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((place, hash)) = last else {
        return Ok(0);
    };
    let deleted = sqlx::query("DELETE FROM \"_audit_events\" WHERE \"chain_seq\" <= $1")
        .bind(place)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    sqlx::query(
        "INSERT INTO \"_audit_anchor\" (\"chain_seq\", \"hash\") VALUES ($1, $2)
         ON CONFLICT (\"one\") DO UPDATE SET \"chain_seq\" = $1, \"hash\" = $2,
             \"purged_at\" = clock_timestamp()",
    )
    .bind(place)
    .bind(&hash)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(deleted)
}
