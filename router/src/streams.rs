//! Long-lived answers (realtime streams) to workers, and gRPC calls to the control plane, over
//! HTTP/2: many streams share one connection, so an idle subscriber costs each side an HTTP/2 stream, not a connection with its
//! own buffers. Up to [`STREAMS_PER_CONN`] streams ride one connection (workers accept 200);
//! more open another. A connection's window is large so that one stalled reader, whose stream
//! window fills, never holds up the others.

use crate::client::Upstream;
use crate::proxy::{error, forwarding_headers};
use crate::upstreams::Upstreams;
use axum::body::Body;
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpStream;

/// Streams one connection carries at most.
pub const STREAMS_PER_CONN: usize = 150;
/// Bytes one stream may have in flight toward the router before its reader takes them.
const STREAM_WINDOW: u32 = 256 * 1024;
/// The connection's window: large, so per-stream windows alone bound what waits.
const CONN_WINDOW: u32 = (1 << 31) - 1;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

struct Conn {
    sender: SendRequest<Body>,
    open: Arc<AtomicUsize>,
}

/// HTTP/2 connections to workers, by authority.
#[derive(Default)]
pub struct Streams {
    conns: Mutex<HashMap<String, Vec<Conn>>>,
}

impl Streams {
    /// A connection to `authority` with room for one more stream (opened when none has).
    async fn conn(&self, authority: &str) -> io::Result<(SendRequest<Body>, Arc<AtomicUsize>)> {
        {
            let mut conns = self.conns.lock().expect("streams lock");
            let list = conns.entry(authority.to_owned()).or_default();
            list.retain(|c| !c.sender.is_closed());
            if let Some(c) = list
                .iter()
                .find(|c| c.open.load(Ordering::Relaxed) < STREAMS_PER_CONN && c.sender.is_ready())
            {
                c.open.fetch_add(1, Ordering::Relaxed);
                return Ok((c.sender.clone(), c.open.clone()));
            }
        }
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(authority))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
        let _ = tcp.set_nodelay(true);
        let (sender, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .initial_stream_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONN_WINDOW)
            .keep_alive_interval(Duration::from_secs(30))
            .handshake(TokioIo::new(tcp))
            .await
            .map_err(io::Error::other)?;
        let who = authority.to_owned();
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(upstream = %who, "stream connection ended: {e}");
            }
        });
        let open = Arc::new(AtomicUsize::new(1));
        self.conns
            .lock()
            .expect("streams lock")
            .entry(authority.to_owned())
            .or_default()
            .push(Conn {
                sender: sender.clone(),
                open: open.clone(),
            });
        Ok((sender, open))
    }

    /// Forwards a bodiless request (a realtime subscription) to a worker and passes its
    /// answer back as it comes.
    pub async fn to_worker(
        &self,
        upstreams: &Upstreams,
        project: uuid::Uuid,
        req: Request<Body>,
        request_id: &HeaderValue,
        client_ip: &str,
        timeout: Duration,
    ) -> Response<Body> {
        let (mut parts, _) = req.into_parts();
        forwarding_headers(&mut parts, request_id, client_ip);
        // HTTP/2 names the host in `:authority` (the client's host travels as X-Forwarded-Host).
        parts.headers.remove(header::HOST);
        let target = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        for addr in upstreams.candidates(project) {
            // Streams ride TCP: a worker's Unix socket serves the request hop only.
            let Some(to) = Upstream::parse(&addr).filter(|to| !to.is_unix()) else {
                continue;
            };
            let (sender, open) = match self.conn(to.authority()).await {
                Ok(c) => c,
                Err(e) => {
                    if upstreams.mark_down(&addr, &e) {
                        tracing::warn!(upstream = to.authority(), "worker unreachable: {e}");
                    }
                    continue;
                }
            };
            let mut out = Request::builder()
                .method(parts.method.clone())
                .uri(format!("http://{}{}", to.authority(), to.target(&target)))
                .body(Body::empty())
                .expect("a valid request");
            *out.headers_mut() = parts.headers.clone();
            match exchange(sender, open, out, timeout).await {
                Ok(res) => {
                    upstreams.mark_up(&addr);
                    return res;
                }
                Err(Some(e)) => {
                    // Nothing was answered: a subscription is safe to open elsewhere.
                    tracing::warn!(upstream = to.authority(), "stream request failed: {e}");
                    upstreams.mark_down(&addr, &io::Error::other(e.to_string()));
                }
                Err(None) => {
                    return error(
                        StatusCode::GATEWAY_TIMEOUT,
                        "Upstream did not answer in time",
                    );
                }
            }
        }
        error(StatusCode::BAD_GATEWAY, "Upstream unavailable")
    }

    /// Passes a gRPC call (the admin API) to the control plane: body, answer and trailers
    /// stream through. A control plane that cannot be reached is `UNAVAILABLE` in gRPC's terms.
    pub async fn to_control_plane(
        &self,
        to: &Upstream,
        req: Request<Body>,
        request_id: &HeaderValue,
        client_ip: &str,
        timeout: Duration,
    ) -> Response<Body> {
        let (mut parts, body) = req.into_parts();
        forwarding_headers(&mut parts, request_id, client_ip);
        parts.headers.remove(header::HOST);
        // The one hop-by-hop header gRPC needs: it says the client reads trailers.
        parts
            .headers
            .insert(header::TE, HeaderValue::from_static("trailers"));
        let target = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        let (sender, open) = match self.conn(to.authority()).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(upstream = to.authority(), "control plane unreachable: {e}");
                return grpc_error(14, "Control plane unavailable");
            }
        };
        let mut out = Request::builder()
            .method(parts.method)
            .uri(format!("http://{}{}", to.authority(), to.target(&target)))
            .body(body)
            .expect("a valid request");
        *out.headers_mut() = parts.headers;
        match exchange(sender, open, out, timeout).await {
            Ok(res) => res,
            Err(Some(e)) => {
                tracing::warn!(upstream = to.authority(), "gRPC call failed: {e}");
                grpc_error(14, "Control plane unavailable")
            }
            Err(None) => grpc_error(4, "The control plane did not answer in time"),
        }
    }
}

/// Sends `out` on a stream of `sender`'s connection, whose count `open` already includes it:
/// the answer's body keeps it counted until dropped; a failure uncounts it at once. `Err(None)`:
/// no answer within `timeout`.
async fn exchange(
    mut sender: SendRequest<Body>,
    open: Arc<AtomicUsize>,
    out: Request<Body>,
    timeout: Duration,
) -> Result<Response<Body>, Option<hyper::Error>> {
    let sent = tokio::time::timeout(timeout, async {
        sender.ready().await?;
        sender.send_request(out).await
    })
    .await;
    match sent {
        Ok(Ok(res)) => {
            let (head, body) = res.into_parts();
            let body = Counted {
                body: body.map_err(axum::Error::new).boxed_unsync(),
                open,
            };
            Ok(Response::from_parts(head, Body::new(body)))
        }
        Ok(Err(e)) => {
            open.fetch_sub(1, Ordering::Relaxed);
            Err(Some(e))
        }
        Err(_) => {
            open.fetch_sub(1, Ordering::Relaxed);
            Err(None)
        }
    }
}

/// A gRPC error said by the router itself (a "trailers-only" answer).
fn grpc_error(code: u8, message: &'static str) -> Response<Body> {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/grpc")
        .header("grpc-status", code.to_string())
        .header("grpc-message", message)
        .body(Body::empty())
        .expect("static response")
}

/// A stream's body; its connection counts it open until it is dropped.
struct Counted {
    body: http_body_util::combinators::UnsyncBoxBody<bytes::Bytes, axum::Error>,
    open: Arc<AtomicUsize>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl http_body::Body for Counted {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}
