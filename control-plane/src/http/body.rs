//! Request bodies: size limit, JSON parsing and field validation that produce the contract's
//! 422 list (`{"detail": [{"type", "loc", "msg", "input"}]}`). Unknown keys are ignored.

use super::error::ApiError;
use axum::extract::{FromRequest, Request};
use model::error_body::{json_invalid, not_an_object, validation_item};
use serde_json::{Map, Value};

/// Largest body the JSON extractor reads; the app sets it from the config.
#[derive(Clone, Copy)]
pub struct BodyLimit(pub usize);

/// A JSON object body, read within the limit. Validate it with [`Fields`].
pub struct JsonObject(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let limit = req.extensions().get::<BodyLimit>().map_or(1 << 20, |l| l.0);
        let bytes = axum::body::to_bytes(req.into_body(), limit)
            .await
            .map_err(|_| ApiError::TooLarge)?;
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(Self(map)),
            Ok(other) => Err(ApiError::Validation(vec![not_an_object(other)])),
            Err(e) => Err(ApiError::Validation(vec![json_invalid(&e.to_string())])),
        }
    }
}

/// Reads typed fields out of a body, collecting every problem before answering 422.
pub struct Fields {
    map: Map<String, Value>,
    errors: Vec<Value>,
}

impl Fields {
    /// Starts validating a body.
    pub fn new(JsonObject(map): JsonObject) -> Self {
        Self {
            map,
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

    /// `Ok` when every field was valid, else the 422.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.errors))
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
