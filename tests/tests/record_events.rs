//! What record writes report, end to end: every write path (create, update, delete, batch steps,
//! `_users`) writes its audit event and, for webhooks that want it, an outbox row in the same
//! transaction; the deliveries reach a receiver on 127.0.0.1 with the contract's payload. A write
//! that is refused reports nothing.

use e2e::receiver::Receiver;
use e2e::TestEnv;
use serde_json::{json, Value};
use std::time::Duration;

struct P<'a> {
    env: &'a TestEnv,
    token: String,
    base: String,
}

impl P<'_> {
    async fn call(&self, method: &str, rest: &str, body: Option<Value>) -> e2e::Res {
        let path = format!("{}{rest}", self.base);
        self.env.call(method, &path, Some(&self.token), body).await
    }

    async fn ok(&self, status: u16, method: &str, rest: &str, body: Option<Value>) -> Value {
        let res = self.call(method, rest, body).await;
        assert_eq!(res.status, status, "{method} {rest}: {res:?}");
        res.body
    }

    async fn events(&self, query: &str) -> Vec<Value> {
        let page = self
            .ok(200, "GET", &format!("/audit/events{query}"), None)
            .await;
        page["events"].as_array().unwrap().clone()
    }
}

async fn setup(env: &TestEnv) -> P<'_> {
    let token = env.admin("owner@example.com").await;
    let p = env.project(&token, "Shop").await;
    env.collection(&token, &p, "order").await;
    env.field(&token, &p, "order", "title", "string").await;
    env.collection(&token, &p, "note").await;
    env.field(&token, &p, "note", "text", "string").await;
    P {
        env,
        token,
        base: format!("/api/projects/{p}"),
    }
}

fn parse(text: &Value) -> Value {
    serde_json::from_str(text.as_str().unwrap_or("null")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_path_leaves_its_audit_event() {
    let env = TestEnv::start().await;
    let p = setup(&env).await;
    let cid = p.ok(200, "GET", "/schema/collections/order", None).await["id"].clone();

    // An admin's create, update and delete.
    let req = env
        .request("POST", &format!("{}/data/order", p.base))
        .bearer_auth(&p.token)
        .header("user-agent", "shop-admin/1.0")
        .json(&json!({"title": "first"}));
    let created = env.send(req).await;
    assert_eq!(created.status, 201, "{created:?}");
    let id = created.body["id"].clone();
    p.ok(
        200,
        "PATCH",
        &format!("/data/order/{id}"),
        Some(json!({"title": "second"})),
    )
    .await;
    p.ok(204, "DELETE", &format!("/data/order/{id}"), None)
        .await;

    let events = p.events("?collection=order").await;
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["delete", "update", "create"]);
    let (del, upd, cre) = (&events[0], &events[1], &events[2]);
    for e in &events {
        assert_eq!(e["collection_id"], cid);
        assert_eq!(e["record_id"], id.to_string(), "record ids are strings");
        assert!(e["actor_user_id"].is_string(), "{e}");
        assert_eq!(e["ip_address"], "127.0.0.1");
    }
    assert_eq!(cre["user_agent"], "shop-admin/1.0");
    assert_eq!(cre["old_data_json"], Value::Null);
    assert_eq!(parse(&cre["new_data_json"])["title"], "first");
    assert_eq!(parse(&upd["old_data_json"])["title"], "first");
    assert_eq!(parse(&upd["new_data_json"])["title"], "second");
    assert_eq!(parse(&del["old_data_json"])["title"], "second");
    assert_eq!(del["new_data_json"], Value::Null);

    // An API key's write names the key; a batch writes one event per step.
    let key = p
        .ok(201, "POST", "/api-keys", Some(json!({"name": "server"})))
        .await;
    let key_id = key["id"].as_str().unwrap().to_owned();
    let key = key["api_key"].as_str().unwrap().to_owned();
    let req = env
        .request("POST", &format!("{}/data/note", p.base))
        .header("x-api-key", &key)
        .json(&json!({"text": "by key"}));
    assert_eq!(env.send(req).await.status, 201);
    let by_key = p.events(&format!("?actor_api_key_id={key_id}")).await;
    assert_eq!(by_key.len(), 1);
    assert_eq!(by_key[0]["actor_user_id"], Value::Null);
    let ops = json!({"operations": [
        {"op": "create", "collection": "note", "data": {"text": "a"}},
        {"op": "create", "collection": "order", "data": {"title": "b"}},
    ]});
    p.ok(200, "POST", "/data/_batch", Some(ops)).await;
    assert_eq!(p.events("?collection=note&action=create").await.len(), 2);

    // An app user's write names them; an admin's write to _users never shows the password hash.
    let policy = json!({"action": "create", "name": "app users write notes", "allowed_principals": "app_user"});
    p.ok(
        201,
        "POST",
        "/schema/collections/note/policies",
        Some(policy),
    )
    .await;
    let app = env
        .call(
            "POST",
            &format!("{}/auth/register", p.base),
            None,
            Some(json!({"email": "ann@example.com", "password": "app-user-pass"})),
        )
        .await;
    let app_token = app.body["access_token"].as_str().unwrap().to_owned();
    let res = env
        .call(
            "POST",
            &format!("{}/data/note", p.base),
            Some(&app_token),
            Some(json!({"text": "mine"})),
        )
        .await;
    assert_eq!(res.status, 201, "{res:?}");
    let mine = p.events("?actor_type=app_user&action=create").await;
    assert_eq!(parse(&mine[0]["new_data_json"])["text"], "mine");
    let res = p
        .call(
            "POST",
            "/data/_users",
            Some(json!({"email": "bob@example.com"})),
        )
        .await;
    assert_eq!(res.status, 201, "{res:?}");
    let users = p.events("?collection=_users").await;
    assert_eq!(users.len(), 1, "{users:?}");
    assert_eq!(
        parse(&users[0]["new_data_json"])["email"],
        "bob@example.com"
    );
    let everything = p.events("?limit=1000").await;
    assert!(!serde_json::to_string(&everything)
        .unwrap()
        .contains("password_hash"));

    // Refused writes report nothing.
    let before = p.events("?limit=1000").await.len();
    for (method, rest, body) in [
        ("POST", "/data/order".to_owned(), json!({"nope": 1})),
        (
            "PATCH",
            "/data/order/999999".to_owned(),
            json!({"title": "x"}),
        ),
        ("DELETE", "/data/order/999999".to_owned(), Value::Null),
    ] {
        let body = (!body.is_null()).then_some(body);
        let res = p.call(method, &rest, body).await;
        assert!(matches!(res.status, 400 | 404), "{rest}: {res:?}");
    }
    let bad_batch = json!({"operations": [
        {"op": "create", "collection": "note", "data": {"text": "kept?"}},
        {"op": "create", "collection": "nope", "data": {}},
    ]});
    assert_ne!(
        p.call("POST", "/data/_batch", Some(bad_batch)).await.status,
        200
    );
    assert_eq!(
        p.events("?limit=1000").await.len(),
        before,
        "no event for a refused write"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_events_reach_the_webhooks_that_want_them() {
    let env = TestEnv::start().await;
    let p = setup(&env).await;
    let rx = Receiver::start().await;
    let all = p
        .ok(
            201,
            "POST",
            "/webhooks",
            Some(json!({"name": "all", "url": rx.url("/all"), "events": ["*"]})),
        )
        .await;
    let notes_only = p
        .ok(
            201,
            "POST",
            "/webhooks",
            Some(
                json!({"name": "notes", "url": rx.url("/notes"), "events": ["record.created"],
                        "collections": ["note"]}),
            ),
        )
        .await;
    let off = p
        .ok(
            201,
            "POST",
            "/webhooks",
            Some(
                json!({"name": "off", "url": rx.url("/off"), "events": ["*"], "is_active": false}),
            ),
        )
        .await;

    let order = p
        .ok(201, "POST", "/data/order", Some(json!({"title": "t1"})))
        .await;
    let id = order["id"].clone();
    // The delivery row exists when the write returns (written in its transaction).
    let listed = p
        .ok(
            200,
            "GET",
            &format!("/webhooks/{}/deliveries", all["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    p.ok(
        200,
        "PATCH",
        &format!("/data/order/{id}"),
        Some(json!({"title": "t2"})),
    )
    .await;
    p.ok(204, "DELETE", &format!("/data/order/{id}"), None)
        .await;
    p.ok(201, "POST", "/data/note", Some(json!({"text": "n1"})))
        .await;

    rx.wait_for(5, Duration::from_secs(15)).await;
    // Nothing more arrives (the inactive webhook, a duplicate).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let hits = rx.hits();
    assert_eq!(hits.len(), 5, "4 events to `all`, 1 to `notes`");
    let mut to_all: Vec<Value> = Vec::new();
    let mut to_notes: Vec<Value> = Vec::new();
    for h in &hits {
        let body = h.json();
        assert_eq!(h.header("x-webhook-event"), body["event"].as_str().unwrap());
        assert!(body["timestamp"].is_string() && body["project_id"].is_string());
        assert!(body["actor_user_id"].is_string(), "an admin wrote: {body}");
        // Which webhook it went to: the signature verifies with that webhook's secret only.
        let secret_all = all["secret"].as_str().unwrap();
        let ok_all = standardwebhooks::Webhook::new(secret_all)
            .unwrap()
            .verify(&h.body, &h.headers)
            .is_ok();
        if ok_all {
            to_all.push(body);
        } else {
            let secret = notes_only["secret"].as_str().unwrap();
            standardwebhooks::Webhook::new(secret)
                .unwrap()
                .verify(&h.body, &h.headers)
                .expect("signed by one of the two webhooks");
            to_notes.push(body);
        }
    }
    let mut events: Vec<String> = to_all
        .iter()
        .map(|b| {
            format!(
                "{} {}",
                b["event"].as_str().unwrap(),
                b["collection"].as_str().unwrap()
            )
        })
        .collect();
    events.sort();
    assert_eq!(
        events,
        [
            "record.created note",
            "record.created order",
            "record.deleted order",
            "record.updated order"
        ]
    );
    let created = to_all
        .iter()
        .find(|b| b["event"] == "record.created" && b["collection"] == "order")
        .unwrap();
    assert_eq!(created["record"]["title"], "t1");
    let updated = to_all
        .iter()
        .find(|b| b["event"] == "record.updated")
        .unwrap();
    assert_eq!(updated["record_id"], id.to_string());
    assert_eq!(updated["old_record"]["title"], "t1");
    assert_eq!(updated["new_record"]["title"], "t2");
    let deleted = to_all
        .iter()
        .find(|b| b["event"] == "record.deleted")
        .unwrap();
    assert_eq!(deleted["deleted_record"]["title"], "t2");
    assert_eq!(to_notes.len(), 1);
    assert_eq!(to_notes[0]["record"]["text"], "n1");
    // The inactive webhook got nothing and has no deliveries.
    let off_id = off["id"].as_str().unwrap();
    let listed = p
        .ok(200, "GET", &format!("/webhooks/{off_id}/deliveries"), None)
        .await;
    assert_eq!(listed, json!([]));
    assert!(hits.iter().all(|h| !h.header("webhook-id").is_empty()));
}
