//! The schema builder end to end, through the router: relations with real foreign keys, renames
//! whose old names keep working, the field lifecycle, previews, pending changes, collection
//! update and delete, and concurrent changes.

use e2e::{Res, TestEnv};
use serde_json::{json, Value};

struct Ctx<'a> {
    env: &'a TestEnv,
    t: String,
    base: String,
}

impl Ctx<'_> {
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Res {
        let path = format!("{}{path}", self.base);
        self.env.call(method, &path, Some(&self.t), body).await
    }

    async fn id(&self, collection: &str) -> String {
        let res = self
            .call("GET", &format!("/schema/collections/{collection}"), None)
            .await;
        assert_eq!(res.status, 200, "{res:?}");
        res.body["id"].as_str().unwrap().to_owned()
    }

    async fn field_id(&self, collection: &str, field: &str) -> String {
        let res = self
            .call(
                "GET",
                &format!("/schema/collections/{collection}/fields/{field}"),
                None,
            )
            .await;
        assert_eq!(res.status, 200, "{res:?}");
        res.body["id"].as_str().unwrap().to_owned()
    }

    async fn relation(&self, source: &str, body: Value) -> Res {
        let id = self.id(source).await;
        self.call(
            "POST",
            &format!("/schema/relations/collections/{id}/relations"),
            Some(body),
        )
        .await
    }

    async fn create(&self, collection: &str, body: Value) -> Value {
        let res = self
            .call("POST", &format!("/data/{collection}"), Some(body))
            .await;
        assert_eq!(res.status, 201, "{res:?}");
        res.body
    }

    async fn field_names(&self, collection: &str) -> Vec<String> {
        let res = self
            .call(
                "GET",
                &format!("/schema/collections/{collection}/fields"),
                None,
            )
            .await;
        assert_eq!(res.status, 200, "{res:?}");
        res.body
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap().to_owned())
            .collect()
    }

    async fn schema_version(&self) -> i64 {
        let res = self.call("GET", "/schema/evolution/history", None).await;
        assert_eq!(res.status, 200, "{res:?}");
        res.body["schema_version"].as_i64().unwrap()
    }
}

async fn setup<'a>(env: &'a TestEnv, who: &str) -> Ctx<'a> {
    let t = env.admin(&format!("{who}@example.com")).await;
    let p = env.project(&t, who).await;
    Ctx {
        env,
        t,
        base: format!("/api/projects/{p}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relations_have_real_foreign_keys() {
    let env = TestEnv::start().await;
    let c = setup(&env, "rel").await;
    let p = c.base.trim_start_matches("/api/projects/").to_owned();
    env.collection(&c.t, &p, "categories").await;
    env.collection(&c.t, &p, "order").await;
    env.field(&c.t, &p, "categories", "title", "string").await;
    let cat_id = c.id("categories").await;

    let res = c
        .relation(
            "order",
            json!({"name": "category", "display_name": "Category", "target_collection_id": cat_id}),
        )
        .await;
    assert_eq!(res.status, 201, "{res:?}");
    assert_eq!(res.body["relation_type"], "many_to_one");
    assert_eq!(res.body["relation_on_delete"], "RESTRICT");
    assert_eq!(res.body["sql_column_name"], "category_id");
    assert_eq!(res.body["target_collection_name"], "categories");
    assert_eq!(res.body["field_type"], "relation");

    // Error cases, in the spec's order.
    let bad = [
        (
            json!({"name": "x", "display_name": "X", "target_collection_id": "nonexistent-id"}),
            400,
            "Target collection not found",
        ),
        (
            json!({"name": "select", "display_name": "X", "target_collection_id": cat_id}),
            400,
            "Invalid field name: select",
        ),
        (
            json!({"name": "x", "display_name": "X", "target_collection_id": cat_id, "relation_type": "one_to_many"}),
            400,
            "Invalid relation type: one_to_many. Must be one of ['many_to_one']",
        ),
        (
            json!({"name": "x", "display_name": "X", "target_collection_id": cat_id, "on_delete": "EXPLODE"}),
            400,
            "Invalid on_delete action: EXPLODE. Must be one of ['RESTRICT', 'CASCADE', 'SET NULL']",
        ),
        (
            json!({"name": "category", "display_name": "X", "target_collection_id": cat_id}),
            409,
            "Field with this name already exists",
        ),
    ];
    for (body, status, detail) in bad {
        let res = c.relation("order", body).await;
        assert_eq!((res.status, res.detail()), (status, detail.to_owned()));
    }
    // Self-references (which the spec never shipped) work, and a relation can be deleted.
    let own = c.id("order").await;
    let res = c
        .relation(
            "order",
            json!({"name": "parent", "display_name": "P", "target_collection_id": own, "on_delete": "SET NULL"}),
        )
        .await;
    assert_eq!(res.status, 201, "{res:?}");
    let parent_field = res.body["id"].as_str().unwrap().to_owned();
    let root = c.create("order", json!({})).await;
    let child = c.create("order", json!({"parent": root["id"]})).await;
    assert_eq!(child["parent_id"], root["id"]);
    let del = format!("/schema/relations/collections/{own}/relations/{parent_field}");
    let res = c.call("DELETE", &del, None).await;
    assert_eq!(res.status, 200, "{res:?}");
    let res = c
        .call("GET", &format!("/data/order/{}", child["id"]), None)
        .await;
    assert!(res.body.get("parent_id").is_none(), "{res:?}");
    assert_eq!(c.call("DELETE", &del, None).await.status, 404);
    for id in [&root["id"], &child["id"]] {
        let res = c.call("DELETE", &format!("/data/order/{id}"), None).await;
        assert_eq!(res.status, 204);
    }
    let res = c
        .call(
            "POST",
            &format!(
                "/schema/relations/collections/{}/relations",
                uuid::Uuid::new_v4()
            ),
            Some(json!({"name": "x", "display_name": "X", "target_collection_id": cat_id})),
        )
        .await;
    assert_eq!(
        (res.status, res.detail()),
        (404, "Collection not found".into())
    );
    let res = c.relation("order", json!({"display_name": "X"})).await;
    assert_eq!(res.status, 422);

    // Writes take `category` or `category_id`; the key is checked by Postgres.
    let cat = c.create("categories", json!({"title": "news"})).await;
    let o = c.create("order", json!({"category": cat["id"]})).await;
    assert_eq!(o["category_id"], cat["id"]);
    let o2 = c.create("order", json!({"category_id": cat["id"]})).await;
    assert_eq!(o2["category_id"], cat["id"]);
    let res = c
        .call("POST", "/data/order", Some(json!({"category": 999_999})))
        .await;
    assert_eq!(
        (res.status, res.detail()),
        (400, "Invalid reference for field 'category': 999999".into())
    );
    // RESTRICT: a referenced record cannot go.
    let res = c
        .call("DELETE", &format!("/data/categories/{}", cat["id"]), None)
        .await;
    assert_eq!(res.status, 409, "{res:?}");

    // A required relation needs an empty collection.
    let res = c
        .relation(
            "order",
            json!({"name": "owner", "display_name": "O", "target_collection_id": cat_id, "is_required": true}),
        )
        .await;
    assert_eq!(
        (res.status, res.detail()),
        (
            400,
            "Required relation fields can only be added to empty collections".into()
        )
    );

    // CASCADE and SET NULL act in Postgres.
    env.collection(&c.t, &p, "comments").await;
    let order_id = c.id("order").await;
    let res = c
        .relation(
            "comments",
            json!({"name": "order", "display_name": "Order", "target_collection_id": order_id, "on_delete": "CASCADE", "is_required": true}),
        )
        .await;
    assert_eq!(
        (res.status, res.body["is_required"].clone()),
        (201, json!(true))
    );
    let users_id = c.id("_users").await;
    let res = c
        .relation(
            "comments",
            json!({"name": "author", "display_name": "Author", "target_collection_id": users_id, "on_delete": "SET NULL", "display_field": "email"}),
        )
        .await;
    assert_eq!(res.status, 201, "{res:?}");
    assert_eq!(res.body["relation_display_field"], "email");
    let user = c
        .create("_users", json!({"email": "someone@example.com"}))
        .await;
    let cm = c
        .create("comments", json!({"order": o2["id"], "author": user["id"]}))
        .await;
    assert_eq!(cm["author_id"], user["id"]);
    let res = c
        .call(
            "DELETE",
            &format!("/data/_users/{}", user["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(res.status, 204, "{res:?}");
    let res = c
        .call("GET", &format!("/data/comments/{}", cm["id"]), None)
        .await;
    assert_eq!(res.body["author_id"], Value::Null, "SET NULL: {res:?}");
    let res = c
        .call("DELETE", &format!("/data/order/{}", o2["id"]), None)
        .await;
    assert_eq!(res.status, 204, "{res:?}");
    let res = c
        .call("GET", &format!("/data/comments/{}", cm["id"]), None)
        .await;
    assert_eq!(res.status, 404, "CASCADE: {res:?}");

    // Listing and the reverse side.
    let res = c
        .call(
            "GET",
            &format!("/schema/relations/collections/{order_id}/relations"),
            None,
        )
        .await;
    assert_eq!(res.body[0]["name"], "category");
    assert_eq!(res.body[0]["target_collection_name"], "categories");
    let res = c
        .call(
            "GET",
            &format!("/schema/relations/collections/{cat_id}/reverse-relations"),
            None,
        )
        .await;
    assert_eq!(res.body[0]["source_collection_name"], "order");
    assert_eq!(res.body[0]["relation_type"], "one_to_many");
    let res = c
        .call("GET", "/schema/relations/relation-options", None)
        .await;
    assert_eq!(res.body["on_delete_actions"].as_array().unwrap().len(), 3);

    // A relation's target cannot be deleted while the relation exists.
    let res = c
        .call("DELETE", "/schema/collections/categories?force=true", None)
        .await;
    assert_eq!(res.status, 409, "{res:?}");
    assert!(res.detail().contains("order.category"), "{res:?}");
    let ops = c
        .call("GET", "/audit/schema-ops?op_type=add_relation_column", None)
        .await;
    assert_eq!(
        ops.body.as_array().unwrap().len(),
        4,
        "category, parent, order, author"
    );
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renamed_names_keep_working() {
    let env = TestEnv::start().await;
    let c = setup(&env, "ren").await;
    let p = c.base.trim_start_matches("/api/projects/").to_owned();
    env.collection(&c.t, &p, "orders").await;
    env.field(&c.t, &p, "orders", "price", "int").await;
    env.collection(&c.t, &p, "taken").await;
    let rec = c.create("orders", json!({"price": 5})).await;
    let cid = c.id("orders").await;
    let fid = c.field_id("orders", "price").await;
    let rename = format!("/schema/evolution/collections/{cid}/rename");
    let res = c
        .call(
            "PATCH",
            "/schema/collections/orders/fields/price",
            Some(json!({"is_unique": true})),
        )
        .await;
    assert_eq!(res.status, 200, "{res:?}");

    for (name, status) in [("SELECT", 400), ("select", 400), ("taken", 409)] {
        let res = c
            .call("POST", &rename, Some(json!({"new_name": name})))
            .await;
        assert_eq!(res.status, status, "{name}: {res:?}");
    }
    let res = c
        .call(
            "POST",
            &rename,
            Some(json!({"new_name": "purchases", "new_display_name": "Purchases"})),
        )
        .await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(res.body["operation"], "rename_collection");
    assert_eq!(res.body["details"]["old_name"], "orders");
    assert_eq!(res.body["details"]["new_name"], "purchases");
    let res = c.call("GET", "/schema/collections/purchases", None).await;
    assert_eq!(res.body["sql_table_name"], "purchases");
    assert_eq!(res.body["display_name"], "Purchases");

    let res = c
        .call(
            "POST",
            &format!("/schema/evolution/collections/{cid}/fields/{fid}/rename"),
            Some(json!({"new_name": "unit_price"})),
        )
        .await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(res.body["operation"], "rename_field");

    // Both the old collection name and the old field name still resolve.
    for path in ["/data/orders", "/data/purchases"] {
        let res = c.call("GET", &format!("{path}/{}", rec["id"]), None).await;
        assert_eq!(
            (res.status, res.body["unit_price"].clone()),
            (200, json!(5)),
            "{path}"
        );
    }
    let w = c.create("orders", json!({"price": 7})).await;
    assert_eq!(w["unit_price"], 7);
    let res = c.call("GET", "/data/purchases?price=7", None).await;
    assert_eq!(res.body["total"], 1, "{res:?}");

    // The unique index followed both renames: dropping it works, and duplicates are then allowed.
    let res = c
        .call("POST", "/data/purchases", Some(json!({"unit_price": 7})))
        .await;
    assert_eq!(res.status, 409, "{res:?}");
    let res = c
        .call(
            "PATCH",
            "/schema/collections/purchases/fields/unit_price",
            Some(json!({"is_unique": false})),
        )
        .await;
    assert_eq!(res.status, 200, "{res:?}");
    c.create("purchases", json!({"unit_price": 7})).await;
    let res = c
        .call(
            "PATCH",
            "/schema/collections/purchases/fields/unit_price",
            Some(json!({"display_name": "bad\u{0}name"})),
        )
        .await;
    assert_eq!(res.status, 422, "{res:?}");
    let res = c.call("GET", "/schema/evolution/aliases", None).await;
    assert_eq!(res.body["collection_aliases"][0]["old_name"], "orders");
    assert_eq!(res.body["field_aliases"][0]["old_name"], "price");
    // A new collection may take the old name; then the name means the new one.
    env.collection(&c.t, &p, "orders").await;
    let res = c.call("GET", "/data/orders", None).await;
    assert_eq!(res.body["total"], 0, "{res:?}");

    // `_users` is not renamed.
    let users = c.id("_users").await;
    let res = c
        .call(
            "POST",
            &format!("/schema/evolution/collections/{users}/rename"),
            Some(json!({"new_name": "people"})),
        )
        .await;
    assert_eq!(
        (res.status, res.detail()),
        (400, "System collection '_users' cannot be renamed.".into())
    );
    let ops = c.call("GET", "/audit/schema-ops", None).await;
    let types: Vec<&str> = ops
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["op_type"].as_str().unwrap())
        .collect();
    assert!(
        types.contains(&"rename_table") && types.contains(&"rename_column"),
        "{types:?}"
    );
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn field_lifecycle_soft_delete_restore_hard_delete_and_types() {
    let env = TestEnv::start().await;
    let c = setup(&env, "life").await;
    let p = c.base.trim_start_matches("/api/projects/").to_owned();
    env.collection(&c.t, &p, "items").await;
    env.field(&c.t, &p, "items", "note", "string").await;
    env.field(&c.t, &p, "items", "count", "int").await;
    env.field(&c.t, &p, "items", "ratio", "float").await;
    let rec = c
        .create("items", json!({"note": "keep me", "count": 3}))
        .await;
    let cid = c.id("items").await;
    let note = c.field_id("items", "note").await;
    let f =
        |fid: &str, what: &str| format!("/schema/evolution/collections/{cid}/fields/{fid}/{what}");

    let res = c.call("POST", &f(&note, "hard-delete"), None).await;
    assert_eq!(
        (res.status, res.detail()),
        (
            400,
            "Field must be soft-deleted first. Use force=True to skip.".into()
        )
    );
    let res = c.call("POST", &f(&note, "soft-delete"), None).await;
    assert_eq!(
        (res.status, res.body["operation"].clone()),
        (200, json!("soft_delete_field"))
    );
    let res = c.call("POST", &f(&note, "soft-delete"), None).await;
    assert_eq!(
        (res.status, res.detail()),
        (400, "Field is already deleted".into())
    );
    assert_eq!(c.field_names("items").await, ["count", "ratio"]);
    let res = c
        .call("GET", &format!("/data/items/{}", rec["id"]), None)
        .await;
    assert!(
        res.body.get("note").is_none(),
        "hidden from records: {res:?}"
    );
    let res = c
        .call("POST", "/data/items", Some(json!({"note": "x"})))
        .await;
    assert_eq!(res.status, 400, "writes refused: {res:?}");
    let res = c
        .call(
            "POST",
            "/schema/collections/items/fields",
            Some(json!({"name": "note", "display_name": "N", "field_type": "string"})),
        )
        .await;
    assert_eq!(res.status, 409, "the name stays taken: {res:?}");

    let res = c.call("POST", &f(&note, "restore"), None).await;
    assert_eq!(res.status, 200, "{res:?}");
    let res = c.call("POST", &f(&note, "restore"), None).await;
    assert_eq!(
        (res.status, res.detail()),
        (400, "Field is not deleted".into())
    );
    let res = c
        .call("GET", &format!("/data/items/{}", rec["id"]), None)
        .await;
    assert_eq!(res.body["note"], "keep me", "data survived: {res:?}");

    // Hard delete of a field with data, forced.
    let res = c
        .call(
            "POST",
            &format!("{}?force=true", f(&note, "hard-delete")),
            None,
        )
        .await;
    assert_eq!(
        (res.status, res.body["details"]["dropped"].clone()),
        (200, json!(true))
    );
    let res = c
        .call(
            "POST",
            &format!("{}?force=true", f(&note, "hard-delete")),
            None,
        )
        .await;
    assert_eq!((res.status, res.detail()), (404, "Field not found".into()));
    let res = c
        .call("GET", &format!("/data/items/{}", rec["id"]), None)
        .await;
    assert!(res.body.get("note").is_none(), "{res:?}");
    // The name is free again.
    env.field(&c.t, &p, "items", "note", "int").await;

    // Type changes: safe, same, unsafe.
    let count = c.field_id("items", "count").await;
    let ratio = c.field_id("items", "ratio").await;
    let res = c
        .call(
            "POST",
            &f(&count, "change-type"),
            Some(json!({"new_type": "float"})),
        )
        .await;
    assert_eq!(
        (res.status, res.body["details"]["new_type"].clone()),
        (200, json!("float"))
    );
    let w = c.create("items", json!({"count": 2.5})).await;
    assert_eq!(w["count"], 2.5);
    let res = c
        .call(
            "POST",
            &f(&count, "change-type"),
            Some(json!({"new_type": "float"})),
        )
        .await;
    assert_eq!(
        (res.status, res.detail()),
        (400, "New type is the same as current type".into())
    );
    let res = c
        .call(
            "POST",
            &f(&ratio, "change-type"),
            Some(json!({"new_type": "bool"})),
        )
        .await;
    assert_eq!(res.status, 400);
    assert!(res.detail().contains("Unsafe type conversion"), "{res:?}");

    // Previews run nothing.
    let preview = format!("/schema/evolution/collections/{cid}/preview-migration");
    let res = c
        .call(
            "POST",
            &preview,
            Some(json!({"operation": "rename_collection", "params": {"new_name": "things"}})),
        )
        .await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(res.body["operation"], "rename_collection");
    let steps = res.body["steps"].as_array().unwrap();
    assert!(
        steps
            .iter()
            .any(|s| s.as_str().unwrap().contains("RENAME TO \"things\"")),
        "{res:?}"
    );
    assert_eq!(
        res.body["warnings"][0],
        "Old name 'items' will be aliased for 30 days"
    );
    assert_eq!(
        c.call("GET", "/schema/collections/items", None)
            .await
            .status,
        200
    );
    let res = c
        .call("POST", &preview, Some(json!({"operation": "change_field_type", "params": {"field_id": ratio, "new_type": "bool"}})))
        .await;
    assert_eq!(res.body["steps"], json!([]));
    assert!(
        res.body["warnings"][0]
            .as_str()
            .unwrap()
            .starts_with("UNSAFE"),
        "{res:?}"
    );
    for (body, detail) in [
        (
            json!({"operation": "rename_collection", "params": {}}),
            "new_name is required",
        ),
        (
            json!({"operation": "teleport", "params": {}}),
            "Unknown operation: teleport",
        ),
        (
            json!({"operation": "soft_delete_field", "params": {"field_id": uuid::Uuid::new_v4()}}),
            "Field not found",
        ),
    ] {
        let res = c.call("POST", &preview, Some(body)).await;
        assert_eq!((res.status, res.detail()), (400, detail.to_owned()));
    }
    let res = c
        .call("GET", "/schema/evolution/safe-conversions", None)
        .await;
    assert!(res.body["safe_conversions"].as_array().unwrap().len() >= 3);

    // System fields stay untouched.
    let users = c.id("_users").await;
    let email = c.field_id("_users", "email").await;
    let res = c
        .call(
            "POST",
            &format!("/schema/evolution/collections/{users}/fields/{email}/soft-delete"),
            None,
        )
        .await;
    assert_eq!(res.status, 400);
    assert!(
        res.detail().to_lowercase().contains("system field"),
        "{res:?}"
    );
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_changes_apply_all_or_nothing() {
    let env = TestEnv::start().await;
    let c = setup(&env, "pend").await;
    let p = c.base.trim_start_matches("/api/projects/").to_owned();
    env.collection(&c.t, &p, "notes").await;
    let before = c.schema_version().await;

    let staged = [
        json!({"op": "create_collection", "name": "tags", "display_name": "Tags"}),
        json!({"op": "add_field", "collection": "tags", "name": "label", "display_name": "Label", "field_type": "string", "is_unique": true}),
        json!({"op": "add_relation", "collection": "notes", "name": "tag", "display_name": "Tag", "target": "tags"}),
    ];
    for s in &staged {
        let res = c
            .call("POST", "/schema/evolution/pending", Some(s.clone()))
            .await;
        assert_eq!(res.status, 201, "{res:?}");
    }
    // A change that cannot follow the staged ones is refused at once.
    let res = c
        .call("POST", "/schema/evolution/pending", Some(json!({"op": "add_field", "collection": "nope", "name": "a", "display_name": "A", "field_type": "int"})))
        .await;
    assert_eq!(res.status, 404, "{res:?}");
    let res = c
        .call(
            "POST",
            "/schema/evolution/pending",
            Some(json!({"op": "drop_database"})),
        )
        .await;
    assert_eq!(res.status, 422, "{res:?}");
    let res = c.call("GET", "/schema/evolution/pending", None).await;
    assert_eq!(res.body["pending"].as_array().unwrap().len(), 3);
    // Nothing happened yet.
    assert_eq!(
        c.call("GET", "/schema/collections/tags", None).await.status,
        404
    );

    let res = c
        .call("POST", "/schema/evolution/pending/preview", None)
        .await;
    assert_eq!(res.status, 200, "{res:?}");
    let steps: Vec<String> = serde_json::from_value(res.body["steps"].clone()).unwrap();
    assert!(
        steps.iter().any(|s| s.starts_with("CREATE TABLE")),
        "{steps:?}"
    );
    assert!(steps.iter().any(|s| s.contains("REFERENCES")), "{steps:?}");
    assert_eq!(
        c.call("GET", "/schema/collections/tags", None).await.status,
        404
    );

    // A batch that fails midway leaves the schema exactly as before.
    env.field(&c.t, &p, "notes", "tag_id", "int").await;
    let ops_before = c
        .call("GET", "/audit/schema-ops?limit=1000", None)
        .await
        .body;
    let version = c.schema_version().await;
    let res = c.call("POST", "/schema/evolution/apply", None).await;
    assert_eq!(res.status, 409, "{res:?}");
    assert!(
        res.detail().starts_with("Change 3 of 3 (add_relation)"),
        "{res:?}"
    );
    assert_eq!(
        c.call("GET", "/schema/collections/tags", None).await.status,
        404
    );
    assert_eq!(
        c.call("GET", "/audit/schema-ops?limit=1000", None)
            .await
            .body,
        ops_before
    );
    assert_eq!(c.schema_version().await, version);
    assert_eq!(c.call("GET", "/data/tags", None).await.status, 404);

    // Fix the clash, then the batch applies as one new schema version.
    let cid = c.id("notes").await;
    let fid = c.field_id("notes", "tag_id").await;
    let res = c
        .call(
            "POST",
            &format!("/schema/evolution/collections/{cid}/fields/{fid}/hard-delete?force=true"),
            None,
        )
        .await;
    assert_eq!(res.status, 200);
    let version = c.schema_version().await;
    let res = c.call("POST", "/schema/evolution/apply", None).await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(res.body["applied"], 3);
    assert_eq!(res.body["schema_version"], version + 1);
    assert_eq!(c.field_names("tags").await, ["label"]);
    let tag = c.create("tags", json!({"label": "red"})).await;
    let n = c.create("notes", json!({"tag": tag["id"]})).await;
    assert_eq!(n["tag_id"], tag["id"]);
    let res = c.call("GET", "/schema/evolution/pending", None).await;
    assert_eq!(res.body["pending"], json!([]));
    let res = c.call("POST", "/schema/evolution/apply", None).await;
    assert_eq!(res.status, 400);

    // Discarding.
    let res = c
        .call(
            "POST",
            "/schema/evolution/pending",
            Some(json!({"op": "create_collection", "name": "later", "display_name": "L"})),
        )
        .await;
    let id = res.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        c.call("DELETE", &format!("/schema/evolution/pending/{id}"), None)
            .await
            .status,
        204
    );
    assert_eq!(
        c.call("DELETE", &format!("/schema/evolution/pending/{id}"), None)
            .await
            .status,
        404
    );

    let h = c.call("GET", "/schema/evolution/history", None).await;
    assert_eq!(h.body["history"][0]["source"], "pending");
    assert_eq!(h.body["history"][0]["changes"].as_array().unwrap().len(), 3);
    assert!(c.schema_version().await > before);
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collections_and_fields_are_updated_and_deleted() {
    let env = TestEnv::start().await;
    let c = setup(&env, "upd").await;
    let p = c.base.trim_start_matches("/api/projects/").to_owned();
    env.collection(&c.t, &p, "posts").await;
    env.collection(&c.t, &p, "empty").await;

    let res = c
        .call(
            "PATCH",
            "/schema/collections/posts",
            Some(json!({"display_name": "Blog Posts"})),
        )
        .await;
    assert_eq!(
        (res.status, res.body["display_name"].clone()),
        (200, json!("Blog Posts"))
    );
    let res = c
        .call(
            "PATCH",
            "/schema/collections/posts",
            Some(json!({"display_name": ""})),
        )
        .await;
    assert_eq!(res.status, 422);

    // A hostile default is stored as that string, never run.
    let hostile = "'); DROP TABLE posts; --";
    let res = c
        .call(
            "POST",
            "/schema/collections/posts/fields",
            Some(json!({"name": "title", "display_name": "Title", "field_type": "string", "is_required": true, "default_value": hostile})),
        )
        .await;
    assert_eq!(
        (res.status, res.body["default_value"].clone()),
        (201, json!(hostile))
    );
    let r = c.create("posts", json!({})).await;
    assert_eq!(r["title"], hostile);
    let res = c
        .call("POST", "/schema/collections/posts/fields", Some(json!({"name": "n", "display_name": "N", "field_type": "int", "default_value": "abc"})))
        .await;
    assert_eq!(res.status, 400, "{res:?}");

    // Field flags.
    env.field(&c.t, &p, "posts", "slug", "string").await;
    c.create("posts", json!({"slug": "a"})).await;
    let res = c
        .call(
            "PATCH",
            "/schema/collections/posts/fields/slug",
            Some(json!({"is_unique": true, "display_name": "Slug"})),
        )
        .await;
    assert_eq!(
        (
            res.status,
            res.body["is_unique"].clone(),
            res.body["display_name"].clone()
        ),
        (200, json!(true), json!("Slug"))
    );
    let res = c
        .call("POST", "/data/posts", Some(json!({"slug": "a"})))
        .await;
    assert_eq!(res.status, 409, "unique now holds: {res:?}");
    c.create("posts", json!({"slug": "b"})).await;
    let res = c
        .call(
            "PATCH",
            "/schema/collections/posts/fields/slug",
            Some(json!({"is_required": true})),
        )
        .await;
    assert_eq!(res.status, 400, "a required field needs a default: {res:?}");
    let res = c
        .call(
            "PATCH",
            "/schema/collections/posts/fields/slug",
            Some(json!({"is_unique": false, "is_required": true, "default_value": "none"})),
        )
        .await;
    assert_eq!(res.status, 200, "{res:?}");
    let res = c.call("GET", "/data/posts?slug=none", None).await;
    assert_eq!(res.body["total"], 1, "nulls were backfilled: {res:?}");
    let res = c
        .call("POST", "/data/posts", Some(json!({"slug": "a"})))
        .await;
    assert_eq!(res.status, 201, "unique dropped: {res:?}");
    let res = c
        .call(
            "PATCH",
            "/schema/collections/posts/fields/slug",
            Some(json!({"is_unique": true})),
        )
        .await;
    assert_eq!(res.status, 409, "duplicates block a unique index: {res:?}");
    let res = c
        .call(
            "PATCH",
            "/schema/collections/_users/fields/email",
            Some(json!({"display_name": "Mail"})),
        )
        .await;
    assert_eq!(res.status, 400);

    // Delete a collection: empty at once, with records only when forced.
    let res = c.call("DELETE", "/schema/collections/empty", None).await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(
        c.call("GET", "/schema/collections/empty", None)
            .await
            .status,
        404
    );
    assert_eq!(c.call("GET", "/data/empty", None).await.status, 404);
    let res = c.call("DELETE", "/schema/collections/posts", None).await;
    assert_eq!(res.status, 409, "{res:?}");
    assert!(res.detail().contains("force=true"), "{res:?}");
    assert_eq!(c.call("GET", "/data/posts", None).await.status, 200);
    let res = c
        .call("DELETE", "/schema/collections/posts?force=true", None)
        .await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(c.call("GET", "/data/posts", None).await.status, 404);
    // The name can be used again, with a fresh table.
    env.collection(&c.t, &p, "posts").await;
    let res = c.call("GET", "/data/posts", None).await;
    assert_eq!(res.body["total"], 0);
    let res = c
        .call("DELETE", "/schema/collections/_users?force=true", None)
        .await;
    assert_eq!(res.status, 400);
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_changes_of_one_project_serialize() {
    let env = TestEnv::start().await;
    let c = setup(&env, "conc").await;
    let p = c.base.trim_start_matches("/api/projects/").to_owned();
    env.collection(&c.t, &p, "wide").await;
    let before = c.schema_version().await;
    let path = format!("{}/schema/collections/wide/fields", c.base);
    let calls = (0..12).map(|i| {
        let body = json!({"name": format!("f{i}"), "display_name": "F", "field_type": "int", "is_indexed": true});
        env.call("POST", &path, Some(&c.t), Some(body))
    });
    let results = futures_join_all(calls).await;
    for r in &results {
        assert_eq!(r.status, 201, "{r:?}");
    }
    assert_eq!(c.schema_version().await, before + 12);
    assert_eq!(c.field_names("wide").await.len(), 12);
    let h = c
        .call("GET", "/schema/evolution/history?limit=12", None)
        .await;
    // One history entry per change, with consecutive versions: nothing interleaved or lost.
    let versions: Vec<i64> = h.body["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["schema_version"].as_i64().unwrap())
        .collect();
    let expected: Vec<i64> = (before + 1..=before + 12).rev().collect();
    assert_eq!(versions, expected);
    // The schema-op log pages deterministically (spec/audit.md).
    let page = |offset: u32| format!("/audit/schema-ops?limit=1&offset={offset}");
    let first = c.call("GET", &page(0), None).await.body;
    let second = c.call("GET", &page(1), None).await.body;
    assert_eq!(
        (
            first.as_array().unwrap().len(),
            second.as_array().unwrap().len()
        ),
        (1, 1)
    );
    assert_ne!(first[0]["id"], second[0]["id"]);
    let all = c
        .call("GET", "/audit/schema-ops?limit=1000", None)
        .await
        .body;
    let types: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["op_type"].as_str().unwrap())
        .collect();
    assert!(
        types.contains(&"create_schema") && types.contains(&"create_table"),
        "{types:?}"
    );
    assert_eq!(types.iter().filter(|t| **t == "add_column").count(), 12);
    let res = c.call("GET", "/audit/schema-ops?limit=0", None).await;
    assert_eq!(res.status, 422);
    let body: serde_json::Map<String, Value> =
        (0..12).map(|i| (format!("f{i}"), json!(i))).collect();
    let r = c.create("wide", Value::Object(body)).await;
    assert_eq!(r["f11"], 11);
    env.shutdown().await;
}

async fn futures_join_all<F: std::future::Future<Output = Res>>(
    calls: impl Iterator<Item = F>,
) -> Vec<Res> {
    let handles: Vec<_> = calls.map(|f| Box::pin(f)).collect();
    let mut out = Vec::new();
    // Poll all at once: spawn-free join through a simple select loop.
    let mut pending: Vec<_> = handles.into_iter().map(Some).collect();
    std::future::poll_fn(|cx| {
        let mut done = true;
        for slot in pending.iter_mut() {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(r) => {
                        out.push(r);
                        *slot = None;
                    }
                    std::task::Poll::Pending => done = false,
                }
            }
        }
        if done {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    out
}
