use super::document;
use crate::registry::Project;
use model::{
    CollectionConfig, FieldConfig, FieldType, IdKind, ProjectConfig, RelationConfig, ViewConfig,
    ViewFilter, ViewOperator,
};
use serde_json::{json, Value};
use uuid::Uuid;

fn field(name: &str, ty: FieldType, sql_type: &str) -> FieldConfig {
    FieldConfig {
        id: Uuid::new_v4(),
        name: name.into(),
        column: name.into(),
        field_type: ty,
        sql_type: sql_type.into(),
        is_required: false,
        is_hidden: false,
        is_deleted: false,
        is_system: false,
        aliases: vec![],
        relation: None,
        rules: vec![],
    }
}

fn relation(name: &str, target: Uuid, sql_type: &str, required: bool) -> FieldConfig {
    FieldConfig {
        column: format!("{name}_id"),
        is_required: required,
        relation: Some(RelationConfig {
            target_collection_id: target,
            on_delete: "CASCADE".into(),
            display_field: None,
        }),
        rules: vec![],
        ..field(name, FieldType::Relation, sql_type)
    }
}

fn collection(name: &str, id_kind: IdKind, fields: Vec<FieldConfig>) -> CollectionConfig {
    CollectionConfig {
        id: Uuid::new_v4(),
        name: name.into(),
        table: name.into(),
        is_system: id_kind == IdKind::Uuid,
        id_kind,
        fields,
        aliases: vec!["old_name".into()],
        policies: vec![],
    }
}

/// `_users`, a hostile `order` collection with every type, two relations and a soft-deleted
/// field, and a view with a parameter.
fn project() -> (Project, Uuid) {
    let mut users = collection(
        "_users",
        IdKind::Uuid,
        vec![
            FieldConfig {
                is_required: true,
                is_system: true,
                ..field("email", FieldType::String, "text")
            },
            FieldConfig {
                is_hidden: true,
                is_system: true,
                ..field("password_hash", FieldType::String, "text")
            },
        ],
    );
    users.is_system = true;
    let customers = collection("customer", IdKind::Int, vec![]);
    let fields = vec![
        FieldConfig {
            is_required: true,
            ..field("title", FieldType::String, "text")
        },
        field("qty", FieldType::Int, "bigint"),
        field("price", FieldType::Float, "double precision"),
        field("paid", FieldType::Bool, "boolean"),
        field("due", FieldType::Date, "date"),
        field("at", FieldType::Datetime, "timestamptz"),
        field("ref", FieldType::Uuid, "uuid"),
        field("notes", FieldType::Text, "text"),
        relation("buyer", customers.id, "bigint", true),
        relation("owner", users.id, "text", false),
        FieldConfig {
            is_deleted: true,
            ..field("legacy_code", FieldType::String, "text")
        },
        field("limit", FieldType::Int, "bigint"),
    ];
    let order = collection("order", IdKind::Int, fields);
    let view = ViewConfig {
        id: Uuid::new_v4(),
        name: "big_orders".into(),
        version: 3,
        base_collection_id: order.id,
        projection: Some(vec!["id".into(), "qty".into()]),
        filters: vec![
            ViewFilter {
                field: "qty".into(),
                operator: ViewOperator::Ge,
                value: json!(10),
                is_param: true,
                param_name: Some("min_qty".into()),
            },
            // Soft-deleted after the view was made: its name must not leak.
            ViewFilter {
                field: "legacy_code".into(),
                operator: ViewOperator::Eq,
                value: json!("x"),
                is_param: true,
                param_name: None,
            },
        ],
        sorts: vec![],
        params_schema: Some(
            json!({"min_qty": {"type": "int", "required": true, "description": "Smallest quantity"}}),
        ),
        default_limit: 50,
        max_limit: 200,
    };
    let id = Uuid::new_v4();
    let config = ProjectConfig {
        project_id: id,
        version: 7,
        name: "Shop".into(),
        db_schema: "p".into(),
        db_role: "p".into(),
        cell: "default".into(),
        admin_token_key: "secret-key".into(),
        members: vec![],
        collections: vec![users, order, customers],
        views: vec![view],
        auth: Default::default(),
        roles: vec![],
        webhooks: vec![],
        files_policies: vec![],
        workflows: vec![],
    };
    (Project::new(config), id)
}

#[test]
fn describes_collections_with_their_types() {
    let (p, id) = project();
    let doc = document(&p);
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["version"], "7");
    assert_eq!(doc["servers"], json!([{"url": "/"}]));
    assert_eq!(
        doc["components"]["securitySchemes"]["apiKey"]["name"],
        "X-API-Key"
    );
    let list = &doc["paths"][format!("/api/projects/{id}/data/order")];
    assert!(list["get"].is_object() && list["post"].is_object());
    let one = &doc["paths"][format!("/api/projects/{id}/data/order/{{record_id}}")];
    for m in ["get", "patch", "delete"] {
        assert!(one[m].is_object(), "{m}");
    }
    assert!(one["delete"]["responses"]["204"].is_object());
    assert!(list["post"]["responses"]["201"].is_object());
    let props = &doc["components"]["schemas"]["order"]["properties"];
    let ty = |k: &str| (props[k]["type"].clone(), props[k]["format"].clone());
    assert_eq!(ty("id"), (json!("integer"), json!("int64")));
    assert_eq!(ty("title"), (json!("string"), Value::Null));
    assert_eq!(ty("qty"), (json!(["integer", "null"]), json!("int64")));
    assert_eq!(ty("price"), (json!(["number", "null"]), json!("double")));
    assert_eq!(ty("paid").0, json!(["boolean", "null"]));
    assert_eq!(ty("due"), (json!(["string", "null"]), json!("date")));
    assert_eq!(ty("at"), (json!(["string", "null"]), json!("date-time")));
    assert_eq!(ty("ref"), (json!(["string", "null"]), json!("uuid")));
    assert_eq!(ty("notes").0, json!(["string", "null"]));
    assert_eq!(ty("buyer_id"), (json!("integer"), json!("int64")));
    assert_eq!(ty("owner_id").0, json!(["string", "null"]));
    assert_eq!(ty("created_at").1, json!("date-time"));
    // Only relations (and the app user's email) must be sent; other required fields default.
    let input = &doc["components"]["schemas"]["orderInput"];
    assert_eq!(input["required"], json!(["buyer"]));
    assert!(input["properties"]["buyer"]["description"]
        .as_str()
        .unwrap()
        .contains("`buyer_id`"));
    assert!(doc["components"]["schemas"]["orderUpdate"]["required"].is_null());
    let users = &doc["components"]["schemas"]["_users"]["properties"];
    assert_eq!(users["id"]["format"], "uuid");
    assert_eq!(
        doc["components"]["schemas"]["_usersInput"]["required"],
        json!(["email"])
    );
    let page = &doc["components"]["schemas"]["orderPage"];
    assert_eq!(
        page["required"],
        json!(["records", "total", "limit", "offset"])
    );
}

#[test]
fn never_shows_hidden_or_soft_deleted_fields_or_aliases() {
    let (p, id) = project();
    let text = document(&p).to_string();
    for secret in ["password_hash", "legacy_code", "old_name", "secret-key"] {
        assert!(!text.contains(secret), "{secret} leaked");
    }
    assert!(text.contains(&format!("/api/projects/{id}/data/_users")));
}

#[test]
fn list_parameters_cover_paging_sorting_and_filters() {
    let (p, id) = project();
    let doc = document(&p);
    let params = doc["paths"][format!("/api/projects/{id}/data/order")]["get"]["parameters"]
        .as_array()
        .unwrap()
        .clone();
    let names: Vec<&str> = params.iter().map(|p| p["name"].as_str().unwrap()).collect();
    for n in [
        "limit",
        "offset",
        "sort",
        "expand",
        "skip_total",
        "id",
        "title",
        "buyer_id",
    ] {
        assert!(names.contains(&n), "{n}");
    }
    // One parameter per name: the `limit` column does not shadow paging.
    assert_eq!(names.iter().filter(|n| **n == "limit").count(), 1);
    let title = params.iter().find(|p| p["name"] == "title").unwrap();
    let text = title["description"].as_str().unwrap();
    assert!(
        text.contains("title__<op>") && text.contains("startswith") && text.contains("isnotnull")
    );
    let expand = params.iter().find(|p| p["name"] == "expand").unwrap();
    assert!(expand["description"]
        .as_str()
        .unwrap()
        .contains("buyer, owner"));
}

#[test]
fn views_document_their_execute_call() {
    let (p, id) = project();
    let doc = document(&p);
    let op = &doc["paths"][format!("/api/projects/{id}/views/big_orders/execute")]["post"];
    let body = &op["requestBody"]["content"]["application/json"]["schema"]["properties"];
    assert_eq!(body["params"]["required"], json!(["min_qty"]));
    assert_eq!(body["params"]["properties"]["min_qty"]["type"], "integer");
    assert_eq!(body["params"]["properties"].as_object().unwrap().len(), 1);
    let result = &op["responses"]["200"]["content"]["application/json"]["schema"];
    assert_eq!(
        result["required"],
        json!([
            "data",
            "total",
            "limit",
            "offset",
            "view_name",
            "view_version"
        ])
    );
    let row = &result["properties"]["data"]["items"]["properties"];
    assert_eq!(row.as_object().unwrap().len(), 2);
    assert_eq!(row["qty"]["format"], "int64");
}

#[test]
fn documents_every_worker_route_and_every_reference_resolves() {
    let (p, id) = project();
    let doc = document(&p);
    // Every route of the auth router, role assignments, files, webhook deliveries and the audit
    // log is in the document.
    let paths = doc["paths"].as_object().unwrap();
    for rest in [
        "auth/providers",
        "auth/register",
        "auth/login",
        "auth/refresh",
        "auth/logout",
        "auth/logout/all",
        "auth/me",
        "auth/password/change",
        "auth/verify/send",
        "auth/verify/confirm",
        "auth/password/reset/send",
        "auth/password/reset/confirm",
        "auth/otp/send",
        "auth/otp/verify",
        "auth/oauth/callback",
        "auth/oauth/{provider}/url",
        "auth/oauth/{provider}/callback",
        "auth/meta",
        "settings/auth/users",
        "settings/auth/users/{app_user_id}",
        "settings/auth/users/{app_user_id}/revoke-sessions",
        "rbac/users/{user_id}/roles",
        "rbac/users/{user_id}/roles/{role_id}",
        "files",
        "files/upload",
        "files/stats",
        "files/{file_id}",
        "files/{file_id}/download",
        "files/{file_id}/signed-url",
        "webhooks/{webhook_id}/deliveries",
        "webhooks/{webhook_id}/test",
        "webhooks/{webhook_id}/deliveries/{delivery_id}/retry",
        "workflows/{workflow_id}/runs",
        "workflows/{workflow_id}/runs/{run_id}",
        "workflows/{workflow_id}/run",
        "audit/events",
        "audit/events/export",
        "audit/verify",
    ] {
        assert!(
            paths.contains_key(&format!("/api/projects/{id}/{rest}")),
            "{rest} is not documented"
        );
    }
    // Every `$ref` points at a component that exists.
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    out.push(r.clone());
                }
                m.values().for_each(|v| refs(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    refs(&doc, &mut found);
    for r in found {
        let path: Vec<&str> = r.trim_start_matches("#/").split('/').collect();
        let target = path.iter().fold(&doc, |v, k| &v[*k]);
        assert!(!target.is_null(), "{r} does not resolve");
    }
}
