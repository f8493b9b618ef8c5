//! Admin API tokens (`/api/auth/tokens`) through the router: shown once, limited to projects and
//! to reading as asked, refused once revoked or expired, and checked like every admin input.

use e2e::TestEnv;
use serde_json::{json, Value};

async fn make(env: &TestEnv, session: &str, body: Value) -> e2e::Res {
    env.call("POST", "/api/auth/tokens", Some(session), Some(body))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_reach_what_they_were_given_until_revoked_or_expired() {
    let env = TestEnv::start().await;
    let admin = env.admin("ops@example.com").await;
    let p1 = env.project(&admin, "One").await;
    let p2 = env.project(&admin, "Two").await;

    // A token limited to project One.
    let res = make(
        &env,
        &admin,
        json!({"name": "ci", "project_ids": [p1], "expires_in_days": 30}),
    )
    .await;
    assert_eq!(res.status, 201, "{res:?}");
    let token = res.body["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("bfy_") && token.len() > 40, "{token}");
    assert!(token.starts_with(res.body["prefix"].as_str().unwrap()));
    assert_eq!(res.body["status"], "active");
    assert_eq!(res.body["project_ids"], json!([p1]));
    assert!(res.body["expires_at"].is_string());

    let projects = env.call("GET", "/api/projects", Some(&token), None).await;
    assert_eq!(projects.status, 200);
    let ids: Vec<&str> = projects
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [p1.as_str()], "only the projects it was given");
    assert_eq!(
        env.call("GET", &format!("/api/projects/{p2}"), Some(&token), None)
            .await
            .status,
        404
    );
    let made = env
        .call(
            "POST",
            &format!("/api/projects/{p1}/schema/collections"),
            Some(&token),
            Some(json!({"name": "posts", "display_name": "Posts"})),
        )
        .await;
    assert_eq!(made.status, 201, "{made:?}");
    let res = env
        .call(
            "POST",
            "/api/projects",
            Some(&token),
            Some(json!({"name": "Three"})),
        )
        .await;
    assert_eq!(res.status, 403, "{res:?}");
    // Tokens do not make tokens.
    assert_eq!(
        make(&env, &token, json!({"name": "again"})).await.status,
        403
    );

    // A read-only token over every project.
    let res = make(
        &env,
        &admin,
        json!({"name": "dashboards", "read_only": true}),
    )
    .await;
    assert_eq!(res.status, 201, "{res:?}");
    let reader = res.body["token"].as_str().unwrap().to_owned();
    let schema = env
        .call(
            "GET",
            &format!("/api/projects/{p1}/schema/collections"),
            Some(&reader),
            None,
        )
        .await;
    assert_eq!(schema.status, 200, "{schema:?}");
    assert_eq!(
        env.call("GET", &format!("/api/projects/{p2}"), Some(&reader), None)
            .await
            .status,
        200
    );
    let res = env
        .call(
            "POST",
            &format!("/api/projects/{p2}/schema/collections"),
            Some(&reader),
            Some(json!({"name": "nope"})),
        )
        .await;
    assert_eq!(res.status, 403, "{res:?}");
    assert_eq!(res.detail(), "This API token is read-only");

    // Listed without their secrets.
    let list = env
        .call("GET", "/api/auth/tokens", Some(&admin), None)
        .await;
    assert_eq!(list.status, 200);
    let list = list.body.as_array().unwrap().clone();
    assert_eq!(list.len(), 2);
    assert!(list.iter().all(|t| t.get("token").is_none()), "{list:?}");
    assert_eq!(list[0]["name"], "ci");
    assert!(
        list[0]["last_used_at"].is_string(),
        "its use is noted: {list:?}"
    );

    // Revoked: refused at once; revoking again is fine; another admin cannot see it.
    let id = list[0]["id"].as_str().unwrap();
    let other = env.admin("other@example.com").await;
    let path = format!("/api/auth/tokens/{id}");
    assert_eq!(
        env.call("DELETE", &path, Some(&other), None).await.status,
        404
    );
    assert_eq!(
        env.call("DELETE", &path, Some(&admin), None).await.status,
        204
    );
    assert_eq!(
        env.call("DELETE", &path, Some(&admin), None).await.status,
        204
    );
    let res = env.call("GET", "/api/projects", Some(&token), None).await;
    assert_eq!(res.status, 401, "{res:?}");
    let list = env
        .call("GET", "/api/auth/tokens", Some(&admin), None)
        .await
        .body;
    assert_eq!(list[0]["status"], "revoked");
    assert_eq!(
        env.call("DELETE", "/api/auth/tokens/nope", Some(&admin), None)
            .await
            .status,
        404
    );

    // Expired: refused.
    let pool = sqlx::PgPool::connect(&env.db_url).await.unwrap();
    sqlx::query("UPDATE control.admin_api_tokens SET expires_at = now() - interval '1 second'")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(
        env.call("GET", "/api/projects", Some(&reader), None)
            .await
            .status,
        401
    );
    let list = env
        .call("GET", "/api/auth/tokens", Some(&admin), None)
        .await
        .body;
    assert_eq!(list[1]["status"], "expired");

    // Bad input: the contract's 422 list; another admin's project: 404; no caller: 401.
    for (body, loc) in [
        (json!({}), "name"),
        (json!({"name": ""}), "name"),
        (json!({"name": "x", "project_ids": "all"}), "project_ids"),
        (
            json!({"name": "x", "project_ids": ["not-a-uuid"]}),
            "project_ids",
        ),
        (json!({"name": "x", "read_only": "yes please"}), "read_only"),
        (
            json!({"name": "x", "expires_in_days": 0}),
            "expires_in_days",
        ),
    ] {
        let res = make(&env, &admin, body.clone()).await;
        assert_eq!(res.status, 422, "{body}: {res:?}");
        assert_eq!(res.body["detail"][0]["loc"][1], loc, "{body}: {res:?}");
    }
    let theirs = env.project(&other, "Theirs").await;
    let res = make(&env, &admin, json!({"name": "x", "project_ids": [theirs]})).await;
    assert_eq!(res.status, 404, "{res:?}");
    assert_eq!(
        env.call("GET", "/api/auth/tokens", None, None).await.status,
        401
    );
    assert_eq!(
        env.call("GET", "/api/projects", Some("bfy_made_up_token"), None)
            .await
            .status,
        401
    );
}
