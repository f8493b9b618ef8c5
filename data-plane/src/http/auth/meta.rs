//! `GET …/auth/meta`: the project's auth API describing itself, with absolute URLs and
//! copy-paste examples.

use crate::http::context::ProjectOf;
use crate::AppState;
use axum::extract::State;
use axum::http::request::Parts;
use axum::Json;
use serde_json::{json, Value};

/// The public base URL of the request: the host the client used (as the router forwards it).
fn base_url(parts: &Parts, st: &AppState) -> String {
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let peer_trusted = super::via_trusted_proxy(parts, st);
    let forwarded = |name: &str| header(name).filter(|_| peer_trusted);
    let host = forwarded("x-forwarded-host")
        .or_else(|| header("host"))
        .unwrap_or_else(|| "localhost".into());
    let proto = forwarded("x-forwarded-proto").unwrap_or_else(|| "http".into());
    format!("{proto}://{host}")
}

fn endpoint(name: &str, method: &str, url: String, description: &str, auth: bool) -> Value {
    json!({ "name": name, "method": method, "url": url, "description": description, "auth_required": auth })
}

/// `GET …/auth/meta`
pub async fn meta(
    State(st): State<AppState>,
    ProjectOf(p): ProjectOf,
    parts: Parts,
) -> Json<Value> {
    let s = &p.config.auth.settings;
    let id = p.config.project_id;
    let base = format!("{}/api/projects/{id}/auth", base_url(&parts, &st));
    let credentials = json!({ "email": "string", "password": "string" });
    let mut endpoints = vec![endpoint(
        "Get Providers",
        "GET",
        format!("{base}/providers"),
        "Which sign-in methods this project offers",
        false,
    )];
    if s.enable_email_password {
        let mut register = endpoint(
            "Register",
            "POST",
            format!("{base}/register"),
            "Create an account (password: 8 to 128 characters); returns a token pair",
            false,
        );
        register["request_body"] = credentials.clone();
        let mut login = endpoint(
            "Login",
            "POST",
            format!("{base}/login"),
            "Sign in with email and password; returns a token pair",
            false,
        );
        login["request_body"] = credentials;
        endpoints.extend([register, login]);
    }
    let refresh_body = json!({ "refresh_token": "string" });
    let mut refresh = endpoint(
        "Refresh Tokens",
        "POST",
        format!("{base}/refresh"),
        "Trade a refresh token for a new pair (the old refresh token stops working; presenting it again signs the session out)",
        false,
    );
    refresh["request_body"] = refresh_body.clone();
    let mut logout = endpoint(
        "Logout",
        "POST",
        format!("{base}/logout"),
        "End the session of a refresh token",
        false,
    );
    logout["request_body"] = refresh_body;
    let mut change = endpoint(
        "Change Password",
        "POST",
        format!("{base}/password/change"),
        "Change the signed-in user's password",
        true,
    );
    change["request_body"] = json!({ "current_password": "string", "new_password": "string" });
    endpoints.extend([
        refresh,
        logout,
        endpoint(
            "Get Current User",
            "GET",
            format!("{base}/me"),
            "The signed-in user",
            true,
        ),
        change,
        endpoint(
            "Logout All Sessions",
            "POST",
            format!("{base}/logout/all"),
            "End every session of the signed-in user",
            true,
        ),
    ]);
    let body = r#"{"email":"user@example.com","password":"a-long-password"}"#;
    Json(json!({
        "project_id": id,
        "project_name": p.config.name,
        "providers": {
            "email_password": s.enable_email_password, "magic_link": s.enable_magic_link,
            "otp": s.enable_otp, "oauth_google": s.enable_oauth_google,
            "oauth_github": s.enable_oauth_github,
        },
        "settings": {
            "session_mode": s.session_mode, "allow_public_signup": s.allow_public_signup,
            "require_email_verification": s.require_email_verification,
            "access_token_ttl_minutes": s.access_ttl_minutes,
            "refresh_token_ttl_days": s.refresh_ttl_days,
        },
        "auth": {
            "type": "Bearer token",
            "header": "Authorization: Bearer <access_token>",
            "note": format!("Access tokens expire after {} minutes; refresh them with the refresh token, which lives {} days and changes on every refresh.", s.access_ttl_minutes, s.refresh_ttl_days),
        },
        "endpoints": endpoints,
        "response_schemas": {
            "token_pair": { "access_token": "string (JWT)", "refresh_token": "string (64 characters)", "token_type": "bearer", "expires_in": "integer (seconds)" },
            "user": { "id": "string (UUID)", "email": "string", "is_email_verified": "boolean" },
        },
        "examples": {
            "curl": {
                "register": format!("curl -X POST {base}/register -H 'Content-Type: application/json' -d '{body}'"),
                "login": format!("curl -X POST {base}/login -H 'Content-Type: application/json' -d '{body}'"),
                "refresh": format!("curl -X POST {base}/refresh -H 'Content-Type: application/json' -d '{{\"refresh_token\":\"<refresh_token>\"}}'"),
                "me": format!("curl {base}/me -H 'Authorization: Bearer <access_token>'"),
            },
            "fetch": {
                "register": format!("await fetch('{base}/register', {{ method: 'POST', headers: {{ 'Content-Type': 'application/json' }}, body: JSON.stringify({{ email, password }}) }})"),
                "login": format!("await fetch('{base}/login', {{ method: 'POST', headers: {{ 'Content-Type': 'application/json' }}, body: JSON.stringify({{ email, password }}) }})"),
                "me": format!("await fetch('{base}/me', {{ headers: {{ Authorization: `Bearer ${{accessToken}}` }} }})"),
            },
        },
        "error_codes": {
            "400": "The request breaks a rule of this project (a disabled sign-in method, an invalid or expired token or code)",
            "401": "Missing, invalid or expired credentials",
            "403": "The account is disabled, needs a verified email, or signup is closed",
            "409": "An account with this email already exists",
            "422": "The request body or parameters are malformed",
            "429": "Too many attempts; retry after the number of seconds in Retry-After",
        },
    }))
}
