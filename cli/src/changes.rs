//! Schema changes (the `{"op": …}` objects `ImportSchema` plans) as one line each for a person:
//! `+` adds, `~` changes, `-` removes. Pure, so the wording is tested without a server.

use serde_json::{Map, Value};

/// One change as a line, e.g. `+ field posts.title: text, required`.
pub fn describe(change: &Value) -> String {
    let empty = Map::new();
    let c = change.as_object().unwrap_or(&empty);
    let s = |key: &str| text(c.get(key));
    let field = || format!("{}.{}", s("collection"), s("field"));
    match s("op").as_str() {
        "create_collection" => format!("+ collection {} ({:?})", s("name"), s("display_name")),
        "update_collection" => format!(
            "~ collection {}: display name {:?}",
            s("collection"),
            s("display_name")
        ),
        "delete_collection" => format!(
            "- collection {} (drops its table and records)",
            s("collection")
        ),
        "rename_collection" => format!(
            "~ collection {} renamed to {}",
            s("collection"),
            s("new_name")
        ),
        "add_field" => {
            let mut traits = vec![s("field_type")];
            for flag in ["is_required", "is_unique", "is_indexed"] {
                if c.get(flag) == Some(&Value::Bool(true)) {
                    traits.push(flag.trim_start_matches("is_").to_owned());
                }
            }
            if let Some(Value::String(d)) = c.get("default_value") {
                traits.push(format!("default {d:?}"));
            }
            format!(
                "+ field {}.{}: {}",
                s("collection"),
                s("name"),
                traits.join(", ")
            )
        }
        "add_relation" => format!(
            "+ relation {}.{} -> {} (on delete {})",
            s("collection"),
            s("name"),
            s("target"),
            s("on_delete")
        ),
        "update_field" => format!("~ field {}: {}", field(), settings(c)),
        "rename_field" => format!("~ field {} renamed to {}", field(), s("new_name")),
        "soft_delete_field" => format!("- field {} (hidden; its data stays)", field()),
        "restore_field" => format!("+ field {} (restored)", field()),
        "hard_delete_field" => format!("- field {} (drops its column and data)", field()),
        "change_field_type" => format!("~ field {}: type -> {}", field(), s("new_type")),
        "put_view" => format!(
            "~ view {} (created or replaced)",
            text(change.pointer("/view/name"))
        ),
        "delete_view" => format!("- view {}", s("name")),
        op => format!("? {op}: {change}"),
    }
}

/// The keys a change sets besides what it names: `display_name = "T", is_required = true`.
fn settings(c: &Map<String, Value>) -> String {
    c.iter()
        .filter(|(k, _)| !matches!(k.as_str(), "op" | "collection" | "field"))
        .map(|(k, v)| format!("{k} = {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "?".into(),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_change_reads_as_one_line() {
        let cases = [
            (
                json!({"op": "create_collection", "name": "order", "display_name": "Orders"}),
                r#"+ collection order ("Orders")"#,
            ),
            (
                json!({"op": "add_field", "collection": "order", "name": "we\"ird name",
                       "display_name": "W", "field_type": "text", "is_required": true,
                       "is_unique": false, "is_indexed": true, "default_value": "x"}),
                r#"+ field order.we"ird name: text, required, indexed, default "x""#,
            ),
            (
                json!({"op": "add_relation", "collection": "order", "name": "owner",
                       "target": "select", "on_delete": "CASCADE"}),
                "+ relation order.owner -> select (on delete CASCADE)",
            ),
            (
                json!({"op": "update_field", "collection": "order", "field": "n",
                       "display_name": "N", "is_required": true}),
                r#"~ field order.n: display_name = "N", is_required = true"#,
            ),
            (
                json!({"op": "hard_delete_field", "collection": "order", "field": "n", "force": true}),
                "- field order.n (drops its column and data)",
            ),
            (
                json!({"op": "delete_collection", "collection": "select", "force": true}),
                "- collection select (drops its table and records)",
            ),
            (
                json!({"op": "put_view", "view": {"name": "recent"}}),
                "~ view recent (created or replaced)",
            ),
            (json!({"op": "launch"}), r#"? launch: {"op":"launch"}"#),
        ];
        for (change, line) in cases {
            assert_eq!(describe(&change), line, "{change}");
        }
    }
}
