//! End-to-end test support: a private Postgres per test process, and `TestEnv`, which starts the
//! real control plane, two workers and the router on port 0 over a fresh database and speaks
//! HTTP to the router like any app would.

pub mod bench;
pub mod bins;
pub mod fake;
pub mod oracle;
pub mod pg;
pub mod receiver;
pub mod redis;
pub mod s3;
pub mod sse;

use serde_json::Value;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A running platform over its own database.
pub struct TestEnv {
    /// The router's base URL, e.g. `http://127.0.0.1:41234`.
    pub base: String,
    /// The database URL everything uses (with [`Options::second_cell`], the control database and
    /// the default cell's).
    pub db_url: String,
    /// With [`Options::second_cell`]: the database of cell `b` (on another Postgres cluster).
    pub second_cell_db: Option<String>,
    http: reqwest::Client,
    cp_config: control_plane::Config,
    control_plane: Option<control_plane::Running>,
    /// The workers.
    pub workers: Vec<data_plane::Running>,
    worker_configs: Vec<data_plane::Config>,
    /// The local file store's folder (removed at shutdown).
    pub files_dir: std::path::PathBuf,
    router: router::Running,
}

/// A response: status and JSON body (`Null` when empty or not JSON).
#[derive(Debug)]
pub struct Res {
    /// HTTP status.
    pub status: u16,
    /// Parsed body.
    pub body: Value,
    /// Response headers.
    pub headers: reqwest::header::HeaderMap,
}

impl Res {
    /// `body["detail"]` as text.
    pub fn detail(&self) -> String {
        match &self.body["detail"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
}

const LOCAL: &str = "127.0.0.1:0";

/// The cluster token of every [`TestEnv`]: control plane, workers and router share it.
pub const CLUSTER_TOKEN: &str = "test-cluster-token-0123456789abcdef";

fn cluster_token() -> proto::cluster::ClusterToken {
    proto::cluster::ClusterToken::new(CLUSTER_TOKEN).expect("a valid cluster token")
}

/// How the workers of a [`TestEnv`] are set up.
#[derive(Debug, Clone)]
pub struct Options {
    /// `BACKENDIFY_DEV`: secrets in app-auth responses, the trust-the-caller OAuth callback.
    pub dev: bool,
    /// Rate limits on (off by default, as conformance runs need).
    pub rate_limits: bool,
    /// Shared rate-limit counters.
    pub redis_url: Option<String>,
    /// App-user mail.
    pub smtp_url: Option<String>,
    /// Delays before each webhook delivery attempt (`WEBHOOK_RETRY_SCHEDULE`).
    pub webhook_retry_schedule: String,
    /// File storage; `None` is the local backend in a fresh temporary folder.
    pub files: Option<data_plane::files::Settings>,
    /// Most events a realtime resume replays (`REALTIME_REPLAY_EVENTS`).
    pub realtime_replay_events: i64,
    /// Bytes waiting for one realtime subscriber before it is let go (`REALTIME_BUFFER_BYTES`).
    pub realtime_buffer_bytes: usize,
    /// Two cells: `default` (worker 0) and `b` on a second Postgres cluster (worker 1).
    pub second_cell: bool,
    /// Workers advertise a TCP address where nothing listens: the router reaches them on their
    /// Unix sockets only.
    pub socket_only: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            dev: true,
            rate_limits: false,
            redis_url: None,
            smtp_url: None,
            // Short, so retries show within a test.
            webhook_retry_schedule: "0s,300ms,300ms".into(),
            files: None,
            realtime_replay_events: 10_000,
            realtime_buffer_bytes: 1 << 20,
            second_cell: false,
            socket_only: false,
        }
    }
}

/// Every process serves `/metrics` on a port of its own, per-project counts on.
fn metrics() -> proto::metrics::Options {
    proto::metrics::Options {
        metrics_addr: Some(LOCAL.parse().unwrap()),
        metrics_projects: 10,
    }
}

impl TestEnv {
    /// Starts everything over a fresh database and waits until the router knows both workers.
    pub async fn start() -> Self {
        Self::start_with(Options::default()).await
    }

    /// Starts everything with these worker options.
    pub async fn start_with(options: Options) -> Self {
        let db_url = pg::fresh_database().await;
        let second_cell_db = if options.second_cell {
            Some(pg::fresh_database_on_second().await)
        } else {
            None
        };
        let cells = second_cell_db
            .iter()
            .map(|url| format!("b={url}").parse().expect("a cell"))
            .collect();
        let files_dir =
            std::env::temp_dir().join(format!("backendify-files-{}", uuid::Uuid::new_v4()));
        let cp_config = control_plane::Config {
            database_url: db_url.clone(),
            cells,
            http_addr: LOCAL.parse().unwrap(),
            grpc_addr: LOCAL.parse().unwrap(),
            jwt_secret: "test-secret".into(),
            secrets_key: None,
            cluster_token: cluster_token(),
            parent_pid: None,
            access_token_expire_minutes: 15,
            refresh_token_expire_days: 7,
            config_ack_timeout_ms: 5000,
            db_max_connections: 5,
            max_body_bytes: 1 << 20,
            metrics: metrics(),
        };
        let cp = control_plane::start(cp_config.clone())
            .await
            .expect("start control plane");
        // A restart must come back on the same ports, where workers and router reconnect.
        let cp_config = control_plane::Config {
            http_addr: cp.http_addr,
            grpc_addr: cp.grpc_addr,
            ..cp_config
        };
        let grpc = format!("http://{}", cp.grpc_addr);
        let mut workers = Vec::new();
        let mut worker_configs = Vec::new();
        for i in 0..2 {
            let (database_url, cell) = match &second_cell_db {
                Some(url) if i == 1 => (url.clone(), "b".to_owned()),
                _ => (db_url.clone(), "default".to_owned()),
            };
            let config = data_plane::Config {
                database_url,
                http_addr: LOCAL.parse().unwrap(),
                advertise_addr: options.socket_only.then(|| "127.0.0.1:1".to_owned()),
                // The router here shares the machine: it reaches the workers on their sockets.
                socket: "auto".into(),
                control_plane_url: grpc.clone(),
                cluster_token: cluster_token(),
                parent_pid: None,
                worker_id: Some(format!(
                    "worker-{i}-{}",
                    &uuid::Uuid::new_v4().to_string()[..6]
                )),
                cell,
                // Only `main` builds a runtime from it; here the test's runtime serves.
                threads: 1,
                db_max_connections: 5,
                max_body_bytes: 1 << 20,
                dev: options.dev,
                redis_url: options.redis_url.clone(),
                rate_limit_disabled: !options.rate_limits,
                smtp_url: options.smtp_url.clone(),
                smtp_from: "Backendify tests <tests@example.com>".into(),
                // Outbound calls (SMTP, OAuth providers) reach only servers the tests start.
                egress_allow: "loopback".into(),
                trusted_proxies: "loopback".into(),
                webhook_retry_schedule: options.webhook_retry_schedule.clone(),
                webhook_timeout_secs: 2,
                audit_purge_interval_secs: 1,
                workflow_run_time_limit_secs: 3600,
                workflow_runs_in_flight: 16,
                realtime_max_topics: 20,
                realtime_max_connections_per_user: 10,
                realtime_max_connections: 10_000,
                realtime_buffer_bytes: options.realtime_buffer_bytes,
                realtime_replay_events: options.realtime_replay_events,
                files: options
                    .files
                    .clone()
                    .unwrap_or_else(|| data_plane::files::Settings::local(&files_dir)),
                metrics: metrics(),
            };
            worker_configs.push(config.clone());
            workers.push(data_plane::start(config).await.expect("start worker"));
        }
        // A small stand-in for the built console (the real one needs `npm run build`).
        let console = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/console");
        let router = router::start(router::Config {
            addr: LOCAL.parse().unwrap(),
            control_plane_http: format!("http://{}", cp.http_addr),
            control_plane_grpc: grpc,
            cluster_token: cluster_token(),
            parent_pid: None,
            console_dir: console,
            cors_origins: "http://localhost:5173".into(),
            max_body_bytes: 16 << 20,
            max_json_body_bytes: 1 << 20,
            upstream_timeout_secs: 30,
            worker_sockets: true,
            threads: 1,
            metrics: metrics(),
        })
        .await
        .expect("start router");
        let env = TestEnv {
            base: format!("http://{}", router.addr),
            db_url,
            second_cell_db,
            http: reqwest::Client::new(),
            cp_config,
            control_plane: Some(cp),
            workers,
            worker_configs,
            files_dir,
            router,
        };
        wait_for("the router to learn both workers", || {
            env.router.workers() == 2
        })
        .await;
        env
    }

    /// Restarts worker `i` as a rolling update does: stops it (it finishes what it is answering,
    /// as on SIGTERM), then starts it again under the same id on a new port, and waits until the
    /// router knows it.
    pub async fn restart_worker(&mut self, i: usize) {
        let old = self.workers.remove(i);
        old.shutdown().await;
        let new = data_plane::start(self.worker_configs[i].clone())
            .await
            .expect("restart worker");
        let addr = new.http_addr.to_string();
        self.workers.insert(i, new);
        let router = &self.router;
        wait_for("the router to learn the restarted worker", || {
            router.worker_addrs().contains(&addr)
        })
        .await;
    }

    /// How many workers the router knows.
    pub fn router_workers(&self) -> usize {
        self.router.workers()
    }

    /// The `/metrics` URLs: control plane, each worker, router.
    pub fn metrics_urls(&self) -> Vec<(String, String)> {
        let url = |a: Option<SocketAddr>| format!("http://{}/metrics", a.expect("metrics on"));
        let mut out = Vec::new();
        if let Some(cp) = &self.control_plane {
            out.push(("control-plane".to_owned(), url(cp.metrics_addr)));
        }
        for w in &self.workers {
            out.push((w.worker_id.clone(), url(w.metrics_addr)));
        }
        out.push(("router".to_owned(), url(self.router.metrics_addr)));
        out
    }

    /// The router's address.
    pub fn router_addr(&self) -> SocketAddr {
        self.router.addr
    }

    /// The control plane's HTTP address.
    pub fn control_plane_http(&self) -> SocketAddr {
        self.cp_config.http_addr
    }

    /// The workers' HTTP addresses.
    pub fn worker_addrs(&self) -> Vec<SocketAddr> {
        self.workers.iter().map(|w| w.http_addr).collect()
    }

    /// The control plane's gRPC `ConfigService` URL (workers and the router watch there).
    pub fn control_plane_grpc(&self) -> String {
        format!("http://{}", self.cp_config.grpc_addr)
    }

    /// Stops the control plane (workers and router keep running).
    pub async fn stop_control_plane(&mut self) {
        if let Some(cp) = self.control_plane.take() {
            cp.shutdown().await;
        }
    }

    /// The control plane's settings (to start another one over the same database).
    pub fn control_plane_config(&self) -> control_plane::Config {
        self.cp_config.clone()
    }

    /// Starts the control plane again on the same ports and database.
    pub async fn restart_control_plane(&mut self) {
        let cp = control_plane::start(self.cp_config.clone())
            .await
            .expect("restart control plane");
        self.control_plane = Some(cp);
    }

    /// Sends a request through the router.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Res {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        finish(req.send().await.expect("request reaches the router")).await
    }

    /// A request through the router, to add headers to before [`TestEnv::send`].
    pub fn request(&self, method: &str, path: &str) -> reqwest::RequestBuilder {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        self.http.request(method, format!("{}{path}", self.base))
    }

    /// Sends a request made by [`TestEnv::request`].
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Res {
        finish(req.send().await.expect("request reaches the router")).await
    }

    /// Sends a text body with its content type; returns the status and the text answer.
    pub async fn call_text(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: String,
    ) -> (u16, String) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.expect("request reaches the router");
        let status = res.status().as_u16();
        (status, res.text().await.unwrap_or_default())
    }

    /// Sends raw bytes as a JSON body through the router.
    pub async fn call_raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Vec<u8>,
    ) -> Res {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        finish(req.send().await.expect("request reaches the router")).await
    }

    /// Registers an admin; returns their access token.
    pub async fn admin(&self, email: &str) -> String {
        let res = self
            .call(
                "POST",
                "/api/auth/register",
                None,
                Some(serde_json::json!({"email": email, "password": "password123"})),
            )
            .await;
        assert_eq!(res.status, 201, "{res:?}");
        res.body["access_token"].as_str().unwrap().to_owned()
    }

    /// Creates a project; returns its id.
    pub async fn project(&self, token: &str, name: &str) -> String {
        let res = self
            .call(
                "POST",
                "/api/projects",
                Some(token),
                Some(serde_json::json!({"name": name})),
            )
            .await;
        assert_eq!(res.status, 201, "{res:?}");
        res.body["id"].as_str().unwrap().to_owned()
    }

    /// Creates a collection in a project.
    pub async fn collection(&self, token: &str, project: &str, name: &str) {
        let body = serde_json::json!({"name": name, "display_name": name});
        let res = self
            .call(
                "POST",
                &format!("/api/projects/{project}/schema/collections"),
                Some(token),
                Some(body),
            )
            .await;
        assert_eq!(res.status, 201, "{res:?}");
    }

    /// Adds a field to a collection.
    pub async fn field(&self, token: &str, project: &str, collection: &str, name: &str, ty: &str) {
        let body = serde_json::json!({"name": name, "display_name": name, "field_type": ty});
        let path = format!("/api/projects/{project}/schema/collections/{collection}/fields");
        let res = self.call("POST", &path, Some(token), Some(body)).await;
        assert_eq!(res.status, 201, "{res:?}");
    }

    /// Stops everything.
    pub async fn shutdown(self) {
        self.router.shutdown().await;
        for w in self.workers {
            w.shutdown().await;
        }
        if let Some(cp) = self.control_plane {
            cp.shutdown().await;
        }
        let _ = std::fs::remove_dir_all(&self.files_dir);
    }
}

async fn finish(res: reqwest::Response) -> Res {
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let bytes = res.bytes().await.unwrap_or_default();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Res {
        status,
        body,
        headers,
    }
}

/// Polls `ok` every 20 ms for up to 15 s; panics with `what` on timeout.
pub async fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Files under `root/prefix` (recursively), as paths relative to `root`; hidden and staging
/// files included, so a test sees anything an upload left behind.
pub fn files_under(root: &std::path::Path, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut dirs = vec![root.join(prefix)];
    while let Some(d) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if let Ok(rel) = p.strip_prefix(root) {
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}
