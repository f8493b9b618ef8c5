//! Operations outside a project's schema: service info, admin auth, projects, the schema-op log,
//! and schema documents (export and import).

use super::{flag, list_of, object, op, sref, text, Op, UUID};
use serde_json::{json, Value};

const P: &str = "/api/projects/{project_id}";

pub(super) fn ops() -> Vec<Op> {
    [meta(), auth(), projects(), documents()]
        .into_iter()
        .flatten()
        .collect()
}

fn meta() -> Vec<Op> {
    let info = object(
        &[
            ("name", json!({ "type": "string" })),
            ("version", json!({ "type": "string" })),
            ("docs", json!({ "type": "string" })),
            ("health", json!({ "type": "string" })),
        ],
        &["name", "version"],
    );
    vec![
        op("get", "/", "meta", "Service name and version")
            .public()
            .about("Through the router a browser (`Accept: text/html`) gets the console instead.")
            .ok(200, "Service info.", info),
        op("get", "/health", "meta", "Liveness")
            .public()
            .ok(200, "Alive.", object(&[("ok", json!({ "type": "boolean" }))], &["ok"])),
        op("get", "/ready", "meta", "Readiness")
            .public()
            .about("Ready once serving; `database` says whether the control database answers (its absence does not make the control plane unready: its routes answer 503 meanwhile).")
            .ok(200, "Ready for traffic.", object(&[("ready", json!({ "type": "boolean" })), ("database", json!({ "type": "string", "enum": ["ok", "unavailable"] }))], &["ready", "database"])),
        op("get", "/openapi.json", "meta", "This document")
            .public()
            .ok(200, "The admin API as OpenAPI 3.1.", json!({ "type": "object" })),
        op("get", "/docs", "meta", "Readable API documentation")
            .public()
            .about("A self-contained page that renders this document, or a project's data-API document.")
            .raw_ok(200, json!({ "description": "HTML page.", "content": { "text/html": { "schema": { "type": "string" } } } })),
    ]
}

fn auth() -> Vec<Op> {
    let credentials = |min: u64| {
        object(
            &[
                ("email", json!({ "type": "string", "format": "email" })),
                (
                    "password",
                    json!({ "type": "string", "minLength": min, "maxLength": 72 }),
                ),
            ],
            &["email", "password"],
        )
    };
    let refresh = object(
        &[("refresh_token", text("The opaque refresh token."))],
        &["refresh_token"],
    );
    vec![
        op("post", "/api/auth/register", "auth", "Register an admin")
            .public()
            .body(credentials(8))
            .ok(201, "Signed in.", sref("TokenPair"))
            .errors(&[409, 422]),
        op("post", "/api/auth/login", "auth", "Log in")
            .public()
            .body(credentials(0))
            .ok(200, "Signed in.", sref("TokenPair"))
            .errors(&[401, 422]),
        op(
            "post",
            "/api/auth/refresh",
            "auth",
            "Trade a refresh token for a new pair",
        )
        .public()
        .about("The refresh token is rotated: the old one works once.")
        .body(refresh.clone())
        .ok(200, "New tokens.", sref("TokenPair"))
        .errors(&[401, 422]),
        op("post", "/api/auth/logout", "auth", "Revoke a refresh token")
            .public()
            .body(refresh)
            .ok(204, "Revoked (whatever it was).", Value::Null)
            .errors(&[422]),
        op("get", "/api/me", "auth", "The calling admin").ok(200, "The admin.", sref("Admin")),
        op("post", "/api/auth/tokens", "auth", "Create an admin API token")
            .about("A long-lived credential for automation, sent as `Authorization: Bearer bfy_…` on \
                    every admin endpoint. `token` is in this answer only; only its SHA-256 digest \
                    is kept. `project_ids` limits it to those projects (others answer 404, as to a \
                    non-member); `read_only` allows only GET; `expires_in_days` (1–3650) ends it. \
                    Made by a signed-in admin only (not with another API token).")
            .body(object(
                &[
                    ("name", json!({ "type": "string", "minLength": 1, "maxLength": 255 })),
                    ("project_ids", json!({ "type": ["array", "null"], "items": { "type": "string", "format": UUID } })),
                    ("read_only", flag()),
                    ("expires_in_days", json!({ "type": ["integer", "null"], "minimum": 1, "maximum": 3650 })),
                ],
                &["name"],
            ))
            .ok(201, "The token, with its secret (`token`) shown once.", token(true))
            .errors(&[403, 404, 422]),
        op("get", "/api/auth/tokens", "auth", "The admin's API tokens")
            .about("Revoked and expired ones included (`status`), never the secret.")
            .ok(200, "Tokens, oldest first.", json!({ "type": "array", "items": token(false) })),
        op("delete", "/api/auth/tokens/{token_id}", "auth", "Revoke an admin API token")
            .about("At once and for good (idempotent).")
            .ok(204, "Revoked.", Value::Null)
            .errors(&[404]),
    ]
}

/// An admin API token as listed, with its secret when just made.
fn token(with_secret: bool) -> Value {
    let uuid = json!({ "type": "string", "format": UUID });
    let mut props = vec![
        ("id", uuid.clone()),
        ("name", json!({ "type": "string" })),
        (
            "prefix",
            text("The token's first characters, to recognize it."),
        ),
        (
            "project_ids",
            json!({ "type": ["array", "null"], "items": uuid }),
        ),
        ("read_only", flag()),
        (
            "expires_at",
            json!({ "type": ["string", "null"], "format": "date-time" }),
        ),
        (
            "created_at",
            json!({ "type": "string", "format": "date-time" }),
        ),
        (
            "last_used_at",
            json!({ "type": ["string", "null"], "format": "date-time" }),
        ),
        (
            "revoked_at",
            json!({ "type": ["string", "null"], "format": "date-time" }),
        ),
        (
            "status",
            json!({ "type": "string", "enum": ["active", "revoked", "expired"] }),
        ),
    ];
    if with_secret {
        props.push(("token", text("The token (`bfy_…`): shown once.")));
    }
    object(&props, &["id", "name", "prefix", "read_only", "status"])
}

fn projects() -> Vec<Op> {
    vec![
        op("post", "/api/projects", "projects", "Create a project")
            .about("Provisions its Postgres schema and role and the `_users` system collection.")
            .body(object(
                &[("name", json!({ "type": "string", "maxLength": 255 }))],
                &["name"],
            ))
            .ok(201, "The project.", sref("Project"))
            .errors(&[422])
            .pushed(),
        op(
            "get",
            "/api/projects",
            "projects",
            "Projects the admin is a member of",
        )
        .ok(200, "Projects.", list_of("Project")),
        op("get", P, "projects", "A project").ok(200, "The project.", sref("Project")),
        op(
            "get",
            format!("{P}/audit/schema-ops"),
            "audit",
            "The schema-op log, newest first",
        )
        .query(
            "collection_id",
            json!({ "type": "string", "format": UUID }),
            "Only this collection's operations.",
        )
        .query(
            "op_type",
            json!({ "type": "string" }),
            "Only this operation, e.g. `add_column`.",
        )
        .query(
            "limit",
            json!({ "type": "integer", "minimum": 1, "maximum": 1000, "default": 100 }),
            "Page size.",
        )
        .query(
            "offset",
            json!({ "type": "integer", "minimum": 0, "default": 0 }),
            "Entries to skip.",
        )
        .ok(200, "Operations.", list_of("SchemaOp"))
        .errors(&[422]),
    ]
}

fn documents() -> Vec<Op> {
    let doc = sref("SchemaDocument");
    let import_body = json!({
        "required": true,
        "content": {
            "application/json": { "schema": doc },
            "application/yaml": { "schema": doc },
        },
    });
    let import_result = object(
        &[
            ("success", json!({ "type": "boolean" })),
            ("dry_run", json!({ "type": "boolean" })),
            ("applied", json!({ "type": "integer" })),
            ("changes", list_of("Change")),
            ("destructive", list_of("Change")),
            (
                "steps",
                json!({ "type": "array", "items": { "type": "string" } }),
            ),
            (
                "warnings",
                json!({ "type": "array", "items": { "type": "string" } }),
            ),
            ("schema_version", json!({ "type": "integer" })),
        ],
        &[
            "success",
            "dry_run",
            "applied",
            "changes",
            "steps",
            "schema_version",
        ],
    );
    vec![
        op("get", format!("{P}/schema/export"), "schema-documents", "Export the schema as one document")
            .query("format", json!({ "type": "string", "enum": ["json", "yaml"], "default": "json" }), "Document format.")
            .raw_ok(200, json!({
                "description": "The document.",
                "content": { "application/json": { "schema": doc }, "application/yaml": { "schema": doc } },
            }))
            .errors(&[400]),
        op("post", format!("{P}/schema/import"), "schema-documents", "Make the project match a document")
            .about("One transaction and one schema version. Send YAML with a `yaml` content type. Steps that delete data need `force=true`.")
            .query("dry_run", flag(), "Preview only: run every step, then roll back.")
            .query("force", flag(), "Allow steps that drop collections or fields.")
            .raw_body(import_body)
            .ok(200, "What ran (or would run).", import_result)
            .errors(&[400, 409, 413, 422])
            .pushed(),
    ]
}

pub(super) fn schemas() -> Vec<(&'static str, Value)> {
    let field_doc = object(
        &[
            ("name", json!({ "type": "string" })),
            ("display_name", json!({ "type": "string" })),
            ("field_type", text("A field type (`string`, `text`, `int`, `float`, `bool` (also `boolean`), `date`, `datetime`, `uuid`, `json`), or `relation`.")),
            ("is_required", json!({ "type": "boolean" })),
            ("is_unique", json!({ "type": "boolean" })),
            ("is_indexed", json!({ "type": "boolean" })),
            ("default_value", json!({ "type": "string" })),
            ("target", text("Relation target collection name.")),
            (
                "on_delete",
                json!({ "type": "string", "enum": ["RESTRICT", "CASCADE", "SET NULL"] }),
            ),
            ("display_field", json!({ "type": "string" })),
        ],
        &["name", "display_name", "field_type"],
    );
    let collection_doc = object(
        &[
            ("name", json!({ "type": "string" })),
            ("display_name", json!({ "type": "string" })),
            ("fields", json!({ "type": "array", "items": field_doc })),
        ],
        &["name", "display_name"],
    );
    vec![
        (
            "TokenPair",
            object(
                &[
                    ("access_token", text("JWT for `Authorization: Bearer`.")),
                    (
                        "refresh_token",
                        text("Opaque; trade it at `/api/auth/refresh`."),
                    ),
                    ("token_type", json!({ "type": "string", "const": "bearer" })),
                ],
                &["access_token", "refresh_token", "token_type"],
            ),
        ),
        (
            "Admin",
            object(
                &[
                    ("id", json!({ "type": "string", "format": UUID })),
                    ("email", json!({ "type": "string" })),
                ],
                &["id", "email"],
            ),
        ),
        (
            "Project",
            object(
                &[
                    ("id", json!({ "type": "string", "format": UUID })),
                    ("name", json!({ "type": "string" })),
                ],
                &["id", "name"],
            ),
        ),
        (
            "SchemaOp",
            object(
                &[
                    ("id", json!({ "type": "string", "format": UUID })),
                    ("project_id", json!({ "type": "string", "format": UUID })),
                    (
                        "collection_id",
                        json!({ "type": ["string", "null"], "format": UUID }),
                    ),
                    ("op_type", json!({ "type": "string" })),
                    (
                        "payload_json",
                        text("The operation's details as JSON text."),
                    ),
                    ("status", json!({ "type": "string" })),
                    ("error", json!({ "type": ["string", "null"] })),
                    (
                        "actor_user_id",
                        json!({ "type": ["string", "null"], "format": UUID }),
                    ),
                    (
                        "created_at",
                        json!({ "type": "string", "format": "date-time" }),
                    ),
                ],
                &[
                    "id",
                    "project_id",
                    "op_type",
                    "payload_json",
                    "status",
                    "created_at",
                ],
            ),
        ),
        (
            "SchemaDocument",
            object(
                &[
                    (
                        "format",
                        json!({ "type": "string", "const": "backendify.schema/v1" }),
                    ),
                    (
                        "collections",
                        json!({ "type": "array", "items": collection_doc }),
                    ),
                    (
                        "views",
                        json!({ "type": "array", "items": {
                        "type": "object",
                        "description": "A view as `POST …/views` takes it, naming `base_collection` instead of `base_collection_id`.",
                    } }),
                    ),
                    ("policies", json!({ "type": "array", "items": {} })),
                    ("validations", json!({ "type": "array", "items": {} })),
                ],
                &["format", "collections"],
            ),
        ),
    ]
}
