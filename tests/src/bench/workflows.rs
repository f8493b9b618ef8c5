//! The workflow figures of `make bench`: creates at full speed without a workflow, then with one
//! active 3-step workflow on `record.created` (transform → HTTP request to a receiver on
//! 127.0.0.1 → update of the created record), alternating `rounds` times; the ratio of the two
//! create rates, then, once every run finished, how many runs completed per second and how long
//! each took from its trigger's commit to its end (`created_at` → `finished_at` of the run).

use super::load::{self, Kind, Target};
use super::seed::Project;
use crate::receiver::{Answer, Receiver};
use anyhow::{bail, Context};
use serde_json::json;
use sqlx::PgPool;
use std::fmt::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// What one run of the comparison found.
pub struct Figures {
    /// Creates per second without the workflow, each round.
    pub plain: Vec<f64>,
    /// Creates per second with it, each round.
    pub flowing: Vec<f64>,
    /// Runs started (one per create while it was on).
    pub runs: i64,
    /// Runs that completed.
    pub completed: i64,
    /// Completed runs per second, from the first run's trigger to the last run's end, each round.
    pub runs_per_sec: Vec<f64>,
    /// Trigger-to-finish p50 and p99 over every run, in ms.
    pub p50_ms: f64,
    /// See `p50_ms`.
    pub p99_ms: f64,
    /// Requests the receiver answered.
    pub requests: usize,
}

use super::load::{median, rounds};

impl Figures {
    /// Median with-workflow rate over median without.
    pub fn ratio(&self) -> f64 {
        median(&self.flowing) / median(&self.plain)
    }

    /// The markdown section.
    pub fn markdown(&self, connections: usize) -> String {
        let mut md = String::new();
        let _ = writeln!(md, "### Workflows: creates that each start a 3-step run\n");
        let _ = writeln!(
            md,
            "{connections} connections; rounds alternate without and with the workflow (median shown, every round in brackets). The workflow: transform → `http_request` POST to a receiver on 127.0.0.1 → `update_record` of the created record. Runs finish after the create load of their round stops.\n"
        );
        let _ = writeln!(md, "| measure | value | target |\n| --- | ---: | ---: |");
        let _ = writeln!(
            md,
            "| creates/s without workflow | {:.0} ({}) | |",
            median(&self.plain),
            rounds(&self.plain)
        );
        let _ = writeln!(
            md,
            "| creates/s with workflow | {:.0} ({}) | |",
            median(&self.flowing),
            rounds(&self.flowing)
        );
        let _ = writeln!(md, "| ratio | {:.2} | ≥ 0.7 |", self.ratio());
        let _ = writeln!(
            md,
            "| runs completed / started | {} / {} | all |",
            self.completed, self.runs
        );
        let _ = writeln!(
            md,
            "| runs completed per second | {:.0} ({}) | |",
            median(&self.runs_per_sec),
            rounds(&self.runs_per_sec)
        );
        let _ = writeln!(
            md,
            "| trigger → finish p50 / p99 | {:.0} / {:.0} ms | |",
            self.p50_ms, self.p99_ms
        );
        let _ = writeln!(
            md,
            "| HTTP requests received | {} | one per run |",
            self.requests
        );
        md
    }
}

/// Runs the comparison against the stack behind `router` (its worker must allow loopback egress).
pub async fn measure(
    router: SocketAddr,
    pool: &PgPool,
    project: &Project,
    connections: usize,
    times: (Duration, Duration),
    rounds: usize,
) -> anyhow::Result<Figures> {
    let target = Target {
        addr: router,
        project: project.id.clone(),
        token: project.token.clone(),
        api_key: None,
        rows: 10_000,
        file: None,
    };
    let rx = Receiver::start_on_own_thread();
    rx.always(Answer {
        headers: vec![("content-type", "application/json".into())],
        body: r#"{"ok": true, "score": 1.5}"#.into(),
        ..Answer::status(200)
    });
    let http = reqwest::Client::new();
    let flows = format!("http://{router}/api/projects/{}/workflows", project.id);
    let steps = json!([
        {"action": "transform", "name": "t", "output": {"msg": "post {{ trigger.record.title }}"}},
        {"action": "http_request", "name": "h", "method": "POST", "url": rx.url("/bench"),
         "body": {"text": "{{ steps.t.msg }}", "id": "{{ trigger.record.id }}"}},
        {"action": "update_record", "collection": "posts", "id": "{{ trigger.record.id }}",
         "data": {"score": "{{ steps.h.body.score }}"}},
    ]);
    let created = http
        .post(&flows)
        .bearer_auth(&project.token)
        .json(&json!({"name": "bench", "trigger_type": "record.created",
                      "trigger_config": {"collection": "posts"}, "steps": steps, "is_active": false}))
        .send()
        .await
        .context("create the workflow")?;
    if created.status() != 201 {
        bail!(
            "create the workflow: HTTP {}: {}",
            created.status(),
            created.text().await?
        );
    }
    let wf: serde_json::Value = created.json().await?;
    let wf_id = wf["id"].as_str().context("workflow id")?.to_owned();
    let switch = |on: bool| {
        http.patch(format!("{flows}/{wf_id}"))
            .bearer_auth(&project.token)
            .json(&json!({ "is_active": on }))
            .send()
    };
    let runs_table = format!("\"{}\".\"_workflow_runs\"", project.schema);
    let (mut plain, mut flowing, mut runs_per_sec) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let stats = load::run(&target, Kind::Create, connections, times.0, times.1).await;
        plain.push(stats.rps());
        switch(true).await?.error_for_status()?;
        let since: chrono::DateTime<chrono::Utc> = sqlx::query_scalar("SELECT clock_timestamp()")
            .fetch_one(pool)
            .await?;
        let stats = load::run(&target, Kind::Create, connections, times.0, times.1).await;
        flowing.push(stats.rps());
        switch(false).await?.error_for_status()?;
        // Every run of the round finishes before the next round.
        let until = Instant::now() + Duration::from_secs(300);
        let open_sql = format!("SELECT count(*) FROM {runs_table} WHERE \"finished_at\" IS NULL");
        loop {
            let open: i64 = sqlx::query_scalar(&open_sql).fetch_one(pool).await?;
            if open == 0 || Instant::now() > until {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let (n, secs): (i64, Option<f64>) = sqlx::query_as(&format!(
            "SELECT count(*), extract(epoch FROM max(\"finished_at\") - min(\"created_at\"))::float8
             FROM {runs_table} WHERE \"created_at\" >= $1 AND \"status\" = 'completed'"
        ))
        .bind(since)
        .fetch_one(pool)
        .await?;
        runs_per_sec.push(n as f64 / secs.unwrap_or(1.0).max(0.001));
    }
    let (runs, completed, p50, p99): (i64, i64, Option<f64>, Option<f64>) = sqlx::query_as(&format!(
        "SELECT count(*), count(*) FILTER (WHERE \"status\" = 'completed'),
             percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM \"finished_at\" - \"created_at\")::float8),
             percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM \"finished_at\" - \"created_at\")::float8)
         FROM {runs_table}"
    ))
    .fetch_one(pool)
    .await?;
    Ok(Figures {
        plain,
        flowing,
        runs,
        completed,
        runs_per_sec,
        p50_ms: p50.unwrap_or(0.0) * 1000.0,
        p99_ms: p99.unwrap_or(0.0) * 1000.0,
        requests: rx.hits().len(),
    })
}
