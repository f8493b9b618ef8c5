//! Which side serves a project route (DESIGN.md, "Which side serves a route"): the data plane's
//! routes under `/api/projects/{id}/`. The router routes by it, and the control plane's gRPC admin
//! API forwards the calls it maps onto these routes to a worker.

/// Whether the path segments after `/api/projects/{id}/` name a data-plane route.
pub fn is_data_route(s: &[&str]) -> bool {
    matches!(
        s,
        ["data", _, ..]
            | ["auth", _, ..]
            | ["files", ..]
            | ["audit", "events" | "verify"]
            | ["audit", "events", "export"]
            | ["views", _, "execute"]
            | ["validations", "collections", _, "validate"]
            | ["settings", "auth", "users", ..]
            | ["rbac", "users", _, ..]
            | ["webhooks", _, "deliveries"]
            | ["webhooks", _, "test"]
            | ["webhooks", _, "deliveries", _, "retry"]
            | ["workflows", _, "runs", ..]
            | ["workflows", _, "run"]
            | ["openapi.json"]
            | ["realtime", ..]
    )
}

/// Whether `path` is a data-plane route of some project.
pub fn is_data_path(path: &str) -> bool {
    path.strip_prefix("/api/projects/")
        .and_then(|rest| rest.split_once('/'))
        .is_some_and(|(_, rest)| is_data_route(&rest.split('/').collect::<Vec<_>>()))
}
