//! The limiter in process and against a real `redis-server` that each Redis test starts itself.

use super::redis::KEY_PREFIX;
use super::*;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

const ALL: [Bucket; 7] = [
    Bucket::Register,
    Bucket::Login,
    Bucket::OtpSend,
    Bucket::PasswordReset,
    Bucket::OtpVerify,
    Bucket::VerifySend,
    Bucket::OAuthStart,
];

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn keys(keys: &[&str]) -> Vec<String> {
    keys.iter().map(|k| k.to_string()).collect()
}

/// `limiter.check`, at a moment on the test's own clock (an offset from its start), so that
/// `Retry-After` values are exact however slowly the test runs.
async fn check_at(
    limiter: &RateLimiter,
    bucket: Bucket,
    project: Uuid,
    keys: &[&str],
    at: Duration,
) -> Result<(), Limited> {
    let now = Now::At(at);
    limiter
        .check_rule(bucket.name(), bucket.rule(), project, keys, now)
        .await
}

/// A refusal that would pass after `s` seconds.
fn refused(s: u64) -> Result<(), Limited> {
    Err(Limited {
        retry_after_secs: s,
    })
}

// ---- behaviour shared by both backends ---------------------------------------------------------

/// Each bucket lets its limit through, then refuses until the first request leaves its window.
async fn each_bucket_has_its_limit(limiter: &RateLimiter) {
    let project = Uuid::new_v4();
    for bucket in ALL {
        let check = || check_at(limiter, bucket, project, &["10.0.0.1"], secs(0));
        for n in 0..bucket.limit() {
            assert_eq!(check().await, Ok(()), "{} request {}", bucket.name(), n + 1);
        }
        let window = bucket.window().as_secs();
        assert_eq!(
            check().await,
            refused(window),
            "{} over its limit",
            bucket.name()
        );
    }
}

/// The same key in two projects, or in two buckets, counts separately.
async fn projects_and_buckets_are_independent(limiter: &RateLimiter) {
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    for project in [a, b] {
        let check = || check_at(limiter, Bucket::Register, project, &["ip"], secs(0));
        for _ in 0..3 {
            assert_eq!(check().await, Ok(()));
        }
        assert_eq!(check().await, refused(60));
    }
    let login = check_at(limiter, Bucket::Login, a, &["ip"], secs(0)).await;
    assert_eq!(login, Ok(()));
}

/// The IP key is checked and recorded first: when the e-mail key refuses, the IP keeps that
/// request; when the IP refuses, the e-mail key records nothing.
async fn ip_is_recorded_before_email(limiter: &RateLimiter) {
    let project = Uuid::new_v4();
    // Login `n` happens at second `n`, so a refusal tells which key's log refused.
    let check = |ip: String, email: String, n: u64| async move {
        check_at(limiter, Bucket::Login, project, &[&ip, &email], secs(n)).await
    };
    for i in 0..5 {
        let passed = check(format!("10.0.0.{i}"), "email:a@x.io".into(), i).await;
        assert_eq!(passed, Ok(()), "login {i} for a@x.io");
    }
    // a@x.io's oldest login (second 0) leaves its window at 60.
    let by_email = check("10.9.9.9".into(), "email:a@x.io".into(), 10).await;
    assert_eq!(by_email, refused(50), "the sixth login for a@x.io");
    for i in 0..4 {
        let passed = check("10.9.9.9".into(), format!("email:{i}@x.io"), 11 + i).await;
        assert_eq!(passed, Ok(()), "login {} from 10.9.9.9", i + 2);
    }
    // 10.9.9.9's oldest login is the refused one of second 10: it leaves at 70.
    let by_ip = check("10.9.9.9".into(), "email:z@x.io".into(), 20).await;
    assert_eq!(
        by_ip,
        refused(50),
        "10.9.9.9 kept the login the e-mail key refused"
    );
    for i in 0..5 {
        let passed = check(format!("10.1.0.{i}"), "email:z@x.io".into(), 21).await;
        assert_eq!(
            passed,
            Ok(()),
            "z@x.io recorded nothing when the IP refused"
        );
    }
}

/// A key passes again once its oldest request left the window, to the millisecond. The checks
/// run on a clock the test moves (in process and in Redis alike), so the answers never depend on
/// how long a real sleep took; the window is a minute, as the buckets' are, so Redis keeps the
/// keys (their real expiry is one window) for as long as any test runs.
async fn short_window_slides(limiter: &RateLimiter) {
    let project = Uuid::new_v4();
    let rule = Rule {
        limit: 2,
        window: secs(60),
    };
    let check = |ms: u64| {
        let at = Now::At(Duration::from_millis(ms));
        limiter.check_rule("test", rule, project, &["ip"], at)
    };
    assert_eq!(check(0).await, Ok(()));
    assert_eq!(check(30_000).await, Ok(()));
    assert_eq!(check(30_000).await, refused(30));
    // The first request leaves the window at 60 s exactly; part of a second counts as one.
    assert_eq!(check(59_999).await, refused(1));
    assert_eq!(check(60_000).await, Ok(()));
    // Now 30 s and 60 s are in the window; 30 s leaves it at 90 s.
    assert_eq!(check(60_500).await, refused(30));
    assert_eq!(check(89_999).await, refused(1));
    assert_eq!(check(90_000).await, Ok(()));
    // Long idle: everything has left.
    assert_eq!(check(1_000_000).await, Ok(()));
    assert_eq!(check(1_000_000).await, Ok(()));
    assert_eq!(check(1_000_001).await, refused(60));
}

// ---- in process -------------------------------------------------------------------------------

#[test]
fn buckets_follow_the_spec() {
    let table: Vec<_> = ALL
        .iter()
        .map(|b| (b.name(), b.limit(), b.window().as_secs()))
        .collect();
    assert_eq!(
        table,
        [
            ("register", 3, 60),
            ("login", 5, 60),
            ("otp_send", 3, 300),
            ("password_reset", 3, 300),
            ("otp_verify", 10, 300),
            ("verify_send", 3, 300),
            ("oauth_start", 30, 60),
        ]
    );
}

#[test]
fn limited_reads_as_the_spec_detail() {
    let limited = Limited {
        retry_after_secs: 42,
    };
    assert_eq!(
        limited.to_string(),
        "Rate limit exceeded. Try again in 42 seconds."
    );
}

#[test]
fn kinds_name_the_backends() {
    assert_eq!(RateLimiter::disabled().kind(), "disabled");
    assert_eq!(RateLimiter::in_process().kind(), "in-process");
}

#[tokio::test]
async fn disabled_never_refuses() {
    let limiter = RateLimiter::disabled();
    let project = Uuid::new_v4();
    for bucket in ALL {
        for _ in 0..100 {
            let passed = limiter
                .check(bucket, project, &["ip", "email:a@x.io"])
                .await;
            assert_eq!(passed, Ok(()));
        }
    }
}

#[tokio::test]
async fn in_process_each_bucket_has_its_limit() {
    each_bucket_has_its_limit(&RateLimiter::in_process()).await;
}

#[tokio::test]
async fn in_process_projects_and_buckets_are_independent() {
    projects_and_buckets_are_independent(&RateLimiter::in_process()).await;
}

#[tokio::test]
async fn in_process_ip_is_recorded_before_email() {
    ip_is_recorded_before_email(&RateLimiter::in_process()).await;
}

#[tokio::test]
async fn in_process_short_window_slides() {
    short_window_slides(&RateLimiter::in_process()).await;
}

#[test]
fn in_process_window_slides_and_retry_after_counts_from_the_oldest() {
    let log = Log::default();
    let rule = Bucket::Register.rule();
    let key = keys(&["ip"]);
    let t0 = Instant::now();
    for at in [0, 10, 20] {
        assert_eq!(log.check(&key, rule, t0 + secs(at)), Ok(()), "at {at} s");
    }
    assert_eq!(log.check(&key, rule, t0 + secs(30)), refused(30));
    assert_eq!(log.check(&key, rule, t0 + secs(59)), refused(1));
    // Exactly one window later the first request has left it.
    assert_eq!(log.check(&key, rule, t0 + secs(60)), Ok(()));
    assert_eq!(log.check(&key, rule, t0 + secs(65)), refused(5));
    // Part of a second counts as a whole one.
    let at = t0 + secs(65) + Duration::from_millis(500);
    assert_eq!(log.check(&key, rule, at), refused(5));
    let at = t0 + secs(69) + Duration::from_millis(999);
    assert_eq!(log.check(&key, rule, at), refused(1));
    assert_eq!(log.check(&key, rule, t0 + secs(70)), Ok(()));
}

#[test]
fn in_process_sweep_forgets_idle_keys() {
    let log = Log::default();
    let t0 = Instant::now();
    let short = Bucket::Login.rule();
    let long = Bucket::OtpSend.rule();
    for i in 0..SWEEP_EVERY - 1 {
        let rule = if i == 0 { long } else { short };
        assert_eq!(log.check(&keys(&[&format!("k{i}")]), rule, t0), Ok(()));
    }
    let size = || log.0.lock().unwrap().by_key.len();
    assert_eq!(size(), SWEEP_EVERY as usize - 1);
    // The next check sweeps: after 61 s only the 300 s key and the new one are left.
    let later = t0 + secs(61);
    assert_eq!(log.check(&keys(&["new"]), short, later), Ok(()));
    assert_eq!(size(), 2);
}

// ---- Redis ------------------------------------------------------------------------------------

/// A private `redis-server` on a free loopback port, in a temporary folder, without persistence;
/// killed on drop. The Debian package's own service, if any, plays no part.
struct RedisServer {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl RedisServer {
    fn start() -> Self {
        Self::start_on(free_port())
    }

    fn start_on(port: u16) -> Self {
        let bin = redis_server_bin();
        let dir = std::env::temp_dir().join(format!("ratelimit-redis-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("create the Redis test folder");
        let spawned = Command::new(&bin)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&dir)
            .arg("--logfile")
            .arg(dir.join("redis.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = spawned.unwrap_or_else(|e| {
            let _ = std::fs::remove_dir_all(&dir);
            panic!("start {}: {e}", bin.display())
        });
        let mut server = Self { child, dir, port };
        server.wait_until_ready();
        server
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn wait_until_ready(&mut self) {
        let deadline = Instant::now() + secs(10);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("poll redis-server") {
                panic!("redis-server exited ({status}): {}", self.log());
            }
            if self.answers_ping() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server did not answer within 10 s: {}", self.log());
    }

    fn answers_ping(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let mut reply = [0u8; 7];
        stream.set_read_timeout(Some(secs(1))).is_ok()
            && stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut reply).is_ok()
            && &reply == b"+PONG\r\n"
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default()
    }

    /// How many requests Redis holds for `key` of the login bucket of `project`.
    async fn logins(&self, project: Uuid, key: &str) -> i64 {
        let client = ::redis::Client::open(self.url()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        ::redis::cmd("ZCARD")
            .arg(format!("{KEY_PREFIX}{project}:login:{key}"))
            .query_async(&mut conn)
            .await
            .unwrap()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `redis-server` on PATH or at /usr/bin; its absence fails the test, it is never skipped.
fn redis_server_bin() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .map(|dir| dir.join("redis-server"))
        .chain([PathBuf::from("/usr/bin/redis-server")])
        .find(|bin| bin.is_file())
        .expect(
            "redis-server not found on PATH or at /usr/bin/redis-server: run scripts/deps.sh \
             (it installs the Debian package redis-server)",
        )
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

async fn redis_limiter(server: &RedisServer) -> RateLimiter {
    RateLimiter::redis(&server.url())
        .await
        .expect("a Redis limiter")
}

#[tokio::test]
async fn redis_bad_url_is_an_error() {
    for url in [
        "not a url",
        "http://127.0.0.1:6379/",
        "redis://127.0.0.1:6379/db",
    ] {
        assert!(RateLimiter::redis(url).await.is_err(), "{url}");
    }
}

#[tokio::test]
async fn redis_workers_share_one_limit() {
    let server = RedisServer::start();
    let worker_a = redis_limiter(&server).await;
    let worker_b = redis_limiter(&server).await;
    assert_eq!(worker_a.kind(), "redis");
    let project = Uuid::new_v4();
    let keys = ["10.0.0.1", "email:a@x.io"];
    for n in 0..5 {
        let worker = if n % 2 == 0 { &worker_a } else { &worker_b };
        let passed = check_at(worker, Bucket::Login, project, &keys, secs(n)).await;
        assert_eq!(passed, Ok(()), "login {}", n + 1);
    }
    for worker in [&worker_a, &worker_b] {
        let sixth = check_at(worker, Bucket::Login, project, &keys, secs(5)).await;
        assert_eq!(sixth, refused(55), "the sixth login");
    }
    assert_eq!(server.logins(project, "10.0.0.1").await, 5);
}

#[tokio::test]
async fn redis_each_bucket_has_its_limit() {
    let server = RedisServer::start();
    each_bucket_has_its_limit(&redis_limiter(&server).await).await;
}

#[tokio::test]
async fn redis_projects_and_buckets_are_independent() {
    let server = RedisServer::start();
    projects_and_buckets_are_independent(&redis_limiter(&server).await).await;
}

#[tokio::test]
async fn redis_ip_is_recorded_before_email() {
    let server = RedisServer::start();
    ip_is_recorded_before_email(&redis_limiter(&server).await).await;
}

#[tokio::test]
async fn redis_short_window_slides() {
    let server = RedisServer::start();
    short_window_slides(&redis_limiter(&server).await).await;
}

#[tokio::test]
async fn redis_gone_falls_back_in_process_then_comes_back() {
    let server = RedisServer::start();
    let port = server.port;
    let limiter = redis_limiter(&server).await;
    let project = Uuid::new_v4();
    let login = || check_at(&limiter, Bucket::Login, project, &["10.0.0.1"], secs(0));
    assert_eq!(login().await, Ok(()));
    assert_eq!(server.logins(project, "10.0.0.1").await, 1);
    drop(server);

    // Checks keep answering, against limits kept in this process.
    for n in 0..5 {
        assert_eq!(login().await, Ok(()), "login {} without Redis", n + 1);
    }
    assert_eq!(login().await, refused(60), "the sixth login without Redis");

    // Once Redis is back (empty: it saved nothing), checks go to it again.
    let server = RedisServer::start_on(port);
    tokio::time::sleep(super::redis::RECONNECT_AFTER + Duration::from_millis(100)).await;
    assert_eq!(login().await, Ok(()));
    assert_eq!(server.logins(project, "10.0.0.1").await, 1);
}

#[tokio::test]
async fn redis_unreachable_at_start_falls_back_in_process() {
    let url = format!("redis://127.0.0.1:{}/", free_port());
    let limiter = RateLimiter::redis(&url)
        .await
        .expect("a limiter all the same");
    let project = Uuid::new_v4();
    let register = || check_at(&limiter, Bucket::Register, project, &["ip"], secs(0));
    for _ in 0..3 {
        assert_eq!(register().await, Ok(()));
    }
    assert_eq!(register().await, refused(60));
}
