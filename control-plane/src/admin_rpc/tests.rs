use super::bindings;
use crate::http::openapi::document_value;
use std::collections::BTreeSet;

/// Routes that are not part of the admin API proper (the service's own pages), and the two
/// spellings of a view named `operators`, which `UpdateView`/`DeleteView` reach through
/// `{view_name}`.
const NOT_RPCS: [(&str, &str); 7] = [
    ("GET", "/health"),
    ("GET", "/ready"),
    ("GET", "/"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("PATCH", "/api/projects/{project_id}/views/operators"),
    ("DELETE", "/api/projects/{project_id}/views/operators"),
];

#[test]
fn every_admin_rest_route_has_its_rpc_and_every_rpc_its_route() {
    let doc = document_value();
    let mut routes = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let method = method.to_uppercase();
            if !NOT_RPCS.contains(&(method.as_str(), path.as_str())) {
                routes.insert((method, path.clone()));
            }
        }
    }
    let mut rpcs = BTreeSet::new();
    let mut names = BTreeSet::new();
    for b in bindings() {
        assert!(names.insert(b.method.name().to_owned()));
        let route = (b.verb.to_string(), b.template.clone());
        if model::routes::is_data_path(&b.template) {
            // Served by workers, documented in each project's own OpenAPI document.
            continue;
        }
        assert!(rpcs.insert(route.clone()), "two RPCs map onto {route:?}");
    }
    let missing: Vec<_> = routes.difference(&rpcs).collect();
    let extra: Vec<_> = rpcs.difference(&routes).collect();
    assert!(
        missing.is_empty(),
        "admin REST routes without an RPC: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "RPCs whose REST route does not exist: {extra:?}"
    );
}

#[test]
fn lists_page_and_updates_take_a_mask() {
    for b in bindings() {
        let name = b.method.name();
        let input = b.method.input();
        if name.starts_with("List") {
            assert!(input.get_field_by_name("page_size").is_some(), "{name}");
            assert!(input.get_field_by_name("page_token").is_some(), "{name}");
            let out = b.method.output();
            assert!(out.get_field_by_name("next_page_token").is_some(), "{name}");
        }
        if name.starts_with("Update") && b.verb == http::Method::PATCH {
            assert!(input.get_field_by_name("update_mask").is_some(), "{name}");
        }
    }
}
