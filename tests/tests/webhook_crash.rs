//! A worker killed with SIGKILL while it creates records and delivers their webhooks loses
//! nothing: every committed record's delivery arrives (at least once; counted by distinct
//! `webhook-id`), sent by the other workers once its leases run out, and by itself after a restart.

use e2e::bins::{free_port, spawn_worker};
use e2e::receiver::{Answer, Receiver};
use e2e::TestEnv;
use serde_json::json;
use std::collections::HashSet;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_loses_no_delivery() {
    let env = TestEnv::start().await;
    let token = env.admin("owner@example.com").await;
    let p = env.project(&token, "Shop").await;
    env.collection(&token, &p, "order").await;
    env.field(&token, &p, "order", "title", "string").await;
    let rx = Receiver::start().await;
    // Slow answers: the worker has deliveries in flight when it is killed (their requests die
    // with it, unanswered, and are not counted).
    rx.always(Answer {
        stall: Duration::from_millis(1500),
        ..Answer::status(200)
    });
    let hook = json!({"name": "h", "url": rx.url("/h"), "events": ["record.created"]});
    let res = env
        .call(
            "POST",
            &format!("/api/projects/{p}/webhooks"),
            Some(&token),
            Some(hook),
        )
        .await;
    assert_eq!(res.status, 201, "{res:?}");

    let port = free_port();
    let mut worker = spawn_worker(
        &env,
        port,
        &[
            ("WEBHOOK_RETRY_SCHEDULE", "0s,300ms,300ms,300ms"),
            ("WEBHOOK_TIMEOUT_SECS", "2"),
        ],
    );
    let http = reqwest::Client::new();
    let direct = format!("http://127.0.0.1:{port}/api/projects/{p}/data/order");
    let create = |i: usize| {
        http.post(&direct)
            .bearer_auth(&token)
            .json(&json!({"title": format!("order {i}")}))
            .send()
    };
    // Until the worker serves the project.
    let until = Instant::now() + Duration::from_secs(30);
    let mut committed = 0;
    loop {
        match create(0).await {
            Ok(r) if r.status() == 201 => {
                committed += 1;
                break;
            }
            _ if Instant::now() < until => tokio::time::sleep(Duration::from_millis(100)).await,
            other => panic!("the worker never served: {other:?}"),
        }
    }
    for i in 1..30 {
        if create(i).await.is_ok_and(|r| r.status() == 201) {
            committed += 1;
        }
    }
    // Killed with deliveries claimed and in flight.
    worker.kill().expect("SIGKILL the worker");
    worker.wait().unwrap();
    let sent_before_kill = rx.hits().len();
    assert!(
        sent_before_kill < committed,
        "the kill came too late to prove anything"
    );

    // Restarted, and the other workers meanwhile: every committed record's delivery arrives.
    let mut worker = spawn_worker(
        &env,
        port,
        &[
            ("WEBHOOK_RETRY_SCHEDULE", "0s,300ms,300ms,300ms"),
            ("WEBHOOK_TIMEOUT_SECS", "2"),
        ],
    );
    let until = Instant::now() + Duration::from_secs(60);
    let distinct = loop {
        let ids: HashSet<String> = rx.hits().iter().map(|h| h.header("webhook-id")).collect();
        if ids.len() >= committed || Instant::now() > until {
            break ids;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    worker.kill().ok();
    worker.wait().ok();
    assert_eq!(
        distinct.len(),
        committed,
        "one delivery per committed record"
    );
    let titles: HashSet<String> = rx
        .hits()
        .iter()
        .map(|h| h.json()["record"]["title"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(titles.len(), committed);
}
