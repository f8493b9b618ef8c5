//! The rule types of the contract, in its order: the field types each applies to and the
//! settings its config holds (`GET …/validations/rule-types`, and the checks of rule creation).

use serde_json::{json, Map, Value};

/// One rule type.
pub struct RuleType {
    /// Its name (`min_length`, …).
    pub name: &'static str,
    /// Field types it may be put on.
    pub applies_to: &'static [&'static str],
    /// Its settings and their kinds (`int`, `number`, `str`, `list`), as the listing shows them.
    pub config: &'static [(&'static str, &'static str)],
}

const STRING: &[&str] = &["string"];
const NUMBER: &[&str] = &["int", "float"];

/// Every rule type, in the contract's order.
pub const RULE_TYPES: [RuleType; 13] = [
    t("min_length", STRING, &[("min", "int")]),
    t("max_length", STRING, &[("max", "int")]),
    t("regex", STRING, &[("pattern", "str")]),
    t("email", STRING, &[]),
    t("url", STRING, &[]),
    t("min_value", NUMBER, &[("min", "number")]),
    t("max_value", NUMBER, &[("max", "number")]),
    t("range", NUMBER, &[("min", "number"), ("max", "number")]),
    t("enum", &["string", "int"], &[("values", "list")]),
    t("not_empty", STRING, &[]),
    t("uuid", STRING, &[]),
    t("date_format", STRING, &[("format", "str")]),
    t(
        "custom_regex",
        STRING,
        &[("pattern", "str"), ("flags", "str")],
    ),
];

const fn t(
    name: &'static str,
    applies_to: &'static [&'static str],
    config: &'static [(&'static str, &'static str)],
) -> RuleType {
    RuleType {
        name,
        applies_to,
        config,
    }
}

/// The rule type with this name.
pub fn find(name: &str) -> Option<&'static RuleType> {
    RULE_TYPES.iter().find(|t| t.name == name)
}

/// `Invalid rule type: <t>. Valid types: ['min_length', …]`.
pub fn invalid(name: &str) -> String {
    let names: Vec<String> = RULE_TYPES.iter().map(|t| format!("'{}'", t.name)).collect();
    format!(
        "Invalid rule type: {name}. Valid types: [{}]",
        names.join(", ")
    )
}

/// The body of `GET …/validations/rule-types`.
pub fn listing() -> Value {
    let types: Vec<Value> = RULE_TYPES
        .iter()
        .map(|t| {
            let schema: Map<String, Value> = t
                .config
                .iter()
                .map(|(k, kind)| ((*k).to_owned(), json!(kind)))
                .collect();
            json!({ "type": t.name, "applies_to": t.applies_to, "config_schema": schema })
        })
        .collect();
    json!({ "rule_types": types })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listing_is_the_contracts() {
        let names: Vec<&str> = RULE_TYPES.iter().map(|t| t.name).collect();
        assert_eq!(names, model::access::RULE_TYPES);
        let body = listing();
        assert_eq!(
            body["rule_types"][0],
            json!({"type": "min_length", "applies_to": ["string"], "config_schema": {"min": "int"}})
        );
        assert_eq!(
            body["rule_types"][7],
            json!({"type": "range", "applies_to": ["int", "float"],
                   "config_schema": {"min": "number", "max": "number"}})
        );
        assert_eq!(
            body["rule_types"][8]["applies_to"],
            json!(["string", "int"])
        );
        assert_eq!(body["rule_types"][3]["config_schema"], json!({}));
        assert!(invalid("bogus").starts_with(
            "Invalid rule type: bogus. Valid types: ['min_length', 'max_length', 'regex', 'email',"
        ));
        assert!(invalid("bogus").ends_with("'date_format', 'custom_regex']"));
    }
}
