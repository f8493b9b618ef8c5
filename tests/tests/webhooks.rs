//! Webhook definitions end to end (spec/webhooks.md), through the router: the pinned CRUD, the
//! update and secret-rotation calls, input checks, tenancy, and secrets sealed at rest.

use base64::Engine;
use e2e::TestEnv;
use serde_json::{json, Value};

struct Admin<'a> {
    env: &'a TestEnv,
    token: String,
    base: String,
}

impl Admin<'_> {
    async fn call(&self, method: &str, rest: &str, body: Option<Value>) -> e2e::Res {
        let path = format!("{}{rest}", self.base);
        self.env.call(method, &path, Some(&self.token), body).await
    }

    async fn expect(&self, status: u16, method: &str, rest: &str, body: Option<Value>) -> Value {
        let res = self.call(method, rest, body).await;
        assert_eq!(res.status, status, "{method} {rest}: {res:?}");
        res.body
    }
}

async fn admin<'a>(env: &'a TestEnv, email: &str) -> (Admin<'a>, String) {
    let token = env.admin(email).await;
    let p = env.project(&token, "Shop").await;
    let base = format!("/api/projects/{p}");
    (Admin { env, token, base }, p)
}

/// The key bytes of a `whsec_` secret.
fn key_of(secret: &Value) -> Vec<u8> {
    let s = secret.as_str().expect("secret is a string");
    let b64 = s.strip_prefix("whsec_").expect("whsec_ prefix");
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("base64 after whsec_")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_follow_the_contract() {
    let env = TestEnv::start().await;
    let (a, p) = admin(&env, "owner@example.com").await;
    env.collection(&a.token, &p, "order").await;

    let created = a
        .expect(
            201,
            "POST",
            "/webhooks",
            Some(json!({"name": "Orders", "url": "https://example.com/hook",
                        "events": ["record.updated", "record.created"]})),
        )
        .await;
    assert_eq!(created["name"], "Orders");
    assert_eq!(created["url"], "https://example.com/hook");
    assert_eq!(created["project_id"], p.as_str());
    assert_eq!(
        created["events"],
        json!(["record.updated", "record.created"])
    );
    assert_eq!(created["is_active"], true);
    assert_eq!(created["collections"], Value::Null);
    assert_eq!(key_of(&created["secret"]).len(), 32);
    let id = created["id"].as_str().unwrap().to_owned();

    let star = a
        .expect(
            201,
            "POST",
            "/webhooks",
            Some(
                json!({"name": "All", "url": "http://127.0.0.1:9/x", "events": ["*"],
                        "collections": ["order"], "is_active": false}),
            ),
        )
        .await;
    assert_eq!(star["collections"], json!(["order"]));
    assert_eq!(star["is_active"], false);
    assert_ne!(star["secret"], created["secret"]);

    // Listing and reading never show the secret.
    let list = a.expect(200, "GET", "/webhooks", None).await;
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Orders", "All"]);
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .all(|w| w.get("secret").is_none()));
    let one = a.expect(200, "GET", &format!("/webhooks/{id}"), None).await;
    assert_eq!(one["name"], "Orders");
    assert!(one.get("secret").is_none());

    // PATCH: absent keys stay; the filter follows a collection's renames; null removes it.
    let star_id = star["id"].as_str().unwrap();
    let patched = a
        .expect(
            200,
            "PATCH",
            &format!("/webhooks/{star_id}"),
            Some(json!({"name": "Everything", "is_active": true})),
        )
        .await;
    assert_eq!(patched["name"], "Everything");
    assert_eq!(patched["url"], "http://127.0.0.1:9/x");
    assert_eq!(patched["is_active"], true);
    let cid = a
        .expect(200, "GET", "/schema/collections/order", None)
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    a.expect(
        200,
        "POST",
        &format!("/schema/evolution/collections/{cid}/rename"),
        Some(json!({"new_name": "purchase"})),
    )
    .await;
    let renamed = a
        .expect(200, "GET", &format!("/webhooks/{star_id}"), None)
        .await;
    assert_eq!(renamed["collections"], json!(["purchase"]));
    let cleared = a
        .expect(
            200,
            "PATCH",
            &format!("/webhooks/{star_id}"),
            Some(json!({"collections": null})),
        )
        .await;
    assert_eq!(cleared["collections"], Value::Null);

    // Rotation: a new 32-byte key, shown once, the old one still signing for a while.
    let rotated = a
        .expect(200, "POST", &format!("/webhooks/{id}/rotate-secret"), None)
        .await;
    assert_eq!(key_of(&rotated["secret"]).len(), 32);
    assert_ne!(rotated["secret"], created["secret"]);
    assert!(rotated["previous_secret_expires_at"].is_string());

    // Delete: 204, then 404 with the contract's message.
    let res = a.call("DELETE", &format!("/webhooks/{id}"), None).await;
    assert_eq!(res.status, 204, "{res:?}");
    for (method, rest) in [
        ("GET", format!("/webhooks/{id}")),
        ("DELETE", format!("/webhooks/{id}")),
        ("PATCH", format!("/webhooks/{id}")),
        ("POST", format!("/webhooks/{id}/rotate-secret")),
        ("GET", "/webhooks/nonexistent-id".to_owned()),
    ] {
        let body = (method == "PATCH").then(|| json!({"name": "x"}));
        let res = a.call(method, &rest, body).await;
        assert_eq!(
            (res.status, res.detail()),
            (404, "Webhook not found".into()),
            "{method} {rest}"
        );
    }
    let list = a.expect(200, "GET", "/webhooks", None).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_webhook_input_is_refused_and_nothing_is_stored() {
    let env = TestEnv::start().await;
    let (a, p) = admin(&env, "owner@example.com").await;
    env.collection(&a.token, &p, "order").await;
    let ok = json!({"name": "n", "url": "https://example.com/h", "events": ["*"]});
    let with = |key: &str, v: Value| {
        let mut b = ok.clone();
        b[key] = v;
        b
    };
    let long_url = format!("https://example.com/{}", "a".repeat(2048));
    let cases = [
        (with("url", json!("example.com/hook")), "url"),
        (with("url", json!("ftp://example.com/h")), "url"),
        (with("url", json!("javascript:alert(1)")), "url"),
        (with("url", json!("http:///nohost")), "url"),
        (with("url", json!("https:\\\\example.com/h")), "url"),
        (with("url", json!("https://example.com/a b")), "url"),
        (with("url", json!(" https://example.com/h")), "url"),
        (with("url", json!("https://example.com/\nX-Evil: 1")), "url"),
        (with("url", json!(long_url)), "url"),
        (with("url", json!(42)), "url"),
        (
            with("events", json!(["record.created", "record.exploded"])),
            "events",
        ),
        (with("events", json!([])), "events"),
        (with("events", json!("record.created")), "events"),
        (with("events", json!([1])), "events"),
        (with("name", json!("")), "name"),
        (with("name", json!("a\u{0}b")), "name"),
        (with("is_active", json!("yes")), "is_active"),
        (with("collections", json!("order")), "collections"),
        (with("collections", json!([])), "collections"),
        (
            json!({"url": "https://example.com/h", "events": ["*"]}),
            "name",
        ),
        (json!({"name": "n", "events": ["*"]}), "url"),
        (
            json!({"name": "n", "url": "https://example.com/h"}),
            "events",
        ),
    ];
    for (body, key) in cases {
        let res = a.call("POST", "/webhooks", Some(body.clone())).await;
        assert_eq!(res.status, 422, "{body}: {res:?}");
        let locs: Vec<&Value> = res.body["detail"]
            .as_array()
            .unwrap_or_else(|| panic!("{body}: {res:?}"))
            .iter()
            .map(|i| &i["loc"][1])
            .collect();
        assert!(locs.contains(&&json!(key)), "{body}: {res:?}");
    }
    // Not JSON, not an object, too large.
    for raw in ["{", "[]", "null"] {
        let req = env
            .request("POST", &format!("{}/webhooks", a.base))
            .bearer_auth(&a.token)
            .header("content-type", "application/json")
            .body(raw);
        assert_eq!(env.send(req).await.status, 422, "{raw}");
    }
    let huge = json!({"name": "x".repeat(2 << 20), "url": "https://example.com", "events": ["*"]});
    assert_eq!(a.call("POST", "/webhooks", Some(huge)).await.status, 413);
    // A collection that is not one of the project's: 400 naming it.
    let res = a
        .call(
            "POST",
            "/webhooks",
            Some(with("collections", json!(["order", "nope"]))),
        )
        .await;
    assert_eq!(
        (res.status, res.detail()),
        (400, "Collection 'nope' not found".into())
    );
    // PATCH checks the same way and changes nothing when refused.
    let w = a.expect(201, "POST", "/webhooks", Some(ok.clone())).await;
    let wid = w["id"].as_str().unwrap();
    for body in [
        json!({"url": "not a url"}),
        json!({"events": ["nope"]}),
        json!({"name": "renamed", "collections": ["nope"]}),
    ] {
        let res = a
            .call("PATCH", &format!("/webhooks/{wid}"), Some(body.clone()))
            .await;
        assert!(matches!(res.status, 400 | 422), "{body}: {res:?}");
    }
    let same = a
        .expect(200, "GET", &format!("/webhooks/{wid}"), None)
        .await;
    assert_eq!(
        (same["name"].clone(), same["url"].clone()),
        (json!("n"), json!("https://example.com/h"))
    );
    let all = a.expect(200, "GET", "/webhooks", None).await;
    assert_eq!(
        all.as_array().unwrap().len(),
        1,
        "only the good one was stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_private_to_their_project_and_secrets_are_sealed() {
    let env = TestEnv::start().await;
    let (a, _) = admin(&env, "a@example.com").await;
    let (b, _) = admin(&env, "b@example.com").await;
    let body = json!({"name": "n", "url": "https://example.com/h", "events": ["*"]});
    let w = a.expect(201, "POST", "/webhooks", Some(body.clone())).await;
    let wid = w["id"].as_str().unwrap();

    // Another admin: their own project does not have it; A's project is not found for them.
    for (method, rest) in [
        ("GET", format!("/webhooks/{wid}")),
        ("DELETE", format!("/webhooks/{wid}")),
        ("POST", format!("/webhooks/{wid}/rotate-secret")),
    ] {
        let res = b.call(method, &rest, None).await;
        assert_eq!(
            (res.status, res.detail()),
            (404, "Webhook not found".into())
        );
        let foreign = format!("{}{rest}", a.base);
        let res = env.call(method, &foreign, Some(&b.token), None).await;
        assert_eq!(
            (res.status, res.detail()),
            (404, "Project not found".into())
        );
    }
    let res = env
        .call("GET", &format!("{}/webhooks", a.base), None, None)
        .await;
    assert_eq!(res.status, 401);
    a.expect(200, "GET", &format!("/webhooks/{wid}"), None)
        .await;

    // At rest the key is sealed: neither its bytes nor the shown secret are in the row.
    let key = key_of(&w["secret"]);
    let pool = sqlx::PgPool::connect(&env.db_url).await.unwrap();
    let row: (Vec<u8>, String) = sqlx::query_as(
        "SELECT secret_sealed, row_to_json(w)::text FROM control.webhooks w WHERE id = $1::uuid",
    )
    .bind(wid)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(!row.0.windows(key.len()).any(|win| win == key.as_slice()));
    let shown = w["secret"].as_str().unwrap();
    assert!(!row.1.contains(shown) && !row.1.contains(&shown[6..]));
}
