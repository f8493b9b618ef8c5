//! Schema evolution (`…/schema/evolution/**`): immediate operations, previews, aliases, pending
//! changes and the history of applied change sets; also the `Change` schema they share with
//! schema documents.

use super::{flag, list_of, object, op, sref, text, Op, UUID};
use serde_json::{json, Value};

const E: &str = "/api/projects/{project_id}/schema/evolution";

pub(super) fn ops() -> Vec<Op> {
    [immediate(), queue()].into_iter().flatten().collect()
}

fn strings() -> Value {
    json!({ "type": "array", "items": { "type": "string" } })
}

fn immediate() -> Vec<Op> {
    let c = format!("{E}/collections/{{collection_id}}");
    let f = format!("{c}/fields/{{field_id}}");
    let rename = object(
        &[
            (
                "new_name",
                json!({ "type": "string", "minLength": 1, "maxLength": 63 }),
            ),
            (
                "new_display_name",
                json!({ "type": ["string", "null"], "maxLength": 255 }),
            ),
        ],
        &["new_name"],
    );
    let operations = [
        "rename_collection",
        "rename_field",
        "soft_delete_field",
        "hard_delete_field",
        "change_field_type",
    ];
    let preview_body = object(
        &[
            ("operation", json!({ "type": "string", "enum": operations })),
            (
                "params",
                json!({ "type": "object", "description": "`field_id`, `new_name` and/or `new_type`, as the operation needs." }),
            ),
        ],
        &["operation", "params"],
    );
    let preview = object(
        &[
            ("operation", json!({ "type": "string" })),
            ("collection", json!({ "type": "string" })),
            ("steps", strings()),
            ("warnings", strings()),
            ("params", json!({ "type": "object" })),
        ],
        &["operation", "collection", "steps", "warnings"],
    );
    let done = |o: Op| {
        o.ok(200, "What ran.", sref("SchemaOperation"))
            .errors(&[400, 409])
            .pushed()
    };
    vec![
        done(op("post", format!("{c}/rename"), "evolution", "Rename a collection and its table")
            .about("The old name keeps working in the data API for 30 days.")
            .body(rename.clone()))
        .errors(&[422]),
        op("post", format!("{c}/preview-migration"), "evolution", "Preview an operation's SQL")
            .about("Runs the operation in a transaction that is rolled back.")
            .body(preview_body)
            .ok(200, "The SQL and warnings.", preview)
            .errors(&[400, 409, 422]),
        done(op("post", format!("{f}/rename"), "evolution", "Rename a field and its column").body(rename)).errors(&[422]),
        done(op("post", format!("{f}/soft-delete"), "evolution", "Soft-delete a field")
            .about("The column stays; records, filters and writes ignore the field until it is restored.")),
        done(op("post", format!("{f}/hard-delete"), "evolution", "Drop a field's column")
            .query("force", flag(), "Drop even when the column holds data.")),
        done(op("post", format!("{f}/restore"), "evolution", "Restore a soft-deleted field")),
        done(op("post", format!("{f}/change-type"), "evolution", "Change a field's type (safe conversions only)")
            .body(object(&[("new_type", json!({ "type": "string", "minLength": 1, "maxLength": 32 }))], &["new_type"])))
        .errors(&[422]),
        op("get", format!("{E}/aliases"), "evolution", "Unexpired former names").ok(
            200,
            "Aliases.",
            object(&[("collection_aliases", list_of("Alias")), ("field_aliases", list_of("Alias"))], &["collection_aliases", "field_aliases"]),
        ),
        op("get", format!("{E}/safe-conversions"), "evolution", "Type changes that are allowed").ok(
            200,
            "Conversions.",
            object(
                &[("safe_conversions", json!({ "type": "array", "items": object(&[("from", json!({ "type": "string" })), ("to", json!({ "type": "string" })), ("description", json!({ "type": "string" }))], &["from", "to"]) }))],
                &["safe_conversions"],
            ),
        ),
    ]
}

fn queue() -> Vec<Op> {
    let pending = format!("{E}/pending");
    let preview = object(
        &[
            ("changes", list_of("Change")),
            ("steps", strings()),
            ("warnings", strings()),
            ("schema_version", json!({ "type": "integer" })),
            ("destructive", json!({ "type": "boolean" })),
        ],
        &[
            "changes",
            "steps",
            "warnings",
            "schema_version",
            "destructive",
        ],
    );
    let applied = object(
        &[
            ("success", json!({ "type": "boolean" })),
            ("applied", json!({ "type": "integer" })),
            ("schema_version", json!({ "type": "integer" })),
            (
                "results",
                json!({ "type": "array", "items": object(&[("operation", json!({ "type": "string" })), ("details", json!({ "type": "object" }))], &["operation"]) }),
            ),
            ("steps", strings()),
            ("warnings", strings()),
        ],
        &["success", "applied", "schema_version", "results"],
    );
    vec![
        op("get", pending.clone(), "evolution", "Staged changes, in the order they will run")
            .ok(200, "The queue.", object(&[("pending", list_of("PendingChange"))], &["pending"])),
        op("post", pending.clone(), "evolution", "Stage a change")
            .about("Checked at once after the changes already staged (a dry run), so a change that could never apply is refused now.")
            .body(sref("Change"))
            .ok(201, "The staged change.", sref("PendingChange"))
            .errors(&[400, 409, 422]),
        op("delete", pending.clone(), "evolution", "Discard every staged change")
            .ok(200, "How many were discarded.", object(&[("discarded", json!({ "type": "integer" }))], &["discarded"])),
        op("post", format!("{pending}/preview"), "evolution", "Preview the staged changes together")
            .ok(200, "The SQL and warnings, rolled back.", preview)
            .errors(&[400, 409]),
        op("delete", format!("{pending}/{{change_id}}"), "evolution", "Discard one staged change").ok(204, "Discarded.", Value::Null),
        op("post", format!("{E}/apply"), "evolution", "Apply the staged changes")
            .about("One transaction and one schema version; the queue is cleared. 400 when it is empty.")
            .ok(200, "What ran.", applied)
            .errors(&[400, 409])
            .pushed(),
        op("get", format!("{E}/history"), "evolution", "Applied change sets, newest first")
            .query("limit", json!({ "type": "integer", "minimum": 1, "maximum": 1000, "default": 50 }), "Page size.")
            .query("offset", json!({ "type": "integer", "minimum": 0, "default": 0 }), "Entries to skip.")
            .ok(
                200,
                "The history.",
                object(&[("schema_version", json!({ "type": "integer" })), ("history", list_of("HistoryEntry"))], &["schema_version", "history"]),
            )
            .errors(&[422]),
    ]
}

/// One variant of `Change`: its `op` and its keys (`!` = required, `?b` = boolean, `?o` =
/// object, otherwise a string).
const CHANGES: [(&str, &[&str]); 14] = [
    ("create_collection", &["!name", "!display_name"]),
    ("update_collection", &["!collection", "!display_name"]),
    ("delete_collection", &["!collection", "?b force"]),
    (
        "rename_collection",
        &["!collection", "!new_name", "new_display_name"],
    ),
    (
        "add_field",
        &[
            "!collection",
            "!name",
            "!display_name",
            "!field_type",
            "?b is_required",
            "?b is_unique",
            "?b is_indexed",
            "default_value",
        ],
    ),
    (
        "add_relation",
        &[
            "!collection",
            "!name",
            "!display_name",
            "!target",
            "relation_type",
            "on_delete",
            "display_field",
            "?b is_required",
        ],
    ),
    (
        "update_field",
        &[
            "!collection",
            "!field",
            "display_name",
            "?b is_required",
            "?b is_unique",
            "?b is_indexed",
            "default_value",
            "display_field",
        ],
    ),
    (
        "rename_field",
        &["!collection", "!field", "!new_name", "new_display_name"],
    ),
    ("soft_delete_field", &["!collection", "!field"]),
    ("restore_field", &["!collection", "!field"]),
    ("hard_delete_field", &["!collection", "!field", "?b force"]),
    ("change_field_type", &["!collection", "!field", "!new_type"]),
    ("put_view", &["!?o view"]),
    ("delete_view", &["!name"]),
];

fn change_schema() -> Value {
    let variants: Vec<Value> = CHANGES
        .iter()
        .map(|(name, keys)| {
            let mut props = vec![("op", json!({ "type": "string", "const": name }))];
            let mut required = vec!["op"];
            for key in *keys {
                let (req, key) = key.strip_prefix('!').map_or((false, *key), |k| (true, k));
                let (schema, key) = match key.split_once(' ') {
                    Some(("?b", k)) => (json!({ "type": "boolean" }), k),
                    Some(("?o", k)) => (json!({ "type": "object" }), k),
                    _ => (json!({ "type": ["string", "null"] }), key),
                };
                props.push((key, schema));
                if req {
                    required.push(key);
                }
            }
            let mut s = object(&props, &required);
            s["title"] = json!(name);
            s
        })
        .collect();
    json!({
        "description": "One schema change. Collections and fields are named by current name or id, so a batch can name what an earlier step creates.",
        "oneOf": variants,
        "discriminator": { "propertyName": "op" },
    })
}

pub(super) fn schemas() -> Vec<(&'static str, Value)> {
    let id = || json!({ "type": "string", "format": UUID });
    let time = || json!({ "type": "string", "format": "date-time" });
    vec![
        ("Change", change_schema()),
        (
            "PendingChange",
            object(
                &[
                    ("id", id()),
                    ("change", sref("Change")),
                    (
                        "actor_user_id",
                        json!({ "type": ["string", "null"], "format": UUID }),
                    ),
                    ("created_at", time()),
                ],
                &["id", "change", "created_at"],
            ),
        ),
        (
            "HistoryEntry",
            object(
                &[
                    ("id", id()),
                    ("schema_version", json!({ "type": "integer" })),
                    (
                        "source",
                        json!({ "type": "string", "enum": ["immediate", "pending", "import"] }),
                    ),
                    ("changes", list_of("Change")),
                    ("steps", strings()),
                    (
                        "actor_user_id",
                        json!({ "type": ["string", "null"], "format": UUID }),
                    ),
                    ("created_at", time()),
                ],
                &[
                    "id",
                    "schema_version",
                    "source",
                    "changes",
                    "steps",
                    "created_at",
                ],
            ),
        ),
        (
            "Alias",
            object(
                &[
                    ("old_name", text("The former name.")),
                    ("collection_id", id()),
                    (
                        "field_id",
                        json!({ "type": "string", "format": UUID, "description": "Field aliases only." }),
                    ),
                    ("expires_at", time()),
                ],
                &["old_name", "collection_id", "expires_at"],
            ),
        ),
    ]
}
