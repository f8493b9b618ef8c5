//! The file figures of `make bench`: a 100 MiB file uploaded and downloaded through the router
//! (local backend), each process's peak memory growth during each transfer and the throughput
//! next to a plain `cp` of the same file in the same run; then many concurrent downloads of a
//! 100 KiB file (requests/s and latency).

use super::load::{self, Kind, Stats, Target};
use super::seed::Project;
use anyhow::{bail, Context};
use std::fmt::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;

/// Size of the big file.
pub const BIG: u64 = 100 * 1024 * 1024;
/// Size of the small file.
pub const SMALL: usize = 100 * 1024;
/// Connections of the small-download measurement.
pub const CONNECTIONS: usize = 64;

/// One transfer of the big file.
pub struct Transfer {
    /// MiB per second.
    pub mib_s: f64,
    /// Peak resident memory growth of the router, KiB.
    pub router_kib: u64,
    /// Peak resident memory growth of the worker, KiB.
    pub worker_kib: u64,
    /// CPU seconds of router, worker and this client during the transfer.
    pub cpu: [f64; 3],
}

/// One round of the big-file measurements.
pub struct Round {
    /// `cp` of the file flushed to disk, MiB per second.
    pub cp_disk: f64,
    /// `cp` of the file into the page cache only, MiB per second.
    pub cp_cache: f64,
    /// Upload through the router.
    pub upload: Transfer,
    /// Download through the router.
    pub download: Transfer,
}

/// What the file benchmark found.
pub struct Figures {
    /// The big-file rounds.
    pub rounds: Vec<Round>,
    /// The small downloads.
    pub small: Stats,
}

fn median(v: Vec<f64>) -> f64 {
    super::load::median(&v)
}

impl Figures {
    /// Median upload and download throughput over median flushed `cp`, each round's ratio
    /// taken against its own `cp`.
    pub fn ratios(&self) -> (f64, f64) {
        let r = |f: fn(&Round) -> f64| median(self.rounds.iter().map(f).collect());
        (
            r(|x| x.upload.mib_s / x.cp_disk),
            r(|x| x.download.mib_s / x.cp_disk),
        )
    }
}

fn status_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Resets the peak resident size (`VmHWM`) of a process to its current size (Linux
/// `clear_refs` value 5), so the next reading is the peak of what follows.
fn reset_peak(pid: u32) -> anyhow::Result<()> {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").with_context(|| {
        format!("reset the peak memory of pid {pid} (needs Linux ≥ 4.0, same user)")
    })
}

/// Runs `work` and measures how much the peak memory of router and worker grew during it.
async fn metered<F, T>(pids: (u32, u32), work: F) -> anyhow::Result<(T, Transfer)>
where
    F: std::future::Future<Output = anyhow::Result<T>>,
{
    let (router, worker) = pids;
    reset_peak(router)?;
    reset_peak(worker)?;
    let base = (status_kib(router, "VmRSS:"), status_kib(worker, "VmRSS:"));
    let cpu = || [router, worker, std::process::id()].map(super::procs::cpu_secs);
    let cpu_before = cpu();
    let started = Instant::now();
    let out = work.await?;
    let took = started.elapsed();
    let cpu_after = cpu();
    let grew = |pid, base: u64| status_kib(pid, "VmHWM:").saturating_sub(base);
    Ok((
        out,
        Transfer {
            mib_s: mib_s(BIG, took),
            router_kib: grew(router, base.0),
            worker_kib: grew(worker, base.1),
            cpu: [0, 1, 2].map(|i| cpu_after[i] - cpu_before[i]),
        },
    ))
}

fn mib_s(bytes: u64, took: Duration) -> f64 {
    bytes as f64 / (1024.0 * 1024.0) / took.as_secs_f64()
}

/// A file of `size` bytes that does not compress to nothing.
fn make_file(path: &Path, size: u64) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut block = vec![0u8; 1 << 20];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for b in block.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    for _ in 0..size / block.len() as u64 {
        f.write_all(&block)?;
    }
    f.flush()?;
    Ok(())
}

/// Uploads the file at `path`, streamed from disk; returns the file id.
async fn upload(
    http: &reqwest::Client,
    base: &str,
    p: &Project,
    path: &Path,
    public: bool,
) -> anyhow::Result<String> {
    let len = std::fs::metadata(path)?.len();
    let file = tokio::fs::File::open(path).await?;
    let stream = futures_stream(file);
    let part =
        reqwest::multipart::Part::stream_with_length(reqwest::Body::wrap_stream(stream), len)
            .file_name("bench.pdf");
    let form = reqwest::multipart::Form::new()
        .part("file", part)
        .text("is_public", public.to_string());
    let res = http
        .post(format!("{base}/api/projects/{}/files/upload", p.id))
        .bearer_auth(&p.token)
        .multipart(form)
        .send()
        .await?;
    let status = res.status();
    let body: serde_json::Value = res.json().await.unwrap_or_default();
    if status != 201 || body["size_bytes"] != serde_json::json!(len) {
        bail!("upload answered {status}: {body}");
    }
    Ok(body["id"].as_str().unwrap_or_default().to_owned())
}

/// A file read in 256 KiB chunks, as a stream.
fn futures_stream(
    file: tokio::fs::File,
) -> impl futures_util::Stream<Item = std::io::Result<Vec<u8>>> {
    futures_util::stream::unfold(file, |mut f| async move {
        let mut buf = vec![0u8; 256 * 1024];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(buf), f))
            }
            Err(e) => Some((Err(e), f)),
        }
    })
}

/// Downloads a file into `path`; its length.
async fn download(
    http: &reqwest::Client,
    base: &str,
    p: &Project,
    id: &str,
    path: &Path,
) -> anyhow::Result<u64> {
    let mut res = http
        .get(format!("{base}/api/projects/{}/files/{id}/download", p.id))
        .bearer_auth(&p.token)
        .send()
        .await?;
    if res.status() != 200 {
        bail!("download answered {}", res.status());
    }
    // Plain buffered writes: into the page cache, as `cp` does (a write on the blocking pool
    // per piece would measure this client, not the server).
    use std::io::Write as _;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut n = 0u64;
    while let Some(chunk) = res.chunk().await? {
        n += chunk.len() as u64;
        out.write_all(&chunk)?;
    }
    out.flush()?;
    // On disk, as the `cp` it is compared with.
    out.get_ref().sync_all()?;
    Ok(n)
}

/// Runs the measurements. `pids` are router and worker; `work` a scratch folder.
pub async fn measure(
    router: SocketAddr,
    project: &Project,
    pids: (u32, u32),
    work: &Path,
    timing: (Duration, Duration),
    rounds_wanted: usize,
) -> anyhow::Result<Figures> {
    let base = format!("http://{router}");
    let http = reqwest::Client::new();
    std::fs::create_dir_all(work)?;
    let src = work.join("big.pdf");
    make_file(&src, BIG)?;

    // The floor: cp of the same file on the same disk, then flushed to it (`sync FILE`), as
    // the local backend flushes an upload before its row commits. A cp into the page cache
    // alone is shown too.
    let copy = work.join("copy.pdf");
    let cp = |sync: bool| -> anyhow::Result<Duration> {
        let started = Instant::now();
        let ok = std::process::Command::new("cp")
            .arg(&src)
            .arg(&copy)
            .status()?;
        if !ok.success() {
            bail!("cp failed");
        }
        if sync
            && !std::process::Command::new("sync")
                .arg(&copy)
                .status()?
                .success()
        {
            bail!("sync failed");
        }
        let took = started.elapsed();
        std::fs::remove_file(&copy)?;
        Ok(took)
    };
    // Rounds, each cp then upload then download: this machine's speed drifts, so each ratio
    // compares neighbours.
    let mut rounds = Vec::new();
    for _ in 0..rounds_wanted.max(1) {
        let cp_cache = mib_s(BIG, cp(false)?);
        let cp_disk = mib_s(BIG, cp(true)?);
        let (id, up) = metered(pids, upload(&http, &base, project, &src, false)).await?;
        let down_path = work.join("down.pdf");
        let (n, down) = metered(pids, download(&http, &base, project, &id, &down_path)).await?;
        if n != BIG || std::fs::read(&down_path)? != std::fs::read(&src)? {
            bail!("the downloaded file differs from the uploaded one");
        }
        std::fs::remove_file(&down_path)?;
        let res = http
            .delete(format!("{base}/api/projects/{}/files/{id}", project.id))
            .bearer_auth(&project.token)
            .send()
            .await?;
        if res.status() != 204 {
            bail!("delete answered {}", res.status());
        }
        rounds.push(Round {
            cp_disk,
            cp_cache,
            upload: up,
            download: down,
        });
    }
    std::fs::remove_file(&src)?;

    let small = work.join("small.pdf");
    make_file(&small, SMALL as u64)?;
    let small_id = upload(&http, &base, project, &small, true).await?;
    let target = Target {
        addr: router,
        project: project.id.clone(),
        token: project.token.clone(),
        api_key: None,
        rows: 1,
        file: Some(small_id),
    };
    let stats = load::run(&target, Kind::Download, CONNECTIONS, timing.0, timing.1).await;
    if stats.non_2xx > 0 || stats.errors > 0 {
        bail!(
            "small downloads: {} non-2xx answers, {} errors",
            stats.non_2xx,
            stats.errors
        );
    }
    Ok(Figures {
        rounds,
        small: stats,
    })
}

impl Figures {
    /// The markdown section.
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let _ = writeln!(
            md,
            "### Files: a 100 MiB file through the router, and many small downloads\n"
        );
        let _ = writeln!(
            md,
            "Local backend; the file streams from disk to the router (multipart) and back to a file on disk. An upload is flushed to disk (fsync) before its row commits, and the download's file is flushed before the clock stops, so the floor is `cp` of the same file flushed to the same disk (`cp` then `sync FILE`) in the same run; a `cp` into the page cache alone is shown for reference. Memory growth is the rise of each process's peak resident size (`VmHWM`, reset just before) over its size before the transfer.\n"
        );
        let _ = writeln!(md, "| measure | value | target |\n| --- | ---: | ---: |");
        let mib = |kib: u64| kib as f64 / 1024.0;
        let each = |f: &dyn Fn(&Round) -> f64, digits: usize| {
            let v: Vec<f64> = self.rounds.iter().map(f).collect();
            let all = v
                .iter()
                .map(|x| format!("{x:.digits$}"))
                .collect::<Vec<_>>()
                .join(", ");
            format!("{:.digits$} ({all})", median(v))
        };
        let _ = writeln!(
            md,
            "| `cp` of the file, flushed to disk | {} MiB/s | |",
            each(&|r| r.cp_disk, 0)
        );
        let _ = writeln!(
            md,
            "| `cp` into the page cache only | {} MiB/s | |",
            each(&|r| r.cp_cache, 0)
        );
        type Pick = fn(&Round) -> &Transfer;
        for (name, pick) in [
            ("upload", (|r| &r.upload) as Pick),
            ("download", (|r| &r.download) as Pick),
        ] {
            let _ = writeln!(md, "| {name} | {} MiB/s | |", each(&|r| pick(r).mib_s, 0));
            let _ = writeln!(
                md,
                "| {name} ÷ flushed `cp`, same round | {} | ≥ 0.5 |",
                each(&|r| pick(r).mib_s / r.cp_disk, 2)
            );
            let worst =
                |f: fn(&Transfer) -> u64| self.rounds.iter().map(|r| f(pick(r))).max().unwrap_or(0);
            let _ = writeln!(
                md,
                "| {name}: router peak memory growth (worst round) | {:.1} MiB | < 32 MiB |",
                mib(worst(|t| t.router_kib))
            );
            let _ = writeln!(
                md,
                "| {name}: worker peak memory growth (worst round) | {:.1} MiB | < 32 MiB |",
                mib(worst(|t| t.worker_kib))
            );
            let cpu = |i: usize| median(self.rounds.iter().map(|r| pick(r).cpu[i]).collect());
            let _ = writeln!(
                md,
                "| {name}: CPU seconds of router / worker / client (median) | {:.2} / {:.2} / {:.2} | |",
                cpu(0),
                cpu(1),
                cpu(2)
            );
        }
        let s = &self.small;
        let ms = |q| s.percentile(q).as_secs_f64() * 1000.0;
        let _ = writeln!(
            md,
            "| {CONNECTIONS} concurrent 100 KiB downloads | {:.0} requests/s ({:.0} MiB/s) | |",
            s.rps(),
            s.rps() * SMALL as f64 / (1024.0 * 1024.0)
        );
        let _ = writeln!(
            md,
            "| their latency p50 / p99 | {:.1} / {:.1} ms | |",
            ms(0.5),
            ms(0.99)
        );
        md
    }
}
