//! The router's public surface: unknown paths answer the JSON 404 of the contract, the console
//! lives under `/console/` only, and a NUL byte in any path segment is just another unknown name.

use e2e::TestEnv;
use serde_json::json;

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_answer_json_404_and_the_console_lives_under_console() {
    let env = TestEnv::start().await;
    let http = no_redirects();
    let url = |p: &str| format!("{}{p}", env.base);

    // Probes of a scanner, as a browser and as a script: never the console's HTML.
    for path in [
        "/etc/passwd",
        "/x.php",
        "/wp-login.php",
        "/.env",
        "/admin",
        "/index.html",
        "/style.css",
        "/app.js",
        "/docs/x",
        "/console.php",
        "/consolex",
    ] {
        for accept in ["*/*", "text/html,application/xhtml+xml"] {
            let res = http
                .get(url(path))
                .header("accept", accept)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 404, "GET {path} ({accept})");
            let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
            assert!(ct.starts_with("application/json"), "GET {path}: {ct}");
            let body: serde_json::Value = res.json().await.unwrap();
            assert!(body["detail"].is_string(), "GET {path}: {body}");
        }
        let res = env.call("POST", path, None, Some(json!({}))).await;
        assert_eq!(res.status, 404, "POST {path}");
    }

    // `/` is the JSON service info; a browser is sent to the console.
    let info = env.call("GET", "/", None, None).await;
    assert_eq!(info.status, 200);
    assert!(info.body["name"].is_string(), "{info:?}");
    let res = http
        .get(url("/"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert!(res.status().is_redirection(), "{}", res.status());
    assert_eq!(res.headers()["location"], "/console/");
    let res = http.get(url("/console")).send().await.unwrap();
    assert!(res.status().is_redirection(), "{}", res.status());
    assert_eq!(res.headers()["location"], "/console/");

    // Under /console/: the files, and index.html for client-side routes, whose assets resolve
    // from any depth.
    for page in ["/console/", "/console/projects/abc", "/console/login"] {
        let res = http.get(url(page)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{page}");
        let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with("text/html"), "{page}: {ct}");
        assert_eq!(res.headers()["cache-control"], "no-cache", "{page}");
        let base = reqwest::Url::parse(&url(page)).unwrap();
        let html = res.text().await.unwrap();
        let base = match html.split("<base href=\"").nth(1) {
            Some(rest) => base.join(rest.split('"').next().unwrap()).unwrap(),
            None => base,
        };
        for asset in ["style.css", "app.js"] {
            let href = html
                .split('"')
                .find(|s| s.ends_with(asset))
                .unwrap_or_else(|| panic!("{asset} is linked from {page}"));
            let res = http.get(base.join(href).unwrap()).send().await.unwrap();
            assert_eq!(res.status(), 200, "{asset} from {page} ({href})");
            let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
            assert!(!ct.starts_with("text/html"), "{asset} from {page}: {ct}");
        }
    }
    for missing in [
        "/console/missing.js",
        "/console/../Cargo.toml",
        "/console/.git/config",
    ] {
        let res = http.get(url(missing)).send().await.unwrap();
        assert_eq!(res.status(), 404, "{missing}");
    }
    let res = env.call("POST", "/console/x", None, Some(json!({}))).await;
    assert!(matches!(res.status, 404 | 405), "{res:?}");
    assert!(res.body["detail"].is_string(), "{res:?}");
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_in_any_path_segment_is_an_unknown_name() {
    let env = TestEnv::start().await;
    let admin = env.admin("nul@example.com").await;
    let p = env.project(&admin, "Nul").await;
    env.collection(&admin, &p, "posts").await;
    env.field(&admin, &p, "posts", "title", "string").await;
    let created = env
        .call(
            "POST",
            &format!("/api/projects/{p}/data/posts"),
            Some(&admin),
            Some(json!({"title": "x"})),
        )
        .await;
    assert_eq!(created.status, 201, "{created:?}");

    let pre = format!("/api/projects/{p}");
    let paths = [
        format!("/api/projects/{p}%00"),
        format!("/api/projects/%00{p}/schema/collections"),
        format!("/api/projects/{p}%00/data/posts"),
        format!("{pre}/data/posts%00"),
        format!("{pre}/data/po%00sts"),
        format!("{pre}/data/%00"),
        format!("{pre}/data/posts/1%00"),
        format!("{pre}/data/posts/%00"),
        format!("{pre}/schema/collections/posts%00"),
        format!("{pre}/schema/collections/posts%00/fields"),
        format!("{pre}/schema/collections/posts/fields/title%00"),
        format!("{pre}/views/v%00/execute"),
        format!("{pre}/views/v%00"),
        format!("{pre}/validations/collections/posts%00/validate"),
        format!("{pre}/webhooks/%00"),
        format!("{pre}/webhooks/%00/deliveries"),
        format!("{pre}/rbac/roles/r%00"),
        format!("{pre}/rbac/users/u%00/roles"),
        format!("{pre}/api-keys/%00"),
        format!("{pre}/files/%00"),
        format!("{pre}/settings/auth/users/%00"),
        "/api/projects/%00".to_string(),
        "/api/%00".to_string(),
        "/%00".to_string(),
        "/console/%00".to_string(),
    ];
    for path in &paths {
        for method in ["GET", "DELETE", "PATCH", "POST", "PUT"] {
            let body = (method != "GET" && method != "DELETE").then(|| json!({"title": "y"}));
            let res = env.call(method, path, Some(&admin), body).await;
            // An unknown name: 404, or 405 where the path shape takes no such method.
            assert!(
                matches!(res.status, 404 | 405),
                "{method} {path}: {} {}",
                res.status,
                res.body
            );
            assert!(res.body["detail"].is_string(), "{method} {path}: {res:?}");
        }
    }
    // The project, its collection and its record are untouched.
    let list = env
        .call("GET", &format!("{pre}/data/posts"), Some(&admin), None)
        .await;
    assert_eq!(list.status, 200, "{list:?}");
    env.shutdown().await;
}
