//! The standard data-API workload (`make bench`, WORKLOAD.md): the real
//! release binaries as separate processes over a private Postgres, a Rust load generator, the same
//! work run by `pgbench`, and the resources each process used. `src/bin/bench.rs` runs the steps.

pub mod admin;
pub mod files;
pub mod load;
pub mod pgbench;
pub mod procs;
pub mod realtime;
pub mod report;
pub mod seed;
pub mod stack;
pub mod webhooks;
pub mod workflows;

use std::time::Duration;

/// Settings of one run, from the command line.
#[derive(Debug, Clone)]
pub struct Options {
    /// Warm-up before each measurement (not recorded).
    pub warmup: Duration,
    /// Length of each measurement.
    pub duration: Duration,
    /// Connections for the throughput figures.
    pub connections: usize,
    /// Rows of the main figure.
    pub rows: i64,
    /// Rows of the growth figure.
    pub big_rows: i64,
    /// Replace the measured part of docs/benchmarks.md with this run's tables.
    pub write_docs: bool,
    /// Measure only the access-policy comparison.
    pub policies_only: bool,
    /// Measure only creates with and without an active webhook.
    pub webhooks_only: bool,
    /// Measure only the file transfers.
    pub files_only: bool,
    /// Measure only the admin API: two reads over gRPC and over REST.
    pub admin_only: bool,
    /// Measure only the router↔worker hop: over the worker's Unix socket against over TCP.
    pub hop: bool,
    /// Measure only creates with and without an active 3-step workflow.
    pub workflows_only: bool,
    /// Measure only realtime delivery: many streams while creates run at a steady rate.
    pub realtime_only: bool,
    /// Realtime figures: streams to open (half on a filter topic).
    pub realtime_subscribers: usize,
    /// Realtime figures: creates per second.
    pub realtime_rate: u32,
    /// Realtime figures: how long creates run (20 s, or `--duration`).
    pub realtime_duration: Duration,
    /// Measure only these request types (32 connections, then their pgbench floor), with the
    /// CPU each process spent on each.
    pub only: Vec<load::Kind>,
    /// With `only`: measure each type this many times, alternating with its floor, and report
    /// the median ratio (the machine's speed drifts between two measurements).
    pub rounds: usize,
}

/// The text of `--help`.
pub const USAGE: &str = "usage: bench [--quick] [--warmup SECS] [--duration SECS] [--write-docs]
  --quick         1 s warm-up and 3 s per measurement (default: 3 s and 15 s)
  --warmup SECS   warm-up before each measurement
  --duration SECS length of each measurement
  --write-docs    write the tables into docs/benchmarks.md (Data API section)
  --policies-only only get and list by an API key without policies, then by an app user
                  under owner policies (a few minutes; prints that table alone)
  --webhooks-only only creates without and with one active webhook to a local receiver
                  (alternating --rounds times), commit-to-delivery latency, every event
                  delivered (prints that table alone)
  --admin-only    only the admin API: GetProject and ListCollections over gRPC through the
                  router against the same reads over REST, 32 concurrent callers,
                  alternating --rounds times (prints that table alone)
  --hop           only the router-to-worker hop: two routers in front of the one worker (one
                  over the worker's Unix socket, one over TCP), get, list-no-total, patch and
                  create (or --only's types) through each in turn, --rounds times: req/s, p99,
                  CPU per request of that router and of the worker (prints that table alone)
  --files-only    only the file figures: a 100 MiB upload and download through the router
                  (throughput next to cp, memory growth of router and worker) and 64
                  concurrent 100 KiB downloads (prints that table alone)
  --workflows-only only creates without and with an active 3-step workflow (transform, HTTP
                  request to a local receiver, record update), alternating --rounds times (at
                  least 2): the create ratio, runs completed per second, trigger-to-finish
                  p50/p99 (prints that table alone)
  --realtime-only only realtime delivery: --realtime-subscribers Server-Sent Events streams
                  through the router to the one worker (half on `posts`, half on a filter
                  topic that every other create matches), idle worker memory per stream, then
                  creates at --realtime-rate per second for 20 s (or --duration): events lost,
                  duplicated or out of order, commit-to-arrival p50/p99/max (prints that table
                  alone)
  --realtime-subscribers N  realtime streams (default 2000)
  --realtime-rate N         creates per second while they are open (default 500)
  --only KINDS    only these request types (comma-separated: get, list, list-no-total, patch,
                  create) and their pgbench floor, with each process's CPU per request
                  (prints that table alone)
  --rounds N      with --only, --webhooks-only or --workflows-only: measure each type N times, each time followed by its floor,
                  and report the median of the N ratios (default 1)";

impl Options {
    /// Parses the arguments; each is split on whitespace, so `make bench BENCH_ARGS="--quick
    /// --write-docs"` works quoted or not, and an empty one is nothing.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut o = Options {
            warmup: Duration::from_secs(3),
            duration: Duration::from_secs(15),
            connections: 32,
            rows: 10_000,
            big_rows: 100_000,
            write_docs: false,
            policies_only: false,
            webhooks_only: false,
            files_only: false,
            admin_only: false,
            hop: false,
            workflows_only: false,
            realtime_only: false,
            realtime_subscribers: 2000,
            realtime_rate: 500,
            realtime_duration: Duration::from_secs(20),
            only: Vec::new(),
            rounds: 1,
        };
        let words: Vec<String> = args
            .into_iter()
            .flat_map(|a| a.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
            .collect();
        let mut args = words.into_iter();
        while let Some(arg) = args.next() {
            let mut secs = |name: &str| -> Result<Duration, String> {
                let v = args
                    .next()
                    .ok_or(format!("{name} needs a number of seconds"))?;
                // Whole seconds: pgbench's -T takes no fractions.
                v.parse::<u64>()
                    .ok()
                    .filter(|s| *s > 0)
                    .map(Duration::from_secs)
                    .ok_or(format!(
                        "{name}: not a positive whole number of seconds: {v}"
                    ))
            };
            match arg.as_str() {
                "--quick" => {
                    o.warmup = Duration::from_secs(1);
                    o.duration = Duration::from_secs(3);
                    o.realtime_duration = o.duration;
                }
                "--warmup" => o.warmup = secs("--warmup")?,
                "--duration" => {
                    o.duration = secs("--duration")?;
                    o.realtime_duration = o.duration;
                }
                "--write-docs" => o.write_docs = true,
                "--policies-only" => o.policies_only = true,
                "--webhooks-only" => o.webhooks_only = true,
                "--files-only" => o.files_only = true,
                "--admin-only" => o.admin_only = true,
                "--hop" => o.hop = true,
                "--workflows-only" => o.workflows_only = true,
                "--realtime-only" => o.realtime_only = true,
                "--realtime-subscribers" => {
                    let v = args.next().ok_or("--realtime-subscribers needs a number")?;
                    o.realtime_subscribers = v.parse().ok().filter(|n| *n > 0).ok_or(format!(
                        "--realtime-subscribers: not a positive whole number: {v}"
                    ))?;
                }
                "--realtime-rate" => {
                    let v = args.next().ok_or("--realtime-rate needs a number")?;
                    o.realtime_rate = v
                        .parse()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or(format!("--realtime-rate: not a positive whole number: {v}"))?;
                }
                "--only" => {
                    let v = args.next().ok_or("--only needs request types")?;
                    for name in v.split(',').filter(|n| !n.is_empty()) {
                        let kind = load::Kind::ALL
                            .into_iter()
                            .find(|k| k.short() == name)
                            .ok_or(format!("--only: unknown request type {name}\n{USAGE}"))?;
                        o.only.push(kind);
                    }
                }
                "--rounds" => {
                    let v = args.next().ok_or("--rounds needs a number")?;
                    o.rounds = v
                        .parse()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or(format!("--rounds: not a positive whole number: {v}"))?;
                }
                "-h" | "--help" => return Err(USAGE.into()),
                other => return Err(format!("unknown argument: {other}\n{USAGE}")),
            }
        }
        Ok(o)
    }
}
