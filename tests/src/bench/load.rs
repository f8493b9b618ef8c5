//! The load generator: N keep-alive HTTP/1.1 connections to the router, one task each, writing
//! requests and reading answers directly on the socket so the generator itself costs little CPU.
//! Requests answered during the warm-up are dropped; every later one up to the end is recorded
//! with its latency.

use super::seed::Row;
use anyhow::{anyhow, bail};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The list request of the workload (spec/data.md syntax).
pub const LIST_QUERY: &str = "published=true&views__gt=500&sort=-created_at&limit=50";

/// A request type of the workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `GET …/data/posts/{random id}`
    Get,
    /// `GET …/data/posts?` [`LIST_QUERY`]
    List,
    /// The list without its count (`&skip_total=true`)
    ListNoTotal,
    /// `POST …/data/posts` with a new row
    Create,
    /// `PATCH …/data/posts/{random id}` with a new `views`
    Patch,
    /// `GET …/files/{Target::file}/download` (the file benchmark; not in [`Kind::ALL`])
    Download,
}

impl Kind {
    /// Every type, in the order they are measured (create last: it grows the table).
    pub const ALL: [Kind; 5] = [
        Kind::Get,
        Kind::List,
        Kind::ListNoTotal,
        Kind::Patch,
        Kind::Create,
    ];

    /// The name `--only` takes.
    pub fn short(self) -> &'static str {
        match self {
            Kind::ListNoTotal => "list-no-total",
            k => k.name(),
        }
    }

    /// The row name in the tables.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Get => "get",
            Kind::List => "list",
            Kind::ListNoTotal => "list (no total)",
            Kind::Create => "create",
            Kind::Patch => "patch",
            Kind::Download => "download",
        }
    }
}

/// Where and as whom to send.
#[derive(Debug, Clone)]
pub struct Target {
    /// The router.
    pub addr: SocketAddr,
    /// Project id.
    pub project: String,
    /// Bearer token.
    pub token: String,
    /// Send this API key (`X-API-Key`) instead of the bearer token.
    pub api_key: Option<String>,
    /// Ids `1..=rows` exist.
    pub rows: i64,
    /// The file [`Kind::Download`] fetches.
    pub file: Option<String>,
}

/// What one measurement saw.
#[derive(Debug, Default)]
pub struct Stats {
    /// Length of the measured window, in seconds.
    pub secs: f64,
    /// Latency of every answered request, in microseconds, sorted.
    pub latencies_us: Vec<u32>,
    /// Answers that were not 2xx.
    pub non_2xx: u64,
    /// Requests that got no answer (connection errors).
    pub errors: u64,
}

impl Stats {
    /// Answered requests per second.
    pub fn rps(&self) -> f64 {
        self.latencies_us.len() as f64 / self.secs
    }

    /// The latency below which a fraction `q` of the requests fall.
    pub fn percentile(&self, q: f64) -> Duration {
        percentile(&self.latencies_us, q)
    }
}

/// The median of some figures (the upper one of an even count).
pub fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Figures as `1, 2, 3` (whole numbers).
pub fn rounds(v: &[f64]) -> String {
    v.iter()
        .map(|x| format!("{x:.0}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The value below which a fraction `q` of sorted microsecond latencies fall (nearest rank).
pub fn percentile(sorted_us: &[u32], q: f64) -> Duration {
    if sorted_us.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted_us.len() as f64 * q).ceil() as usize).max(1) - 1;
    Duration::from_micros(sorted_us[i.min(sorted_us.len() - 1)].into())
}

/// The request's bytes on the wire.
fn request(t: &Target, kind: Kind, rng: &mut StdRng) -> Vec<u8> {
    let base = format!("/api/projects/{}/data/posts", t.project);
    let (method, uri, body) = match kind {
        Kind::Get => ("GET", format!("{base}/{}", rng.gen_range(1..=t.rows)), None),
        Kind::List => ("GET", format!("{base}?{LIST_QUERY}"), None),
        Kind::ListNoTotal => ("GET", format!("{base}?{LIST_QUERY}&skip_total=true"), None),
        Kind::Create => ("POST", base, Some(Row::random(rng).json())),
        Kind::Download => {
            let file = t.file.as_deref().unwrap_or_default();
            let uri = format!("/api/projects/{}/files/{file}/download", t.project);
            ("GET", uri, None)
        }
        Kind::Patch => {
            let id = rng.gen_range(1..=t.rows);
            let body = serde_json::json!({ "views": rng.gen_range(0..10_000) });
            ("PATCH", format!("{base}/{id}"), Some(body))
        }
    };
    let auth = match &t.api_key {
        Some(key) => format!("x-api-key: {key}"),
        None => format!("authorization: Bearer {}", t.token),
    };
    let mut head = format!("{method} {uri} HTTP/1.1\r\nhost: {}\r\n{auth}\r\n", t.addr);
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    if !body.is_empty() {
        head += &format!(
            "content-type: application/json\r\ncontent-length: {}\r\n",
            body.len()
        );
    }
    head += "\r\n";
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body.as_bytes());
    bytes
}

/// One keep-alive HTTP/1.1 connection, spoken directly: write a request, read one response
/// (`content-length` or chunked). Cheaper than a general client, like pgbench on its side.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    async fn open(addr: SocketAddr) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buf: Vec::with_capacity(64 * 1024),
        })
    }

    /// Reads more bytes into the buffer; the connection closing is an error.
    async fn fill(&mut self) -> anyhow::Result<()> {
        if self.buf.capacity() - self.buf.len() < 16 * 1024 {
            self.buf.reserve(64 * 1024);
        }
        if self.stream.read_buf(&mut self.buf).await? == 0 {
            bail!("connection closed");
        }
        Ok(())
    }

    /// Sends `req` and reads the whole answer; returns its status.
    async fn send(&mut self, req: &[u8]) -> anyhow::Result<u16> {
        self.stream.write_all(req).await?;
        let (status, head_len, framing) = loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut res = httparse::Response::new(&mut headers);
            if let httparse::Status::Complete(n) = res.parse(&self.buf)? {
                let framing = framing(res.headers)?;
                break (res.code.unwrap_or(0), n, framing);
            }
            self.fill().await?;
        };
        self.buf.drain(..head_len);
        match framing {
            Framing::Length(n) => {
                while self.buf.len() < n {
                    self.fill().await?;
                }
                self.buf.drain(..n);
            }
            Framing::Chunked => loop {
                let (size_len, size) = loop {
                    if let httparse::Status::Complete((n, size)) =
                        httparse::parse_chunk_size(&self.buf)
                            .map_err(|_| anyhow!("bad chunk size"))?
                    {
                        break (n, size as usize);
                    }
                    self.fill().await?;
                };
                // The chunk, then its CRLF (after the last, empty chunk: the final CRLF).
                while self.buf.len() < size_len + size + 2 {
                    self.fill().await?;
                }
                self.buf.drain(..size_len + size + 2);
                if size == 0 {
                    break;
                }
            },
        }
        Ok(status)
    }
}

enum Framing {
    Length(usize),
    Chunked,
}

fn framing(headers: &[httparse::Header<'_>]) -> anyhow::Result<Framing> {
    for h in headers {
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(h.value)?.trim().parse()?;
            return Ok(Framing::Length(n));
        }
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Ok(Framing::Chunked);
        }
    }
    bail!("response without length")
}

/// One connection's loop; returns its share of the figures.
async fn client(t: Arc<Target>, kind: Kind, seed: u64, from: Instant, end: Instant) -> Stats {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = Stats::default();
    let mut conn: Option<Conn> = None;
    while Instant::now() < end {
        let c = match conn.as_mut() {
            Some(c) => c,
            None => match Conn::open(t.addr).await {
                Ok(c) => conn.insert(c),
                Err(_) => {
                    out.errors += u64::from(Instant::now() >= from);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let req = request(&t, kind, &mut rng);
        let started = Instant::now();
        let result = c.send(&req).await;
        let done = Instant::now();
        let counted = done >= from && done < end;
        match result {
            Ok(status) if counted => {
                let us = (done - started).as_micros().min(u128::from(u32::MAX)) as u32;
                out.latencies_us.push(us);
                out.non_2xx += u64::from(!(200..300).contains(&status));
            }
            Ok(_) => {}
            Err(_) => {
                conn = None;
                out.errors += u64::from(counted);
            }
        }
    }
    out
}

/// Runs `kind` over `connections` connections: `warmup`, then `duration` measured.
pub async fn run(
    target: &Target,
    kind: Kind,
    connections: usize,
    warmup: Duration,
    duration: Duration,
) -> Stats {
    let target = Arc::new(target.clone());
    let from = Instant::now() + warmup;
    let end = from + duration;
    let tasks: Vec<_> = (0..connections)
        .map(|i| tokio::spawn(client(target.clone(), kind, i as u64 + 1, from, end)))
        .collect();
    let mut all = Stats {
        secs: duration.as_secs_f64(),
        ..Stats::default()
    };
    for task in tasks {
        let part = task.await.expect("load task");
        all.latencies_us.extend(part.latencies_us);
        all.non_2xx += part.non_2xx;
        all.errors += part.errors;
    }
    all.latencies_us.sort_unstable();
    all
}
