//! Tenancy, read-your-writes, static stability and bad input, end to end through the router.

use e2e::TestEnv;
use serde_json::json;
use sqlx::Connection;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_never_see_each_other() {
    let env = TestEnv::start().await;
    let (ta, tb) = (
        env.admin("a@example.com").await,
        env.admin("b@example.com").await,
    );
    let (pa, pb) = (env.project(&ta, "A").await, env.project(&tb, "B").await);
    for (t, p) in [(&ta, &pa), (&tb, &pb)] {
        env.collection(t, p, "posts").await;
        env.field(t, p, "posts", "title", "string").await;
    }
    let a1 = env
        .call(
            "POST",
            &format!("/api/projects/{pa}/data/posts"),
            Some(&ta),
            Some(json!({"title": "secret of A"})),
        )
        .await;
    assert_eq!(a1.status, 201);
    let b1 = env
        .call(
            "POST",
            &format!("/api/projects/{pb}/data/posts"),
            Some(&tb),
            Some(json!({"title": "B"})),
        )
        .await;
    assert_eq!(b1.body["id"], 1, "ids are per project");

    // B's token on A's project, by id, by list, by write: the project is invisible.
    for (m, path, body) in [
        ("GET", format!("/api/projects/{pa}/data/posts/1"), None),
        ("GET", format!("/api/projects/{pa}/data/posts"), None),
        (
            "PATCH",
            format!("/api/projects/{pa}/data/posts/1"),
            Some(json!({"title": "pwned"})),
        ),
        ("DELETE", format!("/api/projects/{pa}/data/posts/1"), None),
        (
            "POST",
            format!("/api/projects/{pa}/data/posts"),
            Some(json!({"title": "planted"})),
        ),
        ("GET", format!("/api/projects/{pa}"), None),
        (
            "GET",
            format!("/api/projects/{pa}/schema/collections"),
            None,
        ),
    ] {
        let res = env.call(m, &path, Some(&tb), body).await;
        assert_eq!(
            (res.status, res.detail().as_str()),
            (404, "Project not found"),
            "{m} {path}"
        );
    }
    // Forged paths mixing B's project id with A's: A's project is as invisible as before.
    let own = env
        .call(
            "GET",
            &format!("/api/projects/{pb}/data/posts/1"),
            Some(&tb),
            None,
        )
        .await;
    assert_eq!(own.body["title"], "B");
    for forged in [
        format!("/api/projects/{pb}/../{pa}/data/posts/1"),
        format!("/api/projects/{pa}%2F..%2F{pb}/data/posts/1"),
    ] {
        let res = env.call("GET", &forged, Some(&tb), None).await;
        assert_eq!(
            (res.status, res.detail().as_str()),
            (404, "Project not found"),
            "{forged}"
        );
    }
    assert_eq!(
        env.call("GET", "/api/projects", Some(&tb), None)
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let a_still = env
        .call(
            "GET",
            &format!("/api/projects/{pa}/data/posts/1"),
            Some(&ta),
            None,
        )
        .await;
    assert_eq!(a_still.body["title"], "secret of A");
    assert_eq!(
        env.call(
            "GET",
            &format!("/api/projects/{pa}/data/posts"),
            Some(&ta),
            None
        )
        .await
        .body["total"],
        1
    );

    // In Postgres, A's role cannot read B's schema, nor the control schema.
    let schema = |p: &str| format!("p_{}", p.replace('-', "_"));
    let mut conn = sqlx::PgConnection::connect(&env.db_url).await.unwrap();
    let mut tx = conn.begin().await.unwrap();
    sqlx::query(&format!("SET LOCAL ROLE \"{}\"", schema(&pa)))
        .execute(&mut *tx)
        .await
        .unwrap();
    let own: i64 = sqlx::query_scalar(&format!(
        "SELECT count(*) FROM \"{}\".\"posts\"",
        schema(&pa)
    ))
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    assert_eq!(own, 1);
    let err = sqlx::query(&format!("SELECT * FROM \"{}\".\"posts\"", schema(&pb)))
        .execute(&mut *tx)
        .await;
    denied(err, "A's role read B's schema");
    tx.rollback().await.unwrap();
    let mut tx = conn.begin().await.unwrap();
    sqlx::query(&format!("SET LOCAL ROLE \"{}\"", schema(&pa)))
        .execute(&mut *tx)
        .await
        .unwrap();
    let err = sqlx::query("SELECT * FROM control.admins")
        .execute(&mut *tx)
        .await;
    denied(err, "A's role read the control schema");
    tx.rollback().await.unwrap();
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_field_is_writable_at_once_through_the_router() {
    let env = TestEnv::start().await;
    let t = env.admin("ryw@example.com").await;
    let p = env.project(&t, "ryw").await;
    env.collection(&t, &p, "items").await;
    for i in 0..100 {
        let name = format!("f{i}");
        env.field(&t, &p, "items", &name, "int").await;
        let res = env
            .call(
                "POST",
                &format!("/api/projects/{p}/data/items"),
                Some(&t),
                Some(json!({ name.clone(): i })),
            )
            .await;
        assert_eq!(res.status, 201, "field {name}: {res:?}");
        assert_eq!(res.body[&name], i);
    }
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_keep_serving_while_the_control_plane_is_away() {
    let mut env = TestEnv::start().await;
    let t = env.admin("static@example.com").await;
    let p = env.project(&t, "static").await;
    env.collection(&t, &p, "notes").await;
    env.field(&t, &p, "notes", "body", "string").await;
    let d = format!("/api/projects/{p}/data/notes");

    env.stop_control_plane().await;
    let admin = env.call("GET", "/api/projects", Some(&t), None).await;
    assert_eq!(admin.status, 502, "{admin:?}");
    assert!(admin.body["detail"].is_string());
    for i in 0..10 {
        let w = env
            .call("POST", &d, Some(&t), Some(json!({"body": format!("n{i}")})))
            .await;
        assert_eq!(w.status, 201, "{w:?}");
    }
    let list = env.call("GET", &d, Some(&t), None).await;
    assert_eq!((list.status, list.body["total"].as_i64()), (200, Some(10)));

    env.restart_control_plane().await;
    // A change made after the restart reaches the workers once they have reconnected.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let res = env
            .call(
                "POST",
                &format!("/api/projects/{p}/schema/collections/notes/fields"),
                Some(&t),
                Some(json!({"name": "tag", "display_name": "Tag", "field_type": "string"})),
            )
            .await;
        if res.status == 201 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "control plane did not come back: {res:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Workers reconnect with backoff; one that was not back yet when the change was made gets it
    // in its snapshot. Soon every worker (the router alternates) knows the new field.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let mut in_a_row = 0;
    while in_a_row < 6 {
        let w = env
            .call(
                "POST",
                &d,
                Some(&t),
                Some(json!({"body": "after", "tag": "x"})),
            )
            .await;
        in_a_row = if w.status == 201 && w.body["tag"] == "x" {
            in_a_row + 1
        } else {
            0
        };
        assert!(
            std::time::Instant::now() < deadline,
            "the change did not reach every worker: {w:?}"
        );
    }
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_error_and_writes_nothing() {
    let env = TestEnv::start().await;
    let t = env.admin("bad@example.com").await;
    let p = env.project(&t, "bad").await;
    let base = format!("/api/projects/{p}");
    env.collection(&t, &p, "order").await;
    env.field(&t, &p, "order", "qty", "int").await;
    env.field(&t, &p, "order", "day", "date").await;
    let d = format!("{base}/data/order");

    // Collection and field names.
    let col = |name: &str| json!({"name": name, "display_name": "X"});
    let coll_path = format!("{base}/schema/collections");
    let r = env
        .call("POST", &coll_path, Some(&t), Some(col("select")))
        .await;
    assert_eq!(r.status, 400);
    assert!(r.detail().starts_with("Invalid collection name"));
    for hostile in [
        "we\"ird",
        "a;b",
        "Robert'); DROP TABLE x;--",
        "_users",
        "",
        "Invalid Name",
    ] {
        let r = env
            .call("POST", &coll_path, Some(&t), Some(col(hostile)))
            .await;
        assert_eq!(r.status, 422, "{hostile}: {r:?}");
        assert!(r.body["detail"].is_array());
    }
    assert_eq!(
        env.call("POST", &coll_path, Some(&t), Some(col("order")))
            .await
            .status,
        409
    );
    let fpath = format!("{base}/schema/collections/order/fields");
    for (body, status) in [
        (
            json!({"name": "x\"; DROP", "display_name": "X", "field_type": "string"}),
            422,
        ),
        (
            json!({"name": "semi;colon", "display_name": "X", "field_type": "string"}),
            422,
        ),
        (json!({"name": "ok", "display_name": "X"}), 422),
        (
            json!({"name": "from", "display_name": "X", "field_type": "string"}),
            400,
        ),
        (
            json!({"name": "ok", "display_name": "X", "field_type": "jsonb"}),
            400,
        ),
        (
            json!({"name": "qty", "display_name": "X", "field_type": "int"}),
            409,
        ),
        (
            json!({"name": "id", "display_name": "X", "field_type": "int"}),
            400,
        ),
        (
            json!({"name": "ok", "display_name": "X", "field_type": "int", "is_required": true}),
            400,
        ),
        (
            json!({"name": "ok", "display_name": "X", "field_type": "int", "is_required": true, "default_value": "1'; DROP TABLE x; --"}),
            400,
        ),
    ] {
        let r = env.call("POST", &fpath, Some(&t), Some(body.clone())).await;
        assert_eq!(r.status, status, "{body}: {r:?}");
    }
    assert_eq!(
        env.call(
            "POST",
            &format!("{base}/schema/collections/nope/fields"),
            Some(&t),
            Some(json!({"name": "a", "display_name": "A", "field_type": "int"}))
        )
        .await
        .status,
        404
    );
    assert_eq!(
        env.call("GET", &fpath, Some(&t), None)
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Record bodies.
    let ok = env
        .call("POST", &d, Some(&t), Some(json!({"qty": 1})))
        .await;
    assert_eq!(ok.status, 201);
    let malformed = env
        .call_raw("POST", &d, Some(&t), b"{\"qty\": ".to_vec())
        .await;
    assert_eq!(malformed.status, 422);
    assert_eq!(malformed.body["detail"][0]["type"], "json_invalid");
    assert_eq!(
        env.call_raw("POST", &d, Some(&t), b"[1,2]".to_vec())
            .await
            .status,
        422
    );
    assert_eq!(
        env.call_raw("POST", "/api/auth/login", None, b"nope".to_vec())
            .await
            .status,
        422
    );
    for (body, status) in [
        (json!({"qty": "many"}), 400),
        (json!({"qty": 1.5}), 400),
        (json!({"qty": {"$gt": 1}}), 400),
        (json!({"day": "2024-02-30"}), 400),
        (json!({"qty": 1, "unknown_field": 1}), 400),
        (json!({"qty": "1; DROP TABLE \"order\""}), 400),
    ] {
        let r = env.call("POST", &d, Some(&t), Some(body.clone())).await;
        assert_eq!(r.status, status, "{body}: {r:?}");
        assert!(r.body["detail"].is_string(), "{r:?}");
    }
    let unknown = env
        .call("POST", &d, Some(&t), Some(json!({"unknown_field": 1})))
        .await;
    assert_eq!(unknown.detail(), "Unknown field: unknown_field");
    let patch = env
        .call(
            "PATCH",
            &format!("{d}/1"),
            Some(&t),
            Some(json!({"qty": 5, "nope": 1})),
        )
        .await;
    assert_eq!(patch.status, 400);
    assert_eq!(
        env.call(
            "PATCH",
            &format!("{d}/999"),
            Some(&t),
            Some(json!({"nope": 1}))
        )
        .await
        .status,
        404
    );
    assert_eq!(
        env.call("GET", &format!("{base}/data/missing"), Some(&t), None)
            .await
            .detail(),
        "Collection not found"
    );
    assert_eq!(
        env.call("GET", &format!("{base}/data/select"), Some(&t), None)
            .await
            .status,
        404
    );
    assert_eq!(
        env.call("GET", &format!("{d}/abc"), Some(&t), None)
            .await
            .detail(),
        "Record not found"
    );
    assert_eq!(
        env.call("GET", &format!("{d}?limit=0"), Some(&t), None)
            .await
            .status,
        422
    );
    assert_eq!(
        env.call("GET", &format!("{d}?limit=abc"), Some(&t), None)
            .await
            .status,
        422
    );
    assert_eq!(
        env.call("GET", &format!("{d}?offset=-1"), Some(&t), None)
            .await
            .status,
        422
    );
    assert_eq!(
        env.call("GET", &format!("{d}?qty=abc"), Some(&t), None)
            .await
            .status,
        400
    );
    assert_eq!(
        env.call("GET", &format!("{d}?qty__bogus=1"), Some(&t), None)
            .await
            .detail(),
        "Unknown filter operator: bogus"
    );
    let inj = env
        .call(
            "GET",
            &format!("{d}?qty__in=1,2&sort=-qty;DROP"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(inj.status, 200);
    assert_eq!(
        env.call("GET", "/api/projects/not-a-uuid/data/order", Some(&t), None)
            .await
            .detail(),
        "Project not found"
    );
    assert_eq!(
        env.call(
            "GET",
            &format!("/api/projects/{}/data/order", uuid::Uuid::new_v4()),
            Some(&t),
            None
        )
        .await
        .detail(),
        "Project not found"
    );

    // 10 MB bodies: 413 from the data plane and the control plane, nothing written.
    let big = format!(
        "{{\"qty\": 1, \"pad\": \"{}\"}}",
        "x".repeat(10 * 1024 * 1024)
    );
    let r = env
        .call_raw("POST", &d, Some(&t), big.clone().into_bytes())
        .await;
    assert_eq!(r.status, 413, "{r:?}");
    assert!(r.body["detail"].is_string());
    assert_eq!(
        env.call_raw("POST", &coll_path, Some(&t), big.into_bytes())
            .await
            .status,
        413
    );

    // Unknown routes and methods.
    let r = env.call("GET", "/api/nothing-here", None, None).await;
    assert_eq!((r.status, r.detail().as_str()), (404, "Not Found"));
    assert_eq!(
        env.call("DELETE", "/api/projects", Some(&t), None)
            .await
            .status,
        405
    );

    // Nothing partial: exactly the one good record, the schema as it was.
    let list = env.call("GET", &d, Some(&t), None).await;
    assert_eq!(list.body["total"], 1, "{list:?}");
    let cols = env.call("GET", &coll_path, Some(&t), None).await;
    assert_eq!(cols.body.as_array().unwrap().len(), 2);
    env.shutdown().await;
}

/// Reads, and writes outside a transaction, run as the project's role on a shared connection: a
/// statement meant for project B that names project A's table is refused by Postgres, whatever
/// the connection ran before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_run_as_their_projects_role_on_a_shared_connection() {
    let env = TestEnv::start().await;
    let t = env.admin("roles@example.com").await;
    let (a, b) = (env.project(&t, "a").await, env.project(&t, "b").await);
    for p in [&a, &b] {
        env.collection(&t, p, "secrets").await;
        env.field(&t, p, "secrets", "v", "string").await;
    }
    let res = env
        .call(
            "POST",
            &format!("/api/projects/{a}/data/secrets"),
            Some(&t),
            Some(json!({"v": "A's"})),
        )
        .await;
    assert_eq!(res.status, 201);

    let control = sqlx::PgPool::connect(&env.db_url).await.unwrap();
    let compile = |id: &str| {
        let control = control.clone();
        let id = uuid::Uuid::parse_str(id).unwrap();
        async move {
            let secrets = control_plane::secrets::SecretBox::new(&[0; 32]);
            let config = control_plane::compile::compile_project(&control, id, "k", &secrets)
                .await
                .unwrap()
                .unwrap();
            data_plane::registry::Project::new(config)
        }
    };
    let (pa, pb) = (compile(&a).await, compile(&b).await);
    // One connection, so every read below reuses it.
    let pool = data_plane::db::connect(&env.db_url, 1).await.unwrap();
    let table_of = |p: &data_plane::registry::Project| p.collections["secrets"].table.clone();
    let count = |table: model::sql::Ident| {
        move || {
            let mut qb = data_plane::db::read_prefix(None);
            qb.push("SELECT count(*)::text FROM ")
                .push(table.as_sql())
                .push(")");
            qb
        }
    };
    let own = data_plane::db::read(&pool, &pa, count(table_of(&pa)))
        .await
        .unwrap();
    assert_eq!(own.json.as_deref(), Some("1"));
    // The connection's role is now A's; B's read of A's table must fail, not answer.
    let cross = data_plane::db::read(&pool, &pb, count(table_of(&pa))).await;
    denied(cross, "B read A's table");
    let b_own = data_plane::db::read(&pool, &pb, count(table_of(&pb)))
        .await
        .unwrap();
    assert_eq!(b_own.json.as_deref(), Some("0"));
    let back = data_plane::db::read(&pool, &pa, count(table_of(&pb))).await;
    denied(back, "A read B's table");
    drop(pool);

    // Writes outside a transaction guard their role in the statement. A fresh connection runs
    // as the worker's login role, which could write anywhere: the guard makes that first try
    // write nothing, so B's one insert leaves exactly one row.
    let pool = data_plane::db::connect(&env.db_url, 1).await.unwrap();
    let (ca, cb) = (&pa.collections["secrets"], &pb.collections["secrets"]);
    let value = |c: &data_plane::registry::Collection, v: &str| {
        vec![(c.columns["v"].clone(), Some(v.to_owned()))]
    };
    let actor = data_plane::events::Actor::default();
    let change = |p| data_plane::events::Change {
        project: p,
        actor: &actor,
        hooks: vec![],
        deliveries: vec![],
        flows: vec![],
        depth: 1,
    };
    let put = data_plane::db::insert_at_once(&pool, &pb, cb, &value(cb, "B's"), &change(&pb))
        .await
        .unwrap()
        .expect("the inserted row");
    assert!(put.contains("B's"), "{put}");
    let b_count = data_plane::db::read(&pool, &pb, count(table_of(&pb)))
        .await
        .unwrap();
    assert_eq!(b_count.json.as_deref(), Some("1"));
    // As A (the connection is now B's), into B's table, and over A's row as B: refused.
    let cross =
        data_plane::db::insert_at_once(&pool, &pa, cb, &value(cb, "A into B"), &change(&pa)).await;
    denied(cross, "A wrote into B's table");
    let any = data_plane::query::filter::Pred::Const(true);
    let a_row = data_plane::db::RecordId::Int(1);
    let cross = data_plane::db::update_at_once(
        &pool,
        &pb,
        ca,
        &a_row,
        &value(ca, "B's"),
        &any,
        &change(&pb),
    )
    .await;
    denied(cross, "B changed A's row");
    let own = data_plane::db::update_at_once(
        &pool,
        &pa,
        ca,
        &a_row,
        &value(ca, "A's, again"),
        &any,
        &change(&pa),
    )
    .await
    .unwrap()
    .expect("the updated row");
    assert!(own.contains("A's, again"), "{own}");
    for (p, want) in [(&pa, "1"), (&pb, "1")] {
        let n = data_plane::db::read(&pool, p, count(table_of(p)))
            .await
            .unwrap();
        assert_eq!(n.json.as_deref(), Some(want));
    }

    // A statement cut off mid-way (its request cancelled) leaves its answer, here an error, on
    // the connection: the next statement there gets its own answer, not that one.
    let slow_error = || {
        let mut qb = data_plane::db::read_prefix(None);
        qb.push("SELECT pg_sleep(0.3)::text || (1 / (random() * 0)::int)::text)");
        qb
    };
    let cut = tokio::time::timeout(
        std::time::Duration::from_millis(50),
        data_plane::db::read(&pool, &pb, slow_error),
    )
    .await;
    assert!(cut.is_err(), "the slow statement was not cut off: {cut:?}");
    let next = data_plane::db::read(&pool, &pa, count(table_of(&pa))).await;
    assert_eq!(next.unwrap().json.as_deref(), Some("1"));
    drop(pool);
    control.close().await;
    env.shutdown().await;
}

/// The statement was refused by Postgres for lack of privilege (SQLSTATE 42501) while running as
/// the project's own role: no other error, and no answer, will do.
fn denied<T: std::fmt::Debug>(res: Result<T, sqlx::Error>, what: &str) {
    let code = match &res {
        Err(sqlx::Error::Database(d)) => d.code().map(|c| c.into_owned()),
        _ => None,
    };
    assert_eq!(code.as_deref(), Some("42501"), "{what}: {res:?}");
}
