//! A private Postgres cluster for one test process: `initdb` into a temporary folder, `postgres`
//! on a free loopback port, and a fresh database per test. When the tests run as root, the
//! cluster runs as the `postgres` system user (Postgres refuses root). The server is told to
//! exit when the test process dies, so nothing outlives a run.

#![allow(unsafe_code)]

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

struct Cluster {
    port: u16,
    dir: PathBuf,
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();
/// Another cluster, for tests of a second cell.
static SECOND: OnceLock<Cluster> = OnceLock::new();

/// The folder of the PostgreSQL server binaries (the newest under `/usr/lib/postgresql`).
pub fn bin_dir() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .filter(|p| p.join("initdb").is_file())
                .collect()
        })
        .unwrap_or_default();
    found.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    if let Some(dir) = found.pop() {
        return dir;
    }
    let which = Command::new("sh")
        .args(["-c", "command -v initdb"])
        .output()
        .expect("run sh");
    let path = String::from_utf8_lossy(&which.stdout).trim().to_owned();
    assert!(
        !path.is_empty(),
        "PostgreSQL server binaries not found: run `scripts/deps.sh` (apt-get install postgresql)"
    );
    let path = std::fs::canonicalize(path).expect("resolve initdb");
    path.parent().unwrap().to_path_buf()
}

/// `(uid, gid)` to run Postgres as: the `postgres` user when we are root.
fn run_as() -> Option<(u32, u32)> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let id = |flag: &str| -> u32 {
        let out = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .expect("run id");
        assert!(
            out.status.success(),
            "running as root needs a `postgres` system user (it comes with the postgresql package)"
        );
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("numeric id")
    };
    Some((id("-u"), id("-g")))
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Removes clusters left by test processes that no longer exist.
fn remove_stale(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for e in entries.filter_map(|e| e.ok()) {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(rest) = name.strip_prefix("backendify-test-pg-") {
            let pid = rest.split('-').next().unwrap_or(rest);
            if !Path::new(&format!("/proc/{pid}")).exists() {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

fn start_cluster() -> Cluster {
    start_cluster_in(&format!("backendify-test-pg-{}", std::process::id()))
}

fn start_second_cluster() -> Cluster {
    start_cluster_in(&format!("backendify-test-pg-{}-second", std::process::id()))
}

fn start_cluster_in(folder: &str) -> Cluster {
    let bin = bin_dir();
    let root = std::env::temp_dir();
    remove_stale(&root);
    let dir = root.join(folder);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let user = run_as();
    if let Some((uid, gid)) = user {
        std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).expect("chown the cluster folder");
    }
    let data = dir.join("data");
    let mut initdb = Command::new(bin.join("initdb"));
    initdb
        .args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
            "--no-instructions",
        ])
        .arg("-D")
        .arg(&data);
    if let Some((uid, gid)) = user {
        initdb.uid(uid).gid(gid);
    }
    let out = initdb.output().expect("run initdb");
    assert!(
        out.status.success(),
        "initdb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let port = free_port();
    spawn_server(&dir, port);
    Cluster { port, dir }
}

/// Starts the cluster in `dir` on `port` and waits until it accepts connections. The server is
/// the child of a thread that never ends, and gets SIGQUIT when this process dies.
fn spawn_server(dir: &Path, port: u16) {
    let bin = bin_dir();
    let user = run_as();
    let data = dir.join("data");
    let dir = dir.to_path_buf();
    let mut postgres = Command::new(bin.join("postgres"));
    postgres
        .arg("-D")
        .arg(&data)
        .arg("-k")
        .arg(&dir)
        .args(["-p", &port.to_string()]);
    for setting in [
        "listen_addresses=127.0.0.1",
        "fsync=off",
        "synchronous_commit=off",
        "full_page_writes=off",
        "max_connections=400",
        "shared_buffers=64MB",
        // A cell other than the control database commits schema changes in two phases.
        "max_prepared_transactions=20",
    ] {
        postgres.args(["-c", setting]);
    }
    postgres.stdout(Stdio::null()).stderr(
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("postgres.log"))
            .unwrap(),
    );
    if let Some((uid, gid)) = user {
        postgres.uid(uid).gid(gid);
    }
    // SAFETY: prctl is async-signal-safe; it runs in the child after the uid change (which clears
    // the death signal), so the server gets SIGQUIT (immediate stop) when its parent thread ends.
    unsafe {
        postgres.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGQUIT);
            Ok(())
        });
    }
    // The parent *thread* must outlive the tests, so the server is started by one that never ends.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut child = postgres.spawn().expect("start postgres");
        tx.send(()).unwrap();
        let _ = child.wait();
    });
    rx.recv().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "postgres did not start; see {}",
            dir.join("postgres.log").display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The URL of the cluster's `postgres` database.
pub fn admin_url() -> String {
    let c = CLUSTER.get_or_init(start_cluster);
    format!("postgres://postgres@127.0.0.1:{}/postgres", c.port)
}

/// The pid of the cluster's postmaster (its other processes are the postmaster's children).
pub fn postmaster_pid() -> Option<u32> {
    let c = CLUSTER.get_or_init(start_cluster);
    let pid = std::fs::read_to_string(c.dir.join("data/postmaster.pid")).ok()?;
    pid.lines().next()?.trim().parse().ok()
}

/// Stops this process's cluster (a fast shutdown: open sessions are cut), keeps it down for
/// `down`, then starts it again on the same port and returns once it accepts connections. Every
/// test of the process loses the database meanwhile: use it in a test binary of its own.
pub async fn restart(down: Duration) {
    let c = CLUSTER.get().expect("the cluster was started");
    let pid = postmaster_pid().expect("a running postmaster");
    // SAFETY: kill has no memory preconditions; the pid is our own cluster's postmaster.
    unsafe {
        libc::kill(pid as i32, libc::SIGINT);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while Path::new(&format!("/proc/{pid}")).exists() && !is_zombie(pid) {
        assert!(Instant::now() < deadline, "postgres did not stop");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(down).await;
    let (dir, port) = (c.dir.clone(), c.port);
    tokio::task::spawn_blocking(move || spawn_server(&dir, port))
        .await
        .expect("restart postgres");
}

/// Whether `pid` has exited but is not reaped yet.
fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

/// Creates an empty database for one test; returns its URL.
pub async fn fresh_database() -> String {
    fresh_database_at(admin_url()).await
}

/// The URL of the second cluster's `postgres` database (started on first use).
pub fn second_admin_url() -> String {
    let c = SECOND.get_or_init(start_second_cluster);
    format!("postgres://postgres@127.0.0.1:{}/postgres", c.port)
}

/// Creates an empty database on the second cluster; returns its URL.
pub async fn fresh_database_on_second() -> String {
    fresh_database_at(second_admin_url()).await
}

async fn fresh_database_at(admin: String) -> String {
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // The server may still be finishing start-up after it opened its port.
        match sqlx::PgPool::connect(&admin).await {
            Ok(pool) => {
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&pool)
                    .await
                    .expect("create test database");
                pool.close().await;
                break;
            }
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("cannot reach the test postgres: {e}"),
        }
    }
    let (server, _) = admin.rsplit_once('/').expect("url has a database");
    format!("{server}/{name}")
}
