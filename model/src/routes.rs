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

/// A bounded name for what `path` is, for metrics: the area under a project (`data`, `auth`,
/// `files`, `realtime`, `schema`, `webhooks`…), or outside one (`projects`, `admin_auth`,
/// `console`, `docs`, `health`); `grpc` for the gRPC services; `other` for anything else.
pub fn class(path: &str) -> &'static str {
    const PROJECT_AREAS: [&str; 15] = [
        "data",
        "auth",
        "files",
        "realtime",
        "audit",
        "views",
        "validations",
        "settings",
        "rbac",
        "webhooks",
        "workflows",
        "schema",
        "api-keys",
        "openapi.json",
        "",
    ];
    if let Some(rest) = path.strip_prefix("/api/projects") {
        let area = rest
            .trim_start_matches('/')
            .split('/')
            .nth(1)
            .unwrap_or_default();
        return match PROJECT_AREAS.iter().find(|a| **a == area) {
            Some(&"") => "projects",
            Some(&"api-keys") => "api_keys",
            Some(&"openapi.json") => "openapi",
            Some(a) => a,
            None => "other",
        };
    }
    if path.starts_with("/api/auth/") || path == "/api/me" {
        return "admin_auth";
    }
    if path == "/console" || path.starts_with("/console/") {
        return "console";
    }
    if path.starts_with("/backendify.") || path.starts_with("/grpc.") {
        return "grpc";
    }
    match path {
        "/health" | "/ready" => "health",
        "/docs" | "/openapi.json" | "/" => "docs",
        _ => "other",
    }
}

/// The project id segment of a project path (`/api/projects/{id}/…`), when it is a UUID.
pub fn project_of(path: &str) -> Option<&str> {
    path.strip_prefix("/api/projects/")
        .and_then(|rest| rest.split('/').next())
        .filter(|id| id.len() == 36 && uuid::Uuid::parse_str(id).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_fall_into_few_classes() {
        let p = "/api/projects/0b5e7b9e-5f4c-4a4e-9d7e-6a3b2c1d0e9f";
        for (path, class_) in [
            (format!("{p}/data/posts/1"), "data"),
            (format!("{p}/auth/login"), "auth"),
            (format!("{p}/api-keys"), "api_keys"),
            (format!("{p}/schema/collections"), "schema"),
            (format!("{p}/openapi.json"), "openapi"),
            (p.to_owned(), "projects"),
            ("/api/projects".into(), "projects"),
            (format!("{p}/nonsense/x"), "other"),
            ("/api/auth/login".into(), "admin_auth"),
            ("/console/index.html".into(), "console"),
            (
                "/backendify.admin.v1.AdminService/GetProject".into(),
                "grpc",
            ),
            ("/health".into(), "health"),
            ("/etc/passwd".into(), "other"),
        ] {
            assert_eq!(class(&path), class_, "{path}");
        }
        assert_eq!(
            project_of(&format!("{p}/data/x")),
            Some("0b5e7b9e-5f4c-4a4e-9d7e-6a3b2c1d0e9f")
        );
        assert_eq!(project_of("/api/projects"), None);
    }
}
