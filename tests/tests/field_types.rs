//! The `text`, `boolean` and `json` field types, through the router: creation, values in and out
//! (wrong types, NUL, huge and deeply nested values), filters and their refusals, sorting,
//! aggregates, views, policies, validations, type changes, schema documents and the OpenAPI
//! documents.

use e2e::{Res, TestEnv};
use serde_json::{json, Value};

struct P<'a> {
    env: &'a TestEnv,
    t: String,
    id: String,
}

impl P<'_> {
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Res {
        let path = format!("/api/projects/{}{path}", self.id);
        self.env.call(method, &path, Some(&self.t), body).await
    }

    async fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let res = self.call(method, path, body).await;
        assert!((200..300).contains(&res.status), "{method} {path}: {res:?}");
        res.body
    }

    async fn add_field(&self, coll: &str, body: Value) -> Res {
        self.call(
            "POST",
            &format!("/schema/collections/{coll}/fields"),
            Some(body),
        )
        .await
    }

    async fn list(&self, query: &str) -> Res {
        self.call("GET", &format!("/data/docs?{query}"), None).await
    }

    /// The `n` values of the listed records, in order.
    async fn names(&self, query: &str) -> Vec<i64> {
        let res = self.list(query).await;
        assert_eq!(res.status, 200, "{query}: {res:?}");
        res.body["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["n"].as_i64().unwrap())
            .collect()
    }

    async fn id_of(&self, path: &str) -> String {
        self.ok("GET", path, None).await["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

async fn setup<'a>(env: &'a TestEnv, who: &str) -> P<'a> {
    let t = env.admin(&format!("{who}@example.com")).await;
    let id = env.project(&t, who).await;
    P { env, t, id }
}

/// `docs` with `n` (int), `body` (text), `done` (boolean), `meta` (json).
async fn docs(p: &P<'_>) {
    p.env.collection(&p.t, &p.id, "docs").await;
    p.env.field(&p.t, &p.id, "docs", "n", "int").await;
    for (name, ty) in [("body", "text"), ("done", "boolean"), ("meta", "json")] {
        let res = p
            .add_field(
                "docs",
                json!({"name": name, "display_name": name, "field_type": ty}),
            )
            .await;
        assert_eq!(res.status, 201, "{ty}: {res:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_boolean_and_json_fields_are_created_with_canonical_types() {
    let env = TestEnv::start().await;
    let p = setup(&env, "create").await;
    docs(&p).await;
    let fields = p.ok("GET", "/schema/collections/docs/fields", None).await;
    let types: Vec<(&str, &str)> = fields
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap(),
                f["field_type"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        types,
        [
            ("n", "int"),
            ("body", "text"),
            ("done", "bool"),
            ("meta", "json")
        ]
    );

    // An unknown type names every creatable one.
    let res = p
        .add_field(
            "docs",
            json!({"name": "x", "display_name": "x", "field_type": "jsonb"}),
        )
        .await;
    assert_eq!(
        (res.status, res.detail()),
        (
            400,
            "Invalid field type. Must be one of: string, text, int, float, bool, date, datetime, uuid, json".into()
        )
    );
    // A json field cannot be unique; it can be indexed (GIN) and required with a JSON default.
    let res = p
        .add_field(
            "docs",
            json!({"name": "u", "display_name": "u", "field_type": "json", "is_unique": true}),
        )
        .await;
    assert_eq!(res.status, 400, "{res:?}");
    assert!(res.detail().contains("cannot be unique"), "{res:?}");
    let res = p
        .add_field(
            "docs",
            json!({"name": "tags", "display_name": "Tags", "field_type": "json",
            "is_required": true, "default_value": "{oops"}),
        )
        .await;
    assert_eq!(res.status, 400, "{res:?}");
    assert!(res.detail().contains("valid JSON"), "{res:?}");
    let res = p
        .add_field(
            "docs",
            json!({"name": "tags", "display_name": "Tags", "field_type": "json",
            "is_required": true, "default_value": "null"}),
        )
        .await;
    assert_eq!(res.status, 400, "{res:?}");
    assert!(res.detail().contains("null is SQL NULL"), "{res:?}");
    let res = p
        .add_field(
            "docs",
            json!({"name": "tags", "display_name": "Tags", "field_type": "json",
            "is_required": true, "is_indexed": true, "default_value": "[\"new\"]"}),
        )
        .await;
    assert_eq!(res.status, 201, "{res:?}");
    let rec = p.ok("POST", "/data/docs", Some(json!({"n": 1}))).await;
    assert_eq!(rec["tags"], json!(["new"]));
    // An explicit null for the required json field is refused, not stored as JSON null.
    let res = p
        .call("POST", "/data/docs", Some(json!({"tags": null})))
        .await;
    assert_eq!(res.status, 400, "{res:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_round_trip_and_bad_ones_are_400() {
    let env = TestEnv::start().await;
    let p = setup(&env, "values").await;
    docs(&p).await;

    let values = [
        json!({"tier": "gold", "tags": ["a", "b"], "n": 1.5, "ok": true, "none": null}),
        json!([1, "two", [3], {"four": 4}]),
        json!("just a string"),
        json!(""),
        json!("{\"not\": \"parsed\"}"),
        json!(42),
        json!(-0.25),
        json!(12345678901234567u64),
        json!(true),
        json!(false),
        json!({"ünï": "日本語 🎉", "esc": "quote \" backslash \\ tab \t"}),
        json!({}),
        json!([]),
    ];
    for (i, v) in values.iter().enumerate() {
        let rec = p
            .ok("POST", "/data/docs", Some(json!({"n": i, "meta": v})))
            .await;
        assert_eq!(&rec["meta"], v, "create {v}");
        let id = rec["id"].clone();
        let got = p.ok("GET", &format!("/data/docs/{id}"), None).await;
        assert_eq!(&got["meta"], v, "read {v}");
    }
    // null is SQL NULL (absent and explicit alike) and reads back as null.
    let rec = p
        .ok("POST", "/data/docs", Some(json!({"n": 100, "meta": null})))
        .await;
    assert_eq!(rec["meta"], Value::Null);
    let id = rec["id"].clone();
    let rec = p
        .ok(
            "PATCH",
            &format!("/data/docs/{id}"),
            Some(json!({"meta": {"patched": [true]}})),
        )
        .await;
    assert_eq!(rec["meta"], json!({"patched": [true]}));

    // Text and boolean values.
    let rec = p
        .ok(
            "POST",
            "/data/docs",
            Some(json!({"n": 101, "body": "line\nnext ✓", "done": "true"})),
        )
        .await;
    assert_eq!(
        (rec["body"].clone(), rec["done"].clone()),
        (json!("line\nnext ✓"), json!(true))
    );
    for (body, what) in [
        (json!({"body": {"a": 1}}), "body"),
        (json!({"body": [1]}), "body"),
        (json!({"done": "maybe"}), "done"),
        (json!({"done": {"a": 1}}), "done"),
        (json!({"done": [true]}), "done"),
        (json!({"done": 2}), "done"),
    ] {
        let res = p.call("POST", "/data/docs", Some(body.clone())).await;
        assert_eq!(res.status, 400, "{body}: {res:?}");
        assert!(
            res.detail()
                .starts_with(&format!("Invalid value for field '{what}'")),
            "{res:?}"
        );
    }

    // NUL: jsonb and text cannot hold it; a clear 400, never a 500.
    for raw in [
        r#"{"meta": "a\u0000b"}"#,
        r#"{"meta": {"k": ["x\u0000"]}}"#,
        r#"{"meta": {"a\u0000": 1}}"#,
        r#"{"body": "a\u0000b"}"#,
    ] {
        let res = p
            .env
            .call_raw(
                "POST",
                &format!("/api/projects/{}/data/docs", p.id),
                Some(&p.t),
                raw.as_bytes().to_vec(),
            )
            .await;
        assert_eq!(res.status, 400, "{raw}: {res:?}");
        assert!(res.detail().contains("NUL"), "{res:?}");
    }

    // Huge values within the body limit.
    let big = "é".repeat(200_000);
    let rec = p
        .ok(
            "POST",
            "/data/docs",
            Some(json!({"n": 102, "body": big, "meta": {"big": big}})),
        )
        .await;
    assert_eq!(rec["body"].as_str().map(str::len), Some(400_000));
    assert_eq!(rec["meta"]["big"].as_str().map(str::len), Some(400_000));
    let many: Vec<Value> = (0..20_000).map(|i| json!({"i": i})).collect();
    let rec = p
        .ok("POST", "/data/docs", Some(json!({"n": 103, "meta": many})))
        .await;
    assert_eq!(rec["meta"].as_array().map(Vec::len), Some(20_000));

    // Nesting: deep values round-trip; past what the body parser takes, a 4xx.
    let nested = |depth: usize| {
        let mut v = json!("leaf");
        for i in 0..depth {
            v = if i % 2 == 0 {
                json!({ "k": v })
            } else {
                json!([v])
            };
        }
        v
    };
    let deep = nested(100);
    let rec = p
        .ok("POST", "/data/docs", Some(json!({"n": 104, "meta": deep})))
        .await;
    assert_eq!(rec["meta"], deep);
    let raw = format!(
        "{{\"meta\": {}\"x\"{}}}",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let res = p
        .env
        .call_raw(
            "POST",
            &format!("/api/projects/{}/data/docs", p.id),
            Some(&p.t),
            raw.into_bytes(),
        )
        .await;
    assert!(
        (400..500).contains(&res.status),
        "deep nesting: {}",
        res.status
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_filters_contain_compare_and_refuse_what_cannot_apply() {
    let env = TestEnv::start().await;
    let p = setup(&env, "filters").await;
    docs(&p).await;
    for (n, meta) in [
        (1, json!({"tier": "gold", "tags": ["a", "b"], "score": 3})),
        (2, json!({"tier": "silver", "tags": ["b"]})),
        (3, json!({"tier": "gold", "extra": {"deep": true}})),
        (4, json!("gold")),
        (5, json!([1, 2, 3])),
        (6, Value::Null),
    ] {
        p.ok("POST", "/data/docs", Some(json!({"n": n, "meta": meta})))
            .await;
    }
    let q = |s: &str| {
        s.replace('{', "%7B")
            .replace('}', "%7D")
            .replace('"', "%22")
    };
    assert_eq!(
        p.names(&q(r#"meta__contains={"tier":"gold"}&sort=n"#))
            .await,
        [1, 3]
    );
    assert_eq!(
        p.names(&q(r#"meta__contains={"tags":["b"]}&sort=n"#)).await,
        [1, 2]
    );
    assert_eq!(
        p.names(&q(r#"meta__contains={"extra":{"deep":true}}"#))
            .await,
        [3]
    );
    assert_eq!(p.names("meta__contains=%5B2%5D").await, [5]);
    assert_eq!(
        p.names(&q(r#"meta={"tags":["b"],"tier":"silver"}"#)).await,
        [2]
    );
    assert_eq!(p.names(&q(r#"meta="gold""#)).await, [4]);
    assert_eq!(p.names(&q(r#"meta__eq="gold""#)).await, [4]);
    assert_eq!(p.names("meta__isnull=true").await, [6]);
    assert_eq!(
        p.names(&q(r#"meta__neq="gold"&sort=n"#)).await,
        [1, 2, 3, 5]
    );
    assert_eq!(p.names("meta__isnotnull=false").await, [6]);
    // A null value is SQL NULL: `=null` finds it, and nothing else is JSON null.
    assert_eq!(p.names("meta=null").await, [6]);
    assert_eq!(p.names("meta__neq=null&sort=n").await, [1, 2, 3, 4, 5]);

    // Malformed JSON in a filter.
    let res = p.list(&q(r#"meta__contains={"tier":gold}"#)).await;
    assert_eq!(res.status, 400, "{res:?}");
    assert_eq!(
        res.detail(),
        "Invalid value for filter 'meta__contains': expected valid JSON"
    );
    let res = p.list("meta=gold").await;
    assert_eq!(res.status, 400, "{res:?}");
    let res = p.list("meta__contains=%22a%5Cu0000%22").await;
    assert_eq!(res.status, 400, "{res:?}");
    assert!(res.detail().contains("NUL"), "{res:?}");
    // Operators a JSON value cannot take.
    for op in [
        "gt",
        "gte",
        "lt",
        "lte",
        "in",
        "notin",
        "like",
        "ilike",
        "startswith",
        "endswith",
    ] {
        let res = p.list(&format!("meta__{op}=1")).await;
        assert_eq!(res.status, 400, "{op}: {res:?}");
        assert_eq!(
            res.detail(),
            format!("Operator '{op}' cannot be used on json field 'meta' (use eq, neq, contains, isnull or isnotnull)")
        );
    }
    // Sorting by a json field.
    for sort in ["meta", "-meta", "n,meta"] {
        let res = p.list(&format!("sort={sort}")).await;
        assert_eq!(
            (res.status, res.detail()),
            (400, "Cannot sort by json field 'meta'".into()),
            "{sort}"
        );
    }
    // Text and boolean fields filter as strings and booleans.
    p.ok(
        "PATCH",
        "/data/docs/1",
        Some(json!({"body": "Hello world", "done": true})),
    )
    .await;
    assert_eq!(p.names("body__contains=world").await, [1]);
    assert_eq!(p.names("done=yes").await, [1]);
    assert_eq!(p.names("sort=body&body__isnotnull=true").await, [1]);

    // Aggregates: only count over json (grouping by it works).
    let res = p.call("GET", "/data/docs/_aggregate?min=meta", None).await;
    assert_eq!(
        (res.status, res.detail()),
        (400, "Cannot compute min of field 'meta'".into())
    );
    let res = p.call("GET", "/data/docs/_aggregate?sum=meta", None).await;
    assert_eq!(res.status, 400, "{res:?}");
    let res = p
        .call(
            "GET",
            &format!(
                "/data/docs/_aggregate?{}",
                q(r#"meta__contains={"tier":"gold"}"#)
            ),
            None,
        )
        .await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(res.body["results"][0]["count"], 2);
    let res = p
        .call(
            "GET",
            "/data/docs/_aggregate?group_by=meta&meta__isnotnull=true",
            None,
        )
        .await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(res.body["results"].as_array().map(Vec::len), Some(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_policies_and_validations_treat_json_sensibly() {
    let env = TestEnv::start().await;
    let p = setup(&env, "rules").await;
    docs(&p).await;
    for (n, meta) in [
        (1, json!({"public": true, "tier": "gold"})),
        (2, json!({"public": false})),
        (3, json!({"public": true})),
    ] {
        p.ok("POST", "/data/docs", Some(json!({"n": n, "meta": meta})))
            .await;
    }
    let base = p.id_of("/schema/collections/docs").await;

    // Views: containment and equality run; ordering, lists and sorts on json are refused.
    p.ok(
        "POST",
        "/views",
        Some(
            json!({"name": "gold", "display_name": "Gold", "base_collection_id": base,
            "filters": [{"field": "meta", "operator": "contains", "value": {"tier": "gold"}}],
            "sorts": [{"field": "n"}]}),
        ),
    )
    .await;
    let res = p.call("POST", "/views/gold/execute", Some(json!({}))).await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(res.body["total"], 1);
    assert_eq!(res.body["data"][0]["n"], 1);
    p.ok(
        "POST",
        "/views",
        Some(
            json!({"name": "by_meta", "display_name": "By meta", "base_collection_id": base,
            "filters": [{"field": "meta", "operator": "=", "value": {"public": false},
                         "is_param": true, "param_name": "m"}]}),
        ),
    )
    .await;
    let res = p
        .call(
            "POST",
            "/views/by_meta/execute",
            Some(json!({"params": {"m": {"public": true}}})),
        )
        .await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(res.body["total"], 1, "{res:?}");
    assert_eq!(res.body["data"][0]["n"], 3);
    for (filters, sorts, detail) in [
        (
            json!([{"field": "meta", "operator": ">", "value": 1}]),
            json!([]),
            "Operator '>' cannot be used on json field 'meta' (use =, !=, contains, is_null or is_not_null)",
        ),
        (
            json!([{"field": "meta", "operator": "in", "value": [1]}]),
            json!([]),
            "Operator 'in' cannot be used on json field 'meta' (use =, !=, contains, is_null or is_not_null)",
        ),
        (
            json!([]),
            json!([{"field": "meta", "desc": true}]),
            "Cannot sort by json field 'meta'",
        ),
    ] {
        let res = p
            .call(
                "POST",
                "/views",
                Some(json!({"name": "bad", "display_name": "Bad", "base_collection_id": base,
                    "filters": filters, "sorts": sorts})),
            )
            .await;
        assert_eq!((res.status, res.detail()), (400, detail.into()));
    }

    // Policies: JSON equality works; comparisons a JSON value cannot take are refused.
    let path = "/schema/collections/docs/policies";
    for condition in [
        json!({"meta": {"$gt": 1}}),
        json!({"meta": {"$contains": "gold"}}),
        json!({"meta": {"$starts_with": "x"}}),
        json!({"meta": "$current_app_user_id"}),
        json!({"meta": {"$eq": "$now"}}),
    ] {
        let res = p
            .call(
                "POST",
                path,
                Some(
                    json!({"name": "bad", "action": "list", "allowed_principals": "anonymous",
                    "condition_json": condition.to_string()}),
                ),
            )
            .await;
        assert_eq!(res.status, 400, "{condition}: {res:?}");
        assert!(res.detail().contains("json field"), "{res:?}");
    }
    p.ok(
        "POST",
        path,
        Some(
            json!({"name": "public", "action": "list", "allowed_principals": "anonymous",
            "condition_json": json!({"type": "field_equals", "field": "meta",
                                     "value": {"tier": "gold", "public": true}}).to_string()}),
        ),
    )
    .await;
    let url = format!("/api/projects/{}/data/docs", p.id);
    let res = env.call("GET", &url, None, None).await;
    assert_eq!(res.status, 200, "{res:?}");
    let seen: Vec<&Value> = res.body["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["n"])
        .collect();
    assert_eq!(seen, [&json!(1)]);
    p.ok(
        "POST",
        path,
        Some(
            json!({"name": "neq", "action": "read", "allowed_principals": "anonymous",
            "condition_json": json!({"meta": {"$neq": "gold"}}).to_string()}),
        ),
    )
    .await;
    let res = env.call("GET", &format!("{url}/2"), None, None).await;
    assert_eq!(
        (res.status, res.body["n"].clone()),
        (200, json!(2)),
        "{res:?}"
    );

    // Validations: string rules fit text fields; none fits json.
    let p = &p;
    let rule = |field: &str, rule_type: &str, config: Value| {
        let path = format!("/validations/collections/docs/fields/{field}/rules");
        let body = json!({"rule_type": rule_type, "config": config});
        async move { p.call("POST", &path, Some(body)).await }
    };
    let res = rule("body", "max_length", json!({"max": 5})).await;
    assert_eq!(res.status, 201, "{res:?}");
    let res = p
        .call("POST", "/data/docs", Some(json!({"body": "too long"})))
        .await;
    assert_eq!(res.status, 400, "{res:?}");
    assert_eq!(
        res.body["detail"]["validation_errors"]["body"],
        json!(["Must be at most 5 characters"])
    );
    for (rule_type, config) in [
        ("max_length", json!({"max": 5})),
        ("enum", json!({"values": ["a"]})),
        ("min_value", json!({"min": 1})),
    ] {
        let res = rule("meta", rule_type, config).await;
        assert_eq!(
            (res.status, res.detail()),
            (
                400,
                format!("Rule type '{rule_type}' cannot be applied to field type 'json'")
            )
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn type_changes_documents_and_openapi_know_the_new_types() {
    let env = TestEnv::start().await;
    let p = setup(&env, "evolve").await;
    docs(&p).await;
    p.env.field(&p.t, &p.id, "docs", "title", "string").await;
    let res = p
        .add_field(
            "docs",
            json!({"name": "idx", "display_name": "Idx", "field_type": "json", "is_indexed": true}),
        )
        .await;
    assert_eq!(res.status, 201, "{res:?}");
    p.ok(
        "POST",
        "/data/docs",
        Some(json!({"n": 1, "title": "t", "meta": {"a": [1, "x"]}, "idx": {"k": 1}})),
    )
    .await;
    let coll = p.id_of("/schema/collections/docs").await;
    let fields = p.ok("GET", "/schema/collections/docs/fields", None).await;
    let fid = |name: &str| {
        fields
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let p = &p;
    let change = |field: String, to: &str| {
        let path = format!("/schema/evolution/collections/{coll}/fields/{field}/change-type");
        let body = json!({"new_type": to});
        async move { p.call("POST", &path, Some(body)).await }
    };

    let conversions = p
        .ok("GET", "/schema/evolution/safe-conversions", None)
        .await;
    assert!(
        conversions["safe_conversions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["from"] == "json" && c["to"] == "text"),
        "{conversions}"
    );
    // Unsafe conversions to and from json.
    for (field, to) in [
        ("meta", "string"),
        ("meta", "int"),
        ("meta", "bool"),
        ("title", "json"),
        ("body", "json"),
        ("n", "json"),
    ] {
        let res = change(fid(field), to).await;
        assert_eq!(res.status, 400, "{field} → {to}: {res:?}");
        assert!(
            res.detail().starts_with("Unsafe type conversion"),
            "{res:?}"
        );
    }
    let res = change(fid("done"), "boolean").await;
    assert_eq!(
        (res.status, res.detail()),
        (400, "New type is the same as current type".into())
    );

    // Export before the conversions: the document carries the new types, and a second project
    // built from it exports the same document.
    let doc = p.ok("GET", "/schema/export", None).await;
    let docs_doc = doc["collections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "docs")
        .unwrap()
        .clone();
    let types: Vec<(Value, Value)> = docs_doc["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["name"].clone(), f["field_type"].clone()))
        .collect();
    assert!(types.contains(&(json!("meta"), json!("json"))), "{types:?}");
    assert!(types.contains(&(json!("body"), json!("text"))), "{types:?}");
    assert!(types.contains(&(json!("done"), json!("bool"))), "{types:?}");
    let other = P {
        env: p.env,
        t: p.t.clone(),
        id: p.env.project(&p.t, "copy").await,
    };
    let res = other
        .call("POST", "/schema/import", Some(doc.clone()))
        .await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(other.ok("GET", "/schema/export", None).await, doc);
    let rec = other
        .ok(
            "POST",
            "/data/docs",
            Some(json!({"meta": {"x": 1}, "done": true, "body": "b"})),
        )
        .await;
    assert_eq!(rec["meta"], json!({"x": 1}));
    // A document may say `boolean`: it is `bool`, so nothing changes.
    let mut spelled = doc.clone();
    for c in spelled["collections"].as_array_mut().unwrap() {
        for f in c["fields"].as_array_mut().unwrap() {
            if f["field_type"] == "bool" {
                f["field_type"] = json!("boolean");
            }
        }
    }
    let res = other.call("POST", "/schema/import", Some(spelled)).await;
    assert_eq!(
        (res.status, res.body["applied"].clone()),
        (200, json!(0)),
        "{res:?}"
    );

    // Safe conversions: string → text, json → text (the JSON text), an indexed json → text.
    let res = change(fid("title"), "text").await;
    assert_eq!(res.status, 200, "{res:?}");
    let res = change(fid("meta"), "text").await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(res.body["details"]["new_type"], "text");
    let res = change(fid("idx"), "text").await;
    assert_eq!(res.status, 200, "{res:?}");
    let rec = p.ok("GET", "/data/docs/1", None).await;
    assert_eq!(rec["meta"], json!(r#"{"a": [1, "x"]}"#));
    assert_eq!(rec["idx"], json!(r#"{"k": 1}"#));
    assert_eq!(p.names("meta__startswith=%7B").await, [1]);

    // OpenAPI: the project's document types json as any value and keeps it out of sorts; the
    // admin document lists the field types.
    let res = other.call("GET", "/openapi.json", None).await;
    assert_eq!(res.status, 200, "{res:?}");
    let props = &res.body["components"]["schemas"]["docs"]["properties"];
    assert!(props["meta"].get("type").is_none(), "{}", props["meta"]);
    assert_eq!(props["body"]["type"], json!(["string", "null"]));
    assert_eq!(props["done"]["type"], json!(["boolean", "null"]));
    let list = &res.body["paths"][format!("/api/projects/{}/data/docs", other.id)]["get"];
    let params = list["parameters"].as_array().unwrap();
    let sort = params.iter().find(|p| p["name"] == "sort").unwrap();
    assert!(
        !sort["description"].as_str().unwrap().contains("meta"),
        "{sort}"
    );
    let meta = params.iter().find(|p| p["name"] == "meta").unwrap();
    assert!(
        meta["description"]
            .as_str()
            .unwrap()
            .contains("containment"),
        "{meta}"
    );
    let admin = env.call("GET", "/openapi.json", None, None).await;
    assert_eq!(admin.status, 200);
    let text = admin.body.to_string();
    assert!(
        text.contains(
            r#"["string","text","int","float","bool","date","datetime","uuid","json","boolean"]"#
        ),
        "admin OpenAPI lists the field types"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_too_large_for_its_index_is_400() {
    let env = TestEnv::start().await;
    let p = setup(&env, "index").await;
    p.env.collection(&p.t, &p.id, "docs").await;
    for ty in ["text", "string"] {
        let res = p
            .add_field(
                "docs",
                json!({"name": ty, "display_name": ty, "field_type": ty, "is_indexed": true}),
            )
            .await;
        assert_eq!(res.status, 201, "{res:?}");
    }
    // Incompressible text, far past what a B-tree index entry holds.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let noise: String = (0..60_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b'!' + (x % 90) as u8)
        })
        .collect();
    for ty in ["text", "string"] {
        let res = p
            .call("POST", "/data/docs", Some(json!({ ty: noise })))
            .await;
        assert_eq!(res.status, 400, "{ty}: {}", res.status);
        assert!(
            res.detail()
                .starts_with("Value too large for an indexed field"),
            "{}",
            res.detail()
        );
    }
    // Smaller values are fine.
    let res = p
        .call("POST", "/data/docs", Some(json!({"text": &noise[..1000]})))
        .await;
    assert_eq!(res.status, 201, "{}", res.status);
}
