//! Backendify router: the single public entry. Adds request ids, security headers and CORS,
//! routes data routes to a healthy worker (learned from the control plane) and everything else to
//! the control plane, and serves the console under `/console/`.

pub mod client;
pub mod config;
pub mod console;
pub mod proxy;
pub mod routes;
pub mod streams;
pub mod upstreams;

use anyhow::Context;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, Response, StatusCode};
use axum::serve::ListenerExt;
pub use config::Config;
use routes::Target;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::info;
use upstreams::Upstreams;

/// Handler state.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// What the state holds.
pub struct Inner {
    client: client::Client,
    streams: streams::Streams,
    upstreams: Arc<Upstreams>,
    control_plane: client::Upstream,
    console_dir: PathBuf,
    cors: Cors,
    max_body: usize,
    max_json_body: usize,
    timeout: Duration,
}

/// The CORS allow-list; empty allows any origin.
struct Cors(Vec<String>);

impl Cors {
    fn allows(&self, origin: &str) -> bool {
        self.0.is_empty() || self.0.iter().any(|o| o == origin)
    }
}

/// The router's single handler: every path comes here.
pub fn app(state: AppState) -> axum::Router {
    axum::Router::new()
        .fallback(handle)
        .layer(axum::middleware::from_fn(proto::metrics::track))
        .with_state(state)
}

async fn handle(
    State(st): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response<Body> {
    // `proto::metrics::track` has set it (the caller's, or a new one).
    let request_id = req
        .headers()
        .get("x-request-id")
        .cloned()
        .unwrap_or_else(proto::metrics::new_request_id);
    let origin = req.headers().get(header::ORIGIN).cloned();
    let path = req.uri().path().to_owned();
    let preflight = req.method() == Method::OPTIONS
        && req.headers().contains_key("access-control-request-method");
    let mut res = if preflight {
        preflight_response(req.headers())
    } else {
        route(&st.0, req, &request_id, &peer.ip().to_string()).await
    };
    decorate(&st.0, &mut res, &path, &request_id, origin.as_ref());
    res
}

async fn route(
    st: &Inner,
    req: Request,
    request_id: &HeaderValue,
    client_ip: &str,
) -> Response<Body> {
    let path = req.uri().path().to_owned();
    if path == "/health" {
        return Response::builder()
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(r#"{"ok":true}"#))
            .expect("static response");
    }
    // Ready once the control plane has told it its workers (even none: the console and the
    // admin API still work, and an operator needs them most when no worker runs).
    if path == "/ready" {
        let (status, body) = if st.upstreams.heard() {
            (StatusCode::OK, r#"{"ready":true}"#)
        } else {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                r#"{"ready":false,"detail":"the control plane has not been reached yet"}"#,
            )
        };
        return Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .expect("static response");
    }
    if routes::is_grpc(&path, req.headers()) {
        return st
            .streams
            .to_control_plane(&st.control_plane, req, request_id, client_ip, st.timeout)
            .await;
    }
    let wants_html = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    let read = matches!(*req.method(), Method::GET | Method::HEAD);
    let target = routes::target(&path, read, wants_html);
    match target {
        Target::Console => return console::serve(&st.console_dir, &path, req.headers()).await,
        Target::ToConsole => return console::redirect(),
        Target::ConsoleMethod => {
            return proxy::error(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
        }
        Target::NoSuchProject => return proxy::error(StatusCode::NOT_FOUND, "Project not found"),
        Target::NotFound => return proxy::error(StatusCode::NOT_FOUND, "Not Found"),
        Target::Worker(_) | Target::ControlPlane => {}
    }
    let project = match target {
        Target::Worker(id) => Some(id),
        _ => None,
    };
    if let Some(project) = project.filter(|_| read && routes::is_stream(&path)) {
        return st
            .streams
            .to_worker(
                &st.upstreams,
                project,
                req,
                request_id,
                client_ip,
                st.timeout,
            )
            .await;
    }
    // Uploads (multipart, to a worker) stream and may be large; anything else is JSON and is
    // refused here when too long, before it travels.
    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|c| c.to_str().ok())
        .is_some_and(|c| c.starts_with("multipart/"));
    if let Some(project) = project.filter(|_| multipart) {
        return proxy::stream_to_worker(
            &st.client,
            &st.upstreams,
            project,
            req,
            st.max_body,
            request_id,
            client_ip,
            st.timeout,
        )
        .await;
    }
    let out = match proxy::Outgoing::read(req, st.max_json_body, request_id, client_ip).await {
        Ok(out) => out,
        Err(res) => return res,
    };
    match project {
        Some(project) => {
            proxy::to_worker(&st.client, &st.upstreams, project, &out, st.timeout).await
        }
        None => match proxy::send(&st.client, &out, &st.control_plane, st.timeout).await {
            Ok(res) => res,
            Err((Some(_), _)) => proxy::error(StatusCode::BAD_GATEWAY, "Control plane unavailable"),
            Err((None, res)) => res,
        },
    }
}

fn preflight_response(headers: &HeaderMap) -> Response<Body> {
    let mut res = Response::builder()
        .status(StatusCode::OK)
        .body(Body::empty())
        .expect("static response");
    let h = res.headers_mut();
    h.insert(
        "access-control-allow-methods",
        HeaderValue::from_static("GET, POST, PUT, PATCH, DELETE, OPTIONS"),
    );
    let asked = headers.get("access-control-request-headers").cloned();
    h.insert(
        "access-control-allow-headers",
        asked.unwrap_or(HeaderValue::from_static("*")),
    );
    h.insert("access-control-max-age", HeaderValue::from_static("600"));
    res
}

/// Request id, security headers of spec/README.md, no-store on the API, and CORS.
fn decorate(
    st: &Inner,
    res: &mut Response<Body>,
    path: &str,
    request_id: &HeaderValue,
    origin: Option<&HeaderValue>,
) {
    let h = res.headers_mut();
    h.insert("x-request-id", request_id.clone());
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(
        "x-xss-protection",
        HeaderValue::from_static("1; mode=block"),
    );
    h.insert(
        "referrer-policy",
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    // The API's answers are not cached, unless one says otherwise (file downloads).
    if path.starts_with("/api/") && !h.contains_key(header::CACHE_CONTROL) {
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store, no-cache, must-revalidate"),
        );
    }
    if let Some(origin) = origin.filter(|o| o.to_str().is_ok_and(|o| st.cors.allows(o))) {
        h.insert("access-control-allow-origin", origin.clone());
        h.insert(
            "access-control-allow-credentials",
            HeaderValue::from_static("true"),
        );
        h.insert(
            "access-control-expose-headers",
            HeaderValue::from_static("x-request-id, x-config-lagging-workers"),
        );
        h.append(header::VARY, HeaderValue::from_static("Origin"));
    }
}

/// A started router.
pub struct Running {
    /// The public address.
    pub addr: SocketAddr,
    /// Where `/metrics` listens, when it does.
    pub metrics_addr: Option<SocketAddr>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    upstreams: Arc<Upstreams>,
}

impl Running {
    /// How many workers the router currently knows.
    pub fn workers(&self) -> usize {
        self.upstreams.len()
    }

    /// The addresses of the workers the router currently knows.
    pub fn worker_addrs(&self) -> Vec<String> {
        self.upstreams.all()
    }

    /// Stops serving; in-flight requests finish (bounded).
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
        info!("router stopped");
    }
}

/// Binds the public listener, starts following placements and serving.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    let listener = TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("bind {}", config.addr))?;
    let addr = listener.local_addr()?;
    let control_plane = client::Upstream::parse(&config.control_plane_http).with_context(|| {
        format!(
            "CONTROL_PLANE_HTTP_URL must be http://host:port, not {}",
            config.control_plane_http
        )
    })?;
    let upstreams = Arc::new(Upstreams::default());
    let origins = config
        .cors_origins
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(String::from)
        .collect();
    let state = AppState(Arc::new(Inner {
        client: client::Client::default(),
        streams: streams::Streams::default(),
        upstreams: upstreams.clone(),
        control_plane,
        console_dir: config.console_dir.clone(),
        cors: Cors(origins),
        max_body: config.max_body_bytes,
        max_json_body: config.max_json_body_bytes,
        timeout: Duration::from_secs(config.upstream_timeout_secs),
    }));
    let (stop, _) = watch::channel(false);
    let placements = tokio::spawn(upstreams::watch_placements(
        config.control_plane_grpc.clone(),
        config.cluster_token.clone(),
        upstreams.clone(),
        config.worker_sockets,
        stop.subscribe(),
    ));
    let mut on_stop = stop.subscribe();
    let app = app(state).into_make_service_with_connect_info::<SocketAddr>();
    let server = tokio::spawn(async move {
        let signal = async move {
            let _ = on_stop.wait_for(|s| *s).await;
        };
        // Answers leave at once: no waiting for the peer's ACK of a previous write (Nagle).
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(signal)
            .await
        {
            tracing::error!("router server failed: {e}");
        }
    });
    let known = upstreams.clone();
    let workers = proto::metrics::registry().gauge("router_workers", "Workers the router knows");
    let metrics = proto::metrics::start(
        &config.metrics,
        Arc::new(move || {
            workers.set(known.len() as i64);
        }),
        stop.subscribe(),
    )
    .await
    .context("start the metrics listener")?;
    let mut tasks = vec![placements, server];
    let metrics_addr = metrics.map(|(addr, task)| {
        tasks.push(task);
        addr
    });
    info!(http.addr = %addr, "router listening on http://{addr}");
    Ok(Running {
        addr,
        metrics_addr,
        stop,
        tasks,
        upstreams,
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
