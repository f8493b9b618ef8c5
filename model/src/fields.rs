//! Reading typed fields out of a JSON object body, collecting every problem as an item of the
//! contract's 422 list (`{"detail": [{"type", "loc", "msg", "input"}]}`). Unknown keys are ignored.

use crate::error_body::validation_item;
use serde_json::{Map, Value};

/// Reads typed fields out of a body, collecting every problem before answering 422.
pub struct Fields {
    map: Map<String, Value>,
    errors: Vec<Value>,
}

impl Fields {
    /// Starts validating a body (a JSON object).
    pub fn new(map: impl Into<Map<String, Value>>) -> Self {
        Self {
            map: map.into(),
            errors: Vec::new(),
        }
    }

    fn error(&mut self, key: &str, kind: &str, msg: &str, input: Value) {
        self.errors
            .push(validation_item(kind, &["body", key], msg, input));
    }

    /// A required string of `min..=max` characters.
    pub fn string(&mut self, key: &str, min: usize, max: usize) -> Option<String> {
        match self.map.get(key).cloned() {
            None => {
                let input = Value::Object(self.map.clone());
                self.error(key, "missing", "Field required", input);
                None
            }
            Some(v) => self.check_string(key, v, min, max),
        }
    }

    /// An optional string (absent or null → `None`).
    pub fn opt_string(&mut self, key: &str, max: usize) -> Option<String> {
        match self.map.get(key).cloned() {
            None | Some(Value::Null) => None,
            Some(v) => self.check_string(key, v, 0, max),
        }
    }

    fn check_string(&mut self, key: &str, v: Value, min: usize, max: usize) -> Option<String> {
        let Value::String(s) = v else {
            self.error(key, "string_type", "Input should be a valid string", v);
            return None;
        };
        if s.contains('\0') {
            self.error(
                key,
                "string_nul",
                "String should not contain NUL characters",
                Value::String(s),
            );
            return None;
        }
        let n = s.chars().count();
        if n < min {
            let msg = format!(
                "String should have at least {min} character{}",
                if min == 1 { "" } else { "s" }
            );
            self.error(key, "string_too_short", &msg, Value::String(s));
            None
        } else if n > max {
            self.error(
                key,
                "string_too_long",
                &format!("String should have at most {max} characters"),
                Value::String(s),
            );
            None
        } else {
            Some(s)
        }
    }

    /// An optional boolean with a default.
    pub fn bool(&mut self, key: &str, default: bool) -> bool {
        match self.map.get(key).cloned() {
            None => default,
            Some(Value::Bool(b)) => b,
            Some(v) => {
                self.error(key, "bool_type", "Input should be a valid boolean", v);
                default
            }
        }
    }

    /// An optional boolean: `None` when absent or null.
    pub fn opt_bool(&mut self, key: &str) -> Option<bool> {
        match self.map.get(key).cloned() {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(b),
            Some(v) => {
                self.error(key, "bool_type", "Input should be a valid boolean", v);
                None
            }
        }
    }

    /// An optional integer in `min..=max`: `None` when absent or null.
    pub fn opt_int(&mut self, key: &str, min: i64, max: i64) -> Option<i64> {
        let v = match self.map.get(key).cloned() {
            None | Some(Value::Null) => return None,
            Some(v) => v,
        };
        let Some(n) = v.as_i64() else {
            self.error(key, "int_type", "Input should be a valid integer", v);
            return None;
        };
        if n < min {
            let msg = format!("Input should be greater than or equal to {min}");
            self.error(key, "greater_than_equal", &msg, v);
            None
        } else if n > max {
            let msg = format!("Input should be less than or equal to {max}");
            self.error(key, "less_than_equal", &msg, v);
            None
        } else {
            Some(n)
        }
    }

    /// A string that may be cleared: `None` when absent, `Some(None)` when null.
    pub fn nullable_string(&mut self, key: &str, max: usize) -> Option<Option<String>> {
        match self.map.get(key).cloned() {
            None => None,
            Some(Value::Null) => Some(None),
            Some(v) => self.check_string(key, v, 0, max).map(Some),
        }
    }

    /// A raw value, if present.
    pub fn value(&self, key: &str) -> Option<&Value> {
        self.map.get(key)
    }

    /// Records a failed rule on a value already read.
    pub fn reject(&mut self, key: &str, kind: &str, msg: &str, input: &str) {
        self.error(key, kind, msg, Value::String(input.to_owned()));
    }

    /// `Ok` when every field was valid, else the items of the 422 list.
    pub fn finish(self) -> Result<(), Vec<Value>> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self.errors)
        }
    }
}

/// Validates an email address and normalizes it (domain lower-cased, local part kept).
pub fn normalize_email(raw: &str) -> Option<String> {
    let (local, domain) = raw.rsplit_once('@')?;
    let ok_local = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let ok_domain = labels.len() >= 2
        && domain.len() <= 253
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.chars().any(|c| c.is_ascii_alphabetic()));
    (ok_local && ok_domain).then(|| format!("{local}@{}", domain.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::normalize_email;

    #[test]
    fn emails() {
        assert_eq!(
            normalize_email("User@Example.COM").as_deref(),
            Some("User@example.com")
        );
        for bad in [
            "", "a", "a@b", "@x.io", "a@@x.io", "a b@x.io", "a@x..io", "a@-x.io", "a@x.12",
        ] {
            assert!(normalize_email(bad).is_none(), "{bad}");
        }
    }
}
