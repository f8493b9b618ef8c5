//! Schema as code: export a project's schema, apply it to another project (preview first,
//! destructive steps only with force), and get the same document back.

use e2e::TestEnv;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_apply_export_gives_the_same_document() {
    let env = TestEnv::start().await;
    let t = env.admin("code@example.com").await;
    let dev = env.project(&t, "dev").await;
    let call = |m: &'static str, path: String, body: Option<Value>| {
        let t = t.clone();
        let env = &env;
        async move { env.call(m, &path, Some(&t), body).await }
    };
    let d = format!("/api/projects/{dev}");
    env.collection(&t, &dev, "authors").await;
    env.collection(&t, &dev, "order").await;
    env.field(&t, &dev, "authors", "name", "string").await;
    let res = call(
        "POST",
        format!("{d}/schema/collections/order/fields"),
        Some(json!({"name": "qty", "display_name": "Qty", "field_type": "int", "is_required": true, "default_value": "1", "is_indexed": true})),
    )
    .await;
    assert_eq!(res.status, 201, "{res:?}");
    env.field(&t, &dev, "_users", "nickname", "string").await;
    let authors = call("GET", format!("{d}/schema/collections/authors"), None)
        .await
        .body["id"]
        .clone();
    let users = call("GET", format!("{d}/schema/collections/_users"), None)
        .await
        .body["id"]
        .clone();
    let order = call("GET", format!("{d}/schema/collections/order"), None)
        .await
        .body["id"]
        .clone();
    let rel = format!(
        "{d}/schema/relations/collections/{}/relations",
        order.as_str().unwrap()
    );
    for body in [
        json!({"name": "author", "display_name": "Author", "target_collection_id": authors, "on_delete": "CASCADE"}),
        json!({"name": "buyer", "display_name": "Buyer", "target_collection_id": users, "on_delete": "SET NULL", "display_field": "email"}),
    ] {
        let res = call("POST", rel.clone(), Some(body)).await;
        assert_eq!(res.status, 201, "{res:?}");
    }
    let res = call(
        "POST",
        format!("{d}/views"),
        Some(json!({"name": "big_orders", "display_name": "Big", "base_collection_id": order,
            "projection": ["id", "qty"], "filters": [{"field": "qty", "operator": ">", "value": 10}],
            "sorts": [{"field": "qty", "desc": true}]})),
    )
    .await;
    assert_eq!(res.status, 201, "{res:?}");

    let exported = call("GET", format!("{d}/schema/export"), None).await;
    assert_eq!(exported.status, 200);
    let doc = exported.body;
    assert_eq!(doc["format"], "backendify.schema/v1");
    assert_eq!(doc["collections"][0]["name"], "_users");
    assert_eq!(doc["collections"][0]["fields"][0]["name"], "nickname");
    assert_eq!(doc["collections"][2]["fields"][1]["target"], "authors");
    assert_eq!(doc["views"][0]["base_collection"], "order");

    // Preview on an empty project changes nothing.
    let prod = env.project(&t, "prod").await;
    let pr = format!("/api/projects/{prod}");
    let res = call(
        "POST",
        format!("{pr}/schema/import?dry_run=true"),
        Some(doc.clone()),
    )
    .await;
    assert_eq!(res.status, 200, "{res:?}");
    assert!(res.body["steps"].as_array().unwrap().len() >= 6, "{res:?}");
    assert_eq!(res.body["applied"], 0);
    assert_eq!(
        call("GET", format!("{pr}/schema/collections/order"), None)
            .await
            .status,
        404
    );

    let res = call("POST", format!("{pr}/schema/import"), Some(doc.clone())).await;
    assert_eq!(res.status, 200, "{res:?}");
    let version = res.body["schema_version"].clone();
    let again = call("GET", format!("{pr}/schema/export"), None).await.body;
    assert_eq!(again, doc);
    // The imported project works: relations hold, the view exists.
    let a = call(
        "POST",
        format!("{pr}/data/authors"),
        Some(json!({"name": "Ann"})),
    )
    .await;
    let o = call(
        "POST",
        format!("{pr}/data/order"),
        Some(json!({"author": a.body["id"]})),
    )
    .await;
    assert_eq!((o.status, o.body["qty"].clone()), (201, json!(1)), "{o:?}");
    assert_eq!(
        call("GET", format!("{pr}/views/big_orders"), None)
            .await
            .status,
        200
    );

    // Applying the same document again is a no-op.
    let res = call("POST", format!("{pr}/schema/import"), Some(doc.clone())).await;
    assert_eq!(
        (res.status, res.body["applied"].clone()),
        (200, json!(0)),
        "{res:?}"
    );
    assert_eq!(res.body["schema_version"], version);

    // Destructive steps need force.
    let mut smaller = doc.clone();
    smaller["collections"][1]["fields"] = json!([]);
    let res = call("POST", format!("{pr}/schema/import"), Some(smaller.clone())).await;
    assert_eq!(res.status, 400, "{res:?}");
    assert!(
        res.detail().contains("drop field 'authors.name'"),
        "{res:?}"
    );
    let res = call(
        "POST",
        format!("{pr}/schema/import?force=true"),
        Some(smaller),
    )
    .await;
    assert_eq!(res.status, 200, "{res:?}");
    let rec = call("GET", format!("{pr}/data/authors/{}", a.body["id"]), None).await;
    assert!(rec.body.get("name").is_none(), "{rec:?}");

    // YAML both ways.
    let (status, yaml) = env
        .call_text(
            "GET",
            &format!("{d}/schema/export?format=yaml"),
            Some(&t),
            "application/json",
            String::new(),
        )
        .await;
    assert_eq!(status, 200);
    assert!(yaml.contains("format: backendify.schema/v1"), "{yaml}");
    let staging = env.project(&t, "staging").await;
    let (status, body) = env
        .call_text(
            "POST",
            &format!("/api/projects/{staging}/schema/import"),
            Some(&t),
            "application/yaml",
            yaml,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let third = call(
        "GET",
        format!("/api/projects/{staging}/schema/export"),
        None,
    )
    .await
    .body;
    assert_eq!(third, doc);

    // Bad documents are clear 400s that change nothing.
    let res = call(
        "POST",
        format!("{pr}/schema/import"),
        Some(json!({"format": "other/v9", "collections": []})),
    )
    .await;
    assert_eq!(res.status, 400, "{res:?}");
    let mut unsafe_doc = doc.clone();
    unsafe_doc["collections"][2]["fields"][0]["field_type"] = json!("bool");
    let res = call("POST", format!("{pr}/schema/import"), Some(unsafe_doc)).await;
    assert!(
        res.status == 400 && res.detail().contains("not safe"),
        "{res:?}"
    );
    let (status, body) = env
        .call_text(
            "POST",
            &format!("{pr}/schema/import"),
            Some(&t),
            "application/yaml",
            "collections: [".into(),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    env.shutdown().await;
}
