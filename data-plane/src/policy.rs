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
        Caller::AppUser(u) if !p.roles.is_empty() => p.roles.iter().any(|r| u.roles.contains(r)),
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
