//! App-user auth end to end (spec/app-auth.md, spec/api-keys.md, principal resolution of
//! spec/policies.md): real control plane, two workers and router over a real Postgres, in
//! development mode (secrets in responses) with rate limits off, as conformance runs use.

use e2e::{Res, TestEnv};
use serde_json::{json, Value};

fn auth(project: &str, rest: &str) -> String {
    format!("/api/projects/{project}/auth/{rest}")
}

async fn register(env: &TestEnv, project: &str, email: &str, password: &str) -> Res {
    let body = json!({ "email": email, "password": password });
    env.call("POST", &auth(project, "register"), None, Some(body))
        .await
}

async fn login(env: &TestEnv, project: &str, email: &str, password: &str) -> Res {
    let body = json!({ "email": email, "password": password });
    env.call("POST", &auth(project, "login"), None, Some(body))
        .await
}

fn token(res: &Res, key: &str) -> String {
    res.body[key]
        .as_str()
        .unwrap_or_else(|| panic!("no {key} in {res:?}"))
        .to_owned()
}

async fn me(env: &TestEnv, project: &str, access: &str) -> Res {
    env.call("GET", &auth(project, "me"), Some(access), None)
        .await
}

async fn refresh(env: &TestEnv, project: &str, refresh_token: &str) -> Res {
    let body = json!({ "refresh_token": refresh_token });
    env.call("POST", &auth(project, "refresh"), None, Some(body))
        .await
}

#[tokio::test]
async fn register_login_me_and_the_current_user_guard() {
    let env = TestEnv::start().await;
    let admin = env.admin("owner@example.com").await;
    let p = env.project(&admin, "app").await;

    let res = env.call("GET", &auth(&p, "providers"), None, None).await;
    assert_eq!(res.status, 200);
    assert_eq!(
        res.body,
        json!({"email_password": true, "magic_link": false, "otp": false, "oauth_google": false,
               "oauth_github": false, "session_mode": "header", "allow_public_signup": true})
    );

    let res = register(&env, &p, "Alice@Example.com", "password123").await;
    assert_eq!(res.status, 201, "{res:?}");
    assert_eq!(res.body["token_type"], "bearer");
    assert_eq!(res.body["expires_in"], 900);
    assert_eq!(token(&res, "refresh_token").len(), 64);
    let access = token(&res, "access_token");

    // Same email in any case: 409. Weak password, bad email: 422.
    let res = register(&env, &p, "alice@example.COM", "password123").await;
    assert_eq!(
        (res.status, res.detail().contains("already exists")),
        (409, true)
    );
    let res = register(&env, &p, "bob@example.com", "short").await;
    assert_eq!(res.status, 422);
    assert_eq!(res.body["detail"][0]["loc"], json!(["body", "password"]));
    let res = register(&env, &p, "not-an-email", "password123").await;
    assert_eq!(
        (res.status, res.body["detail"][0]["loc"].clone()),
        (422, json!(["body", "email"]))
    );
    let res = env
        .call_raw("POST", &auth(&p, "register"), None, b"{nope".to_vec())
        .await;
    assert_eq!(res.status, 422);

    let res = me(&env, &p, &access).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.body["email"], "alice@example.com");
    assert_eq!(res.body["is_email_verified"], false);

    // The guard, in the contract's order.
    let res = env.call("GET", &auth(&p, "me"), None, None).await;
    assert_eq!(res.status, 422);
    assert_eq!(
        res.body["detail"][0]["loc"],
        json!(["header", "authorization"])
    );
    let res = env
        .send(
            env.request("GET", &auth(&p, "me"))
                .header("authorization", format!("Token {access}")),
        )
        .await;
    assert_eq!(
        (res.status, res.detail()),
        (401, "Invalid authorization header".into())
    );
    let res = me(&env, &p, "garbage").await;
    assert_eq!((res.status, res.detail()), (401, "Invalid token".into()));
    let res = me(&env, &p, &admin).await;
    assert_eq!(
        (res.status, res.detail()),
        (401, "Invalid token type".into())
    );
    // The same claims unsigned (`alg: none`) are refused.
    let enc = |v: &Value| {
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            v.to_string(),
        )
    };
    let claims: Value = {
        let part = access.split('.').nth(1).unwrap();
        let bytes = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, part)
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    };
    let unsigned = format!(
        "{}.{}.",
        enc(&json!({"alg": "none", "typ": "JWT"})),
        enc(&claims)
    );
    let res = me(&env, &p, &unsigned).await;
    assert_eq!((res.status, res.detail()), (401, "Invalid token".into()));

    // Login: right, wrong, unknown; unknown and wrong read the same.
    let res = login(&env, &p, "ALICE@example.com", "password123").await;
    assert_eq!(res.status, 200, "{res:?}");
    let res = login(&env, &p, "alice@example.com", "wrong-password").await;
    assert_eq!(
        (res.status, res.detail()),
        (401, "Invalid credentials".into())
    );
    let res = login(&env, &p, "nobody@example.com", "password123").await;
    assert_eq!(
        (res.status, res.detail()),
        (401, "Invalid credentials".into())
    );

    // Another project: same email, its own password; tokens do not cross.
    let q = env.project(&admin, "other").await;
    assert_eq!(
        register(&env, &q, "alice@example.com", "different-pw")
            .await
            .status,
        201
    );
    assert_eq!(
        login(&env, &q, "alice@example.com", "password123")
            .await
            .status,
        401
    );
    assert_eq!(
        login(&env, &q, "alice@example.com", "different-pw")
            .await
            .status,
        200
    );
    let res = me(&env, &q, &access).await;
    assert_eq!(
        (res.status, res.detail()),
        (401, "Token not valid for this project".into())
    );

    // Unknown project: 404 before anything else.
    let res = register(&env, "00000000-0000-4000-8000-000000000000", "x", "y").await;
    assert_eq!(
        (res.status, res.detail()),
        (404, "Project not found".into())
    );

    // Email/password off: 400; public signup off: 403.
    let settings = format!("/api/projects/{p}/settings/auth");
    let res = env
        .call(
            "PUT",
            &settings,
            Some(&admin),
            Some(json!({"allow_public_signup": false})),
        )
        .await;
    assert_eq!(
        (res.status, res.body["allow_public_signup"].clone()),
        (200, json!(false))
    );
    let res = register(&env, &p, "carol@example.com", "password123").await;
    assert_eq!(res.status, 403);
    assert!(res.detail().contains("not allowed"));
    env.call(
        "PUT",
        &settings,
        Some(&admin),
        Some(json!({"enable_email_password": false})),
    )
    .await;
    let res = login(&env, &p, "alice@example.com", "password123").await;
    assert_eq!(
        (res.status, res.detail()),
        (
            400,
            "Email/password authentication is not enabled for this project".into()
        )
    );
    env.shutdown().await;
}

#[tokio::test]
async fn refresh_rotates_and_a_reused_token_ends_the_session() {
    let env = TestEnv::start().await;
    let admin = env.admin("owner@example.com").await;
    let p = env.project(&admin, "app").await;
    let first = register(&env, &p, "u@example.com", "password123").await;
    let (access, r1) = (
        token(&first, "access_token"),
        token(&first, "refresh_token"),
    );

    let res = refresh(&env, &p, &r1).await;
    assert_eq!(res.status, 200, "{res:?}");
    let r2 = token(&res, "refresh_token");
    assert_ne!(r1, r2);
    let access2 = token(&res, "access_token");
    assert_eq!(me(&env, &p, &access2).await.status, 200);

    // r1 again: refused, and the whole session (r2 and its access tokens) is over.
    let res = refresh(&env, &p, &r1).await;
    assert_eq!(
        (res.status, res.detail()),
        (401, "Invalid refresh token".into())
    );
    assert_eq!(refresh(&env, &p, &r2).await.status, 401);
    assert_eq!(me(&env, &p, &access).await.status, 401);
    assert_eq!(me(&env, &p, &access2).await.status, 401);
    assert_eq!(refresh(&env, &p, "invalid_token").await.status, 401);

    // Another login is another session: unaffected by the first one's end, ended by logout.
    let res = login(&env, &p, "u@example.com", "password123").await;
    let (access3, r3) = (token(&res, "access_token"), token(&res, "refresh_token"));
    assert_eq!(me(&env, &p, &access3).await.status, 200);
    let res = env
        .call(
            "POST",
            &auth(&p, "logout"),
            None,
            Some(json!({"refresh_token": r3})),
        )
        .await;
    assert_eq!(res.status, 204);
    assert_eq!(refresh(&env, &p, &r3).await.status, 401);
    assert_eq!(
        me(&env, &p, &access3).await.status,
        401,
        "logout ends the access token too"
    );
    let res = env
        .call(
            "POST",
            &auth(&p, "logout"),
            None,
            Some(json!({"refresh_token": "unknown"})),
        )
        .await;
    assert_eq!(res.status, 204);

    // Logout everywhere.
    let a = login(&env, &p, "u@example.com", "password123").await;
    let b = login(&env, &p, "u@example.com", "password123").await;
    let res = env
        .call(
            "POST",
            &auth(&p, "logout/all"),
            Some(&token(&a, "access_token")),
            None,
        )
        .await;
    assert_eq!(res.status, 204);
    assert_eq!(
        refresh(&env, &p, &token(&a, "refresh_token")).await.status,
        401
    );
    assert_eq!(
        refresh(&env, &p, &token(&b, "refresh_token")).await.status,
        401
    );

    // Password change: the old one stops working, sessions stay.
    let c = login(&env, &p, "u@example.com", "password123").await;
    let ca = token(&c, "access_token");
    let change =
        |current: &str| json!({"current_password": current, "new_password": "newpassword123"});
    let res = env
        .call(
            "POST",
            &auth(&p, "password/change"),
            Some(&ca),
            Some(change("wrong")),
        )
        .await;
    assert_eq!(
        (res.status, res.detail()),
        (401, "Current password is incorrect".into())
    );
    let res = env
        .call(
            "POST",
            &auth(&p, "password/change"),
            Some(&ca),
            Some(change("password123")),
        )
        .await;
    assert_eq!(res.status, 204);
    assert_eq!(
        login(&env, &p, "u@example.com", "password123").await.status,
        401
    );
    assert_eq!(
        login(&env, &p, "u@example.com", "newpassword123")
            .await
            .status,
        200
    );
    assert_eq!(me(&env, &p, &ca).await.status, 200);

    // The audit log has the auth events, and no password anywhere.
    let pool = sqlx::PgPool::connect(&env.db_url).await.unwrap();
    let schema = format!("p_{}", p.replace('-', "_"));
    let rows: Vec<(String, Option<String>)> = sqlx::query_as(&format!(
        "SELECT action, new_data_json FROM \"{schema}\"._audit_events ORDER BY seq"
    ))
    .fetch_all(&pool)
    .await
    .unwrap();
    let actions: Vec<&str> = rows.iter().map(|(a, _)| a.as_str()).collect();
    for a in [
        "auth.register",
        "auth.refresh",
        "auth.login",
        "auth.logout",
        "auth.password_change",
    ] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
    let all = format!("{rows:?}");
    assert!(!all.contains("password123") && !all.contains("newpassword123"));
    let hashes: Vec<String> =
        sqlx::query_scalar(&format!("SELECT password_hash FROM \"{schema}\"._users"))
            .fetch_all(&pool)
            .await
            .unwrap();
    assert!(hashes
        .iter()
        .all(|h| h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$")));
    env.shutdown().await;
}

#[tokio::test]
async fn email_verification_password_reset_and_one_time_codes() {
    let env = TestEnv::start().await;
    let admin = env.admin("owner@example.com").await;
    let p = env.project(&admin, "app").await;
    let res = register(&env, &p, "v@example.com", "password123").await;
    let access = token(&res, "access_token");

    // Verification.
    let res = env
        .call("POST", &auth(&p, "verify/send"), Some(&access), None)
        .await;
    assert_eq!(
        (res.status, res.body["message"].clone()),
        (200, json!("Verification email sent"))
    );
    let t = token(&res, "token");
    let res = env
        .call(
            "POST",
            &auth(&p, "verify/confirm?token=invalid_token"),
            None,
            None,
        )
        .await;
    assert_eq!(
        (res.status, res.detail()),
        (400, "Invalid or expired verification token".into())
    );
    let res = env
        .call("POST", &auth(&p, "verify/confirm"), None, None)
        .await;
    assert_eq!(res.status, 422);
    let res = env
        .call(
            "POST",
            &auth(&p, &format!("verify/confirm?token={t}")),
            None,
            None,
        )
        .await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(
        res.body,
        json!({"message": "Email verified successfully", "email": "v@example.com"})
    );
    assert_eq!(me(&env, &p, &access).await.body["is_email_verified"], true);
    let res = env
        .call("POST", &auth(&p, "verify/send"), Some(&access), None)
        .await;
    assert_eq!(res.status, 400);
    assert!(res.detail().contains("already verified"));

    // Password reset: a token only for an existing email; single use.
    let res = env
        .call(
            "POST",
            &auth(&p, "password/reset/send?email=nobody@example.com"),
            None,
            None,
        )
        .await;
    assert_eq!(res.status, 200);
    assert!(res.body.get("token").is_none());
    let res = env
        .call(
            "POST",
            &auth(&p, "password/reset/send?email=V@example.com"),
            None,
            None,
        )
        .await;
    let t = token(&res, "token");
    let confirm = format!("password/reset/confirm?token={t}&new_password=newpassword123");
    let res = env
        .call(
            "POST",
            &auth(
                &p,
                &format!("password/reset/confirm?token={t}&new_password=short"),
            ),
            None,
            None,
        )
        .await;
    assert_eq!(res.status, 422);
    let res = env.call("POST", &auth(&p, &confirm), None, None).await;
    assert_eq!(
        (res.status, res.body.clone()),
        (200, json!({"message": "Password reset successfully"}))
    );
    let res = env.call("POST", &auth(&p, &confirm), None, None).await;
    assert_eq!(
        (res.status, res.detail()),
        (400, "Invalid or expired reset token".into())
    );
    assert_eq!(
        login(&env, &p, "v@example.com", "newpassword123")
            .await
            .status,
        200
    );
    // A reset signs out the sessions from before it.
    assert_eq!(me(&env, &p, &access).await.status, 401);
    // A NUL in a query value is a clear 422, never a database error.
    let res = env
        .call(
            "POST",
            &auth(&p, "password/reset/send?email=a%00b"),
            None,
            None,
        )
        .await;
    assert_eq!(res.status, 422, "{res:?}");

    // One-time codes: off by default.
    let res = env
        .call(
            "POST",
            &auth(&p, "otp/send?email=v@example.com"),
            None,
            None,
        )
        .await;
    assert_eq!(res.status, 400);
    assert!(res.detail().contains("not enabled"));
    let settings = format!("/api/projects/{p}/settings/auth");
    let res = env
        .call(
            "PUT",
            &settings,
            Some(&admin),
            Some(json!({"enable_otp": true, "enable_magic_link": null})),
        )
        .await;
    assert_eq!(
        (
            res.status,
            res.body["enable_otp"].clone(),
            res.body["enable_magic_link"].clone()
        ),
        (200, json!(true), json!(false))
    );
    let res = env
        .call(
            "POST",
            &auth(&p, "otp/send?email=v@example.com"),
            None,
            None,
        )
        .await;
    let code = token(&res, "code");
    assert!(code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()));
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let res = env
        .call(
            "POST",
            &auth(&p, &format!("otp/verify?email=v@example.com&code={wrong}")),
            None,
            None,
        )
        .await;
    assert_eq!((res.status, res.detail()), (400, "Invalid OTP code".into()));
    let res = env
        .call(
            "POST",
            &auth(&p, &format!("otp/verify?email=V@example.com&code={code}")),
            None,
            None,
        )
        .await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(me(&env, &p, &token(&res, "access_token")).await.status, 200);
    let res = env
        .call(
            "POST",
            &auth(&p, &format!("otp/verify?email=v@example.com&code={code}")),
            None,
            None,
        )
        .await;
    assert_eq!(
        (res.status, res.detail()),
        (400, "Invalid or expired OTP code".into())
    );
    // Unknown email without magic links: no code, no account.
    let res = env
        .call(
            "POST",
            &auth(&p, "otp/send?email=new@example.com"),
            None,
            None,
        )
        .await;
    assert_eq!(res.status, 200);
    assert!(res.body.get("code").is_none());
    // Five wrong guesses burn a code.
    let res = env
        .call(
            "POST",
            &auth(&p, "otp/send?email=v@example.com"),
            None,
            None,
        )
        .await;
    let code = token(&res, "code");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        env.call(
            "POST",
            &auth(&p, &format!("otp/verify?email=v@example.com&code={wrong}")),
            None,
            None,
        )
        .await;
    }
    let res = env
        .call(
            "POST",
            &auth(&p, &format!("otp/verify?email=v@example.com&code={code}")),
            None,
            None,
        )
        .await;
    assert_eq!(
        (res.status, res.detail()),
        (400, "Too many attempts. Please request a new code.".into())
    );

    // Magic link: an unknown email gets an account, listed for admins.
    env.call(
        "PUT",
        &settings,
        Some(&admin),
        Some(json!({"enable_magic_link": true})),
    )
    .await;
    let res = env
        .call(
            "POST",
            &auth(&p, "otp/send?email=magic@example.com"),
            None,
            None,
        )
        .await;
    let code = token(&res, "code");
    let res = env
        .call(
            "POST",
            &auth(
                &p,
                &format!("otp/verify?email=magic@example.com&code={code}"),
            ),
            None,
            None,
        )
        .await;
    assert_eq!(res.status, 200);
    let users = env
        .call(
            "GET",
            &format!("/api/projects/{p}/settings/auth/users"),
            Some(&admin),
            None,
        )
        .await;
    let emails: Vec<&str> = users
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(
        emails,
        ["magic@example.com", "v@example.com"],
        "newest first"
    );
    assert_eq!(users.body[0]["is_email_verified"], true);
    env.shutdown().await;
}

#[tokio::test]
async fn api_keys_principals_and_disabled_users() {
    let env = TestEnv::start().await;
    let admin = env.admin("owner@example.com").await;
    let p = env.project(&admin, "app").await;
    env.collection(&admin, &p, "notes").await;
    env.field(&admin, &p, "notes", "title", "string").await;
    let keys = format!("/api/projects/{p}/api-keys");

    let res = env
        .call("POST", &keys, None, Some(json!({"name": "server"})))
        .await;
    assert_eq!(res.status, 401);
    let res = env
        .call("POST", &keys, Some(&admin), Some(json!({"name": "server"})))
        .await;
    assert_eq!(res.status, 201, "{res:?}");
    let key = token(&res, "api_key");
    let key_id = token(&res, "id");
    assert_eq!(key.len(), 64);
    assert_eq!(res.body["prefix"], json!(&key[..8]));
    let res = env.call("GET", &keys, Some(&admin), None).await;
    assert_eq!(res.body.as_array().unwrap().len(), 1);
    assert!(res.body[0].get("api_key").is_none());
    assert_eq!(res.body[0]["revoked"], false);

    // Another admin's view of this project: 404.
    let stranger = env.admin("stranger@example.com").await;
    assert_eq!(
        env.call("GET", &keys, Some(&stranger), None).await.status,
        404
    );

    // The key works on data routes, on every worker, and nowhere once revoked.
    let data = format!("/api/projects/{p}/data/notes");
    let with_key = |k: &str, path: &str, base: &str| {
        reqwest::Client::new()
            .get(format!("{base}{path}"))
            .header("x-api-key", k.to_owned())
    };
    let bases: Vec<String> = env
        .workers
        .iter()
        .map(|w| format!("http://{}", w.http_addr))
        .chain([env.base.clone()])
        .collect();
    for base in &bases {
        let res = with_key(&key, &data, base).send().await.unwrap();
        assert_eq!(res.status(), 200, "{base}");
    }
    let res = env
        .send(
            env.request("POST", &data)
                .header("x-api-key", &key)
                .json(&json!({"title": "hi"})),
        )
        .await;
    assert_eq!(res.status, 201, "{res:?}");
    // A wrong key with the right prefix is nobody.
    let forged = format!("{}{}", &key[..8], "A".repeat(56));
    let res = env
        .send(env.request("GET", &data).header("x-api-key", forged))
        .await;
    assert_eq!(
        (res.status, res.detail()),
        (401, "Authentication required".into())
    );
    // API keys do not open admin endpoints.
    let res = env
        .send(
            env.request("GET", &format!("/api/projects/{p}/settings/auth/users"))
                .header("x-api-key", &key),
        )
        .await;
    assert_eq!(
        (res.status, res.detail()),
        (401, "Not authenticated".into())
    );

    // An API key may create app users, but not lift their restrictions.
    let users_data = format!("/api/projects/{p}/data/_users");
    let res = env
        .send(
            env.request("POST", &users_data)
                .header("x-api-key", &key)
                .json(&json!({"email": "k@example.com", "is_email_verified": true})),
        )
        .await;
    assert_eq!(
        (res.status, res.detail()),
        (
            403,
            "Field 'is_email_verified' can only be changed by an admin".into()
        )
    );
    let res = env
        .send(
            env.request("POST", &users_data)
                .header("x-api-key", &key)
                .json(&json!({"email": "k@example.com"})),
        )
        .await;
    assert_eq!(res.status, 201, "{res:?}");
    assert!(res.body.get("password_hash").is_none());
    let kid = token(&res, "id");
    let res = env
        .send(
            env.request("PATCH", &format!("{users_data}/{kid}"))
                .header("x-api-key", &key)
                .json(&json!({"is_disabled": false})),
        )
        .await;
    assert_eq!(res.status, 403);
    // Nor change their address (sign-ins trust it); an admin may, and it stays lower-cased.
    let res = env
        .send(
            env.request("PATCH", &format!("{users_data}/{kid}"))
                .header("x-api-key", &key)
                .json(&json!({"email": "other@example.com"})),
        )
        .await;
    assert_eq!(res.status, 403);
    let res = env
        .call(
            "PATCH",
            &format!("{users_data}/{kid}"),
            Some(&admin),
            Some(json!({"email": "New@Example.com"})),
        )
        .await;
    assert_eq!(
        (res.status, res.body["email"].clone()),
        (200, json!("new@example.com"))
    );

    // A key of this project is nobody on another project.
    let q = env.project(&admin, "other").await;
    env.collection(&admin, &q, "notes").await;
    let res = env
        .send(
            env.request("GET", &format!("/api/projects/{q}/data/notes"))
                .header("x-api-key", &key),
        )
        .await;
    assert_eq!(
        (res.status, res.detail()),
        (401, "Authentication required".into()),
        "another project's key is anonymous here"
    );

    let res = env
        .call(
            "POST",
            &format!("{keys}/{key_id}/revoke"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(res.status, 204);
    for base in &bases {
        let res = with_key(&key, &data, base).send().await.unwrap();
        assert_eq!(res.status(), 401, "revoked key still works on {base}");
    }
    let res = env.call("GET", &keys, Some(&admin), None).await;
    assert_eq!(res.body[0]["revoked"], true);
    let res = env
        .call(
            "POST",
            &format!("{keys}/nonexistent-id/revoke"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(
        (res.status, res.detail()),
        (404, "API key not found".into())
    );

    // App users: no policies yet, so data is closed to them (403, not 401: they are someone).
    let res = register(&env, &p, "app@example.com", "password123").await;
    let access = token(&res, "access_token");
    let res = env.call("GET", &data, Some(&access), None).await;
    assert_eq!(
        (res.status, res.detail()),
        (403, "Permission denied for action: list".into())
    );
    // A bad app token degrades to anonymous.
    let res = env
        .call("GET", &data, Some(&format!("{access}x")), None)
        .await;
    assert_eq!(res.status, 401);

    // Disabling a user ends their live access token on every worker at once.
    let users = format!("/api/projects/{p}/settings/auth/users");
    let id = me(&env, &p, &access).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = env
        .call(
            "PATCH",
            &format!("{users}/{id}"),
            Some(&admin),
            Some(json!({"is_disabled": true})),
        )
        .await;
    assert_eq!(
        (res.status, res.body["is_disabled"].clone()),
        (200, json!(true))
    );
    let res = me(&env, &p, &access).await;
    assert_eq!(
        (res.status, res.detail()),
        (403, "User account is disabled".into())
    );
    for base in &bases {
        let res = reqwest::Client::new()
            .get(format!("{base}{data}"))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "{base}");
    }
    let res = login(&env, &p, "app@example.com", "password123").await;
    assert_eq!(res.status, 403);
    assert!(res.detail().contains("disabled"));
    env.shutdown().await;
}

#[tokio::test]
async fn admins_manage_app_users_and_settings() {
    let env = TestEnv::start().await;
    let admin = env.admin("owner@example.com").await;
    let p = env.project(&admin, "app").await;
    let users = format!("/api/projects/{p}/settings/auth/users");
    let settings = format!("/api/projects/{p}/settings/auth");

    let res = env.call("GET", &settings, Some(&admin), None).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.body["access_ttl_minutes"], 15);
    assert_eq!(res.body["refresh_ttl_days"], 7);
    for bad in [
        json!({"access_ttl_minutes": 0}),
        json!({"refresh_ttl_days": 366}),
        json!({"session_mode": "token"}),
        json!({"enable_otp": "yes"}),
    ] {
        let res = env
            .call("PUT", &settings, Some(&admin), Some(bad.clone()))
            .await;
        assert_eq!(res.status, 422, "{bad}");
    }
    let res = env
        .call(
            "PUT",
            &settings,
            Some(&admin),
            Some(json!({"enable_magic_link": true, "access_ttl_minutes": 30, "require_email_verification": true, "unknown": 1})),
        )
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(
        (
            res.body["enable_magic_link"].clone(),
            res.body["access_ttl_minutes"].clone(),
            res.body["require_email_verification"].clone()
        ),
        (json!(true), json!(30), json!(true))
    );
    // The new lifetime reaches the workers at once.
    let res = register(&env, &p, "a@example.com", "password123").await;
    assert_eq!(res.body["expires_in"], 1800);
    // Verification is now required to log in.
    let res = login(&env, &p, "a@example.com", "password123").await;
    assert_eq!(
        (res.status, res.detail()),
        (403, "Email verification required".into())
    );

    let res = env
        .call("POST", &users, Some(&admin), Some(json!({"email": "B@example.com", "password": "password123", "is_email_verified": true})))
        .await;
    assert_eq!(res.status, 201, "{res:?}");
    assert_eq!(res.body["email"], "b@example.com");
    let b = token(&res, "id");
    let res = env
        .call(
            "POST",
            &users,
            Some(&admin),
            Some(json!({"email": "b@example.com"})),
        )
        .await;
    assert_eq!(res.status, 409);
    assert_eq!(
        login(&env, &p, "b@example.com", "password123").await.status,
        200
    );
    let res = env
        .call("GET", &format!("{users}/{b}"), Some(&admin), None)
        .await;
    assert_eq!(
        (res.status, res.body["is_disabled"].clone()),
        (200, json!(false))
    );
    let res = env
        .call("GET", &format!("{users}/nope"), Some(&admin), None)
        .await;
    assert_eq!(
        (res.status, res.detail()),
        (404, "App user not found".into())
    );
    let res = env
        .call(
            "PATCH",
            &format!("{users}/{b}"),
            Some(&admin),
            Some(json!({"email": "a@example.com"})),
        )
        .await;
    assert_eq!(res.status, 409);
    let res = env
        .call(
            "PATCH",
            &format!("{users}/{b}"),
            Some(&admin),
            Some(json!({"password": "changed-password"})),
        )
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(
        login(&env, &p, "b@example.com", "changed-password")
            .await
            .status,
        200
    );

    // Revoke sessions: refresh tokens and access tokens stop.
    let s = login(&env, &p, "b@example.com", "changed-password").await;
    let res = env
        .call(
            "POST",
            &format!("{users}/{b}/revoke-sessions"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(res.status, 204);
    assert_eq!(
        refresh(&env, &p, &token(&s, "refresh_token")).await.status,
        401
    );
    assert_eq!(me(&env, &p, &token(&s, "access_token")).await.status, 401);

    // Only member admins: app users and strangers are turned away.
    let s = login(&env, &p, "b@example.com", "changed-password").await;
    let res = env
        .call("GET", &users, Some(&token(&s, "access_token")), None)
        .await;
    assert_eq!(res.status, 401);
    let stranger = env.admin("stranger@example.com").await;
    assert_eq!(
        env.call("GET", &users, Some(&stranger), None).await.status,
        404
    );
    assert_eq!(
        env.call("GET", &settings, Some(&stranger), None)
            .await
            .status,
        404
    );
    assert_eq!(env.call("GET", &users, None, None).await.status, 401);

    let res = env
        .call("DELETE", &format!("{users}/{b}"), Some(&admin), None)
        .await;
    assert_eq!(res.status, 204);
    assert_eq!(
        env.call("DELETE", &format!("{users}/{b}"), Some(&admin), None)
            .await
            .status,
        404
    );
    assert_eq!(
        login(&env, &p, "b@example.com", "changed-password")
            .await
            .status,
        401
    );
    let res = env
        .call("GET", &format!("{users}?limit=0"), Some(&admin), None)
        .await;
    assert_eq!(res.status, 422);
    env.shutdown().await;
}

#[tokio::test]
async fn signing_keys_rotate_without_logging_anyone_out() {
    let env = TestEnv::start().await;
    let admin = env.admin("owner@example.com").await;
    let p = env.project(&admin, "app").await;
    let res = register(&env, &p, "k@example.com", "password123").await;
    let old = token(&res, "access_token");
    let kid = |t: &str| -> Value {
        let header = t.split('.').next().unwrap();
        let bytes =
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, header)
                .unwrap();
        serde_json::from_slice::<Value>(&bytes).unwrap()["kid"].clone()
    };
    let keys = format!("/api/projects/{p}/settings/auth/signing-keys");
    let res = env
        .call("POST", &format!("{keys}/rotate"), Some(&admin), None)
        .await;
    assert_eq!(res.status, 201, "{res:?}");
    let new_kid = res.body["kid"].clone();
    assert_ne!(kid(&old), new_kid);
    assert_eq!(
        me(&env, &p, &old).await.status,
        200,
        "old tokens keep working"
    );
    let res = login(&env, &p, "k@example.com", "password123").await;
    assert_eq!(kid(&token(&res, "access_token")), new_kid);
    let res = env.call("GET", &keys, Some(&admin), None).await;
    let list = res.body.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(
        (list[0]["kid"].clone(), list[0]["current"].clone()),
        (new_kid, json!(true))
    );
    assert!(list.iter().all(|k| k.get("secret").is_none()));
    env.shutdown().await;
}

#[tokio::test]
async fn auth_meta_and_the_development_oauth_callback() {
    let env = TestEnv::start().await;
    let admin = env.admin("owner@example.com").await;
    let p = env.project(&admin, "app").await;

    let res = env.call("GET", &auth(&p, "meta"), None, None).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.body["project_id"], json!(p));
    assert_eq!(res.body["providers"]["email_password"], true);
    let names: Vec<&str> = res.body["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    for name in ["Get Providers", "Register", "Login", "Get Current User"] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    let register_url = res.body["endpoints"][1]["url"].as_str().unwrap();
    assert!(
        register_url.starts_with("http://") && register_url.ends_with(&auth(&p, "register")),
        "{register_url}"
    );
    assert!(res.body["examples"]["curl"]["login"].is_string());
    assert!(res.body["examples"]["fetch"]["me"].is_string());
    for code in ["400", "401", "403", "409", "422"] {
        assert!(res.body["error_codes"][code].is_string(), "{code}");
    }

    // The OAuth URL of a disabled or unknown provider.
    let url = |provider: &str| {
        auth(
            &p,
            &format!("oauth/{provider}/url?redirect_uri=https://app.example.com/cb"),
        )
    };
    let res = env.call("GET", &url("google"), None, None).await;
    assert_eq!(
        (res.status, res.detail()),
        (400, "Google OAuth not enabled".into())
    );
    let res = env.call("GET", &url("myspace"), None, None).await;
    assert_eq!(
        (res.status, res.detail()),
        (400, "Unknown OAuth provider: myspace".into())
    );

    // The trust-the-caller callback (development mode): disabled provider, then a new user, the
    // same identity again, and an existing email linked, never duplicated.
    let cb = |q: &str| auth(&p, &format!("oauth/callback?{q}"));
    let res = env
        .call(
            "POST",
            &cb("provider=google&provider_user_id=g1&email=a@example.com"),
            None,
            None,
        )
        .await;
    assert_eq!(res.status, 400);
    assert!(res.detail().contains("not enabled"));
    let settings = format!("/api/projects/{p}/settings/auth");
    env.call(
        "PUT",
        &settings,
        Some(&admin),
        Some(json!({"enable_oauth_google": true})),
    )
    .await;
    let res = env
        .call(
            "POST",
            &cb("provider=google&provider_user_id=g1&email=A@example.com"),
            None,
            None,
        )
        .await;
    assert_eq!(res.status, 200, "{res:?}");
    let first = me(&env, &p, &token(&res, "access_token")).await;
    assert_eq!(
        (
            first.body["email"].clone(),
            first.body["is_email_verified"].clone()
        ),
        (json!("a@example.com"), json!(true))
    );
    let res = env
        .call(
            "POST",
            &cb("provider=google&provider_user_id=g1"),
            None,
            None,
        )
        .await;
    assert_eq!(
        me(&env, &p, &token(&res, "access_token")).await.body["id"],
        first.body["id"]
    );
    assert_eq!(
        register(&env, &p, "b@example.com", "password123")
            .await
            .status,
        201
    );
    let res = env
        .call(
            "POST",
            &cb("provider=google&provider_user_id=g2&email=b@example.com"),
            None,
            None,
        )
        .await;
    assert_eq!(res.status, 200);
    let res = env
        .call(
            "POST",
            &cb("provider=google&provider_user_id=g3"),
            None,
            None,
        )
        .await;
    assert_eq!(
        (res.status, res.detail()),
        (400, "Email is required".into())
    );
    let users = env
        .call(
            "GET",
            &format!("/api/projects/{p}/settings/auth/users"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(users.body.as_array().unwrap().len(), 2, "{:?}", users.body);
    env.shutdown().await;
}
