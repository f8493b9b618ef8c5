//! Builders for the contract's 422 body (`spec/README.md`):
//! `{"detail": [{"type", "loc", "msg", "input"}]}`.

use serde_json::{json, Value};

/// One item of a 422 `detail` list.
pub fn validation_item(kind: &str, loc: &[&str], msg: &str, input: Value) -> Value {
    json!({ "type": kind, "loc": loc, "msg": msg, "input": input })
}

/// The item for a body that is not valid JSON.
pub fn json_invalid(msg: &str) -> Value {
    json!({ "type": "json_invalid", "loc": ["body", 0], "msg": format!("JSON decode error: {msg}"), "input": {} })
}

/// The item for a body that is JSON but not an object.
pub fn not_an_object(input: Value) -> Value {
    validation_item(
        "model_attributes_type",
        &["body"],
        "Input should be a valid dictionary or object",
        input,
    )
}
