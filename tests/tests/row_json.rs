//! A list page's JSON is written by the worker from typed rows; it must be the bytes Postgres
//! writes (`json_agg` of `row_to_json`). A corpus of awkward values goes through the router and
//! is compared with what Postgres builds for the same rows, byte for byte; values the worker
//! does not write itself (a date before year 1, an infinite timestamp) must come out the same
//! too (Postgres writes that page). One record's JSON (`GET …/{id}`) likewise. And pages of
//! 2,000 random doubles.

use e2e::TestEnv;
use sqlx::PgPool;

const COLUMNS: &str = "id, created_at, updated_at, created_by_user_id, created_by_app_user_id, \
                       s, i, f, b, d, ts, u, j";

/// List pages written so far by `who` (`worker` or `postgres`), from a worker's `/metrics`
/// (the test's workers share one registry).
async fn pages_by(env: &TestEnv, who: &str) -> f64 {
    let (_, url) = env
        .metrics_urls()
        .into_iter()
        .find(|(name, _)| name.starts_with("worker"))
        .expect("a worker");
    let text = reqwest::get(url).await.unwrap().text().await.unwrap();
    let needle = format!("list_pages_total{{outcome=\"{who}\"}} ");
    text.lines()
        .find_map(|l| {
            l.split_once(&needle)
                .map(|(_, v)| v.trim().parse().unwrap())
        })
        .unwrap_or_else(|| panic!("no {needle} in {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_written_pages_are_the_bytes_postgres_writes() {
    let env = TestEnv::start().await;
    let t = env.admin("rows@example.com").await;
    let p = env.project(&t, "Rows").await;
    env.collection(&t, &p, "corpus").await;
    for (name, ty) in [
        ("s", "string"),
        ("i", "int"),
        ("f", "float"),
        ("b", "boolean"),
        ("d", "date"),
        ("ts", "datetime"),
        ("u", "uuid"),
        ("j", "json"),
    ] {
        env.field(&t, &p, "corpus", name, ty).await;
    }
    let db = PgPool::connect(&env.db_url).await.unwrap();
    let table = format!("p_{}.corpus", p.replace('-', "_"));
    let corpus = [
        // Unicode, escapes, empty and NULL.
        r#"(E'caf\u00e9 \u6f22\u5b57 \U0001F600', 0, 0.1, true, '2000-02-29', '2026-12-05 02:53:23.1+00', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"k": "v", "n": [1, 2.50, 1e2, null, true]}')"#,
        r#"(E'tab\there\nnew \u0001\u001f "q" \\ / \u007f', -9223372036854775808, 1e15, false, '0001-01-01', '1970-01-01 00:00:00+00', NULL, '"just a string"')"#,
        r#"('', 9223372036854775807, 1e-05, NULL, '9999-12-31', '1969-12-31 23:59:59.999999+00', '00000000-0000-0000-0000-000000000000', '[]')"#,
        r#"(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)"#,
        r#"('x', 42, 'NaN', true, '2026-12-05', '2026-12-05 02:53:23.000001+00', 'ffffffff-ffff-ffff-ffff-ffffffffffff', '{"b": {"z": 1, "a": "\u00e9\n"}, "a": -0.0}')"#,
        r#"('y', -1, 'Infinity', false, '1999-12-31', '2000-01-01 00:00:00+00', NULL, '12.3400')"#,
        r#"('z', 7, '-Infinity', true, '2024-01-01', '2262-04-11 23:47:16.854775+00', NULL, '{}')"#,
        r#"('w', 8, -0.0, true, '2024-01-01', '1900-06-15 12:00:00.5+00', NULL, 'null')"#,
        r#"('v', 9, 123456789012345.678, true, '2024-01-01', '2001-09-09 01:46:40+00', NULL, '0')"#,
        r#"('t', 10, 5e-324, true, '2024-01-01', '2026-01-01 00:00:00+00', NULL, '1')"#,
        r#"('r', 11, 1.7976931348623157e308, true, '2024-01-01', '2026-01-01 00:00:00+00', NULL, '1')"#,
        r#"('q', 12, 0.30000000000000004, true, '2024-01-01', '2026-01-01 00:00:00+00', NULL, '1')"#,
        r#"('p', 13, 0.0001, true, '2024-01-01', '2026-01-01 00:00:00+00', NULL, '1')"#,
        r#"('o', 14, 2.5e-7, true, '2024-01-01', '2026-01-01 00:00:00+00', NULL, '1')"#,
        r#"('n', 15, 100, true, '2024-01-01', '2026-01-01 00:00:00+00', NULL, '1')"#,
        r#"('m', 16, 99999999999999.9, true, '2024-01-01', '2026-01-01 00:00:00+00', NULL, '1')"#,
    ];
    for row in corpus {
        sqlx::query(&format!(
            "INSERT INTO {table} (s, i, f, b, d, ts, u, j) VALUES {row}"
        ))
        .execute(&db)
        .await
        .unwrap();
    }
    let expected = |agg: String, total: i64, limit: i64, offset: i64| {
        format!("{{\"records\":{agg},\"total\":{total},\"limit\":{limit},\"offset\":{offset}}}")
    };
    let page = |query: &str| {
        let env = &env;
        let t = t.clone();
        let url = format!("/api/projects/{p}/data/corpus?{query}");
        async move {
            let res = env
                .request("GET", &url)
                .bearer_auth(&t)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            res.text().await.unwrap()
        }
    };
    let pg = |sql: String| {
        let db = db.clone();
        async move {
            sqlx::query_scalar::<_, Option<String>>(&sql)
                .fetch_one(&db)
                .await
                .unwrap()
                .unwrap_or_else(|| "[]".into())
        }
    };
    let all = pg(format!(
        "SELECT json_agg(_r)::text FROM (SELECT {COLUMNS} FROM {table} ORDER BY id LIMIT 100) _r"
    ))
    .await;
    assert_eq!(page("sort=id").await, expected(all, 16, 100, 0));
    let some = pg(format!(
        "SELECT json_agg(_r)::text FROM (SELECT {COLUMNS} FROM {table} ORDER BY id DESC LIMIT 3 OFFSET 2) _r"
    ))
    .await;
    assert_eq!(
        page("sort=-id&limit=3&offset=2").await,
        expected(some, 16, 3, 2)
    );
    assert_eq!(
        page("s=nothing-like-this").await,
        expected("[]".into(), 0, 100, 0)
    );
    // Those pages were written by the worker, not handed back to Postgres.
    let by_worker = pages_by(&env, "worker").await;
    let by_postgres = pages_by(&env, "postgres").await;
    assert!(by_worker >= 3.0, "{by_worker} pages by the worker");

    // Values the worker leaves to Postgres: the page is still the same bytes.
    sqlx::query(&format!(
        "INSERT INTO {table} (s, d, ts) VALUES ('bc', '0044-03-15 BC', 'infinity')"
    ))
    .execute(&db)
    .await
    .unwrap();
    let all = pg(format!(
        "SELECT json_agg(_r)::text FROM (SELECT {COLUMNS} FROM {table} ORDER BY id LIMIT 100) _r"
    ))
    .await;
    assert!(all.contains("0044-03-15 BC"), "{all}");
    assert_eq!(page("sort=id").await, expected(all, 17, 100, 0));
    assert_eq!(
        pages_by(&env, "postgres").await,
        by_postgres + 1.0,
        "that page came from Postgres"
    );

    // One record (`GET …/corpus/{id}`) is written the same way: the same bytes as
    // `row_to_json`, for every row of the corpus and the one Postgres writes.
    let ids: Vec<i64> = sqlx::query_scalar(&format!("SELECT id FROM {table} ORDER BY id"))
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(ids.len(), 17);
    for id in ids {
        let want = pg(format!(
            "SELECT row_to_json(_r)::text FROM (SELECT {COLUMNS} FROM {table} WHERE id = {id}) _r"
        ))
        .await;
        let res = env
            .request("GET", &format!("/api/projects/{p}/data/corpus/{id}"))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.text().await.unwrap(), want, "record {id}");
    }
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_of_random_floats_are_the_bytes_postgres_writes() {
    let env = TestEnv::start().await;
    let t = env.admin("floats@example.com").await;
    let p = env.project(&t, "Floats").await;
    env.collection(&t, &p, "nums").await;
    env.field(&t, &p, "nums", "f", "float").await;
    let db = PgPool::connect(&env.db_url).await.unwrap();
    let table = format!("p_{}.nums", p.replace('-', "_"));
    // Random bit patterns (every exponent, NaN and infinities among them), and random values of
    // everyday size.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut values: Vec<f64> = (0..1990)
        .map(|i| {
            let bits = next();
            if i % 2 == 0 {
                f64::from_bits(bits)
            } else {
                (bits % 10_000_000) as f64 / 10f64.powi((bits % 12) as i32)
            }
        })
        .collect();
    values.extend([
        0.0,
        -0.0,
        1e15,
        1e-4,
        1e-5,
        9.999999999999999e14,
        1e16,
        0.1 + 0.2,
    ]);
    values.extend([7.147940184578482e16, f64::NAN]);
    sqlx::query(&format!(
        "INSERT INTO {table} (f) SELECT unnest($1::float8[])"
    ))
    .bind(&values)
    .execute(&db)
    .await
    .unwrap();
    for offset in [0, 1000] {
        let url = format!("/api/projects/{p}/data/nums?sort=id&limit=1000&offset={offset}");
        let res = env
            .request("GET", &url)
            .bearer_auth(&t)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let ours = res.text().await.unwrap();
        let agg: String = sqlx::query_scalar(&format!(
            "SELECT json_agg(_r)::text FROM (SELECT {} FROM {table} ORDER BY id LIMIT 1000 OFFSET {offset}) _r",
            "id, created_at, updated_at, created_by_user_id, created_by_app_user_id, f"
        ))
        .fetch_one(&db)
        .await
        .unwrap();
        let expected = format!(
            "{{\"records\":{agg},\"total\":{},\"limit\":1000,\"offset\":{offset}}}",
            values.len()
        );
        assert_eq!(ours, expected);
    }
    env.shutdown().await;
}

/// A column's type changes under statements the workers had prepared (typed rows fix their
/// result types): every page afterwards is still answered, with the new types, as Postgres
/// writes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_stay_right_when_a_column_changes_type() {
    let env = TestEnv::start().await;
    let t = env.admin("retype@example.com").await;
    let p = env.project(&t, "Retype").await;
    env.collection(&t, &p, "log").await;
    env.field(&t, &p, "log", "d", "date").await;
    env.field(&t, &p, "log", "n", "int").await;
    let db = PgPool::connect(&env.db_url).await.unwrap();
    let table = format!("p_{}.log", p.replace('-', "_"));
    sqlx::query(&format!(
        "INSERT INTO {table} (d, n) SELECT date '2024-01-01' + g, g FROM generate_series(1, 20) g"
    ))
    .execute(&db)
    .await
    .unwrap();
    let url = format!("/api/projects/{p}/data/log?sort=id&limit=5");
    let expected = || {
        let (db, table) = (db.clone(), table.clone());
        async move {
            let agg: String = sqlx::query_scalar(&format!(
                "SELECT json_agg(_r)::text FROM (SELECT id, created_at, updated_at, \
                 created_by_user_id, created_by_app_user_id, d, n FROM {table} ORDER BY id LIMIT 5) _r"
            ))
            .fetch_one(&db)
            .await
            .unwrap();
            format!("{{\"records\":{agg},\"total\":20,\"limit\":5,\"offset\":0}}")
        }
    };
    let pages = |n: usize| {
        let (env, t, url) = (&env, t.clone(), url.clone());
        async move {
            let mut out = Vec::new();
            for _ in 0..n {
                let res = env
                    .request("GET", &url)
                    .bearer_auth(&t)
                    .send()
                    .await
                    .unwrap();
                let status = res.status().as_u16();
                out.push((status, res.text().await.unwrap()));
            }
            out
        }
    };
    // Every connection of both workers prepares the typed statement.
    let want = expected().await;
    for (status, body) in pages(30).await {
        assert_eq!((status, body), (200, want.clone()));
    }
    let c = env
        .call(
            "GET",
            &format!("/api/projects/{p}/schema/collections/log"),
            Some(&t),
            None,
        )
        .await;
    let cid = c.body["id"].as_str().unwrap().to_owned();
    // `d` alone first: the statement's text stays the same (`n` would add a cast), so the
    // statement the connections prepared is the one that meets the new type.
    for (field, to) in [("d", "datetime"), ("n", "float")] {
        let f = env
            .call(
                "GET",
                &format!("/api/projects/{p}/schema/collections/log/fields/{field}"),
                Some(&t),
                None,
            )
            .await;
        let fid = f.body["id"].as_str().unwrap();
        let changed = env
            .call(
                "POST",
                &format!(
                    "/api/projects/{p}/schema/evolution/collections/{cid}/fields/{fid}/change-type"
                ),
                Some(&t),
                Some(serde_json::json!({"new_type": to})),
            )
            .await;
        assert_eq!(changed.status, 200, "{changed:?}");
        let want = expected().await;
        assert!(want.contains("T00:00:00+00:00"), "{want}");
        for (status, body) in pages(30).await {
            assert_eq!(
                (status, body),
                (200, want.clone()),
                "after {field} became {to}"
            );
        }
    }
    env.shutdown().await;
}

/// A worker-written page's rows come only while its connection is in the project's role. One
/// worker's connections serve two projects with the same collection in turn, asked directly
/// (not through the router, which may send each project to its own worker): each page holds
/// its own project's rows and none of the other's, whether the connection came in the other
/// project's role (refused, it is set to the page's own and asked again) or already in its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_never_cross_projects_on_shared_connections() {
    let env = TestEnv::start().await;
    let t = env.admin("tenants@example.com").await;
    let db = PgPool::connect(&env.db_url).await.unwrap();
    let mut projects = Vec::new();
    for (name, word, rows) in [("Alpha", "alpha", 7), ("Beta", "beta", 5)] {
        let p = env.project(&t, name).await;
        env.collection(&t, &p, "notes").await;
        env.field(&t, &p, "notes", "s", "string").await;
        let table = format!("p_{}.notes", p.replace('-', "_"));
        sqlx::query(&format!(
            "INSERT INTO {table} (s) SELECT '{word}' FROM generate_series(1, {rows})"
        ))
        .execute(&db)
        .await
        .unwrap();
        projects.push((p, word, rows));
    }
    let worker = env.worker_addrs()[0];
    let http = reqwest::Client::new();
    let page = |p: &str| {
        let url = format!("http://{worker}/api/projects/{p}/data/notes?sort=id");
        let (http, t) = (http.clone(), t.clone());
        async move {
            let res = http.get(url).bearer_auth(t).send().await.unwrap();
            assert_eq!(res.status(), 200);
            res.json::<serde_json::Value>().await.unwrap()
        }
    };
    let by_worker = pages_by(&env, "worker").await;
    // Alternating (each connection last served the other project), then twice in a row.
    let order = [0, 1, 0, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 1];
    for &i in &order {
        let (p, word, rows) = &projects[i];
        let body = page(p).await;
        let records = body["records"].as_array().unwrap();
        assert_eq!(records.len(), *rows, "{p}: {body}");
        assert!(records.iter().all(|r| r["s"] == *word), "{p}: {body}");
        assert_eq!(body["total"], *rows, "{p}: {body}");
    }
    // At least the repeated ones were written by the worker on a connection already in role.
    let written = pages_by(&env, "worker").await - by_worker;
    assert!(written >= 4.0, "{written} pages written by the worker");
    env.shutdown().await;
}
