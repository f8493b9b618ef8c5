//! Command-line flags and environment of the router, parsed once in `main`.

use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Half the cores this process may use, at least one.
pub fn half_the_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
}

/// Router settings.
#[derive(Parser, Clone, Debug)]
#[command(name = "router", about = "Backendify router: the single public entry")]
pub struct Config {
    /// The public listener.
    #[arg(long, env = "ROUTER_ADDR", default_value = "127.0.0.1:8000")]
    pub addr: SocketAddr,
    /// Base URL of the control plane's admin REST API.
    #[arg(
        long,
        env = "CONTROL_PLANE_HTTP_URL",
        default_value = "http://127.0.0.1:8001"
    )]
    pub control_plane_http: String,
    /// URL of the control plane's gRPC ConfigService (placements come from there).
    #[arg(
        long,
        env = "CONTROL_PLANE_GRPC_URL",
        default_value = "http://127.0.0.1:8002"
    )]
    pub control_plane_grpc: String,
    /// Shared secret of the internal gRPC ConfigService: the control plane answers only calls that
    /// carry it, workers and routers send it. Required, at least 16 characters (e.g. `openssl
    /// rand -hex 32`): the configs carry every project's signing keys.
    #[arg(long, env = "CLUSTER_TOKEN", hide_env_values = true, value_parser = proto::cluster::ClusterToken::new)]
    pub cluster_token: proto::cluster::ClusterToken,
    /// Set by a launcher to its own pid: the process stops (as on SIGTERM) once its parent is
    /// another, i.e. when the launcher has ended in any way, SIGKILL included.
    #[arg(long, env = "BACKENDIFY_PARENT_PID")]
    pub parent_pid: Option<u32>,
    /// Folder of the built console, served under `/console/`.
    #[arg(long, env = "CONSOLE_DIR", default_value = "console/dist")]
    pub console_dir: PathBuf,
    /// Allowed CORS origins, comma separated; empty allows any origin.
    #[arg(
        long,
        env = "API_CORS_ORIGINS",
        default_value = "http://localhost:5173,http://localhost:3000"
    )]
    pub cors_origins: String,
    /// Largest multipart (file upload) request body the router streams to a worker, in bytes
    /// (the worker's `MAX_FILE_SIZE` is the limit that counts; this one only bounds the transfer).
    #[arg(long, env = "ROUTER_MAX_BODY_BYTES", default_value_t = 1024 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Largest non-multipart (JSON) request body the router forwards, in bytes.
    #[arg(long, env = "ROUTER_MAX_JSON_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_json_body_bytes: usize,
    /// Threads that serve requests. The default is half the cores (at least one): router,
    /// workers and Postgres usually share a machine, and on a shared core more threads mostly add
    /// task switching. On a machine of its own, set it to the core count.
    #[arg(long, env = "ROUTER_THREADS", default_value_t = half_the_cores())]
    pub threads: usize,
    /// Reach workers on this machine (same kernel and mount namespace) on their Unix sockets
    /// (`WORKER_SOCKET`) instead of TCP.
    #[arg(long, env = "ROUTER_WORKER_SOCKETS", default_value_t = true, action = clap::ArgAction::Set)]
    pub worker_sockets: bool,
    /// How long an upstream may take to answer, in seconds.
    #[arg(long, env = "UPSTREAM_TIMEOUT_SECS", default_value_t = 30)]
    pub upstream_timeout_secs: u64,
    /// `/metrics` (`METRICS_ADDR`, `METRICS_PROJECTS`).
    #[command(flatten)]
    pub metrics: proto::metrics::Options,
}
