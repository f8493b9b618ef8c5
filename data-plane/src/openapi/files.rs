//! The files part of a project's document (`spec/files.md`), and the other data-plane routes of
//! admins: a webhook's deliveries, test and retry, and the audit log's events, export and check.

use super::{json_content, responses, schema_ref};
use serde_json::{json, Map, Value};

fn op(tag: &str, summary: &str, description: &str, ok: (u16, Value), errors: &[u16]) -> Value {
    json!({
        "tags": [tag],
        "summary": summary,
        "description": description,
        "responses": responses(ok, errors),
    })
}

fn ok(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": json_content(schema) })
}

fn path_param(name: &str, description: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" },
            "description": description })
}

fn query(name: &str, schema: Value, description: &str) -> Value {
    json!({ "name": name, "in": "query", "required": false, "schema": schema,
            "description": description })
}

fn with_params(mut op: Value, params: Vec<Value>) -> Value {
    op["parameters"] = Value::Array(params);
    op
}

/// The paths under `{base}/files`.
pub(super) fn paths(base: &str) -> Vec<(String, Value)> {
    let f = format!("{base}/files");
    let file_id = || path_param("file_id", "The file's id.");
    let who = "Member admins; app users and API keys when the project's file policies allow \
               (policies of the `_files` pseudo-collection).";
    let upload_body = json!({ "required": true, "content": { "multipart/form-data": { "schema": {
        "type": "object",
        "properties": {
            "file": { "type": "string", "format": "binary", "description": "The file; its name decides the extension (the last one): jpg jpeg png gif webp pdf txt csv json xml doc docx xls xlsx." },
            "bucket": { "type": "string", "description": "A flat label." },
            "is_public": { "type": "string", "description": "true/false/1/0/yes/no/on/off (default false): anyone may download a public file." },
            "collection_id": { "type": "string", "format": "uuid" },
            "record_id": { "type": "string" },
            "field_name": { "type": "string" },
        },
        "required": ["file"],
    } } } });
    let mut upload = op(
        "files",
        "Upload a file",
        &format!(
            "Streams the file into the store; `MAX_FILE_SIZE` is checked as it arrives. {who}"
        ),
        (201, ok("Stored.", schema_ref("FileUploaded"))),
        &[400, 401, 403, 404, 422],
    );
    upload["requestBody"] = upload_body;
    let list = with_params(
        op(
            "files",
            "List files",
            &format!("Newest first; only the files the caller may read. {who}"),
            (
                200,
                ok(
                    "Files.",
                    json!({ "type": "array", "items": schema_ref("File") }),
                ),
            ),
            &[401, 403, 404, 422],
        ),
        vec![
            query("bucket", json!({ "type": "string" }), "Exact match."),
            query("collection_id", json!({ "type": "string" }), "Exact match."),
            query("record_id", json!({ "type": "string" }), "Exact match."),
            query(
                "limit",
                json!({ "type": "integer", "minimum": 1, "maximum": 1000, "default": 100 }),
                "",
            ),
            query(
                "offset",
                json!({ "type": "integer", "minimum": 0, "default": 0 }),
                "",
            ),
        ],
    );
    let stats = op(
        "files",
        "Count and size of the files",
        "Of the files the caller may read.",
        (
            200,
            ok(
                "Totals.",
                json!({ "type": "object", "properties": {
            "file_count": { "type": "integer" }, "total_bytes": { "type": "integer" },
            "total_mb": { "type": "number" },
        } }),
            ),
        ),
        &[401, 403, 404],
    );
    let get = with_params(
        op(
            "files",
            "A file's metadata",
            who,
            (200, ok("The file.", schema_ref("FileUploaded"))),
            &[401, 403, 404],
        ),
        vec![file_id()],
    );
    let delete = with_params(
        op(
            "files",
            "Delete a file",
            "Removes the row, then the stored object.",
            (204, json!({ "description": "Deleted." })),
            &[401, 403, 404],
        ),
        vec![file_id()],
    );
    let mut download = with_params(
        op(
            "files",
            "Download a file",
            "Public files: anyone. Private files: member admins, callers the `read` file policy \
             allows, or a signed URL (`expires` and `signature`). One `Range` answers 206 (416 past \
             the end); `If-None-Match` with the `ETag` answers 304. Always an attachment, with \
             `X-Content-Type-Options: nosniff`.",
            (200, json!({ "description": "The bytes, with the stored `Content-Type`.",
                          "content": { "application/octet-stream": { "schema": { "type": "string", "format": "binary" } } } })),
            &[401, 403, 404],
        ),
        vec![
            file_id(),
            query("expires", json!({ "type": "integer" }), "Of a signed URL: its expiry (Unix seconds)."),
            query("signature", json!({ "type": "string" }), "Of a signed URL."),
        ],
    );
    download["security"] = json!([{}, { "bearerAuth": [] }, { "apiKey": [] }]);
    let mut signed = with_params(
        op(
            "files",
            "A signed download URL",
            "A URL that downloads the file without credentials until it expires; rotating the \
             project's signing key ends it sooner.",
            (
                200,
                ok(
                    "The URL (relative, like `download_url`).",
                    json!({ "type": "object", "properties": {
                "url": { "type": "string" }, "expires_at": { "type": "string", "format": "date-time" },
                "expires_in": { "type": "integer" },
            } }),
                ),
            ),
            &[401, 403, 404, 422],
        ),
        vec![file_id()],
    );
    signed["requestBody"] = json!({ "required": false, "content": json_content(json!({
        "type": "object",
        "properties": { "expires_in": { "type": "integer", "minimum": 1, "maximum": 604800, "default": 3600 } },
    })) });
    vec![
        (format!("{f}/upload"), json!({ "post": upload })),
        (f.clone(), json!({ "get": list })),
        (format!("{f}/stats"), json!({ "get": stats })),
        (
            format!("{f}/{{file_id}}"),
            json!({ "get": get, "delete": delete }),
        ),
        (
            format!("{f}/{{file_id}}/download"),
            json!({ "get": download }),
        ),
        (
            format!("{f}/{{file_id}}/signed-url"),
            json!({ "post": signed }),
        ),
    ]
}

/// The webhook and audit routes workers serve (member admins only).
pub(super) fn admin_paths(base: &str) -> Vec<(String, Value)> {
    let w = format!("{base}/webhooks/{{webhook_id}}");
    let hook = || path_param("webhook_id", "The webhook's id.");
    let delivery = json!({ "type": "object", "description": "One delivery: `id`, `webhook_id`, `event_type`, `status` (pending, delivered, failed), `attempts`, `response_status`, `response_body` (first 4 KiB), `error`, timestamps." });
    let audit_filters = || {
        [
            ("collection_id", "Exact match (or `collection`: its name)."),
            ("record_id", "Exact match."),
            ("action", "Exact match, e.g. `create`, `auth.login`."),
            ("actor_type", "`admin_user`, `app_user` or `api_key`."),
            (
                "start_date",
                "Inclusive lower bound on `created_at` (ISO 8601).",
            ),
            (
                "end_date",
                "Inclusive upper bound on `created_at` (ISO 8601).",
            ),
            (
                "search",
                "Case-insensitive substring of the record id, data or IP.",
            ),
        ]
        .into_iter()
        .map(|(n, d)| query(n, json!({ "type": "string" }), d))
        .collect::<Vec<_>>()
    };
    let mut events_params = audit_filters();
    events_params.push(query(
        "limit",
        json!({ "type": "integer", "minimum": 1, "maximum": 1000, "default": 100 }),
        "",
    ));
    events_params.push(query(
        "offset",
        json!({ "type": "integer", "minimum": 0, "default": 0 }),
        "",
    ));
    let mut export_params = audit_filters();
    export_params.push(query(
        "format",
        json!({ "type": "string", "enum": ["ndjson", "csv"] }),
        "Default `ndjson`.",
    ));
    vec![
        (
            format!("{w}/deliveries"),
            json!({ "get": with_params(op("webhooks", "A webhook's deliveries", "The newest 50, newest first.", (200, ok("Deliveries.", json!({ "type": "array", "items": delivery.clone() }))), &[401, 404]), vec![hook()]) }),
        ),
        (
            format!("{w}/test"),
            json!({ "post": with_params(op("webhooks", "Send a test event", "Queues a `webhook.test` event for this webhook alone, also when it is off.", (202, ok("Queued.", delivery.clone())), &[401, 404]), vec![hook()]) }),
        ),
        (
            format!("{w}/deliveries/{{delivery_id}}/retry"),
            json!({ "post": with_params(op("webhooks", "Retry a delivery", "Sends it once more, now, with the same `webhook-id`.", (202, ok("Queued.", delivery)), &[401, 404]), vec![hook(), path_param("delivery_id", "The delivery's id.")]) }),
        ),
        (
            format!("{base}/audit/events"),
            json!({ "get": with_params(op("audit", "Audit events", "Newest first.", (200, ok("A page.", json!({ "type": "object", "properties": {
                "events": { "type": "array", "items": { "type": "object" } }, "total": { "type": "integer" },
                "limit": { "type": "integer" }, "offset": { "type": "integer" },
            } }))), &[401, 404, 422]), events_params) }),
        ),
        (
            format!("{base}/audit/events/export"),
            json!({ "get": with_params(op("audit", "Export audit events", "Every matching event, streamed.", (200, json!({ "description": "NDJSON or CSV.", "content": { "application/x-ndjson": {}, "text/csv": {} } })), &[401, 404, 422]), export_params) }),
        ),
        (
            format!("{base}/audit/verify"),
            json!({ "get": op("audit", "Check the audit chain", "Walks the hash chain; names the first event that was changed or removed.", (200, ok("The result.", json!({ "type": "object" }))), &[401, 404]) }),
        ),
    ]
}

/// The workflow-run routes workers serve (member admins only).
pub(super) fn workflow_paths(base: &str) -> Vec<(String, Value)> {
    let w = format!("{base}/workflows/{{workflow_id}}");
    let flow = || path_param("workflow_id", "The workflow's id.");
    let run = json!({ "type": "object", "description": "A run: `id`, `workflow_id`, `status` (pending, running, waiting, completed, failed), `depth`, `trigger` (what templates read as `trigger`), `next_step`, `steps_run`, `error`, `created_at`, `started_at`, `finished_at`, `resumes_at` (when a waiting run goes on)." });
    let run_with_steps = json!({ "type": "object", "description": "A run with `steps`: each executed step's `step_index`, `name`, `action`, `status` (running, completed, failed, retrying), `input` (templates rendered), `output`, `error`, `attempts`, `started_at`, `finished_at`, `duration_ms`." });
    let list_params = vec![
        flow(),
        query(
            "limit",
            json!({ "type": "integer", "minimum": 1, "maximum": 100, "default": 20 }),
            "",
        ),
        query(
            "offset",
            json!({ "type": "integer", "minimum": 0, "default": 0 }),
            "",
        ),
        query(
            "status",
            json!({ "type": "string", "enum": ["pending", "running", "waiting", "completed", "failed"] }),
            "Only runs in this status.",
        ),
    ];
    let start = "Starts a run at once. The optional body is the input object, or `{\"input\": {…}}`; templates read it as `trigger.input` (and its `record`, if any, as `trigger.record`).";
    vec![
        (
            format!("{w}/runs"),
            json!({ "get": with_params(op("workflows", "A workflow's runs", "Newest first.", (200, ok("A page.", json!({ "type": "object", "properties": {
                "runs": { "type": "array", "items": run }, "total": { "type": "integer" },
                "limit": { "type": "integer" }, "offset": { "type": "integer" },
            } }))), &[401, 404, 422]), list_params) }),
        ),
        (
            format!("{w}/runs/{{run_id}}"),
            json!({ "get": with_params(op("workflows", "A run with its steps", "Each executed step with its input, output, error, attempts and timings.", (200, ok("The run.", run_with_steps.clone())), &[401, 404]), vec![flow(), path_param("run_id", "The run's id.")]) }),
        ),
        (
            format!("{w}/run"),
            json!({ "post": with_params(op("workflows", "Run a workflow now", start, (202, ok("The run, as queued.", run_with_steps)), &[401, 404, 422]), vec![flow()]) }),
        ),
    ]
}

/// `File` (a list item) and `FileUploaded` (with `download_url`).
pub(super) fn schemas() -> Map<String, Value> {
    let mut file = json!({
        "type": "object",
        "properties": {
            "id": { "type": "string", "format": "uuid" },
            "filename": { "type": "string", "description": "Stored name: `<UTC YYYYMMDDHHMMSS>_<16 hex>.<ext>`." },
            "original_filename": { "type": "string" },
            "content_type": { "type": "string" },
            "size_bytes": { "type": "integer" },
            "bucket": { "type": ["string", "null"] },
            "collection_id": { "type": ["string", "null"] },
            "record_id": { "type": ["string", "null"] },
            "field_name": { "type": ["string", "null"] },
            "is_public": { "type": "boolean" },
            "uploaded_by_user_id": { "type": ["string", "null"] },
            "uploaded_by_app_user_id": { "type": ["string", "null"] },
            "created_at": { "type": "string", "format": "date-time" },
            "updated_at": { "type": "string", "format": "date-time" },
        },
        "required": ["id", "filename", "original_filename", "content_type", "size_bytes", "is_public", "created_at"],
    });
    let mut uploaded = file.clone();
    uploaded["properties"]["download_url"] = json!({ "type": "string", "description": "`/api/projects/{project_id}/files/{id}/download`" });
    file["description"] = json!("A stored file.");
    let mut map = Map::new();
    map.insert("File".into(), file);
    map.insert("FileUploaded".into(), uploaded);
    map
}
