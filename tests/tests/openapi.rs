//! API documentation through the router: a project's data-API document follows its schema at
//! once (hidden and soft-deleted fields never appear), the admin document and the docs page are
//! served by the control plane, even to a browser.

use e2e::TestEnv;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_follow_the_schema_and_hide_what_the_data_api_hides() {
    let env = TestEnv::start().await;
    let token = env.admin("docs@example.com").await;
    let pid = env.project(&token, "Shop").await;
    let p = format!("/api/projects/{pid}");

    // `order` with several types, a relation to `customer` and one to `_users`, and a field
    // that is soft-deleted.
    env.collection(&token, &pid, "customer").await;
    env.collection(&token, &pid, "order").await;
    for (name, ty) in [
        ("title", "string"),
        ("qty", "int"),
        ("price", "float"),
        ("paid", "bool"),
        ("due", "date"),
        ("shipped_at", "datetime"),
        ("ref", "uuid"),
        ("legacy_code", "string"),
    ] {
        env.field(&token, &pid, "order", name, ty).await;
    }
    let schema = |path: String| {
        let token = token.clone();
        let env = &env;
        async move { env.call("GET", &path, Some(&token), None).await }
    };
    let ids = |body: &Value, name: &str| -> String {
        body.as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {body}"))["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let collections = schema(format!("{p}/schema/collections")).await.body;
    let (order, customer, users) = (
        ids(&collections, "order"),
        ids(&collections, "customer"),
        ids(&collections, "_users"),
    );
    for (name, target, required) in [("buyer", &customer, true), ("owner", &users, false)] {
        let res = env
            .call(
                "POST",
                &format!("{p}/schema/relations/collections/{order}/relations"),
                Some(&token),
                Some(json!({"name": name, "display_name": name, "target_collection_id": target, "is_required": required})),
            )
            .await;
        assert_eq!(res.status, 201, "{res:?}");
    }
    let fields = schema(format!("{p}/schema/collections/order/fields"))
        .await
        .body;
    let legacy = ids(&fields, "legacy_code");
    let res = env
        .call(
            "POST",
            &format!("{p}/schema/evolution/collections/{order}/fields/{legacy}/soft-delete"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(res.status, 200, "{res:?}");

    // Anyone who can reach the project may read its document.
    let res = env
        .call("GET", &format!("{p}/openapi.json"), None, None)
        .await;
    assert_eq!(res.status, 200, "{res:?}");
    let doc = res.body;
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "Shop data API");
    let list = &doc["paths"][format!("{p}/data/order")];
    assert!(
        list["get"].is_object() && list["post"].is_object(),
        "{list}"
    );
    let one = &doc["paths"][format!("{p}/data/order/{{record_id}}")];
    assert!(one["get"].is_object() && one["patch"].is_object() && one["delete"].is_object());
    assert!(doc["paths"][format!("{p}/data/_users")]["get"].is_object());
    let props = &doc["components"]["schemas"]["order"]["properties"];
    for (key, ty, format) in [
        ("id", json!("integer"), json!("int64")),
        ("title", json!(["string", "null"]), Value::Null),
        ("qty", json!(["integer", "null"]), json!("int64")),
        ("price", json!(["number", "null"]), json!("double")),
        ("paid", json!(["boolean", "null"]), Value::Null),
        ("due", json!(["string", "null"]), json!("date")),
        ("shipped_at", json!(["string", "null"]), json!("date-time")),
        ("ref", json!(["string", "null"]), json!("uuid")),
        ("buyer_id", json!("integer"), json!("int64")),
        ("owner_id", json!(["string", "null"]), Value::Null),
        ("created_at", json!("string"), json!("date-time")),
    ] {
        assert_eq!(
            (&props[key]["type"], &props[key]["format"]),
            (&ty, &format),
            "{key}"
        );
    }
    let input = &doc["components"]["schemas"]["orderInput"];
    assert_eq!(input["required"], json!(["buyer"]));
    assert_eq!(
        doc["components"]["schemas"]["_users"]["properties"]["id"]["format"],
        "uuid"
    );
    let text = doc.to_string();
    for hidden in ["password_hash", "legacy_code"] {
        assert!(!text.contains(hidden), "{hidden} appears in the document");
    }

    // A field added afterwards is in the next document at once (read-your-writes).
    env.field(&token, &pid, "order", "discount", "float").await;
    let doc = env
        .call("GET", &format!("{p}/openapi.json"), Some(&token), None)
        .await
        .body;
    assert_eq!(
        doc["components"]["schemas"]["order"]["properties"]["discount"]["type"],
        json!(["number", "null"])
    );
    let params = doc["paths"][format!("{p}/data/order")]["get"]["parameters"]
        .as_array()
        .unwrap()
        .clone();
    assert!(params.iter().any(|x| x["name"] == "discount"));

    // An unknown project is a JSON 404, from the worker or from the router.
    let missing = format!("/api/projects/{}/openapi.json", uuid::Uuid::new_v4());
    let res = env.call("GET", &missing, None, None).await;
    assert_eq!(
        (res.status, res.detail().as_str()),
        (404, "Project not found")
    );
    let res = env
        .call("GET", "/api/projects/not-a-uuid/openapi.json", None, None)
        .await;
    assert_eq!(
        (res.status, res.detail().as_str()),
        (404, "Project not found")
    );

    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_document_and_docs_page_come_from_the_control_plane() {
    let env = TestEnv::start().await;
    let res = env.call("GET", "/openapi.json", None, None).await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(res.body["openapi"], "3.1.0");
    let paths = res.body["paths"].as_object().unwrap();
    assert!(paths.len() >= 20, "{} paths", paths.len());
    for path in [
        "/api/auth/login",
        "/api/projects",
        "/api/projects/{project_id}/schema/collections",
        "/api/projects/{project_id}/views/{view_name}",
    ] {
        assert!(paths.contains_key(path), "{path}");
    }

    // A browser navigation (`Accept: text/html`) still gets the page, not the console.
    let client = reqwest::Client::new();
    let res = client
        .get(format!("{}/docs", env.base))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let kind = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(kind.starts_with("text/html"), "{kind}");
    let page = res.text().await.unwrap();
    assert!(page.contains("/openapi.json") && page.contains("<script>"));
    env.shutdown().await;
}
