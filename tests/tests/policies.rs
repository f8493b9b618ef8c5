//! Access policies end to end (spec/policies.md, spec/rbac.md, spec/data.md): every principal ×
//! action × policy shape of the contract, table-driven, and the holes peers shipped (empty lists,
//! batch steps without row checks, expansions around a policy, overridable owner filters).

use e2e::{Res, TestEnv};
use serde_json::{json, Value};

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Admin,
    Key,
    Anon,
    /// App user, email verified.
    Alice,
    /// App user, not verified.
    Bob,
    /// App user holding the role `editor`.
    Carol,
}

struct User {
    id: String,
    token: String,
}

struct World<'a> {
    env: &'a TestEnv,
    admin: String,
    p: String,
    key: String,
    alice: User,
    bob: User,
    carol: User,
}

impl World<'_> {
    fn path(&self, rest: &str) -> String {
        format!("/api/projects/{}{rest}", self.p)
    }

    async fn call(&self, who: Who, method: &str, rest: &str, body: Option<Value>) -> Res {
        let mut req = self.env.request(method, &self.path(rest));
        req = match who {
            Who::Admin => req.bearer_auth(&self.admin),
            Who::Key => req.header("x-api-key", &self.key),
            Who::Anon => req,
            Who::Alice => req.bearer_auth(&self.alice.token),
            Who::Bob => req.bearer_auth(&self.bob.token),
            Who::Carol => req.bearer_auth(&self.carol.token),
        };
        if let Some(b) = body {
            req = req.json(&b);
        }
        self.env.send(req).await
    }

    async fn admin(&self, method: &str, rest: &str, body: Option<Value>) -> Value {
        let res = self.call(Who::Admin, method, rest, body).await;
        assert!((200..300).contains(&res.status), "{method} {rest}: {res:?}");
        res.body
    }

    /// Replaces every policy of a collection.
    async fn set_policies(&self, collection: &str, policies: &[Value]) {
        let base = format!("/schema/collections/{collection}/policies");
        let old = self.admin("GET", &base, None).await;
        for p in old.as_array().unwrap() {
            let id = p["id"].as_str().unwrap();
            self.admin("DELETE", &format!("{base}/{id}"), None).await;
        }
        for (i, p) in policies.iter().enumerate() {
            let mut p = p.clone();
            if p.get("name").is_none() {
                p["name"] = json!(format!("p{i}"));
            }
            self.admin("POST", &base, Some(p)).await;
        }
    }

    async fn titles(&self, who: Who, query: &str) -> Result<Vec<String>, u16> {
        let res = self
            .call(who, "GET", &format!("/data/notes?sort=title{query}"), None)
            .await;
        if res.status != 200 {
            return Err(res.status);
        }
        let titles: Vec<String> = res.body["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["title"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(res.body["total"], json!(titles.len()), "{res:?}");
        Ok(titles)
    }
}

async fn app_user(env: &TestEnv, p: &str, email: &str) -> User {
    let body = json!({"email": email, "password": "password123"});
    let res = env
        .call(
            "POST",
            &format!("/api/projects/{p}/auth/register"),
            None,
            Some(body),
        )
        .await;
    assert_eq!(res.status, 201, "{res:?}");
    let token = res.body["access_token"].as_str().unwrap().to_owned();
    let me = env
        .call(
            "GET",
            &format!("/api/projects/{p}/auth/me"),
            Some(&token),
            None,
        )
        .await;
    User {
        id: me.body["id"].as_str().unwrap().to_owned(),
        token,
    }
}

/// A project with `notes` (title, status, owner) and `tags`; notes `a` (Alice's, open),
/// `b` (Bob's, secret) and `c` (the admin's, open, `owner` = Bob's id); an API key; Alice
/// verified, Carol an `editor`.
async fn world(env: &TestEnv) -> (World<'_>, Value) {
    let admin = env.admin("owner@example.com").await;
    let p = env.project(&admin, "policies").await;
    env.collection(&admin, &p, "notes").await;
    for f in ["title", "status", "owner"] {
        env.field(&admin, &p, "notes", f, "string").await;
    }
    let key = env
        .call(
            "POST",
            &format!("/api/projects/{p}/api-keys"),
            Some(&admin),
            Some(json!({"name": "server"})),
        )
        .await
        .body["api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let (alice, bob, carol) = (
        app_user(env, &p, "alice@example.com").await,
        app_user(env, &p, "bob@example.com").await,
        app_user(env, &p, "carol@example.com").await,
    );
    let w = World {
        env,
        admin,
        p,
        key,
        alice,
        bob,
        carol,
    };
    w.admin(
        "PATCH",
        &format!("/settings/auth/users/{}", w.alice.id),
        Some(json!({"is_email_verified": true})),
    )
    .await;
    let editor = w
        .admin(
            "POST",
            "/rbac/roles",
            Some(json!({"name": "editor", "display_name": "Editor"})),
        )
        .await;
    w.admin(
        "POST",
        &format!("/rbac/users/{}/roles", w.carol.id),
        Some(json!({"role_ids": [editor["id"]]})),
    )
    .await;
    // Seed: app users may create while the rows are written.
    w.set_policies(
        "notes",
        &[json!({"action": "create", "allowed_principals": "app_user"})],
    )
    .await;
    for (who, title, status) in [(Who::Alice, "a", "open"), (Who::Bob, "b", "secret")] {
        let res = w
            .call(
                who,
                "POST",
                "/data/notes",
                Some(json!({"title": title, "status": status})),
            )
            .await;
        assert_eq!(res.status, 201, "{res:?}");
    }
    let owner = w.bob.id.clone();
    w.admin(
        "POST",
        "/data/notes",
        Some(json!({"title": "c", "status": "open", "owner": owner})),
    )
    .await;
    (w, editor)
}

/// One expectation: what a caller gets for an operation.
enum Op {
    /// The list's titles (sorted), or its status.
    List(Result<&'static [&'static str], u16>),
    /// The status of reading a note by title.
    Read(&'static str, u16),
    /// The status of updating a note by title.
    Update(&'static str, u16),
    /// The status of creating a note.
    Create(u16),
    /// The status of deleting a copy of a note (same columns, owner and creator), by title.
    Delete(&'static str, u16),
}

/// Copies and removes rows of `notes` behind the API's back, so deletes can be tried on copies
/// and the seeded rows stay for the next case.
struct Rows {
    pool: sqlx::PgPool,
    table: String,
    columns: String,
}

impl Rows {
    async fn new(env: &TestEnv, project: &str) -> Rows {
        let pool = sqlx::PgPool::connect(&env.db_url).await.unwrap();
        let schema = format!("p_{}", project.replace('-', "_"));
        let table: String = sqlx::query_scalar(
            "SELECT sql_table_name FROM control.collections
             WHERE project_id = $1::uuid AND name = 'notes'",
        )
        .bind(project)
        .fetch_one(&pool)
        .await
        .unwrap();
        let columns: Vec<String> = sqlx::query_scalar(
            "SELECT quote_ident(column_name) FROM information_schema.columns
             WHERE table_schema = $1 AND table_name = $2 AND column_name <> 'id'",
        )
        .bind(&schema)
        .bind(&table)
        .fetch_all(&pool)
        .await
        .unwrap();
        Rows {
            pool,
            table: format!("\"{schema}\".\"{table}\""),
            columns: columns.join(", "),
        }
    }

    /// A copy of row `id`; returns the copy's id.
    async fn copy(&self, id: i64) -> i64 {
        let (t, c) = (&self.table, &self.columns);
        sqlx::query_scalar(&format!(
            "INSERT INTO {t} ({c}) SELECT {c} FROM {t} WHERE id = $1 RETURNING id"
        ))
        .bind(id)
        .fetch_one(&self.pool)
        .await
        .unwrap()
    }

    /// Whether row `id` exists; removes it if so.
    async fn take(&self, id: i64) -> bool {
        let sql = format!("DELETE FROM {} WHERE id = $1", self.table);
        let n = sqlx::query(&sql)
            .bind(id)
            .execute(&self.pool)
            .await
            .unwrap();
        n.rows_affected() == 1
    }
}

/// A case of the table: its name, the collection's policies, and what each caller gets.
type Case = (&'static str, Vec<Value>, Vec<(Who, Op)>);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_principal_action_and_policy_shape() {
    use Op::*;
    use Who::*;
    let env = TestEnv::start().await;
    let (w, _) = world(&env).await;
    let ids: std::collections::HashMap<String, i64> = w.admin("GET", "/data/notes", None).await
        ["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["title"].as_str().unwrap().to_owned(),
                r["id"].as_i64().unwrap(),
            )
        })
        .collect();
    let all: &[&str] = &["a", "b", "c"];
    let rows = Rows::new(&env, &w.p).await;
    let app_user_owner = "{\"type\": \"app_user_owner\"}";
    let cases: Vec<Case> = vec![
        (
            "no policies: admins and API keys only",
            vec![],
            vec![
                (Anon, List(Err(401))),
                (Anon, Read("a", 401)),
                (Key, List(Ok(all))),
                (Key, Read("b", 200)),
                (Key, Update("c", 200)),
                (Alice, List(Err(403))),
                (Alice, Read("a", 403)),
                (Alice, Update("a", 403)),
                (Admin, List(Ok(all))),
                (Anon, Create(401)),
                (Alice, Create(403)),
                (Key, Create(201)),
                (Admin, Create(201)),
                (Anon, Delete("a", 401)),
                (Alice, Delete("a", 403)),
                (Key, Delete("b", 204)),
                (Admin, Delete("c", 204)),
            ],
        ),
        (
            "principals left out or empty mean admins and API keys",
            vec![
                json!({"action": "read"}),
                json!({"action": "list", "allowed_principals": ""}),
                json!({"action": "create"}),
                json!({"action": "delete", "allowed_principals": ""}),
            ],
            vec![
                (Key, Read("a", 200)),
                (Key, List(Ok(all))),
                (Admin, Read("b", 200)),
                (Alice, Read("a", 403)),
                (Alice, List(Err(403))),
                (Anon, Read("a", 401)),
                (Key, Create(201)),
                (Alice, Create(403)),
                (Anon, Create(401)),
                (Key, Delete("a", 204)),
                (Bob, Delete("b", 403)),
                (Anon, Delete("a", 401)),
                (Admin, Delete("b", 204)),
            ],
        ),
        (
            "an app-user list sees only its own rows; API keys lose what no policy names",
            vec![json!({"action": "list", "allowed_principals": "app_user"})],
            vec![
                (Alice, List(Ok(&["a"]))),
                (Bob, List(Ok(&["b"]))),
                (Carol, List(Ok(&[]))),
                (Key, List(Err(403))),
                (Anon, List(Err(401))),
                (Alice, Read("a", 403)),
                (Admin, List(Ok(all))),
                (Key, Create(403)),
                (Alice, Create(403)),
                (Key, Delete("a", 403)),
                (Admin, Create(201)),
                (Admin, Delete("a", 204)),
            ],
        ),
        (
            "owner on read",
            vec![json!({"action": "read", "allowed_principals": "app_user",
                        "condition_json": "{\"type\": \"owner\"}"})],
            vec![
                (Alice, Read("a", 200)),
                (Alice, Read("b", 403)),
                (Alice, Read("c", 403)),
                (Bob, Read("b", 200)),
                (Key, Read("a", 403)),
                (Alice, List(Err(403))),
            ],
        ),
        (
            "owner by a named field",
            vec![json!({"action": "read", "allowed_principals": "app_user",
                        "condition_json": "{\"type\": \"owner\", \"field\": \"owner\"}"})],
            vec![
                (Bob, Read("c", 200)),
                (Bob, Read("b", 403)),
                (Alice, Read("c", 403)),
            ],
        ),
        (
            "require_email_verified",
            vec![
                json!({"action": "read", "allowed_principals": "app_user",
                        "require_email_verified": true}),
                json!({"action": "delete", "allowed_principals": "app_user",
                        "require_email_verified": true}),
            ],
            vec![
                (Alice, Read("b", 200)),
                (Bob, Read("b", 403)),
                (Alice, Delete("b", 204)),
                (Bob, Delete("b", 403)),
            ],
        ),
        (
            "allowed_roles: app users need one, other principals ignore it",
            vec![
                json!({"action": "read", "allowed_principals": "app_user,api_key",
                       "allowed_roles": "editor, reviewer"}),
                json!({"action": "create", "allowed_principals": "app_user,api_key",
                       "allowed_roles": "editor"}),
                json!({"action": "delete", "allowed_principals": "app_user",
                       "allowed_roles": "editor"}),
            ],
            vec![
                (Carol, Read("a", 200)),
                (Alice, Read("a", 403)),
                (Key, Read("a", 200)),
                (Carol, Create(201)),
                (Alice, Create(403)),
                (Key, Create(201)),
                (Carol, Delete("a", 204)),
                (Alice, Delete("a", 403)),
            ],
        ),
        (
            "authenticated",
            vec![
                json!({"action": "read", "allowed_principals": "anonymous,app_user",
                        "condition_json": "{\"type\": \"authenticated\"}"}),
            ],
            vec![
                (Anon, Read("a", 401)),
                (Bob, Read("a", 200)),
                (Key, Read("a", 403)),
            ],
        ),
        (
            "anonymous may read, create and delete when named",
            vec![
                json!({"action": "read", "allowed_principals": "anonymous"}),
                json!({"action": "create", "allowed_principals": "anonymous"}),
                json!({"action": "delete", "allowed_principals": "anonymous"}),
            ],
            vec![
                (Anon, Read("b", 200)),
                (Bob, Read("b", 403)),
                (Anon, Create(201)),
                (Bob, Create(403)),
                (Key, Create(403)),
                (Anon, Delete("b", 204)),
                (Bob, Delete("b", 403)),
            ],
        ),
        (
            "a higher-priority deny on some rows",
            vec![
                json!({"action": "read", "allowed_principals": "app_user", "priority": 0}),
                json!({"action": "read", "allowed_principals": "app_user", "priority": 10,
                       "effect": "deny", "condition_json":
                       "{\"type\": \"field_equals\", \"field\": \"status\", \"value\": \"secret\"}"}),
            ],
            vec![
                (Alice, Read("a", 200)),
                (Alice, Read("b", 403)),
                (Bob, Read("b", 403)),
            ],
        ),
        (
            "priority ties keep creation order (deny first)",
            vec![
                json!({"action": "read", "allowed_principals": "app_user", "effect": "deny"}),
                json!({"action": "read", "allowed_principals": "app_user"}),
            ],
            vec![(Alice, Read("a", 403))],
        ),
        (
            "priority ties keep creation order (allow first)",
            vec![
                json!({"action": "read", "allowed_principals": "app_user"}),
                json!({"action": "read", "allowed_principals": "app_user", "effect": "deny"}),
            ],
            vec![(Alice, Read("a", 200))],
        ),
        (
            "console conditions filter a list",
            vec![json!({"action": "list", "allowed_principals": "api_key",
                        "condition_json": "{\"status\": \"open\"}"})],
            vec![(Key, List(Ok(&["a", "c"]))), (Key, Read("a", 403))],
        ),
        (
            "not",
            vec![
                json!({"action": "list", "allowed_principals": "api_key", "condition_json":
                "{\"type\": \"not\", \"condition\": {\"type\": \"field_equals\", \"field\": \"status\", \"value\": \"secret\"}}"}),
            ],
            vec![(Key, List(Ok(&["a", "c"])))],
        ),
        (
            "an empty `or` never holds, an empty `and` always does",
            vec![
                json!({"action": "list", "allowed_principals": "api_key", "priority": 5,
                       "effect": "deny", "condition_json": "{\"type\": \"or\", \"conditions\": []}"}),
                json!({"action": "list", "allowed_principals": "api_key",
                       "condition_json": "{\"type\": \"and\", \"conditions\": []}"}),
            ],
            vec![(Key, List(Ok(all)))],
        ),
        (
            "a deny on some rows hides them from the list",
            vec![
                json!({"action": "list", "allowed_principals": "api_key", "priority": 5,
                       "effect": "deny", "condition_json": "{\"status\": \"secret\"}"}),
                json!({"action": "list", "allowed_principals": "api_key"}),
            ],
            vec![(Key, List(Ok(&["a", "c"])))],
        ),
        (
            "app_user_owner on update and delete; app users may create",
            vec![
                json!({"action": "update", "allowed_principals": "app_user",
                        "condition_json": app_user_owner}),
                json!({"action": "delete", "allowed_principals": "app_user",
                        "condition_json": app_user_owner}),
                json!({"action": "create", "allowed_principals": "app_user"}),
            ],
            vec![
                (Alice, Update("a", 200)),
                (Alice, Update("b", 403)),
                (Key, Update("a", 403)),
                (Anon, Update("a", 401)),
                (Alice, Delete("a", 204)),
                (Alice, Delete("b", 403)),
                (Bob, Delete("b", 204)),
                (Bob, Delete("c", 403)),
                (Key, Delete("a", 403)),
                (Anon, Delete("a", 401)),
                (Alice, Create(201)),
                (Carol, Create(201)),
                (Key, Create(403)),
                (Anon, Create(401)),
            ],
        ),
        (
            "field_equals with the caller's email",
            vec![
                json!({"action": "read", "allowed_principals": "app_user", "condition_json":
                "{\"type\": \"field_equals\", \"field\": \"title\", \"value\": \"principal.email\"}"}),
            ],
            vec![(Alice, Read("a", 403))],
        ),
    ];
    for (name, policies, expects) in cases {
        w.set_policies("notes", &policies).await;
        for (who, op) in expects {
            match op {
                List(want) => {
                    let got = w.titles(who, "").await;
                    let want = want.map(|t| t.iter().map(|s| s.to_string()).collect::<Vec<_>>());
                    assert_eq!(got, want, "{name}: {who:?} list");
                }
                Read(title, status) => {
                    let res = w
                        .call(who, "GET", &format!("/data/notes/{}", ids[title]), None)
                        .await;
                    assert_eq!(res.status, status, "{name}: {who:?} read {title}: {res:?}");
                    if status == 200 {
                        assert_eq!(res.body["title"], title);
                    }
                }
                Update(title, status) => {
                    let res = w
                        .call(
                            who,
                            "PATCH",
                            &format!("/data/notes/{}", ids[title]),
                            Some(json!({"title": title})),
                        )
                        .await;
                    assert_eq!(
                        res.status, status,
                        "{name}: {who:?} update {title}: {res:?}"
                    );
                }
                Create(status) => {
                    let body = json!({"title": "new", "status": "open"});
                    let res = w.call(who, "POST", "/data/notes", Some(body)).await;
                    assert_eq!(res.status, status, "{name}: {who:?} create: {res:?}");
                    if status == 201 {
                        let id = res.body["id"].as_i64().unwrap();
                        assert!(rows.take(id).await, "{name}: {who:?} create wrote no row");
                    }
                }
                Delete(title, status) => {
                    let id = rows.copy(ids[title]).await;
                    let res = w
                        .call(who, "DELETE", &format!("/data/notes/{id}"), None)
                        .await;
                    assert_eq!(
                        res.status, status,
                        "{name}: {who:?} delete {title}: {res:?}"
                    );
                    let was_left = rows.take(id).await;
                    assert_eq!(
                        was_left,
                        status != 204,
                        "{name}: {who:?} delete {title} answered {status}"
                    );
                }
            }
        }
    }
    // A deactivated policy stops applying at once; reactivated, it applies again.
    w.set_policies(
        "notes",
        &[json!({"action": "read", "allowed_principals": "app_user"})],
    )
    .await;
    let policy = w
        .admin("GET", "/schema/collections/notes/policies", None)
        .await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let a = format!("/data/notes/{}", ids["a"]);
    assert_eq!(w.call(Alice, "GET", &a, None).await.status, 200);
    let patch = format!("/schema/collections/notes/policies/{policy}");
    w.admin("PATCH", &patch, Some(json!({"is_active": false})))
        .await;
    // No active policy is left: the no-policy default (app users refused) holds again.
    assert_eq!(w.call(Alice, "GET", &a, None).await.status, 403);
    w.admin("PATCH", &patch, Some(json!({"is_active": true})))
        .await;
    assert_eq!(w.call(Alice, "GET", &a, None).await.status, 200);

    // Refusals carry the contract's bodies; a missing record is 404 before any policy.
    let res = w
        .call(
            Alice,
            "GET",
            &format!("/schema/collections/notes/policies/{policy}"),
            None,
        )
        .await;
    assert_eq!(res.status, 401, "app users cannot read policies: {res:?}");
    w.set_policies("notes", &[]).await;
    let res = w.call(Anon, "GET", "/data/notes/999999", None).await;
    assert_eq!((res.status, res.detail()), (404, "Record not found".into()));
    let res = w.call(Anon, "GET", "/data/notes", None).await;
    assert_eq!(
        (res.status, res.detail()),
        (401, "Authentication required".into())
    );
    let res = w
        .call(Bob, "DELETE", &format!("/data/notes/{}", ids["b"]), None)
        .await;
    assert_eq!(
        (res.status, res.detail()),
        (403, "Permission denied for action: delete".into())
    );
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditions_on_create_see_the_record_as_written() {
    let env = TestEnv::start().await;
    let (w, _) = world(&env).await;
    w.set_policies(
        "notes",
        &[
            json!({"action": "create", "allowed_principals": "app_user,api_key",
                   "condition_json": "{\"status\": \"open\"}"}),
            json!({"action": "create", "allowed_principals": "app_user",
                   "condition_json": "{\"type\": \"owner\"}", "priority": -1}),
        ],
    )
    .await;
    let create = |who, body: Value| w.call(who, "POST", "/data/notes", Some(body));
    let res = create(Who::Key, json!({"title": "k", "status": "open"})).await;
    assert_eq!(res.status, 201, "{res:?}");
    let res = create(Who::Key, json!({"title": "k2", "status": "closed"})).await;
    assert_eq!(
        (res.status, res.detail()),
        (403, "Permission denied for action: create".into())
    );
    // The owner policy matches an app user's own new row (created_by_app_user_id is stamped).
    let res = create(Who::Alice, json!({"title": "x", "status": "closed"})).await;
    assert_eq!(res.status, 201, "{res:?}");
    assert_eq!(res.body["created_by_app_user_id"], json!(w.alice.id));
    let res = create(Who::Anon, json!({"title": "y", "status": "open"})).await;
    assert_eq!(res.status, 401);
    // Nothing refused was written.
    let rows = w.admin("GET", "/data/notes?title__in=k2,y", None).await;
    assert_eq!(rows["total"], 0, "{rows}");

    // A column the body leaves out is judged with the default Postgres writes, not as NULL.
    w.admin(
        "POST",
        "/schema/collections/notes/fields",
        Some(
            json!({"name": "kind", "display_name": "Kind", "field_type": "string",
                    "is_required": true, "default_value": "archived"}),
        ),
    )
    .await;
    w.set_policies(
        "notes",
        &[
            json!({"action": "create", "effect": "deny", "allowed_principals": "api_key",
                   "condition_json": "{\"kind\": \"archived\"}", "priority": 10}),
            json!({"action": "create", "allowed_principals": "api_key"}),
        ],
    )
    .await;
    let res = create(Who::Key, json!({"title": "d1"})).await;
    assert_eq!(
        (res.status, res.detail()),
        (403, "Permission denied for action: create".into())
    );
    let res = create(Who::Key, json!({"title": "d2", "kind": "draft"})).await;
    assert_eq!(res.status, 201, "{res:?}");
    assert_eq!(res.body["kind"], "draft");
    let rows = w.admin("GET", "/data/notes?title__in=d1,d2", None).await;
    assert_eq!(rows["total"], 1, "{rows}");
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holes_other_backends_shipped_stay_closed() {
    let env = TestEnv::start().await;
    let (w, _) = world(&env).await;
    let alice = &w.alice;
    let bob = w.bob.id.clone();
    w.set_policies(
        "notes",
        &[
            json!({"action": "list", "allowed_principals": "app_user"}),
            json!({"action": "read", "allowed_principals": "app_user", "condition_json": "{\"type\": \"owner\"}"}),
            json!({"action": "update", "allowed_principals": "app_user", "condition_json": "{\"type\": \"owner\"}"}),
            json!({"action": "delete", "allowed_principals": "app_user", "condition_json": "{\"type\": \"owner\"}"}),
            json!({"action": "create", "allowed_principals": "app_user"}),
        ],
    )
    .await;

    // The forced owner filter of an app user's list cannot be widened by a parameter.
    for q in [
        format!("&created_by_app_user_id={bob}"),
        format!("&created_by_app_user_id__in={bob},{}", alice.id),
        "&created_by_app_user_id__in=".to_owned(),
        "&created_by_app_user_id__isnull=true".to_owned(),
        "&id__notin=".to_owned(),
        "&title__like=%25".to_owned(),
    ] {
        // Either a clear refusal of the value, or Alice's own rows only.
        match w.titles(Who::Alice, &q).await {
            Ok(got) => assert!(got.iter().all(|t| t == "a"), "{q}: {got:?}"),
            Err(status) => assert_eq!(status, 400, "{q}"),
        }
    }
    // Aggregates count only what the caller may list.
    let res = w
        .call(
            Who::Alice,
            "GET",
            "/data/notes/_aggregate?group_by=status",
            None,
        )
        .await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(
        res.body["results"],
        json!([{"group": {"status": "open"}, "count": 1}])
    );
    // An empty `$in`-style list is not a condition that quietly holds.
    let res = w
        .call(
            Who::Admin,
            "POST",
            "/schema/collections/notes/policies",
            Some(json!({"name": "x", "action": "read", "condition_json": "{\"status\": {\"$in\": []}}"})),
        )
        .await;
    assert_eq!(
        (res.status, res.detail()),
        (400, "Invalid condition JSON".into())
    );

    // A batch checks every step's row: Alice's create is rolled back with the refused update.
    let ids = w.admin("GET", "/data/notes?sort=title", None).await;
    let b_id = ids["records"][1]["id"].clone();
    let res = w
        .call(
            Who::Alice,
            "POST",
            "/data/_batch",
            Some(json!({"operations": [
                {"op": "create", "collection": "notes", "data": {"title": "sneaky"}},
                {"op": "update", "collection": "notes", "id": b_id, "data": {"title": "pwned"}},
            ]})),
        )
        .await;
    assert_eq!(res.status, 403, "{res:?}");
    assert_eq!(res.body["operation"], 1);
    let res = w
        .call(
            Who::Alice,
            "POST",
            "/data/_batch",
            Some(json!({"operations": [{"op": "delete", "collection": "notes", "id": b_id}]})),
        )
        .await;
    assert_eq!(res.status, 403, "{res:?}");
    let after = w.admin("GET", "/data/notes?sort=title", None).await;
    let titles: Vec<&str> = after["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["a", "b", "c"]);

    // Expanding a relation applies the related collection's read policy.
    let notes_id = w.admin("GET", "/schema/collections/notes", None).await["id"].clone();
    w.env.collection(&w.admin, &w.p, "comments").await;
    w.env
        .field(&w.admin, &w.p, "comments", "body", "string")
        .await;
    let comments_id = w.admin("GET", "/schema/collections/comments", None).await["id"].clone();
    w.admin(
        "POST",
        &format!(
            "/schema/relations/collections/{}/relations",
            comments_id.as_str().unwrap()
        ),
        Some(json!({"name": "note", "display_name": "Note", "target_collection_id": notes_id})),
    )
    .await;
    let b = b_id.as_i64().unwrap();
    let a = ids["records"][0]["id"].as_i64().unwrap();
    w.set_policies(
        "comments",
        &[
            json!({"action": "list", "allowed_principals": "app_user"}),
            json!({"action": "create", "allowed_principals": "app_user"}),
            json!({"action": "read", "allowed_principals": "app_user", "condition_json": "{\"type\": \"owner\"}"}),
        ],
    )
    .await;
    for note in [a, b] {
        let res = w
            .call(
                Who::Alice,
                "POST",
                "/data/comments",
                Some(json!({"body": format!("on {note}"), "note": note})),
            )
            .await;
        assert_eq!(res.status, 201, "{res:?}");
    }
    let res = w
        .call(
            Who::Alice,
            "GET",
            "/data/comments?expand=note&sort=id",
            None,
        )
        .await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(res.body["records"][0]["note"]["title"], "a");
    assert_eq!(res.body["records"][1]["note"], Value::Null, "{res:?}");
    assert_eq!(res.body["records"][1]["note_id"], json!(b));
    let comment = res.body["records"][1]["id"].as_i64().unwrap();
    let res = w
        .call(
            Who::Alice,
            "GET",
            &format!("/data/comments/{comment}?expand=note"),
            None,
        )
        .await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(res.body["id"], json!(comment));
    assert_eq!(res.body["note"], Value::Null, "{res:?}");
    // The reverse side: Bob reading his note sees no comments he may not read.
    let res = w
        .call(
            Who::Bob,
            "GET",
            &format!("/data/notes/{b}?expand=comments_via_note"),
            None,
        )
        .await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(res.body["comments_via_note"], json!([]));
    let res = w
        .call(
            Who::Admin,
            "GET",
            &format!("/data/notes/{b}?expand=comments_via_note"),
            None,
        )
        .await;
    assert_eq!(res.body["comments_via_note"].as_array().unwrap().len(), 1);

    // A view reads through the base collection's list policy in the same statement.
    w.admin(
        "POST",
        "/views",
        Some(json!({"name": "all_notes", "display_name": "All", "base_collection_id": notes_id})),
    )
    .await;
    let res = w
        .call(
            Who::Alice,
            "POST",
            "/views/all_notes/execute",
            Some(json!({})),
        )
        .await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(res.body["total"], 1, "{res:?}");
    assert_eq!(res.body["data"][0]["title"], "a");
    let res = w
        .call(
            Who::Key,
            "POST",
            "/views/all_notes/execute",
            Some(json!({})),
        )
        .await;
    assert_eq!(res.status, 403, "{res:?}");
    let res = w
        .call(
            Who::Anon,
            "POST",
            "/views/all_notes/execute",
            Some(json!({})),
        )
        .await;
    assert_eq!(res.status, 401, "{res:?}");
    let res = w
        .call(
            Who::Admin,
            "POST",
            "/views/all_notes/execute",
            Some(json!({})),
        )
        .await;
    assert_eq!(res.body["total"], 3, "{res:?}");

    // An admin who is not a member sees nothing of the project's data.
    let stranger = w.env.admin("stranger@example.com").await;
    let res = w
        .env
        .call("GET", &w.path("/data/notes"), Some(&stranger), None)
        .await;
    assert_eq!(res.status, 404);
    assert_eq!(res.detail(), "Project not found");
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_list_of_only_commas_admits_no_app_user() {
    let env = TestEnv::start().await;
    let (w, _) = world(&env).await;
    let a = w.admin("GET", "/data/notes?sort=title", None).await["records"][0]["id"].clone();
    let read = format!("/data/notes/{a}");
    for roles in [",", " , ", " ", ",,editor_typo,"] {
        w.set_policies(
            "notes",
            &[
                json!({"action": "read", "allowed_principals": "app_user,api_key", "allowed_roles": roles}),
                json!({"action": "list", "allowed_principals": "app_user,api_key", "allowed_roles": roles}),
                json!({"action": "create", "allowed_principals": "app_user,api_key", "allowed_roles": roles}),
            ],
        )
        .await;
        // Not even the editor, nor a verified user: as a role nobody holds would.
        for who in [Who::Carol, Who::Alice, Who::Bob] {
            let res = w.call(who, "GET", &read, None).await;
            assert_eq!(res.status, 403, "{roles:?}: {who:?} read: {res:?}");
            assert_eq!(w.titles(who, "").await, Err(403), "{roles:?}: {who:?} list");
            let res = w
                .call(who, "POST", "/data/notes", Some(json!({"title": "x"})))
                .await;
            assert_eq!(res.status, 403, "{roles:?}: {who:?} create: {res:?}");
        }
        // Roles restrict app users only.
        let res = w.call(Who::Key, "GET", &read, None).await;
        assert_eq!(res.status, 200, "{roles:?}: key read: {res:?}");
    }
    // Left out or empty, the list restricts nobody (policies.md).
    for roles in [json!(null), json!("")] {
        w.set_policies(
            "notes",
            &[json!({"action": "read", "allowed_principals": "app_user", "allowed_roles": roles})],
        )
        .await;
        for who in [Who::Carol, Who::Alice, Who::Bob] {
            let res = w.call(who, "GET", &read, None).await;
            assert_eq!(res.status, 200, "{roles:?}: {who:?} read: {res:?}");
        }
    }
    // A PATCH to `","` closes a policy that was open.
    let base = "/schema/collections/notes/policies";
    let id = w.admin("GET", base, None).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let patched = w
        .admin(
            "PATCH",
            &format!("{base}/{id}"),
            Some(json!({"allowed_roles": ","})),
        )
        .await;
    assert_eq!(patched["allowed_roles"], ",");
    let res = w.call(Who::Carol, "GET", &read, None).await;
    assert_eq!(res.status, 403, "{res:?}");
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_and_user_changes_apply_on_the_next_request_on_every_worker() {
    let env = TestEnv::start().await;
    let (w, editor) = world(&env).await;
    w.set_policies(
        "notes",
        &[json!({"action": "read", "allowed_principals": "app_user", "allowed_roles": "editor"})],
    )
    .await;
    let a = w.admin("GET", "/data/notes?sort=title", None).await["records"][0]["id"].clone();
    let path = w.path(&format!("/data/notes/{a}"));
    let status_everywhere = |token: String| {
        let bases: Vec<String> = env
            .workers
            .iter()
            .map(|x| format!("http://{}", x.http_addr))
            .collect();
        let path = path.clone();
        async move {
            let mut out = Vec::new();
            for base in bases {
                let res = reqwest::Client::new()
                    .get(format!("{base}{path}"))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap();
                out.push(res.status().as_u16());
            }
            out
        }
    };
    // Both workers have seen Carol as an editor.
    assert_eq!(status_everywhere(w.carol.token.clone()).await, [200, 200]);
    assert_eq!(status_everywhere(w.alice.token.clone()).await, [403, 403]);
    // Give Alice the role, take it from Carol: the next request on each worker knows.
    w.admin(
        "POST",
        &format!("/rbac/users/{}/roles", w.alice.id),
        Some(json!({"role_ids": [editor["id"]]})),
    )
    .await;
    w.admin(
        "DELETE",
        &format!(
            "/rbac/users/{}/roles/{}",
            w.carol.id,
            editor["id"].as_str().unwrap()
        ),
        None,
    )
    .await;
    assert_eq!(status_everywhere(w.alice.token.clone()).await, [200, 200]);
    assert_eq!(status_everywhere(w.carol.token.clone()).await, [403, 403]);
    // Lists too: a list the cached facts would refuse is checked against the user as they are.
    w.set_policies(
        "notes",
        &[json!({"action": "list", "allowed_principals": "app_user", "allowed_roles": "editor"})],
    )
    .await;
    assert_eq!(w.titles(Who::Carol, "").await, Err(403));
    w.admin(
        "POST",
        &format!("/rbac/users/{}/roles", w.carol.id),
        Some(json!({"role_ids": [editor["id"]]})),
    )
    .await;
    assert_eq!(w.titles(Who::Carol, "").await, Ok(vec![]));
    // Disabling a user ends their reads on every worker at once; they fall back to anonymous.
    w.admin(
        "PATCH",
        &format!("/settings/auth/users/{}", w.alice.id),
        Some(json!({"is_disabled": true})),
    )
    .await;
    assert_eq!(status_everywhere(w.alice.token.clone()).await, [401, 401]);
    env.shutdown().await;
}
