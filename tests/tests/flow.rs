//! Register → login → project → collection → fields → records CRUD, all through the router.

use e2e::TestEnv;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_builds_a_project_and_crud_records_through_the_router() {
    let env = TestEnv::start().await;

    // Admin auth.
    let reg = env
        .call(
            "POST",
            "/api/auth/register",
            None,
            Some(json!({"email": "Ada@Example.COM", "password": "password123"})),
        )
        .await;
    assert_eq!(reg.status, 201, "{reg:?}");
    assert_eq!(reg.body["token_type"], "bearer");
    assert_eq!(reg.body["refresh_token"].as_str().unwrap().len(), 64);
    let dup = env
        .call(
            "POST",
            "/api/auth/register",
            None,
            Some(json!({"email": "Ada@example.com", "password": "password123"})),
        )
        .await;
    assert_eq!(
        (dup.status, dup.detail().as_str()),
        (409, "User already exists")
    );
    let bad = env
        .call(
            "POST",
            "/api/auth/login",
            None,
            Some(json!({"email": "Ada@example.com", "password": "nope"})),
        )
        .await;
    assert_eq!(
        (bad.status, bad.detail().as_str()),
        (401, "Invalid credentials")
    );
    let login = env
        .call(
            "POST",
            "/api/auth/login",
            None,
            Some(json!({"email": "Ada@example.com", "password": "password123"})),
        )
        .await;
    assert_eq!(login.status, 200, "{login:?}");
    let token = login.body["access_token"].as_str().unwrap().to_owned();
    let me = env.call("GET", "/api/me", Some(&token), None).await;
    assert_eq!(
        (me.status, me.body["email"].as_str()),
        (200, Some("Ada@example.com"))
    );
    assert_eq!(
        env.call("GET", "/api/me", None, None).await.detail(),
        "Not authenticated"
    );
    assert_eq!(
        env.call("GET", "/api/me", Some("garbage"), None)
            .await
            .detail(),
        "Invalid token"
    );

    // Refresh rotation: the old token works once (presenting it again ends its family, which
    // tests/admin_auth.rs covers; here the family goes on and ends by logout).
    let old = login.body["refresh_token"].clone();
    let r1 = env
        .call(
            "POST",
            "/api/auth/refresh",
            None,
            Some(json!({"refresh_token": old})),
        )
        .await;
    assert_eq!(r1.status, 200);
    let r2 = env
        .call(
            "POST",
            "/api/auth/refresh",
            None,
            Some(json!({"refresh_token": r1.body["refresh_token"]})),
        )
        .await;
    assert_eq!(r2.status, 200);
    assert_eq!(
        env.call(
            "POST",
            "/api/auth/logout",
            None,
            Some(json!({"refresh_token": r2.body["refresh_token"]}))
        )
        .await
        .status,
        204
    );
    assert_eq!(
        env.call(
            "POST",
            "/api/auth/refresh",
            None,
            Some(json!({"refresh_token": r2.body["refresh_token"]}))
        )
        .await
        .status,
        401
    );

    // Projects.
    let pid = env.project(&token, "Shop").await;
    let list = env.call("GET", "/api/projects", Some(&token), None).await;
    assert_eq!(list.body, json!([{"id": pid, "name": "Shop"}]));
    let got = env
        .call("GET", &format!("/api/projects/{pid}"), Some(&token), None)
        .await;
    assert_eq!(got.body, json!({"id": pid, "name": "Shop"}));
    let p = format!("/api/projects/{pid}");

    // Collections and fields; `order` is not reserved and must work quoted.
    env.collection(&token, &pid, "order").await;
    let cols = env
        .call(
            "GET",
            &format!("{p}/schema/collections"),
            Some(&token),
            None,
        )
        .await;
    let names: Vec<&str> = cols
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["_users", "order"]);
    assert_eq!(cols.body[0]["is_system"], true);
    assert_eq!(cols.body[0]["display_name"], "Users");
    let one = env
        .call(
            "GET",
            &format!("{p}/schema/collections/order"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(
        (one.status, one.body["sql_table_name"].as_str()),
        (200, Some("order"))
    );
    env.field(&token, &pid, "order", "title", "string").await;
    env.field(&token, &pid, "order", "done", "bool").await;
    env.field(&token, &pid, "order", "qty", "int").await;
    let fields = env
        .call(
            "GET",
            &format!("{p}/schema/collections/order/fields"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(fields.body.as_array().unwrap().len(), 3);
    assert_eq!(fields.body[0]["sql_column_name"], "title");
    let users = env
        .call(
            "GET",
            &format!("{p}/schema/collections/_users/fields"),
            Some(&token),
            None,
        )
        .await;
    let unames: Vec<&str> = users
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(unames, ["email", "is_email_verified", "is_disabled"]);
    let sys = env
        .call(
            "POST",
            &format!("{p}/schema/collections/_users/fields"),
            Some(&token),
            Some(json!({"name": "email", "display_name": "E", "field_type": "string"})),
        )
        .await;
    assert_eq!(sys.status, 400);
    assert!(sys.detail().contains("system field"));

    // Records.
    let d = format!("{p}/data/order");
    let a = env
        .call(
            "POST",
            &d,
            Some(&token),
            Some(json!({"title": "first", "done": "false", "qty": "2"})),
        )
        .await;
    assert_eq!(a.status, 201, "{a:?}");
    assert_eq!(
        (
            a.body["id"].as_i64(),
            a.body["done"].as_bool(),
            a.body["qty"].as_i64()
        ),
        (Some(1), Some(false), Some(2))
    );
    assert!(a.body["created_at"].is_string());
    let me_id = me.body["id"].as_str().unwrap();
    assert_eq!(a.body["created_by_user_id"], me_id);
    for i in 0..4 {
        let r = env
            .call(
                "POST",
                &d,
                Some(&token),
                Some(json!({"title": format!("t{i}"), "done": i % 2 == 0, "qty": i})),
            )
            .await;
        assert_eq!(r.status, 201);
    }
    let page = env
        .call("GET", &format!("{d}?limit=2&offset=0"), Some(&token), None)
        .await;
    assert_eq!(
        (
            page.body["total"].as_i64(),
            page.body["records"].as_array().unwrap().len()
        ),
        (Some(5), 2)
    );
    assert_eq!(page.body["records"][0]["id"], 5, "newest first by default");
    let filtered = env
        .call(
            "GET",
            &format!("{d}?done=true&sort=qty"),
            Some(&token),
            None,
        )
        .await;
    let qtys: Vec<i64> = filtered.body["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["qty"].as_i64().unwrap())
        .collect();
    assert_eq!(qtys, [0, 2]);
    let ignored = env
        .call("GET", &format!("{d}?zzz=1&expand=x"), Some(&token), None)
        .await;
    assert_eq!(ignored.body["total"], 5);

    let got = env.call("GET", &format!("{d}/1"), Some(&token), None).await;
    assert_eq!(
        (got.status, got.body["title"].as_str()),
        (200, Some("first"))
    );
    let upd = env
        .call(
            "PATCH",
            &format!("{d}/1"),
            Some(&token),
            Some(json!({"title": "changed", "done": true, "id": 99})),
        )
        .await;
    assert_eq!(
        (
            upd.status,
            upd.body["title"].as_str(),
            upd.body["done"].as_bool(),
            upd.body["id"].as_i64()
        ),
        (200, Some("changed"), Some(true), Some(1))
    );
    assert_ne!(upd.body["updated_at"], a.body["updated_at"]);
    assert_eq!(
        env.call("DELETE", &format!("{d}/1"), Some(&token), None)
            .await
            .status,
        204
    );
    let gone = env.call("GET", &format!("{d}/1"), Some(&token), None).await;
    assert_eq!(
        (gone.status, gone.detail().as_str()),
        (404, "Record not found")
    );
    assert_eq!(
        env.call("DELETE", &format!("{d}/1"), Some(&token), None)
            .await
            .status,
        404
    );

    // Anonymous callers, without policies, are refused; a missing record is still 404 first.
    assert_eq!(
        env.call("GET", &format!("{d}/2"), None, None)
            .await
            .detail(),
        "Authentication required"
    );
    assert_eq!(
        env.call("GET", &format!("{d}/999"), None, None)
            .await
            .status,
        404
    );
    assert_eq!(
        env.call("POST", &d, None, Some(json!({}))).await.status,
        401
    );

    // Headers every response carries.
    let h = env
        .call("GET", &format!("{d}?limit=1"), Some(&token), None)
        .await
        .headers;
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["cache-control"], "no-store, no-cache, must-revalidate");
    assert!(h.contains_key("x-request-id"));
    assert_eq!(
        env.call("GET", "/health", None, None).await.body,
        json!({"ok": true})
    );
    env.shutdown().await;
}
