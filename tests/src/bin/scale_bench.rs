//! Scale benchmark (`make bench-scale`): many projects of 5 collections each on one cell of two
//! workers — the release binaries as separate processes over a private Postgres, all on
//! 127.0.0.1. Reports each process's memory per idle project, and how long a config change takes
//! to reach both workers (the admin call returns only once both applied it), at that scale.
//!
//! `--projects N` (default 10,000), `--concurrency N` (default 8), `--pushes N` (default 200).

use anyhow::{bail, Context};
use e2e::bench::procs::rss_kib;
use e2e::bench::seed;
use e2e::bench::stack::Stack;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Options {
    projects: usize,
    concurrency: usize,
    pushes: usize,
}

fn options() -> anyhow::Result<Options> {
    let mut o = Options {
        projects: 10_000,
        concurrency: 8,
        pushes: 200,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut num = |name: &str| -> anyhow::Result<usize> {
            args.next()
                .and_then(|v| v.parse().ok())
                .filter(|n: &usize| *n > 0)
                .with_context(|| format!("{name} needs a positive whole number"))
        };
        match arg.as_str() {
            "--projects" => o.projects = num("--projects")?,
            "--concurrency" => o.concurrency = num("--concurrency")?,
            "--pushes" => o.pushes = num("--pushes")?,
            "-h" | "--help" => {
                println!("usage: scale_bench [--projects N] [--concurrency N] [--pushes N]");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other} (see --help)"),
        }
    }
    Ok(o)
}

fn say(msg: &str) {
    eprintln!("[scale-bench] {msg}");
}

/// The schema every project gets: 5 collections of 4 fields.
fn document() -> Value {
    let collections: Vec<Value> = ["posts", "authors", "comments", "tags", "orders"]
        .iter()
        .map(|c| {
            json!({
                "name": c, "display_name": c,
                "fields": [
                    {"name": "title", "display_name": "Title", "field_type": "string", "is_indexed": true},
                    {"name": "body", "display_name": "Body", "field_type": "text"},
                    {"name": "n", "display_name": "N", "field_type": "int"},
                    {"name": "at", "display_name": "At", "field_type": "datetime"},
                ]
            })
        })
        .collect();
    json!({ "format": "backendify.schema/v1", "collections": collections })
}

async fn expect(res: reqwest::Response, want: u16, what: &str) -> anyhow::Result<Value> {
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    if status != want {
        bail!("{what}: {status} {body}");
    }
    Ok(body)
}

/// Creates project `i` with its 5 collections; returns its id.
async fn make_project(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    i: usize,
) -> anyhow::Result<String> {
    let res = http
        .post(format!("{base}/api/projects"))
        .bearer_auth(token)
        .json(&json!({"name": format!("p{i:05}")}))
        .send()
        .await?;
    let id = expect(res, 201, "create project").await?["id"]
        .as_str()
        .context("project id")?
        .to_owned();
    let res = http
        .post(format!("{base}/api/projects/{id}/schema/import"))
        .bearer_auth(token)
        .json(&document())
        .send()
        .await?;
    expect(res, 200, "import the schema").await?;
    Ok(id)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    let i = ((sorted.len() as f64 * q).ceil() as usize).max(1) - 1;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let o = options()?;
    let work = std::env::temp_dir().join(format!("backendify-scale-{}", std::process::id()));
    say("starting Postgres, control plane, two workers and router (release binaries)");
    let mut stack = Stack::start(&work.join("logs")).await?;
    stack.add_worker("worker-2").await?;
    let first = seed::create_project(&stack.base).await?;
    let pid = |stack: &Stack, name: &str| {
        stack
            .pids()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, p)| p)
            .context("a stack process")
    };
    let names = ["control-plane", "worker", "worker-2", "router"];
    let pids: Vec<u32> = names
        .iter()
        .map(|n| pid(&stack, n))
        .collect::<anyhow::Result<_>>()?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before: Vec<u64> = pids.iter().map(|p| rss_kib(*p).unwrap_or(0)).collect();

    say(&format!(
        "creating {} projects of 5 collections ({} at a time)",
        o.projects, o.concurrency
    ));
    let http = reqwest::Client::new();
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..o.concurrency {
        let (http, next, base, token) = (
            http.clone(),
            next.clone(),
            stack.base.clone(),
            first.token.clone(),
        );
        let total = o.projects;
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return anyhow::Ok(ids);
                }
                ids.push(make_project(&http, &base, &token, i).await?);
                if (i + 1) % 500 == 0 {
                    say(&format!("{} projects", i + 1));
                }
            }
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.extend(t.await??);
    }
    let build_secs = started.elapsed().as_secs_f64();
    stack.check_alive()?;
    say(&format!(
        "{} projects in {build_secs:.0} s; idling 10 s",
        ids.len()
    ));
    tokio::time::sleep(Duration::from_secs(10)).await;
    let after: Vec<u64> = pids.iter().map(|p| rss_kib(*p).unwrap_or(0)).collect();

    say(&format!("{} config changes to random projects", o.pushes));
    let mut pushes = Vec::new();
    let mut lagged = 0;
    for k in 0..o.pushes {
        let id = &ids[(k * 7919) % ids.len()];
        let t0 = Instant::now();
        let res = http
            .post(format!(
                "{}/api/projects/{id}/schema/collections/posts/fields",
                stack.base
            ))
            .bearer_auth(&first.token)
            .json(
                &json!({"name": format!("extra{k}"), "display_name": "Extra", "field_type": "int"}),
            )
            .send()
            .await?;
        if res.headers().contains_key("x-config-lagging-workers") {
            lagged += 1;
        }
        expect(res, 201, "add a field").await?;
        pushes.push(t0.elapsed());
    }
    pushes.sort();
    stack.check_alive()?;
    stack.stop();
    let _ = std::fs::remove_dir_all(&work);

    let n = ids.len() as f64;
    let mut md = format!(
        "### Scale: {} projects × 5 collections, two workers\n\nBuilt in {build_secs:.0} s ({:.1} projects/s, {} at a time).\n\n| process | RSS before | RSS after | per project |\n| --- | ---: | ---: | ---: |\n",
        ids.len(),
        n / build_secs,
        o.concurrency
    );
    for (i, name) in names.iter().enumerate() {
        md.push_str(&format!(
            "| {name} | {:.1} MiB | {:.1} MiB | {:.1} KiB |\n",
            mib(before[i]),
            mib(after[i]),
            (after[i] as f64 - before[i] as f64) / n
        ));
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    md.push_str(&format!(
        "\nConfig push (add a field; the call returns once both workers applied it), {} changes: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; lagging past the bound: {lagged}.\n",
        pushes.len(),
        ms(percentile(&pushes, 0.5)),
        ms(percentile(&pushes, 0.99)),
        ms(pushes[pushes.len() - 1]),
    ));
    println!("{md}");
    Ok(())
}
