//! The realtime figures of `make bench` (`--realtime-only`): many Server-Sent Events streams
//! through the router on the one worker, half on a whole collection and half on a filter topic,
//! while records are created at a steady rate. Reports whether every subscriber got exactly the
//! events it should (none lost, none twice, ids rising), how long each event took from its
//! `timestamp` (taken inside the writing transaction, so an upper bound of commit → arrival) to
//! its arrival here, and the worker's resident memory per idle subscriber.
//!
//! The machine is small and this process shares it, so each stream is read cheaply: one task
//! per stream on a plain socket (HTTP/1.1 spoken directly, as in [`super::load`]), which decodes
//! the chunked body, splits lines, and reads only the `id:` line and the tail of the `data:` line
//! (`record_id`, `timestamp`). Creates are paced on a thread of their own, so that thousands of
//! busy readers do not delay them.

use super::load::percentile;
use super::procs::Meter;
use super::seed::{Project, Row};
use anyhow::bail;
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{watch, Semaphore};

/// The collection every topic is on (the seeded one).
const COLLECTION: &str = "posts";
/// The filter topic's parameters: every other create matches.
const FILTER: &str = "published=true";
/// Creates in flight at most (the connections the pacer uses).
const CREATE_CONNECTIONS: usize = 16;
/// Streams being opened at once.
const OPENING: usize = 64;
/// How long the streams stay idle before the memory is read again.
const IDLE: Duration = Duration::from_secs(5);
/// How long delivery may take after the last create.
const DRAIN: Duration = Duration::from_secs(30);

/// What to run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Streams in all; half on the collection, half on the filter topic.
    pub subscribers: usize,
    /// Creates per second.
    pub rate: u32,
    /// How long creates run.
    pub duration: Duration,
    /// Records created now get ids from this one up (the table was reset to the ids below it).
    pub first_id: i64,
}

/// What one run found.
#[derive(Debug, Default)]
pub struct Figures {
    /// Streams asked for.
    pub subscribers: usize,
    /// Of them on the filter topic.
    pub filtered: usize,
    /// Streams that said `: ready`.
    pub ready: usize,
    /// Why streams could not be opened (status and body), the first few.
    pub open_errors: Vec<String>,
    /// Seconds until every stream was ready.
    pub open_secs: f64,
    /// Target creates per second.
    pub rate: u32,
    /// Creates sent.
    pub issued: u64,
    /// Creates answered 201.
    pub created: u64,
    /// Of them matching the filter topic.
    pub created_matching: u64,
    /// Creates answered otherwise, or not at all (the first few reasons).
    pub create_errors: Vec<String>,
    /// Creates per second achieved (201s from the first send to the last answer).
    pub achieved: f64,
    /// Create latencies, sorted, in microseconds.
    pub create_us: Vec<u32>,
    /// Events every ready stream should have got, summed.
    pub expected: u64,
    /// Of them, delivered.
    pub delivered: u64,
    /// `record.created` events received in all (including any not expected).
    pub received: u64,
    /// The same record's event received again on a stream.
    pub duplicates: u64,
    /// Events a stream should not have got (another record, or one its filter does not match).
    pub unexpected: u64,
    /// Event ids that did not rise on their stream.
    pub unordered: u64,
    /// Events of other names (`reset`, `error`), by name.
    pub other_events: Vec<String>,
    /// Streams that ended before the run did, with why (the first few).
    pub dropped: usize,
    /// See `dropped`.
    pub drop_reasons: Vec<String>,
    /// Commit → arrival of every received event, sorted, in microseconds.
    pub latencies_us: Vec<u32>,
    /// Seconds from the last create's answer until every expected event arrived (or the wait
    /// ended).
    pub drain_secs: f64,
    /// True when the wait for the last events timed out.
    pub drain_timed_out: bool,
    /// Worker `VmRSS` before the streams and after they idled, KiB.
    pub worker_kib: (u64, u64),
    /// Router `VmRSS` before the streams and after they idled, KiB.
    pub router_kib: (u64, u64),
    /// CPU seconds of router, worker, control plane, Postgres, this process over the creates
    /// and the delivery that followed, and that window's length.
    pub cpu: ([f64; 6], f64),
    /// Warning and error lines the worker and router logged during the run.
    pub log_lines: Vec<String>,
}

impl Figures {
    fn per_sub(&self, (before, after): (u64, u64)) -> f64 {
        (after as f64 - before as f64) / self.ready.max(1) as f64
    }

    /// Worker KiB per idle subscriber.
    pub fn worker_kib_per_sub(&self) -> f64 {
        self.per_sub(self.worker_kib)
    }

    /// Events expected but not delivered.
    pub fn lost(&self) -> u64 {
        self.expected - self.delivered
    }

    /// Delivery latency at `q`, in ms.
    pub fn ms(&self, q: f64) -> f64 {
        percentile(&self.latencies_us, q).as_secs_f64() * 1000.0
    }

    /// The markdown section.
    pub fn markdown(&self) -> String {
        let n = |x: u64| thousands(x);
        let mut md = String::new();
        let _ = writeln!(
            md,
            "### Realtime: {} subscribers while creates run at {}/s\n",
            n(self.subscribers as u64),
            self.rate
        );
        let _ = writeln!(
            md,
            "Server-Sent Events streams through the router to the one worker, opened with the \
             project's API key: {} on `{COLLECTION}`, {} on `{COLLECTION}?{FILTER}` (every other \
             create matches). Then creates paced at {}/s over up to {CREATE_CONNECTIONS} \
             connections, on a thread of their own. Latency: from each event's `timestamp` (taken \
             inside the writing transaction) to its arrival at the benchmark's reader, over every \
             event received. Memory: worker `VmRSS` after the streams idled {} s, minus before \
             they opened, per stream.\n",
            n((self.subscribers - self.filtered) as u64),
            n(self.filtered as u64),
            self.rate,
            IDLE.as_secs()
        );
        let _ = writeln!(md, "| measure | value | target |\n| --- | ---: | ---: |");
        let _ = writeln!(
            md,
            "| streams ready | {} / {} (in {:.1} s) | all |",
            n(self.ready as u64),
            n(self.subscribers as u64),
            self.open_secs
        );
        let _ = writeln!(
            md,
            "| creates answered 201 / sent | {} / {} | all |",
            n(self.created),
            n(self.issued)
        );
        let _ = writeln!(
            md,
            "| creates/s achieved | {:.0} | {} |",
            self.achieved, self.rate
        );
        let _ = writeln!(
            md,
            "| create p50 / p99 | {:.1} / {:.1} ms | |",
            percentile(&self.create_us, 0.5).as_secs_f64() * 1000.0,
            percentile(&self.create_us, 0.99).as_secs_f64() * 1000.0
        );
        let _ = writeln!(
            md,
            "| events expected / delivered | {} / {} | all |",
            n(self.expected),
            n(self.delivered)
        );
        let _ = writeln!(md, "| events lost | {} | 0 |", n(self.lost()));
        let _ = writeln!(
            md,
            "| duplicates / unexpected / ids not rising | {} / {} / {} | 0 |",
            n(self.duplicates),
            n(self.unexpected),
            n(self.unordered)
        );
        let _ = writeln!(md, "| streams ended early | {} | 0 |", self.dropped);
        let _ = writeln!(
            md,
            "| delivery p50 / p99 / max | {:.0} / {:.0} / {:.0} ms | p99 < 200 ms |",
            self.ms(0.5),
            self.ms(0.99),
            self.ms(1.0)
        );
        let _ = writeln!(
            md,
            "| last event after the last create's answer | {:.1} s{} | |",
            self.drain_secs,
            if self.drain_timed_out {
                " (gave up)"
            } else {
                ""
            }
        );
        let _ = writeln!(
            md,
            "| worker RSS per idle subscriber | {:.1} KiB ({} → {} MiB) | < 20 KiB |",
            self.worker_kib_per_sub(),
            self.worker_kib.0 / 1024,
            self.worker_kib.1 / 1024
        );
        let _ = writeln!(
            md,
            "| router RSS per idle subscriber | {:.1} KiB ({} → {} MiB) | |",
            self.per_sub(self.router_kib),
            self.router_kib.0 / 1024,
            self.router_kib.1 / 1024
        );
        let (cpu, secs) = self.cpu;
        let core = |i: usize| cpu[i] / secs.max(0.001);
        let _ = writeln!(
            md,
            "| CPU while creating and delivering: router / worker / postgres / reader | \
             {:.2} / {:.2} / {:.2} / {:.2} cores | |",
            core(0),
            core(1),
            core(3),
            core(4)
        );
        let mut notes = Vec::new();
        if !self.open_errors.is_empty() {
            notes.push(format!(
                "Streams not opened: {}",
                self.open_errors.join("; ")
            ));
        }
        if !self.create_errors.is_empty() {
            notes.push(format!(
                "Creates that failed: {}",
                self.create_errors.join("; ")
            ));
        }
        if !self.drop_reasons.is_empty() {
            notes.push(format!(
                "Streams that ended: {}",
                self.drop_reasons.join("; ")
            ));
        }
        if !self.other_events.is_empty() {
            notes.push(format!("Other events: {}", self.other_events.join("; ")));
        }
        if !self.log_lines.is_empty() {
            notes.push(format!(
                "Warnings and errors logged: {}",
                self.log_lines.join("; ")
            ));
        }
        if !notes.is_empty() {
            md.push('\n');
            for note in notes {
                let _ = writeln!(md, "- {note}");
            }
        }
        md
    }
}

/// `12345` as `12,345`.
fn thousands(x: u64) -> String {
    let s = x.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Raises this process's open-file limit (inherited by the stack's processes when called before
/// they start) to at least `want`, within the hard limit.
#[allow(unsafe_code)]
pub fn raise_open_files(want: u64) -> anyhow::Result<()> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            bail!("getrlimit: {}", std::io::Error::last_os_error());
        }
        if lim.rlim_cur >= want {
            return Ok(());
        }
        if lim.rlim_max < want {
            bail!(
                "the open-file limit is {} at most; the realtime benchmark needs {want}",
                lim.rlim_max
            );
        }
        lim.rlim_cur = want;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
            bail!("setrlimit: {}", std::io::Error::last_os_error());
        }
    }
    Ok(())
}

fn rss_kib(pid: u32) -> u64 {
    super::procs::rss_kib(pid).unwrap_or(0)
}

fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// Position of the first `\n` in `h`, eight bytes at a time (event lines are long).
fn find_newline(h: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    const NL: u64 = LO * b'\n' as u64;
    let mut i = 0;
    while i + 8 <= h.len() {
        let mut word = [0u8; 8];
        word.copy_from_slice(&h[i..i + 8]);
        let w = u64::from_le_bytes(word) ^ NL;
        if w.wrapping_sub(LO) & !w & HI != 0 {
            break;
        }
        i += 8;
    }
    h[i..].iter().position(|&b| b == b'\n').map(|p| p + i)
}

/// The last place of `needle` in `h` (the fields wanted close the data line).
fn rfind(h: &[u8], needle: &[u8]) -> Option<usize> {
    h.windows(needle.len()).rposition(|w| w == needle)
}

/// The value after `key` (`"record_id":"7"` or `"record_id":7`), without quotes.
fn value_after<'a>(data: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let at = rfind(data, key)? + key.len();
    let rest = data.get(at..)?;
    let rest = rest.strip_prefix(b"\"").unwrap_or(rest);
    let end = rest
        .iter()
        .position(|&b| b == b'"' || b == b',' || b == b'}')?;
    Some(&rest[..end])
}

fn parse_i64(b: &[u8]) -> Option<i64> {
    std::str::from_utf8(b).ok()?.trim().parse().ok()
}

/// Record ids as bits from `first`.
#[derive(Debug, Default, Clone)]
struct Bits(Vec<u64>);

impl Bits {
    /// Sets bit `i`; false when it was set already.
    fn set(&mut self, i: usize) -> bool {
        let (w, b) = (i / 64, 1u64 << (i % 64));
        if self.0.len() <= w {
            self.0.resize(w + 1, 0);
        }
        let was = self.0[w] & b != 0;
        self.0[w] |= b;
        !was
    }

    fn word(&self, w: usize) -> u64 {
        self.0.get(w).copied().unwrap_or(0)
    }

    /// `(in both, in self only)`.
    fn compare(&self, expected: &Bits) -> (u64, u64) {
        let len = self.0.len().max(expected.0.len());
        let (mut both, mut extra) = (0, 0);
        for w in 0..len {
            let (s, e) = (self.word(w), expected.word(w));
            both += u64::from((s & e).count_ones());
            extra += u64::from((s & !e).count_ones());
        }
        (both, extra)
    }
}

/// What one stream saw.
#[derive(Debug, Default)]
struct Tally {
    filtered: bool,
    ready: bool,
    open_error: Option<String>,
    seen: Bits,
    received: u64,
    duplicates: u64,
    /// Records below the first id, or ids that were no number.
    foreign: u64,
    unordered: u64,
    other: Vec<String>,
    ended: Option<String>,
    latencies_us: Vec<u32>,
}

/// The event being read (fields of the lines so far).
#[derive(Default)]
struct Pending {
    id: Option<i64>,
    name: Vec<u8>,
    record: Option<i64>,
    timestamp_us: Option<i64>,
    data: Vec<u8>,
}

/// One stream's reader: the chunked body, then its lines.
struct Reader {
    tally: Tally,
    first_id: i64,
    last_id: i64,
    pending: Pending,
    /// Body bytes left of the current chunk; `None` between chunks.
    chunk_left: Option<usize>,
    /// The body is chunked (else it runs until the connection closes).
    chunked: bool,
    raw: Vec<u8>,
    text: Vec<u8>,
    progress: Arc<AtomicU64>,
}

impl Reader {
    /// Moves decoded body bytes from `raw` to `text`; false once the body ended.
    fn dechunk(&mut self) -> Result<bool, String> {
        if !self.chunked {
            self.text.extend_from_slice(&self.raw);
            self.raw.clear();
            return Ok(true);
        }
        let mut at = 0;
        let mut open = true;
        loop {
            match self.chunk_left {
                Some(0) => {
                    // The CRLF after a chunk's bytes.
                    if self.raw.len() - at < 2 {
                        break;
                    }
                    at += 2;
                    self.chunk_left = None;
                }
                Some(left) => {
                    let n = left.min(self.raw.len() - at);
                    if n == 0 {
                        break;
                    }
                    self.text.extend_from_slice(&self.raw[at..at + n]);
                    at += n;
                    self.chunk_left = Some(left - n);
                }
                None => match httparse::parse_chunk_size(&self.raw[at..]) {
                    Ok(httparse::Status::Complete((n, size))) => {
                        at += n;
                        if size == 0 {
                            open = false;
                            break;
                        }
                        self.chunk_left = Some(size as usize);
                    }
                    Ok(httparse::Status::Partial) => break,
                    Err(_) => return Err("bad chunk size".into()),
                },
            }
        }
        self.raw.drain(..at);
        Ok(open)
    }

    /// Reads the complete lines of `text`; returns how many events ended.
    fn lines(&mut self, arrived_us: i64) -> u64 {
        let mut at = 0;
        let mut events = 0;
        while let Some(nl) = find_newline(&self.text[at..]) {
            let end = at + nl;
            let line_start = at;
            at = end + 1;
            let line = &self.text[line_start..end];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                events += self.dispatch(arrived_us);
                continue;
            }
            if let Some(comment) = line.strip_prefix(b":") {
                if comment.trim_ascii_start().starts_with(b"ready") {
                    self.tally.ready = true;
                }
                continue;
            }
            let (field, value) = match line.iter().position(|&b| b == b':') {
                Some(i) => (&line[..i], &line[i + 1..]),
                None => (line, &b""[..]),
            };
            let value = value.strip_prefix(b" ").unwrap_or(value);
            match field {
                b"id" => self.pending.id = parse_i64(value),
                b"event" => self.pending.name = value.to_vec(),
                b"data" => {
                    if self.pending.name.is_empty() || self.pending.name == b"record.created" {
                        self.pending.record =
                            value_after(value, b"\"record_id\":").and_then(parse_i64);
                        self.pending.timestamp_us = value_after(value, b"\"timestamp\":")
                            .and_then(|t| std::str::from_utf8(t).ok())
                            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                            .map(|t| t.timestamp_micros());
                    } else {
                        self.pending.data = value.to_vec();
                    }
                }
                _ => {}
            }
        }
        self.text.drain(..at);
        events
    }

    /// An event ended (empty line); returns 1 when it was a new record's first event here.
    fn dispatch(&mut self, arrived_us: i64) -> u64 {
        let p = std::mem::take(&mut self.pending);
        if p.name.is_empty() {
            return 0;
        }
        if p.name != b"record.created" {
            let name = String::from_utf8_lossy(&p.name);
            let data = String::from_utf8_lossy(&p.data);
            self.tally.other.push(format!("{name}: {data}"));
            if p.name == b"error" {
                self.tally.ended = Some(format!("event: error, {data}"));
            }
            return 0;
        }
        self.tally.received += 1;
        match p.id {
            Some(id) if id > self.last_id => self.last_id = id,
            _ => self.tally.unordered += 1,
        }
        if let Some(ts) = p.timestamp_us {
            let us = (arrived_us - ts).clamp(0, i64::from(u32::MAX));
            self.tally.latencies_us.push(us as u32);
        }
        match p.record {
            Some(r) if r >= self.first_id => {
                if self.tally.seen.set((r - self.first_id) as usize) {
                    return 1;
                }
                self.tally.duplicates += 1;
                0
            }
            _ => {
                self.tally.foreign += 1;
                0
            }
        }
    }

    /// Reads more of the stream; `Err` says why it ended.
    async fn fill(&mut self, sock: &mut TcpStream) -> Result<(), String> {
        if self.raw.capacity() - self.raw.len() < 8 * 1024 {
            self.raw.reserve(32 * 1024);
        }
        match sock.read_buf(&mut self.raw).await {
            Ok(0) => Err("the connection closed".into()),
            Ok(_) => Ok(()),
            Err(e) => Err(format!("read: {e}")),
        }
    }

    /// Decodes and reads what came; `Err` when the body ended.
    fn take_in(&mut self) -> Result<(), String> {
        let open = self.dechunk()?;
        let events = self.lines(now_us());
        if events > 0 {
            self.progress.fetch_add(events, Ordering::Relaxed);
        }
        if open {
            Ok(())
        } else {
            Err("the server ended the stream".into())
        }
    }
}

/// Opens one stream and reads it until `stop`; counts it in `ready` once live.
#[allow(clippy::too_many_arguments)]
async fn stream(
    router: SocketAddr,
    path: String,
    api_key: String,
    filtered: bool,
    first_id: i64,
    opening: Arc<Semaphore>,
    ready: Arc<AtomicUsize>,
    progress: Arc<AtomicU64>,
    mut stop: watch::Receiver<bool>,
) -> Tally {
    let mut r = Reader {
        tally: Tally {
            filtered,
            ..Tally::default()
        },
        first_id,
        last_id: i64::MIN,
        pending: Pending::default(),
        chunk_left: None,
        chunked: false,
        raw: Vec::with_capacity(4096),
        text: Vec::with_capacity(4096),
        progress,
    };
    let permit = opening.acquire_owned().await;
    let mut sock = match TcpStream::connect(router).await {
        Ok(s) => s,
        Err(e) => {
            r.tally.open_error = Some(format!("connect: {e}"));
            return r.tally;
        }
    };
    let req = format!(
        "GET {path} HTTP/1.1\r\nhost: {router}\r\nx-api-key: {api_key}\r\naccept: text/event-stream\r\n\r\n"
    );
    if let Err(e) = sock.write_all(req.as_bytes()).await {
        r.tally.open_error = Some(format!("send: {e}"));
        return r.tally;
    }
    // The head.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut res = httparse::Response::new(&mut headers);
        match res.parse(&r.raw) {
            Ok(httparse::Status::Complete(n)) => {
                r.chunked = res.headers.iter().any(|h| {
                    h.name.eq_ignore_ascii_case("transfer-encoding")
                        && String::from_utf8_lossy(h.value)
                            .to_ascii_lowercase()
                            .contains("chunked")
                });
                let code = res.code.unwrap_or(0);
                r.raw.drain(..n);
                break code;
            }
            Ok(httparse::Status::Partial) => {}
            Err(e) => {
                r.tally.open_error = Some(format!("bad answer: {e}"));
                return r.tally;
            }
        }
        match tokio::time::timeout_at(deadline, r.fill(&mut sock)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                r.tally.open_error = Some(format!("before the answer: {e}"));
                return r.tally;
            }
            Err(_) => {
                r.tally.open_error = Some("no answer within 60 s".into());
                return r.tally;
            }
        }
    };
    if status != 200 {
        // What came of the body, for the report.
        let _ = tokio::time::timeout(Duration::from_secs(1), r.fill(&mut sock)).await;
        let _ = r.dechunk();
        let body = String::from_utf8_lossy(&r.text)
            .chars()
            .take(200)
            .collect::<String>();
        r.tally.open_error = Some(format!("HTTP {status}: {}", body.trim()));
        return r.tally;
    }
    // Until `: ready` (which may have come with the head).
    let mut got = r.take_in();
    while got.is_ok() && !r.tally.ready {
        got = match tokio::time::timeout_at(deadline, r.fill(&mut sock)).await {
            Ok(filled) => filled.and_then(|()| r.take_in()),
            Err(_) => Err("no `: ready` within 60 s".into()),
        };
    }
    if let Err(e) = got {
        r.tally.open_error = Some(e);
        return r.tally;
    }
    ready.fetch_add(1, Ordering::Relaxed);
    drop(permit);
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            got = r.fill(&mut sock) => {
                if let Err(e) = got.and_then(|()| r.take_in()) {
                    if r.tally.ended.is_none() {
                        r.tally.ended = Some(e);
                    }
                    break;
                }
            }
        }
    }
    // Whatever is still buffered counts.
    let _ = r.take_in();
    r.tally
}

/// What the pacer found.
#[derive(Default)]
struct Creates {
    issued: u64,
    /// `(record id, matches the filter)` of each 201.
    ok: Vec<(i64, bool)>,
    errors: Vec<String>,
    error_count: u64,
    latencies_us: Vec<u32>,
    secs: f64,
}

/// Creates `rate` records per second for `duration` on a thread of its own; every other one
/// matches the filter topic.
fn create_at_rate(
    router: SocketAddr,
    project: &Project,
    rate: u32,
    duration: Duration,
) -> std::thread::JoinHandle<anyhow::Result<Creates>> {
    let url = format!(
        "http://{router}/api/projects/{}/data/{COLLECTION}",
        project.id
    );
    let key = project.api_key.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async move {
            let http = reqwest::Client::builder()
                .pool_max_idle_per_host(CREATE_CONNECTIONS)
                .build()?;
            let total = (f64::from(rate) * duration.as_secs_f64()).round() as u64;
            let slots = Arc::new(Semaphore::new(CREATE_CONNECTIONS));
            let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate)));
            let mut rng = StdRng::seed_from_u64(7);
            let mut tasks = Vec::with_capacity(total as usize);
            let start = Instant::now();
            for i in 0..total {
                tick.tick().await;
                let slot = slots.clone().acquire_owned().await?;
                let matching = i % 2 == 0;
                let mut body = Row::random(&mut rng).json();
                body["published"] = matching.into();
                let req = http.post(&url).header("x-api-key", &key).json(&body);
                tasks.push(tokio::spawn(async move {
                    let sent = Instant::now();
                    let res = req.send().await;
                    let took = sent.elapsed();
                    drop(slot);
                    let res = res.map_err(|e| format!("send: {e}"))?;
                    let status = res.status().as_u16();
                    let body: serde_json::Value = res.json().await.unwrap_or_default();
                    if status != 201 {
                        return Err(format!("HTTP {status}: {body}"));
                    }
                    let id = body["id"]
                        .as_i64()
                        .or_else(|| body["id"].as_str().and_then(|s| s.parse().ok()))
                        .ok_or_else(|| format!("a 201 without a numeric id: {body}"))?;
                    Ok((id, matching, took))
                }));
            }
            let mut out = Creates {
                issued: total,
                ..Creates::default()
            };
            for t in tasks {
                match t.await? {
                    Ok((id, matching, took)) => {
                        out.ok.push((id, matching));
                        out.latencies_us
                            .push(took.as_micros().min(u128::from(u32::MAX)) as u32);
                    }
                    Err(e) => {
                        out.error_count += 1;
                        if out.errors.len() < 5 {
                            out.errors.push(e);
                        }
                    }
                }
            }
            out.secs = start.elapsed().as_secs_f64();
            out.latencies_us.sort_unstable();
            Ok(out)
        })
    })
}

/// Lines with `WARN` or `ERROR` in `log` after byte `from` (the first few, and how many).
fn log_warnings(log: &Path, from: u64) -> (usize, Vec<String>) {
    let text = std::fs::read(log).unwrap_or_default();
    let text = String::from_utf8_lossy(text.get(from as usize..).unwrap_or_default());
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        .collect();
    let first = lines
        .iter()
        .take(3)
        .map(|l| l.chars().take(300).collect())
        .collect();
    (lines.len(), first)
}

fn log_len(log: &Path) -> u64 {
    std::fs::metadata(log).map_or(0, |m| m.len())
}

fn say(msg: &str) {
    eprintln!("[bench] {msg}");
}

/// Runs the measurement against the stack behind `router`; `pids` are the worker's and the
/// router's, `log_dir` holds their logs.
pub async fn measure(
    router: SocketAddr,
    project: &Project,
    pids: (u32, u32),
    meter: &Meter,
    log_dir: &Path,
    settings: Settings,
) -> anyhow::Result<Figures> {
    let (worker_pid, router_pid) = pids;
    let logs = [log_dir.join("worker.log"), log_dir.join("router.log")];
    let log_from = [log_len(&logs[0]), log_len(&logs[1])];
    let n = settings.subscribers;
    let filtered = n / 2;
    let mut fig = Figures {
        subscribers: n,
        filtered,
        rate: settings.rate,
        ..Figures::default()
    };
    let before = (rss_kib(worker_pid), rss_kib(router_pid));
    say(&format!(
        "realtime: opening {n} streams ({} on `{COLLECTION}`, {filtered} on `{COLLECTION}?{FILTER}`)",
        n - filtered
    ));
    let base = format!("/api/projects/{}/realtime", project.id);
    let plain_path = format!("{base}?subscribe={COLLECTION}");
    let topic: String =
        url::form_urlencoded::byte_serialize(format!("{COLLECTION}?{FILTER}").as_bytes()).collect();
    let filter_path = format!("{base}?subscribe={topic}");
    let opening = Arc::new(Semaphore::new(OPENING));
    let ready = Arc::new(AtomicUsize::new(0));
    let progress = Arc::new(AtomicU64::new(0));
    let (stop_tx, stop_rx) = watch::channel(false);
    let started = Instant::now();
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let is_filtered = i % 2 == 1;
            let path = if is_filtered {
                filter_path.clone()
            } else {
                plain_path.clone()
            };
            tokio::spawn(stream(
                router,
                path,
                project.api_key.clone(),
                is_filtered,
                settings.first_id,
                opening.clone(),
                ready.clone(),
                progress.clone(),
                stop_rx.clone(),
            ))
        })
        .collect();
    // Every stream is ready or gave up (each waits at most 60 s for its answer).
    let open_deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let live = ready.load(Ordering::Relaxed);
        let finished = tasks.iter().filter(|t| t.is_finished()).count();
        if live + finished >= n || Instant::now() > open_deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    fig.open_secs = started.elapsed().as_secs_f64();
    let live = ready.load(Ordering::Relaxed);
    say(&format!(
        "realtime: {live} of {n} streams ready in {:.1} s; idle {} s",
        fig.open_secs,
        IDLE.as_secs()
    ));
    tokio::time::sleep(IDLE).await;
    let after = (rss_kib(worker_pid), rss_kib(router_pid));
    fig.worker_kib = (before.0, after.0);
    fig.router_kib = (before.1, after.1);
    say(&format!(
        "realtime: worker RSS {} → {} KiB, {:.1} KiB per stream; creating {}/s for {} s",
        before.0,
        after.0,
        (after.0 as f64 - before.0 as f64) / live.max(1) as f64,
        settings.rate,
        settings.duration.as_secs()
    ));
    let cpu_before = meter.cpu();
    let window = Instant::now();
    let pacer = create_at_rate(router, project, settings.rate, settings.duration);
    // Joined off the runtime's one thread, which keeps reading the streams meanwhile.
    let creates = tokio::task::spawn_blocking(move || pacer.join())
        .await?
        .map_err(|_| anyhow::anyhow!("the create thread panicked"))??;
    let created_at = Instant::now();
    fig.issued = creates.issued;
    fig.created = creates.ok.len() as u64;
    fig.created_matching = creates.ok.iter().filter(|(_, m)| *m).count() as u64;
    fig.create_errors = creates.errors.clone();
    if creates.error_count > creates.errors.len() as u64 {
        fig.create_errors
            .push(format!("{} failed in all", creates.error_count));
    }
    fig.achieved = fig.created as f64 / creates.secs.max(0.001);
    fig.create_us = creates.latencies_us;
    say(&format!(
        "realtime: {} of {} creates answered 201, {:.0}/s; waiting for delivery",
        fig.created, fig.issued, fig.achieved
    ));
    // Wait until every live stream has its share (or the wait ends).
    // As if every stream were live: one that was not, or dropped, makes the wait run out, which
    // the report says.
    let want = fig.created * (n - filtered) as u64 + fig.created_matching * filtered as u64;
    let drain_deadline = created_at + DRAIN;
    loop {
        if progress.load(Ordering::Relaxed) >= want {
            break;
        }
        if Instant::now() > drain_deadline {
            fig.drain_timed_out = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    fig.drain_secs = created_at.elapsed().as_secs_f64();
    let cpu_after = meter.cpu();
    let mut cpu = [0.0; 6];
    for (i, c) in cpu.iter_mut().enumerate() {
        *c = cpu_after[i] - cpu_before[i];
    }
    fig.cpu = (cpu, window.elapsed().as_secs_f64());
    let _ = stop_tx.send(true);
    // Expected records, as bits.
    let (mut all, mut matching) = (Bits::default(), Bits::default());
    for &(id, m) in &creates.ok {
        if id >= settings.first_id {
            let i = (id - settings.first_id) as usize;
            all.set(i);
            if m {
                matching.set(i);
            }
        }
    }
    let mut latencies = Vec::new();
    for t in tasks {
        let tally = t.await?;
        if let Some(e) = tally.open_error {
            if fig.open_errors.len() < 5 {
                fig.open_errors.push(e);
            }
            continue;
        }
        if !tally.ready {
            continue;
        }
        fig.ready += 1;
        let expected = if tally.filtered { &matching } else { &all };
        let (both, extra) = tally.seen.compare(expected);
        fig.expected += if tally.filtered {
            fig.created_matching
        } else {
            fig.created
        };
        fig.delivered += both;
        fig.unexpected += extra + tally.foreign;
        fig.received += tally.received;
        fig.duplicates += tally.duplicates;
        fig.unordered += tally.unordered;
        for o in tally.other {
            if fig.other_events.len() < 5 {
                fig.other_events.push(o);
            }
        }
        if let Some(e) = tally.ended {
            fig.dropped += 1;
            if fig.drop_reasons.len() < 5 {
                fig.drop_reasons.push(e);
            }
        }
        latencies.extend(tally.latencies_us);
    }
    latencies.sort_unstable();
    fig.latencies_us = latencies;
    for (log, from) in logs.iter().zip(log_from) {
        let (count, first) = log_warnings(log, from);
        if count > 0 {
            let name = log.file_name().unwrap_or_default().to_string_lossy();
            fig.log_lines.push(format!(
                "{name}: {count} line(s), first: {}",
                first.join(" | ")
            ));
        }
    }
    say(&format!(
        "realtime: {} of {} events delivered, lost {}, p99 {:.0} ms",
        fig.delivered,
        fig.expected,
        fig.lost(),
        fig.ms(0.99)
    ));
    Ok(fig)
}
