//! Coercion of input values to a field's type. The result is the canonical text of the value,
//! bound as a parameter and cast to the column type in SQL (`CAST($n AS bigint)`), so a value
//! never becomes SQL text. The console sends every value as a string; both forms are accepted.
//!
//! A `json` field takes any JSON value as it is (a string stays a JSON string); its canonical
//! text is the value's compact JSON, cast to `jsonb`. A body's `null` is SQL NULL (so `isnull`
//! finds it); `null` nested inside an object or array is kept. Postgres refuses the NUL
//! character in `jsonb` (and in `text`), so a value holding one is refused here with a clear
//! reason instead.

use crate::FieldType;
use serde_json::Value;

/// Why a value does not fit a field.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("expected {expected}")]
pub struct CoerceError {
    /// What the field takes, for the message.
    pub expected: &'static str,
}

fn fail(expected: &'static str) -> CoerceError {
    CoerceError { expected }
}

/// Coerces a text value (a default, a filter operand or a console string).
pub fn coerce_text(ty: FieldType, s: &str) -> Result<String, CoerceError> {
    let t = s.trim();
    match ty {
        FieldType::String | FieldType::Text => Ok(s.to_owned()),
        FieldType::Int | FieldType::Relation => t
            .parse::<i64>()
            .map(|n| n.to_string())
            .map_err(|_| fail("an integer")),
        FieldType::Float => match t.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(f.to_string()),
            _ => Err(fail("a number")),
        },
        FieldType::Bool => match t.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" | "t" => Ok("true".into()),
            "false" | "0" | "no" | "off" | "f" => Ok("false".into()),
            _ => Err(fail("a boolean")),
        },
        FieldType::Date => chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d")
            .map(|d| d.to_string())
            .map_err(|_| fail("a date (YYYY-MM-DD)")),
        FieldType::Datetime => parse_datetime(t).ok_or(fail("an ISO 8601 date-time")),
        FieldType::Uuid => uuid::Uuid::parse_str(t)
            .map(|u| u.to_string())
            .map_err(|_| fail("a UUID")),
        FieldType::Json => match serde_json::from_str::<Value>(s) {
            // A null value is SQL NULL, never a stored JSON `null`.
            Ok(Value::Null) => Err(fail("a JSON value other than null (null is SQL NULL)")),
            Ok(v) => json_text(&v),
            Err(_) => Err(fail("valid JSON")),
        },
    }
}

/// The compact JSON text of a `json` field's value, refused when some string (or key) holds
/// the NUL character, which `jsonb` cannot store.
fn json_text(v: &Value) -> Result<String, CoerceError> {
    if has_nul(v) {
        return Err(fail(
            "JSON without the NUL character (\\u0000), which cannot be stored",
        ));
    }
    Ok(v.to_string())
}

fn has_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

fn parse_datetime(t: &str) -> Option<String> {
    if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(t) {
        return Some(dt.to_rfc3339());
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(dt) = chrono::NaiveDateTime::parse_from_str(t, fmt) {
            return Some(format!("{}Z", dt.format("%Y-%m-%dT%H:%M:%S%.f")));
        }
    }
    chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d")
        .ok()
        .map(|d| format!("{d}T00:00:00Z"))
}

/// Coerces a JSON value from a record body. `Ok(None)` means SQL NULL (JSON null, or an empty
/// string for a non-text field, as the console sends for an empty input).
pub fn coerce_json(ty: FieldType, v: &Value) -> Result<Option<String>, CoerceError> {
    match (ty, v) {
        (_, Value::Null) => Ok(None),
        (FieldType::Json, v) => json_text(v).map(Some),
        (FieldType::String | FieldType::Text, Value::String(s)) if s.contains('\0') => Err(fail(
            "a string without the NUL character (\\u0000), which cannot be stored",
        )),
        (FieldType::String | FieldType::Text, Value::String(s)) => Ok(Some(s.clone())),
        (FieldType::String | FieldType::Text, Value::Number(n)) => Ok(Some(n.to_string())),
        (FieldType::String | FieldType::Text, Value::Bool(b)) => Ok(Some(b.to_string())),
        (_, Value::String(s)) if s.trim().is_empty() => Ok(None),
        (_, Value::String(s)) => coerce_text(ty, s).map(Some),
        (FieldType::Int | FieldType::Relation, Value::Number(n)) => {
            match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => Ok(Some(i.to_string())),
                (None, Some(f)) if f.fract() == 0.0 && f.abs() < 9.2e18 => {
                    Ok(Some((f as i64).to_string()))
                }
                _ => Err(fail("an integer")),
            }
        }
        (FieldType::Float, Value::Number(n)) => Ok(Some(n.to_string())),
        (FieldType::Bool, Value::Bool(b)) => Ok(Some(b.to_string())),
        (FieldType::Bool, Value::Number(n)) => match n.as_i64() {
            Some(0) => Ok(Some("false".into())),
            Some(1) => Ok(Some("true".into())),
            _ => Err(fail("a boolean")),
        },
        (ty, _) => Err(fail(expected(ty))),
    }
}

fn expected(ty: FieldType) -> &'static str {
    match ty {
        FieldType::String | FieldType::Text => "a string",
        FieldType::Int | FieldType::Relation => "an integer",
        FieldType::Float => "a number",
        FieldType::Bool => "a boolean",
        FieldType::Date => "a date (YYYY-MM-DD)",
        FieldType::Datetime => "an ISO 8601 date-time",
        FieldType::Uuid => "a UUID",
        FieldType::Json => "a JSON value",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn coerces_json_and_strings() {
        let ok = |ty, v: Value| coerce_json(ty, &v).unwrap();
        assert_eq!(ok(FieldType::Int, json!("5")), Some("5".into()));
        assert_eq!(ok(FieldType::Int, json!(5.0)), Some("5".into()));
        assert_eq!(ok(FieldType::Float, json!("1.5")), Some("1.5".into()));
        assert_eq!(ok(FieldType::Bool, json!("1")), Some("true".into()));
        assert_eq!(ok(FieldType::Bool, json!(false)), Some("false".into()));
        assert_eq!(ok(FieldType::Int, json!("")), None);
        assert_eq!(ok(FieldType::String, json!("")), Some(String::new()));
        assert_eq!(ok(FieldType::Json, json!("")), Some("\"\"".into()));
        assert_eq!(ok(FieldType::Json, json!("5")), Some("\"5\"".into()));
        assert_eq!(
            ok(FieldType::Json, json!({"a": [1, null, "é"]})),
            Some(r#"{"a":[1,null,"é"]}"#.into())
        );
        assert_eq!(ok(FieldType::Json, json!(null)), None);
        assert_eq!(
            coerce_text(FieldType::Json, " {\"a\": 1} "),
            Ok(r#"{"a":1}"#.into())
        );
        assert!(coerce_text(FieldType::Json, "{oops").is_err());
        assert!(coerce_text(FieldType::Json, " null").is_err());
        assert!(coerce_text(FieldType::Json, r#""\u0000""#).is_err());
        assert_eq!(
            ok(FieldType::Date, json!("2024-02-29")),
            Some("2024-02-29".into())
        );
        assert_eq!(
            ok(FieldType::Datetime, json!("2024-05-01T12:00:00.000Z")),
            Some("2024-05-01T12:00:00+00:00".into())
        );
        for (ty, v) in [
            (FieldType::Int, json!("abc")),
            (FieldType::Int, json!(1.5)),
            (FieldType::Int, json!(true)),
            (FieldType::Bool, json!("maybe")),
            (FieldType::Date, json!("2024-02-30")),
            (FieldType::Uuid, json!("nope")),
            (FieldType::String, json!({"a": 1})),
            (FieldType::Float, json!([1])),
            (FieldType::Text, json!({"a": 1})),
            (FieldType::Text, json!("a\0b")),
            (FieldType::Json, json!({"k": ["a\0"]})),
            (FieldType::Json, json!({"a\0": 1})),
        ] {
            assert!(coerce_json(ty, &v).is_err(), "{ty:?} {v}");
        }
    }
}
