//! `/metrics` on every process and `/ready` beside `/health`: what an operator's Prometheus and
//! load balancer read.

use e2e::TestEnv;
use serde_json::json;

async fn scrape(url: &str) -> String {
    let res = reqwest::get(url).await.expect("metrics answer");
    assert_eq!(res.status(), 200, "{url}");
    let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    res.text().await.unwrap()
}

/// The value of the first sample line that starts with `prefix`.
fn value(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no sample {prefix} in\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_process_reports_its_traffic_and_levels() {
    let env = TestEnv::start().await;
    let t = env.admin("ops@example.com").await;
    let p = env.project(&t, "Watched").await;
    env.collection(&t, &p, "posts").await;
    env.field(&t, &p, "posts", "title", "text").await;
    for i in 0..3 {
        let res = env
            .call(
                "POST",
                &format!("/api/projects/{p}/data/posts"),
                Some(&t),
                Some(json!({"title": format!("t{i}")})),
            )
            .await;
        assert_eq!(res.status, 201, "{res:?}");
    }
    // A workflow run that ends counts once it ended.
    let flow = env
        .call(
            "POST",
            &format!("/api/projects/{p}/workflows"),
            Some(&t),
            Some(json!({"name": "count", "trigger_type": "manual",
                        "steps": [{"action": "transform", "name": "t", "output": {"n": 1}}]})),
        )
        .await;
    assert_eq!(flow.status, 201, "{flow:?}");
    let wf = flow.body["id"].as_str().unwrap().to_owned();
    let run = env
        .call(
            "POST",
            &format!("/api/projects/{p}/workflows/{wf}/run"),
            Some(&t),
            Some(json!({})),
        )
        .await;
    assert_eq!(run.status, 202, "{run:?}");
    let run_id = run.body["id"].as_str().unwrap().to_owned();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let got = env
            .call(
                "GET",
                &format!("/api/projects/{p}/workflows/{wf}/runs/{run_id}"),
                Some(&t),
                None,
            )
            .await;
        if got.body["status"] == "completed" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the run did not complete: {got:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let missing = env
        .call(
            "GET",
            &format!("/api/projects/{p}/data/posts/999"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(missing.status, 404);

    for (_, url) in env.metrics_urls() {
        let text = scrape(&url).await;
        assert!(
            text.contains("# TYPE backendify_http_requests counter"),
            "{url}\n{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{url}");
    }
    let urls = env.metrics_urls();
    let cp = scrape(&urls[0].1).await;
    assert!(
        value(
            &cp,
            r#"backendify_http_requests_total{class="schema",status="201"}"#
        ) >= 2.0,
        "{cp}"
    );
    assert!(
        value(&cp, "backendify_config_push_seconds_count") >= 2.0,
        "{cp}"
    );
    assert_eq!(value(&cp, "backendify_config_workers "), 2.0, "{cp}");
    assert!(value(&cp, "backendify_config_projects ") >= 1.0, "{cp}");
    assert!(
        cp.contains(r#"backendify_control_db_pool_connections{state="idle"}"#),
        "{cp}"
    );

    // The processes share this test's registry, so the router's and the workers' figures sum
    // here; each kind of line is still there.
    let router = scrape(&urls.last().unwrap().1).await;
    assert!(
        value(
            &router,
            r#"backendify_http_requests_total{class="data",status="201"}"#
        ) >= 3.0,
        "{router}"
    );
    assert!(
        value(
            &router,
            r#"backendify_http_requests_total{class="data",status="404"}"#
        ) >= 1.0,
        "{router}"
    );
    assert!(
        router.contains(
            r#"backendify_http_request_duration_seconds_bucket{le="0.005",class="data"}"#
        ),
        "{router}"
    );
    assert!(
        value(
            &router,
            &format!(r#"backendify_project_requests_total{{project="{p}"}}"#)
        ) >= 4.0,
        "{router}"
    );
    assert_eq!(
        value(&router, "backendify_router_workers "),
        2.0,
        "{router}"
    );
    let worker = scrape(&urls[1].1).await;
    assert!(
        value(&worker, "backendify_configs_loaded ") >= 1.0,
        "{worker}"
    );
    assert_eq!(
        value(
            &worker,
            r#"backendify_webhook_deliveries_total{outcome="delivered"}"#
        ),
        0.0
    );
    assert!(
        worker.contains(r#"backendify_workflow_runs_finished_total{outcome="failed"}"#),
        "{worker}"
    );
    assert!(
        worker.contains(r#"backendify_db_pool_connections{state="in_use"}"#),
        "{worker}"
    );
    assert!(
        worker.contains("# TYPE backendify_rate_limit_refusals counter"),
        "{worker}"
    );
    assert!(
        worker.contains("# TYPE backendify_password_hashing_queue gauge"),
        "{worker}"
    );

    // Ready: each process says so on its own port, and the router on the public one.
    let ready = env.call("GET", "/ready", None, None).await;
    assert_eq!(ready.status, 200, "{ready:?}");
    assert_eq!(ready.body, json!({"ready": true}));
    let cp_ready = reqwest::get(format!("http://{}/ready", env.control_plane_http()))
        .await
        .unwrap();
    assert_eq!(cp_ready.status(), 200);
    for w in env.worker_addrs() {
        let res = reqwest::get(format!("http://{w}/ready")).await.unwrap();
        assert_eq!(res.status(), 200, "{w}");
    }
    env.shutdown().await;
}
