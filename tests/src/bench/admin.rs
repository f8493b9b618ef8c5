//! The admin API figures of `make bench` (`--admin-only`): `GetProject` and `ListCollections`
//! over gRPC through the router, against the same reads over REST (`GET /api/projects/{id}`,
//! `GET …/schema/collections`), at the same concurrency, alternating rounds in one run.
//!
//! Both sides use hyper-based clients of similar cost: REST through `reqwest` on keep-alive
//! HTTP/1.1 connections (one per task, as browsers and SDKs do), gRPC through `tonic` with the
//! tasks' streams spread over a few HTTP/2 connections.

use super::load::{median, percentile};
use super::procs::Meter;
use proto::admin::{GetProjectRequest, ListCollectionsRequest};
use proto::AdminServiceClient;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tonic::transport::Channel;

/// gRPC streams ride this many HTTP/2 connections.
const GRPC_CONNECTIONS: usize = 4;

/// A read measured both ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// `GetProject` / `GET /api/projects/{id}`
    GetProject,
    /// `ListCollections` / `GET /api/projects/{id}/schema/collections`
    ListCollections,
}

impl Read {
    /// Both, in the order measured.
    pub const ALL: [Read; 2] = [Read::GetProject, Read::ListCollections];

    fn name(self) -> &'static str {
        match self {
            Read::GetProject => "GetProject",
            Read::ListCollections => "ListCollections",
        }
    }
}

/// One measurement: answered calls per second and latency percentiles.
#[derive(Debug, Default, Clone)]
pub struct Sample {
    /// Calls answered OK per second.
    pub rps: f64,
    /// Median latency.
    pub p50: Duration,
    /// 99th percentile latency.
    pub p99: Duration,
    /// Calls that failed.
    pub errors: u64,
    /// CPU microseconds per answered call during the measured window: router, control plane,
    /// Postgres, this load generator.
    pub cpu_us: [f64; 4],
}

/// Every round of one read.
#[derive(Debug, Default)]
pub struct Figures {
    /// REST rounds.
    pub rest: Vec<Sample>,
    /// gRPC rounds.
    pub grpc: Vec<Sample>,
}

impl Figures {
    /// Median gRPC ÷ REST requests per second.
    pub fn ratio(&self) -> f64 {
        let rest: Vec<f64> = self.rest.iter().map(|s| s.rps).collect();
        let grpc: Vec<f64> = self.grpc.iter().map(|s| s.rps).collect();
        median(&grpc) / median(&rest)
    }
}

/// Where and as whom.
#[derive(Debug, Clone)]
pub struct Target {
    /// The router.
    pub addr: SocketAddr,
    /// The project read.
    pub project: String,
    /// An admin access token.
    pub token: String,
}

async fn rest_loop(
    client: reqwest::Client,
    url: String,
    token: String,
    start: Instant,
    warm: Duration,
    end: Duration,
) -> (Vec<u32>, u64) {
    let (mut lat, mut errors) = (Vec::new(), 0);
    loop {
        let sent = Instant::now();
        if sent.duration_since(start) >= end {
            break;
        }
        let res = client.get(&url).bearer_auth(&token).send().await;
        let ok = match res {
            Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
            _ => false,
        };
        if sent.duration_since(start) >= warm {
            if ok {
                lat.push(sent.elapsed().as_micros() as u32);
            } else {
                errors += 1;
            }
        }
    }
    (lat, errors)
}

async fn grpc_loop(
    mut client: AdminServiceClient<Channel>,
    read: Read,
    t: Arc<Target>,
    start: Instant,
    warm: Duration,
    end: Duration,
) -> (Vec<u32>, u64) {
    let (mut lat, mut errors) = (Vec::new(), 0);
    let bearer: tonic::metadata::MetadataValue<_> = format!("Bearer {}", t.token)
        .parse()
        .expect("a header-safe token");
    loop {
        let sent = Instant::now();
        if sent.duration_since(start) >= end {
            break;
        }
        let ok = match read {
            Read::GetProject => {
                let mut req = tonic::Request::new(GetProjectRequest {
                    project_id: t.project.clone(),
                });
                req.metadata_mut().insert("authorization", bearer.clone());
                client.get_project(req).await.is_ok()
            }
            Read::ListCollections => {
                let mut req = tonic::Request::new(ListCollectionsRequest {
                    project_id: t.project.clone(),
                    ..Default::default()
                });
                req.metadata_mut().insert("authorization", bearer.clone());
                client.list_collections(req).await.is_ok()
            }
        };
        if sent.duration_since(start) >= warm {
            if ok {
                lat.push(sent.elapsed().as_micros() as u32);
            } else {
                errors += 1;
            }
        }
    }
    (lat, errors)
}

/// CPU seconds of router, control plane, Postgres and this process over the measured window,
/// which starts `warm` after `start` and lasts `run`.
async fn window_cpu(meter: &Meter, start: Instant, warm: Duration, run: Duration) -> [f64; 4] {
    tokio::time::sleep_until((start + warm).into()).await;
    let before = meter.cpu();
    tokio::time::sleep_until((start + warm + run).into()).await;
    let after = meter.cpu();
    // Meter order: router, worker, control plane, postgres, load generator, pgbench.
    [0, 2, 3, 4].map(|i| after[i] - before[i])
}

fn sample(results: Vec<(Vec<u32>, u64)>, secs: f64, cpu: [f64; 4]) -> Sample {
    let mut all: Vec<u32> = Vec::new();
    let mut errors = 0;
    for (lat, e) in results {
        all.extend(lat);
        errors += e;
    }
    all.sort_unstable();
    let calls = all.len().max(1) as f64;
    Sample {
        cpu_us: cpu.map(|c| c * 1e6 / calls),
        rps: all.len() as f64 / secs,
        p50: percentile(&all, 0.50),
        p99: percentile(&all, 0.99),
        errors,
    }
}

/// One REST measurement of `read` with `tasks` concurrent callers.
pub async fn rest(
    t: &Target,
    meter: &Meter,
    read: Read,
    tasks: usize,
    warm: Duration,
    run: Duration,
) -> Sample {
    let url = match read {
        Read::GetProject => format!("http://{}/api/projects/{}", t.addr, t.project),
        Read::ListCollections => format!(
            "http://{}/api/projects/{}/schema/collections",
            t.addr, t.project
        ),
    };
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(tasks)
        .tcp_nodelay(true)
        .build()
        .expect("a client");
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            tokio::spawn(rest_loop(
                client.clone(),
                url.clone(),
                t.token.clone(),
                start,
                warm,
                warm + run,
            ))
        })
        .collect();
    let cpu = window_cpu(meter, start, warm, run).await;
    let mut results = Vec::new();
    for h in handles {
        results.push(h.await.expect("a REST task"));
    }
    sample(results, run.as_secs_f64(), cpu)
}

/// One gRPC measurement of `read` with `tasks` concurrent streams.
pub async fn grpc(
    t: &Target,
    meter: &Meter,
    read: Read,
    tasks: usize,
    warm: Duration,
    run: Duration,
) -> anyhow::Result<Sample> {
    let url = format!("http://{}", t.addr);
    let mut channels = Vec::new();
    for _ in 0..GRPC_CONNECTIONS {
        channels.push(proto::connect(&url).await?);
    }
    let target = Arc::new(t.clone());
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|i| {
            let client = AdminServiceClient::new(channels[i % channels.len()].clone());
            tokio::spawn(grpc_loop(
                client,
                read,
                target.clone(),
                start,
                warm,
                warm + run,
            ))
        })
        .collect();
    let cpu = window_cpu(meter, start, warm, run).await;
    let mut results = Vec::new();
    for h in handles {
        results.push(h.await.expect("a gRPC task"));
    }
    Ok(sample(results, run.as_secs_f64(), cpu))
}

/// Both reads, REST and gRPC alternating, `rounds` times each.
pub async fn measure(
    t: &Target,
    meter: &Meter,
    tasks: usize,
    (warm, run): (Duration, Duration),
    rounds: usize,
) -> anyhow::Result<Vec<(Read, Figures)>> {
    let mut out = Vec::new();
    for read in Read::ALL {
        let mut f = Figures::default();
        for _ in 0..rounds {
            f.rest.push(rest(t, meter, read, tasks, warm, run).await);
            f.grpc.push(grpc(t, meter, read, tasks, warm, run).await?);
        }
        out.push((read, f));
    }
    Ok(out)
}

/// The table.
pub fn markdown(tasks: usize, figures: &[(Read, Figures)]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "### Admin API: gRPC against REST\n\n{tasks} concurrent callers through the router \
         (REST: keep-alive HTTP/1.1 connections; gRPC: streams over {GRPC_CONNECTIONS} HTTP/2 \
         connections), alternating rounds; medians of the rounds.\n"
    );
    let _ = writeln!(
        s,
        "| read | REST req/s | gRPC req/s | gRPC ÷ REST | REST p50 / p99 | gRPC p50 / p99 | errors |"
    );
    let _ = writeln!(s, "| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (read, f) in figures {
        let mid = |v: &[Sample]| {
            let mut v = v.to_vec();
            v.sort_by(|a, b| a.rps.total_cmp(&b.rps));
            v[v.len() / 2].clone()
        };
        let (r, g) = (mid(&f.rest), mid(&f.grpc));
        let errors: u64 = f.rest.iter().chain(&f.grpc).map(|s| s.errors).sum();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let _ = writeln!(
            s,
            "| {} | {:.0} | {:.0} | {:.2} | {:.1} / {:.1} ms | {:.1} / {:.1} ms | {errors} |",
            read.name(),
            r.rps,
            g.rps,
            f.ratio(),
            ms(r.p50),
            ms(r.p99),
            ms(g.p50),
            ms(g.p99),
        );
    }
    let rounds: Vec<String> = figures
        .iter()
        .map(|(read, f)| {
            let v = |x: &[Sample]| {
                x.iter()
                    .map(|s| format!("{:.0}", s.rps))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            format!("{}: REST {}; gRPC {}", read.name(), v(&f.rest), v(&f.grpc))
        })
        .collect();
    let _ = writeln!(s, "\nRounds (req/s): {}.", rounds.join(" — "));
    let _ = writeln!(
        s,
        "\nCPU per call in the median round (µs): router / control plane / Postgres / load generator.\n"
    );
    let _ = writeln!(s, "| read | REST | gRPC |\n| --- | ---: | ---: |");
    for (read, f) in figures {
        let mid = |v: &[Sample]| {
            let mut v = v.to_vec();
            v.sort_by(|a, b| a.rps.total_cmp(&b.rps));
            v[v.len() / 2].clone()
        };
        let cpu = |x: &Sample| {
            x.cpu_us
                .iter()
                .map(|c| format!("{c:.0}"))
                .collect::<Vec<_>>()
                .join(" / ")
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} |",
            read.name(),
            cpu(&mid(&f.rest)),
            cpu(&mid(&f.grpc))
        );
    }
    s
}
