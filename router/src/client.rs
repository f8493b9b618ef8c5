//! The HTTP/1.1 client to workers and the control plane, over TCP or a worker's Unix socket.
//! hyper writes and parses the messages (a well-kept crate; the hand-written client it replaced
//! was not more than 10 % faster, see docs/benchmarks.md). This module owns the rest: a pool of
//! kept-alive connections per upstream, when a request may be sent again, and how bodies pass.
//! A JSON request's body goes out as the `Bytes` it is; an answer of known length up to
//! [`BUFFERED_MAX`] is read whole, so its connection is free again at once; a longer or chunked
//! one streams through, and its connection goes back to the pool once its end was read. An
//! upload streams to the upstream within a byte limit.
//!
//! The pool is ours, on hyper's connection API, rather than hyper-util's pooled client: that one
//! builds a URI and a pool key for each request and starts a task per request to put the
//! connection back once it is idle. Here a connection has one task (hyper's, driving it) and a
//! request none of its own.

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use http::uri::{PathAndQuery, Uri};
use http::{header, HeaderMap, HeaderValue, Method, Request, Response};
use http_body::{Body as _, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use std::collections::{HashMap, VecDeque};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::oneshot;

/// Answers of known length up to this are read whole before they are passed on.
pub const BUFFERED_MAX: usize = 1024 * 1024;
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
const MAX_IDLE_PER_UPSTREAM: usize = 256;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest a pooled connection may take to be ready for the next request before another is
/// dialled instead.
const READY_WAIT: Duration = Duration::from_secs(1);

/// Headers that concern one connection only: never passed on, in either direction.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Drops the hop-by-hop headers.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    for h in HOP_BY_HOP {
        headers.remove(h);
    }
}

/// Where to send: `host:port` and a path prefix (from a base URL such as `http://cp:8001/x`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    authority: String,
    prefix: String,
}

impl Upstream {
    /// From `http://host:port[/prefix]`, a bare `host:port` or `unix:<path>` (a socket, no
    /// prefix); `None` for any other scheme.
    pub fn parse(base: &str) -> Option<Self> {
        if let Some(path) = base.strip_prefix("unix:") {
            return (!path.is_empty()).then(|| Self {
                authority: base.to_owned(),
                prefix: String::new(),
            });
        }
        let rest = match base.split_once("://") {
            Some(("http", rest)) => rest,
            Some(_) => return None,
            None => base,
        };
        let (authority, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        // The authority becomes the `Host` header, the prefix part of each request's target.
        let host_ok = !authority.is_empty() && authority.bytes().all(|b| b.is_ascii_graphic());
        if !host_ok || (!prefix.is_empty() && PathAndQuery::try_from(prefix).is_err()) {
            return None;
        }
        Some(Self {
            authority: authority.to_owned(),
            prefix: prefix.to_owned(),
        })
    }

    /// `host:port`, or `unix:<path>`.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// Whether it is a Unix socket.
    pub fn is_unix(&self) -> bool {
        self.authority.starts_with("unix:")
    }

    /// The request target for `path_and_query` on this upstream (its prefix first).
    pub fn target(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.prefix)
    }

    /// The request target for `uri` (its path and query) on this upstream, in origin form.
    fn uri(&self, uri: &Uri) -> io::Result<Uri> {
        let pq = uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        if self.prefix.is_empty() {
            let mut parts = http::uri::Parts::default();
            parts.path_and_query = Some(pq);
            Uri::from_parts(parts).map_err(io::Error::other)
        } else {
            Uri::try_from(format!("{}{pq}", self.prefix)).map_err(io::Error::other)
        }
    }

    /// The request's headers as they go to this upstream: its `Host`, no `Content-Length` (the
    /// body's own is set) and no `Expect` (the router answered it already).
    fn headers(&self, from: &HeaderMap) -> HeaderMap {
        let mut headers = from.clone();
        headers.remove(header::CONTENT_LENGTH);
        headers.remove(header::EXPECT);
        headers.insert(header::HOST, self.host());
        headers
    }

    /// The `Host` header: the authority, or `localhost` for a socket.
    fn host(&self) -> HeaderValue {
        if self.is_unix() {
            HeaderValue::from_static("localhost")
        } else {
            HeaderValue::from_str(&self.authority).expect("checked by parse")
        }
    }
}

/// Why a request got no answer.
#[derive(Debug)]
pub enum SendError {
    /// No connection could be made: nothing was sent, another upstream may be tried.
    Connect(io::Error),
    /// The connection failed or the answer was not HTTP; the request may have been processed.
    Exchange(io::Error),
}

/// Why a streamed request got no answer.
#[derive(Debug)]
pub enum StreamError {
    /// No connection could be made: nothing of the body was read (here it is back), another
    /// upstream may be tried.
    Connect(io::Error, Body),
    /// The body was longer than the limit; what is left of it.
    TooLarge(Body),
    /// The exchange failed.
    Exchange(io::Error),
    /// No answer in time after the body was sent.
    Timeout,
}

/// The pooled client; cheap to share (`Arc` inside).
#[derive(Clone, Default)]
pub struct Client(Arc<Pool>);

/// Idle connections by authority, the most recently used last.
#[derive(Default)]
struct Pool {
    idle: Mutex<HashMap<String, VecDeque<Idle>>>,
}

struct Idle {
    sender: SendRequest<Outbound>,
    since: Instant,
}

impl Pool {
    /// The most recently used idle connection to `authority` that is still open, if any.
    fn take(&self, authority: &str) -> Option<SendRequest<Outbound>> {
        let mut idle = self.idle.lock().expect("client pool lock");
        let conns = idle.get_mut(authority)?;
        while let Some(conn) = conns.pop_back() {
            if conn.since.elapsed() > IDLE_TIMEOUT {
                // The others waited longer still.
                conns.clear();
                return None;
            }
            if !conn.sender.is_closed() {
                return Some(conn.sender);
            }
        }
        None
    }

    /// Keeps a connection whose answer was read to its end for the next request.
    fn give_back(&self, authority: &str, sender: SendRequest<Outbound>) {
        if sender.is_closed() {
            return;
        }
        let now = Instant::now();
        let mut idle = self.idle.lock().expect("client pool lock");
        let conns = match idle.get_mut(authority) {
            Some(conns) => conns,
            None => idle.entry(authority.to_owned()).or_default(),
        };
        while conns
            .front()
            .is_some_and(|c| now - c.since > IDLE_TIMEOUT || c.sender.is_closed())
        {
            conns.pop_front();
        }
        if conns.len() < MAX_IDLE_PER_UPSTREAM {
            conns.push_back(Idle { sender, since: now });
        }
    }
}

impl Client {
    /// Sends one request (the method, target and headers of `parts`, with `body`) and returns
    /// the answer, its body possibly still streaming. `parts.headers` must be free of hop-by-hop
    /// headers. A kept-alive connection that the other side closed before answering makes an
    /// idempotent request go once more on a new connection; any other request goes again only
    /// when none of it was sent.
    pub async fn send(
        &self,
        to: &Upstream,
        parts: &http::request::Parts,
        body: &Bytes,
    ) -> Result<Response<Body>, SendError> {
        let uri = to.uri(&parts.uri).map_err(SendError::Exchange)?;
        let build = || {
            let mut headers = to.headers(&parts.headers);
            let says_body = matches!(parts.method, Method::POST | Method::PUT | Method::PATCH);
            if body.is_empty() && says_body {
                headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
            }
            let body = Outbound::Whole((!body.is_empty()).then(|| body.clone()));
            request(parts.method.clone(), uri.clone(), headers, body)
        };
        let mut req = build();
        if let Some(mut sender) = self.ready(to).await {
            match sender.try_send_request(req).await {
                Ok(res) => {
                    return self
                        .answer(to, Some(sender), res)
                        .await
                        .map_err(SendError::Exchange)
                }
                Err(mut e) => match e.take_message() {
                    Some(unsent) => req = unsent,
                    None if idempotent(&parts.method) && closed_unanswered(e.error()) => {
                        req = build();
                    }
                    None => return Err(SendError::Exchange(io::Error::other(e.into_error()))),
                },
            }
        }
        // Also after an idempotent request went out once on a kept-alive connection that closed:
        // it may go to another upstream as well.
        let mut sender = connect(to).await.map_err(SendError::Connect)?;
        match sender.try_send_request(req).await {
            Ok(res) => self
                .answer(to, Some(sender), res)
                .await
                .map_err(SendError::Exchange),
            // Handed back unsent: the new connection failed before the request was written.
            Err(mut e) => match e.take_message() {
                Some(_) => Err(SendError::Connect(io::Error::other(e.into_error()))),
                None => Err(SendError::Exchange(io::Error::other(e.into_error()))),
            },
        }
    }

    /// An idle connection to `to`, ready for a request.
    async fn ready(&self, to: &Upstream) -> Option<SendRequest<Outbound>> {
        while let Some(mut sender) = self.0.take(to.authority()) {
            // Ready at once, or once hyper has finished with the last exchange. One whose
            // request body is still being written to an upstream that answered early and stopped
            // reading may never be: it is dropped after a while.
            if let Ok(Ok(())) = tokio::time::timeout(READY_WAIT, sender.ready()).await {
                return Some(sender);
            }
        }
        None
    }

    /// Sends a request whose body streams from `body`, on a new connection; no more than
    /// `limit` bytes of it are sent. A declared `Content-Length` is kept, else the body goes
    /// chunked. The answer's head may take `timeout` after the body was sent, and the body may not
    /// stand still for longer than that on its way. An upstream that
    /// answers before it read the whole body (a refusal) is heard.
    pub async fn send_streamed(
        &self,
        to: &Upstream,
        parts: &http::request::Parts,
        body: Body,
        limit: usize,
        timeout: Duration,
    ) -> Result<Response<Body>, StreamError> {
        let mut sender = match connect(to).await {
            Ok(sender) => sender,
            Err(e) => return Err(StreamError::Connect(e, body)),
        };
        let uri = to.uri(&parts.uri).map_err(StreamError::Exchange)?;
        let mut headers = to.headers(&parts.headers);
        match declared_length(&parts.headers) {
            Some(n) => headers.insert(header::CONTENT_LENGTH, HeaderValue::from(n)),
            None => headers.insert(
                header::TRANSFER_ENCODING,
                HeaderValue::from_static("chunked"),
            ),
        };
        let (told, mut pumped) = oneshot::channel();
        let moved = Arc::new(AtomicUsize::new(0));
        let upload = Upload {
            body: Some(body),
            sent: 0,
            limit,
            told: Some(told),
            moved: moved.clone(),
        };
        let req = request(parts.method.clone(), uri, headers, Outbound::Upload(upload));
        let answer = sender.try_send_request(req);
        tokio::pin!(answer);
        // The body's end (or its failure) first, or an answer before it; none of its bytes
        // moving for `timeout` (an upstream that stopped reading, a client that stopped
        // sending) ends it.
        let early = loop {
            let seen = moved.load(Ordering::Relaxed);
            tokio::select! {
                biased;
                how = &mut pumped => break Err(how),
                res = &mut answer => break Ok(res),
                () = tokio::time::sleep(timeout) => {
                    if moved.load(Ordering::Relaxed) == seen {
                        return Err(StreamError::Timeout);
                    }
                }
            }
        };
        let (res, all_sent) = match early {
            Ok(res) => (res, false),
            Err(Ok(Pumped::TooLarge(rest))) => return Err(StreamError::TooLarge(rest)),
            Err(Ok(Pumped::Broke(e))) => return Err(StreamError::Exchange(io::Error::other(e))),
            // All sent, or hyper stopped sending (the upstream answered, or the connection
            // failed): the answer decides.
            Err(Ok(Pumped::All) | Err(_)) => match tokio::time::timeout(timeout, answer).await {
                Ok(res) => (res, true),
                Err(_) => return Err(StreamError::Timeout),
            },
        };
        let res = match res {
            Ok(res) => res,
            Err(mut e) => {
                // Handed back unsent (the new connection failed before writing): the body is
                // untouched, another upstream may have it.
                if let Some(Outbound::Upload(Upload {
                    body: Some(body),
                    sent: 0,
                    ..
                })) = e.take_message().map(Request::into_body)
                {
                    return Err(StreamError::Connect(io::Error::other(e.into_error()), body));
                }
                // The body's failure says more than the connection's.
                return Err(match pumped.try_recv() {
                    Ok(Pumped::TooLarge(rest)) => StreamError::TooLarge(rest),
                    Ok(Pumped::Broke(e)) => StreamError::Exchange(io::Error::other(e)),
                    _ => StreamError::Exchange(io::Error::other(e.into_error())),
                });
            }
        };
        // A connection whose upload may still be going on is not reused.
        let sender = all_sent.then_some(sender);
        self.answer(to, sender, res)
            .await
            .map_err(StreamError::Exchange)
    }

    /// Passes an answer on: read whole when short, else as it comes. Its connection (when given)
    /// goes back to the pool once the answer's end was read.
    async fn answer(
        &self,
        to: &Upstream,
        sender: Option<SendRequest<Outbound>>,
        res: Response<Incoming>,
    ) -> io::Result<Response<Body>> {
        let (mut head, body) = res.into_parts();
        // Only plain chunked: a coded body (`gzip, chunked`) would reach the client without its
        // coding named.
        let mut codings = head.headers.get_all(header::TRANSFER_ENCODING).iter();
        if codings.any(|te| !te.as_bytes().trim_ascii().eq_ignore_ascii_case(b"chunked")) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the answer's transfer-encoding is not supported",
            ));
        }
        strip_hop_by_hop(&mut head.headers);
        match body.size_hint().exact() {
            Some(n) if n <= BUFFERED_MAX as u64 => {
                let bytes = read_whole(body, n as usize)
                    .await
                    .map_err(io::Error::other)?;
                if let Some(sender) = sender {
                    self.0.give_back(to.authority(), sender);
                }
                Ok(Response::from_parts(head, Body::from(bytes)))
            }
            exact => {
                if exact.is_none() {
                    head.headers.remove(header::CONTENT_LENGTH);
                }
                let back = sender.map(|s| (self.clone(), to.authority().to_owned(), s));
                Ok(Response::from_parts(
                    head,
                    Body::new(Streamed { body, back }),
                ))
            }
        }
    }
}

fn request(method: Method, uri: Uri, headers: HeaderMap, body: Outbound) -> Request<Outbound> {
    let mut req = Request::new(body);
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    *req.headers_mut() = headers;
    req
}

fn idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
    )
}

/// The connection ended before any answer: closed or reset by the other side.
fn closed_unanswered(e: &hyper::Error) -> bool {
    if e.is_incomplete_message() || e.is_canceled() || e.is_closed() {
        return true;
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<io::Error>() {
            return matches!(
                io.kind(),
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::BrokenPipe
                    | io::ErrorKind::ConnectionAborted
            );
        }
        source = s.source();
    }
    false
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.trim().parse().ok())
}

/// A new connection to `to`, its task started.
async fn connect(to: &Upstream) -> io::Result<SendRequest<Outbound>> {
    let timed_out = |_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out");
    match to.authority().strip_prefix("unix:") {
        Some(path) => {
            let unix = tokio::time::timeout(CONNECT_TIMEOUT, UnixStream::connect(path))
                .await
                .map_err(timed_out)??;
            start(unix).await
        }
        None => {
            let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(to.authority()))
                .await
                .map_err(timed_out)??;
            tcp.set_nodelay(true)?;
            start(tcp).await
        }
    }
}

async fn start<T>(io: T) -> io::Result<SendRequest<Outbound>>
where
    T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (sender, conn) = http1::handshake(TokioIo::new(io))
        .await
        .map_err(io::Error::other)?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!("upstream connection ended: {e}");
        }
    });
    Ok(sender)
}

/// Reads a body of known length `n` whole: the one piece it usually is, without copying.
async fn read_whole(mut body: Incoming, n: usize) -> Result<Bytes, hyper::Error> {
    let mut whole = Bytes::new();
    let mut more: Option<BytesMut> = None;
    // Its end is known from its length: no waiting for the connection to say so.
    while !body.is_end_stream() {
        let Some(frame) = body.frame().await else {
            break;
        };
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        match &mut more {
            Some(more) => more.extend_from_slice(&data),
            None if whole.is_empty() => whole = data,
            None => {
                let mut joined = BytesMut::with_capacity(n);
                joined.extend_from_slice(&whole);
                joined.extend_from_slice(&data);
                more = Some(joined);
            }
        }
    }
    Ok(more.map_or(whole, BytesMut::freeze))
}

/// What a request carries upstream: a body at hand, or an upload streaming through.
enum Outbound {
    Whole(Option<Bytes>),
    Upload(Upload),
}

impl http_body::Body for Outbound {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.get_mut() {
            Self::Whole(body) => Poll::Ready(body.take().map(|b| Ok(Frame::data(b)))),
            Self::Upload(upload) => upload.poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Whole(body) => body.is_none(),
            Self::Upload(upload) => upload.body.as_ref().is_none_or(|b| b.is_end_stream()),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Whole(body) => SizeHint::with_exact(body.as_ref().map_or(0, |b| b.len() as u64)),
            Self::Upload(_) => SizeHint::default(),
        }
    }
}

/// How sending an upload ended, told to the request's task.
enum Pumped {
    /// All of it was handed to hyper.
    All,
    /// It grew past the limit; what is left of it.
    TooLarge(Body),
    /// The client's side failed.
    Broke(String),
}

/// An upload on its way: at most `limit` bytes pass. hyper takes it to the connection's task;
/// when hyper drops it unfinished (the upstream stopped reading), nothing is told.
struct Upload {
    body: Option<Body>,
    sent: usize,
    limit: usize,
    told: Option<oneshot::Sender<Pumped>>,
    /// Bytes handed to hyper so far, for the request's task to see that they move.
    moved: Arc<AtomicUsize>,
}

impl Upload {
    fn tell(&mut self, how: Pumped) {
        self.body = None;
        if let Some(told) = self.told.take() {
            let _ = told.send(how);
        }
    }

    fn poll_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        loop {
            let Some(body) = self.body.as_mut() else {
                return Poll::Ready(None);
            };
            let data = match ready!(Pin::new(&mut *body).poll_frame(cx)) {
                None => {
                    self.tell(Pumped::All);
                    return Poll::Ready(None);
                }
                Some(Err(e)) => {
                    let e = e.to_string();
                    self.tell(Pumped::Broke(e.clone()));
                    return Poll::Ready(Some(Err(io::Error::other(e))));
                }
                // Trailers are not passed on.
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) if !data.is_empty() => data,
                    _ => continue,
                },
            };
            self.sent += data.len();
            self.moved.store(self.sent, Ordering::Relaxed);
            if self.sent > self.limit {
                // Too long: the upstream sees the body end early and keeps nothing of it.
                let rest = self.body.take().expect("the body is here");
                self.tell(Pumped::TooLarge(rest));
                return Poll::Ready(Some(Err(io::Error::other("the body is too large"))));
            }
            if body.is_end_stream() {
                // hyper asks no further once the body says it ended.
                self.tell(Pumped::All);
            }
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
    }
}

/// An answer's body streaming from its connection; the connection goes back to the pool after
/// the last byte (never after an error, or when the body is dropped before its end).
struct Streamed {
    body: Incoming,
    back: Option<(Client, String, SendRequest<Outbound>)>,
}

impl Streamed {
    fn hand_back(&mut self) {
        if let Some((client, authority, sender)) = self.back.take() {
            client.0.give_back(&authority, sender);
        }
    }
}

impl http_body::Body for Streamed {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        loop {
            match ready!(Pin::new(&mut this.body).poll_frame(cx)) {
                Some(Ok(frame)) if frame.is_data() => {
                    // The server may not ask again once the declared length is complete.
                    if this.body.is_end_stream() {
                        this.hand_back();
                    }
                    return Poll::Ready(Some(Ok(frame)));
                }
                // Trailers are not passed on.
                Some(Ok(_)) => continue,
                None => {
                    this.hand_back();
                    return Poll::Ready(None);
                }
                Some(Err(e)) => {
                    this.back = None;
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests;
