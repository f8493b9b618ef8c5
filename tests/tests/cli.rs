//! The `backendify` command line against the real platform: it is built (a no-op when current) and
//! run as a process, as a person or a CI job would run it, speaking gRPC to the router's port.

use e2e::TestEnv;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use tokio::io::AsyncWriteExt;

/// The `backendify` binary, built once per test process with `cargo build -p cli`.
fn binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let mut cmd = std::process::Command::new(env!("CARGO"));
        // What `cargo test` sets for this process would make the inner build look different and
        // compile everything again (see `e2e::bins`).
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            let keep = matches!(key.as_ref(), "CARGO_HOME" | "CARGO_TARGET_DIR");
            if (key.starts_with("CARGO_") && !keep) || key == "OUT_DIR" {
                cmd.env_remove(key.as_ref());
            }
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let status = cmd
            .current_dir(root)
            .args(["build", "-p", "cli", "--bin", "backendify"])
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build -p cli failed");
        // This test runs from <target>/debug/deps; the binary sits in <target>/debug.
        let exe = std::env::current_exe().unwrap();
        let bin = exe.parent().unwrap().parent().unwrap().join("backendify");
        assert!(
            bin.is_file(),
            "`cargo build -p cli` left no binary at {}",
            bin.display()
        );
        bin
    })
}

/// One finished run.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Stdout as JSON (for `--output json`).
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {self:?}"))
    }

    fn ok(self) -> Self {
        assert_eq!(self.code, 0, "{self:?}");
        self
    }
}

/// The CLI aimed at one platform, with its own config file (never the user's).
struct Cli {
    url: String,
    config: PathBuf,
}

impl Cli {
    fn new(env: &TestEnv) -> Self {
        let config = std::env::temp_dir()
            .join(format!("backendify-cli-{}", uuid::Uuid::new_v4()))
            .join("config.json");
        Self {
            url: format!("http://{}", env.router_addr()),
            config,
        }
    }

    async fn run(&self, args: &[&str]) -> Run {
        self.run_with_stdin(args, "").await
    }

    async fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Run {
        let mut child = tokio::process::Command::new(binary())
            .env_remove("BACKENDIFY_TOKEN")
            .env_remove("BACKENDIFY_PASSWORD")
            .env("BACKENDIFY_URL", &self.url)
            .env("BACKENDIFY_CONFIG", &self.config)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start backendify");
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.as_bytes()).await.unwrap();
        drop(input);
        let out = child.wait_with_output().await.unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn cleanup(&self) {
        let _ = std::fs::remove_dir_all(self.config.parent().unwrap());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_saves_a_private_session_and_bad_tokens_point_to_login() {
    binary();
    let env = TestEnv::start().await;
    let t = env.admin("cli@example.com").await;
    let p = env.project(&t, "Blog").await;
    let cli = Cli::new(&env);

    // Not logged in yet; a wrong password is refused.
    let run = cli.run(&["projects", "list"]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("backendify login"), "{run:?}");
    let run = cli
        .run_with_stdin(&["login", "--email", "cli@example.com"], "wrong-password\n")
        .await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.starts_with("error: login failed"), "{run:?}");

    // The password from stdin; the session lands in the config file, mode 0600.
    let run = cli
        .run_with_stdin(&["login", "--email", "cli@example.com"], "password123\n")
        .await
        .ok();
    assert!(run.stdout.contains("cli@example.com"), "{run:?}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&cli.config).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let saved: Value = serde_json::from_slice(&std::fs::read(&cli.config).unwrap()).unwrap();
    assert_eq!(saved["url"], cli.url.as_str());
    // Login keeps a long-lived API token of its own, not the minutes-long access token.
    assert!(
        saved["token"].as_str().unwrap().starts_with("bfy_"),
        "{saved}"
    );
    let mine = env.call("GET", "/api/auth/tokens", Some(&t), None).await;
    let login_token = mine.body[0].clone();
    assert!(
        login_token["name"]
            .as_str()
            .unwrap()
            .starts_with("backendify CLI on "),
        "{mine:?}"
    );
    assert_eq!(login_token["id"], saved["token_id"]);

    let projects = cli
        .run(&["projects", "list", "--output", "json"])
        .await
        .ok()
        .json();
    assert_eq!(projects, serde_json::json!([{"id": p, "name": "Blog"}]));
    let table = cli.run(&["projects", "list"]).await.ok();
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["ID", "NAME"]
    );
    assert!(
        lines[1].starts_with(&p) && lines[1].ends_with("Blog"),
        "{table:?}"
    );
    let created = cli
        .run(&["projects", "create", "Shop", "--output", "json"])
        .await
        .ok()
        .json();
    assert_eq!(created["name"], "Shop");

    // A bad token: exit 1 and a hint to log in.
    let run = cli
        .run(&["--token", "not-a-token", "projects", "list"])
        .await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.starts_with("error: not authenticated"),
        "{run:?}"
    );
    assert!(run.stderr.contains("backendify login"), "{run:?}");

    // A server that is not there is named.
    let run = cli
        .run(&[
            "--url",
            "http://127.0.0.1:1",
            "--token",
            "x",
            "projects",
            "list",
        ])
        .await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("could not reach http://127.0.0.1:1"),
        "{run:?}"
    );

    // A 422 reads as one line per field.
    let run = cli
        .run(&["tokens", "create", "--name", "", "--expires-in-days", "0"])
        .await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.starts_with("error: invalid request:\n"),
        "{run:?}"
    );
    assert!(run.stderr.contains("\n  name: "), "{run:?}");
    assert!(run.stderr.contains("\n  expires_in_days: "), "{run:?}");

    // A usage error exits 1: 2 means "changes" for `schema diff`.
    let bad = cli.run(&["schema", "diff", "--no-such-flag"]).await;
    assert_eq!(bad.code, 1, "{bad:?}");

    // Logout revokes the token, ends the sign-in (its refresh token) and forgets both.
    let saved: Value = serde_json::from_slice(&std::fs::read(&cli.config).unwrap()).unwrap();
    let refresh = saved["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_owned();
    cli.run(&["logout"]).await.ok();
    let reuse = env
        .call(
            "POST",
            "/api/auth/refresh",
            None,
            Some(serde_json::json!({"refresh_token": refresh})),
        )
        .await;
    assert_eq!(reuse.status, 401, "{reuse:?}");
    let mine = env.call("GET", "/api/auth/tokens", Some(&t), None).await;
    let after = mine
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == login_token["id"])
        .unwrap();
    assert_eq!(after["status"], "revoked", "{mine:?}");
    let run = cli.run(&["projects", "list"]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("not logged in"), "{run:?}");
    cli.cleanup();
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_export_diff_and_apply_between_projects() {
    binary();
    let env = TestEnv::start().await;
    let t = env.admin("schema@example.com").await;
    let a = env.project(&t, "dev").await;
    let b = env.project(&t, "prod").await;
    env.collection(&t, &a, "order").await;
    env.field(&t, &a, "order", "title", "string").await;
    env.field(&t, &a, "order", "qty", "int").await;
    env.collection(&t, &a, "authors").await;
    env.field(&t, &a, "authors", "done", "bool").await;
    let cli = Cli::new(&env);
    let as_admin = |args: &[&str]| {
        let mut all = vec!["--token", t.as_str()];
        all.extend_from_slice(args);
        all.into_iter().map(str::to_owned).collect::<Vec<String>>()
    };
    let run = |args: Vec<String>| {
        let cli = &cli;
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            cli.run(&args).await
        }
    };

    // Export as YAML (the default) to a file.
    let yaml = run(as_admin(&["schema", "export", "--project", &a]))
        .await
        .ok()
        .stdout;
    assert!(yaml.contains("format: backendify.schema/v1"), "{yaml}");
    let dir = cli.config.parent().unwrap().to_owned();
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("schema.yaml");
    std::fs::write(&file, &yaml).unwrap();
    let file = file.to_str().unwrap();

    // Against the empty project: changes, exit 2.
    let diff = run(as_admin(&["schema", "diff", file, "--project", &b])).await;
    assert_eq!(diff.code, 2, "{diff:?}");
    assert!(diff.stdout.contains("+ collection order"), "{diff:?}");
    assert!(diff.stdout.contains("+ field order.qty: int"), "{diff:?}");
    assert!(diff.stdout.contains("+ collection authors"), "{diff:?}");

    // Apply: progress on stderr, then nothing left to change.
    let applied = run(as_admin(&["schema", "apply", file, "--project", &b]))
        .await
        .ok();
    assert!(applied.stderr.contains("previewing"), "{applied:?}");
    assert!(applied.stderr.contains("applying"), "{applied:?}");
    assert!(
        applied.stderr.contains("done: schema version"),
        "{applied:?}"
    );
    let diff = run(as_admin(&["schema", "diff", file, "--project", &b])).await;
    assert_eq!(diff.code, 0, "{diff:?}");
    assert!(diff.stdout.contains("no changes"), "{diff:?}");
    let names = run(as_admin(&[
        "collections",
        "list",
        "--project",
        &b,
        "--output",
        "json",
    ]))
    .await
    .ok()
    .json();
    let names: Vec<&str> = names
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["system"] == false)
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["order", "authors"]);

    // A collection only B has would be dropped: refused without --force, naming it.
    env.collection(&t, &b, "extra").await;
    let refused = run(as_admin(&["schema", "apply", file, "--project", &b])).await;
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(refused.stderr.contains("- collection extra"), "{refused:?}");
    assert!(refused.stderr.contains("--force"), "{refused:?}");
    let preview = run(as_admin(&[
        "schema",
        "apply",
        file,
        "--project",
        &b,
        "--dry-run",
    ]))
    .await
    .ok();
    assert!(preview.stdout.contains("destructive"), "{preview:?}");
    run(as_admin(&[
        "schema",
        "apply",
        file,
        "--project",
        &b,
        "--force",
    ]))
    .await
    .ok();

    // The JSON form of the document reads the same.
    let json_doc = run(as_admin(&[
        "schema",
        "export",
        "--project",
        &b,
        "--format",
        "json",
    ]))
    .await
    .ok()
    .json();
    let json_file = dir.join("schema.json");
    std::fs::write(&json_file, json_doc.to_string()).unwrap();
    let diff = run(as_admin(&[
        "schema",
        "diff",
        json_file.to_str().unwrap(),
        "--project",
        &a,
    ]))
    .await;
    assert_eq!(diff.code, 0, "{diff:?}");
    cli.cleanup();
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_and_read_only_tokens() {
    binary();
    let env = TestEnv::start().await;
    let t = env.admin("keys@example.com").await;
    let p = env.project(&t, "Shop").await;
    env.collection(&t, &p, "order").await;
    let cli = Cli::new(&env);
    cli.run_with_stdin(&["login", "--email", "keys@example.com"], "password123\n")
        .await
        .ok();

    // An API key: shown once with a warning, works, then revoked.
    let created = cli
        .run(&[
            "keys",
            "create",
            "--project",
            &p,
            "--name",
            "server",
            "--output",
            "json",
        ])
        .await
        .ok();
    assert!(
        created.stderr.contains("shown only this once"),
        "{created:?}"
    );
    let key = created.json();
    let (id, secret) = (
        key["id"].as_str().unwrap().to_owned(),
        key["api_key"].as_str().unwrap().to_owned(),
    );
    let data = format!("/api/projects/{p}/data/order");
    let with_key = env.request("GET", &data).header("x-api-key", &secret);
    assert_eq!(env.send(with_key).await.status, 200);
    let listed = cli.run(&["keys", "list", "--project", &p]).await.ok();
    assert!(listed.stdout.contains("server"), "{listed:?}");
    assert!(!listed.stdout.contains(&secret), "{listed:?}");
    cli.run(&["keys", "revoke", "--project", &p, &id])
        .await
        .ok();
    let with_key = env.request("GET", &data).header("x-api-key", &secret);
    assert_eq!(env.send(with_key).await.status, 401);
    let keys = cli
        .run(&["keys", "list", "--project", &p, "--output", "json"])
        .await
        .ok()
        .json();
    assert_eq!(keys[0]["revoked"], true, "{keys}");

    // A read-only token: reads, but cannot create.
    let created = cli
        .run(&[
            "tokens",
            "create",
            "--name",
            "ci",
            "--read-only",
            "--project",
            &p,
            "--output",
            "json",
        ])
        .await
        .ok();
    assert!(
        created.stderr.contains("shown only this once"),
        "{created:?}"
    );
    let token = created.json();
    let ro = token["token"].as_str().unwrap().to_owned();
    assert!(ro.starts_with("bfy_"), "{token}");
    assert_eq!(token["read_only"], true);
    let collections = cli
        .run(&["--token", &ro, "collections", "list", "--project", &p])
        .await
        .ok();
    assert!(collections.stdout.contains("order"), "{collections:?}");
    let denied = cli
        .run(&["--token", &ro, "projects", "create", "More"])
        .await;
    assert_eq!(denied.code, 1, "{denied:?}");
    assert!(
        denied.stderr.starts_with("error: permission denied")
            && denied.stderr.contains("read-only"),
        "{denied:?}"
    );
    let tokens = cli
        .run(&["tokens", "list", "--output", "json"])
        .await
        .ok()
        .json();
    let ci = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "ci")
        .unwrap_or_else(|| panic!("{tokens}"));
    assert!(
        tokens
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t.get("token").is_none()),
        "{tokens}"
    );
    let token_id = ci["id"].as_str().unwrap();
    cli.run(&["tokens", "revoke", token_id]).await.ok();
    let revoked = cli
        .run(&["--token", &ro, "collections", "list", "--project", &p])
        .await;
    assert_eq!(revoked.code, 1, "{revoked:?}");
    assert!(revoked.stderr.contains("backendify login"), "{revoked:?}");
    cli.cleanup();
    env.shutdown().await;
}
