//! Postgres restarts under load: while it is away every answer is 503 with `Retry-After` (never a
//! 500, never a hang), and within 5 s of its return everything answers again by itself. This
//! binary holds one test: it stops the Postgres cluster every test of the process shares.

use e2e::TestEnv;
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One answer the load saw: when, to which route, its status, whether it said `Retry-After`.
struct Seen {
    at: Instant,
    path: String,
    status: u16,
    retry_after: bool,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_answers_503_with_retry_after_and_heals_by_itself() {
    let env = Arc::new(TestEnv::start().await);
    let t = env.admin("ops@example.com").await;
    let p = env.project(&t, "Resilient").await;
    env.collection(&t, &p, "posts").await;
    env.field(&t, &p, "posts", "title", "text").await;
    let made = env
        .call(
            "POST",
            &format!("/api/projects/{p}/data/posts"),
            Some(&t),
            Some(json!({"title": "before"})),
        )
        .await;
    assert_eq!(made.status, 201, "{made:?}");

    // Reads of the data plane and of the control plane, four callers, all along.
    let stop = Arc::new(AtomicBool::new(false));
    let paths = [
        format!("/api/projects/{p}/data/posts"),
        format!("/api/projects/{p}/data/posts/1"),
        format!("/api/projects/{p}"),
        format!("/api/projects/{p}/schema/collections"),
    ];
    let mut tasks = Vec::new();
    for path in paths {
        let (env, stop, t) = (env.clone(), stop.clone(), t.clone());
        tasks.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let req = env
                    .request("GET", &path)
                    .bearer_auth(&t)
                    .timeout(Duration::from_secs(10));
                let res = req.send().await.expect("every request is answered");
                seen.push(Seen {
                    at: Instant::now(),
                    path: path.clone(),
                    status: res.status().as_u16(),
                    retry_after: res.headers().contains_key("retry-after"),
                });
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            seen
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let down_at = Instant::now();
    e2e::pg::restart(Duration::from_secs(2)).await;
    let up_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(7)).await;
    stop.store(true, Ordering::Relaxed);
    let mut seen = Vec::new();
    for task in tasks {
        seen.extend(task.await.unwrap());
    }

    for s in &seen {
        assert!(
            s.status == 200 || (s.status == 503 && s.retry_after),
            "{} answered {} (Retry-After: {})",
            s.path,
            s.status,
            s.retry_after
        );
    }
    let during = seen
        .iter()
        .filter(|s| s.at > down_at && s.at < up_at && s.status == 503)
        .count();
    assert!(during > 0, "no 503 while Postgres was down");
    let healed = up_at + Duration::from_secs(5);
    let late: Vec<_> = seen.iter().filter(|s| s.at > healed).collect();
    assert!(
        late.len() > 20,
        "too few answers after the return: {}",
        late.len()
    );
    for s in &late {
        assert_eq!(
            s.status, 200,
            "{} still failing 5 s after Postgres returned",
            s.path
        );
    }
    // Writes work again too.
    let made = env
        .call(
            "POST",
            &format!("/api/projects/{p}/data/posts"),
            Some(&t),
            Some(json!({"title": "after"})),
        )
        .await;
    assert_eq!(made.status, 201, "{made:?}");
}
