//! Collections, fields and relations (`…/schema/collections/**`, `…/schema/relations/**`).

use super::{flag, list_of, object, op, sref, Op, UUID};
use model::FieldType;
use serde_json::{json, Value};

const C: &str = "/api/projects/{project_id}/schema/collections";
const R: &str = "/api/projects/{project_id}/schema/relations";

/// Every schema change may be refused (400), collide or wait too long for a lock (409), or be
/// malformed (422).
const CHANGE_ERRORS: [u16; 3] = [400, 409, 422];

pub(super) fn ops() -> Vec<Op> {
    [collections(), fields(), relations()]
        .into_iter()
        .flatten()
        .collect()
}

fn name() -> Value {
    json!({ "type": "string", "pattern": "^[a-z][a-z0-9_]*$", "minLength": 1, "maxLength": 63, "description": "Lower case; reserved SQL words are refused (400)." })
}

fn display_name() -> Value {
    json!({ "type": "string", "minLength": 1, "maxLength": 255 })
}

fn collections() -> Vec<Op> {
    let one = format!("{C}/{{collection_name}}");
    vec![
        op("post", C, "collections", "Create a collection")
            .about("Creates its table with the system columns `id`, `created_at`, `updated_at`, `created_by_user_id`, `created_by_app_user_id`.")
            .body(object(&[("name", name()), ("display_name", display_name())], &["name", "display_name"]))
            .ok(201, "The collection.", sref("Collection"))
            .errors(&CHANGE_ERRORS)
            .pushed(),
        op("get", C, "collections", "List collections").ok(200, "Active collections, `_users` included.", list_of("Collection")),
        op("get", one.clone(), "collections", "A collection").ok(200, "The collection.", sref("Collection")),
        op("patch", one.clone(), "collections", "Change a collection's display name")
            .body(object(&[("display_name", display_name())], &["display_name"]))
            .ok(200, "The collection.", sref("Collection"))
            .errors(&CHANGE_ERRORS)
            .pushed(),
        op("delete", one, "collections", "Delete a collection and its table")
            .about("A collection with records needs `force=true`; one that another collection's relation points at is refused (409).")
            .query("force", flag(), "Delete even when it holds records.")
            .ok(200, "What ran.", sref("SchemaOperation"))
            .errors(&CHANGE_ERRORS)
            .pushed(),
    ]
}

/// The `field_type` a field answers: a creatable type (`boolean` is answered as `bool`) or
/// `relation`.
fn stored_types() -> Value {
    let mut names: Vec<&str> = FieldType::CREATABLE.iter().map(|t| t.as_str()).collect();
    names.push("relation");
    json!({ "type": "string", "enum": names })
}

fn fields() -> Vec<Op> {
    let list = format!("{C}/{{collection_name}}/fields");
    let one = format!("{list}/{{field_name}}");
    let mut names: Vec<&str> = FieldType::CREATABLE.iter().map(|t| t.as_str()).collect();
    names.push("boolean");
    let types = json!({ "type": "string", "enum": names, "description": "`boolean` is another name for `bool` (answered as `bool`); `json` holds any JSON value (stored as `jsonb`)." });
    let create = object(
        &[
            ("name", name()),
            ("display_name", display_name()),
            ("field_type", types),
            ("is_required", flag()),
            ("is_unique", flag()),
            ("is_indexed", flag()),
            (
                "default_value",
                json!({ "type": ["string", "null"], "description": "As text; required when `is_required` is true." }),
            ),
        ],
        &["name", "display_name", "field_type"],
    );
    let update = object(
        &[
            (
                "display_name",
                json!({ "type": "string", "maxLength": 255 }),
            ),
            (
                "is_required",
                json!({ "type": "boolean", "description": "Making a field required fills existing nulls with its default." }),
            ),
            ("is_unique", json!({ "type": "boolean" })),
            ("is_indexed", json!({ "type": "boolean" })),
            ("default_value", json!({ "type": ["string", "null"] })),
            (
                "display_field",
                json!({ "type": ["string", "null"], "description": "Relations: the target field shown as the label." }),
            ),
        ],
        &[],
    );
    vec![
        op("post", list.clone(), "collections", "Add a field")
            .body(create)
            .ok(201, "The field.", sref("Field"))
            .errors(&CHANGE_ERRORS)
            .pushed(),
        op("get", list, "collections", "List fields").ok(
            200,
            "Fields that are neither soft-deleted nor hidden.",
            list_of("Field"),
        ),
        op("get", one.clone(), "collections", "A field")
            .about("Soft-deleted fields too (to restore them); hidden ones never.")
            .ok(200, "The field.", sref("Field")),
        op(
            "patch",
            one,
            "collections",
            "Change a field's display name and flags",
        )
        .about("Absent keys keep their value.")
        .body(update)
        .ok(200, "The field.", sref("Field"))
        .errors(&CHANGE_ERRORS)
        .pushed(),
    ]
}

fn relations() -> Vec<Op> {
    let list = format!("{R}/collections/{{collection_id}}/relations");
    let create = object(
        &[
            ("name", name()),
            ("display_name", display_name()),
            (
                "target_collection_id",
                json!({ "type": "string", "format": UUID }),
            ),
            (
                "relation_type",
                json!({ "type": "string", "enum": ["many_to_one"], "default": "many_to_one" }),
            ),
            (
                "on_delete",
                json!({ "type": "string", "enum": ["RESTRICT", "CASCADE", "SET NULL"], "default": "RESTRICT" }),
            ),
            ("display_field", json!({ "type": ["string", "null"] })),
            ("is_required", flag()),
        ],
        &["name", "display_name", "target_collection_id"],
    );
    let option = object(
        &[
            ("value", json!({ "type": "string" })),
            ("label", json!({ "type": "string" })),
            ("description", json!({ "type": "string" })),
        ],
        &[],
    );
    let options = object(
        &[
            (
                "relation_types",
                json!({ "type": "array", "items": option }),
            ),
            (
                "on_delete_actions",
                json!({ "type": "array", "items": option }),
            ),
        ],
        &["relation_types", "on_delete_actions"],
    );
    vec![
        op("post", list.clone(), "relations", "Add a relation field")
            .about("Adds the key column `<name>_id` with a foreign key to the target (`_users` included).")
            .body(create)
            .ok(201, "The relation field.", sref("RelationField"))
            .errors(&CHANGE_ERRORS)
            .pushed(),
        op("get", list.clone(), "relations", "Relations of a collection").ok(200, "Relation fields.", list_of("RelationField")),
        op("get", format!("{R}/collections/{{collection_id}}/reverse-relations"), "relations", "Relations pointing at a collection")
            .ok(200, "Relation fields of other collections.", list_of("ReverseRelation")),
        op("delete", format!("{list}/{{field_id}}"), "relations", "Drop a relation")
            .about("Drops the key column and its foreign key.")
            .ok(200, "What ran.", sref("SchemaOperation"))
            .errors(&[400, 409])
            .pushed(),
        op("get", format!("{R}/relation-options"), "relations", "Relation kinds and delete actions").ok(200, "Options.", options),
    ]
}

pub(super) fn schemas() -> Vec<(&'static str, Value)> {
    let id = || json!({ "type": "string", "format": UUID });
    let time = || json!({ "type": "string", "format": "date-time" });
    let s = || json!({ "type": "string" });
    let b = || json!({ "type": "boolean" });
    vec![
        (
            "Collection",
            object(
                &[
                    ("id", id()),
                    ("name", s()),
                    ("display_name", s()),
                    ("sql_table_name", s()),
                    ("is_active", b()),
                    (
                        "is_system",
                        json!({ "type": "boolean", "description": "True for `_users`." }),
                    ),
                    ("created_at", time()),
                    ("updated_at", time()),
                ],
                &[
                    "id",
                    "name",
                    "display_name",
                    "sql_table_name",
                    "is_active",
                    "is_system",
                    "created_at",
                    "updated_at",
                ],
            ),
        ),
        (
            "Field",
            object(
                &[
                    ("id", id()),
                    ("name", s()),
                    ("display_name", s()),
                    ("field_type", stored_types()),
                    ("sql_column_name", s()),
                    ("is_required", b()),
                    ("is_unique", b()),
                    ("is_indexed", b()),
                    ("default_value", json!({ "type": ["string", "null"] })),
                    ("is_system", b()),
                    ("is_hidden", b()),
                    (
                        "relation_target_collection_id",
                        json!({ "type": ["string", "null"], "format": UUID }),
                    ),
                    ("relation_type", json!({ "type": ["string", "null"] })),
                    ("relation_on_delete", s()),
                    ("created_at", time()),
                    ("updated_at", time()),
                ],
                &[
                    "id",
                    "name",
                    "display_name",
                    "field_type",
                    "sql_column_name",
                    "is_required",
                ],
            ),
        ),
        (
            "RelationField",
            object(
                &[
                    ("id", id()),
                    ("name", s()),
                    ("display_name", s()),
                    (
                        "field_type",
                        json!({ "type": "string", "const": "relation" }),
                    ),
                    ("sql_column_name", s()),
                    ("is_required", b()),
                    ("relation_target_collection_id", id()),
                    ("relation_type", s()),
                    ("relation_on_delete", s()),
                    (
                        "relation_display_field",
                        json!({ "type": ["string", "null"] }),
                    ),
                    ("target_collection_name", s()),
                    ("created_at", time()),
                    ("updated_at", time()),
                ],
                &[
                    "id",
                    "name",
                    "sql_column_name",
                    "relation_target_collection_id",
                    "target_collection_name",
                ],
            ),
        ),
        (
            "ReverseRelation",
            object(
                &[
                    ("id", id()),
                    ("name", s()),
                    ("display_name", s()),
                    ("source_collection_id", id()),
                    ("source_collection_name", s()),
                    (
                        "relation_type",
                        json!({ "type": "string", "const": "one_to_many" }),
                    ),
                    ("sql_column_name", s()),
                ],
                &[
                    "id",
                    "name",
                    "source_collection_id",
                    "source_collection_name",
                ],
            ),
        ),
        (
            "SchemaOperation",
            object(
                &[
                    ("success", b()),
                    ("operation", s()),
                    ("details", json!({ "type": "object" })),
                    ("schema_version", json!({ "type": "integer" })),
                ],
                &["success", "operation", "details", "schema_version"],
            ),
        ),
    ]
}
