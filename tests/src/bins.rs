//! The real binaries for tests that run them as processes: built once per test process (the same
//! command as `make test`'s first step, so normally a no-op), and free loopback ports for them.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The debug binaries, built once. `make test` builds them the same way first (same command, same
/// features), so here this is a check that they are current.
pub fn bin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        // What `cargo test` sets for this process (package name, manifest folder…) would make the
        // inner build look different and compile everything again.
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            let keep = matches!(key.as_ref(), "CARGO_HOME" | "CARGO_TARGET_DIR");
            if (key.starts_with("CARGO_") && !keep) || key == "OUT_DIR" {
                cmd.env_remove(key.as_ref());
            }
        }
        let status = cmd
            .current_dir(root())
            .args(["build", "--workspace", "--bins"])
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build of the binaries failed");
        // This test runs from <target>/debug/deps.
        let exe = std::env::current_exe().unwrap();
        exe.parent().unwrap().parent().unwrap().to_path_buf()
    })
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A worker as its own process on `port`, in `env`'s cell (quiet logs), with `extra` settings.
/// Kill it to test what a crash leaves.
pub fn spawn_worker(
    env: &crate::TestEnv,
    port: u16,
    extra: &[(&str, &str)],
) -> std::process::Child {
    Command::new(bin_dir().join("data-plane"))
        .env("DATABASE_URL", &env.db_url)
        .env("WORKER_ADDR", format!("127.0.0.1:{port}"))
        .env("WORKER_ID", "crash-worker")
        .env("CONTROL_PLANE_GRPC_URL", env.control_plane_grpc())
        .env("CLUSTER_TOKEN", crate::CLUSTER_TOKEN)
        .env("EGRESS_ALLOW", "loopback")
        .env("RATE_LIMIT_DISABLED", "true")
        .env("LOG", "warn")
        .envs(extra.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the worker binary")
}
