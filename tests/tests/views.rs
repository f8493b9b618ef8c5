//! View definitions (`spec/views.md`, everything but execution), through the router.

use e2e::{Res, TestEnv};
use serde_json::{json, Value};

/// A platform with an admin, a project and the collection `order` (`title`, `qty`, `status`).
struct Fixture {
    env: TestEnv,
    token: String,
    pid: String,
    order_id: String,
}

impl Fixture {
    async fn start() -> Self {
        let env = TestEnv::start().await;
        let token = env.admin("ada@example.com").await;
        let pid = env.project(&token, "Shop").await;
        env.collection(&token, &pid, "order").await;
        for (name, ty) in [("title", "string"), ("qty", "int"), ("status", "string")] {
            env.field(&token, &pid, "order", name, ty).await;
        }
        let c = env
            .call(
                "GET",
                &format!("/api/projects/{pid}/schema/collections/order"),
                Some(&token),
                None,
            )
            .await;
        let order_id = c.body["id"].as_str().unwrap().to_owned();
        Fixture {
            env,
            token,
            pid,
            order_id,
        }
    }

    /// Calls `/api/projects/{pid}/views{rest}` as the admin.
    async fn views(&self, method: &str, rest: &str, body: Option<Value>) -> Res {
        let path = format!("/api/projects/{}/views{rest}", self.pid);
        self.env.call(method, &path, Some(&self.token), body).await
    }

    /// A valid create body for a view named `name` over `order`.
    fn body(&self, name: &str) -> Value {
        json!({"name": name, "display_name": "Active Orders", "base_collection_id": self.order_id})
    }

    /// The create body with `key` replaced.
    fn body_with(&self, name: &str, key: &str, value: Value) -> Value {
        let mut b = self.body(name);
        b[key] = value;
        b
    }
}

fn status_detail(res: &Res) -> (u16, String) {
    (res.status, res.detail())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_are_created_listed_updated_versioned_and_deleted() {
    let fx = Fixture::start().await;
    let body = json!({
        "name": "active_orders", "display_name": "Active Orders", "description": "Open ones",
        "base_collection_id": fx.order_id,
        "projection": ["id", "title", "created_at"],
        "filters": [{"field": "status", "operator": "=", "value": "a"}],
        "sorts": [{"field": "created_at", "desc": true}],
        "joins": [], "params_schema": {}, "default_limit": 5000
    });
    let created = fx.views("POST", "", Some(body)).await;
    assert_eq!(created.status, 201, "{created:?}");
    let v = &created.body;
    assert_eq!(v["version"], 1);
    assert_eq!(v["is_active"], true);
    assert_eq!(v["name"], "active_orders");
    assert_eq!(v["description"], "Open ones");
    assert_eq!(v["base_collection_id"], fx.order_id.as_str());
    assert_eq!(v["projection"], json!(["id", "title", "created_at"]));
    assert_eq!(
        v["filters"],
        json!([{"field": "status", "operator": "=", "value": "a", "is_param": false, "param_name": null}])
    );
    assert_eq!(
        v["sorts"],
        json!([{"field": "created_at", "desc": true, "is_param": false, "param_name": null,
                "desc_is_param": false, "desc_param_name": null}])
    );
    assert_eq!(
        (&v["joins"], &v["params_schema"]),
        (&Value::Null, &Value::Null)
    );
    assert_eq!(
        (v["default_limit"].as_i64(), v["max_limit"].as_i64()),
        (Some(1000), Some(1000))
    );
    for key in ["id", "display_name", "created_at", "updated_at"] {
        assert!(v.get(key).is_some(), "{key} missing in {v}");
    }

    // A second view, with a join and params; list is ordered by name.
    let second = json!({
        "name": "a_first", "display_name": "First", "base_collection_id": fx.order_id,
        "joins": [{"collection_id": fx.order_id, "on_field": "qty"}],
        "params_schema": {"q": {"type": "string"}}
    });
    let res = fx.views("POST", "", Some(second)).await;
    assert_eq!(res.status, 201, "{res:?}");
    assert_eq!(
        res.body["joins"],
        json!([{"collection_id": fx.order_id, "on_field": "qty", "target_field": "id", "type": "left"}])
    );
    assert_eq!(res.body["projection"], Value::Null);
    let list = fx.views("GET", "", None).await;
    assert_eq!(list.status, 200);
    let names: Vec<&str> = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a_first", "active_orders"]);

    let got = fx.views("GET", "/active_orders", None).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, created.body);
    assert_eq!(
        status_detail(&fx.views("GET", "/nonexistent", None).await),
        (404, "View not found".into())
    );

    // Every PATCH is a new version, even an empty one.
    let patch = json!({"display_name": "Updated View", "filters": [{"field": "id", "operator": "=", "value": 1}]});
    let p1 = fx.views("PATCH", "/active_orders", Some(patch)).await;
    assert_eq!(p1.status, 200, "{p1:?}");
    assert_eq!(p1.body["version"], 2);
    assert_eq!(p1.body["display_name"], "Updated View");
    assert_eq!(p1.body["filters"][0]["field"], "id");
    assert_eq!(p1.body["projection"], created.body["projection"]);
    let p2 = fx.views("PATCH", "/active_orders", Some(json!({}))).await;
    assert_eq!((p2.status, p2.body["version"].as_i64()), (200, Some(3)));
    assert_eq!(p2.body["display_name"], "Updated View");
    let versions = fx.views("GET", "/active_orders/versions", None).await;
    assert_eq!(versions.status, 200);
    let list = versions.body.as_array().unwrap();
    let nums: Vec<i64> = list
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(nums, [3, 2, 1]);
    assert_eq!(list[2]["filters"][0]["field"], "status");
    assert_eq!(list[1]["filters"][0]["field"], "id");
    assert_eq!(list[0]["view_id"], created.body["id"]);
    assert!(list[0]["created_by_user_id"].is_string());
    for key in [
        "id",
        "projection",
        "sorts",
        "joins",
        "params_schema",
        "created_at",
    ] {
        assert!(list[0].get(key).is_some(), "{key} missing");
    }

    // `[]` clears, `display_name: ""` is ignored, `{}` clears params.
    let p3 = fx
        .views(
            "PATCH",
            "/active_orders",
            Some(json!({"filters": [], "sorts": [], "projection": [], "display_name": ""})),
        )
        .await;
    assert_eq!(p3.status, 200, "{p3:?}");
    assert_eq!(p3.body["version"], 4);
    assert_eq!(p3.body["display_name"], "Updated View");
    for key in ["filters", "sorts", "projection"] {
        assert_eq!(p3.body[key], Value::Null, "{key}");
    }
    let p4 = fx
        .views("PATCH", "/a_first", Some(json!({"params_schema": {}})))
        .await;
    assert_eq!(p4.body["params_schema"], Value::Null);

    // PATCH errors.
    assert_eq!(
        status_detail(
            &fx.views("PATCH", "/nonexistent", Some(json!({"display_name": "x"})))
                .await
        ),
        (404, "View not found".into())
    );
    let bad_op = json!({"filters": [{"field": "id", "operator": "like"}]});
    assert_eq!(
        status_detail(&fx.views("PATCH", "/active_orders", Some(bad_op)).await),
        (400, "Invalid operator: like".into())
    );
    let bad_sort = json!({"sorts": [{"field": "nope"}]});
    let res = fx.views("PATCH", "/active_orders", Some(bad_sort)).await;
    assert_eq!(res.status, 400);
    assert!(res.detail().contains("nope"), "{res:?}");
    assert_eq!(
        fx.views("PATCH", "/active_orders", Some(json!({"filters": "x"})))
            .await
            .status,
        422
    );
    let unchanged = fx.views("GET", "/active_orders", None).await;
    assert_eq!(unchanged.body["version"], 4);

    // Soft delete: gone, name reusable, starting again at version 1.
    let del = fx.views("DELETE", "/active_orders", None).await;
    assert_eq!(del.status, 204, "{del:?}");
    assert_eq!(fx.views("GET", "/active_orders", None).await.status, 404);
    assert_eq!(
        fx.views("GET", "/active_orders/versions", None)
            .await
            .status,
        404
    );
    assert_eq!(fx.views("DELETE", "/active_orders", None).await.status, 404);
    let names: Vec<String> = fx
        .views("GET", "", None)
        .await
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["a_first"]);
    let again = fx.views("POST", "", Some(fx.body("active_orders"))).await;
    assert_eq!(again.status, 201, "{again:?}");
    assert_eq!(again.body["version"], 1);
    assert_ne!(again.body["id"], created.body["id"]);
    let versions = fx.views("GET", "/active_orders/versions", None).await;
    assert_eq!(versions.body.as_array().unwrap().len(), 1);

    fx.env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn view_requests_are_checked_in_contract_order() {
    let fx = Fixture::start().await;
    let path = format!("/api/projects/{}/views", fx.pid);

    // 401 before 404 before 422.
    let anon = fx.env.call("POST", &path, None, Some(fx.body("v"))).await;
    assert_eq!(status_detail(&anon), (401, "Not authenticated".into()));
    assert_eq!(fx.env.call("GET", &path, None, None).await.status, 401);
    assert_eq!(
        fx.env
            .call("GET", &format!("{path}/operators"), None, None)
            .await
            .status,
        401
    );
    let other = format!("/api/projects/{}/views", uuid::Uuid::new_v4());
    let res = fx
        .env
        .call("POST", &other, Some(&fx.token), Some(json!({})))
        .await;
    assert_eq!(status_detail(&res), (404, "Project not found".into()));
    let stranger = fx.env.admin("eve@example.com").await;
    let res = fx.env.call("GET", &path, Some(&stranger), None).await;
    assert_eq!(status_detail(&res), (404, "Project not found".into()));
    let res = fx
        .env
        .call("GET", &format!("{path}/x"), Some(&stranger), None)
        .await;
    assert_eq!(status_detail(&res), (404, "Project not found".into()));

    // 422: shape.
    let no_name = json!({"display_name": "V", "base_collection_id": fx.order_id});
    let res = fx.views("POST", "", Some(no_name)).await;
    assert_eq!(res.status, 422, "{res:?}");
    assert_eq!(res.body["detail"][0]["loc"], json!(["body", "name"]));
    for (key, value) in [
        ("name", json!("")),
        ("name", json!("a".repeat(64))),
        ("display_name", json!("")),
        ("filters", json!([{"operator": "="}])),
        ("sorts", json!([{"desc": true}])),
        ("joins", json!([{"collection_id": "c"}])),
        ("projection", json!("id")),
        ("params_schema", json!([1])),
        ("default_limit", json!("many")),
    ] {
        let res = fx
            .views("POST", "", Some(fx.body_with("v", key, value.clone())))
            .await;
        assert_eq!(res.status, 422, "{key}={value}: {res:?}");
    }

    // 400s, in the contract's order.
    assert_eq!(
        status_detail(&fx.views("POST", "", Some(fx.body("select"))).await),
        (400, "Invalid view name: select".into())
    );
    assert_eq!(
        fx.views("POST", "", Some(fx.body("Bad Name"))).await.status,
        400
    );
    assert_eq!(fx.views("POST", "", Some(fx.body("v"))).await.status, 201);
    let dup = fx
        .views(
            "POST",
            "",
            Some(fx.body_with("v", "base_collection_id", json!("nope"))),
        )
        .await;
    assert_eq!(
        status_detail(&dup),
        (400, "View with name 'v' already exists".into())
    );
    for base in [json!("not-a-uuid"), json!(uuid::Uuid::new_v4())] {
        let res = fx
            .views(
                "POST",
                "",
                Some(fx.body_with("w", "base_collection_id", base)),
            )
            .await;
        assert_eq!(
            status_detail(&res),
            (400, "Base collection not found".into())
        );
    }
    let filter = json!({"field": "title", "operator": "bogus"});
    let join = json!({"collection_id": fx.order_id, "on_field": "qty"});
    let mut many = fx.body_with("w", "filters", json!(vec![filter.clone(); 21]));
    many["joins"] = json!([join, join]);
    assert_eq!(
        status_detail(&fx.views("POST", "", Some(many.clone())).await),
        (400, "Too many filters. Maximum is 20".into())
    );
    many["filters"] = json!(vec![filter; 20]);
    assert_eq!(
        status_detail(&fx.views("POST", "", Some(many.clone())).await),
        (400, "Too many joins. Maximum is 1 in v1".into())
    );
    many["joins"] = json!([join]);
    assert_eq!(
        status_detail(&fx.views("POST", "", Some(many)).await),
        (400, "Invalid operator: bogus".into())
    );

    // Columns must be the base collection's (visible fields and system columns).
    for (key, value, unknown) in [
        ("projection", json!(["title", "secret"]), "secret"),
        (
            "filters",
            json!([{"field": "colour", "operator": "="}]),
            "colour",
        ),
        ("sorts", json!([{"field": "rank"}]), "rank"),
    ] {
        let res = fx
            .views("POST", "", Some(fx.body_with("w", key, value)))
            .await;
        assert_eq!(res.status, 400, "{res:?}");
        assert!(res.detail().contains(unknown), "{res:?}");
    }
    let system = json!([
        "id",
        "created_at",
        "updated_at",
        "created_by_user_id",
        "created_by_app_user_id",
        "qty"
    ]);
    let res = fx
        .views("POST", "", Some(fx.body_with("sys", "projection", system)))
        .await;
    assert_eq!(res.status, 201, "{res:?}");
    let users = fx
        .env
        .call(
            "GET",
            &format!("/api/projects/{}/schema/collections/_users", fx.pid),
            Some(&fx.token),
            None,
        )
        .await;
    let mut hidden = fx.body_with("u", "base_collection_id", users.body["id"].clone());
    hidden["projection"] = json!(["email", "password_hash"]);
    let res = fx.views("POST", "", Some(hidden)).await;
    assert_eq!(res.status, 400, "{res:?}");
    assert!(res.detail().contains("password_hash"), "{res:?}");

    // Limits.
    for key in ["default_limit", "max_limit"] {
        let res = fx
            .views("POST", "", Some(fx.body_with("w", key, json!(0))))
            .await;
        assert_eq!(
            status_detail(&res),
            (400, format!("{key} must be at least 1"))
        );
    }
    let res = fx
        .views(
            "POST",
            "",
            Some(fx.body_with("w", "default_limit", json!(20))),
        )
        .await;
    assert_eq!(res.body["default_limit"], 20);

    fx.env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_and_meta_document_views() {
    let fx = Fixture::start().await;

    let ops = fx.views("GET", "/operators", None).await;
    assert_eq!(ops.status, 200, "{ops:?}");
    let list = ops.body["operators"].as_array().unwrap();
    assert!(list.len() >= 10);
    assert_eq!(
        list[0],
        json!({"value": "=", "label": "Equals", "types": ["all"]})
    );

    // A view named `operators` is shadowed for GET only.
    let res = fx.views("POST", "", Some(fx.body("operators"))).await;
    assert_eq!(res.status, 201, "{res:?}");
    assert!(fx.views("GET", "/operators", None).await.body["operators"].is_array());
    let res = fx
        .views(
            "PATCH",
            "/operators",
            Some(json!({"description": "shadowed"})),
        )
        .await;
    assert_eq!((res.status, res.body["version"].as_i64()), (200, Some(2)));
    let meta = fx.views("GET", "/operators/meta", None).await;
    assert_eq!(
        (meta.status, meta.body["view_name"].as_str()),
        (200, Some("operators"))
    );
    assert_eq!(fx.views("DELETE", "/operators", None).await.status, 204);

    let body = json!({
        "name": "by_status", "display_name": "By Status", "description": "Orders by status",
        "base_collection_id": fx.order_id, "projection": ["id", "title", "qty"],
        "filters": [{"field": "status", "operator": "=", "is_param": true, "param_name": "status"}],
        "sorts": [{"field": "qty", "desc": true}],
        "params_schema": {"status": {"type": "string", "required": true, "example": "open"},
                          "page_size": {"type": "limit"}},
        "default_limit": 25, "max_limit": 200
    });
    assert_eq!(fx.views("POST", "", Some(body)).await.status, 201);
    let m = fx.views("GET", "/by_status/meta", None).await;
    assert_eq!(m.status, 200, "{m:?}");
    let m = &m.body;
    assert_eq!(m["view_name"], "by_status");
    assert_eq!(m["display_name"], "By Status");
    assert_eq!(m["description"], "Orders by status");
    assert_eq!(m["base_collection"], "order");
    assert_eq!(m["endpoint"]["method"], "POST");
    let url = m["endpoint"]["url"].as_str().unwrap();
    assert_eq!(
        url,
        format!("/api/projects/{}/views/by_status/execute", fx.pid)
    );
    assert!(m["endpoint"]["auth"].is_array());
    assert_eq!(
        m["request"]["body"]["limit"],
        json!({"type": "int", "default": 25, "max": 200, "description": "Number of records to return"})
    );
    assert_eq!(m["request"]["body"]["offset"]["default"], 0);
    assert_eq!(
        m["request"]["body"]["params"]["fields"],
        json!([
            {"name": "page_size", "type": "limit", "required": false, "description": "", "example": ""},
            {"name": "status", "type": "string", "required": true, "description": "", "example": "open"}
        ])
    );
    assert_eq!(
        m["response"]["fields"],
        json!([
            {"name": "id", "type": "system", "display_name": "Id"},
            {"name": "title", "type": "string", "display_name": "title"},
            {"name": "qty", "type": "int", "display_name": "qty"}
        ])
    );
    assert_eq!(
        m["response"]["pagination"],
        json!({"type": "offset", "default_limit": 25, "max_limit": 200})
    );
    assert_eq!(
        m["filters"]["allowed_fields"],
        json!(["title", "qty", "status", "id", "created_at", "updated_at"])
    );
    assert_eq!(m["filters"]["operators"].as_array().unwrap().len(), 13);
    assert_eq!(m["filters"]["predefined"][0]["param_name"], "status");
    assert_eq!(m["sorts"]["default"]["field"], "qty");
    assert_eq!(m["sorts"]["predefined"][0]["desc"], true);
    assert!(m["examples"]["curl"].as_str().unwrap().contains(url));
    assert!(m["examples"]["fetch"].is_string());

    assert_eq!(
        status_detail(&fx.views("GET", "/nonexistent/meta", None).await),
        (404, "View not found".into())
    );

    fx.env.shutdown().await;
}
