//! The self-documentation of views: `GET …/views/operators` and `GET …/views/{name}/meta`
//! (`spec/views.md`). Pure: built from the view, its base collection and the collection's fields.

use crate::db::catalog::Field;
use crate::db::views::{BaseCollection, View};
use crate::names::SYSTEM_COLUMNS;
use model::ViewOperator;
use serde_json::{json, Map, Value};
use uuid::Uuid;

/// The body of `GET …/views/operators`.
pub fn operators() -> Value {
    let ops: Vec<Value> = ViewOperator::ALL
        .iter()
        .map(|op| json!({ "value": op.as_str(), "label": op.label(), "types": op.types() }))
        .collect();
    json!({ "operators": ops })
}

/// `created_by_user_id` → `Created By User Id`.
fn title_case(name: &str) -> String {
    name.split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            chars.next().map_or_else(String::new, |c| {
                c.to_uppercase()
                    .chain(chars.flat_map(char::to_lowercase))
                    .collect()
            })
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn field_out(f: &Field) -> Value {
    json!({ "name": f.name, "type": f.field_type, "display_name": f.display_name })
}

/// `response.fields`: the projected columns, or the system columns then every field.
fn response_fields(v: &View, base: &BaseCollection, fields: &[&Field]) -> Vec<Value> {
    match &v.def.projection {
        Some(projection) => projection
            .iter()
            .filter_map(|c| match fields.iter().find(|f| &f.name == c) {
                Some(f) => Some(field_out(f)),
                None => SYSTEM_COLUMNS
                    .contains(&c.as_str())
                    .then(|| json!({ "name": c, "type": "system", "display_name": title_case(c) })),
            })
            .collect(),
        None => {
            let id_type = if base.is_system { "uuid" } else { "int" };
            let mut out = vec![
                json!({ "name": "id", "type": id_type, "display_name": "ID" }),
                json!({ "name": "created_at", "type": "datetime", "display_name": "Created At" }),
                json!({ "name": "updated_at", "type": "datetime", "display_name": "Updated At" }),
            ];
            out.extend(fields.iter().map(|f| field_out(f)));
            out
        }
    }
}

/// `request.body.params.fields`, from `params_schema` (defaults: `string`, not required, `""`).
fn param_fields(schema: &Map<String, Value>) -> Vec<Value> {
    schema
        .iter()
        .map(|(name, spec)| {
            let get = |key: &str, default: Value| {
                spec.get(key)
                    .filter(|v| !v.is_null())
                    .cloned()
                    .unwrap_or(default)
            };
            json!({
                "name": name,
                "type": get("type", json!("string")),
                "required": get("required", json!(false)),
                "description": get("description", json!("")),
                "example": get("example", json!("")),
            })
        })
        .collect()
}

/// The `examples`: a curl command and a `fetch` call executing the view.
fn examples(url: &str, v: &View, schema: Option<&Map<String, Value>>) -> Value {
    let mut body = json!({ "limit": v.default_limit, "offset": 0 });
    if let Some(schema) = schema {
        let params: Map<String, Value> = param_fields(schema)
            .into_iter()
            .map(|p| {
                (
                    p["name"].as_str().unwrap_or_default().to_owned(),
                    p["example"].clone(),
                )
            })
            .collect();
        body["params"] = Value::Object(params);
    }
    let compact = body.to_string().replace('\'', "'\\''");
    let pretty = serde_json::to_string_pretty(&body).unwrap_or_default();
    let curl = format!(
        "curl -X POST \"$BACKENDIFY_URL{url}\" \\\n  -H \"Authorization: Bearer $TOKEN\" \\\n  \
         -H \"Content-Type: application/json\" \\\n  -d '{compact}'"
    );
    let fetch = format!(
        "const res = await fetch(`${{BACKENDIFY_URL}}{url}`, {{\n  method: \"POST\",\n  \
         headers: {{ \"Authorization\": `Bearer ${{token}}`, \"Content-Type\": \"application/json\" }},\n  \
         body: JSON.stringify({pretty}),\n}});\nconst {{ data, total }} = await res.json();"
    );
    json!({ "curl": curl, "fetch": fetch })
}

/// The body of `GET …/views/{name}/meta`. `fields` are every field of the base collection.
pub fn meta(project: Uuid, v: &View, base: &BaseCollection, fields: &[Field]) -> Value {
    let visible: Vec<&Field> = fields
        .iter()
        .filter(|f| !f.is_deleted && !f.is_hidden)
        .collect();
    let url = format!("/api/projects/{project}/views/{}/execute", v.name);
    let schema = v.def.params_schema.as_ref().and_then(Value::as_object);
    let params = schema.map(|s| {
        json!({ "type": "object", "description": "View parameters", "fields": param_fields(s) })
    });
    let allowed: Vec<&str> = visible
        .iter()
        .map(|f| f.name.as_str())
        .chain(["id", "created_at", "updated_at"])
        .collect();
    let filters = v.def.filters.clone().unwrap_or_default();
    let sorts = v.def.sorts.clone().unwrap_or_default();
    let default_sort = sorts
        .first()
        .map_or_else(|| json!({ "field": "id", "desc": false }), |s| json!(s));
    let operators: Vec<&str> = ViewOperator::ALL.iter().map(|op| op.as_str()).collect();
    json!({
        "view_name": v.name,
        "display_name": v.display_name,
        "description": v.description,
        "base_collection": base.name,
        "endpoint": {
            "url": url,
            "method": "POST",
            "auth": ["Bearer Token (JWT)", "API Key (X-API-Key header)"],
        },
        "request": { "body": {
            "limit": { "type": "int", "default": v.default_limit, "max": v.max_limit,
                       "description": "Number of records to return" },
            "offset": { "type": "int", "default": 0, "description": "Number of records to skip" },
            "params": params,
        }},
        "response": {
            "fields": response_fields(v, base, &visible),
            "pagination": { "type": "offset", "default_limit": v.default_limit,
                            "max_limit": v.max_limit },
        },
        "filters": { "allowed_fields": allowed, "operators": operators, "predefined": filters },
        "sorts": { "allowed_fields": allowed, "default": default_sort, "predefined": sorts },
        "examples": examples(&url, v, schema),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::views::{Definition, SortDef};
    use chrono::Utc;

    fn field(name: &str, ty: &str, hidden: bool) -> Field {
        Field {
            id: Uuid::nil(),
            name: name.into(),
            display_name: title_case(name),
            field_type: ty.into(),
            sql_column_name: name.into(),
            is_required: false,
            is_unique: false,
            is_indexed: false,
            default_value: None,
            is_system: false,
            is_hidden: hidden,
            relation_target_collection_id: None,
            relation_type: None,
            relation_on_delete: "RESTRICT".into(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
            sql_type: "text".into(),
            is_deleted: false,
            relation_display_field: None,
            collection_id: Uuid::nil(),
        }
    }

    fn view(def: Definition) -> View {
        View {
            id: Uuid::nil(),
            name: "active_products".into(),
            display_name: "Active Products".into(),
            description: Some("All active".into()),
            base_collection_id: Uuid::nil(),
            def,
            default_limit: 50,
            max_limit: 500,
            version: 1,
            is_active: true,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn base() -> BaseCollection {
        BaseCollection {
            id: Uuid::nil(),
            name: "products".into(),
            is_system: false,
        }
    }

    #[test]
    fn titles() {
        assert_eq!(title_case("created_by_user_id"), "Created By User Id");
        assert_eq!(title_case("id"), "Id");
    }

    #[test]
    fn operators_list_the_contract() {
        let ops = operators();
        let list = ops["operators"].as_array().unwrap();
        assert_eq!(list.len(), 13);
        assert_eq!(
            list[2],
            json!({"value": ">", "label": "Greater Than", "types": ["int","float","date","datetime"]})
        );
        assert_eq!(
            list[12],
            json!({"value": "is_not_null", "label": "Is Not Null", "types": ["all"]})
        );
    }

    #[test]
    fn meta_without_projection_lists_system_columns_then_visible_fields() {
        let fields = [
            field("title", "string", false),
            field("secret", "string", true),
        ];
        let m = meta(Uuid::nil(), &view(Definition::default()), &base(), &fields);
        let names: Vec<&str> = m["response"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["id", "created_at", "updated_at", "title"]);
        assert_eq!(m["response"]["fields"][0]["type"], "int");
        assert_eq!(
            m["filters"]["allowed_fields"],
            json!(["title", "id", "created_at", "updated_at"])
        );
        assert_eq!(m["request"]["body"]["params"], Value::Null);
        assert_eq!(m["request"]["body"]["limit"]["max"], 500);
        assert_eq!(m["sorts"]["default"], json!({"field": "id", "desc": false}));
        assert_eq!(m["sorts"]["predefined"], json!([]));
        assert_eq!(m["endpoint"]["method"], "POST");
        assert_eq!(
            m["endpoint"]["url"],
            format!(
                "/api/projects/{}/views/active_products/execute",
                Uuid::nil()
            )
        );
        assert!(m["examples"]["curl"].as_str().unwrap().contains("-d '{"));
    }

    #[test]
    fn meta_with_projection_and_params() {
        let sort = SortDef {
            field: "title".into(),
            desc: true,
            is_param: false,
            param_name: None,
            desc_is_param: false,
            desc_param_name: None,
        };
        let def = Definition {
            projection: Some(vec!["title".into(), "created_by_user_id".into()]),
            sorts: Some(vec![sort]),
            params_schema: Some(
                json!({"q": {"type": "string", "required": true, "example": "it's"},
                                        "n": {}}),
            ),
            ..Definition::default()
        };
        let m = meta(
            Uuid::nil(),
            &view(def),
            &base(),
            &[field("title", "string", false)],
        );
        assert_eq!(
            m["response"]["fields"],
            json!([
                {"name": "title", "type": "string", "display_name": "Title"},
                {"name": "created_by_user_id", "type": "system", "display_name": "Created By User Id"}
            ])
        );
        assert_eq!(
            m["request"]["body"]["params"]["fields"],
            json!([
                {"name": "n", "type": "string", "required": false, "description": "", "example": ""},
                {"name": "q", "type": "string", "required": true, "description": "", "example": "it's"}
            ])
        );
        assert_eq!(m["sorts"]["default"]["field"], "title");
        assert_eq!(m["sorts"]["default"]["desc"], true);
        assert!(m["examples"]["curl"]
            .as_str()
            .unwrap()
            .contains(r#""q":"it'\''s""#));
        assert!(m["examples"]["fetch"]
            .as_str()
            .unwrap()
            .contains("JSON.stringify({"));
    }
}
