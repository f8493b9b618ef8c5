//! The measured stack: the release binaries of the control plane, one worker and the router, each
//! in its own process on 127.0.0.1, over a fresh database in the private cluster of `crate::pg`.
//! Separate processes keep CPU sharing honest and give each component its own RSS. Every child
//! gets SIGKILL when this process dies, and `Drop` stops them on a normal exit or a panic.

#![allow(unsafe_code)]

use anyhow::{bail, Context};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One running binary.
pub struct Proc {
    /// `control-plane`, `worker` or `router`.
    pub name: &'static str,
    child: Child,
}

/// The running stack.
pub struct Stack {
    /// The router's base URL.
    pub base: String,
    /// The router's address.
    pub router_addr: SocketAddr,
    /// The database every component uses (superuser `postgres`).
    pub db_url: String,
    /// Where each process writes its log.
    pub log_dir: PathBuf,
    procs: Vec<Proc>,
    /// What another worker needs: the control plane's gRPC URL and the cluster token.
    join: (String, String),
    /// The control plane's HTTP URL (for another router).
    cp_http: String,
}

fn local() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], crate::pg::free_port()))
}

/// The folder holding the release binaries: the one this benchmark runs from.
pub fn bin_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("find this executable")?;
    let dir = exe.parent().context("executable folder")?.to_path_buf();
    for bin in ["control-plane", "data-plane", "router"] {
        if !dir.join(bin).is_file() {
            bail!(
                "{} is missing: run `cargo build --release --workspace --bins` first",
                dir.join(bin).display()
            );
        }
    }
    Ok(dir)
}

impl Stack {
    /// Starts Postgres (if needed), a fresh database, then control plane, worker and router,
    /// waiting for each one's `/health`.
    pub async fn start(log_dir: &Path) -> anyhow::Result<Self> {
        let bins = bin_dir()?;
        std::fs::create_dir_all(log_dir).context("create the log folder")?;
        let db_url = crate::pg::fresh_database().await;
        let (cp_http, cp_grpc, worker, router) = (local(), local(), local(), local());
        let mut stack = Stack {
            base: format!("http://{router}"),
            router_addr: router,
            db_url: db_url.clone(),
            log_dir: log_dir.to_path_buf(),
            procs: Vec::new(),
            join: (String::new(), String::new()),
            cp_http: format!("http://{cp_http}"),
        };
        let secret = uuid::Uuid::new_v4().simple().to_string();
        let grpc_url = format!("http://{cp_grpc}");
        let cluster_token = uuid::Uuid::new_v4().simple().to_string();
        stack.join = (grpc_url.clone(), cluster_token.clone());
        stack.spawn(
            &bins,
            "control-plane",
            "control-plane",
            &[
                ("DATABASE_URL", db_url.clone()),
                ("CONTROL_HTTP_ADDR", cp_http.to_string()),
                ("CONTROL_GRPC_ADDR", cp_grpc.to_string()),
                ("JWT_SECRET", secret),
                ("CLUSTER_TOKEN", cluster_token.clone()),
                // The whole run uses one admin token.
                ("ACCESS_TOKEN_EXPIRE_MINUTES", "720".into()),
            ],
        )?;
        stack.wait_health("control-plane", cp_http).await?;
        stack.spawn(
            &bins,
            "worker",
            "data-plane",
            &[
                ("DATABASE_URL", db_url.clone()),
                ("WORKER_ADDR", worker.to_string()),
                ("CONTROL_PLANE_GRPC_URL", grpc_url.clone()),
                ("WORKER_ID", "bench-worker".into()),
                ("CLUSTER_TOKEN", cluster_token.clone()),
                // The login measurement signs in far more often than the limit allows.
                ("RATE_LIMIT_DISABLED", "1".into()),
                ("EGRESS_ALLOW", "loopback".into()),
                // The file benchmark stores a 100 MiB file in the local backend.
                ("FILES_DIR", log_dir.join("files").display().to_string()),
                ("MAX_FILE_SIZE", (256u64 << 20).to_string()),
                // The worker's default unless the caller sets it (to compare settings).
                (
                    "WORKFLOW_RUNS_IN_FLIGHT",
                    std::env::var("WORKFLOW_RUNS_IN_FLIGHT").unwrap_or_else(|_| "16".into()),
                ),
            ],
        )?;
        stack.wait_health("worker", worker).await?;
        let console = Path::new(env!("CARGO_MANIFEST_DIR")).join("../console/src");
        stack.spawn(
            &bins,
            "router",
            "router",
            &[
                ("ROUTER_ADDR", router.to_string()),
                ("CONTROL_PLANE_HTTP_URL", format!("http://{cp_http}")),
                ("CONTROL_PLANE_GRPC_URL", grpc_url),
                ("CLUSTER_TOKEN", cluster_token),
                ("CONSOLE_DIR", console.display().to_string()),
            ],
        )?;
        stack.wait_health("router", router).await?;
        Ok(stack)
    }

    /// Starts one more router, `name`, with `extra` settings, and waits for its `/health`;
    /// returns its address and pid.
    pub async fn add_router(
        &mut self,
        name: &'static str,
        extra: &[(&str, String)],
    ) -> anyhow::Result<(SocketAddr, u32)> {
        let bins = bin_dir()?;
        let addr = local();
        let (grpc_url, token) = self.join.clone();
        let mut env = vec![
            ("ROUTER_ADDR", addr.to_string()),
            ("CONTROL_PLANE_HTTP_URL", self.cp_http.clone()),
            ("CONTROL_PLANE_GRPC_URL", grpc_url),
            ("CLUSTER_TOKEN", token),
            ("CONSOLE_DIR", self.log_dir.display().to_string()),
        ];
        env.extend(extra.iter().cloned());
        self.spawn(&bins, name, "router", &env)?;
        self.wait_health(name, addr).await?;
        let pid = self
            .pids()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, p)| p)
            .expect("just started");
        Ok((addr, pid))
    }

    /// Starts one more worker, `name` (its id too), and waits for its `/health`.
    pub async fn add_worker(&mut self, name: &'static str) -> anyhow::Result<()> {
        let bins = bin_dir()?;
        let addr = local();
        let (grpc_url, token) = self.join.clone();
        self.spawn(
            &bins,
            name,
            "data-plane",
            &[
                ("DATABASE_URL", self.db_url.clone()),
                ("WORKER_ADDR", addr.to_string()),
                ("CONTROL_PLANE_GRPC_URL", grpc_url),
                ("WORKER_ID", name.into()),
                ("CLUSTER_TOKEN", token),
                ("EGRESS_ALLOW", "loopback".into()),
                (
                    "FILES_DIR",
                    self.log_dir.join("files").display().to_string(),
                ),
            ],
        )?;
        self.wait_health(name, addr).await
    }

    fn spawn(
        &mut self,
        bins: &Path,
        name: &'static str,
        bin: &str,
        env: &[(&str, String)],
    ) -> anyhow::Result<()> {
        let log = std::fs::File::create(self.log_dir.join(format!("{name}.log")))?;
        let mut cmd = Command::new(bins.join(bin));
        // Only the settings given here: nothing leaks in from the caller's shell.
        cmd.env_clear()
            .env("LOG", "info")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        // SAFETY: prctl is async-signal-safe; the child dies with the thread that started it (the
        // benchmark's main thread), so nothing outlives an interrupted run.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd.spawn().with_context(|| format!("start {bin}"))?;
        self.procs.push(Proc { name, child });
        Ok(())
    }

    async fn wait_health(&mut self, name: &str, addr: SocketAddr) -> anyhow::Result<()> {
        let http = reqwest::Client::new();
        let url = format!("http://{addr}/health");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(res) = http.get(&url).send().await {
                if res.status().is_success() {
                    return Ok(());
                }
            }
            if let Some(p) = self.procs.iter_mut().find(|p| p.name == name) {
                if let Some(status) = p.child.try_wait()? {
                    bail!(
                        "{name} exited during start-up ({status}); see {}",
                        self.log(name)
                    );
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "{name} did not answer {url} within 60 s; see {}",
                    self.log(name)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log(&self, name: &str) -> String {
        self.log_dir
            .join(format!("{name}.log"))
            .display()
            .to_string()
    }

    /// `(name, pid)` of each running binary.
    pub fn pids(&self) -> Vec<(&'static str, u32)> {
        self.procs.iter().map(|p| (p.name, p.child.id())).collect()
    }

    /// Fails when a binary has exited (a crash under load would make every figure meaningless).
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        for p in &mut self.procs {
            if let Some(status) = p.child.try_wait()? {
                bail!(
                    "{} exited ({status}); see its log in {}",
                    p.name,
                    self.log_dir.display()
                );
            }
        }
        Ok(())
    }

    /// Stops every binary (router first).
    pub fn stop(&mut self) {
        while let Some(mut p) = self.procs.pop() {
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.stop();
    }
}
