//! Access administration end to end (spec/policies.md, spec/rbac.md): policies and roles on the
//! control plane, role assignments of app users on the workers, the default role of new app users,
//! and the role table of projects made before it existed. Through the router, as apps and the
//! console call it.

use e2e::{Res, TestEnv};
use serde_json::{json, Value};

fn project_path(project: &str, rest: &str) -> String {
    format!("/api/projects/{project}/{rest}")
}

/// A call that must answer `status`; returns the body.
async fn expect(
    env: &TestEnv,
    status: u16,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Value {
    let res = env.call(method, path, Some(token), body).await;
    assert_eq!(res.status, status, "{method} {path}: {res:?}");
    res.body
}

fn detail(res: &Res) -> (u16, String) {
    (res.status, res.detail())
}

fn id(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_owned()
}

fn names(v: &Value, key: &str) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|x| x[key].as_str().unwrap_or_default().to_owned())
        .collect()
}

const BAD_PRINCIPAL: &str =
    "Invalid principal 'root'. Must be one of: admin_user, app_user, api_key, anonymous";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_follow_the_contract() {
    let env = TestEnv::start().await;
    let t = env.admin("owner@example.com").await;
    let p = env.project(&t, "Shop").await;
    env.collection(&t, &p, "order").await;
    env.collection(&t, &p, "customer").await;
    env.field(&t, &p, "order", "title", "string").await;
    let base = project_path(&p, "schema/collections/order/policies");
    let collections = expect(
        &env,
        200,
        "GET",
        &project_path(&p, "schema/collections"),
        &t,
        None,
    )
    .await;
    let order_id = collections
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "order")
        .map(id)
        .unwrap();

    // Who: a token first, then membership.
    assert_eq!(env.call("GET", &base, None, None).await.status, 401);
    let stranger = env.admin("stranger@example.com").await;
    let res = env.call("GET", &base, Some(&stranger), None).await;
    assert_eq!(detail(&res), (404, "Project not found".into()));
    let body = json!({"name": "allow_read", "action": "read"});
    let res = env
        .call("POST", &base, Some(&stranger), Some(body.clone()))
        .await;
    assert_eq!(res.status, 404);

    // Create with the defaults.
    let created = expect(&env, 201, "POST", &base, &t, Some(body)).await;
    assert_eq!(created["name"], "allow_read");
    assert_eq!(created["action"], "read");
    assert_eq!(created["effect"], "allow");
    assert_eq!(created["is_active"], true);
    assert_eq!(created["priority"], 0);
    assert_eq!(created["collection_id"], json!(order_id));
    for key in ["condition_json", "allowed_principals", "allowed_roles"] {
        assert_eq!(created[key], Value::Null, "{key}");
    }
    assert_eq!(created["require_email_verified"], false);
    assert!(created["created_at"].is_string() && created["updated_at"].is_string());

    // Every optional key, and a condition echoed byte for byte.
    let condition = "{\"type\": \"owner\",   \"field\":\"created_by_app_user_id\"}";
    let full = json!({"name": "own_rows", "action": "update", "effect": "deny",
        "condition_json": condition, "priority": 7, "allowed_principals": "app_user, anonymous",
        "require_email_verified": true, "allowed_roles": "editor,admin"});
    let own = expect(&env, 201, "POST", &base, &t, Some(full)).await;
    assert_eq!(own["condition_json"], condition);
    assert_eq!(own["effect"], "deny");
    assert_eq!(own["priority"], 7);
    assert_eq!(own["allowed_principals"], "app_user, anonymous");
    assert_eq!(own["allowed_roles"], "editor,admin");
    assert_eq!(own["require_email_verified"], true);
    // The console's form is a condition too.
    let console = json!({"name": "mine", "action": "list",
        "condition_json": "{\"created_by_app_user_id\": \"$current_user_id\"}"});
    let mine = expect(&env, 201, "POST", &base, &t, Some(console)).await;

    // Business rules, each alone and in the contract's order.
    let post = |body: Value| {
        let (env, base, t) = (&env, &base, &t);
        async move { detail(&env.call("POST", base, Some(t), Some(body)).await) }
    };
    let (status, msg) = post(json!({"name": "x", "action": "fly"})).await;
    assert_eq!(status, 400);
    assert!(msg.starts_with("Invalid action. Must be one of:"), "{msg}");
    let bad_effect = (
        400,
        "Invalid effect. Must be one of: allow, deny".to_owned(),
    );
    assert_eq!(
        post(json!({"name": "x", "action": "read", "effect": "maybe"})).await,
        bad_effect
    );
    assert_eq!(
        post(json!({"name": "x", "action": "read", "allowed_principals": "app_user,root"})).await,
        (400, BAD_PRINCIPAL.into())
    );
    let bad_condition = (400, "Invalid condition JSON".to_owned());
    for raw in ["not valid json", "[]", "true", "\"text\"", "{\"type\": 5}"] {
        let body = json!({"name": "x", "action": "read", "condition_json": raw});
        assert_eq!(post(body).await, bad_condition, "{raw}");
    }
    let (_, msg) = post(json!({"name": "x", "action": "fly", "effect": "maybe"})).await;
    assert!(msg.starts_with("Invalid action"), "{msg}");
    assert_eq!(
        post(
            json!({"name": "x", "action": "read", "effect": "maybe", "allowed_principals": "root"})
        )
        .await,
        bad_effect
    );
    assert_eq!(
        post(json!({"name": "x", "action": "read", "allowed_principals": "root", "condition_json": "[]"})).await,
        (400, BAD_PRINCIPAL.into())
    );

    // Request shape first (even before the collection), then the collection.
    for body in [
        json!({"action": "read"}),
        json!({"name": "x"}),
        json!({"name": "", "action": "read"}),
        json!({"name": "n".repeat(64), "action": "fly"}),
        json!({"name": "x", "action": "read", "priority": "high"}),
    ] {
        assert_eq!(post(body.clone()).await.0, 422, "{body}");
    }
    let missing = project_path(&p, "schema/collections/nope/policies");
    let res = env
        .call("POST", &missing, Some(&t), Some(json!({"name": "x"})))
        .await;
    assert_eq!(res.status, 422);
    let res = env
        .call(
            "POST",
            &missing,
            Some(&t),
            Some(json!({"name": "x", "action": "fly"})),
        )
        .await;
    assert_eq!(detail(&res), (404, "Collection not found".into()));
    let res = env.call("GET", &missing, Some(&t), None).await;
    assert_eq!(detail(&res), (404, "Collection not found".into()));

    // List: active only, priority first, then creation order.
    expect(
        &env,
        201,
        "POST",
        &base,
        &t,
        Some(json!({"name": "tie", "action": "read", "priority": 7})),
    )
    .await;
    let off = expect(
        &env,
        201,
        "POST",
        &base,
        &t,
        Some(json!({"name": "off", "action": "read", "priority": 99})),
    )
    .await;
    let one = |policy: &Value| format!("{base}/{}", id(policy));
    let res = expect(
        &env,
        200,
        "PATCH",
        &one(&off),
        &t,
        Some(json!({"is_active": false})),
    )
    .await;
    assert_eq!(res["is_active"], false);
    let list = expect(&env, 200, "GET", &base, &t, None).await;
    assert_eq!(
        names(&list, "name"),
        ["own_rows", "tie", "allow_read", "mine"]
    );
    // Another collection's list is its own.
    let other = project_path(&p, "schema/collections/customer/policies");
    assert_eq!(expect(&env, 200, "GET", &other, &t, None).await, json!([]));

    // Get: inactive ones too; unknown ids and other collections' ids are 404.
    let got = expect(&env, 200, "GET", &one(&off), &t, None).await;
    assert_eq!(
        (got["name"].clone(), got["is_active"].clone()),
        (json!("off"), json!(false))
    );
    assert_eq!(expect(&env, 200, "GET", &one(&own), &t, None).await, own);
    let not_found = (404, "Policy not found".to_owned());
    for path in [
        format!("{base}/nonexistent-id"),
        format!("{base}/{}", uuid::Uuid::new_v4()),
        format!("{other}/{}", id(&own)),
    ] {
        assert_eq!(
            detail(&env.call("GET", &path, Some(&t), None).await),
            not_found,
            "{path}"
        );
    }

    // Update: given keys change, absent and null ones stay, the action never changes.
    let res = expect(
        &env,
        200,
        "PATCH",
        &one(&created),
        &t,
        Some(json!({"effect": "deny", "priority": 10})),
    )
    .await;
    assert_eq!(
        (res["effect"].clone(), res["priority"].clone()),
        (json!("deny"), json!(10))
    );
    assert_eq!(res["action"], "read");
    let res = expect(&env, 200, "PATCH", &one(&own), &t,
        Some(json!({"action": "list", "name": "renamed", "condition_json": null, "allowed_principals": "", "allowed_roles": ""}))).await;
    assert_eq!(res["action"], "update");
    assert_eq!(res["name"], "renamed");
    assert_eq!(res["condition_json"], condition);
    assert_eq!(res["allowed_principals"], "");
    assert_eq!(res["allowed_roles"], "");
    assert_eq!(res["effect"], "deny");
    let patch = |policy: &Value, body: Value| {
        let (env, t, path) = (&env, &t, one(policy));
        async move { detail(&env.call("PATCH", &path, Some(t), Some(body)).await) }
    };
    assert_eq!(patch(&own, json!({"effect": "maybe"})).await, bad_effect);
    assert_eq!(
        patch(&own, json!({"allowed_principals": "root"})).await,
        (400, BAD_PRINCIPAL.into())
    );
    assert_eq!(
        patch(&own, json!({"condition_json": "not valid json"})).await,
        bad_condition
    );
    assert_eq!(patch(&own, json!({"name": ""})).await.0, 422);
    assert_eq!(patch(&own, json!({"is_active": "yes"})).await.0, 422);
    let ghost = json!({"id": uuid::Uuid::new_v4()});
    assert_eq!(patch(&ghost, json!({"effect": "maybe"})).await, not_found);
    // Refused changes left the policy alone.
    let res = expect(&env, 200, "GET", &one(&own), &t, None).await;
    assert_eq!(
        (res["effect"].clone(), res["allowed_principals"].clone()),
        (json!("deny"), json!(""))
    );
    let list = expect(&env, 200, "GET", &base, &t, None).await;
    assert_eq!(
        names(&list, "name"),
        ["allow_read", "renamed", "tie", "mine"]
    );

    // Delete: hard, then 404.
    let res = env.call("DELETE", &one(&mine), Some(&t), None).await;
    assert_eq!(res.status, 204);
    assert_eq!(
        detail(&env.call("GET", &one(&mine), Some(&t), None).await),
        not_found
    );
    assert_eq!(
        detail(&env.call("DELETE", &one(&mine), Some(&t), None).await),
        not_found
    );
    assert_eq!(
        env.call("DELETE", &one(&own), Some(&stranger), None)
            .await
            .status,
        404
    );
    let list = expect(&env, 200, "GET", &base, &t, None).await;
    assert_eq!(list.as_array().unwrap().len(), 3);
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_and_initialize_follow_the_contract() {
    let env = TestEnv::start().await;
    let t = env.admin("owner@example.com").await;
    let p = env.project(&t, "Blog").await;
    let roles = project_path(&p, "rbac/roles");
    let init = project_path(&p, "rbac/initialize");

    // No token: 401 before the project is looked up; a stranger: 404.
    let res = env
        .call(
            "GET",
            "/api/projects/some-project-id/rbac/roles",
            None,
            None,
        )
        .await;
    assert_eq!(res.status, 401);
    assert_eq!(env.call("POST", &init, None, None).await.status, 401);
    let stranger = env.admin("stranger@example.com").await;
    for (method, path) in [("GET", &roles), ("POST", &init)] {
        let res = env.call(method, path, Some(&stranger), None).await;
        assert_eq!(
            detail(&res),
            (404, "Project not found".into()),
            "{method} {path}"
        );
    }

    // A fresh project has no roles.
    assert_eq!(expect(&env, 200, "GET", &roles, &t, None).await, json!([]));
    let editor = expect(
        &env,
        201,
        "POST",
        &roles,
        &t,
        Some(json!({"name": "editor",
        "display_name": "Editor", "description": "Can edit content"})),
    )
    .await;
    assert_eq!(editor["name"], "editor");
    assert_eq!(editor["display_name"], "Editor");
    assert_eq!(editor["description"], "Can edit content");
    assert_eq!(editor["is_system"], false);
    assert_eq!(editor["is_default"], false);
    assert_eq!(editor["project_id"], json!(p));
    assert!(editor["created_at"].is_string() && editor["updated_at"].is_string());
    let res = env
        .call(
            "POST",
            &roles,
            Some(&t),
            Some(json!({"name": "editor", "display_name": "Again"})),
        )
        .await;
    assert_eq!(
        detail(&res),
        (409, "Role 'editor' already exists in this project".into())
    );
    for body in [
        json!({"display_name": "No name"}),
        json!({"name": "no_display"}),
        json!({"name": "n".repeat(64), "display_name": "Long"}),
        json!({"name": "long_display", "display_name": "d".repeat(128)}),
        json!({"name": "flag", "display_name": "Flag", "is_default": "yes"}),
    ] {
        let res = env.call("POST", &roles, Some(&t), Some(body.clone())).await;
        assert_eq!(res.status, 422, "{body}");
    }
    let author = expect(
        &env,
        201,
        "POST",
        &roles,
        &t,
        Some(json!({"name": "author", "display_name": "Author"})),
    )
    .await;
    assert_eq!(author["description"], Value::Null);
    let list = expect(&env, 200, "GET", &roles, &t, None).await;
    assert_eq!(names(&list, "name"), ["author", "editor"]);

    // Get: unknown ids and other projects' roles are 404.
    let one = |role: &Value| format!("{roles}/{}", id(role));
    assert_eq!(
        expect(&env, 200, "GET", &one(&editor), &t, None).await,
        editor
    );
    let other = env.project(&t, "Other").await;
    let not_found = (404, "Role not found".to_owned());
    for path in [
        format!("{roles}/nope"),
        format!("{roles}/{}", uuid::Uuid::new_v4()),
        format!("{}/{}", project_path(&other, "rbac/roles"), id(&editor)),
    ] {
        assert_eq!(
            detail(&env.call("GET", &path, Some(&t), None).await),
            not_found,
            "{path}"
        );
        let res = env.call("PATCH", &path, Some(&t), Some(json!({}))).await;
        assert_eq!(detail(&res), not_found, "{path}");
        assert_eq!(
            detail(&env.call("DELETE", &path, Some(&t), None).await),
            not_found,
            "{path}"
        );
    }

    // Update; one default at a time; the name never changes.
    let res = expect(
        &env,
        200,
        "PATCH",
        &one(&editor),
        &t,
        Some(json!({"display_name": "Updated Role", "is_default": true, "name": "chief"})),
    )
    .await;
    assert_eq!(res["display_name"], "Updated Role");
    assert_eq!(res["is_default"], true);
    assert_eq!(res["name"], "editor");
    assert_eq!(res["description"], "Can edit content");
    let res = env
        .call(
            "PATCH",
            &one(&editor),
            Some(&t),
            Some(json!({"display_name": "d".repeat(128)})),
        )
        .await;
    assert_eq!(res.status, 422);
    let reviewer = expect(
        &env,
        201,
        "POST",
        &roles,
        &t,
        Some(json!({"name": "reviewer", "display_name": "Reviewer", "is_default": true})),
    )
    .await;
    assert_eq!(reviewer["is_default"], true);
    let defaults = |list: &Value| -> Vec<String> {
        list.as_array()
            .unwrap()
            .iter()
            .filter(|r| r["is_default"] == true)
            .map(|r| r["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        defaults(&expect(&env, 200, "GET", &roles, &t, None).await),
        ["reviewer"]
    );
    expect(
        &env,
        200,
        "PATCH",
        &one(&editor),
        &t,
        Some(json!({"is_default": true})),
    )
    .await;
    assert_eq!(
        defaults(&expect(&env, 200, "GET", &roles, &t, None).await),
        ["editor"]
    );

    // Initialize: the three system roles; `member` is not the default while another role is.
    let res = expect(&env, 201, "POST", &init, &t, None).await;
    assert_eq!(res, json!({"roles_created": 3}));
    let res = expect(&env, 201, "POST", &init, &t, None).await;
    assert_eq!(res, json!({"roles_created": 0}));
    let list = expect(&env, 200, "GET", &roles, &t, None).await;
    assert_eq!(
        names(&list, "name"),
        ["admin", "member", "viewer", "author", "editor", "reviewer"]
    );
    assert_eq!(defaults(&list), ["editor"]);
    let system = &list.as_array().unwrap()[..3];
    let described: Vec<(&str, &str, bool)> = system
        .iter()
        .map(|r| {
            assert_eq!(r["is_system"], true);
            (
                r["display_name"].as_str().unwrap(),
                r["description"].as_str().unwrap(),
                r["is_default"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        described,
        [
            ("Administrator", "Full access to all resources", false),
            ("Member", "Standard member access", false),
            ("Viewer", "Read-only access", false),
        ]
    );
    let admin_role = &system[0];
    let res = env
        .call(
            "PATCH",
            &one(admin_role),
            Some(&t),
            Some(json!({"display_name": "Root"})),
        )
        .await;
    assert_eq!(detail(&res), (403, "Cannot modify system roles".into()));
    let res = env.call("DELETE", &one(admin_role), Some(&t), None).await;
    assert_eq!(detail(&res), (403, "Cannot delete system roles".into()));
    assert_eq!(
        expect(&env, 200, "GET", &one(admin_role), &t, None).await["display_name"],
        "Administrator"
    );

    // Without a default, `member` becomes it; a custom role named like a system one is kept.
    let other_roles = project_path(&other, "rbac/roles");
    expect(
        &env,
        201,
        "POST",
        &other_roles,
        &t,
        Some(json!({"name": "viewer", "display_name": "Mine"})),
    )
    .await;
    let res = expect(
        &env,
        201,
        "POST",
        &project_path(&other, "rbac/initialize"),
        &t,
        None,
    )
    .await;
    assert_eq!(res, json!({"roles_created": 2}));
    let list = expect(&env, 200, "GET", &other_roles, &t, None).await;
    assert_eq!(names(&list, "name"), ["admin", "member", "viewer"]);
    assert_eq!(defaults(&list), ["member"]);
    assert_eq!(list[2]["display_name"], "Mine");
    assert_eq!(list[2]["is_system"], false);

    // Delete: then 404.
    assert_eq!(
        env.call("DELETE", &one(&author), Some(&stranger), None)
            .await
            .status,
        404
    );
    assert_eq!(
        env.call("DELETE", &one(&author), Some(&t), None)
            .await
            .status,
        204
    );
    assert_eq!(
        detail(&env.call("GET", &one(&author), Some(&t), None).await),
        not_found
    );
    assert_eq!(
        detail(&env.call("DELETE", &one(&author), Some(&t), None).await),
        not_found
    );
    env.shutdown().await;
}

/// Roles `{name: id}` created by the admin.
async fn make_roles(env: &TestEnv, t: &str, p: &str, names: &[&str]) -> Vec<Value> {
    let mut out = Vec::new();
    for name in names {
        let body = json!({"name": name, "display_name": name.to_uppercase()});
        out.push(
            expect(
                env,
                201,
                "POST",
                &project_path(p, "rbac/roles"),
                t,
                Some(body),
            )
            .await,
        );
    }
    out
}

async fn app_user(env: &TestEnv, t: &str, p: &str, email: &str) -> String {
    let body = json!({"email": email, "password": "password123"});
    id(&expect(
        env,
        201,
        "POST",
        &project_path(p, "settings/auth/users"),
        t,
        Some(body),
    )
    .await)
}

async fn held(env: &TestEnv, t: &str, p: &str, user: &str) -> Vec<String> {
    let path = project_path(p, &format!("rbac/users/{user}/roles"));
    let body = expect(env, 200, "GET", &path, t, None).await;
    assert_eq!(body["app_user_id"], json!(user));
    names(&body["roles"], "name")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_assign_roles_to_app_users_on_the_workers() {
    let env = TestEnv::start().await;
    let t = env.admin("owner@example.com").await;
    let p = env.project(&t, "Blog").await;
    let made = make_roles(&env, &t, &p, &["editor", "author", "reviewer"]).await;
    let (editor, author, reviewer) = (id(&made[0]), id(&made[1]), id(&made[2]));
    let user = app_user(&env, &t, &p, "ann@example.com").await;
    let user_roles = project_path(&p, &format!("rbac/users/{user}/roles"));
    assert!(held(&env, &t, &p, &user).await.is_empty());

    // Assign: answered by name with the whole RoleOut; again is a no-op.
    let res = expect(
        &env,
        201,
        "POST",
        &user_roles,
        &t,
        Some(json!({"role_ids": [editor, author, editor]})),
    )
    .await;
    assert_eq!(res["app_user_id"], json!(user));
    assert_eq!(names(&res["roles"], "name"), ["author", "editor"]);
    assert_eq!(res["roles"][1], made[0]);
    let res = expect(
        &env,
        201,
        "POST",
        &user_roles,
        &t,
        Some(json!({"role_ids": [editor]})),
    )
    .await;
    assert_eq!(names(&res["roles"], "name"), ["author", "editor"]);

    // Every id is checked before any is assigned.
    for bad in [uuid::Uuid::new_v4().to_string(), "nope".to_owned()] {
        let res = env
            .call(
                "POST",
                &user_roles,
                Some(&t),
                Some(json!({"role_ids": [reviewer, bad]})),
            )
            .await;
        assert_eq!(detail(&res), (404, "Role not found".into()));
    }
    assert_eq!(held(&env, &t, &p, &user).await, ["author", "editor"]);
    for body in [
        json!({}),
        json!({"role_ids": editor}),
        json!({"role_ids": [1]}),
    ] {
        let res = env
            .call("POST", &user_roles, Some(&t), Some(body.clone()))
            .await;
        assert_eq!(res.status, 422, "{body}");
    }

    // Unknown app users.
    let ghost = project_path(&p, &format!("rbac/users/{}/roles", uuid::Uuid::new_v4()));
    let no_user = (404, "App user not found".to_owned());
    assert_eq!(
        detail(&env.call("GET", &ghost, Some(&t), None).await),
        no_user
    );
    let res = env
        .call(
            "POST",
            &ghost,
            Some(&t),
            Some(json!({"role_ids": [editor]})),
        )
        .await;
    assert_eq!(detail(&res), no_user);
    let res = env
        .call("DELETE", &format!("{ghost}/{editor}"), Some(&t), None)
        .await;
    assert_eq!(detail(&res), no_user);

    // Admins only: no token, an app user's token and an API key get 401; a stranger 404.
    assert_eq!(env.call("GET", &user_roles, None, None).await.status, 401);
    let reg = env
        .call(
            "POST",
            &project_path(&p, "auth/register"),
            None,
            Some(json!({"email": "bob@example.com", "password": "password123"})),
        )
        .await;
    let app_token = reg.body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        env.call("GET", &user_roles, Some(&app_token), None)
            .await
            .status,
        401
    );
    let key = expect(
        &env,
        201,
        "POST",
        &project_path(&p, "api-keys"),
        &t,
        Some(json!({"name": "k"})),
    )
    .await;
    let res = env
        .send(
            env.request("GET", &user_roles)
                .header("x-api-key", key["api_key"].as_str().unwrap()),
        )
        .await;
    assert_eq!(res.status, 401);
    let stranger = env.admin("stranger@example.com").await;
    let res = env.call("GET", &user_roles, Some(&stranger), None).await;
    assert_eq!(detail(&res), (404, "Project not found".into()));
    let res = env
        .call(
            "POST",
            &user_roles,
            Some(&stranger),
            Some(json!({"role_ids": [reviewer]})),
        )
        .await;
    assert_eq!(res.status, 404);

    // Remove.
    let res = env
        .call("DELETE", &format!("{user_roles}/{author}"), Some(&t), None)
        .await;
    assert_eq!(res.status, 204);
    assert_eq!(held(&env, &t, &p, &user).await, ["editor"]);
    let res = env
        .call("DELETE", &format!("{user_roles}/{author}"), Some(&t), None)
        .await;
    assert_eq!(detail(&res), (404, "User does not have this role".into()));
    for role in [uuid::Uuid::new_v4().to_string(), "nope".into()] {
        let res = env
            .call("DELETE", &format!("{user_roles}/{role}"), Some(&t), None)
            .await;
        assert_eq!(detail(&res), (404, "Role not found".into()));
    }

    // Deleting a role deletes its assignments; a new role of the same name is not held.
    let pool = sqlx::PgPool::connect(&env.db_url).await.unwrap();
    let schema = format!("p_{}", p.replace('-', "_"));
    let assignments = |role: String| {
        let (pool, schema) = (&pool, &schema);
        async move {
            let sql = format!(
                "SELECT assigned_by FROM \"{schema}\"._user_roles WHERE role_id = $1::uuid"
            );
            sqlx::query_scalar::<_, String>(&sql)
                .bind(role)
                .fetch_all(pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(assignments(editor.clone()).await, ["admin"]);
    let res = env
        .call(
            "DELETE",
            &project_path(&p, &format!("rbac/roles/{editor}")),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(res.status, 204);
    assert!(assignments(editor.clone()).await.is_empty());
    assert!(held(&env, &t, &p, &user).await.is_empty());
    let again = make_roles(&env, &t, &p, &["editor"]).await;
    assert_ne!(id(&again[0]), editor);
    assert!(held(&env, &t, &p, &user).await.is_empty());
    let res = env
        .call("DELETE", &format!("{user_roles}/{editor}"), Some(&t), None)
        .await;
    assert_eq!(detail(&res), (404, "Role not found".into()));

    // Deleting the app user deletes its assignments.
    expect(
        &env,
        201,
        "POST",
        &user_roles,
        &t,
        Some(json!({"role_ids": [reviewer]})),
    )
    .await;
    assert_eq!(assignments(reviewer.clone()).await.len(), 1);
    let res = env
        .call(
            "DELETE",
            &project_path(&p, &format!("settings/auth/users/{user}")),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(res.status, 204);
    assert!(assignments(reviewer).await.is_empty());
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_app_users_get_the_default_role() {
    let env = TestEnv::start().await;
    let t = env.admin("owner@example.com").await;
    let p = env.project(&t, "Blog").await;
    let register = |email: &str| {
        let (env, p) = (&env, &p);
        let body = json!({"email": email, "password": "password123"});
        async move {
            let res = env
                .call("POST", &project_path(p, "auth/register"), None, Some(body))
                .await;
            assert_eq!(res.status, 201, "{res:?}");
            let access = res.body["access_token"].as_str().unwrap().to_owned();
            let me = env
                .call("GET", &project_path(p, "auth/me"), Some(&access), None)
                .await;
            id(&me.body)
        }
    };

    // No default role: nothing to give.
    let first = register("first@example.com").await;
    assert!(held(&env, &t, &p, &first).await.is_empty());

    expect(
        &env,
        201,
        "POST",
        &project_path(&p, "rbac/initialize"),
        &t,
        None,
    )
    .await;
    let second = register("second@example.com").await;
    assert_eq!(held(&env, &t, &p, &second).await, ["member"]);
    let made = app_user(&env, &t, &p, "made@example.com").await;
    assert_eq!(held(&env, &t, &p, &made).await, ["member"]);
    assert!(held(&env, &t, &p, &first).await.is_empty());

    // A magic link that creates the account.
    let settings = project_path(&p, "settings/auth");
    expect(
        &env,
        200,
        "PUT",
        &settings,
        &t,
        Some(json!({"enable_magic_link": true})),
    )
    .await;
    let res = env
        .call(
            "POST",
            &project_path(&p, "auth/otp/send?email=link@example.com"),
            None,
            None,
        )
        .await;
    assert_eq!(res.status, 200, "{res:?}");
    let users = expect(
        &env,
        200,
        "GET",
        &project_path(&p, "settings/auth/users"),
        &t,
        None,
    )
    .await;
    let link = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "link@example.com")
        .map(id)
        .unwrap();
    assert_eq!(held(&env, &t, &p, &link).await, ["member"]);

    // The default follows the roles' settings; the system gave it.
    let custom = make_roles(&env, &t, &p, &["reader"]).await;
    expect(
        &env,
        200,
        "PATCH",
        &project_path(&p, &format!("rbac/roles/{}", id(&custom[0]))),
        &t,
        Some(json!({"is_default": true})),
    )
    .await;
    let third = register("third@example.com").await;
    assert_eq!(held(&env, &t, &p, &third).await, ["reader"]);
    let pool = sqlx::PgPool::connect(&env.db_url).await.unwrap();
    let schema = format!("p_{}", p.replace('-', "_"));
    let by: Vec<String> = sqlx::query_scalar(&format!(
        "SELECT assigned_by FROM \"{schema}\"._user_roles WHERE user_id = $1"
    ))
    .bind(&third)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(by, ["system"]);
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projects_made_before_roles_get_their_role_table_at_start() {
    let mut env = TestEnv::start().await;
    let t = env.admin("owner@example.com").await;
    let p = env.project(&t, "Old").await;
    let user = app_user(&env, &t, &p, "ann@example.com").await;
    let schema = format!("p_{}", p.replace('-', "_"));
    let pool = sqlx::PgPool::connect(&env.db_url).await.unwrap();
    // As a project of the previous version: no role table.
    sqlx::query(&format!("DROP TABLE \"{schema}\"._user_roles"))
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("UPDATE control.projects SET auth_tables_version = 2 WHERE id = $1::uuid")
        .bind(&p)
        .execute(&pool)
        .await
        .unwrap();

    env.stop_control_plane().await;
    env.restart_control_plane().await;
    let owner: String = sqlx::query_scalar(
        "SELECT tableowner::text FROM pg_tables WHERE schemaname = $1 AND tablename = '_user_roles'",
    )
    .bind(&schema)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(owner, schema);

    // Once the workers have the role, the worker (as the project's role) writes the table.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let role = loop {
        let res = env
            .call(
                "POST",
                &project_path(&p, "rbac/roles"),
                Some(&t),
                Some(json!({"name": "editor", "display_name": "Editor"})),
            )
            .await;
        if res.status == 201 {
            break id(&res.body);
        }
        assert!(std::time::Instant::now() < deadline, "{res:?}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let path = project_path(&p, &format!("rbac/users/{user}/roles"));
    let mut in_a_row = 0;
    while in_a_row < 4 {
        let res = env
            .call("POST", &path, Some(&t), Some(json!({"role_ids": [role]})))
            .await;
        if res.status == 201 {
            assert_eq!(names(&res.body["roles"], "name"), ["editor"]);
            in_a_row += 1;
        } else {
            in_a_row = 0;
            assert!(std::time::Instant::now() < deadline, "{res:?}");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    env.shutdown().await;
}
