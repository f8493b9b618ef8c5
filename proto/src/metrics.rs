//! What every service process reports on `GET /metrics` (Prometheus text format, through
//! `prometheus-client`), on a listener of its own (`METRICS_ADDR`; none when unset, so nothing is
//! public unless asked for): requests by route class and status with their latency, and what each
//! binary adds to [`registry`] (pools, config pushes, outbox outcomes, queues, refusals).
//!
//! One registry per process: the parts that count (the rate limiter, the webhook engine, the
//! password hashers) reach it without being handed a handle.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Request counts and latency by route class.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The route class ([`model`-style path classes: `data`, `auth`, `files`, `admin`, `grpc`…).
    pub class: &'static str,
    /// The HTTP status.
    pub status: u16,
}

/// A route class alone.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClassLabel {
    /// The route class.
    pub class: &'static str,
}

/// A project id (or `other`), for per-project counts.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProjectLabel {
    /// The project.
    pub project: String,
}

/// An outcome (`delivered`, `failed`, `retrying`…).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    /// What happened.
    pub outcome: &'static str,
}

/// Connection-pool state.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolLabel {
    /// `idle` or `in_use`.
    pub state: &'static str,
}

/// The HTTP side every binary shares.
pub struct Http {
    requests: Family<RequestLabels, Counter>,
    duration: Family<ClassLabel, Histogram>,
    projects: Family<ProjectLabel, Counter>,
    seen: Mutex<HashSet<String>>,
    project_cap: AtomicUsize,
}

impl Http {
    /// Counts one answered request.
    pub fn observe(&self, class: &'static str, status: u16, elapsed: Duration) {
        self.requests
            .get_or_create(&RequestLabels { class, status })
            .inc();
        self.duration
            .get_or_create(&ClassLabel { class })
            .observe(elapsed.as_secs_f64());
    }

    /// Counts a request of `project` when per-project counts are on (`METRICS_PROJECTS` > 0):
    /// that many distinct projects get their own label, later ones count as `other`.
    pub fn observe_project(&self, project: &str) {
        let cap = self.project_cap.load(Ordering::Relaxed);
        if cap == 0 {
            return;
        }
        let label = {
            let mut seen = self.seen.lock().expect("metrics lock");
            if seen.contains(project) || (seen.len() < cap && seen.insert(project.to_owned())) {
                project.to_owned()
            } else {
                "other".to_owned()
            }
        };
        self.projects
            .get_or_create(&ProjectLabel { project: label })
            .inc();
    }
}

/// The process's metrics.
pub struct Metrics {
    registry: Mutex<Registry>,
    /// Requests.
    pub http: Http,
}

/// Latency buckets, in seconds: 0.5 ms to 10 s.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The process's registry (made on first use).
pub fn registry() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(|| {
        let mut registry = Registry::with_prefix("backendify");
        let http = Http {
            requests: Family::default(),
            duration: Family::new_with_constructor(|| Histogram::new(BUCKETS)),
            projects: Family::default(),
            seen: Mutex::default(),
            project_cap: AtomicUsize::new(0),
        };
        registry.register(
            "http_requests",
            "Requests answered, by route class and status",
            http.requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer a request (until the head is sent), by route class",
            http.duration.clone(),
        );
        registry.register(
            "project_requests",
            "Requests by project (only with METRICS_PROJECTS > 0; past that many projects, `other`)",
            http.projects.clone(),
        );
        Metrics {
            registry: Mutex::new(registry),
            http,
        }
    })
}

impl Metrics {
    /// Registers a counter.
    pub fn counter(&self, name: &str, help: &str) -> Counter {
        let c = Counter::default();
        self.registry
            .lock()
            .expect("metrics lock")
            .register(name, help, c.clone());
        c
    }

    /// Registers a gauge.
    pub fn gauge(&self, name: &str, help: &str) -> Gauge {
        let g = Gauge::default();
        self.registry
            .lock()
            .expect("metrics lock")
            .register(name, help, g.clone());
        g
    }

    /// Registers a histogram of seconds.
    pub fn seconds(&self, name: &str, help: &str) -> Histogram {
        let h = Histogram::new(BUCKETS);
        self.registry
            .lock()
            .expect("metrics lock")
            .register(name, help, h.clone());
        h
    }

    /// Registers a family of counters by outcome.
    pub fn outcomes(&self, name: &str, help: &str) -> Family<OutcomeLabel, Counter> {
        let f = Family::default();
        self.registry
            .lock()
            .expect("metrics lock")
            .register(name, help, f.clone());
        f
    }

    /// Registers connection-pool gauges (`idle`, `in_use`).
    pub fn pool(&self, name: &str, help: &str) -> Family<PoolLabel, Gauge> {
        let f = Family::default();
        self.registry
            .lock()
            .expect("metrics lock")
            .register(name, help, f.clone());
        f
    }

    /// Labels per project for up to `cap` projects (0: none).
    pub fn set_project_cap(&self, cap: usize) {
        self.http.project_cap.store(cap, Ordering::Relaxed);
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().expect("metrics lock");
        prometheus_client::encoding::text::encode(&mut out, &registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// Where metrics are served, and how finely (every binary's flags).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct Options {
    /// Where `GET /metrics` listens (Prometheus text format), e.g. `127.0.0.1:9101`; unset: no
    /// metrics listener. Keep it off the public network.
    #[arg(long, env = "METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// Count requests per project too, for up to this many projects (later ones count as
    /// `other`); 0: not per project.
    #[arg(long, env = "METRICS_PROJECTS", default_value_t = 0)]
    pub metrics_projects: usize,
}

/// Starts the metrics listener when `METRICS_ADDR` is set: its address and task.
pub async fn start(
    opts: &Options,
    refresh: Refresh,
    stop: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<Option<(SocketAddr, JoinHandle<()>)>> {
    registry().set_project_cap(opts.metrics_projects);
    match opts.metrics_addr {
        Some(addr) => serve(addr, refresh, stop).await.map(Some),
        None => Ok(None),
    }
}

/// The longest request id taken from a caller; a longer one is replaced.
const MAX_REQUEST_ID: usize = 128;

/// Middleware in front of every binary's routes. It gives the request an id (the caller's
/// `X-Request-Id`, which the router passes on, else a new one, set on the request for what runs
/// after), runs it inside a span holding that id and the project id (so every log line of the
/// request carries them: `LOG_FORMAT=json` writes span fields on each line; when traces are
/// exported, a caller's `traceparent` is its parent, see [`crate::telemetry`]), and counts the
/// answer by route class ([`model::routes::class`]) and status, with its latency to the head of
/// the answer, and by project when asked.
pub async fn track(
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use tracing::Instrument;
    let grpc = req
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|c| c.as_bytes().starts_with(b"application/grpc"));
    let path = req.uri().path();
    let class = if grpc {
        "grpc"
    } else {
        model::routes::class(path)
    };
    let m = registry();
    let project = model::routes::project_of(path).map(str::to_owned);
    let id = match req
        .headers()
        .get("x-request-id")
        .filter(|v| v.len() <= MAX_REQUEST_ID && v.to_str().is_ok())
    {
        Some(id) => id.clone(),
        None => {
            let id = new_request_id();
            req.headers_mut().insert("x-request-id", id.clone());
            id
        }
    };
    let span = tracing::info_span!(
        "request",
        request_id = id.to_str().unwrap_or_default(),
        project_id = project.as_deref().unwrap_or_default(),
        method = %req.method(),
        class,
    );
    crate::telemetry::set_remote_parent(&span, req.headers());
    let exported = crate::telemetry::exported(&span);
    let started = std::time::Instant::now();
    let res = next.run(req).instrument(span).await;
    let status = res.status().as_u16();
    m.http.observe(class, status, started.elapsed());
    if let Some(span) = exported {
        crate::telemetry::record_status(&span, status);
    }
    // Only answers that reached a project count for it: made-up ids (404) or callers without
    // access (401, 403) must not take the few per-project labels.
    if let Some(p) = project.filter(|_| !matches!(status, 401 | 403 | 404)) {
        m.http.observe_project(&p);
    }
    res
}

/// A random (v4) UUID from the thread's generator (`Uuid::new_v4` asks the kernel each time).
pub fn new_request_id() -> axum::http::HeaderValue {
    let id = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
    let mut buf = uuid::Uuid::encode_buffer();
    axum::http::HeaderValue::from_str(id.hyphenated().encode_lower(&mut buf))
        .expect("a uuid is a header value")
}

/// Something to run before each scrape (reading pool sizes and other levels).
pub type Refresh = Arc<dyn Fn() + Send + Sync>;

/// Serves `GET /metrics` on `addr` until `stop` turns true; returns the bound address.
pub async fn serve(
    addr: SocketAddr,
    refresh: Refresh,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let refresh = refresh.clone();
            async move {
                refresh();
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    registry().encode(),
                )
            }
        }),
    );
    let task = tokio::spawn(async move {
        let signal = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(signal)
            .await
        {
            tracing::error!("metrics server failed: {e}");
        }
    });
    tracing::info!(metrics.addr = %bound, "metrics on http://{bound}/metrics");
    Ok((bound, task))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_projects_are_counted_with_bounded_labels() {
        let m = registry();
        m.http.observe("data", 200, Duration::from_millis(3));
        m.set_project_cap(1);
        m.http.observe_project("a");
        m.http.observe_project("b");
        m.http.observe_project("a");
        let text = m.encode();
        assert!(
            text.contains(r#"backendify_http_requests_total{class="data",status="200"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"backendify_project_requests_total{project="a"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"backendify_project_requests_total{project="other"} 1"#),
            "{text}"
        );
        assert!(
            text.contains("backendify_http_request_duration_seconds_bucket"),
            "{text}"
        );
    }
}
