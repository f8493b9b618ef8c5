//! App-user auth where it meets the outside world: sign-in through an OAuth provider with the
//! authorization-code flow and PKCE (a fake OIDC provider and a fake GitHub), identity linking
//! only on a provider-verified email, states bound to their project, secrets mailed (a fake SMTP
//! server) and kept out of responses outside development mode, and passwords kept out of logs,
//! responses and the audit trail.

use e2e::fake::{Identity, OAuthProvider, Smtp};
use e2e::{Options, Res, TestEnv};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex, OnceLock};

/// Where the app wants the provider to send the browser back.
const REDIRECT: &str = "https://app.example.com/auth/callback";

fn auth(project: &str, rest: &str) -> String {
    format!("/api/projects/{project}/auth/{rest}")
}

fn token(res: &Res, key: &str) -> String {
    res.body[key]
        .as_str()
        .unwrap_or_else(|| panic!("no {key} in {res:?}"))
        .to_owned()
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

async fn me(env: &TestEnv, project: &str, access: &str) -> Res {
    let res = env
        .call("GET", &auth(project, "me"), Some(access), None)
        .await;
    assert_eq!(res.status, 200, "{res:?}");
    res
}

/// The project's app users, as the admin list shows them.
async fn users(env: &TestEnv, admin: &str, project: &str) -> Vec<Value> {
    let path = format!("/api/projects/{project}/settings/auth/users");
    let res = env.call("GET", &path, Some(admin), None).await;
    assert_eq!(res.status, 200, "{res:?}");
    res.body.as_array().expect("a list").clone()
}

async fn put_settings(env: &TestEnv, admin: &str, project: &str, body: Value) {
    let path = format!("/api/projects/{project}/settings/auth");
    let res = env.call("PUT", &path, Some(admin), Some(body)).await;
    assert_eq!(res.status, 200, "{res:?}");
}

/// Configures provider `name` of a project with `settings`; the secret never comes back.
async fn put_provider(env: &TestEnv, admin: &str, project: &str, name: &str, settings: Value) {
    let path = format!("/api/projects/{project}/settings/auth/oauth/{name}");
    let res = env.call("PUT", &path, Some(admin), Some(settings)).await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(res.body["has_client_secret"], true);
    assert!(!res.body.to_string().contains(OAuthProvider::CLIENT_SECRET));
}

/// `GET …/oauth/{name}/url`: the answer's `auth_url`, `state` and `flow`.
async fn start_sign_in(env: &TestEnv, project: &str, name: &str) -> (String, String, String) {
    let req = env
        .request("GET", &auth(project, &format!("oauth/{name}/url")))
        .query(&[("redirect_uri", REDIRECT)]);
    let res = env.send(req).await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(res.body["provider"], name);
    (
        token(&res, "auth_url"),
        token(&res, "state"),
        token(&res, "flow"),
    )
}

/// `GET …/oauth/{name}/callback?code=&state=&flow=`
async fn callback(
    env: &TestEnv,
    project: &str,
    name: &str,
    code: &str,
    state: &str,
    flow: &str,
) -> Res {
    let req = env
        .request("GET", &auth(project, &format!("oauth/{name}/callback")))
        .query(&[("code", code), ("state", state), ("flow", flow)]);
    env.send(req).await
}

/// The whole dance for one identity: URL, the provider's page, callback.
async fn oauth_sign_in(
    env: &TestEnv,
    project: &str,
    name: &str,
    provider: &OAuthProvider,
    who: Identity,
) -> Res {
    let (auth_url, _, flow) = start_sign_in(env, project, name).await;
    let grant = provider.authorize(&auth_url, who);
    callback(env, project, name, &grant.code, &grant.state, &flow).await
}

#[tokio::test]
async fn oidc_sign_in_with_pkce() {
    let provider = OAuthProvider::start().await;
    let env = TestEnv::start().await;
    let admin = env.admin("owner@example.com").await;
    let p = env.project(&admin, "app").await;
    put_provider(&env, &admin, &p, "acme", provider.oidc_settings()).await;

    // The authorize URL is the discovered endpoint with everything a PKCE flow needs.
    let (auth_url, state, flow) = start_sign_in(&env, &p, "acme").await;
    assert!(
        auth_url.starts_with(&format!("{}/authorize?", provider.base())),
        "{auth_url}"
    );
    assert!(!auth_url.contains(OAuthProvider::CLIENT_SECRET));
    let grant = provider.authorize(&auth_url, Identity::verified("acme-1", "Ada@Example.com"));
    assert_eq!(grant.state, state);
    assert_eq!(grant.query["redirect_uri"], REDIRECT);
    assert!(
        grant.query["scope"].split(' ').any(|s| s == "openid"),
        "{auth_url}"
    );

    // Only the app that started the sign-in can finish it: the redirect's code and state are not
    // enough without its `flow`, and a wrong one leaves the authorization to its owner.
    let res = callback(
        &env,
        &p,
        "acme",
        &grant.code,
        &grant.state,
        "stolen-redirect",
    )
    .await;
    assert_eq!(res.status, 400, "{res:?}");
    let res = env
        .request("GET", &auth(&p, "oauth/acme/callback"))
        .query(&[
            ("code", grant.code.as_str()),
            ("state", grant.state.as_str()),
        ]);
    assert_eq!(env.send(res).await.status, 422);
    assert_eq!(provider.token_requests(), 0);
    // The worker exchanges the code with the verifier behind that challenge.
    let res = callback(&env, &p, "acme", &grant.code, &grant.state, &flow).await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(res.body["token_type"], "bearer");
    assert_eq!(token(&res, "refresh_token").len(), 64);
    let user = me(&env, &p, &token(&res, "access_token")).await;
    assert_eq!(user.body["email"], "ada@example.com");
    assert_eq!(user.body["is_email_verified"], true);
    let ada = token(&user, "id");
    assert_eq!(provider.token_requests(), 1);

    // A state is spent by its first use: the replay stops before the provider is asked.
    let res = callback(&env, &p, "acme", &grant.code, &grant.state, &flow).await;
    assert_eq!(res.status, 400, "{res:?}");
    assert!(res.detail().contains("state"), "{res:?}");
    assert_eq!(provider.token_requests(), 1);

    // Signing in again with the same provider identity is the same user.
    let again = Identity::verified("acme-1", "ada@example.com");
    let res = oauth_sign_in(&env, &p, "acme", &provider, again).await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(
        me(&env, &p, &token(&res, "access_token")).await.body["id"],
        ada
    );
    assert_eq!(users(&env, &admin, &p).await.len(), 1);

    // A code the provider never issued: refused, and nobody is created.
    let (auth_url, _, flow) = start_sign_in(&env, &p, "acme").await;
    let grant = provider.authorize(&auth_url, Identity::verified("acme-2", "eve@example.com"));
    let res = callback(&env, &p, "acme", "code-made-up", &grant.state, &flow).await;
    assert_eq!(res.status, 400, "{res:?}");
    assert!(res.detail().contains("refused"), "{res:?}");
    assert_eq!(provider.refusals(), ["unknown code"]);
    let list = users(&env, &admin, &p).await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["email"], "ada@example.com");

    env.shutdown().await;
    drop(provider);
}

#[tokio::test]
async fn unverified_provider_email_never_links() {
    let provider = OAuthProvider::start().await;
    let env = TestEnv::start().await;
    let admin = env.admin("owner@example.com").await;
    let p = env.project(&admin, "app").await;
    put_provider(&env, &admin, &p, "acme", provider.oidc_settings()).await;

    let res = register(&env, &p, "bob@example.com", "bobs-password-1").await;
    assert_eq!(res.status, 201, "{res:?}");
    let registered_session = token(&res, "access_token");
    let bob = me(&env, &p, &registered_session).await;
    assert_eq!(bob.body["is_email_verified"], false);
    let bob = token(&bob, "id");

    // Someone at the provider claims bob's address, unverified: no way into bob's account.
    let claim = Identity::unverified("acme-bob", "BOB@example.com");
    let res = oauth_sign_in(&env, &p, "acme", &provider, claim.clone()).await;
    assert_eq!(res.status, 409, "{res:?}");
    assert!(res.body.get("access_token").is_none(), "{res:?}");
    // Bob is untouched, and nothing was linked: the same claim is refused again.
    let res = login(&env, &p, "bob@example.com", "bobs-password-1").await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(
        me(&env, &p, &token(&res, "access_token")).await.body["is_email_verified"],
        false
    );
    let res = oauth_sign_in(&env, &p, "acme", &provider, claim.clone()).await;
    assert_eq!(res.status, 409, "{res:?}");
    let list = users(&env, &admin, &p).await;
    assert_eq!(list.len(), 1, "{list:?}");

    // The provider vouches for the address: that links the identity to bob's account.
    let proven = Identity::verified("acme-bob", "bob@example.com");
    let res = oauth_sign_in(&env, &p, "acme", &provider, proven).await;
    assert_eq!(res.status, 200, "{res:?}");
    let user = me(&env, &p, &token(&res, "access_token")).await;
    assert_eq!(user.body["id"], bob);
    assert_eq!(user.body["is_email_verified"], true);
    // What was set up on the account before its address was proven is not trusted (anyone
    // could have registered bob's address): its password and sessions are gone.
    let res = env
        .call("GET", &auth(&p, "me"), Some(&registered_session), None)
        .await;
    assert_eq!(res.status, 401, "{res:?}");
    let res = login(&env, &p, "bob@example.com", "bobs-password-1").await;
    assert_eq!(res.status, 401, "{res:?}");
    // From now on the identity itself signs bob in.
    let res = oauth_sign_in(&env, &p, "acme", &provider, claim).await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(
        me(&env, &p, &token(&res, "access_token")).await.body["id"],
        bob
    );
    assert_eq!(users(&env, &admin, &p).await.len(), 1);

    env.shutdown().await;
    drop(provider);
}

#[tokio::test]
async fn state_is_bound_to_its_project() {
    let provider = OAuthProvider::start().await;
    let env = TestEnv::start().await;
    let admin = env.admin("owner@example.com").await;
    let a = env.project(&admin, "app-a").await;
    let b = env.project(&admin, "app-b").await;
    for p in [&a, &b] {
        put_provider(&env, &admin, p, "acme", provider.oidc_settings()).await;
    }

    let (auth_url, _, flow) = start_sign_in(&env, &a, "acme").await;
    let grant = provider.authorize(&auth_url, Identity::verified("acme-1", "ada@example.com"));
    let res = callback(&env, &b, "acme", &grant.code, &grant.state, &flow).await;
    assert_eq!(res.status, 400, "{res:?}");
    assert!(res.detail().contains("state"), "{res:?}");
    assert!(users(&env, &admin, &b).await.is_empty());
    // The generic callback with a JSON body is held to the same rule.
    let body =
        json!({ "provider": "acme", "code": grant.code, "state": grant.state, "flow": flow });
    let res = env
        .call("POST", &auth(&b, "oauth/callback"), None, Some(body))
        .await;
    assert_eq!(res.status, 400, "{res:?}");
    assert_eq!(provider.token_requests(), 0);

    // Back home the same state and code still work: only the project was wrong.
    let res = callback(&env, &a, "acme", &grant.code, &grant.state, &flow).await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(users(&env, &admin, &a).await.len(), 1);
    assert!(users(&env, &admin, &b).await.is_empty());

    env.shutdown().await;
    drop(provider);
}

#[tokio::test]
async fn github_sign_in_through_endpoint_overrides() {
    let provider = OAuthProvider::start().await;
    let env = TestEnv::start().await;
    let admin = env.admin("owner@example.com").await;
    let p = env.project(&admin, "app").await;
    put_settings(&env, &admin, &p, json!({"enable_oauth_github": true})).await;
    put_provider(&env, &admin, &p, "github", provider.github_settings()).await;

    let (auth_url, _, flow) = start_sign_in(&env, &p, "github").await;
    assert!(
        auth_url.starts_with(&format!("{}/login/oauth/authorize?", provider.base())),
        "{auth_url}"
    );
    let grant = provider.authorize(&auth_url, Identity::verified("583231", "Gil@Example.com"));
    // The generic callback, with code, state and provider in a JSON body.
    let body =
        json!({ "provider": "github", "code": grant.code, "state": grant.state, "flow": flow });
    let res = env
        .call("POST", &auth(&p, "oauth/callback"), None, Some(body))
        .await;
    assert_eq!(res.status, 200, "{res:?}");
    let user = me(&env, &p, &token(&res, "access_token")).await;
    assert_eq!(user.body["email"], "gil@example.com");
    assert_eq!(user.body["is_email_verified"], true);

    // GitHub off again: its callback is refused.
    put_settings(&env, &admin, &p, json!({"enable_oauth_github": false})).await;
    let res = callback(&env, &p, "github", "any", "any", "any").await;
    assert_eq!(res.status, 400, "{res:?}");
    assert!(res.detail().contains("not enabled"), "{res:?}");

    env.shutdown().await;
    drop(provider);
}

/// The secret in a mailed body: the first word of `len` characters drawn from `alphabet`.
fn mailed_secret(body: &str, len: usize, alphabet: fn(char) -> bool) -> String {
    body.split_whitespace()
        .find(|w| w.len() == len && w.chars().all(alphabet))
        .unwrap_or_else(|| panic!("no secret of {len} characters in {body:?}"))
        .to_owned()
}

fn url_safe(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

#[tokio::test]
async fn dev_mode_off_mails_secrets_and_hides_them() {
    let smtp = Smtp::start().await;
    let env = TestEnv::start_with(Options {
        dev: false,
        smtp_url: Some(smtp.url()),
        ..Default::default()
    })
    .await;
    let admin = env.admin("owner@example.com").await;
    let p = env.project(&admin, "app").await;
    put_settings(
        &env,
        &admin,
        &p,
        json!({"enable_otp": true, "enable_oauth_google": true}),
    )
    .await;
    let res = register(&env, &p, "carol@example.com", "carols-password-1").await;
    assert_eq!(res.status, 201, "{res:?}");
    let access = token(&res, "access_token");
    let to = |who: &'static str, subject: &'static str| {
        move |m: &e2e::fake::Mail| {
            m.to == [who] && m.header("subject").is_some_and(|s| s.contains(subject))
        }
    };

    // Verification: the answer has no token, the mail has it, and the mailed one works.
    let res = env
        .call("POST", &auth(&p, "verify/send"), Some(&access), None)
        .await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(res.body, json!({"message": "Verification email sent"}));
    let mail = smtp
        .wait_for("the verification mail", to("carol@example.com", "Verify"))
        .await;
    assert_eq!(mail.from, "tests@example.com");
    assert_eq!(mail.header("to").as_deref(), Some("carol@example.com"));
    let secret = mailed_secret(mail.body(), 64, url_safe);
    let req = env
        .request("POST", &auth(&p, "verify/confirm"))
        .query(&[("token", &secret)]);
    let res = env.send(req).await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(me(&env, &p, &access).await.body["is_email_verified"], true);

    // Password reset: same, for a known address; an unknown one gets no mail at all.
    for email in ["nobody@example.com", "carol@example.com"] {
        let req = env
            .request("POST", &auth(&p, "password/reset/send"))
            .query(&[("email", email)]);
        let res = env.send(req).await;
        assert_eq!(res.status, 200, "{res:?}");
        assert_eq!(
            res.body,
            json!({"message": "If the email exists, a reset link has been sent"})
        );
    }
    let mail = smtp
        .wait_for("the reset mail", to("carol@example.com", "Reset"))
        .await;
    let secret = mailed_secret(mail.body(), 64, url_safe);
    let req = env
        .request("POST", &auth(&p, "password/reset/confirm"))
        .query(&[
            ("token", secret.as_str()),
            ("new_password", "carols-new-pw-2"),
        ]);
    let res = env.send(req).await;
    assert_eq!(res.status, 200, "{res:?}");
    let res = login(&env, &p, "carol@example.com", "carols-password-1").await;
    assert_eq!(res.status, 401, "{res:?}");
    let res = login(&env, &p, "carol@example.com", "carols-new-pw-2").await;
    assert_eq!(res.status, 200, "{res:?}");

    // One-time code: not in the answer; the mailed one signs in.
    let req = env
        .request("POST", &auth(&p, "otp/send"))
        .query(&[("email", "carol@example.com")]);
    let res = env.send(req).await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(
        res.body,
        json!({"message": "If the email exists, an OTP code has been sent"})
    );
    let mail = smtp
        .wait_for("the sign-in code mail", to("carol@example.com", "code"))
        .await;
    let code = mailed_secret(mail.body(), 6, |c| c.is_ascii_digit());
    let req = env
        .request("POST", &auth(&p, "otp/verify"))
        .query(&[("email", "carol@example.com"), ("code", code.as_str())]);
    let res = env.send(req).await;
    assert_eq!(res.status, 200, "{res:?}");
    token(&res, "access_token");

    // Three mails, all to carol; none to the unknown address.
    let inbox = smtp.inbox();
    assert_eq!(inbox.len(), 3, "{inbox:#?}");
    assert!(inbox.iter().all(|m| m.to == ["carol@example.com"]));

    // The trust-the-caller OAuth callback exists only in development mode.
    let req = env.request("POST", &auth(&p, "oauth/callback")).query(&[
        ("provider", "google"),
        ("provider_user_id", "g-1"),
        ("email", "mallory@example.com"),
    ]);
    let res = env.send(req).await;
    assert_eq!(res.status, 400, "{res:?}");
    assert!(res.body.get("access_token").is_none(), "{res:?}");
    let list = users(&env, &admin, &p).await;
    assert_eq!(list.len(), 1, "{list:?}");

    env.shutdown().await;
    drop(smtp);
}

/// Everything tracing writes in this test process, from every target at debug level. Installed
/// once, as the process's global subscriber (the workers run in this process).
fn captured_log() -> Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let log = Arc::<Mutex<Vec<u8>>>::default();
        let writer = LogWriter(log.clone());
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");
        log
    })
    .clone()
}

#[derive(Clone)]
struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn passwords_never_reach_logs_responses_or_audit() {
    let log = captured_log();
    let env = TestEnv::start().await;
    let admin = env.admin("owner@example.com").await;
    let p = env.project(&admin, "app").await;
    let first = "Sup3r-Secret-Pw-1";
    let wrong = "Wr0ng-Secret-Pw-2";
    let changed = "Sup3r-Secret-Pw-3";
    let reset = "Sup3r-Secret-Pw-4";
    let by_admin = "Adm1n-Set-Secret-Pw-5";
    let patched = "Adm1n-Set-Secret-Pw-6";
    let passwords = [first, wrong, changed, reset, by_admin, patched];
    let mut responses = Vec::new();

    let res = register(&env, &p, "dana@example.com", first).await;
    assert_eq!(res.status, 201, "{res:?}");
    let access = token(&res, "access_token");
    responses.push(res);
    let res = login(&env, &p, "dana@example.com", wrong).await;
    assert_eq!(res.status, 401, "{res:?}");
    responses.push(res);
    let res = login(&env, &p, "dana@example.com", first).await;
    assert_eq!(res.status, 200, "{res:?}");
    responses.push(res);
    let body = json!({ "current_password": wrong, "new_password": changed });
    let res = env
        .call(
            "POST",
            &auth(&p, "password/change"),
            Some(&access),
            Some(body),
        )
        .await;
    assert_eq!(res.status, 401, "{res:?}");
    responses.push(res);
    let body = json!({ "current_password": first, "new_password": changed });
    let res = env
        .call(
            "POST",
            &auth(&p, "password/change"),
            Some(&access),
            Some(body),
        )
        .await;
    assert_eq!(res.status, 204, "{res:?}");
    responses.push(res);
    let res = login(&env, &p, "dana@example.com", changed).await;
    assert_eq!(res.status, 200, "{res:?}");
    responses.push(res);

    // Reset (development mode: the token is in the answer; the mail goes to the log).
    let req = env
        .request("POST", &auth(&p, "password/reset/send"))
        .query(&[("email", "dana@example.com")]);
    let res = env.send(req).await;
    assert_eq!(res.status, 200, "{res:?}");
    let reset_token = token(&res, "token");
    responses.push(res);
    let req = env
        .request("POST", &auth(&p, "password/reset/confirm"))
        .query(&[("token", reset_token.as_str()), ("new_password", reset)]);
    let res = env.send(req).await;
    assert_eq!(res.status, 200, "{res:?}");
    responses.push(res);
    let res = login(&env, &p, "dana@example.com", reset).await;
    assert_eq!(res.status, 200, "{res:?}");
    responses.push(res);

    // An admin sets passwords too.
    let users_path = format!("/api/projects/{p}/settings/auth/users");
    let body = json!({ "email": "eli@example.com", "password": by_admin });
    let res = env
        .call("POST", &users_path, Some(&admin), Some(body))
        .await;
    assert_eq!(res.status, 201, "{res:?}");
    let eli = token(&res, "id");
    responses.push(res);
    let body = json!({ "password": patched });
    let path = format!("{users_path}/{eli}");
    let res = env.call("PATCH", &path, Some(&admin), Some(body)).await;
    assert_eq!(res.status, 200, "{res:?}");
    responses.push(res);
    let res = login(&env, &p, "eli@example.com", patched).await;
    assert_eq!(res.status, 200, "{res:?}");
    responses.push(res);
    responses.push(env.call("GET", &users_path, Some(&admin), None).await);

    // The audit trail, every column of every row.
    let pool = sqlx::PgPool::connect(&env.db_url).await.unwrap();
    let schema = format!("p_{}", p.replace('-', "_"));
    let audit: Vec<String> = sqlx::query_scalar(&format!(
        "SELECT row_to_json(e)::text FROM \"{schema}\".\"_audit_events\" e ORDER BY seq"
    ))
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    for action in ["auth.register", "auth.login", "auth.password_change"] {
        assert!(
            audit.iter().any(|row| row.contains(action)),
            "{action}: {audit:#?}"
        );
    }
    assert!(
        audit.iter().any(|row| row.contains("auth.password_reset")),
        "{audit:#?}"
    );
    env.shutdown().await;

    let log = String::from_utf8_lossy(&log.lock().unwrap()).into_owned();
    // Not vacuous: the workers' own lines are there, the mail logged in place of sending too.
    assert!(log.contains("data_plane::"), "no worker lines in the log");
    assert!(
        log.contains("mail not sent (no SMTP_URL): to dana@example.com"),
        "the reset mail's log line is missing"
    );
    for pw in passwords {
        assert!(!log.contains(pw), "{pw} is in the log");
        for res in &responses {
            assert!(!format!("{res:?}").contains(pw), "{pw} in {res:?}");
        }
        for row in &audit {
            assert!(!row.contains(pw), "{pw} in audit row {row}");
        }
    }
}
