//! Rule request bodies: their shape (422 with the contract's item list) and the settings a rule
//! type can work with (400). Pure: the handlers supply the catalog.

use super::types::RuleType;
use crate::http::body::{Fields, JsonObject};
use crate::http::error::ApiError;
use model::error_body::validation_item;
use model::rule_syntax;
use serde_json::{Map, Value};

/// Longest custom failure message.
const MAX_MESSAGE: usize = 10_000;

/// A checked `POST …/rules` body.
#[derive(Debug)]
pub struct CreateRequest {
    /// As sent (checked against the rule types by the handler).
    pub rule_type: String,
    /// Settings; `None` when absent, null or empty.
    pub config: Option<Value>,
    /// Custom failure message.
    pub error_message: Option<String>,
    /// Evaluation order (default 0).
    pub priority: i32,
}

/// A checked `PATCH …/rules/{rule_id}` body; `None` leaves a part as it is.
#[derive(Debug, Default)]
pub struct UpdateRequest {
    /// `Some(None)` clears the settings (`{}`).
    pub config: Option<Option<Value>>,
    /// New message.
    pub error_message: Option<String>,
    /// New priority.
    pub priority: Option<i32>,
    /// Activates or deactivates.
    pub is_active: Option<bool>,
}

/// `config`: absent or null → `None`, `{}` → `Some(None)`, an object → `Some(Some(_))`;
/// anything else is a 422 item.
fn config_of(body: &Map<String, Value>) -> Result<Option<Option<Value>>, Value> {
    match body.get("config") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) if o.is_empty() => Ok(Some(None)),
        Some(v @ Value::Object(_)) => Ok(Some(Some(v.clone()))),
        Some(v) => Err(validation_item(
            "dict_type",
            &["body", "config"],
            "Input should be a valid dictionary",
            v.clone(),
        )),
    }
}

/// Every 422 item of the reader and of `config`, or `Ok`.
fn finish<T>(f: Fields, config: &Result<T, Value>) -> Result<(), ApiError> {
    let mut items = f.finish().err().unwrap_or_default();
    if let Err(item) = config {
        items.push(item.clone());
    }
    if items.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(items))
    }
}

fn priority(f: &mut Fields) -> Option<i32> {
    f.opt_int("priority", i32::MIN.into(), i32::MAX.into())
        .and_then(|p| i32::try_from(p).ok())
}

/// Reads a `POST …/rules` body.
pub fn create(body: JsonObject) -> Result<CreateRequest, ApiError> {
    let config = config_of(&body.0);
    let mut f = Fields::new(body);
    let rule_type = f.string("rule_type", 0, usize::MAX);
    let error_message = f.opt_string("error_message", MAX_MESSAGE);
    let priority = priority(&mut f);
    finish(f, &config)?;
    Ok(CreateRequest {
        rule_type: rule_type.unwrap_or_default(),
        config: config.ok().flatten().flatten(),
        error_message,
        priority: priority.unwrap_or(0),
    })
}

/// Reads a `PATCH …/rules/{rule_id}` body.
pub fn update(body: JsonObject) -> Result<UpdateRequest, ApiError> {
    let config = config_of(&body.0);
    let mut f = Fields::new(body);
    let error_message = f.opt_string("error_message", MAX_MESSAGE);
    let priority = priority(&mut f);
    let is_active = f.opt_bool("is_active");
    finish(f, &config)?;
    Ok(UpdateRequest {
        config: config.ok().flatten(),
        error_message,
        priority,
        is_active,
    })
}

/// Refuses settings that could never work: a number setting that is not a number, a text
/// setting that is not text, `values` that is not a list, a pattern that does not compile, a
/// date format with an unknown directive. Numbers are kept as given; unknown keys are ignored;
/// absent ones take the rule's default.
pub fn check_config(t: &RuleType, config: Option<&Value>) -> Result<(), ApiError> {
    let Some(Value::Object(c)) = config else {
        return Ok(());
    };
    let bad = |what: String| {
        ApiError::BadRequest(format!("Invalid config for rule type '{}': {what}", t.name))
    };
    let is_pattern = matches!(t.name, "regex" | "custom_regex");
    // `regex` honours `flags` too, though its listing shows only `pattern`.
    let flags = is_pattern.then_some(("flags", "str"));
    for (key, kind) in t.config.iter().copied().chain(flags) {
        let Some(v) = c.get(key) else { continue };
        let (ok, what) = match kind {
            "str" => (v.is_string(), "a string"),
            "list" => (v.is_array(), "a list"),
            _ => (v.is_number(), "a number"),
        };
        if !ok {
            return Err(bad(format!("'{key}' must be {what}")));
        }
    }
    let text = |key: &str, default: &'static str| {
        c.get(key)
            .and_then(Value::as_str)
            .unwrap_or(default)
            .to_owned()
    };
    if is_pattern {
        rule_syntax::pattern(&text("pattern", ""), &text("flags", "")).map_err(|e| {
            bad(format!(
                "the pattern does not compile with the Rust regex crate (no look-around, no \
                 backreferences): {e}"
            ))
        })?;
    }
    if t.name == "date_format" {
        let format = text("format", "%Y-%m-%d");
        if rule_syntax::date_format(&format).is_none() {
            return Err(bad(format!(
                "'{format}' is not a valid strftime date format"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::validations::types::find;
    use serde_json::json;

    fn body(v: Value) -> JsonObject {
        match v {
            Value::Object(m) => JsonObject(m),
            _ => unreachable!(),
        }
    }

    fn locs(e: ApiError) -> Vec<Value> {
        match e {
            ApiError::Validation(items) => items.into_iter().map(|i| i["loc"].clone()).collect(),
            other => panic!("not a 422: {other:?}"),
        }
    }

    fn refusal(rule_type: &str, config: Value) -> String {
        match check_config(find(rule_type).unwrap(), Some(&config)) {
            Err(ApiError::BadRequest(m)) => m,
            other => panic!("{rule_type} {config}: {other:?}"),
        }
    }

    #[test]
    fn create_fills_defaults_and_nulls_empty_config() {
        let req = create(body(json!({"rule_type": "not_empty", "config": {}}))).unwrap();
        assert_eq!(
            (req.config, req.error_message, req.priority),
            (None, None, 0)
        );
        let req = create(body(
            json!({"rule_type": "min_length", "config": {"min": 3},
            "error_message": "Too short", "priority": 2, "config_json": "{}"}),
        ))
        .unwrap();
        assert_eq!(req.config, Some(json!({"min": 3})));
        assert_eq!(req.error_message.as_deref(), Some("Too short"));
        assert_eq!(req.priority, 2);
    }

    #[test]
    fn shape_errors_are_listed_together() {
        let err = create(body(
            json!({"config": "{\"min\": 3}", "priority": "high", "error_message": 5}),
        ))
        .unwrap_err();
        let got = locs(err);
        for want in ["rule_type", "config", "priority", "error_message"] {
            assert!(
                got.contains(&json!(["body", want])),
                "{want} not in {got:?}"
            );
        }
        let err = update(body(json!({"config": [1], "is_active": "yes"}))).unwrap_err();
        assert_eq!(locs(err).len(), 2);
        let err = create(body(json!({"rule_type": "x", "priority": 1u64 << 40}))).unwrap_err();
        assert_eq!(locs(err), vec![json!(["body", "priority"])]);
    }

    #[test]
    fn update_tells_absent_from_clear() {
        let req = update(body(json!({"config": {}, "priority": null}))).unwrap();
        assert_eq!(req.config, Some(None));
        assert_eq!(req.priority, None);
        let req = update(body(json!({"config": null, "is_active": false}))).unwrap();
        assert_eq!(req.config, None);
        assert_eq!(req.is_active, Some(false));
        let req = update(body(json!({"config": {"min": 0.01}}))).unwrap();
        assert_eq!(req.config, Some(Some(json!({"min": 0.01}))));
    }

    #[test]
    fn settings_that_could_never_work_are_refused() {
        assert_eq!(
            refusal("min_length", json!({"min": "3"})),
            "Invalid config for rule type 'min_length': 'min' must be a number"
        );
        assert_eq!(
            refusal("range", json!({"min": 1, "max": null})),
            "Invalid config for rule type 'range': 'max' must be a number"
        );
        assert_eq!(
            refusal("enum", json!({"values": "a,b"})),
            "Invalid config for rule type 'enum': 'values' must be a list"
        );
        assert!(refusal("regex", json!({"pattern": 5})).ends_with("'pattern' must be a string"));
        assert!(refusal("regex", json!({"pattern": "a", "flags": 1}))
            .ends_with("'flags' must be a string"));
        let m = refusal("custom_regex", json!({"pattern": "(?<=a)b"}));
        assert!(
            m.contains("does not compile with the Rust regex crate") && m.contains("look-around"),
            "{m}"
        );
        assert!(refusal("regex", json!({"pattern": "(unclosed"})).contains("does not compile"));
        assert_eq!(
            refusal("date_format", json!({"format": "%Y-%Q"})),
            "Invalid config for rule type 'date_format': '%Y-%Q' is not a valid strftime date format"
        );
    }

    #[test]
    fn workable_settings_pass_as_given() {
        for (t, config) in [
            ("min_value", json!({"min": 0.01})),
            ("min_length", json!({"min": 2.5})),
            ("range", json!({"min": -1, "max": 1e3})),
            ("enum", json!({"values": ["a", 1, true]})),
            ("regex", json!({"pattern": "^[a-z]+$", "flags": "i"})),
            ("custom_regex", json!({"pattern": "\\d{3}", "flags": "im"})),
            ("date_format", json!({"format": "%d/%m/%Y %H:%M"})),
            ("email", json!({"anything": "ignored"})),
        ] {
            assert!(
                check_config(find(t).unwrap(), Some(&config)).is_ok(),
                "{t} {config}"
            );
        }
        assert!(check_config(find("regex").unwrap(), None).is_ok());
    }
}
