//! Hostile names end to end (spec/schema.md "Names", relations.md, schema-evolution.md): every
//! way a name enters a project's schema — a collection, a field, a relation, a rename, a schema
//! document — answers success or a 4xx with a `detail`, never a 500, and the collection stays
//! usable after each attempt (a record is created, read back, listed, sorted and filtered by the
//! new name). Names come from a fixed corpus (SQL keywords, Postgres system columns, the names our
//! own SQL uses as aliases, quotes, backslashes, unicode, NUL, 63- and 64-byte names, multi-byte
//! names crossing 63 bytes) plus random ones from a seeded generator.

use e2e::{Res, TestEnv};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

/// Seed of the random names; a failure message names the name, so a run is reproducible.
const SEED: u64 = 19;
/// How many random names each path tries besides the corpus.
const RANDOM_NAMES: usize = 40;

/// The columns Postgres keeps on every table; a user column of that name cannot exist.
const PG_SYSTEM_COLUMNS: [&str; 7] = ["ctid", "xmin", "xmax", "cmin", "cmax", "tableoid", "oid"];

fn corpus() -> Vec<String> {
    let mut names: Vec<String> = [
        // SQL keywords, reserved by the contract or not.
        "select",
        "order",
        "group",
        "limit",
        "offset",
        "table",
        "user",
        "users",
        "all",
        "as",
        "asc",
        "desc",
        "case",
        "end",
        "from",
        "where",
        "null",
        "true",
        "default",
        "having",
        "union",
        "returning",
        "window",
        "analyse",
        "array",
        "both",
        "cast",
        "collate",
        "column",
        "current_user",
        "session_user",
        "do",
        "else",
        "except",
        "fetch",
        "for",
        "lateral",
        "natural",
        "only",
        "placing",
        "some",
        "symmetric",
        "then",
        "to",
        "using",
        "variadic",
        "when",
        "with",
        "sort",
        "expand",
        "cursor",
        "skip_total",
        "count",
        "total",
        "records",
        // Postgres system columns and ours.
        "ctid",
        "xmin",
        "xmax",
        "cmin",
        "cmax",
        "tableoid",
        "oid",
        "id",
        "created_at",
        "updated_at",
        "created_by_user_id",
        "created_by_app_user_id",
        // Names our SQL gives to subqueries and tables.
        "r",
        "w",
        "g",
        "a",
        "t",
        "u",
        "e",
        "t0",
        "t1",
        "e0",
        "e1",
        "row",
        "rec",
        "sub",
        "base",
        // Filter syntax and system prefixes.
        "a__gt",
        "price__in",
        "x__isnull",
        "a__",
        "pg_class",
        "pg_toast",
        "information_schema",
        "pg_catalog",
        "public",
        "foo_id",
        // Case, quotes, backslashes, punctuation, whitespace.
        "CTID",
        "Select",
        "Id",
        "we\"ird",
        "\"",
        "\"\"",
        "a'b",
        "'",
        "a\"; DROP TABLE x; --",
        "a\\b",
        "\\",
        "a\\",
        "a;b",
        "a-b",
        "a.b",
        "a b",
        " a",
        "a ",
        "\t",
        "\n",
        "",
        "_users",
        "_x",
        "1a",
        "$1",
        "a$",
        "%s",
        "a%",
        "a*",
        "a/b",
        "?",
        "a&b=c",
        "a#b",
        // Unicode and NUL.
        "café",
        "名前",
        "straße",
        "ǅ",
        "emoji😀",
        "a\u{200d}b",
        "e\u{301}",
        "\u{202e}abc",
        "\u{feff}a",
        "a\u{0}b",
        "\u{0}",
        "Ω",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    names.extend([
        "a".repeat(63),
        "a".repeat(64),
        format!("{}b", "a".repeat(62)),
        format!("z{}", "9".repeat(62)),
        // Two names whose index names agree on their first 63 bytes.
        format!("{}1", "q".repeat(62)),
        format!("{}2", "q".repeat(62)),
        // Multi-byte names around 63 bytes: 63 chars in 64 bytes, 32 chars in 64 bytes.
        format!("{}é", "a".repeat(62)),
        format!("{}é", "a".repeat(61)),
        "é".repeat(32),
        "名".repeat(21),
        "名".repeat(22),
        // A relation's column (`<name>_id`) past 63 bytes.
        "r".repeat(60),
        "r".repeat(61),
    ]);
    names
}

/// Random names: valid-looking slugs of all lengths, and strings from a hostile alphabet.
fn random_names(rng: &mut StdRng, n: usize) -> Vec<String> {
    let slug: Vec<char> = ('a'..='z').chain('0'..='9').chain(['_']).collect();
    let hostile: Vec<char> = ('a'..='z')
        .chain([
            '_', '0', '9', 'A', 'Z', '"', '\'', '\\', ' ', ';', '-', '\0', 'é', '名', '😀',
        ])
        .collect();
    (0..n)
        .map(|i| {
            let len = rng.gen_range(0..=70);
            if i % 2 == 0 {
                let first = *['a', 'x', 'z'].choose(rng).unwrap();
                std::iter::once(first)
                    .chain((1..len).map(|_| *slug.choose(rng).unwrap()))
                    .collect()
            } else {
                (0..len).map(|_| *hostile.choose(rng).unwrap()).collect()
            }
        })
        .collect()
}

fn all_names() -> Vec<String> {
    let mut rng = StdRng::seed_from_u64(SEED);
    let mut names = corpus();
    names.extend(random_names(&mut rng, RANDOM_NAMES));
    names
}

struct Project<'a> {
    env: &'a TestEnv,
    token: String,
    id: String,
}

impl Project<'_> {
    async fn call(&self, method: &str, rest: &str, body: Option<Value>) -> Res {
        let path = format!("/api/projects/{}{rest}", self.id);
        self.env.call(method, &path, Some(&self.token), body).await
    }

    async fn ok(&self, method: &str, rest: &str, body: Option<Value>) -> Value {
        let res = self.call(method, rest, body).await;
        assert!((200..300).contains(&res.status), "{method} {rest}: {res:?}");
        res.body
    }

    /// A collection's id.
    async fn collection_id(&self, name: &str) -> String {
        self.ok("GET", &format!("/schema/collections/{name}"), None)
            .await["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// A record with `data` is created, read back, listed, sorted and filtered by `key`; then
    /// an empty one is created and listed.
    async fn usable(&self, collection: &str, key: Option<(&str, Value)>, context: &str) {
        let data = match &key {
            Some((k, v)) => json!({ *k: v }),
            None => json!({}),
        };
        let res = self
            .call("POST", &format!("/data/{collection}"), Some(data))
            .await;
        assert_eq!(res.status, 201, "{context}: create a record: {res:?}");
        let id = res.body["id"].clone();
        let res = self
            .call("GET", &format!("/data/{collection}/{id}"), None)
            .await;
        assert_eq!(res.status, 200, "{context}: read it: {res:?}");
        assert_eq!(res.body["id"], id, "{context}: read it: {res:?}");
        if let Some((k, v)) = &key {
            assert_eq!(&res.body[*k], v, "{context}: read it: {res:?}");
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let text: String = text
                .bytes()
                .map(|b| match b {
                    b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' => {
                        char::from(b).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect();
            let query = format!("sort=-{k},id&{k}__eq={text}&id={id}");
            let res = self
                .call("GET", &format!("/data/{collection}?{query}"), None)
                .await;
            assert_eq!(res.status, 200, "{context}: list ?{query}: {res:?}");
            assert_eq!(res.body["total"], 1, "{context}: list ?{query}: {res:?}");
            assert_eq!(
                res.body["records"][0]["id"], id,
                "{context}: list ?{query}: {res:?}"
            );
        }
        let res = self
            .call("POST", &format!("/data/{collection}"), Some(json!({})))
            .await;
        assert_eq!(
            res.status, 201,
            "{context}: create an empty record: {res:?}"
        );
        let res = self
            .call("GET", &format!("/data/{collection}?limit=5"), None)
            .await;
        assert_eq!(res.status, 200, "{context}: list: {res:?}");
        assert!(
            res.body["records"]
                .as_array()
                .is_some_and(|r| !r.is_empty()),
            "{context}: list: {res:?}"
        );
    }
}

/// The answer to a name is `ok` (success) or a refusal with a detail; a Postgres system column
/// is a 400 naming it as such. Returns whether the name was accepted.
fn judge(res: &Res, ok: u16, name: &str, context: &str) -> bool {
    let what = format!("{context} {name:?}: {res:?}");
    if res.status == ok {
        return true;
    }
    assert!(
        [400, 409, 422].contains(&res.status),
        "expected {ok}, 400, 409 or 422 for {what}"
    );
    assert!(!res.body["detail"].is_null(), "no detail for {what}");
    if PG_SYSTEM_COLUMNS.contains(&name) {
        assert_eq!(res.status, 400, "{what}");
        assert!(
            res.detail().contains("system column"),
            "the detail should say why for {what}"
        );
    }
    false
}

async fn start<'a>(env: &'a TestEnv, email: &str) -> Project<'a> {
    let token = env.admin(email).await;
    let id = env.project(&token, "names").await;
    Project { env, token, id }
}

/// A value of `ty` that survives the round trip as written.
fn value_of(ty: &str) -> Value {
    match ty {
        "int" => json!(42),
        "float" => json!(1.5),
        "bool" => json!(true),
        "date" => json!("2024-05-01"),
        "datetime" => json!("2024-05-01T12:34:56.5+00:00"),
        "uuid" => json!("7f1c3c2e-8d4e-4a8e-9c55-1f4bbaf0d1a7"),
        _ => json!("it's \"quoted\" \\ 名"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_field_names_never_break_a_collection() {
    let env = TestEnv::start().await;
    let p = start(&env, "fields@example.com").await;
    env.collection(&p.token, &p.id, "hostile").await;
    let hostile = p.collection_id("hostile").await;
    let mut rng = StdRng::seed_from_u64(SEED);
    let types = ["string", "int", "float", "bool", "date", "uuid"];
    let mut accepted = 0;
    for name in all_names() {
        let ty = *types.choose(&mut rng).unwrap();
        let (unique, indexed) = (rng.gen_bool(0.3), rng.gen_bool(0.3));
        let body = json!({"name": name, "display_name": "Hostile", "field_type": ty,
            "is_unique": unique, "is_indexed": indexed});
        let res = p
            .call("POST", "/schema/collections/hostile/fields", Some(body))
            .await;
        let context = format!("field ({ty}, unique {unique}, indexed {indexed})");
        let key = judge(&res, 201, &name, &context).then(|| (name.as_str(), value_of(ty)));
        accepted += usize::from(key.is_some());
        p.usable("hostile", key.clone(), &format!("after {context} {name:?}"))
            .await;
        // A type change keeps the name working (`int` → `float`, `date` → `datetime`).
        let to = match ty {
            "int" => "float",
            "date" => "datetime",
            _ => continue,
        };
        if key.is_some() {
            let id = res.body["id"].as_str().unwrap();
            let res = p
                .call(
                    "POST",
                    &format!("/schema/evolution/collections/{hostile}/fields/{id}/change-type"),
                    Some(json!({"new_type": to})),
                )
                .await;
            assert_eq!(res.status, 200, "change-type of {name:?}: {res:?}");
            let value = value_of(to);
            p.usable(
                "hostile",
                Some((name.as_str(), value)),
                &format!("after {to} {name:?}"),
            )
            .await;
        }
    }
    // The corpus's valid names got in: keywords, our aliases, 63 bytes, both long `q` names.
    assert!(accepted >= 60, "only {accepted} names were accepted");
    let fields = p
        .ok("GET", "/schema/collections/hostile/fields", None)
        .await;
    let names: Vec<&str> = fields
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    for want in [
        "order".to_owned(),
        "w".to_owned(),
        "a".repeat(63),
        format!("{}1", "q".repeat(62)),
        format!("{}2", "q".repeat(62)),
    ] {
        assert!(names.contains(&want.as_str()), "{want} missing: {names:?}");
    }
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_names_get_indexes_and_foreign_keys_of_their_own() {
    let env = TestEnv::start().await;
    let p = start(&env, "long@example.com").await;
    // Index names are `uq_<table>_<column>`: past 63 bytes Postgres would cut them to the same
    // name.
    let table = "c".repeat(63);
    env.collection(&p.token, &p.id, &table).await;
    let (one, two) = (
        format!("{}1", "q".repeat(62)),
        format!("{}2", "q".repeat(62)),
    );
    for (name, flag) in [
        (&one, "is_unique"),
        (&two, "is_unique"),
        (&one.replace('q', "i"), "is_indexed"),
        (&two.replace('q', "i"), "is_indexed"),
    ] {
        let res = p
            .call(
                "POST",
                &format!("/schema/collections/{table}/fields"),
                Some(json!({"name": name, "display_name": "Long", "field_type": "string", flag: true})),
            )
            .await;
        assert_eq!(res.status, 201, "{name} {flag}: {res:?}");
    }
    let (r1, r2) = (
        format!("{}1", "r".repeat(57)),
        format!("{}2", "r".repeat(57)),
    );
    let id = p.collection_id(&table).await;
    for name in [&r1, &r2] {
        let res = p
            .call(
                "POST",
                &format!("/schema/relations/collections/{id}/relations"),
                Some(json!({"name": name, "display_name": "Long", "target_collection_id": id})),
            )
            .await;
        assert_eq!(res.status, 201, "{name}: {res:?}");
    }
    // Each unique index holds on its own column only.
    let rec = p
        .ok(
            "POST",
            &format!("/data/{table}"),
            Some(json!({ &one: "x", &two: "x" })),
        )
        .await;
    let res = p
        .call(
            "POST",
            &format!("/data/{table}"),
            Some(json!({ &one: "x" })),
        )
        .await;
    assert_eq!(res.status, 409, "{res:?}");
    p.ok(
        "POST",
        &format!("/data/{table}"),
        Some(json!({ &two: "y", format!("{r1}_id"): rec["id"], format!("{r2}_id"): rec["id"] })),
    )
    .await;
    // Renames carry the indexes and keys along, still apart.
    let res = p
        .call(
            "POST",
            &format!("/schema/evolution/collections/{id}/rename"),
            Some(json!({"new_name": "d".repeat(63)})),
        )
        .await;
    assert_eq!(res.status, 200, "{res:?}");
    let table = "d".repeat(63);
    let res = p
        .call(
            "POST",
            &format!("/data/{table}"),
            Some(json!({ &two: "y" })),
        )
        .await;
    assert_eq!(res.status, 409, "{res:?}");
    p.usable(&table, Some((one.as_str(), json!("z"))), "after the rename")
        .await;
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_relation_and_renamed_field_names_never_break_a_collection() {
    let env = TestEnv::start().await;
    let p = start(&env, "relations@example.com").await;
    env.collection(&p.token, &p.id, "target").await;
    env.collection(&p.token, &p.id, "source").await;
    env.collection(&p.token, &p.id, "renames").await;
    env.field(&p.token, &p.id, "renames", "victim", "string")
        .await;
    let target = p.collection_id("target").await;
    let target_record = p.ok("POST", "/data/target", Some(json!({}))).await["id"].clone();
    let source = p.collection_id("source").await;
    let renames = p.collection_id("renames").await;
    let victim = p
        .ok("GET", "/schema/collections/renames/fields/victim", None)
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut current = "victim".to_owned();
    for name in all_names() {
        let body = json!({"name": name, "display_name": "Hostile", "target_collection_id": target});
        let res = p
            .call(
                "POST",
                &format!("/schema/relations/collections/{source}/relations"),
                Some(body),
            )
            .await;
        let column = format!("{name}_id");
        let accepted = judge(&res, 201, &name, "relation");
        let key = accepted.then(|| (column.as_str(), target_record.clone()));
        p.usable("source", key, &format!("after relation {name:?}"))
            .await;
        if accepted {
            let res = p
                .call(
                    "GET",
                    &format!("/data/source?expand={name}&{column}__isnull=false&limit=1"),
                    None,
                )
                .await;
            assert_eq!(res.status, 200, "expand {name:?}: {res:?}");
            assert_eq!(
                res.body["records"][0][&name]["id"], target_record,
                "{res:?}"
            );
        }

        let res = p
            .call(
                "POST",
                &format!("/schema/evolution/collections/{renames}/fields/{victim}/rename"),
                Some(json!({"new_name": name})),
            )
            .await;
        if judge(&res, 200, &name, "field rename") {
            current = name.clone();
        }
        p.usable(
            "renames",
            Some((current.as_str(), json!("x"))),
            &format!("after field rename to {name:?}"),
        )
        .await;
    }
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_collection_names_never_break_a_project() {
    let env = TestEnv::start().await;
    // One project for creates, one for renames (a rename to a name just created would be a 409).
    let p = start(&env, "collections@example.com").await;
    let token = p.token.clone();
    let moves = Project {
        env: &env,
        id: env.project(&token, "renames").await,
        token,
    };
    env.collection(&moves.token, &moves.id, "moving").await;
    env.field(&moves.token, &moves.id, "moving", "title", "string")
        .await;
    let moving = moves.collection_id("moving").await;
    let mut current = "moving".to_owned();
    for name in all_names() {
        let res = p
            .call(
                "POST",
                "/schema/collections",
                Some(json!({"name": name, "display_name": "Hostile"})),
            )
            .await;
        if judge(&res, 201, &name, "collection") {
            env.field(&p.token, &p.id, &name, "title", "string").await;
            p.usable(
                &name,
                Some(("title", json!("t"))),
                &format!("collection {name:?}"),
            )
            .await;
        }
        let res = moves
            .call(
                "POST",
                &format!("/schema/evolution/collections/{moving}/rename"),
                Some(json!({"new_name": name})),
            )
            .await;
        if judge(&res, 200, &name, "collection rename") {
            current = name.clone();
        }
        moves
            .usable(
                &current,
                Some(("title", json!("t"))),
                &format!("after collection rename to {name:?}"),
            )
            .await;
    }
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_in_a_schema_document_never_break_a_project() {
    let env = TestEnv::start().await;
    let p = start(&env, "documents@example.com").await;
    env.collection(&p.token, &p.id, "docs").await;
    env.field(&p.token, &p.id, "docs", "title", "string").await;
    let base = p.ok("GET", "/schema/export", None).await;
    let docs = base["collections"]
        .as_array()
        .unwrap()
        .iter()
        .position(|c| c["name"] == "docs")
        .unwrap();
    for name in corpus() {
        let mut doc = base.clone();
        let mut field = doc["collections"][docs]["fields"][0].clone();
        field["name"] = json!(name);
        doc["collections"][docs]["fields"]
            .as_array_mut()
            .unwrap()
            .push(field);
        let res = p.call("POST", "/schema/import", Some(doc)).await;
        let accepted = judge(&res, 200, &name, "document field");
        let key = accepted.then(|| (name.as_str(), json!("d")));
        p.usable("docs", key, &format!("after document field {name:?}"))
            .await;
        if accepted {
            // Back to the base document (dropping the new field needs force).
            let res = p
                .call("POST", "/schema/import?force=true", Some(base.clone()))
                .await;
            assert_eq!(res.status, 200, "{res:?}");
        }
        let mut doc = base.clone();
        let mut collection = doc["collections"][docs].clone();
        collection["name"] = json!(name);
        doc["collections"].as_array_mut().unwrap().push(collection);
        let res = p.call("POST", "/schema/import", Some(doc)).await;
        if judge(&res, 200, &name, "document collection") {
            p.usable(
                &name,
                Some(("title", json!("d"))),
                &format!("document collection {name:?}"),
            )
            .await;
            let res = p
                .call("POST", "/schema/import?force=true", Some(base.clone()))
                .await;
            assert_eq!(res.status, 200, "{res:?}");
        }
    }
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_field_names_on_users_keep_app_auth_working() {
    let env = TestEnv::start().await;
    let p = start(&env, "users@example.com").await;
    for (i, name) in corpus().into_iter().enumerate() {
        let body = json!({"name": name, "display_name": "Hostile", "field_type": "string"});
        let res = p
            .call("POST", "/schema/collections/_users/fields", Some(body))
            .await;
        let accepted = judge(&res, 201, &name, "_users field");
        let email = format!("u{i}@example.com");
        let res = p
            .env
            .call(
                "POST",
                &format!("/api/projects/{}/auth/register", p.id),
                None,
                Some(json!({"email": email, "password": "password123"})),
            )
            .await;
        assert_eq!(res.status, 201, "register after {name:?}: {res:?}");
        let token = res.body["access_token"].as_str().unwrap().to_owned();
        let me = p
            .env
            .call(
                "GET",
                &format!("/api/projects/{}/auth/me", p.id),
                Some(&token),
                None,
            )
            .await;
        assert_eq!(me.status, 200, "me after {name:?}: {me:?}");
        let mut record = json!({"email": format!("admin-made-{i}@example.com")});
        if accepted {
            record[&name] = json!("v");
        }
        let res = p.call("POST", "/data/_users", Some(record)).await;
        assert_eq!(res.status, 201, "create a user after {name:?}: {res:?}");
        if accepted {
            assert_eq!(res.body[&name], "v", "{res:?}");
        }
        let id = res.body["id"].as_str().unwrap().to_owned();
        let res = p.call("GET", &format!("/data/_users/{id}"), None).await;
        assert_eq!(res.status, 200, "read a user after {name:?}: {res:?}");
        let res = p.call("GET", "/data/_users?limit=3", None).await;
        assert_eq!(res.status, 200, "list users after {name:?}: {res:?}");
    }
    env.shutdown().await;
}
