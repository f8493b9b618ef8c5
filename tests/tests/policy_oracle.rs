//! A property test of access policies: random policies over random rows owned by random users.
//! For every caller, what list, get, aggregate and expansions return through the real stack must
//! equal what a plain Rust reading of spec/policies.md (below, [`decide`]) allows, row by row.
//!
//! Where the contract leaves a choice, the oracle states ours: conditions are evaluated per row for
//! `list` too (rows the condition refuses are left out), an app user's list holds only their own
//! rows, a value that is undefined for the caller (`principal.user_id` of an API key) never
//! matches, and a NULL column matches no comparison. A refusal (401/403) is accepted only where
//! the oracle allows nothing.

use e2e::TestEnv;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::collections::BTreeSet;

const STATUSES: [Option<&str>; 4] = [Some("open"), Some("closed"), Some("secret"), None];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Admin,
    AppUser,
    ApiKey,
    Anonymous,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Admin => "admin_user",
            Kind::AppUser => "app_user",
            Kind::ApiKey => "api_key",
            Kind::Anonymous => "anonymous",
        }
    }
}

#[derive(Debug, Clone)]
struct Caller {
    kind: Kind,
    id: Option<String>,
    email: Option<String>,
    verified: bool,
    roles: Vec<&'static str>,
    token: Option<String>,
}

#[derive(Debug, Clone)]
struct Policy {
    action: &'static str,
    allow: bool,
    principals: Vec<Kind>,
    verified: bool,
    roles: Vec<&'static str>,
    condition: Option<Value>,
    priority: i64,
}

impl Policy {
    fn body(&self, i: usize) -> Value {
        let principals: Vec<&str> = self.principals.iter().map(|k| k.name()).collect();
        json!({
            "name": format!("p{i}"),
            "action": self.action,
            "effect": if self.allow { "allow" } else { "deny" },
            "allowed_principals": principals.join(","),
            "require_email_verified": self.verified,
            "allowed_roles": self.roles.join(","),
            "condition_json": self.condition.as_ref().map(|c| c.to_string()),
            "priority": self.priority,
        })
    }
}

/// spec/policies.md, evaluated directly: admins always; no policies → admins and API keys; else
/// the first policy (priority descending, then creation order) whose gates and condition hold.
fn decide(policies: &[Policy], action: &str, who: &Caller, row: &Value) -> bool {
    if who.kind == Kind::Admin {
        return true;
    }
    if policies.is_empty() {
        return who.kind == Kind::ApiKey;
    }
    let mut order: Vec<(usize, &Policy)> = policies.iter().enumerate().collect();
    order.sort_by_key(|(i, p)| (-p.priority, *i));
    for (_, p) in order {
        if p.action != action || !p.principals.contains(&who.kind) {
            continue;
        }
        if p.verified && !who.verified {
            continue;
        }
        if who.kind == Kind::AppUser
            && !p.roles.is_empty()
            && !p.roles.iter().any(|r| who.roles.contains(r))
        {
            continue;
        }
        if let Some(c) = &p.condition {
            if !holds(c, who, row) {
                continue;
            }
        }
        return p.allow;
    }
    false
}

fn holds(c: &Value, who: &Caller, row: &Value) -> bool {
    let field = |default: &str| row[c["field"].as_str().unwrap_or(default)].clone();
    let user_id = who.id.clone();
    let app_user_id = (who.kind == Kind::AppUser)
        .then(|| who.id.clone())
        .flatten();
    match c.get("type").and_then(Value::as_str) {
        Some("authenticated") => who.kind != Kind::Anonymous,
        Some("owner") => user_id.is_some_and(|u| field("created_by_app_user_id") == json!(u)),
        Some("app_user_owner") => {
            app_user_id.is_some_and(|u| field("created_by_app_user_id") == json!(u))
        }
        Some("field_equals") => {
            let expected = match c["value"].as_str() {
                Some("principal.user_id") => user_id.map(Value::from),
                Some("principal.email") => who.email.clone().map(Value::from),
                Some("principal.app_user_id") => app_user_id.map(Value::from),
                _ => Some(c["value"].clone()),
            };
            expected.is_some_and(|e| field("") == e)
        }
        Some("and") => c["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| holds(x, who, row)),
        Some("or") => c["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| holds(x, who, row)),
        Some("not") => !holds(&c["condition"], who, row),
        Some(_) => true,
        // The console's form: every entry holds.
        None => c.as_object().unwrap().iter().all(|(name, v)| {
            let (op, v) = match v {
                Value::Object(o) => {
                    let (op, v) = o.iter().next().unwrap();
                    (op.as_str(), v.clone())
                }
                v => ("$eq", v.clone()),
            };
            let expected = match v.as_str() {
                Some("$current_user_id") => user_id.clone().map(Value::from),
                Some("$current_app_user_id") => app_user_id.clone().map(Value::from),
                _ => Some(v),
            };
            let (Some(expected), stored) = (expected, &row[name.as_str()]) else {
                return false;
            };
            if stored.is_null() {
                return false;
            }
            // Values are coerced to the column's type, as a query filter's are.
            let ord = match (stored, &expected) {
                (Value::Number(a), e) => {
                    let e = e
                        .as_str()
                        .map(|s| s.parse::<f64>().unwrap())
                        .or_else(|| e.as_f64())
                        .unwrap();
                    a.as_f64().unwrap().partial_cmp(&e).unwrap()
                }
                (Value::String(a), e) => a.as_str().cmp(e.as_str().unwrap()),
                _ => unreachable!(),
            };
            match op {
                "$eq" => ord.is_eq(),
                "$neq" => ord.is_ne(),
                "$gt" => ord.is_gt(),
                "$lte" => ord.is_le(),
                _ => unreachable!(),
            }
        }),
    }
}

fn condition(rng: &mut StdRng, depth: u32) -> Value {
    let status: Value = STATUSES[rng.gen_range(0..4)].into();
    match rng.gen_range(0..16) {
        0 => json!({"type": "authenticated"}),
        1 => json!({"type": "owner"}),
        2 => json!({"type": "owner", "field": "owner"}),
        3 => json!({"type": "app_user_owner"}),
        4 => json!({"type": "field_equals", "field": "status", "value": status}),
        5 => json!({"type": "field_equals", "field": "n", "value": rng.gen_range(0..4)}),
        6 => json!({"type": "field_equals", "field": "n", "value": "1"}),
        7 => json!({"type": "field_equals", "field": "owner", "value": "principal.user_id"}),
        8 => json!({"type": "mystery"}),
        9 => json!({"status": status.as_str().unwrap_or("open")}),
        10 => json!({"n": {"$gt": rng.gen_range(0..4).to_string()}}),
        11 => json!({"owner": "$current_user_id", "n": {"$lte": "2"}}),
        12 => json!({"status": {"$neq": "secret"}}),
        13 if depth < 2 => json!({"type": "not", "condition": condition(rng, depth + 1)}),
        14 if depth < 2 => {
            json!({"type": "and", "conditions": [condition(rng, depth + 1), condition(rng, depth + 1)]})
        }
        15 if depth < 2 => {
            json!({"type": "or", "conditions": (0..rng.gen_range(0..3)).map(|_| condition(rng, depth + 1)).collect::<Vec<_>>()})
        }
        _ => json!({"created_by_app_user_id": "$current_app_user_id"}),
    }
}

fn policies(rng: &mut StdRng, actions: &[&'static str], most: usize) -> Vec<Policy> {
    let kinds = [Kind::Admin, Kind::AppUser, Kind::ApiKey, Kind::Anonymous];
    (0..rng.gen_range(0..=most))
        .map(|_| Policy {
            action: actions[rng.gen_range(0..actions.len())],
            allow: rng.gen_bool(0.7),
            principals: match rng.gen_range(0..4) {
                // null / empty: the default
                0 => vec![Kind::Admin, Kind::ApiKey],
                _ => {
                    let mut ks: Vec<Kind> = kinds
                        .iter()
                        .copied()
                        .filter(|_| rng.gen_bool(0.6))
                        .collect();
                    if ks.is_empty() {
                        ks.push(Kind::AppUser);
                    }
                    ks
                }
            },
            verified: rng.gen_bool(0.2),
            roles: match rng.gen_range(0..5) {
                0 => vec!["r1"],
                1 => vec!["r1", "r2"],
                _ => vec![],
            },
            condition: rng.gen_bool(0.7).then(|| condition(rng, 0)),
            priority: rng.gen_range(0..3),
        })
        .collect()
}

struct Stack<'a> {
    env: &'a TestEnv,
    admin: String,
    p: String,
    key: String,
}

impl Stack<'_> {
    async fn call(&self, who: &Caller, method: &str, rest: &str, body: Option<Value>) -> e2e::Res {
        let mut req = self
            .env
            .request(method, &format!("/api/projects/{}{rest}", self.p));
        req = match who.kind {
            Kind::Admin => req.bearer_auth(&self.admin),
            Kind::ApiKey => req.header("x-api-key", &self.key),
            Kind::Anonymous => req,
            Kind::AppUser => req.bearer_auth(who.token.as_ref().unwrap()),
        };
        if let Some(b) = body {
            req = req.json(&b);
        }
        self.env.send(req).await
    }

    fn admin_caller(&self) -> Caller {
        Caller {
            kind: Kind::Admin,
            id: None,
            email: None,
            verified: true,
            roles: vec![],
            token: None,
        }
    }

    async fn ok(&self, method: &str, rest: &str, body: Option<Value>) -> Value {
        let res = self.call(&self.admin_caller(), method, rest, body).await;
        assert!((200..300).contains(&res.status), "{method} {rest}: {res:?}");
        res.body
    }

    async fn set_policies(&self, collection: &str, policies: &[Policy]) {
        let base = format!("/schema/collections/{collection}/policies");
        for old in self.ok("GET", &base, None).await.as_array().unwrap() {
            let id = old["id"].as_str().unwrap();
            self.ok("DELETE", &format!("{base}/{id}"), None).await;
        }
        for (i, p) in policies.iter().enumerate() {
            self.ok("POST", &base, Some(p.body(i))).await;
        }
    }
}

fn ids(records: &Value) -> BTreeSet<i64> {
    records
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_callers_get_equals_what_the_policies_allow() {
    let env = TestEnv::start().await;
    let admin = env.admin("owner@example.com").await;
    let p = env.project(&admin, "oracle").await;
    env.collection(&admin, &p, "items").await;
    for (f, t) in [("owner", "string"), ("status", "string"), ("n", "int")] {
        env.field(&admin, &p, "items", f, t).await;
    }
    env.collection(&admin, &p, "parts").await;
    env.field(&admin, &p, "parts", "label", "string").await;
    let key = env
        .call(
            "POST",
            &format!("/api/projects/{p}/api-keys"),
            Some(&admin),
            Some(json!({"name": "k"})),
        )
        .await
        .body["api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let s = Stack {
        env: &env,
        admin,
        p,
        key,
    };
    let items_id = s.ok("GET", "/schema/collections/items", None).await["id"].clone();
    let parts_id = s.ok("GET", "/schema/collections/parts", None).await["id"].clone();
    s.ok(
        "POST",
        &format!(
            "/schema/relations/collections/{}/relations",
            parts_id.as_str().unwrap()
        ),
        Some(json!({"name": "item", "display_name": "Item", "target_collection_id": items_id})),
    )
    .await;
    let mut role_ids = std::collections::HashMap::new();
    for r in ["r1", "r2"] {
        let role = s
            .ok(
                "POST",
                "/rbac/roles",
                Some(json!({"name": r, "display_name": r})),
            )
            .await;
        role_ids.insert(r, role["id"].clone());
    }

    // Four app users: verified or not, with and without roles.
    let mut callers = vec![
        s.admin_caller(),
        Caller {
            kind: Kind::ApiKey,
            id: None,
            email: None,
            verified: false,
            roles: vec![],
            token: None,
        },
        Caller {
            kind: Kind::Anonymous,
            id: None,
            email: None,
            verified: false,
            roles: vec![],
            token: None,
        },
    ];
    let setups: [(bool, Vec<&'static str>); 4] = [
        (true, vec!["r1"]),
        (false, vec![]),
        (true, vec!["r2"]),
        (false, vec!["r1", "r2"]),
    ];
    for (i, (verified, roles)) in setups.into_iter().enumerate() {
        let email = format!("u{i}@example.com");
        let res = s
            .call(
                &callers[2],
                "POST",
                "/auth/register",
                Some(json!({"email": email, "password": "password123"})),
            )
            .await;
        assert_eq!(res.status, 201, "{res:?}");
        let token = res.body["access_token"].as_str().unwrap().to_owned();
        let me = env
            .call(
                "GET",
                &format!("/api/projects/{}/auth/me", s.p),
                Some(&token),
                None,
            )
            .await;
        let id = me.body["id"].as_str().unwrap().to_owned();
        if verified {
            s.ok(
                "PATCH",
                &format!("/settings/auth/users/{id}"),
                Some(json!({"is_email_verified": true})),
            )
            .await;
        }
        if !roles.is_empty() {
            let ids: Vec<Value> = roles.iter().map(|r| role_ids[r].clone()).collect();
            s.ok(
                "POST",
                &format!("/rbac/users/{id}/roles"),
                Some(json!({"role_ids": ids})),
            )
            .await;
        }
        callers.push(Caller {
            kind: Kind::AppUser,
            id: Some(id),
            email: Some(email),
            verified,
            roles,
            token: Some(token),
        });
    }

    // Rows owned by random creators, with random owners, statuses and numbers.
    let mut rng = StdRng::seed_from_u64(5);
    let seed = Policy {
        action: "create",
        allow: true,
        principals: vec![Kind::AppUser, Kind::ApiKey],
        verified: false,
        roles: vec![],
        condition: None,
        priority: 0,
    };
    s.set_policies("items", std::slice::from_ref(&seed)).await;
    s.set_policies("parts", &[seed]).await;
    let creators: Vec<Caller> = callers
        .iter()
        .filter(|c| c.kind != Kind::Anonymous)
        .cloned()
        .collect();
    let app_ids: Vec<String> = callers.iter().filter_map(|c| c.id.clone()).collect();
    let mut item_ids = Vec::new();
    for _ in 0..14 {
        let who = &creators[rng.gen_range(0..creators.len())];
        let owner = (rng.gen_bool(0.6)).then(|| app_ids[rng.gen_range(0..app_ids.len())].clone());
        let body = json!({"owner": owner, "status": STATUSES[rng.gen_range(0..4)],
                          "n": rng.gen_range(0..4)});
        let res = s.call(who, "POST", "/data/items", Some(body)).await;
        assert_eq!(res.status, 201, "{res:?}");
        item_ids.push(res.body["id"].as_i64().unwrap());
    }
    for i in 0..10 {
        let who = &creators[rng.gen_range(0..creators.len())];
        let item = item_ids[rng.gen_range(0..item_ids.len())];
        let res = s
            .call(
                who,
                "POST",
                "/data/parts",
                Some(json!({"label": format!("part {i}"), "item": item})),
            )
            .await;
        assert_eq!(res.status, 201, "{res:?}");
    }
    let items = s.ok("GET", "/data/items?limit=1000", None).await["records"].clone();
    let parts = s.ok("GET", "/data/parts?limit=1000", None).await["records"].clone();
    let item = |id: i64| {
        items
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == json!(id))
            .unwrap()
            .clone()
    };

    // How often the interesting cases came up: some rows allowed and some refused.
    let (mut partial_lists, mut allowed_reads, mut refused_reads) = (0, 0, 0);
    for round in 0..30 {
        let item_rules = policies(&mut rng, &["list", "read"], 6);
        let part_rules = policies(&mut rng, &["list", "read", "update"], 4);
        s.set_policies("items", &item_rules).await;
        s.set_policies("parts", &part_rules).await;
        let ctx = format!("round {round}\nitems: {item_rules:#?}\nparts: {part_rules:#?}");
        for who in &callers {
            let refusal = if who.kind == Kind::Anonymous {
                401
            } else {
                403
            };
            let listable = |r: &Value, rules: &[Policy]| {
                decide(rules, "list", who, r)
                    && (who.kind != Kind::AppUser || r["created_by_app_user_id"] == json!(who.id))
            };
            // list
            let want: BTreeSet<i64> = items
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| listable(r, &item_rules))
                .map(|r| r["id"].as_i64().unwrap())
                .collect();
            let res = s.call(who, "GET", "/data/items?limit=1000", None).await;
            if !want.is_empty() && want.len() < item_ids.len() {
                partial_lists += 1;
            }
            if res.status == 200 {
                assert_eq!(ids(&res.body["records"]), want, "{who:?} list\n{ctx}");
                assert_eq!(res.body["total"], json!(want.len()), "{who:?}\n{ctx}");
            } else {
                assert_eq!(res.status, refusal, "{who:?} list {res:?}\n{ctx}");
                assert!(
                    want.is_empty(),
                    "{who:?} list refused, oracle {want:?}\n{ctx}"
                );
            }
            // aggregate
            let res = s
                .call(who, "GET", "/data/items/_aggregate?sum=n", None)
                .await;
            if res.status == 200 {
                let count = res.body["results"][0]["count"].as_u64().unwrap();
                assert_eq!(count as usize, want.len(), "{who:?} aggregate\n{ctx}");
            } else {
                assert!(want.is_empty() && res.status == refusal, "{res:?}\n{ctx}");
            }
            // get each item, with the parts that point at it
            for &id in &item_ids {
                let row = item(id);
                let res = s
                    .call(
                        who,
                        "GET",
                        &format!("/data/items/{id}?expand=parts_via_item"),
                        None,
                    )
                    .await;
                if decide(&item_rules, "read", who, &row) {
                    allowed_reads += 1;
                    assert_eq!(res.status, 200, "{who:?} read {row}\n{ctx}");
                    let want: BTreeSet<i64> = parts
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter(|p| p["item_id"] == json!(id))
                        .filter(|p| decide(&part_rules, "read", who, p))
                        .map(|p| p["id"].as_i64().unwrap())
                        .collect();
                    assert_eq!(
                        ids(&res.body["parts_via_item"]),
                        want,
                        "{who:?} expand parts of {id}\n{ctx}"
                    );
                } else {
                    refused_reads += 1;
                    assert_eq!(res.status, refusal, "{who:?} read {row}: {res:?}\n{ctx}");
                }
            }
            // list parts with their items: an item the caller may not read expands to null
            let res = s
                .call(who, "GET", "/data/parts?limit=1000&expand=item", None)
                .await;
            let want_parts: BTreeSet<i64> = parts
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| listable(p, &part_rules))
                .map(|p| p["id"].as_i64().unwrap())
                .collect();
            if res.status == 200 {
                assert_eq!(
                    ids(&res.body["records"]),
                    want_parts,
                    "{who:?} parts\n{ctx}"
                );
                for part in res.body["records"].as_array().unwrap() {
                    let target = item(part["item_id"].as_i64().unwrap());
                    let want = if decide(&item_rules, "read", who, &target) {
                        target["id"].clone()
                    } else {
                        Value::Null
                    };
                    assert_eq!(part["item"]["id"], want, "{who:?} expand {part}\n{ctx}");
                }
            } else {
                assert_eq!(res.status, refusal, "{who:?} parts {res:?}\n{ctx}");
                assert!(
                    want_parts.is_empty(),
                    "{who:?} parts refused, oracle {want_parts:?}\n{ctx}"
                );
            }
        }
    }
    assert!(
        partial_lists >= 20 && allowed_reads >= 300 && refused_reads >= 300,
        "too few telling cases: {partial_lists} partial lists, {allowed_reads} allowed and \
         {refused_reads} refused reads"
    );
    env.shutdown().await;
}
