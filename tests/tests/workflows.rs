//! Workflows end to end (spec/workflows.md): the pinned CRUD and its checks, then runs on the
//! real stack with a receiver on 127.0.0.1: record triggers through a transform, an HTTP request
//! and a record update; conditions that stop; retries with one idempotency key; delays; the
//! depth limit; a manual run; and a schedule that fires once per due time across two workers.

use e2e::receiver::{Answer, Receiver};
use e2e::TestEnv;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(20);

struct P<'a> {
    env: &'a TestEnv,
    token: String,
    id: String,
}

impl P<'_> {
    async fn call(&self, method: &str, rest: &str, body: Option<Value>) -> e2e::Res {
        let path = format!("/api/projects/{}{rest}", self.id);
        self.env.call(method, &path, Some(&self.token), body).await
    }

    async fn ok(&self, status: u16, method: &str, rest: &str, body: Option<Value>) -> Value {
        let res = self.call(method, rest, body).await;
        assert_eq!(res.status, status, "{method} {rest}: {res:?}");
        res.body
    }

    async fn workflow(&self, body: Value) -> String {
        let w = self.ok(201, "POST", "/workflows", Some(body)).await;
        w["id"].as_str().unwrap().to_owned()
    }

    async fn runs(&self, wf: &str) -> Vec<Value> {
        let b = self
            .ok(200, "GET", &format!("/workflows/{wf}/runs?limit=100"), None)
            .await;
        b["runs"].as_array().unwrap().clone()
    }

    /// Waits until `wf` has `n` runs, all finished; returns them in full (with steps).
    async fn finished(&self, wf: &str, n: usize) -> Vec<Value> {
        let until = Instant::now() + WAIT;
        loop {
            let runs = self.runs(wf).await;
            let done = runs
                .iter()
                .filter(|r| r["status"] == "completed" || r["status"] == "failed")
                .count();
            if runs.len() == n && done == n {
                let mut out = Vec::new();
                for r in runs {
                    let id = r["id"].as_str().unwrap();
                    out.push(
                        self.ok(200, "GET", &format!("/workflows/{wf}/runs/{id}"), None)
                            .await,
                    );
                }
                return out;
            }
            assert!(
                Instant::now() < until,
                "waiting for {n} finished runs of {wf}: {runs:#?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn project<'a>(env: &'a TestEnv, email: &str) -> P<'a> {
    let token = env.admin(email).await;
    let id = env.project(&token, "Shop").await;
    env.collection(&token, &id, "orders").await;
    env.field(&token, &id, "orders", "title", "string").await;
    env.field(&token, &id, "orders", "amount", "int").await;
    env.field(&token, &id, "orders", "status", "string").await;
    env.field(&token, &id, "orders", "ticket", "string").await;
    P { env, token, id }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pinned_crud_and_its_checks() {
    let env = TestEnv::start().await;
    let p = project(&env, "owner@example.com").await;
    let full = json!({
        "name": "Test Workflow", "description": "A test workflow", "trigger_type": "record.created",
        "trigger_config": {"collection": "orders"},
        "steps": [{"action": "http_request", "url": "https://example.com/notify"}, {"action": "delay", "seconds": 5}],
    });
    let w = p.ok(201, "POST", "/workflows", Some(full.clone())).await;
    assert_eq!(w["name"], "Test Workflow");
    assert_eq!(w["description"], "A test workflow");
    assert_eq!(w["trigger_type"], "record.created");
    assert_eq!(w["trigger_config"], full["trigger_config"]);
    assert_eq!(
        w["steps"], full["steps"],
        "steps come back exactly as stored"
    );
    assert_eq!(w["is_active"], true);
    let id = w["id"].as_str().unwrap().to_owned();
    let four = json!({"name": "Four", "trigger_type": "manual", "steps": [
        {"action": "transform"}, {"action": "delay", "seconds": 1},
        {"action": "http_request", "method": "POST", "url": "https://example.com/x", "body": {"a": 1}},
        {"action": "transform", "config": {"output": {"k": "v"}}},
    ]});
    assert_eq!(
        p.ok(201, "POST", "/workflows", Some(four)).await["steps"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    let minimal = p
        .ok(
            201,
            "POST",
            "/workflows",
            Some(json!({"name": "m", "trigger_type": "manual"})),
        )
        .await;
    assert_eq!(minimal["steps"], json!([]));
    assert_eq!(minimal["trigger_config"], json!({}));
    let list = p.ok(200, "GET", "/workflows", None).await;
    assert_eq!(list.as_array().unwrap().len(), 3);
    assert_eq!(
        p.ok(200, "GET", &format!("/workflows/{id}"), None).await["id"],
        id.as_str()
    );

    // 401 without a token, 404 for another admin (not a member).
    let anon = env
        .call(
            "GET",
            &format!("/api/projects/{}/workflows", p.id),
            None,
            None,
        )
        .await;
    assert_eq!(anon.status, 401);
    let other = env.admin("other@example.com").await;
    let theirs = env
        .call(
            "GET",
            &format!("/api/projects/{}/workflows/{id}", p.id),
            Some(&other),
            None,
        )
        .await;
    assert_eq!(theirs.status, 404);

    // 422: a missing trigger_type, a step that is not an object, and every problem of a step
    // named by its index and key.
    let res = p
        .call("POST", "/workflows", Some(json!({"name": "x"})))
        .await;
    assert_eq!(res.status, 422, "{res:?}");
    assert_eq!(
        res.body["detail"][0]["loc"],
        json!(["body", "trigger_type"])
    );
    let res = p
        .call(
            "POST",
            "/workflows",
            Some(json!({"name": "x", "trigger_type": "manual", "steps": [{"action": "delay"}, 3]})),
        )
        .await;
    assert_eq!(res.status, 422, "{res:?}");
    assert_eq!(res.body["detail"][0]["loc"], json!(["body", "steps", 1]));
    let bad = json!({"name": "x", "trigger_type": "schedule", "trigger_config": {"cron": "every day"}, "steps": [
        {"action": "transform", "name": "t", "output": {"m": "{{ unclosed"}},
        {"action": "http_request", "url": "ftp://example.com"},
        {"action": "delay", "seconds": 99999999},
        {"action": "launch_rockets"},
    ]});
    let res = p.call("POST", "/workflows", Some(bad)).await;
    assert_eq!(res.status, 422, "{res:?}");
    let locs: Vec<Value> = res.body["detail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["loc"].clone())
        .collect();
    for want in [
        json!(["body", "trigger_config", "cron"]),
        json!(["body", "steps", 0, "output"]),
        json!(["body", "steps", 1, "url"]),
        json!(["body", "steps", 2, "seconds"]),
        json!(["body", "steps", 3, "action"]),
    ] {
        assert!(locs.contains(&want), "{want} in {locs:?}");
    }
    let res = p
        .call("POST", "/workflows", Some(json!({"name": "x", "trigger_type": "record.created", "trigger_config": {"collection": "nope"}})))
        .await;
    assert_eq!(
        (res.status, res.detail()),
        (400, "Collection 'nope' not found".to_owned())
    );
    let res = p
        .call("POST", "/workflows", Some(json!({"name": "x", "trigger_type": "manual", "steps": [{"action": "create_record", "collection": "nope", "data": {}}]})))
        .await;
    assert_eq!(
        (res.status, res.detail()),
        (400, "Step 0: collection 'nope' not found".to_owned())
    );
    assert_eq!(
        p.ok(200, "GET", "/workflows", None)
            .await
            .as_array()
            .unwrap()
            .len(),
        3,
        "nothing refused was stored"
    );

    // PATCH changes what it names and checks the result as a whole.
    let patched = p
        .ok(
            200,
            "PATCH",
            &format!("/workflows/{id}"),
            Some(json!({"name": "Renamed", "is_active": false})),
        )
        .await;
    assert_eq!(
        (patched["name"].clone(), patched["is_active"].clone()),
        (json!("Renamed"), json!(false))
    );
    assert_eq!(patched["steps"], full["steps"]);
    let res = p
        .call(
            "PATCH",
            &format!("/workflows/{id}"),
            Some(json!({"trigger_type": "schedule"})),
        )
        .await;
    assert_eq!(res.status, 422, "a schedule without cron: {res:?}");

    p.ok(204, "DELETE", &format!("/workflows/{id}"), None).await;
    let gone = p.call("GET", &format!("/workflows/{id}"), None).await;
    assert_eq!(
        (gone.status, gone.detail()),
        (404, "Workflow not found".to_owned())
    );
    assert_eq!(
        p.call("DELETE", &format!("/workflows/{id}"), None)
            .await
            .status,
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_created_record_runs_transform_http_and_update() {
    let env = TestEnv::start().await;
    let p = project(&env, "owner@example.com").await;
    let rx = Receiver::start().await;
    rx.always(Answer {
        headers: vec![("content-type", "application/json".into())],
        body: r#"{"ticket": "T-42"}"#.into(),
        ..Answer::status(201)
    });
    let wf = p
        .workflow(json!({"name": "notify", "trigger_type": "record.created",
            "trigger_config": {"collection": "orders"},
            "steps": [
                {"action": "transform", "name": "t", "output": {"msg": "order {{ trigger.record.title }}"}},
                {"action": "http_request", "name": "h", "method": "POST", "url": rx.url("/notify"),
                 "headers": {"X-Order": "{{ trigger.record.id }}"},
                 "body": {"text": "{{ steps.t.msg }}", "amount": "{{ trigger.record.amount }}"}},
                {"action": "update_record", "collection": "orders", "id": "{{ trigger.record.id }}",
                 "data": {"status": "notified", "ticket": "{{ steps.h.body.ticket }}"}},
            ]}))
        .await;
    let order = p
        .ok(
            201,
            "POST",
            "/data/orders",
            Some(json!({"title": "Tea", "amount": 12})),
        )
        .await;
    let oid = order["id"].as_i64().unwrap();
    let runs = p.finished(&wf, 1).await;
    let run = &runs[0];
    assert_eq!(run["status"], "completed", "{run:#}");
    assert_eq!(run["trigger"]["event"], "record.created");
    assert_eq!(run["trigger"]["record"]["title"], "Tea");
    let steps = run["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 3);
    assert_eq!(steps[0]["output"], json!({"msg": "order Tea"}));
    assert_eq!(steps[1]["output"]["status"], 201);
    assert_eq!(steps[1]["output"]["body"], json!({"ticket": "T-42"}));
    assert_eq!(steps[1]["attempts"], 1);
    assert!(steps
        .iter()
        .all(|s| s["status"] == "completed" && s["finished_at"].is_string()));

    let hits = rx.hits();
    assert_eq!(hits.len(), 1);
    let hit = &hits[0];
    assert_eq!(
        hit.json(),
        json!({"text": "order Tea", "amount": 12}),
        "a sole template keeps its type"
    );
    assert_eq!(hit.header("x-order"), oid.to_string());
    assert_eq!(
        hit.header("idempotency-key"),
        format!("{}:1", run["id"].as_str().unwrap())
    );

    let after = p.ok(200, "GET", &format!("/data/orders/{oid}"), None).await;
    assert_eq!(
        (after["status"].clone(), after["ticket"].clone()),
        (json!("notified"), json!("T-42"))
    );
    // The workflow's write is audited like any write, as the workflow's.
    let events = p
        .ok(
            200,
            "GET",
            &format!("/audit/events?action=update&record_id={oid}"),
            None,
        )
        .await;
    let ev = &events["events"][0];
    assert!(
        ev["user_agent"]
            .as_str()
            .unwrap()
            .starts_with(&format!("workflow {wf}")),
        "{ev}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditions_stop_runs_and_filter_triggers() {
    let env = TestEnv::start().await;
    let p = project(&env, "owner@example.com").await;
    let rx = Receiver::start().await;
    let big = p
        .workflow(json!({"name": "big orders", "trigger_type": "record.created",
            "trigger_config": {"collection": "orders"},
            "steps": [
                {"action": "condition", "if": {"trigger.record.amount": {"$gt": 100}}, "else": "stop"},
                {"action": "http_request", "method": "POST", "url": rx.url("/big"), "body": {"id": "{{ trigger.record.id }}"}},
            ]}))
        .await;
    let paid = p
        .workflow(json!({"name": "paid only", "trigger_type": "record.updated",
            "trigger_config": {"collection": "orders", "condition": {"status": "paid"}},
            "steps": [{"action": "transform", "output": {"was": "{{ trigger.old_record.status }}"}}]}))
        .await;
    let small = p
        .ok(
            201,
            "POST",
            "/data/orders",
            Some(json!({"title": "a", "amount": 5})),
        )
        .await;
    p.ok(
        201,
        "POST",
        "/data/orders",
        Some(json!({"title": "b", "amount": 500})),
    )
    .await;
    let runs = p.finished(&big, 2).await;
    let stopped = runs
        .iter()
        .find(|r| r["trigger"]["record"]["amount"] == 5)
        .unwrap();
    assert_eq!(stopped["status"], "completed");
    assert_eq!(
        stopped["steps"].as_array().unwrap().len(),
        1,
        "stopped after the condition"
    );
    assert_eq!(
        stopped["steps"][0]["output"],
        json!({"passed": false, "stopped": true})
    );
    let went_on = runs
        .iter()
        .find(|r| r["trigger"]["record"]["amount"] == 500)
        .unwrap();
    assert_eq!(went_on["steps"].as_array().unwrap().len(), 2);
    let hits = rx.hits();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].json()["id"], went_on["trigger"]["record"]["id"]);

    // A trigger's condition: an update to "open" starts nothing, one to "paid" starts a run.
    let sid = small["id"].as_i64().unwrap();
    p.ok(
        200,
        "PATCH",
        &format!("/data/orders/{sid}"),
        Some(json!({"status": "open"})),
    )
    .await;
    p.ok(
        200,
        "PATCH",
        &format!("/data/orders/{sid}"),
        Some(json!({"status": "paid"})),
    )
    .await;
    let runs = p.finished(&paid, 1).await;
    assert_eq!(runs[0]["trigger"]["record"]["status"], "paid");
    assert_eq!(runs[0]["steps"][0]["output"], json!({"was": "open"}));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        p.runs(&paid).await.len(),
        1,
        "the update to open started no run"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_run_retries_waits_and_fails_clearly() {
    let env = TestEnv::start().await;
    let p = project(&env, "owner@example.com").await;
    let rx = Receiver::start().await;
    rx.script([Answer::status(503), Answer::status(500)]);
    let wf = p
        .workflow(json!({"name": "manual", "trigger_type": "manual", "steps": [
            {"action": "transform", "name": "who", "output": {"hello": "{{ trigger.input.name }}"}},
            {"action": "delay", "seconds": 1},
            {"action": "http_request", "name": "h", "method": "PUT", "url": rx.url("/m"), "body": {"n": "{{ steps.who.hello }}"}},
            {"action": "create_record", "collection": "orders", "data": {"title": "from {{ steps.who.hello }}"}},
        ]}))
        .await;
    let started = Instant::now();
    let run = p
        .ok(
            202,
            "POST",
            &format!("/workflows/{wf}/run"),
            Some(json!({"input": {"name": "Ada"}})),
        )
        .await;
    assert!(
        run["id"].is_string() && run["trigger"]["input"]["name"] == "Ada",
        "{run}"
    );
    let runs = p.finished(&wf, 1).await;
    let run = &runs[0];
    assert_eq!(run["status"], "completed", "{run:#}");
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "a 1 s delay and two back-offs (1 s, 2 s)"
    );
    let h = &run["steps"][2];
    assert_eq!(h["attempts"], 3, "{h}");
    let hits = rx.hits();
    assert_eq!(hits.len(), 3);
    let keys: std::collections::HashSet<String> =
        hits.iter().map(|h| h.header("idempotency-key")).collect();
    assert_eq!(keys.len(), 1, "one idempotency key across retries");
    assert_eq!(hits[2].json(), json!({"n": "Ada"}));
    let created = &run["steps"][3]["output"];
    assert_eq!(created["title"], "from Ada");

    // A variable that does not exist fails the step and the run with a message that names it.
    let bad = p
        .workflow(json!({"name": "bad", "trigger_type": "manual", "steps": [
            {"action": "transform", "name": "t", "output": {"x": "{{ trigger.input.nope.deeper }}"}},
        ]}))
        .await;
    p.ok(202, "POST", &format!("/workflows/{bad}/run"), None)
        .await;
    let runs = p.finished(&bad, 1).await;
    assert_eq!(runs[0]["status"], "failed");
    let err = runs[0]["error"].as_str().unwrap();
    assert!(
        err.starts_with("step 0 (t): template `{{ trigger.input.nope.deeper }}`"),
        "{err}"
    );
    assert_eq!(runs[0]["steps"][0]["status"], "failed");

    // A body that is not a JSON object is a 422, one past the limit a 413; neither starts a run.
    let run_path = format!("/api/projects/{}/workflows/{bad}/run", p.id);
    for body in [b"{not json".to_vec(), b"[1]".to_vec()] {
        let res = env.call_raw("POST", &run_path, Some(&p.token), body).await;
        assert_eq!(res.status, 422, "{res:?}");
    }
    let big = format!("{{\"input\": {{\"x\": \"{}\"}}}}", "a".repeat(2 << 20));
    let res = env
        .call_raw("POST", &run_path, Some(&p.token), big.into_bytes())
        .await;
    assert_eq!(res.status, 413, "{res:?}");
    assert_eq!(p.runs(&bad).await.len(), 1);

    // Runs are paged and filtered by status; bad parameters are 422s.
    let page = p
        .ok(
            200,
            "GET",
            &format!("/workflows/{bad}/runs?status=failed&limit=1"),
            None,
        )
        .await;
    assert_eq!(
        (page["total"].clone(), page["limit"].clone()),
        (json!(1), json!(1))
    );
    for q in ["limit=0", "limit=x", "offset=-1", "status=lost"] {
        assert_eq!(
            p.call("GET", &format!("/workflows/{bad}/runs?{q}"), None)
                .await
                .status,
            422,
            "{q}"
        );
    }
    assert_eq!(
        p.call(
            "GET",
            &format!("/workflows/{bad}/runs/{}", uuid::Uuid::new_v4()),
            None
        )
        .await
        .status,
        404
    );
    let other = env.admin("other@example.com").await;
    let theirs = env
        .call(
            "GET",
            &format!("/api/projects/{}/workflows/{bad}/runs", p.id),
            Some(&other),
            None,
        )
        .await;
    assert_eq!(theirs.status, 404, "{theirs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflow_writes_start_workflows_at_most_three_levels_deep() {
    let env = TestEnv::start().await;
    let p = project(&env, "owner@example.com").await;
    let wf = p
        .workflow(json!({"name": "echo", "trigger_type": "record.created",
            "trigger_config": {"collection": "orders"},
            "steps": [{"action": "create_record", "collection": "orders",
                       "data": {"title": "echo of {{ trigger.record.id }}"}}]}))
        .await;
    p.ok(201, "POST", "/data/orders", Some(json!({"title": "first"})))
        .await;
    let runs = p.finished(&wf, 3).await;
    let mut depths: Vec<i64> = runs.iter().map(|r| r["depth"].as_i64().unwrap()).collect();
    depths.sort();
    assert_eq!(depths, [1, 2, 3]);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let all = p.ok(200, "GET", "/data/orders", None).await;
    assert_eq!(
        all["total"], 4,
        "the request's record and one per level: {all}"
    );
    assert_eq!(p.runs(&wf).await.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_fires_once_per_due_time_across_two_workers() {
    let env = TestEnv::start().await;
    let p = project(&env, "owner@example.com").await;
    // Every second (six fields: seconds first), and every minute.
    let each_second = p
        .workflow(json!({"name": "tick", "trigger_type": "schedule", "trigger_config": {"cron": "* * * * * *"},
            "steps": [{"action": "transform", "output": {"at": "{{ trigger.scheduled_at }}"}}]}))
        .await;
    let each_minute = p
        .workflow(json!({"name": "minute", "trigger_type": "schedule", "trigger_config": {"cron": "* * * * *"}}))
        .await;
    // Past the next minute boundary that is at least 5 s away (the workers must have the new
    // workflow before it), with a margin for their one-second look.
    let now = chrono::Utc::now();
    let mut to_boundary = 60 - (now.timestamp() % 60) as u64;
    if to_boundary < 5 {
        to_boundary += 60;
    }
    tokio::time::sleep(Duration::from_secs(to_boundary + 3)).await;
    p.ok(
        200,
        "PATCH",
        &format!("/workflows/{each_second}"),
        Some(json!({"is_active": false})),
    )
    .await;
    let ticks = p.runs(&each_second).await;
    let mut due: Vec<String> = ticks
        .iter()
        .map(|r| r["trigger"]["scheduled_at"].as_str().unwrap().to_owned())
        .collect();
    let n = due.len();
    due.sort();
    due.dedup();
    assert_eq!(due.len(), n, "no due time ran twice: {due:?}");
    assert!(n >= 4, "about one run a second: {n}");
    // Exactly one run for the boundary waited for (and none twice for any other).
    let target =
        (now.timestamp() - now.timestamp() % 60) as u64 + 60 * (1 + u64::from(to_boundary > 60));
    let target = chrono::DateTime::from_timestamp(target as i64, 0).unwrap();
    let minutes = p.runs(&each_minute).await;
    let at: Vec<chrono::DateTime<chrono::Utc>> = minutes
        .iter()
        .map(|r| {
            r["trigger"]["scheduled_at"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(
        at.iter().filter(|t| **t == target).count(),
        1,
        "one run for the minute that began at {target}: {minutes:#?}"
    );
    let mut distinct = at.clone();
    distinct.dedup();
    assert_eq!(distinct.len(), at.len(), "{at:?}");
}
