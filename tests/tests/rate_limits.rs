//! Rate limits of app-user auth (spec/rate-limits.md): in each worker without Redis, shared by
//! every worker through a real Redis when `REDIS_URL` is set.

use e2e::redis::Redis;
use e2e::{Options, TestEnv};
use serde_json::json;

#[tokio::test]
async fn register_is_limited_per_ip_with_the_contract_headers() {
    let env = TestEnv::start_with(Options {
        rate_limits: true,
        ..Options::default()
    })
    .await;
    let admin = env.admin("owner@example.com").await;
    let p = env.project(&admin, "app").await;
    let q = env.project(&admin, "other").await;
    // Both workers count alike only with Redis; through the router, requests spread over them,
    // so aim at one worker to pin the in-process behaviour.
    for i in 0..3 {
        let body = json!({ "email": format!("w{i}@example.com"), "password": "password123" });
        let res = reqwest::Client::new()
            .post(format!(
                "http://{}/api/projects/{p}/auth/register",
                env.workers[0].http_addr
            ))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
    }
    let res = reqwest::Client::new()
        .post(format!(
            "http://{}/api/projects/{p}/auth/register",
            env.workers[0].http_addr
        ))
        .json(&json!({ "email": "w9@example.com", "password": "password123" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(res.headers()["x-ratelimit-remaining"], "0");
    assert_eq!(
        res.headers()["x-ratelimit-reset"].to_str().unwrap(),
        retry.to_string()
    );
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        body["detail"],
        format!("Rate limit exceeded. Try again in {retry} seconds.")
    );
    // Validation comes first: a bad body is 422, not 429.
    let res = reqwest::Client::new()
        .post(format!(
            "http://{}/api/projects/{p}/auth/register",
            env.workers[0].http_addr
        ))
        .json(&json!({ "email": "bad" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    // Limits are per project.
    let body = json!({ "email": "u1@example.com", "password": "password123" });
    let res = reqwest::Client::new()
        .post(format!(
            "http://{}/api/projects/{q}/auth/register",
            env.workers[0].http_addr
        ))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    env.shutdown().await;
}

#[tokio::test]
async fn with_redis_two_workers_share_one_login_limit() {
    let redis = Redis::start();
    let env = TestEnv::start_with(Options {
        rate_limits: true,
        redis_url: Some(redis.url.clone()),
        ..Options::default()
    })
    .await;
    let admin = env.admin("owner@example.com").await;
    let p = env.project(&admin, "app").await;
    let res = env
        .call(
            "POST",
            &format!("/api/projects/{p}/auth/register"),
            None,
            Some(json!({ "email": "l@example.com", "password": "password123" })),
        )
        .await;
    assert_eq!(res.status, 201);
    let mut statuses = Vec::new();
    for i in 0..7 {
        // Alternate between the two workers, bypassing the router.
        let worker = &env.workers[i % 2];
        let res = reqwest::Client::new()
            .post(format!(
                "http://{}/api/projects/{p}/auth/login",
                worker.http_addr
            ))
            .json(&json!({ "email": "l@example.com", "password": "wrong-password" }))
            .send()
            .await
            .unwrap();
        statuses.push(res.status().as_u16());
    }
    assert_eq!(
        statuses,
        [401, 401, 401, 401, 401, 429, 429],
        "one limit of 5 across both workers"
    );
    env.shutdown().await;
    drop(redis);
}
