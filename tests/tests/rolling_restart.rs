//! A rolling restart under load: each worker in turn stops as on SIGTERM (finishing what it is
//! answering) and comes back, while reads and writes go through the router. No read fails, and
//! every write that was answered 201 is there afterwards.

use e2e::TestEnv;
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarting_each_worker_in_turn_fails_no_read_and_loses_no_write() {
    let mut env = TestEnv::start().await;
    let t = env.admin("ops@example.com").await;
    let p = env.project(&t, "Rolling").await;
    env.collection(&t, &p, "posts").await;
    env.field(&t, &p, "posts", "title", "text").await;
    let made = env
        .call(
            "POST",
            &format!("/api/projects/{p}/data/posts"),
            Some(&t),
            Some(json!({"title": "first"})),
        )
        .await;
    assert_eq!(made.status, 201, "{made:?}");

    let stop = Arc::new(AtomicBool::new(false));
    let http = reqwest::Client::new();
    let base = env.base.clone();
    let mut readers = Vec::new();
    for path in [
        format!("/api/projects/{p}/data/posts"),
        format!("/api/projects/{p}/data/posts/1"),
        format!("/api/projects/{p}/data/posts/1"),
    ] {
        let (http, stop, t, url) = (
            http.clone(),
            stop.clone(),
            t.clone(),
            format!("{base}{path}"),
        );
        readers.push(tokio::spawn(async move {
            let (mut ok, mut failed) = (0u32, Vec::new());
            while !stop.load(Ordering::Relaxed) {
                let res = http.get(&url).bearer_auth(&t).send().await;
                match res {
                    Ok(r) if r.status() == 200 => ok += 1,
                    Ok(r) => failed.push(format!(
                        "{}: {}",
                        r.status(),
                        r.text().await.unwrap_or_default()
                    )),
                    Err(e) => failed.push(e.to_string()),
                }
            }
            (ok, failed)
        }));
    }
    let writer = {
        let (http, stop, t) = (http.clone(), stop.clone(), t.clone());
        let url = format!("{base}/api/projects/{p}/data/posts");
        tokio::spawn(async move {
            let (mut created, mut refused) = (Vec::new(), Vec::new());
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let res = http
                    .post(&url)
                    .bearer_auth(&t)
                    .json(&json!({"title": format!("w{i}")}))
                    .send()
                    .await;
                match res {
                    Ok(r) if r.status() == 201 => {
                        let body: serde_json::Value = r.json().await.unwrap();
                        created.push(body["id"].clone());
                    }
                    Ok(r) => refused.push(r.status().as_u16()),
                    Err(_) => refused.push(0),
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            (created, refused)
        })
    };

    tokio::time::sleep(Duration::from_millis(500)).await;
    for i in 0..2 {
        env.restart_worker(i).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut reads = 0;
    for r in readers {
        let (ok, failed) = r.await.unwrap();
        assert!(
            failed.is_empty(),
            "reads failed during the restart: {failed:?}"
        );
        reads += ok;
    }
    assert!(
        reads > 100,
        "too little load to mean anything: {reads} reads"
    );
    let (created, refused) = writer.await.unwrap();
    assert!(created.len() > 20, "{} writes", created.len());
    // A write that raced a closing connection may be refused (it is not retried: it might have
    // run); none may be lost once answered 201.
    assert!(refused.len() <= 2, "writes refused: {refused:?}");
    for id in &created {
        let got = env
            .call(
                "GET",
                &format!("/api/projects/{p}/data/posts/{id}"),
                Some(&t),
                None,
            )
            .await;
        assert_eq!(got.status, 200, "record {id} answered 201 but is gone");
    }
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarting_the_control_plane_fails_no_data_request() {
    let mut env = TestEnv::start().await;
    let t = env.admin("ops@example.com").await;
    let p = env.project(&t, "Steady").await;
    env.collection(&t, &p, "posts").await;
    env.field(&t, &p, "posts", "title", "text").await;
    let url = format!("{}/api/projects/{p}/data/posts", env.base);
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (stop, t) = (stop.clone(), t.clone());
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            let (mut ok, mut failed) = (0u32, Vec::new());
            while !stop.load(Ordering::Relaxed) {
                match http.get(&url).bearer_auth(&t).send().await {
                    Ok(r) if r.status() == 200 => ok += 1,
                    Ok(r) => failed.push(format!(
                        "{}: {}",
                        r.status(),
                        r.text().await.unwrap_or_default()
                    )),
                    Err(e) => failed.push(e.to_string()),
                }
            }
            (ok, failed)
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    env.stop_control_plane().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    env.restart_control_plane().await;
    // Through the workers' reconnection and past the router's grace period.
    tokio::time::sleep(Duration::from_secs(12)).await;
    stop.store(true, Ordering::Relaxed);
    let (ok, failed) = load.await.unwrap();
    assert!(failed.is_empty(), "data requests failed: {failed:?}");
    assert!(ok > 100, "{ok} reads");
    assert_eq!(
        env.router_workers(),
        2,
        "the router knows both workers again"
    );
    env.shutdown().await;
}
