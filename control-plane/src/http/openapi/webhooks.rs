//! Webhook definitions (`…/webhooks/**`). Their deliveries (`…/webhooks/{webhook_id}/deliveries`)
//! are the data API's: workers deliver from the project's outbox.

use super::{list_of, object, op, sref, text, Op, UUID};
use serde_json::{json, Value};

const W: &str = "/api/projects/{project_id}/webhooks";

const SIGNING: &str = "Deliveries are signed as Standard Webhooks: headers `webhook-id` (the \
    delivery id, the same on every retry), `webhook-timestamp` (unix seconds) and \
    `webhook-signature: v1,<base64 HMAC-SHA256(key, \"{id}.{timestamp}.{body}\")>`, where the key \
    is the bytes after `whsec_` in the secret, base64-decoded.";

pub(super) fn ops() -> Vec<Op> {
    let one = format!("{W}/{{webhook_id}}");
    vec![
        op("post", W, "webhooks", "Create a webhook")
            .about(&format!("Field problems (a URL that is not absolute http(s) or longer than 2,048 characters, an unknown event name, an empty list) answer 422; a collection name that is not one of the project's answers 400. {SIGNING}"))
            .body(input(true))
            .ok(201, "The webhook with its secret (shown only here).", sref("WebhookWithSecret"))
            .errors(&[400, 422])
            .pushed(),
        op("get", W, "webhooks", "The project's webhooks")
            .ok(200, "In creation order, without secrets.", list_of("Webhook")),
        op("get", one.clone(), "webhooks", "A webhook")
            .ok(200, "The webhook.", sref("Webhook")),
        op("patch", one.clone(), "webhooks", "Update a webhook")
            .about("Absent keys keep their value; `collections: null` removes the filter. Turning a webhook on (`is_active: true`) clears `disabled_reason`.")
            .body(input(false))
            .ok(200, "The webhook.", sref("Webhook"))
            .errors(&[400, 422])
            .pushed(),
        op("delete", one.clone(), "webhooks", "Delete a webhook")
            .about("Workers stop delivering to it before the call returns.")
            .ok(204, "Deleted.", Value::Null)
            .pushed(),
        op("post", format!("{one}/rotate-secret"), "webhooks", "Rotate a webhook's secret")
            .about("A new secret, shown once. The previous one keeps signing beside it (a second `v1,` signature in `webhook-signature`) for 24 hours, so receivers can switch without losing deliveries.")
            .ok(200, "The webhook with its new secret.", sref("WebhookWithSecret"))
            .pushed(),
    ]
}

fn input(create: bool) -> Value {
    let events = json!({
        "type": "array", "minItems": 1,
        "items": { "type": "string", "enum": ["record.created", "record.updated", "record.deleted", "*"] },
        "description": "Events it receives; `*` is every one. Kept as given, order included.",
    });
    let props = [
        (
            "name",
            json!({ "type": "string", "minLength": 1, "maxLength": 255 }),
        ),
        (
            "url",
            json!({ "type": "string", "format": "uri", "maxLength": 2048, "description": "Absolute http(s) URL. Deliveries go through the egress allow-list: private, loopback and link-local addresses are refused unless the operator allows them." }),
        ),
        ("events", events),
        (
            "collections",
            json!({ "type": ["array", "null"], "minItems": 1, "items": { "type": "string" }, "description": "Only events of these collections (by name); absent or null: every collection." }),
        ),
        ("is_active", json!({ "type": "boolean", "default": true })),
    ];
    let required: &[&str] = if create {
        &["name", "url", "events"]
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
        ("url", json!({ "type": "string" })),
        (
            "events",
            json!({ "type": "array", "items": { "type": "string" } }),
        ),
        (
            "collections",
            json!({ "type": ["array", "null"], "items": { "type": "string" }, "description": "Current names of the collections it is limited to; null: every collection." }),
        ),
        ("is_active", json!({ "type": "boolean" })),
        (
            "disabled_reason",
            json!({ "type": ["string", "null"], "description": "Why deliveries stopped, when the platform turned it off." }),
        ),
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
        "url",
        "events",
        "is_active",
        "created_at",
        "updated_at",
    ];
    let mut with_secret = props.to_vec();
    with_secret.push((
        "secret",
        text("`whsec_` + base64 of the 32-byte signing key. Shown only in this response."),
    ));
    with_secret.push(("previous_secret_expires_at", json!({ "type": "string", "format": "date-time", "description": "After a rotation: until when the previous secret still signs." })));
    let mut required_secret = required.to_vec();
    required_secret.push("secret");
    vec![
        ("Webhook", object(&props, &required)),
        ("WebhookWithSecret", object(&with_secret, &required_secret)),
    ]
}
