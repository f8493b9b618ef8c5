//! What the control plane adds to `/metrics`: config pushes (how long until every worker applied
//! a change, and how often some lagged past the bound), connected workers, configs held, and the
//! control database's pool.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use proto::metrics::{registry, PoolLabel};
use std::sync::OnceLock;

/// The control plane's own metrics.
pub struct Metrics {
    /// Seconds from publishing a config until every live worker applied it.
    pub push: Histogram,
    /// Pushes after which some worker still lagged.
    pub lagging: Counter,
    /// Connected workers.
    pub workers: Gauge,
    /// Project configs held.
    pub configs: Gauge,
    /// Control database connections.
    pub pool: Family<PoolLabel, Gauge>,
}

/// The metrics (registered on first use).
pub fn get() -> &'static Metrics {
    static M: OnceLock<Metrics> = OnceLock::new();
    M.get_or_init(|| {
        let r = registry();
        Metrics {
            push: r.seconds(
                "config_push_seconds",
                "Time from publishing a project config until every live worker applied it",
            ),
            lagging: r.counter(
                "config_push_lagging",
                "Config pushes that returned with some worker still behind (CONFIG_ACK_TIMEOUT_MS)",
            ),
            workers: r.gauge(
                "config_workers",
                "Workers connected to ConfigService that applied their snapshot (placed)",
            ),
            configs: r.gauge("config_projects", "Project configs the control plane holds"),
            pool: r.pool(
                "control_db_pool_connections",
                "Connections of the control database pool, by state",
            ),
        }
    })
}

/// Reads the levels before a scrape.
pub fn refresh(db: &sqlx::PgPool, hub: &crate::hub::Hub) {
    let m = get();
    let (size, idle) = (db.size() as i64, db.num_idle() as i64);
    m.pool.get_or_create(&PoolLabel { state: "idle" }).set(idle);
    m.pool
        .get_or_create(&PoolLabel { state: "in_use" })
        .set(size - idle);
    m.workers
        .set(hub.placements().borrow().workers.len() as i64);
    m.configs.set(hub.config_count() as i64);
}
