//! Cells: two Postgres clusters, each with its own worker. New projects go to the emptiest cell,
//! each project's schema and rows live on its cell's cluster only, the router sends its requests
//! to its cell's worker, and schema changes of a project on the second cell commit on both
//! databases together (two phases), leaving nothing half-done when they fail or when the control
//! plane stops between the phases.

use e2e::{Options, TestEnv};
use proto::admin::ListAppUsersRequest;
use proto::AdminServiceClient;
use serde_json::json;
use sqlx::PgPool;

fn schema_of(project: &str) -> String {
    format!("p_{}", project.replace('-', "_"))
}

async fn has_schema(db: &PgPool, project: &str) -> bool {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
        .bind(schema_of(project))
        .fetch_one(db)
        .await
        .unwrap()
}

async fn prepared(db: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM pg_prepared_xacts")
        .fetch_one(db)
        .await
        .unwrap()
}

async fn two_cells() -> (TestEnv, PgPool, PgPool) {
    let env = TestEnv::start_with(Options {
        second_cell: true,
        ..Options::default()
    })
    .await;
    let control = PgPool::connect(&env.db_url).await.unwrap();
    let second = PgPool::connect(env.second_cell_db.as_ref().unwrap())
        .await
        .unwrap();
    (env, control, second)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projects_spread_over_two_cells_and_each_is_served_from_its_own() {
    let (env, control, second) = two_cells().await;
    let t = env.admin("cells@example.com").await;

    // The emptiest cell takes each new project: default first on a tie, then b, and so on.
    let mut projects = Vec::new();
    for name in ["One", "Two", "Three", "Four"] {
        projects.push(env.project(&t, name).await);
    }
    let on_b: Vec<bool> = {
        let mut out = Vec::new();
        for p in &projects {
            let (here, there) = (has_schema(&control, p).await, has_schema(&second, p).await);
            assert!(
                here != there,
                "project {p} has its schema on exactly one cell"
            );
            out.push(there);
        }
        out
    };
    assert_eq!(on_b, [false, true, false, true]);
    let cells: Vec<String> = sqlx::query_scalar("SELECT cell FROM control.projects ORDER BY seq")
        .fetch_all(&control)
        .await
        .unwrap();
    assert_eq!(cells, ["default", "b", "default", "b"]);

    // Right after its creation each project takes a schema and records through the router,
    // and the rows land on its own cluster.
    for (p, b) in projects.iter().zip(&on_b) {
        env.collection(&t, p, "posts").await;
        env.field(&t, p, "posts", "title", "text").await;
        let made = env
            .call(
                "POST",
                &format!("/api/projects/{p}/data/posts"),
                Some(&t),
                Some(json!({"title": format!("hello from {p}")})),
            )
            .await;
        assert_eq!(made.status, 201, "{made:?}");
        let got = env
            .call(
                "GET",
                &format!("/api/projects/{p}/data/posts"),
                Some(&t),
                None,
            )
            .await;
        assert_eq!(got.status, 200, "{got:?}");
        assert_eq!(got.body["records"][0]["title"], format!("hello from {p}"));
        let db = if *b { &second } else { &control };
        let rows: i64 =
            sqlx::query_scalar(&format!("SELECT count(*) FROM {}.\"posts\"", schema_of(p)))
                .fetch_one(db)
                .await
                .unwrap();
        assert_eq!(rows, 1);
    }

    // A worker serves its own cell's projects only: cell b's worker does not know project One.
    let b_worker = env.worker_addrs()[1];
    let res = reqwest::Client::new()
        .get(format!(
            "http://{b_worker}/api/projects/{}/data/posts",
            projects[0]
        ))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);

    // App users sign up on a project of cell b (its auth tables are there).
    let p = &projects[1];
    let signup = env
        .call(
            "POST",
            &format!("/api/projects/{p}/auth/register"),
            None,
            Some(json!({"email": "reader@example.com", "password": "password123"})),
        )
        .await;
    assert_eq!(signup.status, 201, "{signup:?}");
    let users: i64 =
        sqlx::query_scalar(&format!("SELECT count(*) FROM {}.\"_users\"", schema_of(p)))
            .fetch_one(&second)
            .await
            .unwrap();
    assert_eq!(users, 1);

    // The gRPC admin API forwards a worker's route to the project's cell too.
    let url = format!("http://{}", env.router_addr());
    let mut grpc = AdminServiceClient::new(proto::connect(&url).await.unwrap());
    let mut req = tonic::Request::new(ListAppUsersRequest {
        project_id: p.clone(),
        ..Default::default()
    });
    req.metadata_mut()
        .insert("authorization", format!("Bearer {t}").parse().unwrap());
    let listed = grpc.list_app_users(req).await.unwrap().into_inner();
    assert_eq!(listed.users.len(), 1);
    assert_eq!(listed.users[0].email, "reader@example.com");

    // Schema evolution on cell b: a rename and a type change commit on both databases.
    let c = env
        .call(
            "GET",
            &format!("/api/projects/{p}/schema/collections/posts"),
            Some(&t),
            None,
        )
        .await;
    let f = env
        .call(
            "GET",
            &format!("/api/projects/{p}/schema/collections/posts/fields/title"),
            Some(&t),
            None,
        )
        .await;
    let (cid, fid) = (&c.body["id"], &f.body["id"]);
    let renamed = env
        .call(
            "POST",
            &format!(
                "/api/projects/{p}/schema/evolution/collections/{}/fields/{}/rename",
                cid.as_str().unwrap(),
                fid.as_str().unwrap()
            ),
            Some(&t),
            Some(json!({"new_name": "headline"})),
        )
        .await;
    assert_eq!(renamed.status, 200, "{renamed:?}");
    let got = env
        .call(
            "GET",
            &format!("/api/projects/{p}/data/posts"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(
        got.body["records"][0]["headline"],
        format!("hello from {p}")
    );
    assert_eq!(
        prepared(&second).await,
        0,
        "no transaction is left prepared"
    );

    // A change the rows refuse (a second equal value under a unique index) changes nothing:
    // neither the catalog nor the cell.
    let again = env
        .call(
            "POST",
            &format!("/api/projects/{p}/data/posts"),
            Some(&t),
            Some(json!({"headline": format!("hello from {p}")})),
        )
        .await;
    assert_eq!(again.status, 201, "{again:?}");
    let headline = format!("/api/projects/{p}/schema/collections/posts/fields/headline");
    let unique = env
        .call(
            "PATCH",
            &headline,
            Some(&t),
            Some(json!({"is_unique": true})),
        )
        .await;
    assert!(
        unique.status == 409 || unique.status == 400,
        "a unique index over equal values is refused: {unique:?}"
    );
    let f = env.call("GET", &headline, Some(&t), None).await;
    assert_eq!(f.body["is_unique"], false, "{f:?}");
    let indexes: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_indexes WHERE schemaname = $1 AND indexdef LIKE '%UNIQUE%headline%'",
    )
    .bind(schema_of(p))
    .fetch_one(&second)
    .await
    .unwrap();
    assert_eq!(indexes, 0);
    assert_eq!(prepared(&second).await, 0);
    let decisions: i64 = sqlx::query_scalar("SELECT count(*) FROM control.cell_commits")
        .fetch_one(&control)
        .await
        .unwrap();
    assert_eq!(decisions, 0, "finished two-phase commits leave no record");
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_control_plane_settles_what_a_stopped_one_left_prepared() {
    let (mut env, control, second) = two_cells().await;
    let t = env.admin("settle@example.com").await;
    env.project(&t, "On default").await;
    let p = env.project(&t, "On b").await;
    assert!(has_schema(&second, &p).await);
    let schema = schema_of(&p);

    // Two changes stopped between the phases: one whose commit was decided (recorded in the
    // control database) and one that was not.
    env.stop_control_plane().await;
    let mut conn = second.acquire().await.unwrap();
    for (table, gid) in [
        ("decided", "backendify:11111111-1111-1111-1111-111111111111"),
        (
            "undecided",
            "backendify:22222222-2222-2222-2222-222222222222",
        ),
    ] {
        sqlx::raw_sql(&format!(
            "BEGIN; CREATE TABLE {schema}.{table} (id int); PREPARE TRANSACTION '{gid}'"
        ))
        .execute(&mut *conn)
        .await
        .unwrap();
    }
    drop(conn);
    sqlx::query("INSERT INTO control.cell_commits (gid, cell) VALUES ($1, 'b')")
        .bind("backendify:11111111-1111-1111-1111-111111111111")
        .execute(&control)
        .await
        .unwrap();
    assert_eq!(prepared(&second).await, 2);

    env.restart_control_plane().await;
    assert_eq!(prepared(&second).await, 0, "both are settled at start-up");
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = $1 AND tablename IN ('decided', 'undecided')",
    )
    .bind(&schema)
    .fetch_all(&second)
    .await
    .unwrap();
    assert_eq!(
        tables,
        ["decided"],
        "the decided one committed, the other rolled back"
    );

    // The project keeps working through the restarted control plane.
    env.collection(&t, &p, "after").await;
    env.shutdown().await;
}

/// The claim that settles a prepared transaction waits for a committer that is still deciding:
/// a `commit` recorded (but not yet committed) on the control database wins when it commits,
/// and loses to the claim when it rolls back. Never both, never neither.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settling_waits_for_a_committer_that_is_still_deciding() {
    let (env, control, second) = two_cells().await;
    let t = env.admin("claim@example.com").await;
    env.project(&t, "On default").await;
    let p = env.project(&t, "On b").await;
    let schema = schema_of(&p);
    for (table, commits) in [("kept", true), ("dropped", false)] {
        let gid = format!("backendify:{}", uuid::Uuid::new_v4());
        let mut conn = second.acquire().await.unwrap();
        sqlx::raw_sql(&format!(
            "BEGIN; CREATE TABLE {schema}.{table} (id int); PREPARE TRANSACTION '{gid}'"
        ))
        .execute(&mut *conn)
        .await
        .unwrap();
        drop(conn);
        // A committer holding its uncommitted decision.
        let mut committer = control.begin().await.unwrap();
        sqlx::query("INSERT INTO control.cell_commits (gid, cell) VALUES ($1, 'b')")
            .bind(&gid)
            .execute(&mut *committer)
            .await
            .unwrap();
        let claim = {
            let (control, second, gid) = (control.clone(), second.clone(), gid.clone());
            tokio::spawn(async move {
                control_plane::cells::settle(&control, &second, "b", &gid)
                    .await
                    .unwrap()
            })
        };
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert!(!claim.is_finished(), "the claim waits for the committer");
        if commits {
            committer.commit().await.unwrap();
        } else {
            committer.rollback().await.unwrap();
        }
        assert_eq!(claim.await.unwrap(), commits);
        let exists: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = $2)",
        )
        .bind(&schema)
        .bind(table)
        .fetch_one(&second)
        .await
        .unwrap();
        assert_eq!(exists, commits, "{table}");
    }
    assert_eq!(prepared(&second).await, 0);
    env.shutdown().await;
}
