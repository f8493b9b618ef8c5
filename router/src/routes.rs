//! Which side serves a path (DESIGN.md, "Which side serves a route"): under
//! `/api/projects/{id}/` the data routes go to a worker, everything else to the control plane,
//! which also serves the API documentation (`/docs`, `/openapi.json`) even to browsers.

use uuid::Uuid;

/// Where a request goes.
#[derive(Debug, PartialEq, Eq)]
pub enum Target {
    /// A worker of the project's cell.
    Worker(Uuid),
    /// The control plane.
    ControlPlane,
    /// The console's static files.
    Console,
    /// A data route of a project id that cannot exist.
    NoSuchProject,
}

/// Decides the target of a path. `wants_html` is true for browser navigations.
pub fn target(path: &str, wants_html: bool) -> Target {
    if let Some(rest) = path.strip_prefix("/api/projects/") {
        let mut segs = rest.split('/');
        let id = segs.next().and_then(|s| Uuid::parse_str(s).ok());
        let segs: Vec<&str> = segs.collect();
        return match id {
            Some(id) if is_data_route(&segs) => Target::Worker(id),
            None if is_data_route(&segs) => Target::NoSuchProject,
            _ => Target::ControlPlane,
        };
    }
    if path == "/api"
        || path.starts_with("/api/")
        || matches!(path, "/health" | "/docs" | "/openapi.json")
    {
        return Target::ControlPlane;
    }
    if path == "/" && !wants_html {
        return Target::ControlPlane;
    }
    Target::Console
}

/// The data-plane routes under a project (segments after the project id).
fn is_data_route(s: &[&str]) -> bool {
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
            | ["openapi.json"]
            | ["realtime", ..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_the_design_table() {
        let id = "0b5e7b9e-5f4c-4a4e-9d7e-6a3b2c1d0e9f";
        let p = Uuid::parse_str(id).unwrap();
        for data in [
            "data/posts",
            "data/posts/1",
            "auth/login",
            "files/upload",
            "audit/events",
            "audit/events/export",
            "audit/verify",
            "views/v/execute",
            "validations/collections/c/validate",
            "settings/auth/users",
            "settings/auth/users/x/revoke-sessions",
            "rbac/users/u/roles",
            "webhooks/w/deliveries",
            "webhooks/w/test",
            "webhooks/w/deliveries/d/retry",
            "openapi.json",
        ] {
            assert_eq!(
                target(&format!("/api/projects/{id}/{data}"), false),
                Target::Worker(p),
                "{data}"
            );
        }
        for cp in [
            "",
            "/schema/collections",
            "/api-keys",
            "/settings/auth",
            "/views",
            "/views/v",
            "/rbac/roles",
            "/audit/schema-ops",
            "/webhooks",
            "/webhooks/w",
            "/webhooks/w/rotate-secret",
            "/validations/rules/r",
        ] {
            assert_eq!(
                target(&format!("/api/projects/{id}{cp}"), false),
                Target::ControlPlane,
                "{cp}"
            );
        }
        assert_eq!(
            target("/api/projects/not-a-uuid/data/x", false),
            Target::NoSuchProject
        );
        assert_eq!(target("/api/projects", false), Target::ControlPlane);
        assert_eq!(target("/", false), Target::ControlPlane);
        assert_eq!(target("/", true), Target::Console);
        assert_eq!(target("/index.html", false), Target::Console);
    }

    #[test]
    fn api_docs_go_to_the_control_plane_even_for_browsers() {
        for html in [false, true] {
            assert_eq!(target("/docs", html), Target::ControlPlane);
            assert_eq!(target("/openapi.json", html), Target::ControlPlane);
        }
        assert_eq!(target("/docs/x", true), Target::Console);
        assert_eq!(target("/app/openapi.json", false), Target::Console);
    }
}
