//! Command-line flags and environment of a data-plane worker, parsed once in `main`.

use clap::Parser;
use std::net::SocketAddr;

/// Half the cores this process may use, at least one.
pub fn half_the_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
}

/// Worker settings.
#[derive(Parser, Clone)]
#[command(
    name = "data-plane",
    about = "Backendify data-plane worker: serves project data APIs"
)]
pub struct Config {
    /// Postgres URL of this worker's cell (where project schemas live).
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/backendify"
    )]
    pub database_url: String,
    /// Address of the worker's HTTP listener (port 0 picks a free port).
    #[arg(long, env = "WORKER_ADDR", default_value = "127.0.0.1:8101")]
    pub http_addr: SocketAddr,
    /// Address the router should use to reach this worker; defaults to the bound address.
    #[arg(long, env = "WORKER_ADVERTISE_ADDR")]
    pub advertise_addr: Option<String>,
    /// A Unix socket the worker also serves HTTP on, for a router on the same machine (same
    /// kernel and mount namespace), which uses it instead of TCP: `auto` (the default) is
    /// `backendify-worker-<port>.sock` in the temporary folder, `off` none, anything else a path.
    #[arg(long = "socket", env = "WORKER_SOCKET", default_value = "auto")]
    pub socket: String,
    /// URL of the control plane's gRPC ConfigService.
    #[arg(
        long,
        env = "CONTROL_PLANE_GRPC_URL",
        default_value = "http://127.0.0.1:8002"
    )]
    pub control_plane_url: String,
    /// Shared secret of the internal gRPC ConfigService: the control plane answers only calls that
    /// carry it, workers and routers send it. Required, at least 16 characters (e.g. `openssl
    /// rand -hex 32`): the configs carry every project's signing keys.
    #[arg(long, env = "CLUSTER_TOKEN", hide_env_values = true, value_parser = proto::cluster::ClusterToken::new)]
    pub cluster_token: proto::cluster::ClusterToken,
    /// Set by a launcher to its own pid: the process stops (as on SIGTERM) once its parent is
    /// another, i.e. when the launcher has ended in any way, SIGKILL included.
    #[arg(long, env = "BACKENDIFY_PARENT_PID")]
    pub parent_pid: Option<u32>,
    /// This worker's id (stable across restarts is nicer in logs); random when unset.
    #[arg(long, env = "WORKER_ID")]
    pub worker_id: Option<String>,
    /// The cell this worker serves.
    #[arg(long, env = "WORKER_CELL", default_value = "default")]
    pub cell: String,
    /// Threads that serve requests. The default is half the cores (at least one): router,
    /// workers and Postgres usually share a machine, and on a shared core more threads mostly add
    /// task switching. On a machine of its own, set it to the core count.
    #[arg(long, env = "WORKER_THREADS", default_value_t = half_the_cores())]
    pub threads: usize,
    /// Size of the worker's database pool.
    #[arg(long, env = "DB_MAX_CONNECTIONS", default_value_t = 20)]
    pub db_max_connections: u32,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 1_048_576)]
    pub max_body_bytes: usize,
    /// Development mode: app-auth responses include the secrets they would otherwise only mail
    /// (verification and reset tokens, one-time codes), and the trust-the-caller OAuth callback
    /// works. Never in production.
    #[arg(long, env = "BACKENDIFY_DEV", value_parser = clap::builder::BoolishValueParser::new(), default_value = "false")]
    pub dev: bool,
    /// Redis for rate-limit counters shared by every worker; without it, counters are per process.
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,
    /// Turns rate limits off (conformance runs, load tests).
    #[arg(long, env = "RATE_LIMIT_DISABLED", value_parser = clap::builder::BoolishValueParser::new(), default_value = "false")]
    pub rate_limit_disabled: bool,
    /// SMTP server for app-user mail, `smtp://user:pass@host:port` or `smtps://…`; without it,
    /// mail is logged with its secret redacted.
    #[arg(long, env = "SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// Sender address of app-user mail.
    #[arg(
        long,
        env = "SMTP_FROM",
        default_value = "Backendify <no-reply@localhost>"
    )]
    pub smtp_from: String,
    /// Where outbound calls (SMTP, OAuth providers) may go: comma-separated `public`, `private`,
    /// `loopback`, `any` or CIDRs.
    #[arg(long, env = "EGRESS_ALLOW", default_value = "public")]
    pub egress_allow: String,
    /// Peers whose `X-Forwarded-For` / `X-Forwarded-Host` are believed (the router): same
    /// syntax as `EGRESS_ALLOW`.
    #[arg(long, env = "TRUSTED_PROXIES", default_value = "loopback")]
    pub trusted_proxies: String,
    /// Delays before each webhook delivery attempt, comma separated (`ms`, `s`, `m`, `h`, `d`);
    /// the number of items is the number of attempts. A receiver's `Retry-After` can ask for
    /// longer.
    #[arg(long, env = "WEBHOOK_RETRY_SCHEDULE", default_value = crate::webhook::DEFAULT_SCHEDULE)]
    pub webhook_retry_schedule: String,
    /// How long one webhook delivery attempt may take, in seconds.
    #[arg(long, env = "WEBHOOK_TIMEOUT_SECS", default_value_t = 10)]
    pub webhook_timeout_secs: u64,
    /// How often each project's audit retention (`audit_retention_days`) is applied, in seconds.
    #[arg(long, env = "AUDIT_PURGE_INTERVAL_SECS", default_value_t = 3600)]
    pub audit_purge_interval_secs: u64,
    /// How long one workflow run may take, in seconds, not counting its `delay` steps.
    #[arg(long, env = "WORKFLOW_RUN_TIME_LIMIT_SECS", default_value_t = 3600)]
    pub workflow_run_time_limit_secs: u64,
    /// Workflow runs one worker executes at once. Runs are background work: fewer leaves more
    /// of the machine to requests while runs queue up; more finishes bursts sooner.
    #[arg(long, env = "WORKFLOW_RUNS_IN_FLIGHT", default_value_t = 16)]
    pub workflow_runs_in_flight: usize,
    /// Topics one realtime stream may subscribe to.
    #[arg(long, env = "REALTIME_MAX_TOPICS", default_value_t = 20)]
    pub realtime_max_topics: usize,
    /// Realtime streams one app user may keep open on one worker.
    #[arg(long, env = "REALTIME_MAX_CONNECTIONS_PER_USER", default_value_t = 10)]
    pub realtime_max_connections_per_user: usize,
    /// Realtime streams one worker keeps open at most (past it, 503).
    #[arg(long, env = "REALTIME_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub realtime_max_connections: usize,
    /// Bytes of events waiting for one realtime subscriber before it is disconnected as too
    /// slow (it may resume with Last-Event-ID).
    #[arg(long, env = "REALTIME_BUFFER_BYTES", default_value_t = 1 << 20)]
    pub realtime_buffer_bytes: usize,
    /// Most events a realtime resume replays; a client further behind gets `event: reset`.
    #[arg(long, env = "REALTIME_REPLAY_EVENTS", default_value_t = 10_000)]
    pub realtime_replay_events: i64,
    /// File storage.
    #[command(flatten)]
    pub files: crate::files::Settings,
    /// `/metrics` (`METRICS_ADDR`, `METRICS_PROJECTS`).
    #[command(flatten)]
    pub metrics: proto::metrics::Options,
}
