//! Backendify data-plane worker: serves every project's data API on that project's own schema and
//! role, from compiled configs it watches from the control plane. Stateless: any worker of a cell
//! can serve any request.

pub mod config;
pub mod db;
pub mod http;
pub mod openapi;
pub mod outbound;
pub mod query;
pub mod registry;
pub mod watch;

use anyhow::Context;
pub use config::Config;
pub use http::app;
use registry::Registry;
use sqlx::PgPool;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch as signal;
use tokio::task::JoinHandle;
use tracing::info;

/// Handler state.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// What the state holds.
pub struct Inner {
    /// The cell's database.
    pub db: PgPool,
    /// Loaded project configs.
    pub registry: Arc<Registry>,
    synced: std::sync::atomic::AtomicBool,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// State over a pool and a registry.
    pub fn new(db: PgPool, registry: Arc<Registry>) -> Self {
        Self(Arc::new(Inner {
            db,
            registry,
            synced: false.into(),
        }))
    }

    /// True once a first snapshot arrived (or configs were loaded): an unknown project is then
    /// really unknown.
    pub fn synced(&self) -> bool {
        self.synced.load(std::sync::atomic::Ordering::Relaxed) || !self.registry.is_empty()
    }

    /// Marks the worker as synced.
    pub fn mark_synced(&self) {
        self.synced
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A started worker.
pub struct Running {
    /// Where it listens.
    pub http_addr: SocketAddr,
    /// Its id.
    pub worker_id: String,
    stop: signal::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stops watching and serving; in-flight requests finish (bounded).
    pub async fn shutdown(self) {
        self.stop.send_replace(true);
        for task in self.tasks {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
        info!(worker.id = %self.worker_id, "worker stopped");
    }
}

/// Connects to the cell's database, binds the listener, starts watching configs and serving.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    let db = db::connect(&config.database_url, config.db_max_connections)
        .await
        .context("connect to the cell database")?;
    let listener = TcpListener::bind(config.http_addr)
        .await
        .with_context(|| format!("bind {}", config.http_addr))?;
    let http_addr = listener.local_addr()?;
    let worker_id = config
        .worker_id
        .clone()
        .unwrap_or_else(|| format!("worker-{}", &uuid::Uuid::new_v4().to_string()[..8]));
    let registry = Arc::new(Registry::default());
    let state = AppState::new(db, registry.clone());
    let (stop, _) = signal::channel(false);

    let me = watch::Identity {
        worker_id: worker_id.clone(),
        http_addr: config
            .advertise_addr
            .clone()
            .unwrap_or_else(|| http_addr.to_string()),
        cell: config.cell.clone(),
    };
    let watcher_state = state.clone();
    let watcher = tokio::spawn(watch::watch_configs(
        config.control_plane_url.clone(),
        me,
        registry,
        stop.subscribe(),
        move || watcher_state.mark_synced(),
    ));
    let app = app(state, config.max_body_bytes);
    let mut on_stop = stop.subscribe();
    let server = tokio::spawn(async move {
        let signal = async move {
            let _ = on_stop.wait_for(|s| *s).await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(signal)
            .await
        {
            tracing::error!("worker HTTP server failed: {e}");
        }
    });
    info!(worker.id = %worker_id, http.addr = %http_addr, "worker listening on http://{http_addr}");
    Ok(Running {
        http_addr,
        worker_id,
        stop,
        tasks: vec![watcher, server],
    })
}

/// Runs until Ctrl-C or SIGTERM, then shuts down cleanly.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let running = start(config).await?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("install SIGTERM handler")?;
    tokio::select! { _ = tokio::signal::ctrl_c() => {}, _ = term.recv() => {} }
    running.shutdown().await;
    Ok(())
}
