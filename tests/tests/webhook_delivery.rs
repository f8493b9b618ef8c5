//! Webhook deliveries end to end (spec/webhooks.md): test events go through the project's outbox
//! to a receiver on 127.0.0.1, signed as Standard Webhooks (checked with that project's own
//! library), retried with the same `webhook-id`, listed, retried by hand; a 410 turns the webhook
//! off; the egress allow-list is applied; a deleted webhook gets nothing.

use e2e::receiver::{Answer, Receiver};
use e2e::TestEnv;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

struct Hook<'a> {
    env: &'a TestEnv,
    token: String,
    base: String,
    id: String,
    secret: String,
}

impl Hook<'_> {
    async fn call(&self, method: &str, rest: &str, body: Option<Value>) -> e2e::Res {
        let path = format!("{}{rest}", self.base);
        self.env.call(method, &path, Some(&self.token), body).await
    }

    async fn send_test(&self) -> Value {
        let res = self
            .call("POST", &format!("/webhooks/{}/test", self.id), None)
            .await;
        assert_eq!(res.status, 202, "{res:?}");
        assert_eq!(res.body["event_type"], "webhook.test");
        res.body
    }

    async fn deliveries(&self) -> Vec<Value> {
        let res = self
            .call("GET", &format!("/webhooks/{}/deliveries", self.id), None)
            .await;
        assert_eq!(res.status, 200, "{res:?}");
        res.body.as_array().unwrap().clone()
    }

    /// Waits until the delivery `id` is no longer pending; returns it.
    async fn settled(&self, id: &Value) -> Value {
        let until = std::time::Instant::now() + WAIT;
        loop {
            let found = self.deliveries().await.into_iter().find(|d| &d["id"] == id);
            if let Some(d) = found.filter(|d| d["status"] != "pending") {
                return d;
            }
            assert!(
                std::time::Instant::now() < until,
                "delivery {id} still pending"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn hook<'a>(env: &'a TestEnv, url: &str) -> Hook<'a> {
    let token = env.admin("owner@example.com").await;
    let p = env.project(&token, "Shop").await;
    let base = format!("/api/projects/{p}");
    let res = env
        .call(
            "POST",
            &format!("{base}/webhooks"),
            Some(&token),
            Some(json!({"name": "h", "url": url, "events": ["*"]})),
        )
        .await;
    assert_eq!(res.status, 201, "{res:?}");
    Hook {
        env,
        token,
        base,
        id: res.body["id"].as_str().unwrap().to_owned(),
        secret: res.body["secret"].as_str().unwrap().to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_event_arrives_signed_and_is_listed_as_delivered() {
    let env = TestEnv::start().await;
    let rx = Receiver::start().await;
    let h = hook(&env, &rx.url("/hook")).await;
    let queued = h.send_test().await;
    let hits = rx.wait_for(1, WAIT).await;
    assert_eq!(hits.len(), 1, "one delivery");
    let hit = &hits[0];

    // The signature verifies with the Standard Webhooks library and the shown secret, and not
    // with another secret or a changed body.
    let wh = standardwebhooks::Webhook::new(&h.secret).unwrap();
    wh.verify(&hit.body, &hit.headers)
        .expect("signature verifies");
    let other = standardwebhooks::Webhook::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    assert!(other.verify(&hit.body, &hit.headers).is_err());
    let mut tampered = hit.body.to_vec();
    tampered[0] = b' ';
    assert!(wh.verify(&tampered, &hit.headers).is_err());

    assert_eq!(hit.header("webhook-id"), queued["id"].as_str().unwrap());
    assert_eq!(hit.header("x-webhook-event"), "webhook.test");
    assert_eq!(hit.header("content-type"), "application/json");
    let body = hit.json();
    assert_eq!(body["event"], "webhook.test");
    assert_eq!(body["webhook_id"], h.id.as_str());
    assert!(body["project_id"].is_string() && body["timestamp"].is_string());

    let d = h.settled(&queued["id"]).await;
    assert_eq!(d["status"], "delivered");
    assert_eq!(d["attempts"], 1);
    assert_eq!(d["response_status"], 200);
    assert!(d["delivered_at"].is_string());
    assert_eq!(d["error"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_attempt_is_retried_with_the_same_id_and_then_given_up() {
    let env = TestEnv::start().await;
    let rx = Receiver::start().await;
    let h = hook(&env, &rx.url("/hook")).await;

    // 500, then 200: two attempts, one webhook-id, delivered.
    rx.script([Answer::status(500)]);
    let queued = h.send_test().await;
    let hits = rx.wait_for(2, WAIT).await;
    assert_eq!(hits.len(), 2);
    assert_eq!(hits[0].header("webhook-id"), hits[1].header("webhook-id"));
    assert_eq!(hits[0].body, hits[1].body, "the same payload");
    assert!(
        hits[1].at - hits[0].at >= Duration::from_millis(200),
        "retried after a delay"
    );
    let d = h.settled(&queued["id"]).await;
    assert_eq!(
        (d["status"].clone(), d["attempts"].clone()),
        (json!("delivered"), json!(2))
    );

    // Always 503: three attempts (the test schedule), then failed with the last answer; a
    // redirect is an answer like any other (not followed).
    rx.always(Answer {
        headers: vec![("location", rx.url("/elsewhere"))],
        ..Answer::status(307)
    });
    let queued = h.send_test().await;
    let d = h.settled(&queued["id"]).await;
    assert_eq!(d["status"], "failed");
    assert_eq!(d["attempts"], 3);
    assert_eq!(d["response_status"], 307);
    assert!(d["error"].as_str().unwrap().contains("307"), "{d}");
    assert_eq!(rx.hits().len(), 5);
    assert!(rx.hits().iter().all(|h| !h.header("webhook-id").is_empty()));

    // A manual retry sends it once more, with the same id.
    rx.always(Answer::status(204));
    let id = queued["id"].as_str().unwrap();
    let res = h
        .call(
            "POST",
            &format!("/webhooks/{}/deliveries/{id}/retry", h.id),
            None,
        )
        .await;
    assert_eq!(res.status, 202, "{res:?}");
    let d = h.settled(&queued["id"]).await;
    assert_eq!(
        (d["status"].clone(), d["response_status"].clone()),
        (json!("delivered"), json!(204))
    );
    assert_eq!(rx.hits().last().unwrap().header("webhook-id"), id);
    for bad in ["nonexistent", "00000000-0000-0000-0000-000000000000"] {
        let res = h
            .call(
                "POST",
                &format!("/webhooks/{}/deliveries/{bad}/retry", h.id),
                None,
            )
            .await;
        assert_eq!(
            (res.status, res.detail()),
            (404, "Delivery not found".into())
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_410_turns_the_webhook_off_until_an_admin_turns_it_on() {
    let env = TestEnv::start().await;
    let rx = Receiver::start().await;
    let h = hook(&env, &rx.url("/hook")).await;
    rx.script([Answer::status(410)]);
    let queued = h.send_test().await;
    let d = h.settled(&queued["id"]).await;
    assert_eq!(
        (d["status"].clone(), d["attempts"].clone()),
        (json!("failed"), json!(1))
    );
    let w = h
        .call("GET", &format!("/webhooks/{}", h.id), None)
        .await
        .body;
    assert_eq!(w["is_active"], false, "{w}");
    assert!(
        w["disabled_reason"].as_str().unwrap().contains("410"),
        "{w}"
    );

    // Stopped: a new event is not sent.
    let queued = h.send_test().await;
    let d = h.settled(&queued["id"]).await;
    assert_eq!(d["status"], "failed");
    assert!(d["error"].as_str().unwrap().contains("turned off"), "{d}");
    assert_eq!(rx.hits().len(), 1);

    // Turned on again: delivered.
    let res = h
        .call(
            "PATCH",
            &format!("/webhooks/{}", h.id),
            Some(json!({"is_active": true})),
        )
        .await;
    assert_eq!(
        (res.status, res.body["is_active"].clone()),
        (200, json!(true)),
        "{res:?}"
    );
    assert_eq!(res.body["disabled_reason"], Value::Null);
    let queued = h.send_test().await;
    assert_eq!(h.settled(&queued["id"]).await["status"], "delivered");
    assert_eq!(rx.hits().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn egress_rules_and_deleted_webhooks_are_respected() {
    let env = TestEnv::start().await;
    // A private address: the workers of the tests may reach loopback only, so nothing is sent
    // (the address is refused before any connection is tried).
    let h = hook(&env, "http://10.255.255.1:9/hook").await;
    let queued = h.send_test().await;
    let d = h.settled(&queued["id"]).await;
    assert_eq!(d["status"], "failed");
    assert!(d["error"].as_str().unwrap().contains("EGRESS_ALLOW"), "{d}");

    // Deleted: its deliveries go with it, and its routes answer 404.
    let res = h.call("DELETE", &format!("/webhooks/{}", h.id), None).await;
    assert_eq!(res.status, 204);
    for (method, rest) in [
        ("GET", format!("/webhooks/{}/deliveries", h.id)),
        ("POST", format!("/webhooks/{}/test", h.id)),
    ] {
        let res = h.call(method, &rest, None).await;
        assert_eq!(
            (res.status, res.detail()),
            (404, "Webhook not found".into()),
            "{rest}"
        );
    }
    let pool = sqlx::PgPool::connect(&env.db_url).await.unwrap();
    let schema: String = sqlx::query_scalar("SELECT db_schema FROM control.projects")
        .fetch_one(&pool)
        .await
        .unwrap();
    let left: i64 = sqlx::query_scalar(&format!(
        "SELECT count(*) FROM \"{schema}\".\"_webhook_deliveries\""
    ))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(left, 0);

    // Only member admins: another admin, an anonymous caller.
    let other = env.admin("other@example.com").await;
    let path = format!("{}/webhooks/{}/deliveries", h.base, h.id);
    let res = env.call("GET", &path, Some(&other), None).await;
    assert_eq!(res.status, 404, "{res:?}");
    let res = env.call("GET", &path, None, None).await;
    assert_eq!(res.status, 401, "{res:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_failed_deliveries_in_a_row_turn_the_webhook_off() {
    let env = TestEnv::start().await;
    let rx = Receiver::start().await;
    rx.always(Answer::status(500));
    let h = hook(&env, &rx.url("/hook")).await;
    let mut queued = Vec::new();
    for _ in 0..20 {
        queued.push(h.send_test().await);
    }
    for q in &queued {
        let d = h.settled(&q["id"]).await;
        assert_eq!(d["status"], "failed", "{d}");
    }
    let w = h
        .call("GET", &format!("/webhooks/{}", h.id), None)
        .await
        .body;
    assert_eq!(w["is_active"], false, "{w}");
    assert!(
        w["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("20 deliveries in a row failed"),
        "{w}"
    );
    // Attempts: 3 per delivery (the test schedule), none after it was turned off.
    let sent = rx.hits().len();
    assert_eq!(sent, 60, "3 attempts for each of the 20");
    let late = h.send_test().await;
    assert_eq!(h.settled(&late["id"]).await["status"], "failed");
    assert_eq!(rx.hits().len(), 60);
}

/// At most `PER_WEBHOOK` (64) deliveries of one webhook are in flight per worker, also when far
/// more become due at once: 200 events committed together, a receiver that takes 1.2 s each,
/// two workers: never more than 128 requests at the receiver at once, and every event arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_webhook_never_has_more_than_its_limit_in_flight() {
    let env = TestEnv::start().await;
    let rx = Receiver::start().await;
    let mut slow = Answer::status(200);
    slow.stall = Duration::from_millis(1200);
    rx.always(slow);
    let h = hook(&env, &rx.url("/slow")).await;
    let p = h.base.trim_start_matches("/api/projects/").to_owned();
    env.collection(&h.token, &p, "items").await;
    env.field(&h.token, &p, "items", "n", "int").await;
    for round in 0..2 {
        let ops: Vec<Value> = (0..100)
            .map(|i| json!({"op": "create", "collection": "items", "data": {"n": round * 100 + i}}))
            .collect();
        let res = h
            .call("POST", "/data/_batch", Some(json!({ "operations": ops })))
            .await;
        assert_eq!(res.status, 200, "{res:?}");
    }
    let hits = rx.wait_for(200, Duration::from_secs(30)).await;
    assert_eq!(hits.len(), 200, "every event arrived");
    let most = rx.max_in_flight();
    assert!(
        most <= 2 * 64,
        "{most} deliveries of one webhook were in flight at once"
    );
    env.shutdown().await;
}
