//! The SQL of webhook deliveries, in the project's schema (`_webhook_deliveries`, the webhooks'
//! outbox, and `_webhook_state`). Every statement runs in a transaction begun as the project's
//! role ([`crate::db::begin`]), whose search path is the project's schema.

use crate::db::Tx;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sqlx::Row;
use uuid::Uuid;

/// A delivery claimed for sending.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// Delivery id (the `webhook-id` header, the same on every attempt).
    pub id: Uuid,
    /// The webhook.
    pub webhook_id: Uuid,
    /// Event name (`X-Webhook-Event`).
    pub event_type: String,
    /// The body, exactly as posted and signed.
    pub payload: String,
    /// Attempts including this one.
    pub attempts: i32,
    /// The platform stopped the webhook (failures or a 410): the delivery is not sent.
    pub disabled: bool,
}

/// Queues one delivery of `payload` to `webhook` in the caller's transaction (the outbox row of
/// the change being written); it becomes due at once.
pub async fn enqueue(
    tx: &mut Tx,
    webhook: Uuid,
    event: &str,
    payload: &str,
) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO \"_webhook_deliveries\" (\"id\", \"webhook_id\", \"event_type\", \"payload_json\")
         VALUES ($1, $2, $3, $4)",
    )
    .bind(id)
    .bind(webhook)
    .bind(event)
    .bind(payload)
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

/// Claims up to `limit` due deliveries, at most `room` of each webhook listed (webhooks at their
/// in-flight limit are not listed), oldest first; each is leased for `lease`. Also returns when
/// the next delivery of a listed webhook falls due. Each webhook's due rows are found through
/// its own index range, so a webhook with a long backlog (a stalled receiver) costs the others
/// nothing.
pub async fn claim(
    tx: &mut Tx,
    limit: i64,
    room: &[(Uuid, i32)],
    lease: std::time::Duration,
) -> Result<(Vec<Claimed>, Option<DateTime<Utc>>), sqlx::Error> {
    let (ids, left): (Vec<Uuid>, Vec<i32>) = room.iter().copied().unzip();
    let rows = sqlx::query(
        "WITH hooks AS (SELECT * FROM unnest($3::uuid[], $4::int[]) AS h(\"webhook_id\", \"room\")),
         due AS (
            SELECT d.\"id\" FROM hooks h
            CROSS JOIN LATERAL (
                SELECT \"id\", \"next_attempt_at\" FROM \"_webhook_deliveries\"
                WHERE \"webhook_id\" = h.\"webhook_id\" AND \"next_attempt_at\" <= clock_timestamp()
                ORDER BY \"next_attempt_at\" LIMIT h.\"room\"
                FOR UPDATE SKIP LOCKED) d
            ORDER BY d.\"next_attempt_at\" LIMIT $1)
         UPDATE \"_webhook_deliveries\" d
         SET \"attempts\" = d.\"attempts\" + 1, \"last_attempt_at\" = clock_timestamp(),
             \"next_attempt_at\" = clock_timestamp() + make_interval(secs => $2)
         FROM due WHERE d.\"id\" = due.\"id\"
         RETURNING d.\"id\", d.\"webhook_id\", d.\"event_type\", d.\"payload_json\", d.\"attempts\",
             EXISTS (SELECT 1 FROM \"_webhook_state\" s
                     WHERE s.\"webhook_id\" = d.\"webhook_id\" AND s.\"disabled_reason\" IS NOT NULL)",
    )
    .bind(limit)
    .bind(lease.as_secs_f64())
    .bind(&ids)
    .bind(&left)
    .fetch_all(&mut **tx)
    .await?;
    let claimed = rows.into_iter().map(to_claimed).collect();
    // Webhooks at their in-flight limit are not listed: a finishing delivery wakes the
    // dispatcher for them.
    let next: Option<DateTime<Utc>> = sqlx::query_scalar(
        "SELECT min(n.\"at\") FROM unnest($1::uuid[]) AS h(\"webhook_id\")
         CROSS JOIN LATERAL (
            SELECT \"next_attempt_at\" AS \"at\" FROM \"_webhook_deliveries\"
            WHERE \"webhook_id\" = h.\"webhook_id\" AND \"next_attempt_at\" IS NOT NULL
            ORDER BY \"next_attempt_at\" LIMIT 1) n",
    )
    .bind(&ids)
    .fetch_one(&mut **tx)
    .await?;
    Ok((claimed, next))
}

/// A claimed row: the columns both claims return, in order.
fn to_claimed(r: sqlx::postgres::PgRow) -> Claimed {
    Claimed {
        id: r.get(0),
        webhook_id: r.get(1),
        event_type: r.get(2),
        payload: r.get(3),
        attempts: r.get(4),
        disabled: r.get(5),
    }
}

/// Claims these deliveries (by id) when they are due and nobody holds them: the committing
/// worker's own fresh deliveries, found by primary key without walking the due index.
pub async fn claim_ids(
    tx: &mut Tx,
    ids: &[Uuid],
    lease: std::time::Duration,
) -> Result<Vec<Claimed>, sqlx::Error> {
    let rows = sqlx::query(
        "WITH due AS (
            SELECT \"id\" FROM \"_webhook_deliveries\"
            WHERE \"id\" = ANY($1) AND \"next_attempt_at\" <= clock_timestamp()
            FOR UPDATE SKIP LOCKED)
         UPDATE \"_webhook_deliveries\" d
         SET \"attempts\" = d.\"attempts\" + 1, \"last_attempt_at\" = clock_timestamp(),
             \"next_attempt_at\" = clock_timestamp() + make_interval(secs => $2)
         FROM due WHERE d.\"id\" = due.\"id\"
         RETURNING d.\"id\", d.\"webhook_id\", d.\"event_type\", d.\"payload_json\", d.\"attempts\",
             EXISTS (SELECT 1 FROM \"_webhook_state\" s
                     WHERE s.\"webhook_id\" = d.\"webhook_id\" AND s.\"disabled_reason\" IS NOT NULL)",
    )
    .bind(ids)
    .bind(lease.as_secs_f64())
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows.into_iter().map(to_claimed).collect())
}

/// How an attempt ended, as recorded.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A 2xx answer.
    Delivered {
        /// Its status.
        status: u16,
        /// The first 4 KiB of its body.
        body: String,
    },
    /// Failed; retried at `retry_at`, or final when `None`.
    Failed {
        /// The answer's status, if there was one.
        status: Option<u16>,
        /// The first 4 KiB of its body.
        body: Option<String>,
        /// What went wrong, for people.
        error: String,
        /// When to try again.
        retry_at: Option<DateTime<Utc>>,
    },
}

/// Records an attempt's outcome. A final failure counts against the webhook; `disable` (a 410, or
/// the count reaching its limit, judged by the caller from the returned count) stops it.
/// Returns the webhook's consecutive final failures after this outcome.
pub async fn finish(tx: &mut Tx, d: &Claimed, outcome: &Outcome) -> Result<i32, sqlx::Error> {
    match outcome {
        Outcome::Delivered { status, body } => {
            sqlx::query(
                "UPDATE \"_webhook_deliveries\" SET \"status\" = 'delivered',
                    \"next_attempt_at\" = NULL, \"delivered_at\" = clock_timestamp(),
                    \"response_status\" = $2, \"response_body\" = $3, \"error\" = NULL
                 WHERE \"id\" = $1",
            )
            .bind(d.id)
            .bind(i32::from(*status))
            .bind(body)
            .execute(&mut **tx)
            .await?;
            sqlx::query(
                "UPDATE \"_webhook_state\" SET \"consecutive_failures\" = 0,
                    \"updated_at\" = clock_timestamp()
                 WHERE \"webhook_id\" = $1 AND \"consecutive_failures\" <> 0",
            )
            .bind(d.webhook_id)
            .execute(&mut **tx)
            .await?;
            Ok(0)
        }
        Outcome::Failed {
            status,
            body,
            error,
            retry_at,
        } => {
            let status_text = if retry_at.is_some() {
                "pending"
            } else {
                "failed"
            };
            sqlx::query(
                "UPDATE \"_webhook_deliveries\" SET \"status\" = $2, \"next_attempt_at\" = $3,
                    \"response_status\" = $4, \"response_body\" = $5, \"error\" = $6
                 WHERE \"id\" = $1",
            )
            .bind(d.id)
            .bind(status_text)
            .bind(retry_at)
            .bind(status.map(i32::from))
            .bind(body)
            .bind(error)
            .execute(&mut **tx)
            .await?;
            if retry_at.is_some() {
                return Ok(0);
            }
            sqlx::query_scalar(
                "INSERT INTO \"_webhook_state\" (\"webhook_id\", \"consecutive_failures\")
                 VALUES ($1, 1)
                 ON CONFLICT (\"webhook_id\") DO UPDATE
                 SET \"consecutive_failures\" = \"_webhook_state\".\"consecutive_failures\" + 1,
                     \"updated_at\" = clock_timestamp()
                 RETURNING \"consecutive_failures\"",
            )
            .bind(d.webhook_id)
            .fetch_one(&mut **tx)
            .await
        }
    }
}

/// A delivered attempt, waiting to be recorded with others.
#[derive(Debug, Clone)]
pub struct Delivered {
    /// Delivery id.
    pub id: Uuid,
    /// Its webhook.
    pub webhook_id: Uuid,
    /// The answer's status.
    pub status: u16,
    /// The first 4 KiB of the answer.
    pub body: String,
    /// When it was answered.
    pub at: DateTime<Utc>,
}

/// Records many delivered attempts at once (one statement): each delivery `delivered`, and the
/// failure counts of their webhooks back to zero.
pub async fn finish_delivered(tx: &mut Tx, done: &[Delivered]) -> Result<(), sqlx::Error> {
    let ids: Vec<Uuid> = done.iter().map(|d| d.id).collect();
    let statuses: Vec<i32> = done.iter().map(|d| i32::from(d.status)).collect();
    let bodies: Vec<&str> = done.iter().map(|d| d.body.as_str()).collect();
    let ats: Vec<DateTime<Utc>> = done.iter().map(|d| d.at).collect();
    let mut hooks: Vec<Uuid> = done.iter().map(|d| d.webhook_id).collect();
    hooks.sort_unstable();
    hooks.dedup();
    sqlx::query(
        "WITH _d AS (
            UPDATE \"_webhook_deliveries\" d SET \"status\" = 'delivered', \"next_attempt_at\" = NULL,
                \"delivered_at\" = u.at, \"response_status\" = u.st, \"response_body\" = u.body,
                \"error\" = NULL
            FROM unnest($1::uuid[], $2::int[], $3::text[], $4::timestamptz[]) AS u(id, st, body, at)
            WHERE d.\"id\" = u.id)
         UPDATE \"_webhook_state\" SET \"consecutive_failures\" = 0, \"updated_at\" = clock_timestamp()
         WHERE \"webhook_id\" = ANY($5) AND \"consecutive_failures\" <> 0",
    )
    .bind(&ids)
    .bind(&statuses)
    .bind(&bodies)
    .bind(&ats)
    .bind(&hooks)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Stops deliveries to a webhook, saying why (shown by `GET …/webhooks/{id}`).
pub async fn disable(tx: &mut Tx, webhook: Uuid, reason: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO \"_webhook_state\" (\"webhook_id\", \"disabled_reason\", \"disabled_at\")
         VALUES ($1, $2, clock_timestamp())
         ON CONFLICT (\"webhook_id\") DO UPDATE
         SET \"disabled_reason\" = $2, \"disabled_at\" = clock_timestamp(),
             \"updated_at\" = clock_timestamp()",
    )
    .bind(webhook)
    .bind(reason)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Ends a claimed delivery without sending it: failed with `error` (its webhook is inactive or
/// was stopped).
pub async fn abandon(tx: &mut Tx, d: &Claimed, error: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE \"_webhook_deliveries\" SET \"status\" = 'failed', \"next_attempt_at\" = NULL,
            \"error\" = $2 WHERE \"id\" = $1",
    )
    .bind(d.id)
    .bind(error)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Puts a claimed delivery back, due again after `wait`, without counting the attempt (this
/// worker does not know its webhook yet: its config may lag behind).
pub async fn postpone(
    tx: &mut Tx,
    d: &Claimed,
    wait: std::time::Duration,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE \"_webhook_deliveries\" SET \"attempts\" = \"attempts\" - 1,
            \"next_attempt_at\" = clock_timestamp() + make_interval(secs => $2)
         WHERE \"id\" = $1",
    )
    .bind(d.id)
    .bind(wait.as_secs_f64())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

const DELIVERY_COLS: &str = "\"id\", \"event_type\", \"status\", \"attempts\", \"response_status\",
    \"error\", \"created_at\", \"delivered_at\", \"next_attempt_at\", \"last_attempt_at\"";

fn delivery_json(r: &sqlx::postgres::PgRow) -> Value {
    let at = |i: usize| r.get::<Option<DateTime<Utc>>, _>(i);
    json!({
        "id": r.get::<Uuid, _>(0), "event_type": r.get::<String, _>(1),
        "status": r.get::<String, _>(2), "attempts": r.get::<i32, _>(3),
        "response_status": r.get::<Option<i32>, _>(4), "error": r.get::<Option<String>, _>(5),
        "created_at": r.get::<DateTime<Utc>, _>(6), "delivered_at": at(7),
        "next_attempt_at": at(8), "last_attempt_at": at(9),
    })
}

/// A webhook's newest deliveries (at most `limit`), newest first, as the contract shows them.
pub async fn recent(tx: &mut Tx, webhook: Uuid, limit: i64) -> Result<Vec<Value>, sqlx::Error> {
    let sql = format!(
        "SELECT {DELIVERY_COLS} FROM \"_webhook_deliveries\" WHERE \"webhook_id\" = $1
         ORDER BY \"created_at\" DESC, \"id\" DESC LIMIT $2"
    );
    let rows = sqlx::query(&sql)
        .bind(webhook)
        .bind(limit)
        .fetch_all(&mut **tx)
        .await?;
    Ok(rows.iter().map(delivery_json).collect())
}

/// Makes a delivery of `webhook` due again now (a manual retry); `None` when there is none.
pub async fn retry_now(
    tx: &mut Tx,
    webhook: Uuid,
    delivery: Uuid,
) -> Result<Option<Value>, sqlx::Error> {
    let sql = format!(
        "UPDATE \"_webhook_deliveries\" SET \"status\" = 'pending',
            \"next_attempt_at\" = clock_timestamp()
         WHERE \"id\" = $1 AND \"webhook_id\" = $2 RETURNING {DELIVERY_COLS}"
    );
    let row = sqlx::query(&sql)
        .bind(delivery)
        .bind(webhook)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(row.as_ref().map(delivery_json))
}

/// One delivery as the contract shows it.
pub async fn one(tx: &mut Tx, delivery: Uuid) -> Result<Option<Value>, sqlx::Error> {
    let sql = format!("SELECT {DELIVERY_COLS} FROM \"_webhook_deliveries\" WHERE \"id\" = $1");
    let row = sqlx::query(&sql)
        .bind(delivery)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(row.as_ref().map(delivery_json))
}
