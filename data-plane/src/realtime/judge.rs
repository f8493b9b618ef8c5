//! A row predicate ([`Pred`]: an access rule bound with its caller, or a topic's filters) judged
//! in memory on a record as an event shows it (the JSON a read renders), with the meaning the SQL
//! of [`crate::query::filter::push_pred`] gives it: a leaf is false where its column is NULL, a
//! negated leaf true there.
//!
//! What memory cannot judge exactly answers `None`, and the caller asks the database
//! ([`super::store::judge`]): text ordered by the database's collation, LIKE over the text form
//! of floats and times, case folding beyond ASCII, and `json` comparisons.

use crate::query::filter::{Filter, Op, Pred};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use model::FieldType;
use serde_json::{Map, Value};
use std::cmp::Ordering;

/// Whether `p` holds for `row`; `None` when only the database can tell.
pub fn judge(p: &Pred, row: &Map<String, Value>) -> Option<bool> {
    match p {
        Pred::Const(b) => Some(*b),
        Pred::Leaf(f) => leaf(f, row),
        Pred::NotLeaf(f) => leaf(f, row).map(|b| !b),
        Pred::All(items) => {
            let mut unknown = false;
            for i in items {
                match judge(i, row) {
                    Some(false) => return Some(false),
                    None => unknown = true,
                    Some(true) => {}
                }
            }
            (!unknown).then_some(true)
        }
        Pred::Any(items) => {
            let mut unknown = false;
            for i in items {
                match judge(i, row) {
                    Some(true) => return Some(true),
                    None => unknown = true,
                    Some(false) => {}
                }
            }
            (!unknown).then_some(false)
        }
    }
}

/// A value of a column's type.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
enum Typed {
    Int(i64),
    Float(f64),
    Bool(bool),
    Date(NaiveDate),
    Time(DateTime<Utc>),
    Uuid(uuid::Uuid),
    Text(String),
}

fn leaf(f: &Filter, row: &Map<String, Value>) -> Option<bool> {
    let v = row.get(f.col.sql.name()).unwrap_or(&Value::Null);
    let first = f.values.first().map(String::as_str).unwrap_or_default();
    if let Op::IsNull | Op::IsNotNull = f.op {
        let null = (first == "true") == (f.op == Op::IsNull);
        return Some(v.is_null() == null);
    }
    if v.is_null() {
        return Some(false);
    }
    let ty = f.col.ty;
    if ty == FieldType::Json {
        return None;
    }
    match f.op {
        Op::Eq | Op::Neq => Some(equal(ty, v, first)? == (f.op == Op::Eq)),
        Op::Gt | Op::Gte | Op::Lt | Op::Lte => {
            let ord = compare(ty, v, first)?;
            Some(match f.op {
                Op::Gt => ord == Ordering::Greater,
                Op::Gte => ord != Ordering::Less,
                Op::Lt => ord == Ordering::Less,
                _ => ord != Ordering::Greater,
            })
        }
        Op::In | Op::NotIn => {
            let mut any = false;
            for item in &f.values {
                if equal(ty, v, item)? {
                    any = true;
                    break;
                }
            }
            Some(any == (f.op == Op::In))
        }
        Op::Like | Op::ILike | Op::Contains | Op::StartsWith | Op::EndsWith => {
            let text = as_text(ty, v)?;
            let (pattern, fold) = match f.op {
                Op::Like => (first.to_owned(), false),
                Op::ILike => (format!("%{}%", escape(first)), true),
                Op::Contains => (format!("%{}%", escape(first)), false),
                Op::StartsWith => (format!("{}%", escape(first)), false),
                _ => (format!("%{}", escape(first)), false),
            };
            if fold {
                // `lower()` follows the database's locale; ASCII folds the same everywhere.
                if !text.is_ascii() || !pattern.is_ascii() {
                    return None;
                }
                return like(&text.to_ascii_lowercase(), &pattern.to_ascii_lowercase());
            }
            like(&text, &pattern)
        }
        Op::IsNull | Op::IsNotNull => unreachable!("judged above"),
    }
}

/// The text `CAST(column AS text)` gives, where it is the same as the JSON's.
fn as_text(ty: FieldType, v: &Value) -> Option<String> {
    match (ty, v) {
        (
            FieldType::String
            | FieldType::Text
            | FieldType::Uuid
            | FieldType::Date
            | FieldType::Relation,
            Value::String(s),
        ) => Some(s.clone()),
        (FieldType::Int | FieldType::Relation, Value::Number(n)) if n.is_i64() => {
            Some(n.to_string())
        }
        (FieldType::Bool, Value::Bool(b)) => Some(b.to_string()),
        _ => None,
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// SQL `LIKE` with `\` as the escape; `None` for a pattern the database would refuse.
fn like(text: &str, pattern: &str) -> Option<bool> {
    #[derive(Clone, Copy)]
    enum Tok {
        Any,
        One,
        Char(char),
    }
    let mut toks = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        toks.push(match c {
            '%' => Tok::Any,
            '_' => Tok::One,
            '\\' => Tok::Char(chars.next()?),
            c => Tok::Char(c),
        });
    }
    let text: Vec<char> = text.chars().collect();
    // Classic wildcard matching with one backtrack point.
    let (mut t, mut p) = (0usize, 0usize);
    let (mut star, mut mark) = (None::<usize>, 0usize);
    while t < text.len() {
        match toks.get(p) {
            Some(Tok::Any) => {
                star = Some(p);
                mark = t;
                p += 1;
            }
            Some(Tok::One) => {
                t += 1;
                p += 1;
            }
            Some(Tok::Char(c)) if *c == text[t] => {
                t += 1;
                p += 1;
            }
            _ => match star {
                Some(s) => {
                    p = s + 1;
                    mark += 1;
                    t = mark;
                }
                None => return Some(false),
            },
        }
    }
    Some(toks[p..].iter().all(|t| matches!(t, Tok::Any)))
}

fn equal(ty: FieldType, v: &Value, operand: &str) -> Option<bool> {
    if matches!(ty, FieldType::String | FieldType::Text) {
        // Text equality is byte equality under every deterministic collation.
        return Some(v.as_str()? == operand);
    }
    compare(ty, v, operand).map(|o| o == Ordering::Equal)
}

/// The column's value against an operand (coerced text of the column's type).
fn compare(ty: FieldType, v: &Value, operand: &str) -> Option<Ordering> {
    if matches!(ty, FieldType::String | FieldType::Text) {
        // Text order follows the database's collation.
        return None;
    }
    let (a, b) = (of_json(ty, v)?, of_text(ty, operand)?);
    a.partial_cmp(&b)
}

fn of_json(ty: FieldType, v: &Value) -> Option<Typed> {
    Some(match ty {
        FieldType::Int => Typed::Int(v.as_i64()?),
        FieldType::Relation => match v {
            Value::String(s) => Typed::Text(s.clone()),
            _ => Typed::Int(v.as_i64()?),
        },
        FieldType::Float => Typed::Float(v.as_f64()?),
        FieldType::Bool => Typed::Bool(v.as_bool()?),
        FieldType::Date => Typed::Date(NaiveDate::parse_from_str(v.as_str()?, "%Y-%m-%d").ok()?),
        FieldType::Datetime => Typed::Time(time(v.as_str()?)?),
        FieldType::Uuid => Typed::Uuid(v.as_str()?.parse().ok()?),
        FieldType::String | FieldType::Text => Typed::Text(v.as_str()?.to_owned()),
        FieldType::Json => return None,
    })
}

fn of_text(ty: FieldType, s: &str) -> Option<Typed> {
    Some(match ty {
        FieldType::Int => Typed::Int(s.parse().ok()?),
        FieldType::Relation => match s.parse() {
            Ok(n) => Typed::Int(n),
            Err(_) => Typed::Text(s.to_owned()),
        },
        FieldType::Float => Typed::Float(s.parse().ok()?),
        FieldType::Bool => Typed::Bool(s.parse().ok()?),
        FieldType::Date => Typed::Date(NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?),
        FieldType::Datetime => Typed::Time(time(s)?),
        FieldType::Uuid => Typed::Uuid(s.parse().ok()?),
        FieldType::String | FieldType::Text => Typed::Text(s.to_owned()),
        FieldType::Json => return None,
    })
}

/// A time as Postgres renders `timestamptz` in JSON (or RFC 3339); a time without an offset
/// is UTC, the sessions' zone.
fn time(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f%:z", "%Y-%m-%dT%H:%M:%S%.f%#z"] {
        if let Ok(t) = DateTime::parse_from_str(s, fmt) {
            return Some(t.with_timezone(&Utc));
        }
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::filter::plan_filter;
    use crate::registry::sample::project;
    use serde_json::json;

    fn row(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    fn check(key: &str, raw: &str, r: &Value) -> Option<bool> {
        let p = project();
        let c = &p.collections["order"];
        let f = plan_filter(c, key, raw).unwrap().expect("a column");
        judge(&Pred::Leaf(f), &row(r.clone()))
    }

    #[test]
    fn like_follows_sql() {
        assert_eq!(like("hello", "h%o"), Some(true));
        assert_eq!(like("hello", "h_llo"), Some(true));
        assert_eq!(like("hello", "h_lo"), Some(false));
        assert_eq!(like("a%b", "a\\%b"), Some(true));
        assert_eq!(like("axb", "a\\%b"), Some(false));
        assert_eq!(like("", "%"), Some(true));
        assert_eq!(like("abcabc", "%abc"), Some(true));
        assert_eq!(like("x", "x\\"), None);
    }

    #[test]
    fn leaves_follow_their_sql() {
        let r = json!({"title": "Hello", "n": 5, "id": 3});
        assert_eq!(check("title", "Hello", &r), Some(true));
        assert_eq!(check("title__neq", "Hello", &r), Some(false));
        assert_eq!(check("title__contains", "ell", &r), Some(true));
        assert_eq!(check("title__ilike", "hEL", &r), Some(true));
        assert_eq!(check("title__startswith", "%", &r), Some(false));
        // Text order is the collation's.
        assert_eq!(check("title__gt", "A", &r), None);
        assert_eq!(check("id__gt", "2", &r), Some(true));
        assert_eq!(check("id__in", "1,3", &r), Some(true));
        assert_eq!(check("id__notin", "1,3", &r), Some(false));
        // A NULL column holds no test but the null ones.
        let null = json!({"title": null});
        assert_eq!(check("title__neq", "x", &null), Some(false));
        assert_eq!(check("title__isnull", "true", &null), Some(true));
        assert_eq!(check("title__isnull", "false", &null), Some(false));
        let p = project();
        let f = plan_filter(&p.collections["order"], "title", "x")
            .unwrap()
            .unwrap();
        assert_eq!(judge(&Pred::NotLeaf(f), &row(null)), Some(true));
    }

    #[test]
    fn unknown_parts_decide_only_when_they_must() {
        let p = project();
        let c = &p.collections["order"];
        let gt = plan_filter(c, "title__gt", "A").unwrap().unwrap();
        let eq = plan_filter(c, "title", "Nope").unwrap().unwrap();
        let r = row(json!({"title": "Hello"}));
        let all = Pred::All(vec![Pred::Leaf(gt.clone()), Pred::Leaf(eq.clone())]);
        assert_eq!(judge(&all, &r), Some(false));
        let any = Pred::Any(vec![Pred::Leaf(gt), Pred::Leaf(eq)]);
        assert_eq!(judge(&any, &r), None);
    }

    #[test]
    fn times_compare_as_instants() {
        assert_eq!(
            time("2026-12-04T21:00:00.5+01:00"),
            time("2026-12-04T20:00:00.5Z")
        );
        assert!(time("2026-12-04T21:00:00").is_some());
        assert!(time("yesterday").is_none());
    }
}
