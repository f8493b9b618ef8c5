//! What a worker adds to `/metrics`: webhook delivery and workflow run outcomes, rate-limit
//! refusals, the password-hashing queue, open realtime streams, configs loaded, and its pool.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use proto::metrics::{registry, OutcomeLabel, PoolLabel};
use std::sync::OnceLock;

/// A worker's own metrics.
pub struct Metrics {
    /// Webhook delivery attempts by outcome (`delivered`, `retrying`, `failed`, `gone`).
    pub deliveries: Family<OutcomeLabel, Counter>,
    /// Workflow runs that ended, by outcome (`completed`, `failed`).
    pub runs: Family<OutcomeLabel, Counter>,
    /// Requests refused by a rate limit.
    pub refused: Counter,
    /// Password hashes waiting for a hashing thread.
    pub hashing_queue: Gauge,
    /// Open realtime streams.
    pub streams: Gauge,
    /// Project configs loaded.
    pub configs: Gauge,
    /// Cell database connections.
    pub pool: Family<PoolLabel, Gauge>,
    /// List pages by who wrote their JSON (`worker`, `postgres`).
    pub pages: Family<OutcomeLabel, Counter>,
}

/// The metrics (registered on first use).
pub fn get() -> &'static Metrics {
    static M: OnceLock<Metrics> = OnceLock::new();
    M.get_or_init(|| {
        let r = registry();
        let m = Metrics {
            deliveries: r.outcomes(
                "webhook_deliveries",
                "Webhook delivery attempts, by outcome (delivered, retrying, failed, gone)",
            ),
            runs: r.outcomes(
                "workflow_runs_finished",
                "Workflow runs that ended, by outcome (completed, failed)",
            ),
            refused: r.counter("rate_limit_refusals", "Requests refused by a rate limit"),
            hashing_queue: r.gauge(
                "password_hashing_queue",
                "Password hashes (argon2) waiting for a hashing thread",
            ),
            streams: r.gauge("realtime_streams", "Open realtime streams on this worker"),
            configs: r.gauge("configs_loaded", "Project configs this worker holds"),
            pool: r.pool(
                "db_pool_connections",
                "Connections of the cell database pool, by state",
            ),
            pages: r.outcomes(
                "list_pages",
                "List pages, by who wrote their JSON (worker: from typed rows; postgres)",
            ),
        };
        // Every outcome shows from the start, at 0, so a rate is never "no data".
        for o in ["delivered", "retrying", "failed", "gone"] {
            let _ = m.deliveries.get_or_create(&OutcomeLabel { outcome: o });
        }
        for o in ["completed", "failed"] {
            let _ = m.runs.get_or_create(&OutcomeLabel { outcome: o });
        }
        for o in ["worker", "postgres"] {
            let _ = m.pages.get_or_create(&OutcomeLabel { outcome: o });
        }
        m
    })
}

/// Counts an outcome.
pub fn outcome(family: &Family<OutcomeLabel, Counter>, outcome: &'static str) {
    family.get_or_create(&OutcomeLabel { outcome }).inc();
}

/// Reads the levels before a scrape.
pub fn refresh(state: &crate::AppState) {
    let m = get();
    let (in_use, idle) = state.db.usage();
    m.pool
        .get_or_create(&PoolLabel { state: "idle" })
        .set(idle as i64);
    m.pool
        .get_or_create(&PoolLabel { state: "in_use" })
        .set(in_use as i64);
    m.streams.set(state.realtime.open() as i64);
    m.configs.set(state.registry.len() as i64);
}
