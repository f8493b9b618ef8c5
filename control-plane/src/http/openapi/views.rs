//! View definitions (`…/views/**`). Running a view is the data API's
//! (`POST …/views/{view_name}/execute`, in the project's own document).

use super::{flag, list_of, object, op, sref, text, Op, UUID};
use serde_json::{json, Value};

const V: &str = "/api/projects/{project_id}/views";

pub(super) fn ops() -> Vec<Op> {
    let one = format!("{V}/{{view_name}}");
    let operators = format!("{V}/operators");
    let mut ops = vec![
        op("post", V, "views", "Create a view")
            .about("Names are slugs; a name taken by an active view, an unknown base collection or column, or too many filters answer 400.")
            .body(sref("ViewInput"))
            .ok(201, "The view (version 1).", sref("View"))
            .errors(&[400, 422])
            .pushed(),
        op("get", V, "views", "List active views").ok(200, "Views by name.", list_of("View")),
        op("get", operators.clone(), "views", "Filter operators views may use").ok(
            200,
            "Operators.",
            object(
                &[(
                    "operators",
                    json!({ "type": "array", "items": object(&[("value", json!({ "type": "string" })), ("label", json!({ "type": "string" })), ("types", json!({ "type": "array", "items": { "type": "string" } }))], &["value", "label", "types"]) }),
                )],
                &["operators"],
            ),
        ),
    ];
    for path in [one.clone(), operators] {
        let named = if path == one {
            ""
        } else {
            " named `operators`"
        };
        ops.push(
            op("patch", path.clone(), "views", &format!("Update the view{named}"))
                .about("Every call makes a new version; absent keys keep their value, an empty list or object clears it.")
                .body(sref("ViewUpdate"))
                .ok(200, "The view.", sref("View"))
                .errors(&[400, 422])
                .pushed(),
        );
        ops.push(
            op("delete", path, "views", &format!("Delete the view{named}"))
                .about("The name becomes free; versions are kept.")
                .ok(204, "Deleted.", Value::Null)
                .pushed(),
        );
    }
    ops.extend([
        op("get", one.clone(), "views", "A view").ok(200, "The view.", sref("View")),
        op(
            "get",
            format!("{one}/versions"),
            "views",
            "A view's versions, newest first",
        )
        .ok(200, "Versions.", list_of("ViewVersion")),
        op("get", format!("{one}/meta"), "views", "How to call a view")
            .about(
                "Its parameters, result fields, pagination and ready-made curl and fetch snippets.",
            )
            .ok(
                200,
                "Self-documentation of the view.",
                json!({ "type": "object" }),
            ),
    ]);
    ops
}

fn definition(props: &mut Vec<(&'static str, Value)>) {
    props.extend([
        ("projection", json!({ "type": ["array", "null"], "items": { "type": "string" }, "description": "Columns to return; null or empty for all." })),
        ("filters", json!({ "type": ["array", "null"], "items": sref("ViewFilter"), "maxItems": 20 })),
        ("sorts", json!({ "type": ["array", "null"], "items": sref("ViewSort") })),
        ("joins", json!({ "type": ["array", "null"], "items": sref("ViewJoin"), "maxItems": 1, "description": "Stored, not executed." })),
        ("params_schema", json!({ "type": ["object", "null"], "description": "`{\"<param>\": {\"type\", \"required\", \"description\", \"example\"}}`; types `limit` and `offset` drive paging." })),
    ]);
}

pub(super) fn schemas() -> Vec<(&'static str, Value)> {
    let s = || json!({ "type": "string" });
    let limit = |d: i64| json!({ "type": "integer", "minimum": 1, "maximum": 1000, "default": d });
    let mut input = vec![
        (
            "name",
            json!({ "type": "string", "minLength": 1, "maxLength": 63, "pattern": "^[a-z][a-z0-9_]*$", "description": "Lower case; reserved SQL words are refused (400)." }),
        ),
        (
            "display_name",
            json!({ "type": "string", "minLength": 1, "maxLength": 255 }),
        ),
        (
            "base_collection_id",
            json!({ "type": "string", "format": UUID }),
        ),
        ("description", json!({ "type": ["string", "null"] })),
    ];
    definition(&mut input);
    input.extend([("default_limit", limit(100)), ("max_limit", limit(1000))]);
    let mut update = vec![
        (
            "display_name",
            json!({ "type": ["string", "null"], "maxLength": 255 }),
        ),
        ("description", json!({ "type": ["string", "null"] })),
    ];
    definition(&mut update);
    let mut view = vec![
        ("id", json!({ "type": "string", "format": UUID })),
        ("name", s()),
        ("display_name", s()),
        ("description", json!({ "type": ["string", "null"] })),
        (
            "base_collection_id",
            json!({ "type": "string", "format": UUID }),
        ),
    ];
    definition(&mut view);
    view.extend([
        ("default_limit", json!({ "type": "integer" })),
        ("max_limit", json!({ "type": "integer" })),
        ("version", json!({ "type": "integer" })),
        ("is_active", json!({ "type": "boolean" })),
        (
            "created_at",
            json!({ "type": "string", "format": "date-time" }),
        ),
        (
            "updated_at",
            json!({ "type": "string", "format": "date-time" }),
        ),
    ]);
    let mut version = vec![
        ("id", json!({ "type": "string", "format": UUID })),
        ("view_id", json!({ "type": "string", "format": UUID })),
        ("version", json!({ "type": "integer" })),
    ];
    definition(&mut version);
    version.extend([
        (
            "created_at",
            json!({ "type": "string", "format": "date-time" }),
        ),
        (
            "created_by_user_id",
            json!({ "type": ["string", "null"], "format": UUID }),
        ),
    ]);
    let operators = [
        "=",
        "!=",
        ">",
        "<",
        ">=",
        "<=",
        "in",
        "not_in",
        "contains",
        "starts_with",
        "ends_with",
        "is_null",
        "is_not_null",
    ];
    vec![
        (
            "ViewInput",
            object(&input, &["name", "display_name", "base_collection_id"]),
        ),
        ("ViewUpdate", object(&update, &[])),
        (
            "View",
            object(
                &view,
                &[
                    "id",
                    "name",
                    "display_name",
                    "base_collection_id",
                    "version",
                    "is_active",
                ],
            ),
        ),
        (
            "ViewVersion",
            object(&version, &["id", "view_id", "version", "created_at"]),
        ),
        (
            "ViewFilter",
            object(
                &[
                    ("field", text("A column of the base collection.")),
                    ("operator", json!({ "type": "string", "enum": operators })),
                    (
                        "value",
                        json!({ "description": "The fixed value, or the fallback of a parameter." }),
                    ),
                    ("is_param", flag()),
                    ("param_name", json!({ "type": ["string", "null"] })),
                ],
                &["field", "operator"],
            ),
        ),
        (
            "ViewSort",
            object(
                &[
                    ("field", s()),
                    ("desc", flag()),
                    ("is_param", flag()),
                    ("param_name", json!({ "type": ["string", "null"] })),
                    ("desc_is_param", flag()),
                    ("desc_param_name", json!({ "type": ["string", "null"] })),
                ],
                &["field"],
            ),
        ),
        (
            "ViewJoin",
            object(
                &[
                    ("collection_id", s()),
                    ("on_field", s()),
                    ("target_field", json!({ "type": "string", "default": "id" })),
                    ("type", json!({ "type": "string", "default": "left" })),
                ],
                &["collection_id", "on_field"],
            ),
        ),
    ]
}
