//! Field validation rules (`…/validations/**`). Checking a record against them is the data
//! API's (`POST …/validations/collections/{collection_name}/validate`, served by workers).

use super::{list_of, object, op, sref, text, Op, UUID};
use serde_json::{json, Value};

const V: &str = "/api/projects/{project_id}/validations";

pub(super) fn ops() -> Vec<Op> {
    let field_rules = format!("{V}/collections/{{collection_name}}/fields/{{field_name}}/rules");
    let one = format!("{V}/rules/{{rule_id}}");
    vec![
        op("post", field_rules.clone(), "validations", "Add a rule to a field")
            .about("The field is found by name among the collection's live fields. An unknown rule type, a type that does not apply to the field's type, or settings that could never work (a setting of the wrong kind, a pattern that does not compile with the Rust `regex` crate, an unknown strftime directive) answer 400. Records written through the data API are checked against the field's active rules.")
            .body(sref("RuleInput"))
            .ok(201, "The rule (active).", sref("Rule"))
            .errors(&[400, 422])
            .pushed(),
        op("get", field_rules, "validations", "A field's active rules")
            .ok(200, "Active rules, by priority, then creation.", list_of("Rule")),
        op("patch", one.clone(), "validations", "Update a rule")
            .about("Absent or null keys keep their value; `config: {}` clears the settings. The rule type never changes. Inactive rules stay but never run.")
            .body(sref("RuleUpdate"))
            .ok(200, "The rule.", sref("Rule"))
            .errors(&[400, 422])
            .pushed(),
        op("delete", one, "validations", "Delete a rule")
            .ok(204, "Deleted.", Value::Null)
            .pushed(),
        op("get", format!("{V}/rule-types"), "validations", "Rule types")
            .about("Every rule type in a fixed order, the field types it applies to and the settings its `config` takes.")
            .ok(
                200,
                "Rule types.",
                object(
                    &[(
                        "rule_types",
                        json!({ "type": "array", "items": object(&[
                            ("type", json!({ "type": "string" })),
                            ("applies_to", json!({ "type": "array", "items": { "type": "string" } })),
                            ("config_schema", json!({ "type": "object", "additionalProperties": { "type": "string" }, "description": "Setting name → `int`, `number`, `str` or `list`." })),
                        ], &["type", "applies_to", "config_schema"]) }),
                    )],
                    &["rule_types"],
                ),
            ),
    ]
}

pub(super) fn schemas() -> Vec<(&'static str, Value)> {
    let config = json!({
        "type": ["object", "null"],
        "description": "Settings of the rule type (see `rule-types`), e.g. `{\"min\": 3}`, `{\"pattern\": \"^[a-z]+$\", \"flags\": \"i\"}`, `{\"values\": [\"a\", \"b\"]}`, `{\"format\": \"%Y-%m-%d\"}`. Empty is stored as null.",
    });
    let message = json!({ "type": ["string", "null"], "description": "Replaces the default failure message." });
    let types = model::access::RULE_TYPES;
    vec![
        (
            "RuleInput",
            object(
                &[
                    ("rule_type", json!({ "type": "string", "enum": types })),
                    ("config", config.clone()),
                    ("error_message", message.clone()),
                    (
                        "priority",
                        json!({ "type": "integer", "default": 0, "description": "Rules run by ascending priority, then creation." }),
                    ),
                ],
                &["rule_type"],
            ),
        ),
        (
            "RuleUpdate",
            object(
                &[
                    ("config", config.clone()),
                    ("error_message", message.clone()),
                    ("priority", json!({ "type": ["integer", "null"] })),
                    ("is_active", json!({ "type": ["boolean", "null"] })),
                ],
                &[],
            ),
        ),
        (
            "Rule",
            object(
                &[
                    ("id", json!({ "type": "string", "format": UUID })),
                    ("field_id", json!({ "type": "string", "format": UUID })),
                    ("rule_type", text("One of the rule types.")),
                    ("config", config),
                    ("error_message", message),
                    ("priority", json!({ "type": "integer" })),
                    ("is_active", json!({ "type": "boolean" })),
                    (
                        "created_at",
                        json!({ "type": "string", "format": "date-time" }),
                    ),
                    (
                        "updated_at",
                        json!({ "type": "string", "format": "date-time" }),
                    ),
                ],
                &[
                    "id",
                    "field_id",
                    "rule_type",
                    "config",
                    "error_message",
                    "priority",
                    "is_active",
                    "created_at",
                    "updated_at",
                ],
            ),
        ),
    ]
}
