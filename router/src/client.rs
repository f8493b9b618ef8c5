//! The HTTP/1.1 client to workers and the control plane. Keep-alive connections wait in a pool per
//! upstream; a request takes one, writes itself and reads the answer on it from its own task (no
//! connection task, no channels between them), so forwarding a small answer costs one write and
//! one read on each side. An answer of known length up to [`BUFFERED_MAX`] is read whole; a
//! longer or chunked one streams, and its connection goes back to the pool once its end was read.

use axum::body::Body;
use bytes::{Buf, Bytes, BytesMut};
use http::{header, HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode};
use http_body_util::BodyExt;
use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

/// Answers of known length up to this are read whole before they are passed on.
pub const BUFFERED_MAX: usize = 1024 * 1024;
/// An answer's status line and headers may not be longer.
const HEAD_MAX: usize = 64 * 1024;
/// Headers an answer may have.
const HEADERS_MAX: usize = 128;
/// Room made for each read of a streaming answer.
const STREAM_READ: usize = 128 * 1024;
/// A body smaller than this travels in the same write as the request head.
const INLINE_BODY: usize = 16 * 1024;
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
const MAX_IDLE_PER_UPSTREAM: usize = 256;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// A connection's read buffer at first, and the most it keeps while idle.
const KEPT_BUFFER: usize = 8 * 1024;

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
        if authority.is_empty() {
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

    /// The `Host` header: the authority, or `localhost` for a socket.
    fn host(&self) -> &str {
        if self.is_unix() {
            "localhost"
        } else {
            &self.authority
        }
    }

    /// The request target for `path_and_query` on this upstream (its prefix first).
    pub fn target(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.prefix)
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

/// The pooled client; cheap to share (`Arc` inside).
#[derive(Clone, Default)]
pub struct Client(Arc<Pool>);

#[derive(Default)]
struct Pool {
    idle: Mutex<HashMap<String, Vec<Conn>>>,
}

/// A connection to an upstream: TCP, or a Unix socket (a worker on this machine, `unix:<path>`).
enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Tcp(s) => s.try_read(buf),
            Self::Unix(s) => s.try_read(buf),
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Self::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Self::Unix(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Self::Unix(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_flush(cx),
            Self::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Self::Unix(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

struct Conn {
    stream: Stream,
    buf: BytesMut,
    authority: String,
    since: Instant,
}

impl Pool {
    /// An idle connection to `authority` that is still open, if any.
    fn take(&self, authority: &str) -> Option<Conn> {
        let mut idle = self.idle.lock().expect("client pool lock");
        let conns = idle.get_mut(authority)?;
        while let Some(mut conn) = conns.pop() {
            if conn.since.elapsed() > IDLE_TIMEOUT {
                // The others waited longer still.
                conns.clear();
                return None;
            }
            // Closed by the other side (or it sent something unasked): not reusable.
            let mut probe = [0u8; 1];
            match conn.stream.try_read(&mut probe) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    conn.buf.clear();
                    return Some(conn);
                }
                _ => continue,
            }
        }
        None
    }

    fn give_back(&self, mut conn: Conn) {
        conn.since = Instant::now();
        let mut idle = self.idle.lock().expect("client pool lock");
        let conns = match idle.get_mut(conn.authority.as_str()) {
            Some(conns) => conns,
            None => idle.entry(conn.authority.clone()).or_default(),
        };
        if conns.len() < MAX_IDLE_PER_UPSTREAM {
            conns.push(conn);
        }
    }
}

/// How an answer's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Empty,
    Length(u64),
    Chunked,
    UntilClose,
}

/// An answer's head.
struct Head {
    status: StatusCode,
    headers: HeaderMap,
    framing: Framing,
    keep_alive: bool,
}

impl Client {
    /// Sends one request and returns the answer (its body possibly still streaming).
    /// `headers` must be free of hop-by-hop headers; `host` and `content-length` are set here.
    pub async fn send(
        &self,
        to: &Upstream,
        method: &Method,
        path_and_query: &str,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> Result<Response<Body>, SendError> {
        let request = encode(to, method, path_and_query, headers, body);
        let idempotent = matches!(
            *method,
            Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
        );
        if let Some(conn) = self.0.take(&to.authority) {
            match self.exchange(conn, method, &request, body).await {
                Ok(res) => return Ok(res),
                // The other side closed the kept-alive connection before answering: an
                // idempotent request is sent once more on a new connection.
                Err(Failure {
                    answered: false, ..
                }) if idempotent => {}
                Err(f) => return Err(SendError::Exchange(f.error)),
            }
        }
        let conn = connect(&to.authority).await.map_err(SendError::Connect)?;
        self.exchange(conn, method, &request, body)
            .await
            .map_err(|f| SendError::Exchange(f.error))
    }

    async fn exchange(
        &self,
        mut conn: Conn,
        method: &Method,
        request: &[u8],
        body: &Bytes,
    ) -> Result<Response<Body>, Failure> {
        let sent = async {
            conn.stream.write_all(request).await?;
            if body.len() >= INLINE_BODY {
                conn.stream.write_all(body).await?;
            }
            io::Result::Ok(())
        };
        sent.await.map_err(|error| Failure {
            answered: false,
            error,
        })?;
        self.answer(conn, method).await
    }

    /// Sends a request whose body streams from `body` (chunked), on a new connection; no more
    /// than `limit` bytes of it are sent. The answer's head may take `timeout` after the body
    /// was sent. An upstream that answers before it read the whole body (a refusal) is heard.
    pub async fn send_streamed(
        &self,
        to: &Upstream,
        parts: &http::request::Parts,
        mut body: Body,
        limit: usize,
        timeout: Duration,
    ) -> Result<Response<Body>, StreamError> {
        let (method, headers) = (&parts.method, &parts.headers);
        let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let mut conn = match connect(&to.authority).await {
            Ok(conn) => conn,
            Err(e) => return Err(StreamError::Connect(e, body)),
        };
        // A declared length is kept (the bytes then pass as they come); else chunked.
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok());
        let mut head = encode(to, method, path_and_query, headers, &Bytes::new());
        // `encode` ended the head for an empty body: say what follows instead.
        const EMPTY: &[u8] = b"content-length: 0\r\n\r\n";
        let cut = head
            .windows(EMPTY.len())
            .rposition(|w| w == EMPTY)
            .unwrap_or(head.len() - 2);
        head.truncate(cut);
        match declared {
            Some(n) => head.extend_from_slice(format!("content-length: {n}\r\n\r\n").as_bytes()),
            None => head.extend_from_slice(b"transfer-encoding: chunked\r\n\r\n"),
        }
        if let Err(e) = conn.stream.write_all(&head).await {
            return Err(StreamError::Exchange(e));
        }
        let mut sent = 0usize;
        let mut size_line = Vec::with_capacity(16);
        let outcome = loop {
            let data = match body.frame().await {
                None => break Pump::Done,
                Some(Err(e)) => break Pump::ClientBroke(io::Error::other(e.to_string())),
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) if !data.is_empty() => data,
                    _ => continue,
                },
            };
            sent += data.len();
            if sent > limit {
                break Pump::TooLarge;
            }
            let written = if declared.is_some() {
                conn.stream.write_all(&data).await
            } else {
                // Size line, bytes, CRLF, without copying the bytes.
                size_line.clear();
                size_line.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
                let mut piece =
                    Buf::chain(Buf::chain(size_line.as_slice(), &data[..]), &b"\r\n"[..]);
                conn.stream.write_all_buf(&mut piece).await
            };
            if written.is_err() {
                break Pump::UpstreamStopped;
            }
        };
        match outcome {
            Pump::Done if declared.is_none() => {
                if conn.stream.write_all(b"0\r\n\r\n").await.is_err() {
                    // The upstream stopped reading: it may have answered already.
                }
            }
            Pump::Done | Pump::UpstreamStopped => {}
            // Too long: the upstream sees the body end early and keeps nothing of it.
            Pump::TooLarge => return Err(StreamError::TooLarge(body)),
            // The client's body broke off: so does the upstream's (the connection is dropped).
            Pump::ClientBroke(e) => return Err(StreamError::Exchange(e)),
        }
        match tokio::time::timeout(timeout, self.answer(conn, method)).await {
            Err(_) => Err(StreamError::Timeout),
            Ok(res) => res.map_err(|f| StreamError::Exchange(f.error)),
        }
    }

    /// Reads the answer on `conn` (its head now, its body whole when short, else as it comes).
    async fn answer(&self, mut conn: Conn, method: &Method) -> Result<Response<Body>, Failure> {
        let head = read_head(&mut conn, method).await?;
        let mut res = Response::new(Body::empty());
        *res.status_mut() = head.status;
        *res.headers_mut() = head.headers;
        let failed = |error| Failure {
            answered: true,
            error,
        };
        match head.framing {
            Framing::Empty => {
                self.finish(conn, head.keep_alive);
            }
            Framing::Length(n) if n as usize <= BUFFERED_MAX => {
                let n = n as usize;
                while conn.buf.len() < n {
                    conn.buf.reserve(n - conn.buf.len());
                    if conn.stream.read_buf(&mut conn.buf).await.map_err(failed)? == 0 {
                        return Err(failed(eof("the answer ended early")));
                    }
                }
                *res.body_mut() = Body::from(conn.buf.split_to(n).freeze());
                self.finish(conn, head.keep_alive);
            }
            framing => {
                *res.body_mut() =
                    Body::from_stream(stream_body(self.clone(), conn, framing, head.keep_alive));
            }
        }
        Ok(res)
    }

    /// A connection whose answer was read to its end goes back to the pool, unless it is to
    /// close or holds bytes nobody asked for.
    fn finish(&self, mut conn: Conn, keep_alive: bool) {
        if keep_alive && conn.buf.is_empty() {
            // A long answer grew the buffer (or still shares its block with the body handed
            // on): an idle connection keeps a small one only.
            if conn.buf.capacity() > KEPT_BUFFER {
                conn.buf = BytesMut::with_capacity(KEPT_BUFFER);
            }
            self.0.give_back(conn);
        }
    }
}

/// How pumping a streamed body ended.
enum Pump {
    /// All of it was sent.
    Done,
    /// It grew past the limit.
    TooLarge,
    /// The client's side failed.
    ClientBroke(io::Error),
    /// The upstream stopped reading (it may have answered already).
    UpstreamStopped,
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

struct Failure {
    /// Some of the answer had arrived.
    answered: bool,
    error: io::Error,
}

fn eof(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, what.to_owned())
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

async fn connect(authority: &str) -> io::Result<Conn> {
    let timed_out = |_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out");
    let stream = match authority.strip_prefix("unix:") {
        Some(path) => Stream::Unix(
            tokio::time::timeout(CONNECT_TIMEOUT, UnixStream::connect(path))
                .await
                .map_err(timed_out)??,
        ),
        None => {
            let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(authority))
                .await
                .map_err(timed_out)??;
            tcp.set_nodelay(true)?;
            Stream::Tcp(tcp)
        }
    };
    Ok(Conn {
        stream,
        buf: BytesMut::with_capacity(KEPT_BUFFER),
        authority: authority.to_owned(),
        since: Instant::now(),
    })
}

/// The request's head, and its body too when that is small.
fn encode(
    to: &Upstream,
    method: &Method,
    path_and_query: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + headers.len() * 48 + body.len().min(INLINE_BODY));
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(to.prefix.as_bytes());
    out.extend_from_slice(path_and_query.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    out.extend_from_slice(to.host().as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        // Set here, or answered by the router already (the whole body is at hand).
        if name == header::HOST || name == header::CONTENT_LENGTH || name == header::EXPECT {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let has_body =
        !body.is_empty() || matches!(*method, Method::POST | Method::PUT | Method::PATCH);
    if has_body {
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(body.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if body.len() < INLINE_BODY {
        out.extend_from_slice(body);
    }
    out
}

/// Reads up to the end of an answer's head (skipping informational `1xx` answers).
async fn read_head(conn: &mut Conn, method: &Method) -> Result<Head, Failure> {
    let mut answered = false;
    loop {
        if !conn.buf.is_empty() {
            answered = true;
            match parse_head(&conn.buf, method).map_err(|error| Failure { answered, error })? {
                Some((len, head)) => {
                    conn.buf.advance(len);
                    match head {
                        Some(head) => return Ok(head),
                        None => continue,
                    }
                }
                None if conn.buf.len() > HEAD_MAX => {
                    return Err(Failure {
                        answered,
                        error: invalid("the answer's head is too long"),
                    })
                }
                None => {}
            }
        }
        match conn.stream.read_buf(&mut conn.buf).await {
            Ok(0) => {
                return Err(Failure {
                    answered,
                    error: eof("the connection closed before an answer"),
                })
            }
            Ok(_) => {}
            Err(error) => return Err(Failure { answered, error }),
        }
    }
}

/// `Ok(None)` when more bytes are needed; `Ok(Some((len, None)))` for an informational answer
/// of `len` bytes to skip.
#[allow(clippy::type_complexity)]
fn parse_head(buf: &[u8], method: &Method) -> io::Result<Option<(usize, Option<Head>)>> {
    let mut slots = [httparse::EMPTY_HEADER; HEADERS_MAX];
    let mut res = httparse::Response::new(&mut slots);
    let len = match res.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(invalid(&format!("the answer is not HTTP: {e}"))),
    };
    let code = res.code.unwrap_or(0);
    let status =
        StatusCode::from_u16(code).map_err(|_| invalid("the answer's status is invalid"))?;
    if status.is_informational() {
        if status == StatusCode::SWITCHING_PROTOCOLS {
            return Err(invalid("the upstream switched protocols"));
        }
        return Ok(Some((len, None)));
    }
    let mut headers = HeaderMap::with_capacity(res.headers.len());
    let mut length = None;
    let mut chunked = false;
    let mut keep_alive = res.version == Some(1);
    for h in res.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|_| invalid("an answer header name is invalid"))?;
        let value =
            HeaderValue::from_bytes(h.value).map_err(|_| invalid("an answer header is invalid"))?;
        if name == header::CONTENT_LENGTH {
            let n = value
                .to_str()
                .ok()
                .map(str::trim)
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| invalid("the answer's content-length is invalid"))?;
            if length.is_some_and(|l| l != n) {
                return Err(invalid("the answer has two lengths"));
            }
            length = Some(n);
        } else if name == header::TRANSFER_ENCODING {
            // Only plain chunked: a coded body (`gzip, chunked`) would reach the client without
            // its coding named.
            chunked = value
                .to_str()
                .is_ok_and(|v| v.trim().eq_ignore_ascii_case("chunked"));
            if !chunked {
                return Err(invalid("the answer's transfer-encoding is not supported"));
            }
            continue;
        } else if name == header::CONNECTION {
            let v = value.to_str().unwrap_or("");
            if v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")) {
                keep_alive = false;
            } else if v
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("keep-alive"))
            {
                keep_alive = true;
            }
            continue;
        } else if is_hop_by_hop(&name) {
            continue;
        }
        headers.append(name, value);
    }
    let no_body = *method == Method::HEAD
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    let framing = if no_body {
        Framing::Empty
    } else if chunked {
        headers.remove(header::CONTENT_LENGTH);
        Framing::Chunked
    } else {
        match length {
            Some(0) => Framing::Empty,
            Some(n) => Framing::Length(n),
            None => {
                keep_alive = false;
                Framing::UntilClose
            }
        }
    };
    Ok(Some((
        len,
        Some(Head {
            status,
            headers,
            framing,
            keep_alive,
        }),
    )))
}

fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "keep-alive" | "proxy-authenticate" | "proxy-authorization" | "te" | "trailer" | "upgrade"
    )
}

/// Where a streamed body is.
enum Chunked {
    /// Before a chunk's size line.
    Size,
    /// Inside a chunk: bytes left, then its CRLF.
    Data(u64),
    /// After the last chunk: trailers up to an empty line.
    Trailers,
}

struct Streaming {
    client: Client,
    conn: Conn,
    framing: Framing,
    keep_alive: bool,
    left: u64,
    chunked: Chunked,
    done: bool,
}

impl Streaming {
    /// Reads more into the buffer; an early end is an error unless the body ends with the
    /// connection.
    async fn fill(&mut self) -> io::Result<usize> {
        self.conn.buf.reserve(STREAM_READ);
        self.conn.stream.read_buf(&mut self.conn.buf).await
    }

    /// The declared length was read whole.
    fn length_read(&self) -> bool {
        matches!(self.framing, Framing::Length(_)) && self.left == 0
    }

    /// Gives the connection back to the pool, unless its body ended with it.
    fn hand_back(self) {
        if self.framing != Framing::UntilClose {
            self.client.finish(self.conn, self.keep_alive);
        }
    }

    /// The next piece of the body, `None` at its end.
    async fn next(&mut self) -> io::Result<Option<Bytes>> {
        if self.done {
            return Ok(None);
        }
        match self.framing {
            Framing::Empty => Ok(None),
            Framing::UntilClose => {
                if self.conn.buf.is_empty() && self.fill().await? == 0 {
                    self.done = true;
                    return Ok(None);
                }
                Ok(Some(self.conn.buf.split().freeze()))
            }
            Framing::Length(_) => {
                if self.left == 0 {
                    return Ok(None);
                }
                if self.conn.buf.is_empty() && self.fill().await? == 0 {
                    return Err(eof("the answer ended early"));
                }
                let take = (self.left as usize).min(self.conn.buf.len());
                self.left -= take as u64;
                Ok(Some(self.conn.buf.split_to(take).freeze()))
            }
            Framing::Chunked => self.next_chunk().await,
        }
    }

    async fn next_chunk(&mut self) -> io::Result<Option<Bytes>> {
        loop {
            match self.chunked {
                Chunked::Size => match find_crlf(&self.conn.buf) {
                    Some(end) => {
                        let line = &self.conn.buf[..end];
                        let hex = line.split(|b| *b == b';').next().unwrap_or(b"");
                        let hex = std::str::from_utf8(hex)
                            .map_err(|_| invalid("a chunk size is invalid"))?;
                        let hex = hex.trim_end_matches([' ', '\t']);
                        if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                            return Err(invalid("a chunk size is invalid"));
                        }
                        let size = u64::from_str_radix(hex, 16)
                            .map_err(|_| invalid("a chunk size is invalid"))?;
                        self.conn.buf.advance(end + 2);
                        self.chunked = if size == 0 {
                            Chunked::Trailers
                        } else {
                            Chunked::Data(size)
                        };
                    }
                    None if self.conn.buf.len() > 1024 => {
                        return Err(invalid("a chunk size line is too long"))
                    }
                    None => self.more().await?,
                },
                Chunked::Data(0) => {
                    if self.conn.buf.len() < 2 {
                        self.more().await?;
                        continue;
                    }
                    if &self.conn.buf[..2] != b"\r\n" {
                        return Err(invalid("a chunk does not end with CRLF"));
                    }
                    self.conn.buf.advance(2);
                    self.chunked = Chunked::Size;
                }
                Chunked::Data(left) => {
                    if self.conn.buf.is_empty() {
                        self.more().await?;
                    }
                    let take = (left as usize).min(self.conn.buf.len());
                    self.chunked = Chunked::Data(left - take as u64);
                    return Ok(Some(self.conn.buf.split_to(take).freeze()));
                }
                Chunked::Trailers => match find_crlf(&self.conn.buf) {
                    Some(0) => {
                        self.conn.buf.advance(2);
                        self.done = true;
                        return Ok(None);
                    }
                    Some(end) => self.conn.buf.advance(end + 2),
                    None if self.conn.buf.len() > HEAD_MAX => {
                        return Err(invalid("the answer's trailers are too long"))
                    }
                    None => self.more().await?,
                },
            }
        }
    }

    async fn more(&mut self) -> io::Result<()> {
        match self.fill().await? {
            0 => Err(eof("the answer ended early")),
            _ => Ok(()),
        }
    }
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

/// A body read from its connection as it arrives; the connection goes back to the pool after
/// the last byte (never after an error, or when the body is dropped before its end).
fn stream_body(
    client: Client,
    conn: Conn,
    framing: Framing,
    keep_alive: bool,
) -> impl futures_util::Stream<Item = io::Result<Bytes>> + Send + 'static {
    let left = match framing {
        Framing::Length(n) => n,
        _ => 0,
    };
    let state = Streaming {
        client,
        conn,
        framing,
        keep_alive,
        left,
        chunked: Chunked::Size,
        done: false,
    };
    futures_util::stream::unfold(Some(state), |state| async move {
        let mut s = state?;
        match s.next().await {
            // The server may not ask again once the declared length is complete.
            Ok(Some(bytes)) if s.length_read() => {
                s.hand_back();
                Some((Ok(bytes), None))
            }
            Ok(Some(bytes)) => Some((Ok(bytes), Some(s))),
            Ok(None) => {
                s.hand_back();
                None
            }
            Err(e) => Some((Err(e), None)),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstreams_parse_from_base_urls() {
        let u = Upstream::parse("http://127.0.0.1:8001").unwrap();
        assert_eq!(
            (u.authority.as_str(), u.prefix.as_str()),
            ("127.0.0.1:8001", "")
        );
        let u = Upstream::parse("http://cp:8001/base/").unwrap();
        assert_eq!(
            (u.authority.as_str(), u.prefix.as_str()),
            ("cp:8001", "/base")
        );
        let u = Upstream::parse("10.0.0.5:9000").unwrap();
        assert_eq!(u.authority, "10.0.0.5:9000");
        assert!(Upstream::parse("https://cp:8001").is_none());
        assert!(Upstream::parse("http://").is_none());
    }

    #[test]
    fn heads_give_their_framing() {
        let (len, head) = parse_head(
            b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-type: text/plain\r\n\r\nhello",
            &Method::GET,
        )
        .unwrap()
        .unwrap();
        let head = head.unwrap();
        assert_eq!(len, 64);
        assert_eq!(head.framing, Framing::Length(5));
        assert!(head.keep_alive);
        assert_eq!(head.headers["content-type"], "text/plain");

        let (_, head) = parse_head(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n",
            &Method::GET,
        )
        .unwrap()
        .unwrap();
        let head = head.unwrap();
        assert_eq!(head.framing, Framing::Chunked);
        assert!(!head.keep_alive);
        assert!(head.headers.get("transfer-encoding").is_none());

        let (_, head) = parse_head(b"HTTP/1.1 100 Continue\r\n\r\n", &Method::POST)
            .unwrap()
            .unwrap();
        assert!(head.is_none());

        let (_, head) = parse_head(
            b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\n",
            &Method::HEAD,
        )
        .unwrap()
        .unwrap();
        assert_eq!(head.unwrap().framing, Framing::Empty);

        let (_, head) = parse_head(b"HTTP/1.0 200 OK\r\n\r\n", &Method::GET)
            .unwrap()
            .unwrap();
        let head = head.unwrap();
        assert_eq!(head.framing, Framing::UntilClose);
        assert!(!head.keep_alive);

        assert!(parse_head(b"HTTP/1.1 200 OK\r\ncontent-le", &Method::GET)
            .unwrap()
            .is_none());
        assert!(parse_head(b"garbage\r\n\r\n", &Method::GET).is_err());
        assert!(parse_head(
            b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n",
            &Method::GET
        )
        .is_err());
    }

    #[test]
    fn requests_carry_host_and_their_own_length() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("public.example"));
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("999"));
        headers.insert(header::EXPECT, HeaderValue::from_static("100-continue"));
        headers.insert("x-request-id", HeaderValue::from_static("abc"));
        let to = Upstream::parse("http://127.0.0.1:9/p").unwrap();
        let out = encode(
            &to,
            &Method::POST,
            "/a?b=1",
            &headers,
            &Bytes::from_static(b"{}"),
        );
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "POST /p/a?b=1 HTTP/1.1\r\nhost: 127.0.0.1:9\r\nx-request-id: abc\r\ncontent-length: 2\r\n\r\n{}"
        );
        let out = encode(&to, &Method::GET, "/", &HeaderMap::new(), &Bytes::new());
        assert_eq!(out, b"GET /p/ HTTP/1.1\r\nhost: 127.0.0.1:9\r\n\r\n");
    }

    use http_body_util::BodyExt;
    use tokio::io::{AsyncBufReadExt, BufReader};
    use tokio::net::TcpListener;

    /// Reads one request head (and a `content-length` body) from `r`; `None` at EOF.
    async fn read_request<R: tokio::io::AsyncBufRead + Unpin>(r: &mut R) -> Option<String> {
        let mut head = String::new();
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).await.ok()? == 0 {
                return None;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
            head.push_str(&line);
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0u8; length];
        r.read_exact(&mut body).await.ok()?;
        Some(head + &String::from_utf8(body).unwrap())
    }

    async fn body_of(res: Response<Body>) -> Vec<u8> {
        res.into_body().collect().await.unwrap().to_bytes().to_vec()
    }

    /// A peer that answers each connection's requests with `answers`, in order, then closes.
    async fn peer(answers: Vec<Vec<Vec<u8>>>) -> (Upstream, tokio::task::JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let to = Upstream::parse(&listener.local_addr().unwrap().to_string()).unwrap();
        let task = tokio::spawn(async move {
            let mut seen = Vec::new();
            for conn_answers in answers {
                let (sock, _) = listener.accept().await.unwrap();
                let (r, mut w) = sock.into_split();
                let mut r = BufReader::new(r);
                for answer in conn_answers {
                    let Some(req) = read_request(&mut r).await else {
                        break;
                    };
                    seen.push(req);
                    w.write_all(&answer).await.unwrap();
                }
            }
            seen
        });
        (to, task)
    }

    /// A peer that takes one request (with a declared length, or chunked) and answers 201;
    /// what it received, raw.
    async fn one_upload() -> (Upstream, tokio::task::JoinHandle<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let to = Upstream::parse(&listener.local_addr().unwrap().to_string()).unwrap();
        let task = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                let text = String::from_utf8_lossy(&got).to_ascii_lowercase();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length: "))
                        .map(|n| n.trim().parse::<usize>().unwrap());
                    let done = match length {
                        Some(n) => got.len() >= end + 4 + n,
                        None => text.ends_with("\r\n0\r\n\r\n"),
                    };
                    if done {
                        break;
                    }
                }
                match sock.read(&mut buf).await {
                    Ok(0) | Err(_) => return got,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            let answer = b"HTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n";
            sock.write_all(answer).await.unwrap();
            got
        });
        (to, task)
    }

    fn upload_parts(length: Option<usize>) -> http::request::Parts {
        let mut req = http::Request::builder()
            .method("POST")
            .uri("/api/projects/p/files/upload");
        if let Some(n) = length {
            req = req.header("content-length", n);
        }
        req.header("content-type", "multipart/form-data; boundary=x")
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    fn two_pieces() -> Body {
        let pieces = vec![
            Ok::<_, io::Error>(Bytes::from_static(b"hello")),
            Ok(Bytes::from_static(b" world")),
        ];
        Body::from_stream(futures_util::stream::iter(pieces))
    }

    #[tokio::test]
    async fn streamed_bodies_keep_their_length_or_go_chunked_and_stop_at_the_limit() {
        let client = Client::default();
        let t = Duration::from_secs(5);
        // A declared length passes as it is.
        let (to, peer) = one_upload().await;
        let res = client
            .send_streamed(&to, &upload_parts(Some(11)), two_pieces(), 100, t)
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let got = String::from_utf8(peer.await.unwrap()).unwrap();
        assert!(
            got.starts_with("POST /api/projects/p/files/upload HTTP/1.1\r\n"),
            "{got}"
        );
        assert!(
            got.contains("content-length: 11\r\n") && !got.contains("chunked"),
            "{got}"
        );
        assert!(got.ends_with("\r\n\r\nhello world"), "{got}");
        // Without one: chunked.
        let (to, peer) = one_upload().await;
        let res = client
            .send_streamed(&to, &upload_parts(None), two_pieces(), 100, t)
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let got = String::from_utf8(peer.await.unwrap()).unwrap();
        assert!(got.contains("transfer-encoding: chunked\r\n"), "{got}");
        assert!(!got.contains("content-length"), "{got}");
        assert!(
            got.ends_with("\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
            "{got}"
        );
        // Past the limit: no answer is waited for; the upstream sees the body end early.
        let (to, peer) = one_upload().await;
        let res = client
            .send_streamed(&to, &upload_parts(None), two_pieces(), 8, t)
            .await;
        assert!(matches!(res, Err(StreamError::TooLarge(_))));
        let got = String::from_utf8(peer.await.unwrap()).unwrap();
        assert!(
            got.ends_with("5\r\nhello\r\n"),
            "only what fitted was sent: {got}"
        );
        // Nobody listening: the body comes back for another upstream.
        let closed = Upstream::parse("127.0.0.1:1").unwrap();
        let res = client
            .send_streamed(&closed, &upload_parts(None), two_pieces(), 100, t)
            .await;
        assert!(matches!(res, Err(StreamError::Connect(_, _))));
    }

    #[tokio::test]
    async fn chunked_long_and_short_answers_come_whole_over_one_connection() {
        tokio::time::timeout(Duration::from_secs(10), chunked_long_and_short())
            .await
            .expect("a request waited for a connection the peer never accepts");
    }

    async fn chunked_long_and_short() {
        let long = vec![b'x'; BUFFERED_MAX * 2 + 7];
        let mut long_answer =
            format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", long.len()).into_bytes();
        long_answer.extend_from_slice(&long);
        let answers = vec![vec![
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5;x=1\r\nhello\r\n6\r\n world\r\n0\r\nx-trailer: 1\r\n\r\n".to_vec(),
            long_answer,
            b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\ncontent-type: application/json\r\n\r\n{}".to_vec(),
        ]];
        let (to, task) = peer(answers).await;
        let client = Client::default();
        let none = HeaderMap::new();
        let res = client
            .send(&to, &Method::GET, "/a", &none, &Bytes::new())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(body_of(res).await, b"hello world");
        let res = client
            .send(&to, &Method::GET, "/b", &none, &Bytes::new())
            .await
            .unwrap();
        // Read as a server sends it: up to the declared length, never asking past it.
        let mut body = res.into_body();
        let mut got = Vec::new();
        while got.len() < long.len() {
            let frame = body.frame().await.unwrap().unwrap();
            got.extend_from_slice(frame.data_ref().unwrap());
        }
        drop(body);
        assert_eq!(got, long);
        let idle = |c: &Client| {
            c.0.idle
                .lock()
                .unwrap()
                .values()
                .map(Vec::len)
                .sum::<usize>()
        };
        assert_eq!(
            idle(&client),
            1,
            "the connection went back once its length was read"
        );
        let res = client
            .send(
                &to,
                &Method::POST,
                "/c",
                &none,
                &Bytes::from_static(b"{\"a\":1}"),
            )
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        assert_eq!(res.headers()["content-type"], "application/json");
        assert_eq!(body_of(res).await, b"{}");
        drop(client);
        let seen = task.await.unwrap();
        // All three on the one connection the peer accepted, the last with its body.
        assert_eq!(seen.len(), 3);
        assert!(seen[2].starts_with("POST /c HTTP/1.1\r\n"), "{}", seen[2]);
        assert!(
            seen[2].ends_with("content-length: 7\r\n\r\n{\"a\":1}"),
            "{}",
            seen[2]
        );
    }

    #[tokio::test]
    async fn a_kept_connection_closed_unanswered_is_retried_only_when_idempotent() {
        // Each connection answers one request, then reads the next and hangs up on it.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let to = Upstream::parse(&listener.local_addr().unwrap().to_string()).unwrap();
        let task = tokio::spawn(async move {
            let mut seen = Vec::new();
            for _ in 0..2 {
                let (sock, _) = listener.accept().await.unwrap();
                let (r, mut w) = sock.into_split();
                let mut r = BufReader::new(r);
                seen.push(read_request(&mut r).await.unwrap());
                w.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .await
                    .unwrap();
                seen.extend(read_request(&mut r).await);
            }
            let third = tokio::time::timeout(Duration::from_millis(300), listener.accept()).await;
            (seen, third.is_ok())
        });
        let client = Client::default();
        let none = HeaderMap::new();
        let res = client
            .send(&to, &Method::GET, "/1", &none, &Bytes::new())
            .await;
        assert_eq!(body_of(res.unwrap()).await, b"ok");
        // Hung up on: sent once more, on a new connection.
        let res = client
            .send(&to, &Method::GET, "/2", &none, &Bytes::new())
            .await;
        assert_eq!(body_of(res.unwrap()).await, b"ok");
        // Hung up on too, but a POST may have been acted on: it is not sent twice.
        let res = client
            .send(&to, &Method::POST, "/3", &none, &Bytes::from_static(b"{}"))
            .await;
        assert!(matches!(res, Err(SendError::Exchange(_))));
        let (seen, third) = task.await.unwrap();
        let lines: Vec<&str> = seen.iter().map(|r| r.lines().next().unwrap()).collect();
        assert_eq!(
            lines,
            [
                "GET /1 HTTP/1.1",
                "GET /2 HTTP/1.1",
                "GET /2 HTTP/1.1",
                "POST /3 HTTP/1.1"
            ]
        );
        assert!(!third, "the POST was sent again");
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_connect_error() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let to = Upstream::parse(&listener.local_addr().unwrap().to_string()).unwrap();
        drop(listener);
        let res = Client::default()
            .send(&to, &Method::POST, "/", &HeaderMap::new(), &Bytes::new())
            .await;
        assert!(matches!(res, Err(SendError::Connect(_))));
    }
}
