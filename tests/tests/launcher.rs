//! `make run`'s launcher (scripts/run-local.sh), run for real over the debug binaries
//! (`SKIP_BUILD=1`, `BIN_DIR`): two runs side by side on their own ports and data folders, log
//! files without colour codes (and JSON lines with `LOG_FORMAT=json`), nothing left behind after
//! SIGKILL of the launcher, SIGTERM stopping everything within 10 s, a taken port named before
//! anything starts, and a service that dies started again while the rest keeps serving.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e::bins::{bin_dir, free_port};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A temporary folder the `postgres` user can reach (the launcher runs Postgres as it when root).
fn data_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bfy-launcher-{name}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    Command::new("chmod").arg("755").arg(&dir).status().unwrap();
    dir
}

struct Launch {
    child: Child,
    dir: PathBuf,
    router_port: u16,
    output: Arc<Mutex<String>>,
}

impl Launch {
    fn command(dir: &Path, router_port: u16, env: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(root().join("scripts/run-local.sh"));
        cmd.env("SKIP_BUILD", "1")
            .env("BIN_DIR", bin_dir())
            .env("DATA_DIR", dir)
            .env("ROUTER_ADDR", format!("127.0.0.1:{router_port}"))
            .env("PG_PORT", free_port().to_string())
            .env("LOG", "info")
            .env_remove("DATABASE_URL")
            .env_remove("LOG_FORMAT")
            .env_remove("CLUSTER_TOKEN")
            .env_remove("JWT_SECRET")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Starts the launcher and waits until it says everything runs.
    fn start(name: &str, env: &[(&str, &str)]) -> Self {
        let dir = data_dir(name);
        let router_port = free_port();
        let mut child = Self::command(&dir, router_port, env).spawn().unwrap();
        let output = Arc::new(Mutex::new(String::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let output = output.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let mut out = output.lock().unwrap();
                    out.push_str(&line);
                    out.push('\n');
                }
            });
        }
        let mut launch = Launch {
            child,
            dir,
            router_port,
            output,
        };
        let deadline = Instant::now() + Duration::from_secs(90);
        while !launch.output().contains("Press Ctrl-C") {
            if let Some(status) = launch.child.try_wait().unwrap() {
                panic!("launcher ended ({status}):\n{}", launch.output());
            }
            assert!(
                Instant::now() < deadline,
                "launcher not ready:\n{}",
                launch.output()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        launch
    }

    fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// Every port the launcher's banner names (router, control plane, workers, Postgres).
    fn ports(&self) -> BTreeSet<u16> {
        let out = self.output();
        let banner = &out[out.find("is running").unwrap()..];
        banner
            .split("127.0.0.1:")
            .skip(1)
            .filter_map(|s| {
                let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
                digits.parse().ok()
            })
            .collect()
    }

    /// The launcher's processes: its children (services, watchdog) and the Postgres server.
    fn processes(&self) -> Vec<u32> {
        let me = self.child.id();
        let mut pids: Vec<u32> = std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|&pid| stat(pid).is_some_and(|(_, ppid)| ppid == me))
            .collect();
        let pg = std::fs::read_to_string(self.dir.join("pg/postmaster.pid")).unwrap();
        pids.push(pg.lines().next().unwrap().trim().parse().unwrap());
        pids
    }

    fn log_files(&self) -> Vec<(String, String)> {
        ["control-plane", "worker-1", "worker-2", "router"]
            .iter()
            .map(|n| {
                let path = self.dir.join(format!("logs/{n}.log"));
                (n.to_string(), std::fs::read_to_string(path).unwrap())
            })
            .collect()
    }
}

impl Drop for Launch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// State and parent of a process, `None` once it is gone.
fn stat(pid: u32) -> Option<(char, u32)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut rest = s[s.rfind(')')? + 1..].split_whitespace();
    let state = rest.next()?.chars().next()?;
    Some((state, rest.next()?.parse().ok()?))
}

/// Gone, or a zombie waiting for a parent that does not reap (it holds no port or memory).
fn ended(pid: u32) -> bool {
    stat(pid).is_none_or(|(state, _)| matches!(state, 'Z' | 'X'))
}

fn port_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

fn get(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn wait_until(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < limit, "{what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    start.elapsed()
}

#[test]
fn two_runs_side_by_side_then_sigkill_and_sigterm_leave_nothing_behind() {
    // Two runs at once: only ROUTER_ADDR, DATA_DIR (and a free PG_PORT) differ.
    let (text, json) = std::thread::scope(|s| {
        let text = s.spawn(|| Launch::start("text", &[]));
        let json = s.spawn(|| Launch::start("json", &[("LOG_FORMAT", "json")]));
        (text.join().unwrap(), json.join().unwrap())
    });
    let (text_ports, json_ports) = (text.ports(), json.ports());
    // Router, control plane (HTTP, gRPC), two workers, Postgres, and four metrics listeners.
    assert_eq!(text_ports.len(), 10, "{}", text.output());
    assert!(
        text_ports.is_disjoint(&json_ports),
        "{text_ports:?} {json_ports:?}"
    );
    for l in [&text, &json] {
        let info = get(l.router_port, "/");
        assert!(info.starts_with("HTTP/1.1 200"), "{info}");
        assert!(info.contains("\"name\""), "{info}");
        assert!(get(l.router_port, "/console/").contains("<base href=\"/console/\">"));
        assert!(get(l.router_port, "/ready").starts_with("HTTP/1.1 200"));
        // Every process's metrics, as the banner lists them.
        let out = l.output();
        let line = out
            .lines()
            .find(|line| line.trim_start().starts_with("Metrics"))
            .expect("the banner lists the metrics URLs");
        let ports: Vec<u16> = line
            .split("127.0.0.1:")
            .skip(1)
            .filter_map(|s| s.split('/').next()?.parse().ok())
            .collect();
        assert_eq!(ports.len(), 4, "{line}");
        for port in ports {
            let metrics = get(port, "/metrics");
            assert!(metrics.contains("backendify_http_requests"), "{metrics}");
        }
    }

    // Log files: no terminal colour codes; with LOG_FORMAT=json, one JSON object per line.
    for (name, log) in text.log_files() {
        assert!(!log.is_empty(), "{name} logged nothing");
        assert!(
            !log.contains('\u{1b}'),
            "{name}.log has escape codes:\n{log}"
        );
    }
    for (name, log) in json.log_files() {
        assert!(!log.is_empty(), "{name} logged nothing");
        for line in log.lines() {
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{name}.log: not JSON ({e}): {line}"));
            assert!(
                v["level"].is_string() && v["timestamp"].is_string(),
                "{line}"
            );
        }
    }

    // SIGKILL of the launcher: every service, the watchdog and Postgres end; the ports are free.
    let mut text = text;
    let procs = text.processes();
    assert_eq!(
        procs.len(),
        6,
        "4 services, the watchdog and Postgres: {procs:?}"
    );
    text.child.kill().unwrap();
    text.child.wait().unwrap();
    wait_until(
        "every process of the killed launcher ends",
        Duration::from_secs(15),
        || procs.iter().all(|&p| ended(p)),
    );
    wait_until("its ports are free", Duration::from_secs(5), || {
        text_ports.iter().all(|&p| port_free(p))
    });

    // SIGTERM: an orderly stop of everything within 10 s.
    let mut json = json;
    let procs = json.processes();
    Command::new("kill")
        .args(["-TERM", &json.child.id().to_string()])
        .status()
        .unwrap();
    let took = wait_until(
        "everything ends on SIGTERM",
        Duration::from_secs(10),
        || json.child.try_wait().unwrap().is_some() && procs.iter().all(|&p| ended(p)),
    );
    eprintln!("SIGTERM stopped everything in {took:?}");
    assert!(
        json.output().contains("everything stopped"),
        "{}",
        json.output()
    );
    assert!(json_ports.iter().all(|&p| port_free(p)));
}

#[test]
fn a_taken_router_port_is_named_before_anything_starts() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = data_dir("taken");
    let out = Launch::command(&dir, port, &[]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!("router port {port} is in use")),
        "{stderr}"
    );
    assert!(!dir.join("pg").exists(), "nothing started");
    // A taken internal port given by the operator is named as well.
    let out = Launch::command(
        &dir,
        free_port(),
        &[("WORKER_2_ADDR", &format!("127.0.0.1:{port}"))],
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("worker-2 port {port} is in use")),
        "{stderr}"
    );
    assert!(!dir.join("pg").exists(), "nothing started");
    let _ = std::fs::remove_dir_all(&dir);
}

fn sigkill(pid: u32) {
    let killed = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success(), "kill -KILL {pid}");
}

/// The launcher's child processes running `binary`.
fn children_running(l: &Launch, binary: &str) -> Vec<u32> {
    let me = l.child.id();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| stat(pid).is_some_and(|(state, ppid)| ppid == me && state != 'Z'))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                String::from_utf8_lossy(&c)
                    .split('\0')
                    .next()
                    .is_some_and(|b| b.ends_with(binary))
            })
        })
        .collect()
}

#[test]
fn a_service_that_dies_is_started_again_and_the_rest_keeps_serving() {
    let l = Launch::start("restart", &[]);
    let workers = children_running(&l, "/data-plane");
    assert_eq!(workers.len(), 2, "{}", l.output());
    sigkill(workers[0]);
    wait_until("the launcher to notice", Duration::from_secs(10), || {
        l.output().contains("stopped unexpectedly") && l.output().contains("restarted (pid")
    });
    wait_until("two workers again", Duration::from_secs(20), || {
        let now = children_running(&l, "/data-plane");
        now.len() == 2 && !now.contains(&workers[0])
    });
    // The control plane too: meanwhile the router and workers keep serving.
    let cp = children_running(&l, "/control-plane");
    assert_eq!(cp.len(), 1);
    sigkill(cp[0]);
    wait_until("the control plane back", Duration::from_secs(30), || {
        children_running(&l, "/control-plane")
            .iter()
            .any(|p| *p != cp[0])
            && get(l.router_port, "/api/me").starts_with("HTTP/1.1 401")
    });
    wait_until("the router ready", Duration::from_secs(20), || {
        get(l.router_port, "/ready").starts_with("HTTP/1.1 200")
    });
    let out = l.output();
    assert!(out.contains("control-plane stopped unexpectedly"), "{out}");
    // The log keeps what the dead worker said, with the restart marked.
    let logs = l.log_files();
    let died = logs
        .iter()
        .find(|(_, log)| log.contains("restarted at"))
        .expect("a marked log");
    assert!(
        died.1.matches("worker listening").count()
            + died.1.matches("control plane listening").count()
            >= 2,
        "{}",
        died.1
    );
}
