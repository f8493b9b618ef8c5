//! Field validation rules (`spec/validations.md`), through the router: rule CRUD and rule types
//! on the control plane, and checking records with the validate endpoint on the workers, which
//! see every rule change as soon as the admin call returns.

use e2e::{Res, TestEnv};
use serde_json::{json, Value};

/// A platform with an admin, a project and the collection `order` (`email`, `title`, `status`,
/// `qty`, `price`, and `buyer`, a relation to `customer`).
struct Fixture {
    env: TestEnv,
    token: String,
    pid: String,
}

impl Fixture {
    async fn start() -> Self {
        let env = TestEnv::start().await;
        let token = env.admin("ada@example.com").await;
        let pid = env.project(&token, "Shop").await;
        env.collection(&token, &pid, "customer").await;
        env.collection(&token, &pid, "order").await;
        for (name, ty) in [
            ("email", "string"),
            ("title", "string"),
            ("status", "string"),
            ("qty", "int"),
            ("price", "float"),
        ] {
            env.field(&token, &pid, "order", name, ty).await;
        }
        let fx = Fixture { env, token, pid };
        let ids = fx.call("GET", "/schema/collections", None).await.body;
        let id_of = |name: &str| {
            ids.as_array()
                .unwrap()
                .iter()
                .find(|c| c["name"] == name)
                .unwrap()["id"]
                .clone()
        };
        let relation = json!({"name": "buyer", "display_name": "Buyer",
                              "target_collection_id": id_of("customer")});
        let order = id_of("order");
        let path = format!(
            "/schema/relations/collections/{}/relations",
            order.as_str().unwrap()
        );
        let res = fx.call("POST", &path, Some(relation)).await;
        assert_eq!(res.status, 201, "{res:?}");
        fx
    }

    /// Calls `/api/projects/{pid}{rest}` as the admin.
    async fn call(&self, method: &str, rest: &str, body: Option<Value>) -> Res {
        let path = format!("/api/projects/{}{rest}", self.pid);
        self.env.call(method, &path, Some(&self.token), body).await
    }

    fn rules_path(field: &str) -> String {
        format!("/validations/collections/order/fields/{field}/rules")
    }

    /// Adds a rule to a field of `order`; asserts 201 and returns the rule.
    async fn rule(&self, field: &str, body: Value) -> Value {
        let res = self
            .call("POST", &Self::rules_path(field), Some(body))
            .await;
        assert_eq!(res.status, 201, "{res:?}");
        res.body
    }

    /// Lists the rule types of a field's active rules.
    async fn listed(&self, field: &str) -> Vec<String> {
        let res = self.call("GET", &Self::rules_path(field), None).await;
        assert_eq!(res.status, 200, "{res:?}");
        res.body
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["rule_type"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Validates `data` against `order`; asserts 200 and returns the body.
    async fn validate(&self, data: Value) -> Value {
        let path = "/validations/collections/order/validate";
        let res = self.call("POST", path, Some(json!({ "data": data }))).await;
        assert_eq!(res.status, 200, "{res:?}");
        res.body
    }
}

fn status_detail(res: &Res) -> (u16, String) {
    (res.status, res.detail())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_are_created_listed_updated_and_deleted() {
    let fx = Fixture::start().await;
    let fields = fx
        .call("GET", "/schema/collections/order/fields", None)
        .await
        .body;
    let email_id = fields
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "email")
        .unwrap()["id"]
        .clone();

    // An email rule with a custom message.
    let email = fx
        .rule(
            "email",
            json!({"rule_type": "email", "error_message": "Please enter a valid email"}),
        )
        .await;
    assert_eq!(email["rule_type"], "email");
    assert_eq!(email["field_id"], email_id);
    assert_eq!(email["error_message"], "Please enter a valid email");
    assert_eq!(
        (&email["config"], &email["priority"], &email["is_active"]),
        (&Value::Null, &json!(0), &json!(true))
    );
    for key in ["id", "created_at", "updated_at"] {
        assert!(email[key].is_string(), "{key} in {email}");
    }

    // Length rules keep their config; `not_empty` needs none, and `{}` is stored as null.
    let min = fx
        .rule(
            "title",
            json!({"rule_type": "min_length", "config": {"min": 3}, "priority": 5}),
        )
        .await;
    assert_eq!(min["config"], json!({"min": 3}));
    let max = fx
        .rule(
            "title",
            json!({"rule_type": "max_length", "config": {"max": 100}, "priority": 1}),
        )
        .await;
    assert_eq!(max["config"], json!({"max": 100}));
    let not_empty = fx
        .rule("title", json!({"rule_type": "not_empty", "priority": 1}))
        .await;
    assert_eq!(not_empty["config"], Value::Null);
    assert_eq!(not_empty["error_message"], Value::Null);
    let uuid = fx
        .rule("status", json!({"rule_type": "uuid", "config": {}}))
        .await;
    assert_eq!(uuid["config"], Value::Null);
    let res = fx
        .call(
            "DELETE",
            &format!("/validations/rules/{}", uuid["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(res.status, 204);

    // Listed by priority, then creation.
    assert_eq!(
        fx.listed("title").await,
        ["max_length", "not_empty", "min_length"]
    );
    assert_eq!(fx.listed("email").await, ["email"]);
    assert!(fx.listed("status").await.is_empty());

    // PATCH: config and message (numbers as given), `{}` clears, deactivated rules leave the list.
    let price = fx
        .rule(
            "price",
            json!({"rule_type": "min_value", "config": {"min": 1}}),
        )
        .await;
    let one = |r: &Value| format!("/validations/rules/{}", r["id"].as_str().unwrap());
    let patch = json!({"config": {"min": 0.01}, "error_message": "Price must be positive"});
    let res = fx.call("PATCH", &one(&price), Some(patch)).await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(res.body["config"]["min"], json!(0.01));
    assert_eq!(res.body["error_message"], "Price must be positive");
    assert_eq!(res.body["rule_type"], "min_value");
    assert_eq!(res.body["created_at"], price["created_at"]);
    let res = fx
        .call(
            "PATCH",
            &one(&price),
            Some(json!({"config": {}, "rule_type": "email"})),
        )
        .await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(res.body["config"], Value::Null);
    assert_eq!(res.body["rule_type"], "min_value", "the type never changes");
    assert_eq!(res.body["error_message"], "Price must be positive");
    let res = fx
        .call(
            "PATCH",
            &one(&min),
            Some(json!({"is_active": false, "priority": 0})),
        )
        .await;
    assert_eq!(
        (res.status, &res.body["is_active"], &res.body["priority"]),
        (200, &json!(false), &json!(0))
    );
    assert_eq!(fx.listed("title").await, ["max_length", "not_empty"]);
    let res = fx
        .call("PATCH", &one(&min), Some(json!({"is_active": true})))
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(
        fx.listed("title").await,
        ["min_length", "max_length", "not_empty"]
    );

    // DELETE, then it is gone.
    let res = fx.call("DELETE", &one(&not_empty), None).await;
    assert_eq!((res.status, &res.body), (204, &Value::Null));
    assert_eq!(fx.listed("title").await, ["min_length", "max_length"]);
    for (method, body) in [("PATCH", Some(json!({"priority": 1}))), ("DELETE", None)] {
        let res = fx.call(method, &one(&not_empty), body).await;
        assert_eq!(status_detail(&res), (404, "Rule not found".into()));
    }
    let res = fx
        .call("PATCH", "/validations/rules/not-a-uuid", Some(json!({})))
        .await;
    assert_eq!(status_detail(&res), (404, "Rule not found".into()));

    // A rule of another project of the same admin is not found through this one.
    let other = fx.env.project(&fx.token, "Other").await;
    let path = format!(
        "/api/projects/{other}/validations/rules/{}",
        email["id"].as_str().unwrap()
    );
    let res = fx.env.call("DELETE", &path, Some(&fx.token), None).await;
    assert_eq!(status_detail(&res), (404, "Rule not found".into()));
    assert_eq!(fx.listed("email").await, ["email"]);

    // Settings that could never work are refused on PATCH too.
    let res = fx
        .call("PATCH", &one(&max), Some(json!({"config": {"max": "100"}})))
        .await;
    assert_eq!(
        status_detail(&res),
        (
            400,
            "Invalid config for rule type 'max_length': 'max' must be a number".into()
        )
    );

    fx.env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_requests_are_checked_in_the_contracts_order() {
    let fx = Fixture::start().await;
    let post = |path: String, body: Value| {
        let fx = &fx;
        async move { fx.call("POST", &path, Some(body)).await }
    };
    let email = json!({"rule_type": "email"});

    // Who: no token 401, a non-member 404, before anything else.
    let path = format!("/api/projects/{}/validations/rule-types", fx.pid);
    let res = fx.env.call("GET", &path, None, None).await;
    assert_eq!(status_detail(&res), (401, "Not authenticated".into()));
    let stranger = fx.env.admin("eve@example.com").await;
    let res = fx.env.call("GET", &path, Some(&stranger), None).await;
    assert_eq!(status_detail(&res), (404, "Project not found".into()));
    let rules = format!("/api/projects/{}{}", fx.pid, Fixture::rules_path("email"));
    let res = fx
        .env
        .call("POST", &rules, Some(&stranger), Some(email.clone()))
        .await;
    assert_eq!(status_detail(&res), (404, "Project not found".into()));

    // The body's shape (422) comes before the lookups.
    let res = post(
        "/validations/collections/nope/fields/email/rules".into(),
        json!({"config": {}}),
    )
    .await;
    assert_eq!(res.status, 422, "{res:?}");
    let res = post(
        Fixture::rules_path("email"),
        json!({"rule_type": "email", "config": "{}"}),
    )
    .await;
    assert_eq!(res.status, 422, "{res:?}");
    assert_eq!(res.body["detail"][0]["loc"], json!(["body", "config"]));

    // Then collection, field, rule type, field type, settings.
    let res = post(
        "/validations/collections/nope/fields/email/rules".into(),
        email.clone(),
    )
    .await;
    assert_eq!(status_detail(&res), (404, "Collection not found".into()));
    let res = post(Fixture::rules_path("nope"), json!({"rule_type": "bogus"})).await;
    assert_eq!(status_detail(&res), (404, "Field not found".into()));
    let res = post(Fixture::rules_path("email"), json!({"rule_type": "bogus"})).await;
    assert_eq!(
        status_detail(&res),
        (
            400,
            "Invalid rule type: bogus. Valid types: ['min_length', 'max_length', 'regex', 'email', \
             'url', 'min_value', 'max_value', 'range', 'enum', 'not_empty', 'uuid', 'date_format', \
             'custom_regex']"
                .into()
        )
    );
    let res = post(Fixture::rules_path("qty"), email.clone()).await;
    assert_eq!(
        status_detail(&res),
        (
            400,
            "Rule type 'email' cannot be applied to field type 'int'".into()
        )
    );
    let res = post(
        Fixture::rules_path("buyer"),
        json!({"rule_type": "min_value"}),
    )
    .await;
    assert_eq!(
        status_detail(&res),
        (
            400,
            "Rule type 'min_value' cannot be applied to field type 'relation'".into()
        )
    );
    let res = post(
        Fixture::rules_path("title"),
        json!({"rule_type": "regex", "config": {"pattern": "^(?!admin)\\w+$"}}),
    )
    .await;
    assert_eq!(res.status, 400, "{res:?}");
    let detail = res.detail();
    assert!(
        detail.contains("does not compile with the Rust regex crate")
            && detail.contains("look-around"),
        "{detail}"
    );
    let res = post(
        Fixture::rules_path("status"),
        json!({"rule_type": "enum", "config": {"values": "pending,shipped"}}),
    )
    .await;
    assert_eq!(
        status_detail(&res),
        (
            400,
            "Invalid config for rule type 'enum': 'values' must be a list".into()
        )
    );
    let res = post(
        Fixture::rules_path("title"),
        json!({"rule_type": "date_format", "config": {"format": "YYYY-MM-DD %Q"}}),
    )
    .await;
    assert_eq!(res.status, 400, "{res:?}");
    // `enum` applies to int fields as well; none of the refused rules was stored.
    fx.rule(
        "qty",
        json!({"rule_type": "enum", "config": {"values": [1, 2]}}),
    )
    .await;
    for field in ["title", "status", "buyer", "email"] {
        assert!(fx.listed(field).await.is_empty(), "{field}");
    }

    // Rule types: every one, in the contract's order, with its config schema.
    let res = fx.call("GET", "/validations/rule-types", None).await;
    assert_eq!(res.status, 200, "{res:?}");
    let types = res.body["rule_types"].as_array().unwrap();
    let names: Vec<&str> = types.iter().map(|t| t["type"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "min_length",
            "max_length",
            "regex",
            "email",
            "url",
            "min_value",
            "max_value",
            "range",
            "enum",
            "not_empty",
            "uuid",
            "date_format",
            "custom_regex"
        ]
    );
    assert_eq!(
        types[0],
        json!({"type": "min_length", "applies_to": ["string"], "config_schema": {"min": "int"}})
    );
    assert_eq!(
        types[7],
        json!({"type": "range", "applies_to": ["int", "float"],
               "config_schema": {"min": "number", "max": "number"}})
    );
    assert_eq!(types[8]["applies_to"], json!(["string", "int"]));
    assert_eq!(
        types[12]["config_schema"],
        json!({"pattern": "str", "flags": "str"})
    );

    fx.env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_are_validated_against_the_active_rules() {
    let fx = Fixture::start().await;
    let valid = |body: &Value| body["is_valid"] == json!(true);

    // Email.
    fx.rule("email", json!({"rule_type": "email"})).await;
    let ok = fx.validate(json!({"email": "test@example.com"})).await;
    assert_eq!(ok, json!({"is_valid": true, "errors": {}}));
    let bad = fx.validate(json!({"email": "not-an-email"})).await;
    assert_eq!(
        bad,
        json!({"is_valid": false, "errors": {"email": ["Invalid email format"]}})
    );

    // Lengths.
    fx.rule(
        "title",
        json!({"rule_type": "min_length", "config": {"min": 5}}),
    )
    .await;
    fx.rule(
        "title",
        json!({"rule_type": "max_length", "config": {"max": 100}}),
    )
    .await;
    let short = fx.validate(json!({"title": "Hi"})).await;
    assert_eq!(
        short["errors"],
        json!({"title": ["Must be at least 5 characters"]})
    );
    assert!(valid(&fx.validate(json!({"title": "Hello World"})).await));

    // Enum.
    fx.rule(
        "status",
        json!({"rule_type": "enum", "config": {"values": ["pending", "shipped", "delivered"]}}),
    )
    .await;
    assert!(valid(&fx.validate(json!({"status": "pending"})).await));
    let cancelled = fx.validate(json!({"status": "cancelled"})).await;
    assert_eq!(
        cancelled["errors"],
        json!({"status": ["Must be one of: pending, shipped, delivered"]})
    );

    // Range on an int field; a text that is no number fails with the reason.
    let range = fx
        .rule(
            "qty",
            json!({"rule_type": "range", "config": {"min": 1, "max": 5}}),
        )
        .await;
    assert!(valid(&fx.validate(json!({"qty": 3})).await));
    let ten = fx.validate(json!({"qty": 10})).await;
    assert_eq!(ten["errors"], json!({"qty": ["Must be between 1 and 5"]}));
    let abc = fx.validate(json!({"qty": "abc"})).await;
    let reason = abc["errors"]["qty"][0].as_str().unwrap();
    assert!(reason.starts_with("Validation error: "), "{reason}");

    // Every failing field and rule at once; nulls and absent fields pass.
    let all = fx
        .validate(json!({"email": "x", "title": "Hi", "status": "lost", "qty": 0, "price": null}))
        .await;
    assert_eq!(
        all,
        json!({"is_valid": false, "errors": {
            "email": ["Invalid email format"],
            "title": ["Must be at least 5 characters"],
            "status": ["Must be one of: pending, shipped, delivered"],
            "qty": ["Must be between 1 and 5"],
        }})
    );
    assert!(valid(
        &fx.validate(json!({"email": null, "qty": null})).await
    ));
    assert!(valid(&fx.validate(json!({})).await));

    // Prefix patterns with flags, custom messages and priority order.
    fx.rule(
        "price",
        json!({"rule_type": "max_value", "config": {"max": 99.5}, "priority": 2}),
    )
    .await;
    fx.rule(
        "price",
        json!({"rule_type": "min_value", "config": {"min": 0.01}, "priority": 1,
               "error_message": "Price must be positive"}),
    )
    .await;
    let price = fx.validate(json!({"price": -1})).await;
    assert_eq!(
        price["errors"],
        json!({"price": ["Price must be positive"]})
    );
    let price = fx.validate(json!({"price": 100})).await;
    assert_eq!(price["errors"], json!({"price": ["Must be at most 99.5"]}));
    fx.rule(
        "title",
        json!({"rule_type": "custom_regex", "config": {"pattern": "order", "flags": "i"}}),
    )
    .await;
    assert!(valid(&fx.validate(json!({"title": "ORDER #12345"})).await));
    let later = fx.validate(json!({"title": "My order #1"})).await;
    assert_eq!(
        later["errors"],
        json!({"title": ["Does not match required pattern"]})
    );

    // A deactivated or deleted rule stops applying as soon as the call returns.
    let rule = format!("/validations/rules/{}", range["id"].as_str().unwrap());
    let res = fx
        .call("PATCH", &rule, Some(json!({"is_active": false})))
        .await;
    assert_eq!(res.status, 200);
    assert!(valid(&fx.validate(json!({"qty": 10})).await));
    let res = fx
        .call("PATCH", &rule, Some(json!({"is_active": true})))
        .await;
    assert_eq!(res.status, 200);
    assert!(!valid(&fx.validate(json!({"qty": 10})).await));
    let res = fx.call("DELETE", &rule, None).await;
    assert_eq!(res.status, 204);
    assert!(valid(&fx.validate(json!({"qty": 10})).await));

    // Errors: body shape 422, unknown collection 404, admins only.
    let path = "/validations/collections/order/validate";
    for body in [json!({}), json!({"data": [1]}), json!({"data": null})] {
        let res = fx.call("POST", path, Some(body.clone())).await;
        assert_eq!(res.status, 422, "{body}: {res:?}");
        assert_eq!(res.body["detail"][0]["loc"], json!(["body", "data"]));
    }
    let res = fx
        .call(
            "POST",
            "/validations/collections/nope/validate",
            Some(json!({"data": {}})),
        )
        .await;
    assert_eq!(status_detail(&res), (404, "Collection not found".into()));
    let full = format!("/api/projects/{}{path}", fx.pid);
    let res = fx
        .env
        .call("POST", &full, None, Some(json!({"data": {}})))
        .await;
    assert_eq!(status_detail(&res), (401, "Not authenticated".into()));
    let key = fx
        .call("POST", "/api-keys", Some(json!({"name": "app"})))
        .await
        .body["api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let req = fx
        .env
        .request("POST", &full)
        .header("x-api-key", key)
        .json(&json!({"data": {}}));
    assert_eq!(fx.env.send(req).await.status, 401);
    let stranger = fx.env.admin("eve@example.com").await;
    let res = fx
        .env
        .call("POST", &full, Some(&stranger), Some(json!({"data": {}})))
        .await;
    assert_eq!(status_detail(&res), (404, "Project not found".into()));

    fx.env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_guard_creates_updates_and_batch_steps() {
    let fx = Fixture::start().await;
    fx.rule(
        "email",
        json!({"rule_type": "email", "error_message": "Bad email"}),
    )
    .await;
    fx.rule(
        "qty",
        json!({"rule_type": "range", "config": {"min": 1, "max": 5}}),
    )
    .await;
    fx.rule(
        "title",
        json!({"rule_type": "min_length", "config": {"min": 3}}),
    )
    .await;

    // Every failing field, every message, in the body the console reads.
    let res = fx
        .call(
            "POST",
            "/data/order",
            Some(json!({"email": "nope", "qty": 9, "title": "ok title"})),
        )
        .await;
    assert_eq!(res.status, 400, "{res:?}");
    assert_eq!(
        res.body["detail"]["validation_errors"],
        json!({"email": ["Bad email"], "qty": ["Must be between 1 and 5"]})
    );
    // Rules come before unknown keys (spec/data.md check order).
    let res = fx
        .call("POST", "/data/order", Some(json!({"qty": 0, "zzz": 1})))
        .await;
    assert_eq!(
        res.body["detail"]["validation_errors"]["qty"],
        json!(["Must be between 1 and 5"])
    );
    let res = fx
        .call(
            "POST",
            "/data/order",
            Some(json!({"email": "a@b.co", "qty": 2})),
        )
        .await;
    assert_eq!(res.status, 201, "{res:?}");
    let id = res.body["id"].clone();

    // An update checks only the keys it sends; a missing record is 404 before any rule.
    let res = fx
        .call(
            "PATCH",
            &format!("/data/order/{id}"),
            Some(json!({"status": "x"})),
        )
        .await;
    assert_eq!(res.status, 200, "{res:?}");
    let res = fx
        .call(
            "PATCH",
            &format!("/data/order/{id}"),
            Some(json!({"title": "ab"})),
        )
        .await;
    assert_eq!(
        res.body["detail"]["validation_errors"],
        json!({"title": ["Must be at least 3 characters"]})
    );
    let res = fx
        .call("PATCH", "/data/order/99999", Some(json!({"title": "ab"})))
        .await;
    assert_eq!(res.status, 404);

    // A batch stops at the failing step and writes nothing.
    let res = fx
        .call(
            "POST",
            "/data/_batch",
            Some(json!({"operations": [
                {"op": "create", "collection": "order", "data": {"qty": 3}},
                {"op": "update", "collection": "order", "id": id, "data": {"qty": 7}},
            ]})),
        )
        .await;
    assert_eq!(res.status, 400, "{res:?}");
    assert_eq!(res.body["operation"], 1);
    assert_eq!(
        res.body["detail"]["validation_errors"]["qty"],
        json!(["Must be between 1 and 5"])
    );
    let rows = fx.call("GET", "/data/order", None).await;
    assert_eq!(rows.body["total"], 1, "{rows:?}");
    assert_eq!(rows.body["records"][0]["qty"], 2);
    fx.env.shutdown().await;
}
