//! Command-line flags and environment of the control plane, parsed once in `main`.

use clap::Parser;
use std::net::SocketAddr;

/// Control-plane settings.
#[derive(Parser, Clone)]
#[command(
    name = "control-plane",
    about = "Backendify control plane: admin REST + gRPC config distribution"
)]
pub struct Config {
    /// Postgres URL of the control database (also the default cell's database).
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/backendify"
    )]
    pub database_url: String,
    /// Cells beside the default one (the control database), as `name=postgres://…`, separated by
    /// commas. Each cluster needs `max_prepared_transactions` of at least `DB_MAX_CONNECTIONS`; its
    /// workers start with `WORKER_CELL=name`. A new project goes to the cell with the fewest.
    #[arg(
        long = "cell",
        env = "CELLS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub cells: Vec<crate::cells::CellUrl>,
    /// Address of the admin REST API (reached through the router).
    #[arg(long, env = "CONTROL_HTTP_ADDR", default_value = "127.0.0.1:8001")]
    pub http_addr: SocketAddr,
    /// Address of the gRPC ConfigService (workers and routers connect here).
    #[arg(long, env = "CONTROL_GRPC_ADDR", default_value = "127.0.0.1:8002")]
    pub grpc_addr: SocketAddr,
    /// HMAC secret that signs admin tokens. Change it in production.
    #[arg(
        long,
        env = "JWT_SECRET",
        default_value = "change_me",
        hide_env_values = true
    )]
    pub jwt_secret: String,
    /// Key that seals stored secrets (webhook signing keys): 32 bytes as 64 hex digits or base64.
    /// Without it the key is derived from JWT_SECRET, so changing JWT_SECRET would make stored
    /// webhook secrets unreadable: set it in production.
    #[arg(long, env = "SECRETS_KEY", hide_env_values = true)]
    pub secrets_key: Option<crate::secrets::SecretsKey>,
    /// Shared secret of the internal gRPC ConfigService: the control plane answers only calls that
    /// carry it, workers and routers send it. Required, at least 16 characters (e.g. `openssl
    /// rand -hex 32`): the configs carry every project's signing keys.
    #[arg(long, env = "CLUSTER_TOKEN", hide_env_values = true, value_parser = proto::cluster::ClusterToken::new)]
    pub cluster_token: proto::cluster::ClusterToken,
    /// Set by a launcher to its own pid: the process stops (as on SIGTERM) once its parent is
    /// another, i.e. when the launcher has ended in any way, SIGKILL included.
    #[arg(long, env = "BACKENDIFY_PARENT_PID")]
    pub parent_pid: Option<u32>,
    /// Lifetime of admin access tokens, in minutes.
    #[arg(long, env = "ACCESS_TOKEN_EXPIRE_MINUTES", default_value_t = 15)]
    pub access_token_expire_minutes: u64,
    /// Lifetime of admin refresh tokens, in days.
    #[arg(long, env = "REFRESH_TOKEN_EXPIRE_DAYS", default_value_t = 7)]
    pub refresh_token_expire_days: u64,
    /// How long a config-changing admin call waits for every live worker to apply the change.
    #[arg(long, env = "CONFIG_ACK_TIMEOUT_MS", default_value_t = 5000)]
    pub config_ack_timeout_ms: u64,
    /// Size of the control database pool.
    #[arg(long, env = "DB_MAX_CONNECTIONS", default_value_t = 10)]
    pub db_max_connections: u32,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 1_048_576)]
    pub max_body_bytes: usize,
    /// `/metrics` (`METRICS_ADDR`, `METRICS_PROJECTS`).
    #[command(flatten)]
    pub metrics: proto::metrics::Options,
}
