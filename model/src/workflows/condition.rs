//! Workflow conditions, in the policy condition syntax (spec/policies.md) but judged in memory
//! on JSON: a trigger's condition on the written row (`{"status": "paid"}`), a `condition` step's
//! on the run's variables by dotted path (`{"steps.h.status": {"$gte": 200, "$lt": 300}}`).
//!
//! Forms: the typed ones `field_equals` (strict JSON equality), `and`, `or`, `not`; and the
//! console's form, entries AND-ed with `$eq` (implicit), `$neq`, `$gt`, `$gte`, `$lt`, `$lte`,
//! `$contains`, `$starts_with` and the value `$now`. The console's form compares numbers with
//! numeric strings as numbers and orders strings as text (ISO times order correctly). A path
//! that is missing reads as null. Types that judge the caller (`authenticated`, `owner`, …)
//! have no meaning here and are refused. A JSON string holding an object is read as that object.

use serde_json::{Map, Value};
use std::cmp::Ordering;

/// A parsed condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// Every one holds (empty: true).
    All(Vec<Condition>),
    /// Any one holds (empty: false).
    Any(Vec<Condition>),
    /// The inner one does not hold.
    Not(Box<Condition>),
    /// The value at `path` compares to `value` by `op`.
    Compare {
        /// Dotted path.
        path: String,
        /// Comparison.
        op: Op,
        /// Right-hand side (`$now` resolved when judged).
        value: Value,
    },
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Strict JSON equality (`field_equals`).
    Same,
    /// `$eq`
    Eq,
    /// `$neq`
    Neq,
    /// `$gt`
    Gt,
    /// `$gte`
    Gte,
    /// `$lt`
    Lt,
    /// `$lte`
    Lte,
    /// `$contains`
    Contains,
    /// `$starts_with`
    StartsWith,
}

impl Condition {
    /// Parses a condition; the message says what is wrong.
    pub fn parse(v: &Value) -> Result<Self, String> {
        match v {
            Value::Object(o) => object(o),
            Value::String(s) => match serde_json::from_str::<Value>(s) {
                Ok(Value::Object(o)) => object(&o),
                _ => Err("A condition must be a JSON object".into()),
            },
            _ => Err("A condition must be a JSON object".into()),
        }
    }

    /// Whether it holds for `root`; `now` is the current time as RFC 3339 text.
    pub fn holds(&self, root: &Value, now: &str) -> bool {
        match self {
            Self::All(all) => all.iter().all(|c| c.holds(root, now)),
            Self::Any(any) => any.iter().any(|c| c.holds(root, now)),
            Self::Not(c) => !c.holds(root, now),
            Self::Compare { path, op, value } => {
                let actual = lookup(root, path).unwrap_or(&Value::Null);
                let now_value;
                let expected = if value.as_str() == Some("$now") {
                    now_value = Value::String(now.to_owned());
                    &now_value
                } else {
                    value
                };
                compare(actual, *op, expected)
            }
        }
    }
}

/// The value at a dotted path (object keys; array indexes).
pub fn lookup<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(root, |v, seg| match v {
        Value::Object(o) => o.get(seg),
        Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    })
}

fn object(o: &Map<String, Value>) -> Result<Condition, String> {
    let Some(t) = o.get("type") else {
        return console(o);
    };
    let list = |key: &str| -> Result<Vec<Condition>, String> {
        match o.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items.iter().map(Condition::parse).collect(),
            Some(_) => Err(format!("`{key}` must be a list of conditions")),
        }
    };
    match t.as_str() {
        Some("field_equals") => {
            let Some(Value::String(field)) = o.get("field") else {
                return Err("`field_equals` needs `field`: a dotted path".into());
            };
            Ok(Condition::Compare {
                path: field.clone(),
                op: Op::Same,
                value: o.get("value").cloned().unwrap_or(Value::Null),
            })
        }
        Some("and") => Ok(Condition::All(list("conditions")?)),
        Some("or") => Ok(Condition::Any(list("conditions")?)),
        Some("not") => match o.get("condition") {
            Some(c) => Ok(Condition::Not(Box::new(Condition::parse(c)?))),
            None => Err("`not` needs `condition`".into()),
        },
        Some(other) => Err(format!(
            "Condition type `{other}` cannot be used in a workflow: use field_equals, and, or, not, or the {{\"path\": value}} form"
        )),
        None => Err("`type` must be a string".into()),
    }
}

fn console(o: &Map<String, Value>) -> Result<Condition, String> {
    let mut all = Vec::with_capacity(o.len());
    for (path, v) in o {
        if path.is_empty() {
            return Err("A condition names a path that is empty".into());
        }
        match v {
            Value::Object(ops) => {
                for (op, v) in ops {
                    let op = match op.as_str() {
                        "$eq" => Op::Eq,
                        "$neq" => Op::Neq,
                        "$gt" => Op::Gt,
                        "$gte" => Op::Gte,
                        "$lt" => Op::Lt,
                        "$lte" => Op::Lte,
                        "$contains" => Op::Contains,
                        "$starts_with" => Op::StartsWith,
                        other => return Err(format!("Unknown operator `{other}` at `{path}`")),
                    };
                    all.push(Condition::Compare {
                        path: path.clone(),
                        op,
                        value: v.clone(),
                    });
                }
            }
            v => all.push(Condition::Compare {
                path: path.clone(),
                op: Op::Eq,
                value: v.clone(),
            }),
        }
    }
    Ok(Condition::All(all))
}

/// A number, from a JSON number or a numeric string.
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn order(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::String(x), Value::String(y)) => match (number(a), number(b)) {
            (Some(x), Some(y)) => x.partial_cmp(&y),
            _ => Some(x.cmp(y)),
        },
        (Value::Null, _) | (_, Value::Null) => None,
        _ => number(a)?.partial_cmp(&number(b)?),
    }
}

fn loose_eq(a: &Value, b: &Value) -> bool {
    if a == b {
        return true;
    }
    match (a, b) {
        (Value::Number(_), Value::String(_)) | (Value::String(_), Value::Number(_)) => {
            matches!((number(a), number(b)), (Some(x), Some(y)) if x == y)
        }
        (Value::Bool(x), Value::String(s)) | (Value::String(s), Value::Bool(x)) => {
            s == if *x { "true" } else { "false" }
        }
        _ => false,
    }
}

fn compare(actual: &Value, op: Op, expected: &Value) -> bool {
    match op {
        Op::Same => actual == expected,
        Op::Eq => loose_eq(actual, expected),
        Op::Neq => !loose_eq(actual, expected),
        Op::Gt => order(actual, expected) == Some(Ordering::Greater),
        Op::Gte => matches!(
            order(actual, expected),
            Some(Ordering::Greater | Ordering::Equal)
        ),
        Op::Lt => order(actual, expected) == Some(Ordering::Less),
        Op::Lte => matches!(
            order(actual, expected),
            Some(Ordering::Less | Ordering::Equal)
        ),
        Op::Contains => match actual {
            Value::Null => false,
            Value::Array(items) => items.iter().any(|i| loose_eq(i, expected)),
            other => text(other).contains(&text(expected)),
        },
        Op::StartsWith => !actual.is_null() && text(actual).starts_with(&text(expected)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn holds(cond: Value, root: Value) -> bool {
        Condition::parse(&cond)
            .unwrap()
            .holds(&root, "2026-01-01T00:00:00Z")
    }

    #[test]
    fn judges_paths_of_the_run_s_variables() {
        let vars = json!({"trigger": {"record": {"status": "paid", "n": 5, "tags": ["a"]}},
                          "steps": {"h": {"status": 201}}});
        assert!(holds(
            json!({"trigger.record.status": "paid"}),
            vars.clone()
        ));
        assert!(!holds(
            json!({"trigger.record.status": "open"}),
            vars.clone()
        ));
        assert!(holds(
            json!({"steps.h.status": {"$gte": 200, "$lt": 300}}),
            vars.clone()
        ));
        assert!(holds(
            json!({"trigger.record.n": {"$gt": "4"}}),
            vars.clone()
        ));
        assert!(holds(
            json!({"trigger.record.tags": {"$contains": "a"}}),
            vars.clone()
        ));
        assert!(holds(json!({"trigger.record.missing": null}), vars.clone()));
        assert!(!holds(
            json!({"trigger.record.missing": {"$gt": 1}}),
            vars.clone()
        ));
        assert!(holds(
            json!({"type": "not", "condition": {"type": "field_equals", "field": "trigger.record.n", "value": "5"}}),
            vars.clone()
        ));
        assert!(holds(
            json!({"type": "or", "conditions": [{"a": 1}, {"steps.h.status": "201"}]}),
            vars.clone()
        ));
        assert!(holds(json!("{\"trigger.record.status\": \"paid\"}"), vars));
        assert!(holds(
            json!({"at": {"$lt": "$now"}}),
            json!({"at": "2025-12-31T00:00:00Z"})
        ));
    }

    #[test]
    fn refuses_what_it_cannot_judge() {
        assert!(Condition::parse(&json!([])).is_err());
        assert!(Condition::parse(&json!({"type": "owner"})).is_err());
        assert!(Condition::parse(&json!({"a": {"$regex": "x"}})).is_err());
        assert!(Condition::parse(&json!("[1]")).is_err());
    }
}
