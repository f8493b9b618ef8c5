//! The admin API's own documentation: `GET /openapi.json` (OpenAPI 3.1, hand-maintained beside
//! the routes of [`super::routes`], which a test holds it to) and `GET /docs`, one self-contained
//! page that renders it, or a project's data-API document, without fetching anything from
//! outside. Each area's operations live in a submodule; this file holds the builder and the
//! shared components.

mod access;
mod admin;
mod auth_config;
mod evolution;
mod schema;
mod validations;
mod views;
mod webhooks;
mod workflows;

use axum::response::Html;
use axum::Json;
use serde_json::{json, Map, Value};
use std::sync::LazyLock;

/// The docs page: plain HTML, CSS and JS, no external resources.
const DOCS_PAGE: &str = include_str!("openapi/docs.html");

static DOCUMENT: LazyLock<Value> = LazyLock::new(document_value);

/// `GET /openapi.json`
pub async fn document() -> Json<Value> {
    Json(DOCUMENT.clone())
}

/// `GET /docs`
pub async fn docs_page() -> Html<&'static str> {
    Html(DOCS_PAGE)
}

/// The admin API document.
pub fn document_value() -> Value {
    let mut paths = Map::new();
    let ops: Vec<Op> = [
        admin::ops(),
        auth_config::ops(),
        schema::ops(),
        evolution::ops(),
        views::ops(),
        access::ops(),
        validations::ops(),
        webhooks::ops(),
        workflows::ops(),
    ]
    .into_iter()
    .flatten()
    .collect();
    for op in ops {
        let (method, path, body) = op.finish();
        let entry = paths.entry(path).or_insert_with(|| json!({}));
        entry[method] = body;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Backendify admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Configuration of the platform: admin accounts, projects and their schema \
                (collections, fields, relations, evolution, schema documents), view definitions, access \
                policies and roles, field validation rules, and webhooks. \
                A project's data API (records, view execution) has its own document at \
                `/api/projects/{project_id}/openapi.json`. Every error body has a `detail` key.",
        },
        "servers": [{ "url": "/" }],
        "security": [{ "bearerAuth": [] }],
        "tags": [
            { "name": "meta", "description": "Health, service info and this documentation." },
            { "name": "auth", "description": "Admin accounts and their tokens." },
            { "name": "projects", "description": "Projects the admin is a member of." },
            { "name": "collections", "description": "Collections and fields." },
            { "name": "relations", "description": "Many-to-one relation fields with real foreign keys." },
            { "name": "evolution", "description": "Renames with aliases, soft and hard deletes, type changes, previews, pending changes, history." },
            { "name": "schema-documents", "description": "Schema as code: export and import." },
            { "name": "audit", "description": "The schema-op log." },
            { "name": "views", "description": "View definitions (executed by the data API)." },
            { "name": "policies", "description": "Access policies of collections (enforced by the data API)." },
            { "name": "rbac", "description": "Roles app users can hold (assigned through the data API)." },
            { "name": "validations", "description": "Field validation rules (applied by the data API)." },
            { "name": "webhooks", "description": "Webhook definitions and their signing secrets (deliveries are the data API's)." },
            { "name": "workflows", "description": "Workflow definitions (runs are the data API's)." },
        ],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                    "description": "An admin access token from `/api/auth/login` or `/api/auth/register`.",
                },
            },
            "schemas": schemas(),
            "responses": responses(),
            "headers": {
                "X-Config-Lagging-Workers": {
                    "description": "Workers that had not applied the new config when the bounded wait ended (absent when all did).",
                    "schema": { "type": "string" },
                },
            },
        },
    })
}

/// A reference to a component schema.
fn sref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// An array of a component schema.
fn list_of(name: &str) -> Value {
    json!({ "type": "array", "items": sref(name) })
}

/// An object schema: `props` as `(name, schema)`, `required` listed.
fn object(props: &[(&str, Value)], required: &[&str]) -> Value {
    let props: Map<String, Value> = props
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    let mut s = json!({ "type": "object", "properties": props });
    if !required.is_empty() {
        s["required"] = json!(required);
    }
    s
}

/// A string schema with a description.
fn text(description: &str) -> Value {
    json!({ "type": "string", "description": description })
}

/// `{"type": "boolean", "default": false}`.
fn flag() -> Value {
    json!({ "type": "boolean", "default": false })
}

const UUID: &str = "uuid";

/// What a path parameter is, by name.
fn path_param(name: &str) -> Value {
    let (format, description) = match name {
        "project_id" => (
            Some(UUID),
            "The project (404 unless the caller is a member).",
        ),
        "collection_name" => (None, "The collection's current name."),
        "field_name" => (None, "The field's current name."),
        "collection_id" => (Some(UUID), "The collection's id."),
        "field_id" => (Some(UUID), "The field's id."),
        "change_id" => (Some(UUID), "The pending change's id."),
        "view_name" => (None, "The view's name."),
        "policy_id" => (Some(UUID), "The policy's id (of this collection)."),
        "role_id" => (Some(UUID), "The role's id (of this project)."),
        "rule_id" => (Some(UUID), "The validation rule's id."),
        "webhook_id" => (Some(UUID), "The webhook's id (of this project)."),
        "workflow_id" => (Some(UUID), "The workflow's id (of this project)."),
        _ => (None, ""),
    };
    let mut schema = json!({ "type": "string" });
    if let Some(f) = format {
        schema["format"] = json!(f);
    }
    json!({ "name": name, "in": "path", "required": true, "schema": schema, "description": description })
}

/// One documented operation, built step by step.
pub(super) struct Op {
    method: &'static str,
    path: String,
    body: Map<String, Value>,
    responses: Map<String, Value>,
    params: Vec<Value>,
    pushed: bool,
}

/// Starts an operation: `method` in lower case, `path` as routed (`{name}` templates).
fn op(method: &'static str, path: impl Into<String>, tag: &str, summary: &str) -> Op {
    let mut body = Map::new();
    body.insert("tags".into(), json!([tag]));
    body.insert("summary".into(), json!(summary));
    Op {
        method,
        path: path.into(),
        body,
        responses: Map::new(),
        params: Vec::new(),
        pushed: false,
    }
}

impl Op {
    /// A longer description.
    fn about(mut self, description: &str) -> Self {
        self.body.insert("description".into(), json!(description));
        self
    }

    /// Needs no token.
    fn public(mut self) -> Self {
        self.body.insert("security".into(), json!([]));
        self
    }

    /// An optional query parameter.
    fn query(mut self, name: &str, schema: Value, description: &str) -> Self {
        self.params.push(json!({ "name": name, "in": "query", "required": false, "schema": schema, "description": description }));
        self
    }

    /// A required JSON body.
    fn body(mut self, schema: Value) -> Self {
        self.body.insert(
            "requestBody".into(),
            json!({ "required": true, "content": { "application/json": { "schema": schema } } }),
        );
        self
    }

    /// A request body given as is (several media types).
    fn raw_body(mut self, body: Value) -> Self {
        self.body.insert("requestBody".into(), body);
        self
    }

    /// A JSON success response (`Value::Null`: no body).
    fn ok(mut self, status: u16, description: &str, schema: Value) -> Self {
        let mut res = json!({ "description": description });
        if !schema.is_null() {
            res["content"] = json!({ "application/json": { "schema": schema } });
        }
        self.responses.insert(status.to_string(), res);
        self
    }

    /// A success response given as is.
    fn raw_ok(mut self, status: u16, res: Value) -> Self {
        self.responses.insert(status.to_string(), res);
        self
    }

    /// Error responses beyond the ones the path implies (401 and 404 for project routes).
    fn errors(mut self, codes: &[u16]) -> Self {
        for code in codes {
            self.responses.insert(code.to_string(), error_ref(*code));
        }
        self
    }

    /// Changes the config: answers after the workers applied it (or says who lags).
    fn pushed(mut self) -> Self {
        self.pushed = true;
        self
    }

    /// `(method, path, operation object)`.
    fn finish(mut self) -> (&'static str, String, Value) {
        let guarded = !self.body.contains_key("security");
        if guarded {
            self.responses.insert("401".into(), error_ref(401));
        }
        if self.path.starts_with("/api/projects/{project_id}") {
            self.responses.insert("404".into(), error_ref(404));
        }
        if self.pushed {
            for (status, res) in self.responses.iter_mut() {
                if status.starts_with('2') {
                    res["headers"] = json!({ "X-Config-Lagging-Workers": { "$ref": "#/components/headers/X-Config-Lagging-Workers" } });
                }
            }
        }
        let mut params: Vec<Value> = templates(&self.path).map(path_param).collect();
        params.append(&mut self.params);
        if !params.is_empty() {
            self.body.insert("parameters".into(), json!(params));
        }
        self.body.insert(
            "operationId".into(),
            json!(operation_id(self.method, &self.path)),
        );
        self.body
            .insert("responses".into(), Value::Object(self.responses));
        (self.method, self.path, Value::Object(self.body))
    }
}

/// The `{name}` templates of a path.
fn templates(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
}

/// `post_schema_collections_by_collection_name_fields`: unique because method and path are.
fn operation_id(method: &str, path: &str) -> String {
    let rest = path
        .strip_prefix("/api/projects/{project_id}")
        .or_else(|| path.strip_prefix("/api"))
        .unwrap_or(path);
    let words: Vec<String> = rest
        .split('/')
        .filter(|s| !s.is_empty())
        .map(
            |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => format!("by_{name}"),
                None => s.replace(['-', '.'], "_"),
            },
        )
        .collect();
    if words.is_empty() {
        let scope = if path.starts_with("/api/projects") {
            "project"
        } else {
            "root"
        };
        format!("{method}_{scope}")
    } else {
        format!("{method}_{}", words.join("_"))
    }
}

fn error_ref(code: u16) -> Value {
    let name = match code {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        409 => "Conflict",
        413 => "TooLarge",
        _ => "ValidationFailed",
    };
    json!({ "$ref": format!("#/components/responses/{name}") })
}

fn responses() -> Value {
    let e = |d: &str| json!({ "description": d, "content": { "application/json": { "schema": sref("Error") } } });
    json!({
        "BadRequest": e("A business rule refused the request (reserved name, unsafe change, …)."),
        "Unauthorized": e("`Not authenticated`, `Invalid token` or `User not found`."),
        "Forbidden": e("The thing may not be changed (a system role)."),
        "NotFound": e("`Project not found` (also for non-members), or the named thing does not exist."),
        "Conflict": e("A name is taken, or the schema is busy (a lock wait gave up)."),
        "TooLarge": e("The body is larger than the server accepts."),
        "ValidationFailed": {
            "description": "The request's shape: malformed JSON, a missing key, a wrong type or length.",
            "content": { "application/json": { "schema": sref("ValidationError") } },
        },
    })
}

/// Component schemas of every area.
fn schemas() -> Map<String, Value> {
    let item = object(
        &[
            (
                "type",
                text("Kind, e.g. `missing`, `string_type`, `json_invalid`."),
            ),
            (
                "loc",
                json!({ "type": "array", "items": { "type": ["string", "integer"] } }),
            ),
            ("msg", json!({ "type": "string" })),
            ("input", json!({})),
            ("ctx", json!({ "type": "object" })),
        ],
        &["type", "loc", "msg"],
    );
    let mut map = Map::new();
    map.insert(
        "Error".into(),
        object(
            &[
                ("detail", json!({ "type": "string" })),
                ("code", text("Stable machine-readable kind.")),
            ],
            &["detail"],
        ),
    );
    map.insert(
        "ValidationError".into(),
        object(
            &[("detail", json!({ "type": "array", "items": item }))],
            &["detail"],
        ),
    );
    for (name, schema) in [
        admin::schemas(),
        auth_config::schemas(),
        schema::schemas(),
        evolution::schemas(),
        views::schemas(),
        access::schemas(),
        validations::schemas(),
        webhooks::schemas(),
        workflows::schemas(),
    ]
    .into_iter()
    .flatten()
    {
        map.insert(name.into(), schema);
    }
    map
}

#[cfg(test)]
mod tests;
