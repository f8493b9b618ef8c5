//! A property-test oracle of access policies (spec/policies.md): random policies, callers of
//! every kind (admin, API key, anonymous, app users verified or not, with and without roles) and
//! [`decide`], a plain Rust reading of the contract. `tests/policy_oracle.rs` checks reads against
//! it; `tests/realtime_oracle.rs` uses its callers and policies for realtime streams.

use crate::TestEnv;
use rand::rngs::StdRng;
use rand::Rng;
use serde_json::{json, Value};

pub const STATUSES: [Option<&str>; 4] = [Some("open"), Some("closed"), Some("secret"), None];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Admin,
    AppUser,
    ApiKey,
    Anonymous,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Admin => "admin_user",
            Kind::AppUser => "app_user",
            Kind::ApiKey => "api_key",
            Kind::Anonymous => "anonymous",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Caller {
    pub kind: Kind,
    pub id: Option<String>,
    pub email: Option<String>,
    pub verified: bool,
    pub roles: Vec<&'static str>,
    pub token: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Policy {
    pub action: &'static str,
    pub allow: bool,
    pub principals: Vec<Kind>,
    pub verified: bool,
    pub roles: Vec<&'static str>,
    pub condition: Option<Value>,
    pub priority: i64,
}

impl Policy {
    pub fn body(&self, i: usize) -> Value {
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
pub fn decide(policies: &[Policy], action: &str, who: &Caller, row: &Value) -> bool {
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

pub fn holds(c: &Value, who: &Caller, row: &Value) -> bool {
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

pub fn condition(rng: &mut StdRng, depth: u32) -> Value {
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

pub fn policies(rng: &mut StdRng, actions: &[&'static str], most: usize) -> Vec<Policy> {
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

pub struct Stack<'a> {
    pub env: &'a TestEnv,
    pub admin: String,
    pub p: String,
    pub key: String,
}

impl Stack<'_> {
    pub async fn call(
        &self,
        who: &Caller,
        method: &str,
        rest: &str,
        body: Option<Value>,
    ) -> crate::Res {
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

    pub fn admin_caller(&self) -> Caller {
        Caller {
            kind: Kind::Admin,
            id: None,
            email: None,
            verified: true,
            roles: vec![],
            token: None,
        }
    }

    pub async fn ok(&self, method: &str, rest: &str, body: Option<Value>) -> Value {
        let res = self.call(&self.admin_caller(), method, rest, body).await;
        assert!((200..300).contains(&res.status), "{method} {rest}: {res:?}");
        res.body
    }

    pub async fn set_policies(&self, collection: &str, policies: &[Policy]) {
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

/// A project `oracle` with a collection `items` (`owner`, `status`, `n`) and an API key.
pub async fn stack(env: &TestEnv) -> Stack<'_> {
    let admin = env.admin("owner@example.com").await;
    let p = env.project(&admin, "oracle").await;
    env.collection(&admin, &p, "items").await;
    for (f, t) in [("owner", "string"), ("status", "string"), ("n", "int")] {
        env.field(&admin, &p, "items", f, t).await;
    }
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
    Stack { env, admin, p, key }
}

/// Roles `r1` and `r2`, and the callers: admin, API key, anonymous, then four app users (verified
/// or not, with and without roles).
pub async fn callers(s: &Stack<'_>) -> Vec<Caller> {
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
        let me = s
            .env
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
    callers
}
