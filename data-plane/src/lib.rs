//! Backendify data-plane worker: serves every project's data API on that project's own schema and
//! role, from compiled configs it watches from the control plane. Stateless: any worker of a cell
//! can serve any request.

pub mod audit;
pub mod auth;
pub mod config;
pub mod db;
pub mod events;
pub mod files;
pub mod http;
pub mod metrics;
pub mod openapi;
pub mod outbound;
pub mod policy;
pub mod pool;
pub mod query;
pub mod ratelimit;
pub mod realtime;
pub mod registry;
pub mod rowjson;
pub mod rules;
pub mod watch;
pub mod webhook;
pub mod workflow;
pub mod write;

use anyhow::Context;
use axum::serve::ListenerExt;
pub use config::Config;
pub use http::app;
use outbound::egress::Egress;
use outbound::mail::Mailer;
use outbound::oauth::OAuthClient;
use ratelimit::RateLimiter;
use registry::Registry;
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
    pub db: db::Pool,
    /// Loaded project configs.
    pub registry: Arc<Registry>,
    /// Development mode (`BACKENDIFY_DEV`).
    pub dev_mode: bool,
    /// App-auth rate limits.
    pub limiter: RateLimiter,
    /// App-user mail.
    pub mailer: Mailer,
    /// OAuth provider calls.
    pub oauth: OAuthClient,
    /// Peers whose forwarding headers are believed.
    pub trusted_proxies: Egress,
    /// Signed-in app users as last read, per session.
    pub principals: auth::principals::Principals,
    /// App-user tokens already verified, per config version.
    pub tokens: auth::tokens::Verified,
    /// Webhook deliveries (the outbox consumer).
    pub webhooks: Arc<webhook::Engine>,
    /// Workflow runs.
    pub workflows: workflow::Runner,
    /// Realtime streams.
    pub realtime: Arc<realtime::Hub>,
    /// The file store.
    pub files: files::Files,
    synced: std::sync::atomic::AtomicBool,
}

/// The outside world a worker talks to, besides Postgres.
pub struct Services {
    /// Development mode.
    pub dev_mode: bool,
    /// Rate limits.
    pub limiter: RateLimiter,
    /// Mail.
    pub mailer: Mailer,
    /// OAuth.
    pub oauth: OAuthClient,
    /// Trusted proxies.
    pub trusted_proxies: Egress,
    /// The outbox consumer's settings: webhook sender, retry schedule, audit purge interval.
    pub webhooks: webhook::Settings,
    /// Workflow runs: their egress and time limit.
    pub workflows: workflow::Settings,
    /// The file store.
    pub files: files::Files,
    /// Realtime limits.
    pub realtime: realtime::Limits,
}

impl Services {
    /// From the worker's settings (connects to Redis when configured).
    pub async fn from_config(config: &Config) -> anyhow::Result<Self> {
        let egress = Egress::parse(&config.egress_allow).context("EGRESS_ALLOW")?;
        let schedule = webhook::parse_schedule(&config.webhook_retry_schedule)
            .map_err(anyhow::Error::msg)
            .context("WEBHOOK_RETRY_SCHEDULE")?;
        let timeout = Duration::from_secs(config.webhook_timeout_secs.max(1));
        let webhooks = webhook::Settings {
            sender: webhook::send::Sender::new(egress.clone(), timeout),
            schedule,
            purge_every: Duration::from_secs(config.audit_purge_interval_secs.max(1)),
        };
        let limiter = match (&config.redis_url, config.rate_limit_disabled) {
            (_, true) => RateLimiter::disabled(),
            (Some(url), false) => RateLimiter::redis(url).await.context("REDIS_URL")?,
            (None, false) => RateLimiter::in_process(),
        };
        Ok(Self {
            dev_mode: config.dev,
            limiter,
            mailer: Mailer::new(
                config.smtp_url.as_deref(),
                &config.smtp_from,
                egress.clone(),
            )
            .context("SMTP_URL")?,
            oauth: OAuthClient::new(egress.clone()),
            workflows: workflow::Settings {
                egress,
                time_limit: Duration::from_secs(config.workflow_run_time_limit_secs.max(1)),
                in_flight: config.workflow_runs_in_flight,
            },
            trusted_proxies: Egress::parse(&config.trusted_proxies).context("TRUSTED_PROXIES")?,
            webhooks,
            files: files::Files::open(&config.files)?,
            realtime: realtime::Limits {
                topics_per_connection: config.realtime_max_topics.max(1),
                connections_per_user: config.realtime_max_connections_per_user.max(1),
                connections: config.realtime_max_connections.max(1),
                buffer_bytes: config.realtime_buffer_bytes.max(1),
                replay: config.realtime_replay_events.max(0),
            },
        })
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// State over a pool, a registry and the outside services.
    pub fn new(db: db::Pool, registry: Arc<Registry>, services: Services) -> Self {
        let realtime = realtime::Hub::new(db.clone(), registry.clone(), services.realtime);
        let webhooks = Arc::new(webhook::Engine::new(
            db.clone(),
            registry.clone(),
            services.webhooks,
            realtime.clone(),
        ));
        let state = Self(Arc::new(Inner {
            realtime,
            webhooks,
            workflows: workflow::Runner::new(services.workflows),
            db,
            registry,
            dev_mode: services.dev_mode,
            limiter: services.limiter,
            mailer: services.mailer,
            oauth: services.oauth,
            trusted_proxies: services.trusted_proxies,
            files: services.files,
            principals: Default::default(),
            tokens: Default::default(),
            synced: false.into(),
        }));
        state.webhooks.attach(Arc::downgrade(&state.0));
        state.realtime.attach(&state.webhooks);
        state
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
    /// Where `/metrics` listens, when it does.
    pub metrics_addr: Option<SocketAddr>,
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
    let unix = match unix_socket_path(&config.socket, http_addr.port()) {
        Some(path) => Some(bind_unix(&path)?),
        None => None,
    };
    let worker_id = config
        .worker_id
        .clone()
        .unwrap_or_else(|| format!("worker-{}", &uuid::Uuid::new_v4().to_string()[..8]));
    let services = Services::from_config(&config).await?;
    info!(
        dev_mode = services.dev_mode,
        rate_limits = services.limiter.kind(),
        mail = services.mailer.kind(),
        egress = %config.egress_allow,
        files = services.files.kind(),
        max_file_size = services.files.max_size,
        "worker settings"
    );
    if services.dev_mode {
        tracing::warn!(
            "development mode: app-auth responses include tokens and codes (BACKENDIFY_DEV)"
        );
    }
    let registry = Arc::new(Registry::default());
    let state = AppState::new(db, registry.clone(), services);
    let (stop, _) = signal::channel(false);

    let me = watch::Identity {
        worker_id: worker_id.clone(),
        http_addr: config
            .advertise_addr
            .clone()
            .unwrap_or_else(|| http_addr.to_string()),
        cell: config.cell.clone(),
        token: config.cluster_token.clone(),
        unix_socket: unix
            .as_ref()
            .map(|(path, _)| path.display().to_string())
            .unwrap_or_default(),
        host_id: proto::local::host_id().unwrap_or_default(),
    };
    let watcher_state = state.clone();
    let watcher = tokio::spawn(watch::watch_configs(
        config.control_plane_url.clone(),
        me,
        registry,
        stop.subscribe(),
        move || watcher_state.mark_synced(),
    ));
    let mut tasks = state.webhooks.spawn(&config.database_url, stop.subscribe());
    tasks.push(tokio::spawn(workflow::scheduler(
        state.clone(),
        stop.subscribe(),
    )));
    let hub = state.realtime.clone();
    let scrape = state.clone();
    let metrics = proto::metrics::start(
        &config.metrics,
        Arc::new(move || metrics::refresh(&scrape)),
        stop.subscribe(),
    )
    .await
    .context("start the metrics listener")?;
    let metrics_addr = metrics.map(|(addr, task)| {
        tasks.push(task);
        addr
    });
    let app = app(state, config.max_body_bytes);
    if let Some((path, listener)) = unix {
        tasks.push(serve_unix(path, listener, app.clone(), stop.subscribe()));
    }
    let mut on_stop = stop.subscribe();
    let server = tokio::spawn(async move {
        let signal = async move {
            let _ = on_stop.wait_for(|s| *s).await;
            // Open streams would hold the graceful shutdown forever: end them (clients resume).
            hub.close_all();
        };
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        // Answers leave at once: no waiting for the peer's ACK of a previous write (Nagle).
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
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
        metrics_addr,
        stop,
        tasks: {
            tasks.extend([watcher, server]);
            tasks
        },
    })
}

/// The Unix socket of `WORKER_SOCKET` for a worker on TCP port `port`.
fn unix_socket_path(setting: &str, port: u16) -> Option<std::path::PathBuf> {
    match setting {
        "off" | "" => None,
        "auto" => Some(std::env::temp_dir().join(format!("backendify-worker-{port}.sock"))),
        path => Some(path.into()),
    }
}

/// Binds the Unix socket (replacing a file a previous run left, but not a live worker's),
/// readable by this user only.
fn bind_unix(
    path: &std::path::Path,
) -> anyhow::Result<(std::path::PathBuf, tokio::net::UnixListener)> {
    use std::os::unix::fs::PermissionsExt;
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        anyhow::bail!(
            "another process serves the Unix socket {} (WORKER_SOCKET): give this worker another",
            path.display()
        );
    }
    let _ = std::fs::remove_file(path);
    let listener = tokio::net::UnixListener::bind(path)
        .with_context(|| format!("bind the Unix socket {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("restrict {}", path.display()))?;
    Ok((path.to_path_buf(), listener))
}

/// Serves `app` on the Unix socket until `stop`, then removes the socket. Its callers are
/// processes of this user on this machine: a router, whose forwarding headers are believed
/// ([`http::auth::UnixPeer`]); the peer address they show is loopback.
fn serve_unix(
    path: std::path::PathBuf,
    listener: tokio::net::UnixListener,
    app: axum::Router,
    mut stop: signal::Receiver<bool>,
) -> JoinHandle<()> {
    let peer = axum::extract::ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 0)));
    let app = app
        .layer(axum::Extension(peer))
        .layer(axum::Extension(http::auth::UnixPeer));
    tokio::spawn(async move {
        let signal = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(signal)
            .await
        {
            tracing::error!("worker Unix socket server failed: {e}");
        }
        let _ = std::fs::remove_file(&path);
    })
}

/// Runs until Ctrl-C, SIGTERM or SIGHUP (or its launcher is gone), then shuts down cleanly.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let parent = config.parent_pid;
    let running = start(config).await?;
    proto::service::stop_signal(parent)
        .await
        .context("install signal handlers")?;
    running.shutdown().await;
    Ok(())
}
