//! The webhook figures of `make bench`: creates at full speed without a webhook, then with one
//! active webhook to a receiver on 127.0.0.1 (on a thread of its own; alternating, `rounds` times each), the ratio of
//! the two, how long each event took from its commit to its arrival, and a check that every
//! created record's event arrived exactly as committed (distinct `webhook-id`s = outbox rows).

use super::load::{self, Kind, Target};
use super::seed::Project;
use crate::receiver::{Answer, Receiver};
use anyhow::{bail, Context};
use serde_json::json;
use sqlx::PgPool;
use std::collections::HashSet;
use std::fmt::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

/// What one run of the comparison found.
pub struct Figures {
    /// Creates per second without a webhook, each round.
    pub plain: Vec<f64>,
    /// Creates per second with the webhook, each round.
    pub hooked: Vec<f64>,
    /// Events created while the webhook was on (outbox rows).
    pub events: usize,
    /// Distinct deliveries that arrived.
    pub arrived: usize,
    /// Commit-to-arrival latencies, sorted, in microseconds.
    pub latencies_us: Vec<u32>,
    /// p99 of the creates with the webhook, in ms.
    pub create_p99_ms: f64,
}

use super::load::{median, rounds};

impl Figures {
    /// Median with-webhook rate over median without.
    pub fn ratio(&self) -> f64 {
        median(&self.hooked) / median(&self.plain)
    }

    /// The markdown section.
    pub fn markdown(&self, connections: usize) -> String {
        let p = |q: f64| load::percentile(&self.latencies_us, q).as_secs_f64() * 1000.0;
        let mut md = String::new();
        let _ = writeln!(md, "### Webhooks: creates with one active webhook\n");
        let _ = writeln!(
            md,
            "{connections} connections; rounds alternate without and with the webhook (median shown, every round in brackets); the receiver runs on 127.0.0.1 and answers 200.\n"
        );
        let _ = writeln!(md, "| measure | value | target |\n| --- | ---: | ---: |");
        let _ = writeln!(
            md,
            "| creates/s without webhook | {:.0} ({}) | |",
            median(&self.plain),
            rounds(&self.plain)
        );
        let _ = writeln!(
            md,
            "| creates/s with webhook | {:.0} ({}) | |",
            median(&self.hooked),
            rounds(&self.hooked)
        );
        let _ = writeln!(md, "| ratio | {:.2} | ≥ 0.8 |", self.ratio());
        let _ = writeln!(
            md,
            "| create p99 with webhook | {:.2} ms | |",
            self.create_p99_ms
        );
        let _ = writeln!(
            md,
            "| commit → delivery p50 / p99 / max | {:.1} / {:.1} / {:.1} ms | p99 < 1000 ms |",
            p(0.5),
            p(0.99),
            p(1.0)
        );
        let _ = writeln!(
            md,
            "| events delivered | {} of {} | all |",
            self.arrived, self.events
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
    rx.always(Answer::status(200));
    let http = reqwest::Client::new();
    let hooks = format!("http://{router}/api/projects/{}/webhooks", project.id);
    let hook = http
        .post(&hooks)
        .bearer_auth(&project.token)
        .json(
            &json!({"name": "bench", "url": rx.url("/bench"), "events": ["record.created"],
                      "is_active": false}),
        )
        .send()
        .await
        .context("create the webhook")?;
    if hook.status() != 201 {
        bail!("create the webhook: HTTP {}", hook.status());
    }
    let hook: serde_json::Value = hook.json().await?;
    let hook_id = hook["id"].as_str().context("webhook id")?.to_owned();
    let switch = |on: bool| {
        http.patch(format!("{hooks}/{hook_id}"))
            .bearer_auth(&project.token)
            .json(&json!({ "is_active": on }))
            .send()
    };
    let count_sql = format!(
        "SELECT count(*) FROM \"{}\".\"_webhook_deliveries\" WHERE webhook_id = $1::uuid",
        project.schema
    );
    let outbox = || {
        sqlx::query_scalar::<_, i64>(&count_sql)
            .bind(&hook_id)
            .fetch_one(pool)
    };
    let (mut plain, mut hooked) = (Vec::new(), Vec::new());
    let mut create_p99_ms = 0.0;
    // Wall clock at a known instant, to place arrivals (instants) beside payload timestamps.
    let (t0, w0) = (Instant::now(), SystemTime::now());
    let mut hits = Vec::new();
    for _ in 0..rounds {
        let stats = load::run(&target, Kind::Create, connections, times.0, times.1).await;
        plain.push(stats.rps());
        switch(true).await?.error_for_status()?;
        let stats = load::run(&target, Kind::Create, connections, times.0, times.1).await;
        hooked.push(stats.rps());
        create_p99_ms = stats.percentile(0.99).as_secs_f64() * 1000.0;
        // Every event of the round arrives before the webhook goes off again (events of an
        // inactive webhook are not sent), and before the next round without it.
        let events = outbox().await? as usize;
        let until = Instant::now() + Duration::from_secs(120);
        // Polls a count (cloning every hit while deliveries arrive would slow the receiver).
        while rx.distinct_ids().0 < events && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        hits = rx.hits();
        switch(false).await?.error_for_status()?;
    }
    let events = outbox().await? as usize;
    let ids: HashSet<String> = hits.iter().map(|h| h.header("webhook-id")).collect();
    let mut latencies_us: Vec<u32> = hits
        .iter()
        .filter_map(|h| {
            let sent = h.json()["timestamp"].as_str()?.to_owned();
            let sent = chrono::DateTime::parse_from_rfc3339(&sent).ok()?;
            let arrived = w0 + (h.at - t0);
            let arrived: chrono::DateTime<chrono::Utc> = arrived.into();
            let us = (arrived - sent.with_timezone(&chrono::Utc)).num_microseconds()?;
            Some(us.clamp(0, u32::MAX as i64) as u32)
        })
        .collect();
    latencies_us.sort_unstable();
    Ok(Figures {
        plain,
        hooked,
        events,
        arrived: ids.len(),
        latencies_us,
        create_p99_ms,
    })
}

/// What the stalled-receiver comparison found.
pub struct Fairness {
    /// Healthy deliveries per second without the stalled webhook, each round.
    pub alone: Vec<f64>,
    /// Healthy deliveries per second with the stalled webhook on, each round.
    pub beside_stalled: Vec<f64>,
    /// Events each burst made (per round, alone then beside).
    pub events: Vec<usize>,
    /// Length of each burst.
    pub burst: Duration,
    /// How long the stalled receiver holds each request.
    pub stall: Duration,
}

impl Fairness {
    /// Median rate beside the stalled webhook over median rate alone.
    pub fn ratio(&self) -> f64 {
        median(&self.beside_stalled) / median(&self.alone)
    }

    /// The markdown section.
    pub fn markdown(&self, connections: usize) -> String {
        let mut md = String::new();
        let _ = writeln!(
            md,
            "### Webhooks: a stalled receiver beside a healthy one\n"
        );
        let _ = writeln!(
            md,
            "Bursts of creates ({connections} connections, {} s each) with a healthy webhook (receiver answers 200 at once), alone or beside a second webhook on the same events whose receiver holds every request {} s (past the worker's delivery time limit, so each of its attempts times out). The healthy rate is its events over the time from the burst's start until the last of them arrived. Rounds alternate; median shown, every round in brackets.\n",
            self.burst.as_secs(),
            self.stall.as_secs()
        );
        let _ = writeln!(md, "| measure | value | target |\n| --- | ---: | ---: |");
        let _ = writeln!(
            md,
            "| healthy deliveries/s alone | {:.0} ({}) | |",
            median(&self.alone),
            rounds(&self.alone)
        );
        let _ = writeln!(
            md,
            "| healthy deliveries/s beside the stalled webhook | {:.0} ({}) | |",
            median(&self.beside_stalled),
            rounds(&self.beside_stalled)
        );
        let _ = writeln!(
            md,
            "| slowdown | {:.0} % | < 10 % |",
            (1.0 - self.ratio()) * 100.0
        );
        let _ = writeln!(
            md,
            "| events per burst | {} | |",
            self.events
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        md
    }
}

/// Bursts of creates with a healthy webhook, alone and beside a stalled one (`rounds` each,
/// alternating). The stack's worker must allow loopback egress.
pub async fn fairness(
    router: SocketAddr,
    pool: &PgPool,
    project: &Project,
    connections: usize,
    burst: Duration,
    rounds: usize,
) -> anyhow::Result<Fairness> {
    let target = Target {
        addr: router,
        project: project.id.clone(),
        token: project.token.clone(),
        api_key: None,
        rows: 10_000,
        file: None,
    };
    let healthy_rx = Receiver::start_on_own_thread();
    healthy_rx.always(Answer::status(200));
    let stalled_rx = Receiver::start_on_own_thread();
    let stall = Duration::from_secs(60);
    let mut held = Answer::status(200);
    held.stall = stall;
    stalled_rx.always(held);
    let http = reqwest::Client::new();
    let hooks = format!("http://{router}/api/projects/{}/webhooks", project.id);
    let create = |name: &str, url: String, on: bool| {
        http.post(&hooks)
            .bearer_auth(&project.token)
            .json(&json!({"name": name, "url": url, "events": ["record.created"], "is_active": on}))
            .send()
    };
    let id_of = |res: reqwest::Response| async move {
        let res = res.error_for_status().context("create a webhook")?;
        let body: serde_json::Value = res.json().await?;
        anyhow::Ok(body["id"].as_str().context("webhook id")?.to_owned())
    };
    let healthy = id_of(create("healthy", healthy_rx.url("/ok"), true).await?).await?;
    let stalled = id_of(create("stalled", stalled_rx.url("/stuck"), false).await?).await?;
    let switch = |id: String, on: bool| {
        http.patch(format!("{hooks}/{id}"))
            .bearer_auth(&project.token)
            .json(&json!({ "is_active": on }))
            .send()
    };
    let count_sql = format!(
        "SELECT count(*) FROM \"{}\".\"_webhook_deliveries\" WHERE webhook_id = $1::uuid",
        project.schema
    );
    let outbox = || {
        sqlx::query_scalar::<_, i64>(&count_sql)
            .bind(&healthy)
            .fetch_one(pool)
    };
    let mut out = Fairness {
        alone: Vec::new(),
        beside_stalled: Vec::new(),
        events: Vec::new(),
        burst,
        stall,
    };
    for _ in 0..rounds {
        for beside in [false, true] {
            if beside {
                switch(stalled.clone(), true).await?.error_for_status()?;
            }
            let before = outbox().await? as usize;
            let arrived_before = healthy_rx.distinct_ids().0;
            let started = Instant::now();
            load::run(&target, Kind::Create, connections, Duration::ZERO, burst).await;
            let events = outbox().await? as usize - before;
            let until = Instant::now() + Duration::from_secs(120);
            // Polls a count (cloning every hit while deliveries arrive would slow the receiver).
            let last = loop {
                let (arrived, last) = healthy_rx.distinct_ids();
                let arrived = arrived - arrived_before;
                if arrived >= events {
                    break last.unwrap_or(started);
                }
                if Instant::now() > until {
                    bail!("{arrived} of {events} healthy events arrived within 120 s");
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            };
            let rate = events as f64 / (last - started).as_secs_f64();
            if beside {
                out.beside_stalled.push(rate);
                switch(stalled.clone(), false).await?.error_for_status()?;
                // Its attempts in flight end at the worker's time limit (10 s by default):
                // the next round alone starts after them.
                tokio::time::sleep(Duration::from_secs(11)).await;
            } else {
                out.alone.push(rate);
            }
            out.events.push(events);
        }
    }
    for id in [healthy, stalled] {
        http.delete(format!("{hooks}/{id}"))
            .bearer_auth(&project.token)
            .send()
            .await?;
    }
    Ok(out)
}
