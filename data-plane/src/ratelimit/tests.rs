//! The limiter in process.

use super::*;

const ALL: [Bucket; 4] = [
    Bucket::Register,
    Bucket::Login,
    Bucket::OtpSend,
    Bucket::PasswordReset,
];

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn keys(keys: &[&str]) -> Vec<String> {
    keys.iter().map(|k| k.to_string()).collect()
}

// ---- behaviour any backend must show ---------------------------------------------------------

/// Each bucket lets its limit through, then refuses until the first request leaves its window.
async fn each_bucket_has_its_limit(limiter: &RateLimiter) {
    let project = Uuid::new_v4();
    for bucket in ALL {
        for n in 0..bucket.limit() {
            let passed = limiter.check(bucket, project, &["10.0.0.1"]).await;
            assert_eq!(passed, Ok(()), "{} request {}", bucket.name(), n + 1);
        }
        let refused = limiter.check(bucket, project, &["10.0.0.1"]).await;
        let expected = Limited {
            retry_after_secs: bucket.window().as_secs(),
        };
        assert_eq!(refused, Err(expected), "{} over its limit", bucket.name());
    }
}

/// The same key in two projects, or in two buckets, counts separately.
async fn projects_and_buckets_are_independent(limiter: &RateLimiter) {
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    for project in [a, b] {
        for _ in 0..3 {
            assert!(limiter
                .check(Bucket::Register, project, &["ip"])
                .await
                .is_ok());
        }
        assert!(limiter
            .check(Bucket::Register, project, &["ip"])
            .await
            .is_err());
    }
    assert!(limiter.check(Bucket::Login, a, &["ip"]).await.is_ok());
}

/// The IP key is checked and recorded first: when the e-mail key refuses, the IP keeps that
/// request; when the IP refuses, the e-mail key records nothing.
async fn ip_is_recorded_before_email(limiter: &RateLimiter) {
    let project = Uuid::new_v4();
    let check = |ip: String, email: String| async move {
        limiter.check(Bucket::Login, project, &[&ip, &email]).await
    };
    for i in 0..5 {
        let passed = check(format!("10.0.0.{i}"), "email:a@x.io".into()).await;
        assert_eq!(passed, Ok(()), "login {i} for a@x.io");
    }
    let by_email = check("10.9.9.9".into(), "email:a@x.io".into()).await;
    assert!(by_email.is_err(), "the sixth login for a@x.io");
    for i in 0..4 {
        let passed = check("10.9.9.9".into(), format!("email:{i}@x.io")).await;
        assert_eq!(passed, Ok(()), "login {} from 10.9.9.9", i + 2);
    }
    let by_ip = check("10.9.9.9".into(), "email:z@x.io".into()).await;
    assert!(
        by_ip.is_err(),
        "10.9.9.9 kept the login the e-mail key refused"
    );
    for i in 0..5 {
        let passed = check(format!("10.1.0.{i}"), "email:z@x.io".into()).await;
        assert_eq!(
            passed,
            Ok(()),
            "z@x.io recorded nothing when the IP refused"
        );
    }
}

/// With a one-second window, a key passes again once its oldest request left the window.
async fn short_window_slides(limiter: &RateLimiter) {
    let project = Uuid::new_v4();
    let rule = Rule {
        limit: 2,
        window: Duration::from_millis(1000),
    };
    let check = || limiter.check_rule("test", rule, project, &["ip"]);
    assert_eq!(check().await, Ok(()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(check().await, Ok(()));
    let refused = Limited {
        retry_after_secs: 1,
    };
    assert_eq!(check().await, Err(refused));
    // The first request has left the window, the second has not: one more passes.
    tokio::time::sleep(Duration::from_millis(650)).await;
    assert_eq!(check().await, Ok(()));
    assert_eq!(check().await, Err(refused));
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
    let refused = |s| {
        Err(Limited {
            retry_after_secs: s,
        })
    };
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
