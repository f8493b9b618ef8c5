//! Access policies (spec/policies.md) as row predicates. A collection's compiled policies, bound
//! with the caller, become one [`Pred`] that the statement reading or writing the rows carries in
//! its `WHERE`: a list, a get, an update, a delete, an expansion, an aggregate and a batch step
//! all apply the same rule inside their one SQL statement, never by filtering fetched rows.
//!
//! First-match evaluation over the ordered policies becomes: a row is allowed when some `allow`
//! policy's condition holds for it and no `deny` policy before that one holds. Conditions that do
//! not depend on the row fold to constants, so a rule without row conditions costs nothing.

use crate::http::context::Caller;
use crate::query::filter::{Filter, Op, Pred};
use crate::registry::Collection;
use model::access::{Action, CmpOp, Cond, Operand, PolicyConfig, PrincipalKind};
use model::value::coerce_text;
use model::FieldType;

/// The rows of `c` the caller may act on with `action`. `Pred::Const(false)` means none.
pub fn rule(c: &Collection, action: Action, caller: &Caller) -> Pred {
    let policies = &c.config.policies;
    let kind = kind(caller);
    if kind == PrincipalKind::AdminUser {
        return Pred::Const(true);
    }
    // No policies at all: admins and API keys only.
    if policies.is_empty() {
        return Pred::Const(kind == PrincipalKind::ApiKey);
    }
    let mut allowed = Vec::new();
    let mut denied_before: Vec<Pred> = Vec::new();
    for p in policies.iter().filter(|p| applies(p, action, kind, caller)) {
        let holds = bind(&p.condition, c, caller);
        if holds.constant() == Some(false) {
            continue;
        }
        let decisive = holds.constant() == Some(true);
        if p.allow {
            let mut arm = vec![holds];
            arm.extend(denied_before.iter().map(|d| !d.clone()));
            allowed.push(Pred::all(arm));
        } else {
            denied_before.push(holds);
        }
        // Policies after one that always matches are never reached.
        if decisive {
            break;
        }
    }
    Pred::any(allowed)
}

/// The caller's kind.
pub fn kind(caller: &Caller) -> PrincipalKind {
    match caller {
        Caller::Admin(_) => PrincipalKind::AdminUser,
        Caller::AppUser(_) => PrincipalKind::AppUser,
        Caller::ApiKey(_) => PrincipalKind::ApiKey,
        Caller::Anonymous => PrincipalKind::Anonymous,
    }
}

/// The gates of a policy that do not look at rows: action, principal kind, verified email, roles.
fn applies(p: &PolicyConfig, action: Action, kind: PrincipalKind, caller: &Caller) -> bool {
    if p.action != action || !p.principals.contains(&kind) {
        return false;
    }
    let verified = match caller {
        Caller::Admin(_) => true,
        Caller::AppUser(u) => u.verified,
        Caller::ApiKey(_) | Caller::Anonymous => false,
    };
    if p.require_email_verified && !verified {
        return false;
    }
    match caller {
        Caller::AppUser(u) => match &p.roles {
            Some(roles) => roles.iter().any(|r| u.roles.contains(r)),
            None => true,
        },
        _ => true,
    }
}

/// A compiled condition bound with the caller.
pub fn bind(cond: &Cond, c: &Collection, caller: &Caller) -> Pred {
    match cond {
        Cond::Const(b) => Pred::Const(*b),
        Cond::Authenticated => Pred::Const(!matches!(caller, Caller::Anonymous)),
        Cond::All(items) => Pred::all(items.iter().map(|i| bind(i, c, caller)).collect()),
        Cond::Any(items) => Pred::any(items.iter().map(|i| bind(i, c, caller)).collect()),
        Cond::Not(inner) => !bind(inner, c, caller),
        Cond::IsNull { column, null } => match c.columns.get(column) {
            Some(col) => Pred::Leaf(Filter {
                col: col.clone(),
                op: if *null { Op::IsNull } else { Op::IsNotNull },
                values: vec!["true".into()],
            }),
            // A column the record does not have reads as NULL.
            None => Pred::Const(*null),
        },
        Cond::Compare {
            column,
            op,
            operand,
        } => {
            let Some(col) = c.columns.get(column) else {
                return Pred::Const(false);
            };
            let text = match operand {
                Operand::Value(v) => Some(v.clone()),
                Operand::UserId => match caller {
                    Caller::Admin(id) => Some(id.to_string()),
                    Caller::AppUser(u) => Some(u.id.clone()),
                    _ => None,
                },
                Operand::AppUserId => match caller {
                    Caller::AppUser(u) => Some(u.id.clone()),
                    _ => None,
                },
                Operand::Email => match caller {
                    Caller::AppUser(u) => Some(u.email.clone()),
                    _ => None,
                },
                Operand::Now => now(col.ty),
            };
            let op = match op {
                CmpOp::Eq => Op::Eq,
                CmpOp::Neq => Op::Neq,
                CmpOp::Gt => Op::Gt,
                CmpOp::Gte => Op::Gte,
                CmpOp::Lt => Op::Lt,
                CmpOp::Lte => Op::Lte,
                CmpOp::Contains => Op::Contains,
                CmpOp::StartsWith => Op::StartsWith,
            };
            // A caller's value must fit the column like any other value; text matches take it as is.
            let value = match (text, operand, op) {
                (None, _, _) => None,
                (Some(v), _, Op::Contains | Op::StartsWith) => Some(v),
                (Some(v), Operand::Value(_), _) => Some(v),
                (Some(v), _, _) => coerce_text(col.ty, &v).ok(),
            };
            match value {
                Some(v) => Pred::Leaf(Filter {
                    col: col.clone(),
                    op,
                    values: vec![v],
                }),
                None => Pred::Const(false),
            }
        }
    }
}

/// `$now` for a column of this type (undefined for types that hold no time).
fn now(ty: FieldType) -> Option<String> {
    let now = chrono::Utc::now();
    match ty {
        FieldType::Datetime => Some(now.to_rfc3339()),
        FieldType::Date => Some(now.date_naive().to_string()),
        FieldType::String | FieldType::Text => Some(now.to_rfc3339()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::context::AppUser;
    use crate::query::filter::push_pred;
    use crate::registry::{sample, Project};
    use model::access::compile_condition;
    use sqlx::{Postgres, QueryBuilder};
    use std::sync::Arc;

    fn policy(action: Action, allow: bool, principals: &str, condition: &str) -> PolicyConfig {
        let columns = |name: &str| match name {
            "created_by_app_user_id" | "title" => Some((name.to_owned(), FieldType::String)),
            "n" => Some((name.to_owned(), FieldType::Int)),
            _ => None,
        };
        PolicyConfig {
            id: uuid::Uuid::new_v4(),
            name: "p".into(),
            action,
            allow,
            principals: PrincipalKind::parse_list(Some(principals)).unwrap(),
            require_email_verified: false,
            roles: None,
            condition: compile_condition(Some(condition), &columns).unwrap(),
        }
    }

    fn order(policies: Vec<PolicyConfig>) -> Arc<Collection> {
        let mut config = sample::project().config;
        config.collections[0].policies = policies;
        Project::new(config).collections["order"].clone()
    }

    fn user(id: &str, verified: bool, roles: &[&str]) -> Caller {
        Caller::AppUser(AppUser {
            id: id.into(),
            email: format!("{id}@example.com"),
            verified,
            roles: roles.iter().map(|r| r.to_string()).collect(),
        })
    }

    fn sql(p: &Pred) -> String {
        let mut qb: QueryBuilder<'_, Postgres> = QueryBuilder::new("");
        push_pred(&mut qb, p);
        qb.into_sql()
    }

    #[test]
    fn without_policies_only_admins_and_api_keys() {
        let c = order(vec![]);
        let key = Caller::ApiKey(uuid::Uuid::new_v4());
        for action in Action::ALL {
            assert_eq!(rule(&c, action, &key).constant(), Some(true));
            assert_eq!(rule(&c, action, &Caller::Anonymous).constant(), Some(false));
            assert_eq!(
                rule(&c, action, &user("u", true, &[])).constant(),
                Some(false)
            );
            let admin = Caller::Admin(uuid::Uuid::new_v4());
            assert_eq!(rule(&c, action, &admin).constant(), Some(true));
        }
    }

    #[test]
    fn an_owner_policy_is_one_indexable_comparison_with_the_id_bound() {
        let c = order(vec![policy(
            Action::Read,
            true,
            "app_user",
            r#"{"type":"owner"}"#,
        )]);
        let r = rule(&c, Action::Read, &user("user-7", true, &[]));
        assert_eq!(sql(&r), "(\"created_by_app_user_id\" = CAST($1 AS text))");
        // Nobody else has an id to match; other actions have no policy.
        assert_eq!(
            rule(&c, Action::Read, &Caller::Anonymous).constant(),
            Some(false)
        );
        let key = Caller::ApiKey(uuid::Uuid::new_v4());
        assert_eq!(rule(&c, Action::Read, &key).constant(), Some(false));
        assert_eq!(
            rule(&c, Action::List, &user("u", true, &[])).constant(),
            Some(false)
        );
    }

    #[test]
    fn first_match_becomes_allow_and_not_an_earlier_deny() {
        let c = order(vec![
            policy(Action::List, false, "api_key", r#"{"title":"secret"}"#),
            policy(Action::List, true, "api_key", r#"{"n":{"$gt":"2"}}"#),
        ]);
        let key = Caller::ApiKey(uuid::Uuid::new_v4());
        assert_eq!(
            sql(&rule(&c, Action::List, &key)),
            "((\"n\" > CAST($1 AS bigint)) AND ((\"title\" = CAST($2 AS text)) IS NOT TRUE))"
        );
        // A deny that always matches ends the walk: nothing after it is reachable.
        let c = order(vec![
            policy(Action::List, false, "api_key", ""),
            policy(Action::List, true, "api_key", ""),
        ]);
        assert_eq!(rule(&c, Action::List, &key).constant(), Some(false));
    }

    #[test]
    fn gates_verified_email_and_roles() {
        let mut p = policy(Action::Read, true, "app_user,api_key", "");
        p.require_email_verified = true;
        let c = order(vec![p]);
        assert_eq!(
            rule(&c, Action::Read, &user("u", true, &[])).constant(),
            Some(true)
        );
        assert_eq!(
            rule(&c, Action::Read, &user("u", false, &[])).constant(),
            Some(false)
        );
        let key = Caller::ApiKey(uuid::Uuid::new_v4());
        assert_eq!(rule(&c, Action::Read, &key).constant(), Some(false));

        let mut p = policy(Action::Read, true, "app_user,api_key", "");
        p.roles = Some(vec!["editor".into(), "admin".into()]);
        let c = order(vec![p]);
        let editor = user("u", false, &["viewer", "editor"]);
        assert_eq!(rule(&c, Action::Read, &editor).constant(), Some(true));
        assert_eq!(
            rule(&c, Action::Read, &user("u", false, &["viewer"])).constant(),
            Some(false)
        );
        // Roles restrict app users only.
        assert_eq!(rule(&c, Action::Read, &key).constant(), Some(true));

        // A list with no names in it (`","`) admits no app user, whatever they hold.
        let mut p = policy(Action::Read, true, "app_user,api_key", "");
        p.roles = Some(vec![]);
        let c = order(vec![p]);
        assert_eq!(rule(&c, Action::Read, &editor).constant(), Some(false));
        assert_eq!(
            rule(&c, Action::Read, &user("u", true, &[])).constant(),
            Some(false)
        );
        assert_eq!(rule(&c, Action::Read, &key).constant(), Some(true));
    }

    #[test]
    fn caller_values_that_do_not_fit_the_column_never_match() {
        let c = order(vec![policy(
            Action::Read,
            true,
            "app_user",
            r#"{"type":"field_equals","field":"n","value":"principal.user_id"}"#,
        )]);
        assert_eq!(
            rule(&c, Action::Read, &user("not-a-number", true, &[])).constant(),
            Some(false)
        );
        let r = rule(&c, Action::Read, &user("42", true, &[]));
        assert_eq!(sql(&r), "(\"n\" = CAST($1 AS bigint))");
    }
}
