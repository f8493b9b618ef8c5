//! Forwarding to upstreams over keep-alive pools ([`crate::client`]): the body is read within
//! the limit (so a refused connection can be retried on another worker), the response is passed
//! back (streamed when long).

use crate::client::{strip_hop_by_hop, Client, SendError, StreamError, Upstream};
use crate::upstreams::Upstreams;
use axum::body::Body;
use axum::http::{header, HeaderName, HeaderValue, Request, Response, StatusCode};
use bytes::Bytes;
use http_body_util::BodyExt;
use serde_json::json;
use std::io;
use std::time::Duration;
use uuid::Uuid;

/// A JSON error response.
pub fn error(status: StatusCode, detail: &str) -> Response<Body> {
    let body = json!({ "detail": detail }).to_string();
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .expect("static response")
}

/// Bodies past this are not drained before the 413: the connection is simply closed.
const DRAIN_CAP: usize = 64 * 1024 * 1024;

/// Answers 413 after reading (and dropping) what the client is still sending, up to a cap, so
/// that a client which writes its whole body before reading gets the answer, not a broken pipe.
async fn too_large(mut body: Body) -> Response<Body> {
    let mut seen = 0usize;
    while seen <= DRAIN_CAP {
        match body.frame().await {
            Some(Ok(frame)) => seen += frame.data_ref().map_or(0, |d| d.len()),
            _ => break,
        }
    }
    let mut res = error(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large");
    if seen > DRAIN_CAP {
        res.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    res
}

/// A request read into memory, ready to send (and resend) upstream.
pub struct Outgoing {
    parts: axum::http::request::Parts,
    body: Bytes,
}

impl Outgoing {
    /// Reads the body within `limit`; `Err` is the 413 to answer.
    pub async fn read(
        req: Request<Body>,
        limit: usize,
        request_id: &HeaderValue,
        client_ip: &str,
    ) -> Result<Self, Response<Body>> {
        let (mut parts, body) = req.into_parts();
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
        if declared.is_some_and(|n| n > limit) {
            return Err(too_large(body).await);
        }
        let mut body = body;
        let mut buf = bytes::BytesMut::new();
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    "Request body could not be read",
                ));
            };
            if let Ok(data) = frame.into_data() {
                if buf.len() + data.len() > limit {
                    return Err(too_large(body).await);
                }
                buf.extend_from_slice(&data);
            }
        }
        let body = buf.freeze();
        forwarding_headers(&mut parts, request_id, client_ip);
        Ok(Self { parts, body })
    }
}

/// Drops hop-by-hop headers and sets the forwarding ones (request id, client address, the host
/// the client addressed, the trace context).
pub(crate) fn forwarding_headers(
    parts: &mut axum::http::request::Parts,
    request_id: &HeaderValue,
    client_ip: &str,
) {
    {
        strip_hop_by_hop(&mut parts.headers);
        parts.headers.insert("x-request-id", request_id.clone());
        if let Ok(ip) = HeaderValue::from_str(client_ip) {
            parts
                .headers
                .insert(HeaderName::from_static("x-forwarded-for"), ip);
        }
        // What the client addressed, for absolute URLs built upstream (never the client's own
        // forwarding headers: these are overwritten).
        match parts.headers.get(header::HOST).cloned() {
            Some(host) => parts
                .headers
                .insert(HeaderName::from_static("x-forwarded-host"), host),
            None => parts.headers.remove("x-forwarded-host"),
        };
        parts.headers.insert(
            HeaderName::from_static("x-forwarded-proto"),
            HeaderValue::from_static("http"),
        );
        // With traces exported, the upstream's span becomes a child of this request's (else the
        // caller's `traceparent` passes on untouched, as every end-to-end header does).
        proto::telemetry::inject(&mut parts.headers);
    }
}

/// Streams a request (a file upload) to a worker as it arrives: never more than `limit` bytes,
/// never all of it in memory. Workers that refuse the connection are skipped (nothing of the
/// body was read yet); once sending began, the answer is whatever that worker said.
#[allow(clippy::too_many_arguments)] // the request and what the router adds to it
pub async fn stream_to_worker(
    client: &Client,
    upstreams: &Upstreams,
    project: Uuid,
    req: Request<Body>,
    limit: usize,
    request_id: &HeaderValue,
    client_ip: &str,
    timeout: Duration,
) -> Response<Body> {
    let (mut parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return too_large(body).await;
    }
    forwarding_headers(&mut parts, request_id, client_ip);
    let mut body = Some(body);
    for addr in upstreams.candidates(project) {
        let Some(to) = Upstream::parse(&addr) else {
            continue;
        };
        let Some(b) = body.take() else { break };
        match client.send_streamed(&to, &parts, b, limit, timeout).await {
            Ok(res) => {
                upstreams.mark_up(&addr);
                return res;
            }
            Err(StreamError::Connect(e, b)) => {
                if upstreams.mark_down(&addr, &e) {
                    tracing::warn!(worker.addr = %addr, "worker refused the connection ({e}); trying another");
                }
                body = Some(b);
            }
            Err(StreamError::TooLarge(rest)) => return too_large(rest).await,
            Err(StreamError::Timeout) => {
                return error(
                    StatusCode::GATEWAY_TIMEOUT,
                    "Upstream did not answer in time",
                )
            }
            Err(StreamError::Exchange(e)) => {
                tracing::warn!(upstream = to.authority(), "streamed upload failed: {e}");
                return error(StatusCode::BAD_GATEWAY, "Upstream connection failed");
            }
        }
    }
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "No worker is available to serve this project",
    )
}

/// Sends to one upstream; `Err((Some(why), _))` when no connection could be made (safe to retry
/// elsewhere).
pub async fn send(
    client: &Client,
    out: &Outgoing,
    to: &Upstream,
    timeout: Duration,
) -> Result<Response<Body>, (Option<io::Error>, Response<Body>)> {
    let sent = client.send(to, &out.parts, &out.body);
    answer(to, tokio::time::timeout(timeout, sent).await)
}

/// What [`send`] answers for what the client returned within the timeout.
#[allow(clippy::result_large_err)] // the error carries the response to give when no retry helps
fn answer(
    to: &Upstream,
    sent: Result<Result<Response<Body>, SendError>, tokio::time::error::Elapsed>,
) -> Result<Response<Body>, (Option<io::Error>, Response<Body>)> {
    match sent {
        Err(_) => Err((
            None,
            error(
                StatusCode::GATEWAY_TIMEOUT,
                "Upstream did not answer in time",
            ),
        )),
        Ok(Err(SendError::Connect(e))) => Err((
            Some(e),
            error(StatusCode::BAD_GATEWAY, "Upstream unavailable"),
        )),
        Ok(Err(SendError::Exchange(e))) => {
            tracing::warn!(upstream = to.authority(), "upstream exchange failed: {e}");
            Err((
                None,
                error(StatusCode::BAD_GATEWAY, "Upstream connection failed"),
            ))
        }
        Ok(Ok(res)) => Ok(res),
    }
}

/// Sends a data request to a worker, trying the next one when a worker refuses the connection.
pub async fn to_worker(
    client: &Client,
    upstreams: &Upstreams,
    project: Uuid,
    out: &Outgoing,
    timeout: Duration,
) -> Response<Body> {
    let candidates = upstreams.candidates(project);
    if candidates.is_empty() {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "No worker is available to serve this project",
        );
    }
    let mut last = None;
    for addr in candidates {
        let Some(to) = Upstream::parse(&addr) else {
            tracing::warn!(worker.addr = %addr, "worker address is not host:port; skipped");
            continue;
        };
        match send(client, out, &to, timeout).await {
            Ok(res) => {
                upstreams.mark_up(&addr);
                return res;
            }
            Err((Some(e), res)) => {
                if upstreams.mark_down(&addr, &e) {
                    tracing::warn!(worker.addr = %addr, "worker refused the connection ({e}); trying another");
                }
                last = Some(res);
            }
            Err((None, res)) => return res,
        }
    }
    last.unwrap_or_else(|| {
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            "No worker is available to serve this project",
        )
    })
}
