//! Hostile access tokens through the router: admin tokens at the control plane (`GET /api/me`)
//! and at a worker (an admin-only data-plane route), app-user tokens at a worker
//! (`GET …/auth/me`). Each forgery is refused with the contract's 401 body, while the same claims
//! signed properly pass, so the refusal is about the forged part and nothing else.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use e2e::{Res, TestEnv};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{json, Value};

/// The control plane's admin-token key in every `TestEnv`.
const ADMIN_KEY: &[u8] = b"test-secret";

fn enc(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

/// A token with exactly this header and payload, HMAC-SHA256-signed with `key` whatever the
/// header claims.
fn forge(header: Value, payload: &Value, key: &[u8]) -> String {
    let signed = format!("{}.{}", enc(&header), enc(payload));
    let sig = jsonwebtoken::crypto::sign(
        signed.as_bytes(),
        &EncodingKey::from_secret(key),
        Algorithm::HS256,
    )
    .unwrap();
    format!("{signed}.{sig}")
}

fn payload(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn said(res: &Res) -> (u16, String) {
    (res.status, res.detail())
}

/// Every way to get an HS256 token wrong while holding (or not) its key, as (what, token).
fn forgeries(header: &Value, claims: &Value, key: &[u8]) -> Vec<(&'static str, String)> {
    let with = |k: &str, v: Value| {
        let mut h = header.clone();
        h[k] = v;
        h
    };
    let claims_with = |k: &str, v: Value| {
        let mut c = claims.clone();
        c[k] = v;
        c
    };
    let good = forge(header.clone(), claims, key);
    let (_, rest) = good.split_once('.').unwrap();
    vec![
        (
            "alg none, no signature",
            format!("{}.{}.", enc(&with("alg", json!("none"))), enc(claims)),
        ),
        (
            "alg none, signed anyway",
            forge(with("alg", json!("none")), claims, key),
        ),
        (
            "RS256 header, the HMAC key used as the public key",
            forge(with("alg", json!("RS256")), claims, key),
        ),
        (
            "HS512 header",
            forge(with("alg", json!("HS512")), claims, key),
        ),
        (
            "kid changed after signing",
            format!("{}.{rest}", enc(&with("kid", json!("k-tampered")))),
        ),
        (
            "signed with another key",
            forge(header.clone(), claims, b"guess"),
        ),
        (
            "expired",
            forge(header.clone(), &claims_with("exp", json!(now() - 5)), key),
        ),
        (
            "payload swapped under the signature",
            format!(
                "{}.{}.{}",
                enc(header),
                enc(&claims_with("sub", json!("someone-else"))),
                good.rsplit_once('.').unwrap().1
            ),
        ),
    ]
}

#[tokio::test]
async fn hostile_admin_tokens_are_refused_at_the_control_plane_and_at_workers() {
    let env = TestEnv::start().await;
    let token = env.admin("owner@example.com").await;
    let p = env.project(&token, "app").await;
    let me = env.call("GET", "/api/me", Some(&token), None).await;
    assert_eq!(me.status, 200, "{me:?}");
    let worker_route = format!("/api/projects/{p}/settings/auth/users");
    assert_eq!(
        env.call("GET", &worker_route, Some(&token), None)
            .await
            .status,
        200
    );

    let claims = json!({ "sub": me.body["id"], "exp": now() + 600 });
    let header = json!({ "alg": "HS256", "typ": "JWT" });
    // The claims signed properly pass on both sides.
    let good = forge(header.clone(), &claims, ADMIN_KEY);
    assert_eq!(
        env.call("GET", "/api/me", Some(&good), None).await.status,
        200
    );
    assert_eq!(
        env.call("GET", &worker_route, Some(&good), None)
            .await
            .status,
        200
    );

    let mut hostile = forgeries(&header, &claims, ADMIN_KEY);
    // An admin token names no audience: one bound to the project is no admin token.
    let mut bound = claims.clone();
    bound["aud"] = json!(p);
    hostile.push(("an audience", forge(header.clone(), &bound, ADMIN_KEY)));
    for (what, forged) in &hostile {
        let res = env.call("GET", "/api/me", Some(forged), None).await;
        assert_eq!(said(&res), (401, "Invalid token".into()), "{what}");
        let res = env.call("GET", &worker_route, Some(forged), None).await;
        assert_eq!(said(&res), (401, "Not authenticated".into()), "{what}");
    }
    env.shutdown().await;
}

#[tokio::test]
async fn hostile_app_user_tokens_are_refused_at_workers() {
    let env = TestEnv::start().await;
    let admin = env.admin("owner@example.com").await;
    let p = env.project(&admin, "app").await;
    let q = env.project(&admin, "other").await;
    let me = format!("/api/projects/{p}/auth/me");
    let res = env
        .call(
            "POST",
            &format!("/api/projects/{p}/auth/register"),
            None,
            Some(json!({ "email": "u@example.com", "password": "password123" })),
        )
        .await;
    assert_eq!(res.status, 201, "{res:?}");
    let token = res.body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(env.call("GET", &me, Some(&token), None).await.status, 200);

    let pool = sqlx::PgPool::connect(&env.db_url).await.unwrap();
    let (kid, secret): (String, String) = sqlx::query_as(
        "SELECT kid, secret FROM control.signing_keys
         WHERE project_id = $1::uuid AND retired_at IS NULL",
    )
    .bind(&p)
    .fetch_one(&pool)
    .await
    .unwrap();
    let claims = payload(&token);
    assert_eq!(claims["aud"], json!(p));
    let header = json!({ "alg": "HS256", "typ": "JWT", "kid": kid });
    // The claims signed properly pass.
    let good = forge(header.clone(), &claims, secret.as_bytes());
    assert_eq!(env.call("GET", &me, Some(&good), None).await.status, 200);

    let mut hostile = forgeries(&header, &claims, secret.as_bytes());
    let mut no_aud = claims.clone();
    no_aud.as_object_mut().unwrap().remove("aud");
    hostile.push((
        "no audience",
        forge(header.clone(), &no_aud, secret.as_bytes()),
    ));
    let mut no_kid = header.clone();
    no_kid.as_object_mut().unwrap().remove("kid");
    hostile.push(("no kid", forge(no_kid, &claims, secret.as_bytes())));
    for (what, forged) in &hostile {
        let res = env.call("GET", &me, Some(forged), None).await;
        assert_eq!(said(&res), (401, "Invalid token".into()), "{what}");
    }

    // Signed with this project's key but for another audience, or presented to another project.
    let mut other_aud = claims.clone();
    other_aud["aud"] = json!(q);
    let forged = forge(header.clone(), &other_aud, secret.as_bytes());
    let res = env.call("GET", &me, Some(&forged), None).await;
    assert_eq!(said(&res), (401, "Token not valid for this project".into()));
    let res = env
        .call(
            "GET",
            &format!("/api/projects/{q}/auth/me"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(said(&res), (401, "Token not valid for this project".into()));
    env.shutdown().await;
}
