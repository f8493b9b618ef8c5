use super::document_value;
use crate::http::{app, routes};
use crate::hub::Hub;
use crate::state::AppState;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;
use tower::ServiceExt;

/// The app over a pool that never connects: no request of the probe may need the database
/// (member routes answer 401 without a token, public ones 422 without a body).
fn offline_app() -> axum::Router {
    let config = crate::Config {
        database_url: "postgres://nobody@127.0.0.1:1/none".into(),
        cells: Vec::new(),
        http_addr: "127.0.0.1:0".parse().unwrap(),
        grpc_addr: "127.0.0.1:0".parse().unwrap(),
        jwt_secret: "test".into(),
        secrets_key: None,
        cluster_token: proto::cluster::ClusterToken::new("test-cluster-token-0123").unwrap(),
        parent_pid: None,
        access_token_expire_minutes: 15,
        refresh_token_expire_days: 7,
        config_ack_timeout_ms: 100,
        db_max_connections: 1,
        max_body_bytes: 1 << 20,
        metrics: Default::default(),
    };
    let pool = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(std::time::Duration::from_millis(200))
        .connect_lazy(&config.database_url)
        .unwrap();
    app(
        AppState::new(
            &config,
            crate::cells::Cells::only(pool),
            Arc::new(Hub::default()),
        ),
        1 << 20,
    )
}

/// `{name}` segments filled with an id, so any template matches.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|s| {
            if s.starts_with('{') {
                "0b5e7b9e-5f4c-4a4e-9d7e-6a3b2c1d0e9f"
            } else {
                s
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            ops.insert((method.to_uppercase(), path.clone()));
        }
    }
    ops
}

#[tokio::test]
async fn every_route_is_documented_and_every_documented_route_is_served() {
    let app = offline_app();
    let mut served = BTreeSet::new();
    for (path, _) in routes() {
        for method in [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ] {
            let req = Request::builder()
                .method(method.clone())
                .uri(concrete(&path))
                .body(Body::empty())
                .unwrap();
            let res = app.clone().oneshot(req).await.unwrap();
            if res.status() != StatusCode::METHOD_NOT_ALLOWED {
                served.insert((method.to_string(), path.clone()));
            }
        }
    }
    let doc = document_value();
    let documented = documented(&doc);
    let missing: Vec<_> = served.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&served).collect();
    assert!(missing.is_empty(), "served but not documented: {missing:?}");
    assert!(extra.is_empty(), "documented but not served: {extra:?}");
    assert!(documented.len() > 50, "{}", documented.len());
}

/// Every `$ref` in `v`.
fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(map) => {
            for (k, x) in map {
                match (k.as_str(), x) {
                    ("$ref", Value::String(r)) => out.push(r),
                    _ => refs(x, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

#[test]
fn the_document_is_consistent() {
    let doc = document_value();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut all = Vec::new();
    refs(&doc, &mut all);
    for r in &all {
        let pointer = r.strip_prefix('#').expect("local ref");
        assert!(doc.pointer(pointer).is_some(), "dangling {r}");
    }
    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let templates: BTreeSet<&str> = super::templates(path).collect();
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap();
            assert!(ids.insert(id.to_owned()), "duplicate operationId {id}");
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path}"
            );
            let declared: BTreeSet<&str> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path")
                .map(|p| p["name"].as_str().unwrap())
                .collect();
            assert_eq!(declared, templates, "{method} {path}");
            if path.starts_with("/api/projects/{project_id}") {
                assert!(op["responses"]["401"].is_object() && op["responses"]["404"].is_object());
            }
        }
    }
    // Required keys of bodies the contract pins.
    let create = &doc["paths"]
        ["/api/projects/{project_id}/schema/collections/{collection_name}/fields"]["post"];
    let body = &create["requestBody"]["content"]["application/json"]["schema"];
    assert_eq!(
        body["required"],
        serde_json::json!(["name", "display_name", "field_type"])
    );
}

#[test]
fn the_docs_page_is_self_contained() {
    let page = super::DOCS_PAGE;
    assert!(page.starts_with("<!doctype html>"));
    assert!(page.contains("/openapi.json"));
    for outside in ["http://", "https://", "//cdn", "<link", "src=\"http"] {
        assert!(!page.contains(outside), "{outside}");
    }
}
