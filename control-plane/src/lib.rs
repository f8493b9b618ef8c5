//! Backendify control plane: admin users, projects and their catalogs, the admin REST API and the
//! gRPC admin API on its port, and `ConfigService`, through which every worker and router learns compiled project configs and
//! placements.

pub mod admin_rpc;
pub mod cells;
pub mod changes;
pub mod compile;
pub mod config;
pub mod db;
pub mod grpc;
pub mod http;
pub mod hub;
pub mod leader;
pub mod metrics;
pub mod names;
pub mod secrets;
pub mod state;

use anyhow::Context;
use axum::serve::ListenerExt;
pub use config::Config;
use hub::Hub;
use state::AppState;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::info;

pub use http::app;

/// A started control plane.
pub struct Running {
    /// Where the admin REST API listens.
    pub http_addr: SocketAddr,
    /// Where `ConfigService` listens.
    pub grpc_addr: SocketAddr,
    /// Where `/metrics` listens, when it does.
    pub metrics_addr: Option<SocketAddr>,
    /// Turns true when another control plane took the lead (this one must stop).
    pub lost_lead: watch::Receiver<bool>,
    hub: Arc<Hub>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    /// Keeps the leader lock; stopped last, once nothing of this control plane runs any more.
    leader: (watch::Sender<bool>, JoinHandle<()>),
}

impl Running {
    /// Stops accepting, ends every watch stream, and waits (bounded) for in-flight requests.
    pub async fn shutdown(self) {
        self.hub.shut_down();
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
        // Only now may another control plane lead: a change still committing here could
        // otherwise meet the new leader's settling of what it left prepared.
        let (stop_leader, leader) = self.leader;
        stop_leader.send_replace(true);
        let _ = leader.await;
        info!("control plane stopped");
    }
}

/// Takes the leader lock (waiting as a standby while another control plane leads), migrates the
/// control schema, compiles every project, and starts both listeners.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    let lock = leader::acquire(config.database_url.clone(), config.http_addr)
        .await
        .context("take the leader lock")?;
    let db = db::connect(&config.database_url, config.db_max_connections)
        .await
        .context("connect to the control database")?;
    db::migrate::run(&db)
        .await
        .context("migrate the control schema")?;
    let cells = cells::Cells::connect(db, &config.cells, config.db_max_connections).await?;
    let settled = cells.resolve(Duration::ZERO).await;
    if settled > 0 {
        info!(
            "settled {settled} prepared transaction(s) a stopped control plane left in the cells"
        );
    }
    let upgraded = db::auth::upgrade_project_tables(&cells)
        .await
        .context("create the auth tables of older projects")?;
    if upgraded > 0 {
        info!("created the auth tables of {upgraded} older project(s)");
    }
    if config.secrets_key.is_none() {
        tracing::warn!("SECRETS_KEY is not set: stored secrets are sealed with a key derived from JWT_SECRET, so changing JWT_SECRET makes them unreadable");
    }
    let hub = Arc::new(Hub::default());
    let state = AppState::new(&config, cells, hub.clone());
    let configs = compile::compile_all(&state.db, &state.jwt_secret, &state.secrets)
        .await
        .context("compile project configs")?;
    info!(
        projects = configs.len(),
        "compiled {} project configs",
        configs.len()
    );
    state.publish_all(&configs);
    let http = TcpListener::bind(config.http_addr)
        .await
        .with_context(|| format!("bind {}", config.http_addr))?;
    let grpc = TcpListener::bind(config.grpc_addr)
        .await
        .with_context(|| format!("bind {}", config.grpc_addr))?;
    let (http_addr, grpc_addr) = (http.local_addr()?, grpc.local_addr()?);
    let (stop, _) = watch::channel(false);

    let settle = tokio::spawn(cells::keep_settled(state.clone(), stop.subscribe()));
    let rest = app(state.clone(), config.max_body_bytes);
    let db = state.db.clone();
    let app = rest
        .clone()
        .merge(admin_rpc::routes(state, rest))
        .layer(axum::middleware::from_fn(proto::metrics::track));
    let mut on_stop = stop.subscribe();
    let http_task = tokio::spawn(async move {
        let signal = async move {
            let _ = on_stop.wait_for(|s| *s).await;
        };
        // Answers leave at once: no waiting for the peer's ACK of a previous write (Nagle).
        let http = http.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        if let Err(e) = axum::serve(http, app).with_graceful_shutdown(signal).await {
            tracing::error!("admin API server failed: {e}");
        }
    });
    let mut on_stop = stop.subscribe();
    // Every ConfigService call must carry the cluster token: the configs hold signing keys.
    let service = proto::ConfigServiceServer::with_interceptor(
        grpc::ConfigGrpc(hub.clone()),
        config.cluster_token.guard(),
    );
    let grpc_task = tokio::spawn(async move {
        let signal = async move {
            let _ = on_stop.wait_for(|s| *s).await;
        };
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(grpc);
        let server = tonic::transport::Server::builder()
            .http2_keepalive_interval(Some(Duration::from_secs(10)))
            .http2_keepalive_timeout(Some(Duration::from_secs(5)))
            .add_service(service)
            .serve_with_incoming_shutdown(incoming, signal);
        if let Err(e) = server.await {
            tracing::error!("config gRPC server failed: {e}");
        }
    });
    let scrape_hub = hub.clone();
    let metrics = proto::metrics::start(
        &config.metrics,
        Arc::new(move || metrics::refresh(&db, &scrape_hub)),
        stop.subscribe(),
    )
    .await
    .context("start the metrics listener")?;
    let (lost, lost_lead) = watch::channel(false);
    let (stop_leader, leader_stop) = watch::channel(false);
    let leader = tokio::spawn(leader::keep(
        config.database_url.clone(),
        lock,
        lost,
        leader_stop,
    ));
    let mut tasks = vec![settle, http_task, grpc_task];
    let metrics_addr = metrics.map(|(addr, task)| {
        tasks.push(task);
        addr
    });
    info!(http.addr = %http_addr, grpc.addr = %grpc_addr, "control plane listening on http://{http_addr} (gRPC {grpc_addr})");
    Ok(Running {
        http_addr,
        grpc_addr,
        metrics_addr,
        lost_lead,
        hub,
        stop,
        tasks,
        leader: (stop_leader, leader),
    })
}

/// Runs until Ctrl-C, SIGTERM or SIGHUP (or its launcher is gone), then shuts down cleanly.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let parent = config.parent_pid;
    let running = start(config).await?;
    let mut lost = running.lost_lead.clone();
    let lost_lead = tokio::select! {
        signal = proto::service::stop_signal(parent) => {
            signal.context("install signal handlers")?;
            false
        }
        _ = lost.wait_for(|l| *l) => true,
    };
    running.shutdown().await;
    if lost_lead {
        anyhow::bail!("another control plane took the leader lock");
    }
    Ok(())
}
