//! Where a transcoded call is answered: the admin REST routes in this process, through the same
//! router and handlers a REST client reaches; the admin routes that workers serve (app users, role
//! assignments, audit events, deliveries, runs) on a connected worker.

use super::transcode::RestCall;
use crate::http::auth::API_TOKEN_PREFIX;
use crate::state::AppState;
use axum::body::Body as AxumBody;
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use model::jwt::{self, AdminClaims};
use model::secret::token_hash;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tonic::Status;
use tower::ServiceExt;

/// The largest REST answer a call passes on.
const MAX_ANSWER: usize = 64 * 1024 * 1024;
/// How long a worker may take.
const WORKER_TIMEOUT: Duration = Duration::from_secs(30);
/// The life of the access token a worker-bound call carries in place of an admin API token.
const FORWARD_TOKEN_TTL: i64 = 60;

/// A REST answer.
pub struct Answer {
    /// Its status.
    pub status: StatusCode,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body.
    pub body: Bytes,
}

/// Sends calls to the admin REST routes.
pub struct Upstream {
    state: AppState,
    rest: axum::Router,
    client: Client<HttpConnector, Full<Bytes>>,
    next: AtomicUsize,
}

impl Upstream {
    /// Over `rest`, the admin REST app of this process.
    pub fn new(state: AppState, rest: axum::Router) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(2)));
        Self {
            state,
            rest,
            client: Client::builder(TokioExecutor::new()).build(connector),
            next: AtomicUsize::new(0),
        }
    }

    /// Answers `call` with the caller's `headers` (credentials, request id).
    pub async fn send(&self, call: &RestCall, headers: &HeaderMap) -> Result<Answer, Status> {
        let path = call.target.split('?').next().unwrap_or_default();
        let mut req = Request::builder()
            .method(call.verb.clone())
            .uri(&call.target);
        for name in [
            header::AUTHORIZATION.as_str(),
            "x-request-id",
            "x-forwarded-for",
        ] {
            if let Some(v) = headers.get(name) {
                req = req.header(name, v);
            }
        }
        let body = match &call.body {
            Some(json) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Bytes::from(json.to_string())
            }
            None => Bytes::new(),
        };
        let req = req
            .body(body)
            .map_err(|e| Status::invalid_argument(format!("the request cannot be sent: {e}")))?;
        if model::routes::is_data_path(path) {
            self.to_worker(req, path).await
        } else {
            let res = self
                .rest
                .clone()
                .oneshot(req.map(AxumBody::from))
                .await
                .map_err(|e| Status::internal(format!("admin API: {e}")))?;
            collect(res).await
        }
    }

    async fn to_worker(&self, mut req: Request<Bytes>, path: &str) -> Result<Answer, Status> {
        self.worker_credentials(&mut req, path).await?;
        let project = path
            .strip_prefix("/api/projects/")
            .and_then(|rest| rest.split('/').next())
            .and_then(|id| uuid::Uuid::parse_str(id).ok());
        let workers = project.map_or_else(Vec::new, |p| self.state.hub.workers_of(p));
        if workers.is_empty() {
            return Err(Status::unavailable(
                "No worker is connected; try again shortly",
            ));
        }
        let first = self.next.fetch_add(1, Ordering::Relaxed);
        let mut last = None;
        for i in 0..workers.len() {
            let w = &workers[(first + i) % workers.len()];
            let uri = format!("http://{}{}", w.http_addr, req.uri());
            let mut out = Request::builder()
                .method(req.method().clone())
                .uri(uri)
                .body(Full::new(req.body().clone()))
                .expect("a valid request");
            *out.headers_mut() = req.headers().clone();
            match tokio::time::timeout(WORKER_TIMEOUT, self.client.request(out)).await {
                Ok(Ok(res)) => return collect(res).await,
                Ok(Err(e)) if e.is_connect() => {
                    tracing::warn!(worker = %w.http_addr, "worker unreachable: {e}");
                    last = Some(e.to_string());
                }
                // The request may have run there: not a status that says "safe to retry".
                Ok(Err(e)) => {
                    return Err(Status::unknown(format!(
                        "the worker's answer was lost: {e}"
                    )))
                }
                Err(_) => {
                    return Err(Status::deadline_exceeded(
                        "the worker did not answer in time",
                    ))
                }
            }
        }
        Err(Status::unavailable(format!(
            "no worker could be reached: {}",
            last.unwrap_or_default()
        )))
    }

    /// Workers accept admin access tokens, not admin API tokens: a call with an API token is
    /// judged here against the token's limits (read-only, projects), then carries a one-minute
    /// access token of the token's admin. The worker still checks membership.
    async fn worker_credentials(&self, req: &mut Request<Bytes>, path: &str) -> Result<(), Status> {
        let Some(token) = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim().to_owned())
            .filter(|t| t.starts_with(API_TOKEN_PREFIX))
        else {
            return Ok(());
        };
        let grant = crate::db::api_tokens::grant(&self.state.db, &token_hash(&token))
            .await
            .map_err(|e| {
                if model::sql::unavailable(&e) {
                    return Status::unavailable("The database is unavailable; try again shortly");
                }
                tracing::error!("read an API token: {e}");
                Status::internal("Internal Server Error")
            })?
            .ok_or_else(|| Status::unauthenticated("Invalid token"))?;
        if grant.read_only && req.method() != http::Method::GET {
            return Err(Status::permission_denied("This API token is read-only"));
        }
        let project = path
            .strip_prefix("/api/projects/")
            .and_then(|r| r.split('/').next())
            .and_then(|id| uuid::Uuid::parse_str(id).ok());
        let reaches = match (&grant.project_ids, project) {
            (Some(list), Some(p)) => list.contains(&p),
            (_, p) => p.is_some(),
        };
        if !reaches {
            return Err(Status::not_found("Project not found"));
        }
        let claims = AdminClaims {
            sub: grant.admin_id.to_string(),
            exp: chrono::Utc::now().timestamp() + FORWARD_TOKEN_TTL,
            kind: None,
        };
        let bearer = format!(
            "Bearer {}",
            jwt::sign(&claims, self.state.jwt_secret.as_bytes())
        );
        req.headers_mut().insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&bearer).expect("a token is header-safe"),
        );
        Ok(())
    }
}

async fn collect<B>(res: http::Response<B>) -> Result<Answer, Status>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (head, body) = res.into_parts();
    let body = Limited::new(body, MAX_ANSWER)
        .collect()
        .await
        .map_err(|e| Status::unavailable(format!("the answer could not be read: {e}")))?
        .to_bytes();
    Ok(Answer {
        status: head.status,
        headers: head.headers,
        body,
    })
}
