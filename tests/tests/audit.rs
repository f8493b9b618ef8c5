//! The audit log through the router (spec/audit.md): listing with every filter, paging and its
//! checks, the streamed export in both formats, and who may read it.

use e2e::TestEnv;
use serde_json::{json, Value};

struct Project<'a> {
    env: &'a TestEnv,
    token: String,
    base: String,
}

impl Project<'_> {
    async fn get(&self, rest: &str) -> e2e::Res {
        let path = format!("{}{rest}", self.base);
        self.env.call("GET", &path, Some(&self.token), None).await
    }

    async fn events(&self, query: &str) -> Value {
        let res = self.get(&format!("/audit/events{query}")).await;
        assert_eq!(res.status, 200, "{query}: {res:?}");
        res.body
    }

    async fn app_user(&self, email: &str) -> String {
        let body = json!({"email": email, "password": "app-user-pass"});
        let res = self
            .env
            .call(
                "POST",
                &format!("{}/auth/register", self.base),
                None,
                Some(body),
            )
            .await;
        assert_eq!(res.status, 201, "{res:?}");
        res.body["user"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    async fn login(&self, email: &str) {
        let body = json!({"email": email, "password": "app-user-pass"});
        let res = self
            .env
            .call(
                "POST",
                &format!("{}/auth/login", self.base),
                None,
                Some(body),
            )
            .await;
        assert_eq!(res.status, 200, "{res:?}");
    }
}

async fn project<'a>(env: &'a TestEnv, email: &str) -> Project<'a> {
    let token = env.admin(email).await;
    let p = env.project(&token, "Shop").await;
    Project {
        env,
        token,
        base: format!("/api/projects/{p}"),
    }
}

fn actions(page: &Value) -> Vec<String> {
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_listed_newest_first_with_every_filter() {
    let env = TestEnv::start().await;
    let p = project(&env, "owner@example.com").await;
    let empty = p.events("").await;
    assert_eq!(
        empty,
        json!({"events": [], "total": 0, "limit": 100, "offset": 0})
    );

    p.app_user("ann@example.com").await;
    p.app_user("bob@example.com").await;
    p.login("ann@example.com").await;
    let all = p.events("").await;
    assert_eq!(all["total"], 3);
    assert_eq!(
        actions(&all),
        ["auth.login", "auth.register", "auth.register"]
    );
    let first = &all["events"][0];
    for key in [
        "id",
        "project_id",
        "collection_id",
        "record_id",
        "action",
        "actor_user_id",
        "actor_api_key_id",
        "actor_app_user_id",
        "old_data_json",
        "new_data_json",
        "ip_address",
        "user_agent",
        "created_at",
    ] {
        assert!(first.get(key).is_some(), "{key} in {first}");
    }
    assert_eq!(
        first["project_id"],
        p.base.trim_start_matches("/api/projects/")
    );
    let data: Value = serde_json::from_str(first["new_data_json"].as_str().unwrap()).unwrap();
    assert_eq!(data["email"], "ann@example.com");
    assert!(first["ip_address"].is_string());

    // Filters: action, actor, search (case-insensitive, LIKE characters taken literally), dates.
    assert_eq!(p.events("?action=auth.register").await["total"], 2);
    let ann = first["actor_app_user_id"].as_str().unwrap();
    assert_eq!(
        p.events(&format!("?actor_app_user_id={ann}")).await["total"],
        2
    );
    assert_eq!(p.events("?actor_type=app_user").await["total"], 3);
    assert_eq!(p.events("?actor_type=api_key").await["total"], 0);
    assert_eq!(
        p.events("?actor_type=something").await["total"],
        3,
        "ignored"
    );
    assert_eq!(p.events("?search=BOB@").await["total"], 1);
    assert_eq!(p.events("?q=ann%40").await["total"], 2);
    assert_eq!(
        p.events("?search=%25").await["total"],
        0,
        "% is no wildcard"
    );
    assert_eq!(
        p.events("?since=2000-01-01&until=2999-01-01").await["total"],
        3
    );
    assert_eq!(p.events("?since=2999-01-01T00:00:00Z").await["total"], 0);
    assert_eq!(
        p.events("?start_date=not-a-date").await["total"],
        3,
        "ignored"
    );
    assert_eq!(p.events("?collection_id=not-a-uuid").await["total"], 0);
    assert_eq!(p.events("?record_id=x").await["total"], 0);
    assert_eq!(p.events("?action=x%27%20OR%201%3D1%20--").await["total"], 0);

    // Paging: limit and offset, with the total of every match.
    let page = p.events("?limit=1&offset=1").await;
    assert_eq!(
        (
            page["total"].clone(),
            page["limit"].clone(),
            page["offset"].clone()
        ),
        (json!(3), json!(1), json!(1))
    );
    assert_eq!(actions(&page), ["auth.register"]);
    assert_ne!(
        page["events"][0]["id"],
        p.events("?limit=1&offset=2").await["events"][0]["id"]
    );
    assert_eq!(actions(&p.events("?offset=5").await).len(), 0);

    for bad in [
        "?limit=0",
        "?limit=1001",
        "?limit=ten",
        "?offset=-1",
        "?since=yesterday",
        "?action=a%00b",
    ] {
        let res = p.get(&format!("/audit/events{bad}")).await;
        assert_eq!(res.status, 422, "{bad}: {res:?}");
        assert!(res.body["detail"][0]["loc"][0] == "query", "{bad}: {res:?}");
    }
    let res = p.get("/audit/events?collection=nope").await;
    assert_eq!(
        (res.status, res.detail()),
        (400, "Collection 'nope' not found".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_export_streams_every_match_as_csv_or_ndjson() {
    let env = TestEnv::start().await;
    let p = project(&env, "owner@example.com").await;
    p.app_user("=cmd@example.com").await;
    p.app_user("plain@example.com").await;
    // A login whose User-Agent has quotes, a comma and a formula.
    let req = env
        .request("POST", &format!("{}/auth/login", p.base))
        .header("user-agent", "Agent \"x\", =HYPERLINK(1)")
        .json(&json!({"email": "=cmd@example.com", "password": "app-user-pass"}));
    assert_eq!(env.send(req).await.status, 200);

    let req = env
        .request(
            "GET",
            &format!("{}/audit/events/export?format=ndjson&limit=1", p.base),
        )
        .bearer_auth(&p.token);
    let res = req.send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/x-ndjson");
    let text = res.text().await.unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "limit does not apply to exports");
    assert_eq!(lines[0]["action"], "auth.login");
    assert_eq!(
        lines,
        p.events("").await["events"].as_array().unwrap().clone()
    );

    let req = env
        .request("GET", &format!("{}/audit/events/export?format=csv", p.base))
        .bearer_auth(&p.token);
    let res = req.send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("audit-events.csv"));
    let text = res.text().await.unwrap();
    let mut rows = text.lines();
    assert!(rows
        .next()
        .unwrap()
        .starts_with("id,project_id,collection_id,record_id,action,"));
    let body: Vec<&str> = rows.collect();
    assert_eq!(body.len(), 3, "{text}");
    assert!(
        text.contains("\"Agent \"\"x\"\", =HYPERLINK(1)\""),
        "quoted: {text}"
    );
    assert!(
        !text.contains(",=") && !text.contains(",\"="),
        "no cell starts a formula: {text}"
    );
    let res = env
        .request(
            "GET",
            &format!(
                "{}/audit/events/export?format=csv&action=auth.login",
                p.base
            ),
        )
        .bearer_auth(&p.token);
    let text = res.send().await.unwrap().text().await.unwrap();
    assert_eq!(text.lines().count(), 2, "header and the login: {text}");

    let res = p.get("/audit/events/export?format=xml").await;
    assert_eq!(res.status, 422);
    let res = p.get("/audit/events/export?limit=0").await;
    assert_eq!(res.status, 422);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_member_admins_read_the_log() {
    let env = TestEnv::start().await;
    let a = project(&env, "a@example.com").await;
    let b = project(&env, "b@example.com").await;
    a.app_user("ann@example.com").await;
    let login = json!({"email": "ann@example.com", "password": "app-user-pass"});
    let res = env
        .call("POST", &format!("{}/auth/login", a.base), None, Some(login))
        .await;
    let app_token = res.body["access_token"].as_str().unwrap().to_owned();
    for rest in ["/audit/events", "/audit/events/export"] {
        let path = format!("{}{rest}", a.base);
        assert_eq!(
            env.call("GET", &path, None, None).await.status,
            401,
            "{rest}"
        );
        assert_eq!(
            env.call("GET", &path, Some(&app_token), None).await.status,
            401,
            "{rest}"
        );
        let res = env.call("GET", &path, Some(&b.token), None).await;
        assert_eq!(res.status, 404, "{rest}: {res:?}");
    }
    // B's own log does not have A's events.
    assert_eq!(b.events("").await["total"], 0);
    assert_eq!(a.events("").await["total"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sealed_chain_names_the_first_changed_or_missing_event() {
    let env = TestEnv::start().await;
    let p = project(&env, "owner@example.com").await;
    for i in 0..4 {
        p.app_user(&format!("user{i}@example.com")).await;
    }
    // Sealed after commit by a worker in the background.
    let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let report = loop {
        let res = p.get("/audit/verify").await;
        assert_eq!(res.status, 200, "{res:?}");
        if res.body["unsealed"] == 0 && res.body["checked"] == 4 {
            break res.body;
        }
        assert!(std::time::Instant::now() < until, "not sealed: {res:?}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["first_broken"], Value::Null);

    // Someone with database access changes the third event, then puts it back, then removes it.
    let pool = sqlx::PgPool::connect(&env.db_url).await.unwrap();
    let schema: String = sqlx::query_scalar("SELECT db_schema FROM control.projects")
        .fetch_one(&pool)
        .await
        .unwrap();
    let (id, original): (uuid::Uuid, String) = sqlx::query_as(&format!(
        "SELECT id, new_data_json FROM \"{schema}\"._audit_events WHERE chain_seq = 3"
    ))
    .fetch_one(&pool)
    .await
    .unwrap();
    let set = format!("UPDATE \"{schema}\"._audit_events SET new_data_json = $1 WHERE id = $2");
    sqlx::query(&set)
        .bind("{\"email\": \"someone@else\"}")
        .bind(id)
        .execute(&pool)
        .await
        .unwrap();
    let report = p.get("/audit/verify").await.body;
    assert_eq!(report["valid"], false, "{report}");
    assert_eq!(report["first_broken"]["id"], id.to_string());
    assert_eq!(report["first_broken"]["chain_seq"], 3);
    assert!(report["first_broken"]["reason"]
        .as_str()
        .unwrap()
        .contains("changed"));

    sqlx::query(&set)
        .bind(&original)
        .bind(id)
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(p.get("/audit/verify").await.body["valid"], true);

    sqlx::query(&format!(
        "DELETE FROM \"{schema}\"._audit_events WHERE id = $1"
    ))
    .bind(id)
    .execute(&pool)
    .await
    .unwrap();
    let report = p.get("/audit/verify").await.body;
    assert_eq!(report["valid"], false, "{report}");
    assert_eq!(report["first_broken"]["chain_seq"], 4);
    assert!(report["first_broken"]["reason"]
        .as_str()
        .unwrap()
        .contains("event 3 is missing"));
    assert_eq!(report["checked"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_purges_old_events_and_the_chain_keeps_its_anchor() {
    let env = TestEnv::start().await;
    let p = project(&env, "owner@example.com").await;
    for i in 0..4 {
        p.app_user(&format!("user{i}@example.com")).await;
    }
    let sealed = |body: &Value| body["unsealed"] == 0 && body["checked"] == 4;
    let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !sealed(&p.get("/audit/verify").await.body) {
        assert!(std::time::Instant::now() < until, "never sealed");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // The first two events are 100 days old; the default retention (90 days) drops them.
    let pool = sqlx::PgPool::connect(&env.db_url).await.unwrap();
    let schema: String = sqlx::query_scalar("SELECT db_schema FROM control.projects")
        .fetch_one(&pool)
        .await
        .unwrap();
    sqlx::query(&format!(
        "UPDATE \"{schema}\"._audit_events SET created_at = now() - interval '100 days'
         WHERE chain_seq <= 2"
    ))
    .execute(&pool)
    .await
    .unwrap();
    let settings = p.get("/settings/auth").await;
    assert_eq!(settings.body["audit_retention_days"], 90, "{settings:?}");
    let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while p.events("").await["total"] != 2 {
        assert!(std::time::Instant::now() < until, "never purged");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let report = p.get("/audit/verify").await.body;
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["checked"], 2);
    assert_eq!(report["anchor"]["chain_seq"], 2);

    // A shorter retention is a setting; out of range is 422.
    for bad in [0, 3651] {
        let res = env
            .call(
                "PUT",
                &format!("{}/settings/auth", p.base),
                Some(&p.token),
                Some(json!({"audit_retention_days": bad})),
            )
            .await;
        assert_eq!(res.status, 422, "{bad}: {res:?}");
    }
    let res = env
        .call(
            "PUT",
            &format!("{}/settings/auth", p.base),
            Some(&p.token),
            Some(json!({"audit_retention_days": 7})),
        )
        .await;
    assert_eq!(
        (res.status, res.body["audit_retention_days"].clone()),
        (200, json!(7))
    );
}
