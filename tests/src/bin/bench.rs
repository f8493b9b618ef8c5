//! The standard data-API workload (`make bench`): get, list, create and patch through the router
//! of the real release binaries (control plane, one worker, router: separate processes) over a
//! private Postgres, then the same SQL through `pgbench` on the same database, then the list on a
//! ten times bigger table, with each process's peak memory and CPU. Prints markdown tables;
//! `--write-docs` also puts them into docs/benchmarks.md. Everything stays on 127.0.0.1.

use anyhow::Context;
use e2e::bench::load::{self, median, Kind, Target};
use e2e::bench::pgbench::{Pgbench, Variant};
use e2e::bench::procs::{self, Meter};
use e2e::bench::report::{self, Growth, Report, Throughput};
use e2e::bench::seed::{self, Project};
use e2e::bench::stack::Stack;
use e2e::bench::Options;
use rand::SeedableRng;
use sqlx::PgPool;
use std::path::Path;
use std::time::Duration;

fn say(msg: &str) {
    eprintln!("[bench] {msg}");
}

/// CPU seconds used between two readings, added to a running total.
fn add(total: &mut [f64; 6], before: [f64; 6], after: [f64; 6]) {
    for i in 0..6 {
        total[i] += after[i] - before[i];
    }
}

/// What the measurement steps share.
struct Run {
    opts: Options,
    stack: Stack,
    pool: PgPool,
    project: Project,
    meter: Meter,
    pgbench: Pgbench,
    cpu_ours: [f64; 6],
    cpu_pgbench: [f64; 6],
}

impl Run {
    async fn ours(
        &mut self,
        kind: Kind,
        connections: usize,
        rows: i64,
    ) -> anyhow::Result<load::Stats> {
        self.ours_as(kind, connections, rows, None).await
    }

    async fn ours_as(
        &mut self,
        kind: Kind,
        connections: usize,
        rows: i64,
        api_key: Option<String>,
    ) -> anyhow::Result<load::Stats> {
        let token = self.project.token.clone();
        self.ours_with(kind, connections, rows, token, api_key)
            .await
    }

    async fn ours_with(
        &mut self,
        kind: Kind,
        connections: usize,
        rows: i64,
        token: String,
        api_key: Option<String>,
    ) -> anyhow::Result<load::Stats> {
        seed::reset(&self.pool, &self.project, rows).await?;
        let target = Target {
            addr: self.stack.router_addr,
            project: self.project.id.clone(),
            token,
            api_key,
            rows,
            file: None,
        };
        let before = self.meter.cpu();
        let stats = load::run(
            &target,
            kind,
            connections,
            self.opts.warmup,
            self.opts.duration,
        )
        .await;
        add(&mut self.cpu_ours, before, self.meter.cpu());
        self.stack.check_alive()?;
        say(&format!(
            "ours {:<6} {connections:>2} conn, {rows} rows: {:.0} req/s, p99 {:.2} ms, non-2xx {}, errors {}",
            kind.name(),
            stats.rps(),
            stats.percentile(0.99).as_secs_f64() * 1000.0,
            stats.non_2xx,
            stats.errors
        ));
        Ok(stats)
    }

    async fn pg(
        &mut self,
        kind: Kind,
        variant: Variant,
        rows: i64,
    ) -> anyhow::Result<e2e::bench::pgbench::Measured> {
        seed::reset(&self.pool, &self.project, rows).await?;
        let script = e2e::bench::pgbench::script(kind, variant, &self.project);
        let name = format!("{}-{variant:?}-{rows}", kind.name()).to_lowercase();
        let before = self.meter.cpu();
        let m = self
            .pgbench
            .run(
                &name,
                &script,
                (self.opts.connections, rows),
                self.opts.warmup,
                self.opts.duration,
            )
            .await?;
        add(&mut self.cpu_pgbench, before, self.meter.cpu());
        say(&format!(
            "pgbench {name}: {:.0} tps, failed {}",
            m.tps, m.failed
        ));
        Ok(m)
    }
}

/// App-user logins per second through the router: one user, `CONNS` clients in a loop.
async fn logins(run: &Run) -> anyhow::Result<(f64, usize)> {
    const CONNS: usize = 4;
    let base = format!("{}/api/projects/{}/auth", run.stack.base, run.project.id);
    let http = reqwest::Client::new();
    let creds = serde_json::json!({"email": "app@example.com", "password": "app-password-1"});
    let res = http
        .post(format!("{base}/register"))
        .json(&creds)
        .send()
        .await?;
    anyhow::ensure!(
        res.status() == 201,
        "register an app user: {}",
        res.status()
    );
    say(&format!("app-user logins, {CONNS} connections"));
    let until = std::time::Instant::now() + run.opts.duration;
    let start = std::time::Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONNS {
        let (http, url, creds) = (http.clone(), format!("{base}/login"), creds.clone());
        tasks.push(tokio::spawn(async move {
            let mut ok = 0u64;
            while std::time::Instant::now() < until {
                let res = http.post(&url).json(&creds).send().await;
                ok += u64::from(res.is_ok_and(|r| r.status() == 200));
            }
            ok
        }));
    }
    let mut ok = 0;
    for t in tasks {
        ok += t.await?;
    }
    let rate = ok as f64 / start.elapsed().as_secs_f64();
    say(&format!("{rate:.1} logins/s"));
    Ok((rate, CONNS))
}

/// `get` and `list` by an API key without policies, then by an app user whose policies let them
/// read and list only their own rows (every row is theirs, so both return the same records).
async fn policies(run: &mut Run) -> anyhow::Result<Vec<(&'static str, Kind, load::Stats)>> {
    let (rows, conns) = (run.opts.rows, run.opts.connections);
    let key = Some(run.project.api_key.clone());
    say("policies: API key without policies, then an app user with owner policies");
    let mut out = Vec::new();
    for kind in [Kind::Get, Kind::List] {
        let stats = run.ours_as(kind, conns, rows, key.clone()).await?;
        out.push(("API key, no policies", kind, stats));
    }
    let token = seed::owner_policies(&run.stack.base, &run.pool, &run.project).await?;
    for kind in [Kind::Get, Kind::List] {
        let stats = run
            .ours_with(kind, conns, rows, token.clone(), None)
            .await?;
        out.push(("app user, owner policy", kind, stats));
    }
    Ok(out)
}

/// `--only`: the chosen request types at full concurrency against their pgbench floor, with the
/// CPU microseconds each process spent per request (from its CPU over warm-up and measurement,
/// spread over the requests that rate gives).
async fn only(run: &mut Run) -> anyhow::Result<String> {
    use std::fmt::Write;
    let (rows, conns, rounds) = (run.opts.rows, run.opts.connections, run.opts.rounds);
    let secs = (run.opts.warmup + run.opts.duration).as_secs_f64();
    let mut md = format!(
        "Commit {}, {conns} connections, {rows} rows, {rounds} round(s) of ours then pgbench \
         per type (the median round's figures). CPU µs per request over all rounds: \
         router / worker / postgres / load generator (ours), postgres / pgbench (floor).\n\n\
         | request | ours req/s | p99 | non-2xx | pgbench tps | ratio | ratios of the rounds | CPU µs ours | CPU µs floor |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | --- | --- | --- |\n",
        commit()
    );
    for kind in run.opts.only.clone() {
        let (mut spent, mut floor_spent) = ([0.0; 6], [0.0; 6]);
        let (mut served, mut floor_served) = (0.0, 0.0);
        let mut measured = Vec::new();
        for _ in 0..rounds {
            let before = run.cpu_ours;
            let ours = run.ours(kind, conns, rows).await?;
            add(&mut spent, before, run.cpu_ours);
            let before = run.cpu_pgbench;
            let floor = run.pg(kind, Variant::Floor, rows).await?;
            add(&mut floor_spent, before, run.cpu_pgbench);
            served += ours.rps() * secs;
            floor_served += floor.tps * secs;
            measured.push((ours.rps() / floor.tps, ours, floor));
        }
        measured.sort_by(|a, b| a.0.total_cmp(&b.0));
        let ratios: Vec<String> = measured.iter().map(|m| format!("{:.2}", m.0)).collect();
        let (ratio, ours, floor) = &measured[measured.len() / 2];
        let per = |cpu: f64, n: f64| format!("{:.0}", cpu / n * 1e6);
        let _ = writeln!(
            md,
            "| {} | {:.0} | {:.2} ms | {} | {:.0} | {:.2} | {} | {} / {} / {} / {} | {} / {} |",
            kind.name(),
            ours.rps(),
            ours.percentile(0.99).as_secs_f64() * 1000.0,
            ours.non_2xx + ours.errors,
            floor.tps,
            ratio,
            ratios.join(", "),
            per(spent[0], served),
            per(spent[1], served),
            per(spent[3], served),
            per(spent[4], served),
            per(floor_spent[3], floor_served),
            per(floor_spent[5], floor_served),
        );
    }
    Ok(md)
}

/// `--hop`: the same requests through two routers that differ only in how they reach the
/// worker (its Unix socket or TCP), alternating, so the machine's drift spreads over both.
async fn hop(run: &mut Run) -> anyhow::Result<String> {
    use std::fmt::Write;
    let (rows, conns, rounds) = (run.opts.rows, run.opts.connections, run.opts.rounds);
    let variants = [("Unix socket", "true"), ("TCP", "false")];
    let names = ["router-uds", "router-tcp"];
    let mut routers = Vec::new();
    for (name, (_, sockets)) in names.iter().zip(variants) {
        say(&format!("starting {name}"));
        let extra = [("ROUTER_WORKER_SOCKETS", sockets.to_string())];
        routers.push(run.stack.add_router(name, &extra).await?);
    }
    let kinds = if run.opts.only.is_empty() {
        vec![Kind::Get, Kind::ListNoTotal, Kind::Patch, Kind::Create]
    } else {
        run.opts.only.clone()
    };
    let mut md = format!(
        "Commit {}, {conns} connections, {rows} rows, {rounds} round(s) of the two routers in \
         turn per request type (median req/s; p99 of the median round). CPU µs per request over \
         all rounds: that router / the worker / Postgres.\n\n\
         | request | hop | req/s | vs socket | p99 | non-2xx | req/s of the rounds | CPU µs |\n\
         | --- | --- | ---: | ---: | ---: | ---: | --- | --- |\n",
        commit()
    );
    for kind in kinds {
        let mut seen: Vec<Vec<load::Stats>> = (0..variants.len()).map(|_| Vec::new()).collect();
        let mut cpu = vec![[0.0f64; 3]; variants.len()];
        for _ in 0..rounds {
            for (i, (addr, pid)) in routers.iter().enumerate() {
                seed::reset(&run.pool, &run.project, rows).await?;
                let target = Target {
                    addr: *addr,
                    project: run.project.id.clone(),
                    token: run.project.token.clone(),
                    api_key: None,
                    rows,
                    file: None,
                };
                let (r0, m0) = (procs::cpu_secs(*pid), run.meter.cpu());
                let stats =
                    load::run(&target, kind, conns, run.opts.warmup, run.opts.duration).await;
                let (r1, m1) = (procs::cpu_secs(*pid), run.meter.cpu());
                let served = stats.rps() * (run.opts.warmup + run.opts.duration).as_secs_f64();
                cpu[i][0] += (r1 - r0) / served;
                cpu[i][1] += (m1[1] - m0[1]) / served;
                cpu[i][2] += (m1[3] - m0[3]) / served;
                say(&format!(
                    "{:<24} {:<14} {:.0} req/s, p99 {:.2} ms",
                    variants[i].0,
                    kind.name(),
                    stats.rps(),
                    stats.percentile(0.99).as_secs_f64() * 1000.0
                ));
                run.stack.check_alive()?;
                seen[i].push(stats);
            }
        }
        let base = median(&seen[0].iter().map(|s| s.rps()).collect::<Vec<_>>());
        for (i, stats) in seen.iter_mut().enumerate() {
            stats.sort_by(|a, b| a.rps().total_cmp(&b.rps()));
            let rps: Vec<f64> = stats.iter().map(|s| s.rps()).collect();
            let mid = &stats[stats.len() / 2];
            let errors: u64 = stats.iter().map(|s| s.non_2xx + s.errors).sum();
            let per = |x: f64| format!("{:.0}", x / rounds as f64 * 1e6);
            let _ = writeln!(
                md,
                "| {} | {} | {:.0} | {:.2} | {:.2} ms | {errors} | {} | {} / {} / {} |",
                kind.name(),
                variants[i].0,
                mid.rps(),
                mid.rps() / base,
                mid.percentile(0.99).as_secs_f64() * 1000.0,
                load::rounds(&rps),
                per(cpu[i][0]),
                per(cpu[i][1]),
                per(cpu[i][2]),
            );
        }
    }
    Ok(md)
}

fn commit() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".into())
}

async fn setup(opts: Options, work: &Path) -> anyhow::Result<Run> {
    say("starting Postgres, control plane, one worker and router (release binaries)");
    let stack = Stack::start(&work.join("logs")).await?;
    let project = seed::create_project(&stack.base).await?;
    let pool = PgPool::connect(&stack.db_url).await.context("connect")?;
    say(&format!(
        "writing {} rows into {}",
        opts.rows, project.table
    ));
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    seed::insert_rows(&pool, &project, 1, opts.rows, &mut rng).await?;
    let index = seed::index_created_at(&pool, &project).await?;
    say(&format!(
        "{index} (the schema builder cannot index system columns)"
    ));
    let postmaster = e2e::pg::postmaster_pid().context("read the postmaster pid")?;
    let meter = Meter::start(stack.pids(), postmaster);
    let pgbench = Pgbench::new(&stack.db_url, &work.join("pgbench"))?;
    Ok(Run {
        opts,
        stack,
        pool,
        project,
        meter,
        pgbench,
        cpu_ours: [0.0; 6],
        cpu_pgbench: [0.0; 6],
    })
}

/// Creates without and with one active webhook ([`e2e::bench::webhooks`]), as markdown.
async fn webhooks(run: &mut Run) -> anyhow::Result<String> {
    let (rows, conns) = (run.opts.rows, run.opts.connections);
    say("creates without and with an active webhook");
    seed::reset(&run.pool, &run.project, rows).await?;
    let before = run.meter.cpu();
    let figures = e2e::bench::webhooks::measure(
        run.stack.router_addr,
        &run.pool,
        &run.project,
        conns,
        (run.opts.warmup, run.opts.duration),
        run.opts.rounds.max(2),
    )
    .await?;
    add(&mut run.cpu_ours, before, run.meter.cpu());
    run.stack.check_alive()?;
    say(&format!(
        "webhooks: ratio {:.2}, {} of {} events delivered",
        figures.ratio(),
        figures.arrived,
        figures.events
    ));
    seed::reset(&run.pool, &run.project, rows).await?;
    say("a healthy webhook alone, then beside a stalled one");
    let before = run.meter.cpu();
    let fair = e2e::bench::webhooks::fairness(
        run.stack.router_addr,
        &run.pool,
        &run.project,
        conns,
        Duration::from_secs(1),
        run.opts.rounds.max(3),
    )
    .await?;
    add(&mut run.cpu_ours, before, run.meter.cpu());
    run.stack.check_alive()?;
    say(&format!(
        "webhooks: a stalled receiver slows the healthy one by {:.0} %",
        (1.0 - fair.ratio()) * 100.0
    ));
    seed::reset(&run.pool, &run.project, rows).await?;
    Ok(format!(
        "{}\n{}",
        figures.markdown(conns),
        fair.markdown(conns)
    ))
}

/// Creates without and with one active 3-step workflow ([`e2e::bench::workflows`]), as
/// markdown.
async fn workflows(run: &mut Run) -> anyhow::Result<String> {
    let (rows, conns) = (run.opts.rows, run.opts.connections);
    say("creates without and with an active 3-step workflow");
    seed::reset(&run.pool, &run.project, rows).await?;
    let before = run.meter.cpu();
    let figures = e2e::bench::workflows::measure(
        run.stack.router_addr,
        &run.pool,
        &run.project,
        conns,
        (run.opts.warmup, run.opts.duration),
        run.opts.rounds.max(2),
    )
    .await?;
    add(&mut run.cpu_ours, before, run.meter.cpu());
    run.stack.check_alive()?;
    say(&format!(
        "workflows: ratio {:.2}, {} of {} runs completed, trigger → finish p99 {:.0} ms",
        figures.ratio(),
        figures.completed,
        figures.runs,
        figures.p99_ms
    ));
    seed::reset(&run.pool, &run.project, rows).await?;
    Ok(figures.markdown(conns))
}

/// Realtime delivery to many streams while creates run at a steady rate
/// ([`e2e::bench::realtime`]), as markdown.
/// `GetProject` and `ListCollections` over gRPC and over REST ([`e2e::bench::admin`]).
async fn admin(run: &mut Run) -> anyhow::Result<String> {
    say("admin API: two reads over gRPC and over REST, alternating");
    let target = e2e::bench::admin::Target {
        addr: run.stack.router_addr,
        project: run.project.id.clone(),
        token: run.project.token.clone(),
    };
    let conns = run.opts.connections;
    let before = run.meter.cpu();
    let figures = e2e::bench::admin::measure(
        &target,
        &run.meter,
        conns,
        (run.opts.warmup, run.opts.duration),
        run.opts.rounds.max(3),
    )
    .await?;
    add(&mut run.cpu_ours, before, run.meter.cpu());
    run.stack.check_alive()?;
    for (read, f) in &figures {
        say(&format!("admin API: {read:?} gRPC/REST {:.2}", f.ratio()));
    }
    Ok(e2e::bench::admin::markdown(conns, &figures))
}

async fn realtime(run: &mut Run) -> anyhow::Result<String> {
    let rows = run.opts.rows;
    say("realtime: streams through the router while creates run at a steady rate");
    seed::reset(&run.pool, &run.project, rows).await?;
    let pid = |name| {
        run.stack
            .pids()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, p)| p)
            .context("a stack process")
    };
    let pids = (pid("worker")?, pid("router")?);
    let before = run.meter.cpu();
    let figures = e2e::bench::realtime::measure(
        run.stack.router_addr,
        &run.project,
        pids,
        &run.meter,
        &run.stack.log_dir,
        e2e::bench::realtime::Settings {
            subscribers: run.opts.realtime_subscribers,
            rate: run.opts.realtime_rate,
            duration: run.opts.realtime_duration,
            first_id: rows + 1,
        },
    )
    .await?;
    add(&mut run.cpu_ours, before, run.meter.cpu());
    run.stack.check_alive()?;
    say(&format!(
        "realtime: {} of {} events delivered, p99 {:.0} ms, worker {:.1} KiB per idle stream",
        figures.delivered,
        figures.expected,
        figures.ms(0.99),
        figures.worker_kib_per_sub()
    ));
    seed::reset(&run.pool, &run.project, rows).await?;
    Ok(figures.markdown())
}

async fn files(run: &mut Run, work: &Path) -> anyhow::Result<String> {
    say("files: a 100 MiB upload and download, then 64 concurrent 100 KiB downloads");
    let pid = |name| {
        run.stack
            .pids()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, p)| p)
            .context("a stack process")
    };
    let pids = (pid("router")?, pid("worker")?);
    let before = run.meter.cpu();
    let figures = e2e::bench::files::measure(
        run.stack.router_addr,
        &run.project,
        pids,
        &work.join("files-bench"),
        (run.opts.warmup, run.opts.duration),
        run.opts.rounds.max(3),
    )
    .await?;
    add(&mut run.cpu_ours, before, run.meter.cpu());
    run.stack.check_alive()?;
    let (up, down) = figures.ratios();
    say(&format!(
        "files: upload {up:.2} × cp, download {down:.2} × cp (medians)"
    ));
    Ok(figures.markdown())
}

async fn measure(run: &mut Run) -> anyhow::Result<Report> {
    let (rows, conns) = (run.opts.rows, run.opts.connections);
    let mut ours = Vec::new();
    for kind in Kind::ALL {
        ours.push((kind, run.ours(kind, conns, rows).await?));
    }
    let mut latency = Vec::new();
    for kind in Kind::ALL {
        latency.push((kind, run.ours(kind, 1, rows).await?));
    }
    let mut throughput = Vec::new();
    for (kind, stats) in ours {
        let floor = run.pg(kind, Variant::Floor, rows).await?;
        let issued = run.pg(kind, Variant::AsIssued, rows).await?;
        throughput.push(Throughput {
            kind,
            ours: stats,
            floor,
            issued,
        });
    }
    say("get by caller: admin token, then API key");
    let callers = vec![
        ("admin token", run.ours(Kind::Get, conns, rows).await?),
        (
            "API key",
            run.ours_as(Kind::Get, conns, rows, Some(run.project.api_key.clone()))
                .await?,
        ),
    ];
    let policies = policies(run).await?;
    let logins = Some(logins(run).await?);
    let big = run.opts.big_rows;
    say(&format!("growing the table to {big} rows"));
    seed::reset(&run.pool, &run.project, rows).await?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(43);
    seed::insert_rows(&run.pool, &run.project, rows + 1, big, &mut rng).await?;
    let growth = Growth {
        rows: big,
        ours: run.ours(Kind::List, conns, big).await?,
        floor: run.pg(Kind::List, Variant::Floor, big).await?,
        issued: run.pg(Kind::List, Variant::AsIssued, big).await?,
        ours_no_total: run.ours(Kind::ListNoTotal, conns, big).await?,
        floor_no_total: run.pg(Kind::ListNoTotal, Variant::Floor, big).await?,
    };
    Ok(Report {
        commit: commit(),
        times: (run.opts.warmup, run.opts.duration),
        connections: conns,
        rows,
        throughput,
        latency,
        growth,
        callers,
        policies,
        logins,
        peak_kib: run.meter.peak_kib(),
        end_kib: run.meter.now_kib(),
        cpu_ours: run.cpu_ours,
        cpu_pgbench: run.cpu_pgbench,
        notes: notes(run),
    })
}

fn notes(run: &Run) -> Vec<String> {
    vec![
        "list: `?published=true&views__gt=500&sort=-created_at&limit=50`; list (no total): the same \
         with `&skip_total=true`, whose floor is the page query alone."
            .into(),
        format!(
            "Caller: an admin bearer token; the caller table adds an API key, and the policy \
             table an app user whose policies (`read` and `list` with `{{\"type\": \"owner\"}}`) \
             let them see their own rows, which are all rows. Index on `created_at` made with SQL \
             (`CREATE INDEX ON {} (created_at)`): the schema builder cannot index system columns.",
            run.project.table
        ),
        format!(
            "pgbench: `-M prepared -c {} -j 2`, same database; `pgbench tps` runs the SQL the \
         contract needs as plain statements (list: page query plus count query), `data-plane SQL` \
         runs the data plane's statements (one each, returning `current_user` for the worker to \
         check; writes guard the role in the statement; JSON built by Postgres). Ratios are \
         against the former. pgbench latencies come from its per-transaction log.",
            run.opts.connections
        ),
        "Every measurement starts from the same table (rows added by create removed, \
         `VACUUM ANALYZE`). Peak memory: `VmHWM`; Postgres: peak of the summed `Pss` of the \
         postmaster and its children, sampled. CPU includes the warm-ups. The load generator \
         is this benchmark process: during pgbench it samples memory and reads pgbench's logs."
            .into(),
    ]
}

// One thread drives every connection of the load generator: on two shared cores a second one
// mostly adds task switching (the same reason router and worker default to half the cores).
#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() -> anyhow::Result<()> {
    let opts = match Options::parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(msg) => {
            eprintln!("{msg}");
            std::process::exit(2);
        }
    };
    let work = std::env::temp_dir().join(format!("backendify-bench-{}", std::process::id()));
    let write_docs = opts.write_docs;
    {
        // Each realtime stream holds a socket here and one in the router (inherited by the
        // stack).
        e2e::bench::realtime::raise_open_files(opts.realtime_subscribers as u64 * 2 + 1024)?;
    }
    let mut run = setup(opts, &work).await?;
    if !run.opts.only.is_empty() {
        let md = only(&mut run).await?;
        run.stack.stop();
        println!("{md}");
        let _ = std::fs::remove_dir_all(&work);
        return Ok(());
    }
    if run.opts.webhooks_only {
        let md = webhooks(&mut run).await?;
        run.stack.stop();
        println!("Commit {}.\n\n{md}", commit());
        let _ = std::fs::remove_dir_all(&work);
        return Ok(());
    }
    if run.opts.workflows_only {
        let md = workflows(&mut run).await?;
        run.stack.stop();
        println!("Commit {}.\n\n{md}", commit());
        let _ = std::fs::remove_dir_all(&work);
        return Ok(());
    }
    if run.opts.realtime_only {
        let md = realtime(&mut run).await?;
        run.stack.stop();
        println!("Commit {}.\n\n{md}", commit());
        let _ = std::fs::remove_dir_all(&work);
        return Ok(());
    }
    if run.opts.hop {
        let md = hop(&mut run).await?;
        run.stack.stop();
        println!("{md}");
        let _ = std::fs::remove_dir_all(&work);
        return Ok(());
    }
    if run.opts.admin_only {
        let md = admin(&mut run).await?;
        run.stack.stop();
        println!("Commit {}.\n\n{md}", commit());
        let _ = std::fs::remove_dir_all(&work);
        return Ok(());
    }
    if run.opts.files_only {
        let md = files(&mut run, &work).await?;
        run.stack.stop();
        println!("Commit {}.\n\n{md}", commit());
        let _ = std::fs::remove_dir_all(&work);
        return Ok(());
    }
    if run.opts.policies_only {
        let policies = policies(&mut run).await?;
        run.stack.stop();
        let mut md = format!("Commit {}.\n\n", commit());
        report::push_policies(&mut md, run.opts.connections, &policies);
        println!("{md}");
        let _ = std::fs::remove_dir_all(&work);
        return Ok(());
    }
    let report = measure(&mut run).await?;
    let hooks = webhooks(&mut run).await?;
    let flows = workflows(&mut run).await?;
    let files = files(&mut run, &work).await?;
    let live = realtime(&mut run).await?;
    let admin = admin(&mut run).await?;
    run.stack.stop();
    let md = format!(
        "{}\n{hooks}\n{flows}\n{files}\n{live}\n{admin}",
        report.markdown()
    );
    println!("{md}");
    if write_docs {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/benchmarks.md");
        report::write_docs(&docs, &md)?;
        say(&format!("wrote the tables into {}", docs.display()));
    }
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}
