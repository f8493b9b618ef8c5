//! The data API beyond CRUD, through the router: relation expansion, keyset cursors, skip_total,
//! aggregates, batches, view execution, and hostile query values.

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

    async fn coll_id(&self, name: &str) -> Value {
        self.ok("GET", &format!("/schema/collections/{name}"), None)
            .await["id"]
            .clone()
    }
}

async fn setup<'a>(env: &'a TestEnv, who: &str) -> P<'a> {
    let t = env.admin(&format!("{who}@example.com")).await;
    let id = env.project(&t, who).await;
    P { env, t, id }
}

/// authors ← books (author, required) ← reviews (book); books also point at _users (owner).
async fn library(p: &P<'_>) {
    for c in ["authors", "books", "reviews"] {
        p.env.collection(&p.t, &p.id, c).await;
    }
    p.env.field(&p.t, &p.id, "authors", "name", "string").await;
    p.env.field(&p.t, &p.id, "books", "title", "string").await;
    p.env.field(&p.t, &p.id, "reviews", "stars", "int").await;
    let (authors, books, users) = (
        p.coll_id("authors").await,
        p.coll_id("books").await,
        p.coll_id("_users").await,
    );
    let rel = |src: Value, body: Value| async move {
        let src = src.as_str().unwrap().to_owned();
        p.ok(
            "POST",
            &format!("/schema/relations/collections/{src}/relations"),
            Some(body),
        )
        .await
    };
    rel(
        books.clone(),
        json!({"name": "author", "display_name": "A", "target_collection_id": authors}),
    )
    .await;
    rel(books.clone(), json!({"name": "owner", "display_name": "O", "target_collection_id": users, "on_delete": "SET NULL"})).await;
    let reviews = p.coll_id("reviews").await;
    rel(reviews, json!({"name": "book", "display_name": "B", "target_collection_id": books, "on_delete": "CASCADE"})).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expansion_follows_relations_in_one_read() {
    let env = TestEnv::start().await;
    let p = setup(&env, "expand").await;
    library(&p).await;
    let user = p
        .ok(
            "POST",
            "/data/_users",
            Some(json!({"email": "o@example.com"})),
        )
        .await;
    let ann = p
        .ok("POST", "/data/authors", Some(json!({"name": "Ann"})))
        .await;
    let b1 = p
        .ok(
            "POST",
            "/data/books",
            Some(json!({"title": "One", "author": ann["id"], "owner": user["id"]})),
        )
        .await;
    let b2 = p
        .ok("POST", "/data/books", Some(json!({"title": "Two"})))
        .await;
    for stars in [5, 3] {
        p.ok(
            "POST",
            "/data/reviews",
            Some(json!({"stars": stars, "book": b1["id"]})),
        )
        .await;
    }

    let one = p
        .ok(
            "GET",
            &format!(
                "/data/books/{}?expand=author,owner,reviews_via_book",
                b1["id"]
            ),
            None,
        )
        .await;
    assert_eq!(one["author_id"], ann["id"]);
    assert_eq!(one["author"]["name"], "Ann");
    assert_eq!(one["owner"]["email"], "o@example.com");
    assert!(one["owner"].get("password_hash").is_none(), "{one}");
    let stars: Vec<i64> = one["reviews_via_book"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["stars"].as_i64().unwrap())
        .collect();
    assert_eq!(stars, [5, 3]);

    // Nested, on a list; a null key gives null; unknown names are ignored.
    let page = p
        .ok(
            "GET",
            "/data/reviews?expand=book.author,nothing,book.zzz&sort=id",
            None,
        )
        .await;
    assert_eq!(page["records"][0]["book"]["title"], "One");
    assert_eq!(page["records"][0]["book"]["author"]["name"], "Ann");
    assert!(page["records"][0].get("nothing").is_none());
    let two = p
        .ok(
            "GET",
            &format!("/data/books/{}?expand=author", b2["id"]),
            None,
        )
        .await;
    assert_eq!(two["author"], Value::Null);
    let authors = p
        .ok(
            "GET",
            "/data/authors?expand=books_via_author.reviews_via_book",
            None,
        )
        .await;
    let nested = &authors["records"][0]["books_via_author"][0]["reviews_via_book"];
    assert_eq!(nested.as_array().unwrap().len(), 2, "{authors}");

    // Caps are clear 400s.
    let res = p
        .call(
            "GET",
            "/data/reviews?expand=book.author.books_via_author.reviews_via_book",
            None,
        )
        .await;
    assert_eq!(res.status, 400, "{res:?}");
    let many = ["book"; 11].join(",");
    let res = p
        .call("GET", &format!("/data/reviews?expand={many}"), None)
        .await;
    assert_eq!(res.status, 400, "{res:?}");
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursors_page_stably_and_aggregates_count() {
    let env = TestEnv::start().await;
    let p = setup(&env, "cursor").await;
    env.collection(&p.t, &p.id, "events").await;
    env.field(&p.t, &p.id, "events", "kind", "string").await;
    env.field(&p.t, &p.id, "events", "n", "int").await;
    env.field(&p.t, &p.id, "events", "note", "string").await;
    for i in 0..25 {
        let kind = ["a", "b", "c"][i % 3];
        p.ok("POST", "/data/events", Some(json!({"kind": kind, "n": i})))
            .await;
    }

    // Walk with a cursor while rows are inserted at the front: no row repeats, none is lost.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = p
            .ok(
                "GET",
                &format!("/data/events?cursor={cursor}&limit=7&skip_total=true"),
                None,
            )
            .await;
        assert_eq!(page["total"], Value::Null);
        for r in page["records"].as_array().unwrap() {
            seen.push(r["n"].as_i64().unwrap());
        }
        p.ok(
            "POST",
            "/data/events",
            Some(json!({"kind": "new", "n": 1000})),
        )
        .await;
        match page["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    let expected: Vec<i64> = (0..25).rev().collect();
    assert_eq!(seen, expected);

    // A sort on system columns works too, in both directions.
    let page = p
        .ok("GET", "/data/events?cursor=&sort=created_at&limit=3", None)
        .await;
    let next = page["next_cursor"].as_str().unwrap().to_owned();
    let page2 = p
        .ok(
            "GET",
            &format!("/data/events?cursor={next}&sort=created_at&limit=3"),
            None,
        )
        .await;
    assert!(page2["records"][0]["id"].as_i64() > page["records"][2]["id"].as_i64());
    for (path, status) in [
        (format!("/data/events?cursor={next}&sort=-created_at"), 400),
        ("/data/events?cursor=&sort=note".to_owned(), 400),
        ("/data/events?cursor=garbage".to_owned(), 400),
        ("/data/events?cursor=&offset=5".to_owned(), 400),
    ] {
        let res = p.call("GET", &path, None).await;
        assert_eq!(res.status, status, "{path}: {res:?}");
    }

    // Aggregates over the same filters.
    let agg = p
        .ok(
            "GET",
            "/data/events/_aggregate?sum=n&avg=n&min=n&max=n&kind__in=a,b,c",
            None,
        )
        .await;
    let r = &agg["results"][0];
    assert_eq!(
        (r["count"].clone(), r["sum"]["n"].clone()),
        (json!(25), json!(300))
    );
    assert_eq!(
        (r["min"]["n"].clone(), r["max"]["n"].clone()),
        (json!(0), json!(24))
    );
    assert_eq!(r["avg"]["n"].as_f64(), Some(12.0));
    let groups = p
        .ok(
            "GET",
            "/data/events/_aggregate?group_by=kind&sum=n&kind__neq=new",
            None,
        )
        .await;
    let g: Vec<(String, i64)> = groups["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["group"]["kind"].as_str().unwrap().to_owned(),
                r["count"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(g, [("a".into(), 9), ("b".into(), 8), ("c".into(), 8)]);
    for path in [
        "/data/events/_aggregate?sum=kind",
        "/data/events/_aggregate?max=zzz",
    ] {
        assert_eq!(p.call("GET", path, None).await.status, 400, "{path}");
    }
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_are_all_or_nothing() {
    let env = TestEnv::start().await;
    let p = setup(&env, "batch").await;
    library(&p).await;
    let ann = p
        .ok("POST", "/data/authors", Some(json!({"name": "Ann"})))
        .await;
    let res = p
        .call(
            "POST",
            "/data/_batch",
            Some(json!({"operations": [
                {"op": "create", "collection": "authors", "data": {"name": "Bob"}},
                {"op": "update", "collection": "authors", "id": ann["id"], "data": {"name": "Ann B."}},
                {"op": "create", "collection": "books", "data": {"title": "T", "author": ann["id"]}},
            ]})),
        )
        .await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(res.body["results"][0]["status"], 201);
    assert_eq!(res.body["results"][1]["record"]["name"], "Ann B.");
    let book = res.body["results"][2]["record"].clone();

    // The third step fails: the first two are undone.
    let res = p
        .call(
            "POST",
            "/data/_batch",
            Some(json!({"operations": [
                {"op": "create", "collection": "authors", "data": {"name": "Ghost"}},
                {"op": "delete", "collection": "books", "id": book["id"]},
                {"op": "update", "collection": "authors", "id": 999_999, "data": {"name": "x"}},
            ]})),
        )
        .await;
    assert_eq!(
        (res.status, res.body["operation"].clone()),
        (404, json!(2)),
        "{res:?}"
    );
    let authors = p.ok("GET", "/data/authors?name=Ghost", None).await;
    assert_eq!(authors["total"], 0);
    assert_eq!(
        p.call("GET", &format!("/data/books/{}", book["id"]), None)
            .await
            .status,
        200
    );
    for body in [
        json!({}),
        json!({"operations": []}),
        json!({"operations": [{"op": "explode", "collection": "authors"}]}),
        json!({"operations": [{"op": "create", "collection": "nope", "data": {}}]}),
        json!({"operations": [{"op": "create", "collection": "authors", "data": {"zzz": 1}}]}),
    ] {
        let res = p.call("POST", "/data/_batch", Some(body.clone())).await;
        assert!(matches!(res.status, 400 | 404), "{body}: {res:?}");
    }
    let ops: Vec<Value> = (0..101)
        .map(|_| json!({"op": "create", "collection": "authors", "data": {}}))
        .collect();
    let res = p
        .call("POST", "/data/_batch", Some(json!({ "operations": ops })))
        .await;
    assert_eq!(res.status, 400);
    let anon = env
        .call(
            "POST",
            &format!("/api/projects/{}/data/_batch", p.id),
            None,
            Some(json!({"operations": [{"op": "create", "collection": "authors", "data": {}}]})),
        )
        .await;
    assert_eq!(anon.status, 401, "{anon:?}");
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_execute_with_parameters() {
    let env = TestEnv::start().await;
    let p = setup(&env, "views").await;
    env.collection(&p.t, &p.id, "products").await;
    env.field(&p.t, &p.id, "products", "status", "string").await;
    env.field(&p.t, &p.id, "products", "price", "int").await;
    for (i, status) in ["a", "a", "b", "a"].iter().enumerate() {
        p.ok(
            "POST",
            "/data/products",
            Some(json!({"status": status, "price": i * 10})),
        )
        .await;
    }
    let base = p.coll_id("products").await;
    p.ok(
        "POST",
        "/views",
        Some(json!({
            "name": "by_status", "display_name": "By status", "base_collection_id": base,
            "projection": ["id", "price"],
            "filters": [{"field": "status", "operator": "=", "value": "a", "is_param": true, "param_name": "status"}],
            "sorts": [{"field": "id", "is_param": true, "param_name": "sort_by", "desc_is_param": true, "desc_param_name": "sort_order"}],
        })),
    )
    .await;
    let run = |body: Value| p.call("POST", "/views/by_status/execute", Some(body));
    let res = run(json!({"limit": 10, "offset": 0})).await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(
        (res.body["total"].clone(), res.body["limit"].clone()),
        (json!(3), json!(10))
    );
    assert_eq!(res.body["view_name"], "by_status");
    assert!(
        res.body["data"][0].get("status").is_none(),
        "projection: {res:?}"
    );
    let ids = |res: &Res| -> Vec<i64> {
        res.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_i64().unwrap())
            .collect()
    };
    let asc = run(json!({"params": {"sort_by": "id", "sort_order": "asc"}})).await;
    let desc = run(json!({"params": {"sort_by": "id", "sort_order": "desc"}})).await;
    assert!(ids(&asc).windows(2).all(|w| w[0] < w[1]), "{asc:?}");
    assert!(ids(&desc).windows(2).all(|w| w[0] > w[1]), "{desc:?}");
    let b = run(json!({"params": {"status": "b"}})).await;
    assert_eq!(b.body["total"], 1);
    // A parameterized sort field that is not a column is ignored, never spliced.
    let hostile = run(json!({"params": {"sort_by": "id; DROP TABLE products"}})).await;
    assert_eq!(hostile.status, 200, "{hostile:?}");
    let capped = run(json!({"limit": 5000})).await;
    assert_eq!(capped.body["limit"], 1000);
    assert_eq!(
        p.call("POST", "/views/nope/execute", Some(json!({})))
            .await
            .status,
        404
    );
    assert_eq!(run(json!({"params": 5})).await.status, 422);
    let anon = env
        .call(
            "POST",
            &format!("/api/projects/{}/views/by_status/execute", p.id),
            None,
            Some(json!({})),
        )
        .await;
    assert_eq!(anon.status, 401);
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_query_values_are_escaped_or_refused() {
    let env = TestEnv::start().await;
    let p = setup(&env, "hostile").await;
    env.collection(&p.t, &p.id, "notes").await;
    env.field(&p.t, &p.id, "notes", "body", "string").await;
    env.field(&p.t, &p.id, "notes", "n", "int").await;
    for body in ["100% real", "a_b", "back\\slash", "plain"] {
        p.ok("POST", "/data/notes", Some(json!({"body": body, "n": 1})))
            .await;
    }
    let p = &p;
    let count = |q: &'static str| async move {
        let res = p.call("GET", &format!("/data/notes?{q}"), None).await;
        assert_eq!(res.status, 200, "{q}: {res:?}");
        res.body["total"].as_i64().unwrap()
    };
    assert_eq!(count("body__contains=%25").await, 1, "% is literal");
    assert_eq!(count("body__contains=_").await, 1, "_ is literal");
    assert_eq!(count("body__contains=%5C").await, 1, "backslash is literal");
    assert_eq!(count("body=%27%20OR%201%3D1%20--").await, 0);
    assert_eq!(count("body__ilike=PLAIN").await, 1);
    let res = p.call("GET", "/data/notes?body=a%00b", None).await;
    assert_eq!(res.status, 400, "NUL: {res:?}");
    let res = p
        .call("POST", "/data/notes", Some(json!({"body": "a\u{0}b"})))
        .await;
    assert_eq!(res.status, 400, "NUL: {res:?}");
    let many: Vec<String> = (0..10_000).map(|i| i.to_string()).collect();
    let res = p
        .call(
            "GET",
            &format!("/data/notes?n__in={}", many.join(",")),
            None,
        )
        .await;
    assert_eq!(res.status, 400, "{:?}", res.detail());
    let res = p.call("GET", "/data/notes?n__gt=abc", None).await;
    assert_eq!(res.status, 400);
    let res = p.call("GET", "/data/notes?body__bogus=1", None).await;
    assert_eq!(
        (res.status, res.detail()),
        (400, "Unknown filter operator: bogus".into())
    );
    env.shutdown().await;
}

/// Connections the worker pooled can die while idle (Postgres restarted, an operator ended them):
/// the next requests are answered on fresh ones, never with a 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_and_writes_survive_dead_pooled_connections() {
    let env = TestEnv::start().await;
    let p = setup(&env, "dead").await;
    env.collection(&p.t, &p.id, "notes").await;
    env.field(&p.t, &p.id, "notes", "n", "int").await;
    let id = p.ok("POST", "/data/notes", Some(json!({"n": 1}))).await["id"].clone();
    // Fill the pool with several idle connections.
    let path = format!("/data/notes/{id}");
    let reads = tokio::join!(
        p.call("GET", &path, None),
        p.call("GET", &path, None),
        p.call("GET", &path, None),
        p.call("GET", &path, None)
    );
    for res in [reads.0, reads.1, reads.2, reads.3] {
        assert_eq!(res.status, 200, "{res:?}");
    }
    let db = sqlx::PgPool::connect(&env.db_url).await.unwrap();
    let ended: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid()
           AND backend_type = 'client backend') t",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert!(ended >= 2, "ended {ended} connections");
    for n in 2..6 {
        let res = p.call("GET", &format!("/data/notes/{id}"), None).await;
        assert_eq!(res.status, 200, "read after the connections died: {res:?}");
        let body = json!({ "n": n });
        let res = p
            .call("PATCH", &format!("/data/notes/{id}"), Some(body))
            .await;
        assert_eq!(res.status, 200, "write after the connections died: {res:?}");
        assert_eq!(res.body["n"], n);
    }
    env.shutdown().await;
}

/// A patch whose value Postgres itself refuses (a NUL character) still answers in the contract's
/// order: a missing record is 404 before the value is judged, an existing one gets the 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_postgres_refuses_is_judged_after_the_record() {
    let env = TestEnv::start().await;
    let p = setup(&env, "nul").await;
    env.collection(&p.t, &p.id, "notes").await;
    env.field(&p.t, &p.id, "notes", "s", "string").await;
    let id = p.ok("POST", "/data/notes", Some(json!({"s": "ok"}))).await["id"].clone();
    let bad = json!({"s": "a\u{0}b"});
    let res = p
        .call("PATCH", "/data/notes/999999", Some(bad.clone()))
        .await;
    assert_eq!(
        (res.status, res.detail().as_str()),
        (404, "Record not found"),
        "{res:?}"
    );
    let res = p
        .call("PATCH", &format!("/data/notes/{id}"), Some(bad))
        .await;
    assert_eq!(res.status, 400, "{res:?}");
    assert!(!res.detail().is_empty(), "{res:?}");
    let res = p.call("GET", &format!("/data/notes/{id}"), None).await;
    assert_eq!(res.body["s"], "ok", "{res:?}");
    env.shutdown().await;
}
