//! Workflow definitions (`…/workflows/**`). Their runs (`…/workflows/{workflow_id}/runs`,
//! `…/run`) are the data API's: workers run them from the project's outbox.

use super::{list_of, object, op, sref, Op, UUID};
use serde_json::{json, Value};

const W: &str = "/api/projects/{project_id}/workflows";

const CHECKS: &str = "The trigger and every step are checked when saved: a problem answers 422 \
    with `loc` naming the step index and key (`[\"body\", \"steps\", 2, \"url\"]`); a collection \
    that is not one of the project's answers 400. Triggers: `record.created`, `record.updated`, \
    `record.deleted` (`trigger_config`: optional `collection` and a policy-style `condition` on the \
    row), `schedule` (`{\"cron\": \"*/5 * * * *\"}`, UTC; six fields put seconds first), `manual`. \
    Steps (flat objects, or keys inside `config`; each may have a `name`): `http_request` (method, \
    url, headers, body, timeout_seconds, retries, fail_on_status), `transform` (output), \
    `condition` (if, else: \"stop\" or a later step's name), `delay` (seconds, up to 30 days), \
    `create_record` / `update_record` / `delete_record` (collection, id, data), `send_email` (to, \
    subject, body). Strings are templates: `{{ trigger.record.title }}`, `{{ steps.<name>.body.id }}`, \
    `{{ now }}`.";

pub(super) fn ops() -> Vec<Op> {
    let one = format!("{W}/{{workflow_id}}");
    vec![
        op("post", W, "workflows", "Create a workflow")
            .about(CHECKS)
            .body(input(true))
            .ok(201, "The workflow.", sref("Workflow"))
            .errors(&[400, 422])
            .pushed(),
        op("get", W, "workflows", "The project's workflows").ok(
            200,
            "In creation order.",
            list_of("Workflow"),
        ),
        op("get", one.clone(), "workflows", "A workflow").ok(
            200,
            "The workflow.",
            sref("Workflow"),
        ),
        op("patch", one.clone(), "workflows", "Update a workflow")
            .about(&format!(
                "Absent keys keep their value; the result is checked as a whole. {CHECKS}"
            ))
            .body(input(false))
            .ok(200, "The workflow.", sref("Workflow"))
            .errors(&[400, 422])
            .pushed(),
        op("delete", one, "workflows", "Delete a workflow")
            .about("Its runs are deleted too; workers start no run of it after the call returns.")
            .ok(204, "Deleted.", Value::Null)
            .pushed(),
    ]
}

fn input(create: bool) -> Value {
    let props = [
        (
            "name",
            json!({ "type": "string", "minLength": 1, "maxLength": 255 }),
        ),
        ("description", json!({ "type": ["string", "null"] })),
        (
            "trigger_type",
            json!({ "type": "string", "enum": model::workflows::TRIGGERS }),
        ),
        ("trigger_config", json!({ "type": "object", "default": {} })),
        (
            "steps",
            json!({ "type": "array", "items": { "type": "object" }, "maxItems": model::workflows::MAX_STEPS, "default": [] }),
        ),
        ("is_active", json!({ "type": "boolean", "default": true })),
    ];
    let required: &[&str] = if create {
        &["name", "trigger_type"]
    } else {
        &[]
    };
    object(&props, required)
}

pub(super) fn schemas() -> Vec<(&'static str, Value)> {
    let props = [
        ("id", json!({ "type": "string", "format": UUID })),
        ("project_id", json!({ "type": "string", "format": UUID })),
        ("name", json!({ "type": "string" })),
        ("description", json!({ "type": ["string", "null"] })),
        ("trigger_type", json!({ "type": "string" })),
        (
            "trigger_config",
            json!({ "type": "object", "description": "As stored." }),
        ),
        (
            "steps",
            json!({ "type": "array", "items": { "type": "object" }, "description": "As stored." }),
        ),
        ("is_active", json!({ "type": "boolean" })),
        (
            "created_at",
            json!({ "type": "string", "format": "date-time" }),
        ),
        (
            "updated_at",
            json!({ "type": "string", "format": "date-time" }),
        ),
    ];
    let required = [
        "id",
        "project_id",
        "name",
        "trigger_type",
        "trigger_config",
        "steps",
        "is_active",
        "created_at",
        "updated_at",
    ];
    vec![("Workflow", object(&props, &required))]
}
