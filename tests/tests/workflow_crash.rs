//! A worker killed with SIGKILL in the middle of workflow runs loses none of them: each run
//! resumes, on another worker once its lease runs out, at the step that was in flight (the
//! HTTP request is sent again with the same `Idempotency-Key`; the steps before it are not run
//! again), and each run's record step writes exactly once.

use e2e::bins::{free_port, spawn_worker};
use e2e::receiver::{Answer, Receiver};
use e2e::TestEnv;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_s_runs_resume_at_the_step_in_flight() {
    let env = TestEnv::start().await;
    let token = env.admin("owner@example.com").await;
    let p = env.project(&token, "Shop").await;
    env.collection(&token, &p, "orders").await;
    env.field(&token, &p, "orders", "title", "string").await;
    let rx = Receiver::start().await;
    // Slow answers: the worker has requests in flight when it is killed.
    rx.always(Answer {
        stall: Duration::from_millis(1500),
        ..Answer::status(200)
    });
    let steps = json!([
        {"action": "transform", "name": "t", "output": {"n": "{{ trigger.input.n }}"}},
        {"action": "http_request", "name": "h", "method": "POST", "url": rx.url("/slow"),
         "body": {"n": "{{ steps.t.n }}"}, "timeout_seconds": 3},
        {"action": "create_record", "collection": "orders", "data": {"title": "run {{ steps.t.n }}"}},
    ]);
    let res = env
        .call(
            "POST",
            &format!("/api/projects/{p}/workflows"),
            Some(&token),
            Some(json!({"name": "slow", "trigger_type": "manual", "steps": steps})),
        )
        .await;
    assert_eq!(res.status, 201, "{res:?}");
    let wf = res.body["id"].as_str().unwrap().to_owned();

    let port = free_port();
    let mut worker = spawn_worker(&env, port, &[]);
    let http = reqwest::Client::new();
    let direct = format!("http://127.0.0.1:{port}/api/projects/{p}/workflows/{wf}/run");
    let start = |n: usize| {
        http.post(&direct)
            .bearer_auth(&token)
            .json(&json!({"input": {"n": n}}))
            .send()
    };
    // Until the worker serves the project; then the rest, started (and woken) on it.
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        match start(0).await {
            Ok(r) if r.status() == 202 => break,
            _ if Instant::now() < until => tokio::time::sleep(Duration::from_millis(100)).await,
            other => panic!("the worker never served: {other:?}"),
        }
    }
    let total = 20;
    for n in 1..total {
        assert_eq!(start(n).await.unwrap().status(), 202);
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    worker.kill().expect("SIGKILL the worker");
    worker.wait().unwrap();

    // Every run completes (on the other workers, once the killed one's leases end).
    let runs_path = format!("/api/projects/{p}/workflows/{wf}/runs?limit=100");
    let until = Instant::now() + Duration::from_secs(60);
    let runs = loop {
        let res = env.call("GET", &runs_path, Some(&token), None).await;
        let runs = res.body["runs"].as_array().unwrap().clone();
        if runs.len() == total && runs.iter().all(|r| r["status"] == "completed") {
            break runs;
        }
        assert!(
            Instant::now() < until,
            "runs did not all complete: {runs:#?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let mut resumed = 0;
    for r in &runs {
        let id = r["id"].as_str().unwrap();
        let path = format!("/api/projects/{p}/workflows/{wf}/runs/{id}");
        let run: Value = env.call("GET", &path, Some(&token), None).await.body;
        assert_eq!(
            run["steps"][0]["attempts"], 1,
            "the step before is not run again: {run:#}"
        );
        let attempts = run["steps"][1]["attempts"].as_i64().unwrap();
        assert!(attempts >= 1);
        if attempts > 1 {
            resumed += 1;
        }
        assert_eq!(run["steps"][2]["status"], "completed");
    }
    assert!(resumed > 0, "no run was in flight on the killed worker");

    // Each run's answered request carried its run's key (the killed worker's requests died with
    // it, unanswered, and the receiver does not count them).
    let mut keys: HashMap<String, usize> = HashMap::new();
    for h in rx.hits() {
        *keys.entry(h.header("idempotency-key")).or_default() += 1;
    }
    assert_eq!(keys.len(), total, "one idempotency key per run");
    for r in &runs {
        let key = format!("{}:1", r["id"].as_str().unwrap());
        assert!(keys.contains_key(&key), "the request of run {key}");
    }
    // And each record step wrote exactly once.
    let list = env
        .call(
            "GET",
            &format!("/api/projects/{p}/data/orders?limit=100"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(list.body["total"], total, "{list:?}");
}
