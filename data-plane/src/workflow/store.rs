//! The SQL of workflow runs, in the project's schema (`_workflow_runs`, `_workflow_run_steps`,
//! `_workflow_schedule`). Every statement runs in a transaction begun as the project's role
//! ([`crate::db::begin`]), whose search path is the project's schema.
//!
//! A run's `next_at` is when a worker should pick it up: due now when it is new, the end of a
//! `delay` or a retry's wait, and while a worker runs it, the end of that worker's lease. `NULL`
//! once it finished.

use crate::db::Tx;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sqlx::Row;
use std::time::Duration;
use uuid::Uuid;

/// A run claimed by this worker.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// Run id.
    pub id: Uuid,
    /// Its workflow.
    pub workflow_id: Uuid,
    /// How deep in workflow-started writes it is (1: started by a request or a schedule).
    pub depth: i16,
    /// The trigger, as `trigger` in templates.
    pub trigger: Value,
    /// The step to run next.
    pub next_step: usize,
    /// Steps run so far (a condition's skip does not count the skipped ones).
    pub steps_run: i32,
    /// When it must have finished (delays extend it).
    pub deadline: DateTime<Utc>,
}

/// Claims up to `limit` due runs, oldest due first, each leased for `lease`; new ones start now
/// with a deadline `limit_secs` away. Also returns when the next run falls due (leases
/// included: a dead worker's runs are taken over when theirs end).
pub async fn claim(
    tx: &mut Tx,
    limit: i64,
    lease: Duration,
    time_limit: Duration,
) -> Result<(Vec<Claimed>, Option<DateTime<Utc>>), sqlx::Error> {
    let rows = sqlx::query(
        "WITH due AS (
            SELECT \"id\" FROM \"_workflow_runs\"
            WHERE \"next_at\" <= clock_timestamp()
            ORDER BY \"next_at\" LIMIT $1 FOR UPDATE SKIP LOCKED)
         UPDATE \"_workflow_runs\" r
         SET \"next_at\" = clock_timestamp() + make_interval(secs => $2),
             \"status\" = 'running',
             \"started_at\" = coalesce(r.\"started_at\", clock_timestamp()),
             \"deadline_at\" = coalesce(r.\"deadline_at\", clock_timestamp() + make_interval(secs => $3))
         FROM due WHERE r.\"id\" = due.\"id\"
         RETURNING r.\"id\", r.\"workflow_id\", r.\"depth\", r.\"trigger_json\", r.\"next_step\",
             r.\"steps_run\", r.\"deadline_at\"",
    )
    .bind(limit)
    .bind(lease.as_secs_f64())
    .bind(time_limit.as_secs_f64())
    .fetch_all(&mut **tx)
    .await?;
    let claimed = rows
        .into_iter()
        .map(|r| {
            let trigger: String = r.get(3);
            let next_step: i32 = r.get(4);
            Claimed {
                id: r.get(0),
                workflow_id: r.get(1),
                depth: r.get(2),
                trigger: serde_json::from_str(&trigger).unwrap_or(Value::Null),
                next_step: usize::try_from(next_step).unwrap_or(0),
                steps_run: r.get(5),
                deadline: r.get(6),
            }
        })
        .collect();
    let next: Option<DateTime<Utc>> = sqlx::query_scalar(
        "SELECT \"next_at\" FROM \"_workflow_runs\" WHERE \"next_at\" IS NOT NULL
         ORDER BY \"next_at\" LIMIT 1",
    )
    .fetch_optional(&mut **tx)
    .await?;
    Ok((claimed, next))
}

/// The outputs of a resumed run's completed steps, by step index.
pub async fn outputs(tx: &mut Tx, run: Uuid) -> Result<Vec<(usize, Value)>, sqlx::Error> {
    let rows: Vec<(i32, Option<String>)> = sqlx::query_as(
        "SELECT \"step_index\", \"output_json\" FROM \"_workflow_run_steps\"
         WHERE \"run_id\" = $1 AND \"status\" = 'completed' ORDER BY \"step_index\"",
    )
    .bind(run)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(i, out)| {
            let out = out
                .and_then(|o| serde_json::from_str(&o).ok())
                .unwrap_or(Value::Null);
            (usize::try_from(i).unwrap_or(0), out)
        })
        .collect())
}

/// A step with side effects is starting: its row says `running` with one more attempt, and the
/// run's lease covers `lease` from now. Returns the attempt's number.
pub async fn step_started(
    tx: &mut Tx,
    run: Uuid,
    index: usize,
    name: Option<&str>,
    action: &str,
    input: &Value,
    lease: Duration,
) -> Result<i32, sqlx::Error> {
    let attempts: i32 = sqlx::query_scalar(
        "WITH r AS (UPDATE \"_workflow_runs\"
                    SET \"next_at\" = clock_timestamp() + make_interval(secs => $6),
                        \"next_step\" = $2
                    WHERE \"id\" = $1)
         INSERT INTO \"_workflow_run_steps\" (\"run_id\", \"step_index\", \"name\", \"action\",
             \"status\", \"input_json\", \"attempts\")
         VALUES ($1, $2, $3, $4, 'running', $5, 1)
         ON CONFLICT (\"run_id\", \"step_index\") DO UPDATE
         SET \"status\" = 'running', \"input_json\" = EXCLUDED.\"input_json\",
             \"attempts\" = \"_workflow_run_steps\".\"attempts\" + 1, \"error\" = NULL
         RETURNING \"attempts\"",
    )
    .bind(run)
    .bind(index as i32)
    .bind(name)
    .bind(action)
    .bind(input.to_string())
    .bind(lease.as_secs_f64())
    .fetch_one(&mut **tx)
    .await?;
    Ok(attempts)
}

/// How a step ended.
pub struct StepEnd<'a> {
    /// Step index.
    pub index: usize,
    /// Step name.
    pub name: Option<&'a str>,
    /// Action name.
    pub action: &'a str,
    /// `completed`, `failed` or `retrying`.
    pub status: &'a str,
    /// What it ran with (templates rendered).
    pub input: &'a Value,
    /// What it made.
    pub output: Option<&'a Value>,
    /// What went wrong.
    pub error: Option<&'a str>,
}

/// What the run does after a step.
pub enum Then {
    /// Goes on at `next_step` on this worker (its lease renewed for `lease`).
    Continue {
        /// The next step.
        next_step: usize,
        /// Lease from now.
        lease: Duration,
    },
    /// Waits (a delay or a retry's wait), then resumes at `next_step` on any worker;
    /// `extend` moves the deadline (a delay does not count against the time limit).
    Wait {
        /// The step to resume at.
        next_step: usize,
        /// How long.
        wait: Duration,
        /// Added to the deadline.
        extend: Duration,
    },
    /// Ends `completed` or `failed` (with `error`).
    Finish {
        /// `completed` or `failed`.
        status: &'static str,
        /// Why it failed.
        error: Option<String>,
    },
}

/// Records a step's end and what the run does next, in one statement (inside the caller's
/// transaction: a record step's write commits with it). `counted`: the step started with
/// [`step_started`] (its attempt is counted there).
pub async fn step_ended(
    tx: &mut Tx,
    run: Uuid,
    end: &StepEnd<'_>,
    counted: bool,
    then: &Then,
) -> Result<(), sqlx::Error> {
    let (status, next_step, next_at_secs, extend, error, finished): (
        &str,
        Option<i32>,
        Option<f64>,
        f64,
        Option<&str>,
        bool,
    ) = match then {
        Then::Continue { next_step, lease } => (
            "running",
            Some(*next_step as i32),
            Some(lease.as_secs_f64()),
            0.0,
            None,
            false,
        ),
        Then::Wait {
            next_step,
            wait,
            extend,
        } => (
            "waiting",
            Some(*next_step as i32),
            Some(wait.as_secs_f64()),
            extend.as_secs_f64(),
            None,
            false,
        ),
        Then::Finish { status, error } => (status, None, None, 0.0, error.as_deref(), true),
    };
    sqlx::query(
        "WITH s AS (
            INSERT INTO \"_workflow_run_steps\" (\"run_id\", \"step_index\", \"name\", \"action\",
                \"status\", \"input_json\", \"output_json\", \"error\", \"attempts\", \"finished_at\")
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1,
                    CASE WHEN $5 = 'retrying' THEN NULL ELSE clock_timestamp() END)
            ON CONFLICT (\"run_id\", \"step_index\") DO UPDATE
            SET \"status\" = EXCLUDED.\"status\", \"input_json\" = EXCLUDED.\"input_json\",
                \"output_json\" = EXCLUDED.\"output_json\", \"error\" = EXCLUDED.\"error\",
                \"finished_at\" = EXCLUDED.\"finished_at\",
                \"attempts\" = \"_workflow_run_steps\".\"attempts\" + CASE WHEN $9 THEN 0 ELSE 1 END)
         UPDATE \"_workflow_runs\"
         SET \"status\" = $10, \"next_step\" = coalesce($11, \"next_step\"),
             \"steps_run\" = \"steps_run\" + CASE WHEN $5 = 'retrying' THEN 0 ELSE 1 END,
             \"next_at\" = CASE WHEN $12::float8 IS NULL THEN NULL
                               ELSE clock_timestamp() + make_interval(secs => $12) END,
             \"deadline_at\" = \"deadline_at\" + make_interval(secs => $13),
             \"error\" = $14,
             \"finished_at\" = CASE WHEN $15 THEN clock_timestamp() END
         WHERE \"id\" = $1",
    )
    .bind(run)
    .bind(end.index as i32)
    .bind(end.name)
    .bind(end.action)
    .bind(end.status)
    .bind(end.input.to_string())
    .bind(end.output.map(Value::to_string))
    .bind(end.error)
    .bind(counted)
    .bind(status)
    .bind(next_step)
    .bind(next_at_secs)
    .bind(extend)
    .bind(error)
    .bind(finished)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Records the end of a step after which the run went on (written later, with the run's next
/// write: see `step::Pending`); it counts as a step run.
pub async fn step_done(
    tx: &mut Tx,
    run: Uuid,
    end: &StepEnd<'_>,
    counted: bool,
    (began, ended): (DateTime<Utc>, DateTime<Utc>),
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "WITH s AS (
            INSERT INTO \"_workflow_run_steps\" (\"run_id\", \"step_index\", \"name\", \"action\",
                \"status\", \"input_json\", \"output_json\", \"attempts\", \"started_at\",
                \"finished_at\")
            VALUES ($1, $2, $3, $4, 'completed', $5, $6, 1, $8, $9)
            ON CONFLICT (\"run_id\", \"step_index\") DO UPDATE
            SET \"status\" = 'completed', \"input_json\" = EXCLUDED.\"input_json\",
                \"output_json\" = EXCLUDED.\"output_json\", \"error\" = NULL,
                \"finished_at\" = EXCLUDED.\"finished_at\",
                \"attempts\" = \"_workflow_run_steps\".\"attempts\" + CASE WHEN $7 THEN 0 ELSE 1 END)
         UPDATE \"_workflow_runs\" SET \"steps_run\" = \"steps_run\" + 1 WHERE \"id\" = $1",
    )
    .bind(run)
    .bind(end.index as i32)
    .bind(end.name)
    .bind(end.action)
    .bind(end.input.to_string())
    .bind(end.output.map(Value::to_string))
    .bind(counted)
    .bind(began)
    .bind(ended)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Ends a run without a step (time limit, step limit, workflow gone): `failed` with `error`.
pub async fn fail(tx: &mut Tx, run: Uuid, error: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE \"_workflow_runs\" SET \"status\" = 'failed', \"error\" = $2, \"next_at\" = NULL,
             \"finished_at\" = clock_timestamp()
         WHERE \"id\" = $1",
    )
    .bind(run)
    .bind(error)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Ends a run that is past its last step: `completed`.
pub async fn complete(tx: &mut Tx, run: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE \"_workflow_runs\" SET \"status\" = 'completed', \"next_at\" = NULL,
             \"finished_at\" = clock_timestamp()
         WHERE \"id\" = $1",
    )
    .bind(run)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Removes a run that never started: its trigger's condition did not hold for the row.
pub async fn discard(tx: &mut Tx, run: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM \"_workflow_runs\" WHERE \"id\" = $1 AND \"next_step\" = 0")
        .bind(run)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Hands a run back for later (its workflow is not in this worker's config yet).
pub async fn postpone(tx: &mut Tx, run: Uuid, wait: Duration) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE \"_workflow_runs\" SET \"next_at\" = clock_timestamp() + make_interval(secs => $2)
         WHERE \"id\" = $1",
    )
    .bind(run)
    .bind(wait.as_secs_f64())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Inserts a run due now; returns its id.
pub async fn start(
    tx: &mut Tx,
    workflow: Uuid,
    depth: i16,
    trigger: &Value,
) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO \"_workflow_runs\" (\"id\", \"workflow_id\", \"depth\", \"trigger_json\")
         VALUES ($1, $2, $3, $4)",
    )
    .bind(id)
    .bind(workflow)
    .bind(depth)
    .bind(trigger.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

/// Claims a schedule's due time and starts its run, in one statement: whichever workers try
/// the same due time, exactly one succeeds. True when this one did.
pub async fn fire_schedule(
    tx: &mut Tx,
    workflow: Uuid,
    due: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let trigger = json!({"event": "schedule", "scheduled_at": due});
    let started: Option<Uuid> = sqlx::query_scalar(
        "WITH s AS (
            INSERT INTO \"_workflow_schedule\" (\"workflow_id\", \"last_due\") VALUES ($1, $2)
            ON CONFLICT (\"workflow_id\") DO UPDATE SET \"last_due\" = EXCLUDED.\"last_due\"
            WHERE \"_workflow_schedule\".\"last_due\" < EXCLUDED.\"last_due\"
            RETURNING \"workflow_id\")
         INSERT INTO \"_workflow_runs\" (\"id\", \"workflow_id\", \"depth\", \"trigger_json\")
         SELECT gen_random_uuid(), \"workflow_id\", 1, $3 FROM s RETURNING \"id\"",
    )
    .bind(workflow)
    .bind(due)
    .bind(trigger.to_string())
    .fetch_optional(&mut **tx)
    .await?;
    Ok(started.is_some())
}

fn parse(text: Option<String>) -> Value {
    text.and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null)
}

const RUN_COLS: &str = "\"id\", \"workflow_id\", \"status\", \"depth\", \"trigger_json\", \
    \"next_step\", \"error\", \"created_at\", \"started_at\", \"finished_at\", \"next_at\", \
    \"steps_run\"";

fn run_json(r: &sqlx::postgres::PgRow) -> Value {
    let status: String = r.get(2);
    let next_at: Option<DateTime<Utc>> = r.get(10);
    json!({
        "id": r.get::<Uuid, _>(0), "workflow_id": r.get::<Uuid, _>(1), "status": status,
        "depth": r.get::<i16, _>(3), "trigger": parse(Some(r.get(4))),
        "next_step": r.get::<i32, _>(5), "steps_run": r.get::<i32, _>(11),
        "error": r.get::<Option<String>, _>(6),
        "created_at": r.get::<DateTime<Utc>, _>(7),
        "started_at": r.get::<Option<DateTime<Utc>>, _>(8),
        "finished_at": r.get::<Option<DateTime<Utc>>, _>(9),
        // When a waiting run resumes.
        "resumes_at": if status == "waiting" { next_at } else { None },
    })
}

/// A workflow's runs, newest first, optionally of one status; with the total.
pub async fn list(
    tx: &mut Tx,
    workflow: Uuid,
    status: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Value>, i64), sqlx::Error> {
    let sql = format!(
        "SELECT {RUN_COLS} FROM \"_workflow_runs\"
         WHERE \"workflow_id\" = $1 AND ($2::text IS NULL OR \"status\" = $2)
         ORDER BY \"created_at\" DESC, \"id\" LIMIT $3 OFFSET $4"
    );
    let rows = sqlx::query(&sql)
        .bind(workflow)
        .bind(status)
        .bind(limit)
        .bind(offset)
        .fetch_all(&mut **tx)
        .await?;
    let total: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM \"_workflow_runs\"
         WHERE \"workflow_id\" = $1 AND ($2::text IS NULL OR \"status\" = $2)",
    )
    .bind(workflow)
    .bind(status)
    .fetch_one(&mut **tx)
    .await?;
    Ok((rows.iter().map(run_json).collect(), total))
}

/// One run with its steps (each with input, output, error, attempts and timings).
pub async fn one(tx: &mut Tx, workflow: Uuid, run: Uuid) -> Result<Option<Value>, sqlx::Error> {
    let sql = format!(
        "SELECT {RUN_COLS} FROM \"_workflow_runs\" WHERE \"workflow_id\" = $1 AND \"id\" = $2"
    );
    let Some(row) = sqlx::query(&sql)
        .bind(workflow)
        .bind(run)
        .fetch_optional(&mut **tx)
        .await?
    else {
        return Ok(None);
    };
    let steps = sqlx::query(
        "SELECT \"step_index\", \"name\", \"action\", \"status\", \"input_json\", \"output_json\",
             \"error\", \"attempts\", \"started_at\", \"finished_at\"
         FROM \"_workflow_run_steps\" WHERE \"run_id\" = $1 ORDER BY \"step_index\"",
    )
    .bind(run)
    .fetch_all(&mut **tx)
    .await?;
    let steps: Vec<Value> = steps
        .iter()
        .map(|s| {
            let started: DateTime<Utc> = s.get(8);
            let finished: Option<DateTime<Utc>> = s.get(9);
            json!({
                "step_index": s.get::<i32, _>(0), "name": s.get::<Option<String>, _>(1),
                "action": s.get::<String, _>(2), "status": s.get::<String, _>(3),
                "input": parse(s.get(4)), "output": parse(s.get(5)),
                "error": s.get::<Option<String>, _>(6), "attempts": s.get::<i32, _>(7),
                "started_at": started, "finished_at": finished,
                "duration_ms": finished.map(|f| (f - started).num_milliseconds()),
            })
        })
        .collect();
    let mut out = run_json(&row);
    out["steps"] = Value::Array(steps);
    Ok(Some(out))
}
