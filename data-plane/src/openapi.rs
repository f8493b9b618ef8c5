//! The data API of one project as an OpenAPI 3.1 document (`GET /api/projects/{id}/openapi.json`),
//! built from the compiled config alone: every collection by its current name (`_users`
//! included) with its record, input and page schemas, and every view's `execute`. Hidden and
//! soft-deleted fields never appear, so the document reveals no more than the data API serves.
//! Pure: no database, no clock.

use crate::query::filter::Op;
use crate::registry::{Project, SYSTEM_COLUMNS};
use model::{CollectionConfig, FieldConfig, FieldType, IdKind, ProjectConfig, ViewConfig};
use serde_json::{json, Map, Value};

/// Query parameters of a list that are not filters; a column of the same name is not offered as
/// a filter parameter (the first meaning wins on the server too).
const LIST_PARAMS: [&str; 5] = ["limit", "offset", "sort", "expand", "skip_total"];

/// The OpenAPI document of a project's data API.
pub fn document(project: &Project) -> Value {
    let cfg = &project.config;
    let base = format!("/api/projects/{}", cfg.project_id);
    let mut paths = Map::new();
    let mut schemas = shared_schemas();
    let mut tags = Vec::new();
    for c in &cfg.collections {
        let list = format!("{base}/data/{}", c.name);
        paths.insert(list.clone(), collection_path(c));
        paths.insert(format!("{list}/{{record_id}}"), record_path(c));
        let (record, input, update, page) = schema_names(c);
        schemas.insert(record, record_schema(cfg, c));
        schemas.insert(input, input_schema(cfg, c, true));
        schemas.insert(update, input_schema(cfg, c, false));
        schemas.insert(page, page_schema(c));
        let what = if c.is_system {
            "App users (the `_users` system collection)."
        } else {
            "Records of this collection."
        };
        tags.push(json!({ "name": c.name, "description": what }));
    }
    let mut views = false;
    for v in &cfg.views {
        if let Some(c) = cfg
            .collections
            .iter()
            .find(|c| c.id == v.base_collection_id)
        {
            paths.insert(
                format!("{base}/views/{}/execute", v.name),
                view_path(cfg, c, v),
            );
            views = true;
        }
    }
    if views {
        tags.push(json!({ "name": "views", "description": "Saved queries." }));
    }
    paths.extend(auth::paths(cfg, &base));
    schemas.extend(auth::schemas());
    paths.extend(files::paths(&base));
    paths.extend(files::admin_paths(&base));
    paths.extend(files::workflow_paths(&base));
    schemas.extend(files::schemas());
    let names: Vec<&str> = cfg.collections.iter().map(|c| c.name.as_str()).collect();
    paths.extend(realtime::paths(&base, &names));
    schemas.extend(realtime::schemas());
    tags.push(json!({ "name": "auth", "description": "App-user sign-up, sign-in and sessions." }));
    tags.push(json!({ "name": "app-users", "description": "Admins' management of app users and the roles they hold." }));
    tags.push(json!({ "name": "files", "description": "Stored files: upload, list, download, signed URLs." }));
    tags.push(json!({ "name": "webhooks", "description": "Deliveries of the project's webhooks (member admins)." }));
    tags.push(json!({ "name": "workflows", "description": "Runs of the project's workflows (member admins)." }));
    tags.push(json!({ "name": "audit", "description": "The audit log (member admins)." }));
    tags.push(json!({ "name": "realtime", "description": "Record changes as they happen (Server-Sent Events)." }));
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": format!("{} data API", cfg.name),
            "version": cfg.version.to_string(),
            "description": format!(
                "Records of project `{}` (config version {}). Access is decided per request by \
                 the project's policies: a member admin's token, an API key, an app user's token \
                 or nobody.",
                cfg.name, cfg.version
            ),
        },
        "servers": [{ "url": "/" }],
        "security": [{ "bearerAuth": [] }, { "apiKey": [] }, {}],
        "tags": tags,
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                    "description": "An admin access token or an app user's access token.",
                },
                "apiKey": { "type": "apiKey", "in": "header", "name": "X-API-Key" },
            },
            "schemas": schemas,
            "responses": error_responses(),
        },
    })
}

/// Component names of a collection: record, create body, update body, list page. Collection
/// names are lower case, so the upper-case suffixes cannot collide with another collection.
fn schema_names(c: &CollectionConfig) -> (String, String, String, String) {
    let n = &c.name;
    (
        n.clone(),
        format!("{n}Input"),
        format!("{n}Update"),
        format!("{n}Page"),
    )
}

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn response_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/responses/{name}") })
}

fn json_content(schema: Value) -> Value {
    json!({ "application/json": { "schema": schema } })
}

/// The error responses an operation may give, by status.
fn errors(codes: &[u16]) -> Map<String, Value> {
    codes
        .iter()
        .map(|code| {
            let name = match code {
                400 => "BadRequest",
                401 => "Unauthorized",
                403 => "Forbidden",
                404 => "NotFound",
                409 => "Conflict",
                429 => "TooManyRequests",
                _ => "ValidationFailed",
            };
            (code.to_string(), response_ref(name))
        })
        .collect()
}

fn responses(ok: (u16, Value), codes: &[u16]) -> Value {
    let mut map = Map::new();
    map.insert(ok.0.to_string(), ok.1);
    map.extend(errors(codes));
    Value::Object(map)
}

/// The fields a record shows: neither hidden nor soft-deleted.
fn visible(c: &CollectionConfig) -> impl Iterator<Item = &FieldConfig> {
    c.fields.iter().filter(|f| !f.is_hidden && !f.is_deleted)
}

/// The JSON type of a value of a field type.
fn scalar(ty: FieldType, sql_type: &str) -> Value {
    match ty {
        FieldType::Int => json!({ "type": "integer", "format": "int64" }),
        FieldType::Float => json!({ "type": "number", "format": "double" }),
        FieldType::Bool => json!({ "type": "boolean" }),
        FieldType::Date => json!({ "type": "string", "format": "date" }),
        FieldType::Datetime => json!({ "type": "string", "format": "date-time" }),
        FieldType::Uuid => json!({ "type": "string", "format": "uuid" }),
        // A relation holds its target's id: an integer, or the text id of an app user.
        FieldType::Relation if sql_type == "bigint" => {
            json!({ "type": "integer", "format": "int64" })
        }
        FieldType::Relation | FieldType::String | FieldType::Text => json!({ "type": "string" }),
        // Any JSON value: no `type` (a schema without one admits every value, `null` too).
        FieldType::Json => {
            json!({ "description": "Any JSON value: object, array, string, number or boolean." })
        }
    }
}

/// `schema` that also admits `null`.
fn nullable(mut schema: Value) -> Value {
    if let Some(t) = schema.get("type").cloned() {
        schema["type"] = json!([t, "null"]);
    }
    schema
}

fn id_schema(c: &CollectionConfig) -> Value {
    match c.id_kind {
        IdKind::Int => json!({ "type": "integer", "format": "int64" }),
        IdKind::Uuid => json!({ "type": "string", "format": "uuid" }),
    }
}

/// What a relation field points at, for its description.
fn relation_text(cfg: &ProjectConfig, f: &FieldConfig) -> Option<String> {
    let r = f.relation.as_ref()?;
    let target = cfg
        .collections
        .iter()
        .find(|c| c.id == r.target_collection_id)
        .map_or("another collection", |c| c.name.as_str());
    Some(format!(
        "Id of a `{target}` record (field `{}`; on delete {}).",
        f.name, r.on_delete
    ))
}

fn field_schema(cfg: &ProjectConfig, f: &FieldConfig, allow_null: bool) -> Value {
    let mut s = scalar(f.field_type, &f.sql_type);
    if allow_null {
        s = nullable(s);
    }
    if let Some(text) = relation_text(cfg, f) {
        s["description"] = json!(text);
    }
    s
}

/// A record: the system columns, then one key per visible field, by column name. Every key is
/// always present (missing values are `null`).
fn record_schema(cfg: &ProjectConfig, c: &CollectionConfig) -> Value {
    let mut props = Map::new();
    let mut id = id_schema(c);
    id["readOnly"] = json!(true);
    props.insert("id".into(), id);
    for col in ["created_at", "updated_at"] {
        props.insert(
            col.into(),
            json!({ "type": "string", "format": "date-time", "readOnly": true }),
        );
    }
    props.insert("created_by_user_id".into(), json!({ "type": ["string", "null"], "format": "uuid", "readOnly": true, "description": "The admin who created the record." }));
    props.insert("created_by_app_user_id".into(), json!({ "type": ["string", "null"], "format": "uuid", "readOnly": true, "description": "The app user who created the record." }));
    for f in visible(c) {
        props.insert(f.column.clone(), field_schema(cfg, f, !f.is_required));
    }
    let required: Vec<&String> = props.keys().collect();
    json!({ "type": "object", "properties": props, "required": required })
}

/// A create (`required` listed) or update body: the writable fields by name. A relation is also
/// accepted under its column name (`author_id`); unknown keys answer 400, system columns are
/// ignored. A required field must be sent when the column has no default: relations, and the
/// email of an app user (every other required field was given a default when it became required).
fn input_schema(cfg: &ProjectConfig, c: &CollectionConfig, create: bool) -> Value {
    let mut props = Map::new();
    let mut required = Vec::new();
    for f in visible(c) {
        let mut s = field_schema(cfg, f, !f.is_required);
        if f.column != f.name {
            let also = format!("Also accepted as `{}`.", f.column);
            s["description"] = json!(match s.get("description").and_then(Value::as_str) {
                Some(d) => format!("{d} {also}"),
                None => also,
            });
        }
        props.insert(f.name.clone(), s);
        if create && f.is_required && (f.field_type == FieldType::Relation || f.is_system) {
            required.push(f.name.clone());
        }
    }
    let mut s = json!({ "type": "object", "properties": props });
    if !required.is_empty() {
        s["required"] = json!(required);
    }
    s
}

fn page_schema(c: &CollectionConfig) -> Value {
    json!({
        "type": "object",
        "properties": {
            "records": { "type": "array", "items": schema_ref(&c.name) },
            "total": { "type": "integer", "description": "Rows matching the filters (limit and offset ignored)." },
            "limit": { "type": "integer" },
            "offset": { "type": "integer" },
        },
        "required": ["records", "total", "limit", "offset"],
    })
}

/// Columns a list may filter and sort by: system columns, then visible fields (by column name).
fn columns(c: &CollectionConfig) -> Vec<(String, Value, Option<String>)> {
    let mut out = vec![("id".to_owned(), id_schema(c), None)];
    for col in ["created_at", "updated_at"] {
        out.push((col.to_owned(), scalar(FieldType::Datetime, ""), None));
    }
    for col in ["created_by_user_id", "created_by_app_user_id"] {
        out.push((col.to_owned(), scalar(FieldType::Uuid, ""), None));
    }
    for f in visible(c) {
        let alias = (f.name != f.column).then(|| f.name.clone());
        out.push((f.column.clone(), scalar(f.field_type, &f.sql_type), alias));
    }
    out
}

fn query_param(name: &str, schema: Value, description: &str) -> Value {
    json!({ "name": name, "in": "query", "required": false, "schema": schema, "description": description })
}

fn list_params(c: &CollectionConfig) -> Vec<Value> {
    let cols = columns(c);
    let json_cols: Vec<&str> = visible(c)
        .filter(|f| f.field_type == FieldType::Json)
        .map(|f| f.column.as_str())
        .collect();
    let names: Vec<&str> = cols
        .iter()
        .map(|(n, _, _)| n.as_str())
        .filter(|n| !json_cols.contains(n))
        .collect();
    let relations: Vec<&str> = visible(c)
        .filter(|f| f.field_type == FieldType::Relation)
        .map(|f| f.name.as_str())
        .collect();
    let ops: Vec<&str> = Op::ALL.iter().skip(1).map(|(name, _)| *name).collect();
    let mut params = vec![
        query_param("limit", json!({ "type": "integer", "minimum": 1, "maximum": 1000, "default": 100 }), "Page size (1–1000; else 422)."),
        query_param("offset", json!({ "type": "integer", "minimum": 0, "default": 0 }), "Rows to skip."),
        query_param("sort", json!({ "type": "string" }), &format!(
            "Comma-separated keys, `-` prefix for descending (default `-id`); unknown keys are ignored. Keys: {}.",
            names.join(", ")
        )),
        query_param("expand", json!({ "type": "string" }), &format!(
            "Comma-separated relation fields whose target record is embedded under the field's name (one level). Relations: {}.",
            if relations.is_empty() { "none".to_owned() } else { relations.join(", ") }
        )),
        query_param("skip_total", json!({ "type": "boolean", "default": false }), "Skip counting the matching rows (`total` is then not computed)."),
    ];
    for (col, schema, alias) in cols {
        if LIST_PARAMS.contains(&col.as_str()) {
            continue;
        }
        let is_json = json_cols.contains(&col.as_str());
        let mut text = if is_json {
            format!("Filter on a json field, the value given as JSON text: `{col}=<json>` is JSON equality; `{col}__neq=<json>`; `{col}__contains=<json>` is JSON containment (`{col}__contains={{\"tier\":\"gold\"}}` matches objects holding that key and value); `{col}__isnull`/`{col}__isnotnull` take true or false. Other operators, malformed JSON, and sorting by this field answer 400.")
        } else {
            format!(
            "Filter: `{col}=v` is equality. Other operators as a suffix, `{col}__<op>=v` with <op> one of {} (`in`/`notin` take comma-separated values, `isnull`/`isnotnull` take true or false). Values are converted to the column's type (400 when they do not convert).",
            ops.join(", ")
        )
        };
        let schema = if is_json {
            json!({ "type": "string", "contentMediaType": "application/json" })
        } else {
            schema
        };
        if let Some(alias) = alias {
            text.push_str(&format!(" Also accepted as `{alias}`."));
        }
        params.push(query_param(&col, schema, &text));
    }
    params
}

/// `GET` (list) and `POST` (create) of `…/data/{collection}`.
fn collection_path(c: &CollectionConfig) -> Value {
    let (record, input, _, page) = schema_names(c);
    json!({
        "get": {
            "tags": [c.name], "operationId": format!("list_{}", c.name),
            "summary": format!("List `{}` records", c.name),
            "description": "Filters are AND-ed; a repeated key keeps its last value; parameters naming no column are ignored. An app user sees only the records they created.",
            "parameters": list_params(c),
            "responses": responses((200, json!({ "description": "One page of records.", "content": json_content(schema_ref(&page)) })), &[400, 401, 403, 404, 422]),
        },
        "post": {
            "tags": [c.name], "operationId": format!("create_{}", c.name),
            "summary": format!("Create a `{}` record", c.name),
            "requestBody": { "required": true, "content": json_content(schema_ref(&input)) },
            "responses": responses((201, json!({ "description": "The created record.", "content": json_content(schema_ref(&record)) })), &[400, 401, 403, 404, 409, 422]),
        },
    })
}

/// `GET`, `PATCH` and `DELETE` of `…/data/{collection}/{record_id}`.
fn record_path(c: &CollectionConfig) -> Value {
    let (record, _, update, _) = schema_names(c);
    let id = json!({
        "name": "record_id", "in": "path", "required": true, "schema": id_schema(c),
        "description": "The record's id (an id that cannot exist answers 404).",
    });
    let found =
        json!({ "description": "The record.", "content": json_content(schema_ref(&record)) });
    json!({
        "parameters": [id],
        "get": {
            "tags": [c.name], "operationId": format!("get_{}", c.name),
            "summary": format!("Read a `{}` record", c.name),
            "responses": responses((200, found.clone()), &[401, 403, 404]),
        },
        "patch": {
            "tags": [c.name], "operationId": format!("update_{}", c.name),
            "summary": format!("Update a `{}` record", c.name),
            "description": "Only the keys given change; `updated_at` is always set.",
            "requestBody": { "required": true, "content": json_content(schema_ref(&update)) },
            "responses": responses((200, found), &[400, 401, 403, 404, 409, 422]),
        },
        "delete": {
            "tags": [c.name], "operationId": format!("delete_{}", c.name),
            "summary": format!("Delete a `{}` record", c.name),
            "description": "409 while records of another collection still point at it (`RESTRICT`).",
            "responses": responses((204, json!({ "description": "Deleted." })), &[401, 403, 404, 409]),
        },
    })
}

/// A view parameter's JSON type from its `params_schema` type.
fn param_type(ty: &str) -> Value {
    match ty {
        "int" | "integer" | "limit" | "offset" => json!({ "type": "integer" }),
        "float" | "number" => json!({ "type": "number" }),
        "bool" | "boolean" => json!({ "type": "boolean" }),
        "date" => json!({ "type": "string", "format": "date" }),
        "datetime" => json!({ "type": "string", "format": "date-time" }),
        "uuid" => json!({ "type": "string", "format": "uuid" }),
        "sort_direction" => json!({ "type": "string", "enum": ["asc", "desc"] }),
        "string" | "text" | "sort_field" => json!({ "type": "string" }),
        _ => json!({}),
    }
}

/// The `params` object of a view: what `params_schema` declares, plus the parameters its
/// filters and sorts read (filters on a column the records no longer show are left out, so a
/// hidden or soft-deleted field is never named).
fn view_params(c: &CollectionConfig, v: &ViewConfig) -> Value {
    let shown = |col: &str| {
        SYSTEM_COLUMNS.iter().any(|(n, _)| *n == col)
            || visible(c).any(|f| f.name == col || f.column == col)
    };
    let mut props = Map::new();
    let mut required = Vec::new();
    if let Some(Value::Object(declared)) = &v.params_schema {
        for (name, spec) in declared {
            let mut s = param_type(spec.get("type").and_then(Value::as_str).unwrap_or(""));
            for key in ["description", "example"] {
                if let Some(x) = spec.get(key).filter(|x| !x.is_null()) {
                    s[key] = x.clone();
                }
            }
            if spec.get("required") == Some(&Value::Bool(true)) {
                required.push(name.clone());
            }
            props.insert(name.clone(), s);
        }
    }
    for f in v.filters.iter().filter(|f| f.is_param && shown(&f.field)) {
        let name = f.param_name.clone().unwrap_or_else(|| f.field.clone());
        let text = format!(
            "Value for the filter `{} {}`.",
            f.field,
            f.operator.as_str()
        );
        props
            .entry(name)
            .or_insert_with(|| json!({ "description": text }));
    }
    for s in &v.sorts {
        if let (true, Some(name)) = (s.is_param, &s.param_name) {
            props.entry(name.clone()).or_insert_with(
                || json!({ "type": "string", "description": "Column to sort by." }),
            );
        }
        if let (true, Some(name)) = (s.desc_is_param, &s.desc_param_name) {
            props.entry(name.clone()).or_insert_with(
                || json!({ "description": "Sort descending: `desc`, `true` or `1`." }),
            );
        }
    }
    let mut s = json!({ "type": ["object", "null"], "properties": props });
    if !required.is_empty() {
        s["required"] = json!(required);
    }
    s
}

/// `POST …/views/{name}/execute`.
fn view_path(cfg: &ProjectConfig, c: &CollectionConfig, v: &ViewConfig) -> Value {
    let row = match &v.projection {
        None => schema_ref(&c.name),
        Some(cols) => {
            let record = record_schema(cfg, c);
            let props: Map<String, Value> = cols
                .iter()
                .filter_map(|col| Some((col.clone(), record["properties"].get(col)?.clone())))
                .collect();
            json!({ "type": "object", "properties": props })
        }
    };
    let body = json!({
        "type": "object",
        "properties": {
            "params": view_params(c, v),
            "limit": { "type": ["integer", "null"], "description": format!("Rows per page (default {}, at most {}).", v.default_limit, v.max_limit) },
            "offset": { "type": "integer", "default": 0 },
        },
    });
    let result = json!({
        "type": "object",
        "properties": {
            "data": { "type": "array", "items": row },
            "total": { "type": "integer" },
            "limit": { "type": "integer" },
            "offset": { "type": "integer" },
            "view_name": { "type": "string", "const": v.name },
            "view_version": { "type": "integer", "const": v.version },
        },
        "required": ["data", "total", "limit", "offset", "view_name", "view_version"],
    });
    json!({
        "post": {
            "tags": ["views"], "operationId": format!("execute_view_{}", v.name),
            "summary": format!("Run the view `{}` over `{}`", v.name, c.name),
            "requestBody": { "required": false, "content": json_content(body) },
            "responses": responses((200, json!({ "description": "One page of the view's rows.", "content": json_content(result) })), &[400, 401, 403, 404, 422]),
        },
    })
}

fn shared_schemas() -> Map<String, Value> {
    let schemas = json!({
        "Error": {
            "type": "object",
            "properties": { "detail": { "type": "string" }, "code": { "type": "string" } },
            "required": ["detail"],
        },
        "RuleErrors": {
            "type": "object",
            "description": "Validation rules a record broke, by field.",
            "properties": { "detail": { "type": "object", "properties": { "validation_errors": {
                "type": "object", "additionalProperties": { "type": "array", "items": { "type": "string" } },
            } } } },
            "required": ["detail"],
        },
        "ValidationError": {
            "type": "object",
            "properties": { "detail": { "type": "array", "items": {
                "type": "object",
                "properties": {
                    "type": { "type": "string" },
                    "loc": { "type": "array", "items": { "type": ["string", "integer"] } },
                    "msg": { "type": "string" },
                    "input": {},
                    "ctx": { "type": "object" },
                },
                "required": ["type", "loc", "msg"],
            } } },
            "required": ["detail"],
        },
    });
    match schemas {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn error_responses() -> Value {
    let e =
        |text: &str| json!({ "description": text, "content": json_content(schema_ref("Error")) });
    json!({
        "BadRequest": {
            "description": "A value that does not convert, an unknown field or operator, or broken validation rules.",
            "content": json_content(json!({ "oneOf": [schema_ref("Error"), schema_ref("RuleErrors")] })),
        },
        "Unauthorized": e("Anonymous caller and the policy requires one (`Authentication required`)."),
        "Forbidden": e("The policy denies this caller (`Permission denied for action: …`)."),
        "NotFound": e("Project, collection, view, record, file, webhook or delivery not found."),
        "Conflict": e("A unique value is taken, or the record is still referenced."),
        "TooManyRequests": {
            "description": "Rate limited: retry after `Retry-After` seconds.",
            "headers": {
                "Retry-After": { "schema": { "type": "integer" } },
                "X-RateLimit-Remaining": { "schema": { "type": "integer" } },
                "X-RateLimit-Reset": { "schema": { "type": "integer" } },
            },
            "content": json_content(schema_ref("Error")),
        },
        "ValidationFailed": {
            "description": "The request's shape: malformed JSON, a body that is not an object, a bad `limit` or `offset`.",
            "content": json_content(schema_ref("ValidationError")),
        },
    })
}

mod auth;
mod files;
mod realtime;
#[cfg(test)]
mod tests;
