//! The load generator: N keep-alive HTTP/1.1 connections to the router, one task each, speaking
//! raw hyper so the generator itself costs little CPU. Requests answered during the warm-up are
//! dropped; every later one up to the end is recorded with its latency.

use super::seed::Row;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// The list request of the workload (spec/data.md syntax).
pub const LIST_QUERY: &str = "published=true&views__gt=500&sort=-created_at&limit=50";

/// A request type of the workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `GET …/data/posts/{random id}`
    Get,
    /// `GET …/data/posts?` [`LIST_QUERY`]
    List,
    /// The list without its count (`&skip_total=true`)
    ListNoTotal,
    /// `POST …/data/posts` with a new row
    Create,
    /// `PATCH …/data/posts/{random id}` with a new `views`
    Patch,
}

impl Kind {
    /// Every type, in the order they are measured (create last: it grows the table).
    pub const ALL: [Kind; 5] = [
        Kind::Get,
        Kind::List,
        Kind::ListNoTotal,
        Kind::Patch,
        Kind::Create,
    ];

    /// The name `--only` takes.
    pub fn short(self) -> &'static str {
        match self {
            Kind::ListNoTotal => "list-no-total",
            k => k.name(),
        }
    }

    /// The row name in the tables.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Get => "get",
            Kind::List => "list",
            Kind::ListNoTotal => "list (no total)",
            Kind::Create => "create",
            Kind::Patch => "patch",
        }
    }
}

/// Where and as whom to send.
#[derive(Debug, Clone)]
pub struct Target {
    /// The router.
    pub addr: SocketAddr,
    /// Project id.
    pub project: String,
    /// Bearer token.
    pub token: String,
    /// Send this API key (`X-API-Key`) instead of the bearer token.
    pub api_key: Option<String>,
    /// Ids `1..=rows` exist.
    pub rows: i64,
}

/// What one measurement saw.
#[derive(Debug, Default)]
pub struct Stats {
    /// Length of the measured window, in seconds.
    pub secs: f64,
    /// Latency of every answered request, in microseconds, sorted.
    pub latencies_us: Vec<u32>,
    /// Answers that were not 2xx.
    pub non_2xx: u64,
    /// Requests that got no answer (connection errors).
    pub errors: u64,
}

impl Stats {
    /// Answered requests per second.
    pub fn rps(&self) -> f64 {
        self.latencies_us.len() as f64 / self.secs
    }

    /// The latency below which a fraction `q` of the requests fall.
    pub fn percentile(&self, q: f64) -> Duration {
        percentile(&self.latencies_us, q)
    }
}

/// The value below which a fraction `q` of sorted microsecond latencies fall (nearest rank).
pub fn percentile(sorted_us: &[u32], q: f64) -> Duration {
    if sorted_us.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted_us.len() as f64 * q).ceil() as usize).max(1) - 1;
    Duration::from_micros(sorted_us[i.min(sorted_us.len() - 1)].into())
}

fn request(t: &Target, kind: Kind, rng: &mut StdRng) -> Request<Full<Bytes>> {
    let base = format!("/api/projects/{}/data/posts", t.project);
    let (method, uri, body) = match kind {
        Kind::Get => (
            Method::GET,
            format!("{base}/{}", rng.gen_range(1..=t.rows)),
            None,
        ),
        Kind::List => (Method::GET, format!("{base}?{LIST_QUERY}"), None),
        Kind::ListNoTotal => (
            Method::GET,
            format!("{base}?{LIST_QUERY}&skip_total=true"),
            None,
        ),
        Kind::Create => (Method::POST, base, Some(Row::random(rng).json())),
        Kind::Patch => {
            let id = rng.gen_range(1..=t.rows);
            let body = serde_json::json!({ "views": rng.gen_range(0..10_000) });
            (Method::PATCH, format!("{base}/{id}"), Some(body))
        }
    };
    let builder = Request::builder()
        .method(method)
        .uri(uri)
        .header(HOST, t.addr.to_string());
    let builder = match &t.api_key {
        Some(key) => builder.header("x-api-key", key),
        None => builder.header(AUTHORIZATION, format!("Bearer {}", t.token)),
    };
    match body {
        Some(b) => builder
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(b.to_string()))),
        None => builder.body(Full::new(Bytes::new())),
    }
    .expect("valid request")
}

async fn connect(addr: SocketAddr) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

async fn send(
    sender: &mut SendRequest<Full<Bytes>>,
    req: Request<Full<Bytes>>,
) -> anyhow::Result<StatusCode> {
    sender.ready().await?;
    let res = sender.send_request(req).await?;
    let status = res.status();
    res.into_body().collect().await?;
    Ok(status)
}

/// One connection's loop; returns its share of the figures.
async fn client(t: Arc<Target>, kind: Kind, seed: u64, from: Instant, end: Instant) -> Stats {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = Stats::default();
    let mut conn: Option<SendRequest<Full<Bytes>>> = None;
    while Instant::now() < end {
        let sender = match conn.as_mut() {
            Some(s) => s,
            None => match connect(t.addr).await {
                Ok(s) => conn.insert(s),
                Err(_) => {
                    out.errors += u64::from(Instant::now() >= from);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let req = request(&t, kind, &mut rng);
        let started = Instant::now();
        let result = send(sender, req).await;
        let done = Instant::now();
        let counted = done >= from && done < end;
        match result {
            Ok(status) if counted => {
                let us = (done - started).as_micros().min(u128::from(u32::MAX)) as u32;
                out.latencies_us.push(us);
                out.non_2xx += u64::from(!status.is_success());
            }
            Ok(_) => {}
            Err(_) => {
                conn = None;
                out.errors += u64::from(counted);
            }
        }
    }
    out
}

/// Runs `kind` over `connections` connections: `warmup`, then `duration` measured.
pub async fn run(
    target: &Target,
    kind: Kind,
    connections: usize,
    warmup: Duration,
    duration: Duration,
) -> Stats {
    let target = Arc::new(target.clone());
    let from = Instant::now() + warmup;
    let end = from + duration;
    let tasks: Vec<_> = (0..connections)
        .map(|i| tokio::spawn(client(target.clone(), kind, i as u64 + 1, from, end)))
        .collect();
    let mut all = Stats {
        secs: duration.as_secs_f64(),
        ..Stats::default()
    };
    for task in tasks {
        let part = task.await.expect("load task");
        all.latencies_us.extend(part.latencies_us);
        all.non_2xx += part.non_2xx;
        all.errors += part.errors;
    }
    all.latencies_us.sort_unstable();
    all
}
