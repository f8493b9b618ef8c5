//! Which side serves a path (DESIGN.md, "Which side serves a route"): under
//! `/api/projects/{id}/` the data routes go to a worker; the console's files are served under
//! `/console/`; everything else goes to the control plane, which also serves the API documentation
//! (`/docs`, `/openapi.json`) and answers the contract's JSON 404 for any path it does not know.

use model::routes::is_data_route;
use uuid::Uuid;

/// Where the console lives.
pub const CONSOLE: &str = "/console/";

/// Where a request goes.
#[derive(Debug, PartialEq, Eq)]
pub enum Target {
    /// A worker of the project's cell.
    Worker(Uuid),
    /// The control plane.
    ControlPlane,
    /// The console's static files (a GET or HEAD under `/console/`).
    Console,
    /// A redirect to the console: `/console` itself, or `/` asked for by a browser.
    ToConsole,
    /// A method other than GET or HEAD under `/console/`.
    ConsoleMethod,
    /// A data route of a project id that cannot exist.
    NoSuchProject,
    /// A name no route can hold (a NUL byte in a segment): 404 here, on every route.
    NotFound,
}

/// Decides the target of a request. `read` is true for GET and HEAD, `wants_html` for browser
/// navigations.
pub fn target(path: &str, read: bool, wants_html: bool) -> Target {
    // A NUL cannot be part of any name (Postgres refuses it in text); no raw NUL reaches here.
    if path.contains("%00") {
        return Target::NotFound;
    }
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
    if path.starts_with(CONSOLE) {
        return if read {
            Target::Console
        } else {
            Target::ConsoleMethod
        };
    }
    if read && (path == "/console" || (path == "/" && wants_html)) {
        return Target::ToConsole;
    }
    Target::ControlPlane
}

/// A long-lived answer a worker streams (a realtime subscription): it travels over the workers'
/// shared HTTP/2 connections ([`crate::streams`]).
pub fn is_stream(path: &str) -> bool {
    path.strip_prefix("/api/projects/")
        .and_then(|rest| rest.split_once('/'))
        .is_some_and(|(_, rest)| rest == "realtime")
}

/// A gRPC call of a service the control plane serves (the admin API, health, reflection): it
/// goes there over HTTP/2. Other paths with a gRPC content type are routed as usual.
pub fn is_grpc(path: &str, headers: &http::HeaderMap) -> bool {
    (path.starts_with("/backendify.admin.") || path.starts_with("/grpc."))
        && headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|c| c.to_str().ok())
            .is_some_and(|c| c == "application/grpc" || c.starts_with("application/grpc+"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn realtime_subscriptions_are_streams() {
        let id = "0b5e7b9e-5f4c-4a4e-9d7e-6a3b2c1d0e9f";
        assert!(is_stream(&format!("/api/projects/{id}/realtime")));
        assert!(!is_stream(&format!("/api/projects/{id}/realtime/x")));
        assert!(!is_stream(&format!("/api/projects/{id}/data/realtime")));
        assert!(!is_stream("/api/projects/realtime"));
    }

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
            "workflows/w/runs",
            "workflows/w/runs/r",
            "workflows/w/run",
            "openapi.json",
        ] {
            assert_eq!(
                target(&format!("/api/projects/{id}/{data}"), true, false),
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
            "/workflows",
            "/workflows/w",
            "/validations/rules/r",
        ] {
            assert_eq!(
                target(&format!("/api/projects/{id}{cp}"), true, false),
                Target::ControlPlane,
                "{cp}"
            );
        }
        assert_eq!(
            target("/api/projects/not-a-uuid/data/x", true, false),
            Target::NoSuchProject
        );
        assert_eq!(target("/api/projects", true, false), Target::ControlPlane);
        assert_eq!(target("/", true, false), Target::ControlPlane);
        assert_eq!(target("/", false, true), Target::ControlPlane);
        assert_eq!(target("/", true, true), Target::ToConsole);
        assert_eq!(target("/console", true, false), Target::ToConsole);
        assert_eq!(target("/console/", true, false), Target::Console);
        assert_eq!(target("/console/projects/x", true, true), Target::Console);
        assert_eq!(target("/console/x", false, false), Target::ConsoleMethod);
    }

    #[test]
    fn unknown_paths_go_to_the_control_plane_never_to_the_console() {
        for path in [
            "/index.html",
            "/etc/passwd",
            "/x.php",
            "/consolex",
            "/docs/x",
        ] {
            for html in [false, true] {
                assert_eq!(target(path, true, html), Target::ControlPlane, "{path}");
            }
        }
        for html in [false, true] {
            assert_eq!(target("/docs", true, html), Target::ControlPlane);
            assert_eq!(target("/openapi.json", true, html), Target::ControlPlane);
        }
    }

    #[test]
    fn a_nul_anywhere_in_the_path_is_not_found() {
        for path in [
            "/api/projects/%00",
            "/api/projects/0b5e7b9e-5f4c-4a4e-9d7e-6a3b2c1d0e9f/data/p%00",
            "/console/%00",
            "/%00",
        ] {
            assert_eq!(target(path, true, false), Target::NotFound, "{path}");
        }
    }
}
