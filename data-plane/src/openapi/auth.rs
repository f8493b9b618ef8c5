//! The app-auth part of a project's document: sign-up, login, sessions, email flows, OAuth and
//! admins' management of app users, with the settings that shape them (which methods are on).

use super::{json_content, responses, schema_ref};
use model::ProjectConfig;
use serde_json::{json, Map, Value};

fn op(summary: &str, description: &str, ok: (u16, Value), errors: &[u16]) -> Value {
    json!({
        "tags": ["auth"],
        "summary": summary,
        "description": description,
        "security": [],
        "responses": responses(ok, errors),
    })
}

fn ok(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": json_content(schema) })
}

fn no_content(description: &str) -> Value {
    json!({ "description": description })
}

fn body(mut op: Value, schema: Value) -> Value {
    op["requestBody"] = json!({ "required": true, "content": json_content(schema) });
    op
}

fn query(mut op: Value, params: &[(&str, bool, &str)]) -> Value {
    op["parameters"] = params
        .iter()
        .map(|(name, required, description)| {
            json!({ "name": name, "in": "query", "required": required,
                    "schema": { "type": "string" }, "description": description })
        })
        .collect();
    op
}

fn bearer(mut op: Value) -> Value {
    op["security"] = json!([{ "bearerAuth": [] }]);
    op
}

fn message(secret: Option<&str>) -> Value {
    let mut props = json!({ "message": { "type": "string" } });
    if let Some(key) = secret {
        props[key] = json!({ "type": "string", "description": "Only in development mode (`BACKENDIFY_DEV=1`); otherwise the secret is mailed." });
    }
    json!({ "type": "object", "properties": props, "required": ["message"] })
}

/// The paths under `{base}/auth`, `{base}/settings/auth/users` and `{base}/rbac/users`.
pub(super) fn paths(cfg: &ProjectConfig, base: &str) -> Vec<(String, Value)> {
    let s = &cfg.auth.settings;
    let a = format!("{base}/auth");
    let pair = || ok("A token pair.", schema_ref("TokenPair"));
    let creds = json!({ "type": "object", "properties": {
        "email": { "type": "string", "format": "email" },
        "password": { "type": "string", "minLength": 8, "maxLength": 128 },
    }, "required": ["email", "password"] });
    let refresh_body = json!({ "type": "object", "properties": { "refresh_token": { "type": "string" } }, "required": ["refresh_token"] });
    let on_off = |on: bool| {
        if on {
            "On for this project."
        } else {
            "Off for this project (400)."
        }
    };
    let mut paths = vec![
        (
            format!("{a}/providers"),
            json!({ "get": op("Sign-in methods", "Which methods this project offers.", (200, ok("Methods.", json!({ "type": "object" }))), &[404]) }),
        ),
        (
            format!("{a}/meta"),
            json!({ "get": op("Self-description", "Endpoints, settings and examples, with absolute URLs.", (200, ok("Description.", json!({ "type": "object" }))), &[404]) }),
        ),
        (
            format!("{a}/register"),
            json!({ "post": body(op("Register", &format!("Creates an account and signs it in. Rate limit: 3 per minute per IP. {}", on_off(s.enable_email_password && s.allow_public_signup)), (201, pair()), &[400, 403, 409, 422, 429]), creds.clone()) }),
        ),
        (
            format!("{a}/login"),
            json!({ "post": body(op("Log in", &format!("Rate limit: 5 per minute per IP and per email. {}", on_off(s.enable_email_password)), (200, pair()), &[400, 401, 403, 422, 429]), creds) }),
        ),
        (
            format!("{a}/refresh"),
            json!({ "post": body(op("Refresh", "Rotates the refresh token. Presenting a refresh token that was already rotated out ends its whole session.", (200, pair()), &[401, 403, 422]), refresh_body.clone()) }),
        ),
        (
            format!("{a}/logout"),
            json!({ "post": body(op("Log out", "Ends the session of the refresh token, access tokens included; 204 whatever the token.", (204, no_content("Done.")), &[422]), refresh_body) }),
        ),
        (
            format!("{a}/logout/all"),
            json!({ "post": bearer(op("Log out everywhere", "Ends every session of the caller.", (204, no_content("Done.")), &[401, 403, 422])) }),
        ),
        (
            format!("{a}/me"),
            json!({ "get": bearer(op("The signed-in user", "", (200, ok("The user.", schema_ref("AppUserMe"))), &[401, 403, 422])) }),
        ),
        (
            format!("{a}/password/change"),
            json!({ "post": bearer(body(op("Change password", "Sessions stay signed in.", (204, no_content("Changed.")), &[400, 401, 403, 422]), json!({ "type": "object", "properties": { "current_password": { "type": "string" }, "new_password": { "type": "string", "minLength": 8, "maxLength": 128 } }, "required": ["current_password", "new_password"] }))) }),
        ),
        (
            format!("{a}/verify/send"),
            json!({ "post": bearer(op("Send an email-verification token", "Valid 24 hours.", (200, ok("Sent.", message(Some("token")))), &[400, 401, 403, 422])) }),
        ),
        (
            format!("{a}/verify/confirm"),
            json!({ "post": query(op("Verify the email address", "", (200, ok("Verified.", json!({ "type": "object", "properties": { "message": { "type": "string" }, "email": { "type": "string" } } }))), &[400, 422]), &[("token", true, "The mailed token.")]) }),
        ),
        (
            format!("{a}/password/reset/send"),
            json!({ "post": query(op("Send a password-reset token", "Valid 1 hour. The answer does not tell whether the email exists. Rate limit: 3 per 5 minutes per IP and per email.", (200, ok("Sent if the account exists.", message(Some("token")))), &[422, 429]), &[("email", true, "The account's email.")]) }),
        ),
        (
            format!("{a}/password/reset/confirm"),
            json!({ "post": query(op("Choose a new password", "", (200, ok("Reset.", message(None))), &[400, 422]), &[("token", true, "The mailed token."), ("new_password", true, "8 to 128 characters.")]) }),
        ),
        (
            format!("{a}/otp/send"),
            json!({ "post": query(op("Send a one-time sign-in code", &format!("6 digits, valid 10 minutes. With magic links and public signup an unknown email gets an account. Rate limit: 3 per 5 minutes per IP and per email. {}", on_off(s.enable_otp || s.enable_magic_link)), (200, ok("Sent if the account exists.", message(Some("code")))), &[400, 422, 429]), &[("email", true, "The account's email.")]) }),
        ),
        (
            format!("{a}/otp/verify"),
            json!({ "post": query(op("Sign in with a one-time code", "Five wrong guesses burn the code.", (200, pair()), &[400, 403, 422]), &[("email", true, ""), ("code", true, "")]) }),
        ),
        (
            format!("{a}/oauth/{{provider}}/url"),
            json!({ "get": query(op("Start an OAuth sign-in", "The provider's authorization URL (PKCE, S256), a signed `state` valid 10 minutes, and a `flow` secret the app keeps to finish the sign-in (it never goes through the browser).", (200, ok("Where to send the user.", json!({ "type": "object", "properties": { "provider": { "type": "string" }, "auth_url": { "type": "string" }, "state": { "type": "string" }, "flow": { "type": "string" } } }))), &[400, 422]), &[("redirect_uri", true, "Where the provider sends the user back.")]) }),
        ),
        (format!("{a}/oauth/{{provider}}/callback"), {
            let o = query(op("Finish an OAuth sign-in", "Exchanges the code with the provider. An existing account is linked only when the provider confirms the email address (else 409).", (200, pair()), &[400, 403, 409, 422]), &[("code", true, "From the provider."), ("state", true, "From the URL step."), ("flow", true, "From the URL step's answer: only the app that started the sign-in can finish it.")]);
            json!({ "get": o.clone(), "post": o })
        }),
        (
            format!("{a}/oauth/callback"),
            json!({ "post": query(op("Finish an OAuth sign-in (contract form)", "`provider`, `code`, `state` and `flow` in the query or a JSON body. The form with `provider_user_id` and `email` trusts the caller and works only in development mode.", (200, pair()), &[400, 403, 409, 422]), &[("provider", false, ""), ("code", false, ""), ("state", false, ""), ("flow", false, "Required with `code`."), ("provider_user_id", false, "Development mode only."), ("email", false, "Development mode only.")]) }),
        ),
    ];
    let users = format!("{base}/settings/auth/users");
    let admin = |mut o: Value| {
        o["tags"] = json!(["app-users"]);
        o["security"] = json!([{ "bearerAuth": [] }]);
        o
    };
    let user_body = json!({ "type": "object", "properties": {
        "email": { "type": "string", "format": "email" },
        "password": { "type": ["string", "null"], "minLength": 8, "maxLength": 128 },
        "is_email_verified": { "type": "boolean" }, "is_disabled": { "type": "boolean" },
    } });
    let listed = || ok("The user.", schema_ref("AppUserListed"));
    paths.push((users.clone(), json!({
        "get": admin(query(op("App users, newest first", "Member admins only.", (200, ok("Users.", json!({ "type": "array", "items": schema_ref("AppUserListed") }))), &[401, 404, 422]), &[("limit", false, "1 to 1000, default 100."), ("offset", false, "Default 0.")])),
        "post": admin(body(op("Create an app user", "", (201, listed()), &[401, 404, 409, 422]), user_body.clone())),
    })));
    paths.push((format!("{users}/{{app_user_id}}"), json!({
        "get": admin(op("An app user", "", (200, listed()), &[401, 404])),
        "patch": admin(body(op("Change an app user", "Disabling stops the user's live access tokens at once.", (200, listed()), &[401, 404, 409, 422]), user_body)),
        "delete": admin(op("Delete an app user", "With its sessions, tokens and identities.", (204, no_content("Deleted.")), &[401, 404])),
    })));
    paths.push((format!("{users}/{{app_user_id}}/revoke-sessions"), json!({
        "post": admin(op("Sign an app user out everywhere", "", (204, no_content("Done.")), &[401, 404])),
    })));
    let roles = format!("{base}/rbac/users/{{user_id}}/roles");
    let held = || {
        ok(
            "The roles the user holds, by name.",
            schema_ref("AppUserRoles"),
        )
    };
    let ids = json!({ "type": "object", "properties": {
        "role_ids": { "type": "array", "items": { "type": "string", "format": "uuid" } },
    }, "required": ["role_ids"] });
    paths.push((roles.clone(), json!({
        "get": admin(op("An app user's roles", "Member admins only.", (200, held()), &[401, 404])),
        "post": admin(body(op("Give an app user roles", "Every id is checked first (an unknown one is a 404 and nothing is assigned); roles already held are skipped.", (201, held()), &[401, 404, 422]), ids)),
    })));
    paths.push((format!("{roles}/{{role_id}}"), json!({
        "delete": admin(op("Take a role from an app user", "", (204, no_content("Removed.")), &[401, 404])),
    })));
    paths
}

/// Schemas of the auth paths.
pub(super) fn schemas() -> Map<String, Value> {
    let schemas = json!({
        "TokenPair": { "type": "object", "properties": {
            "access_token": { "type": "string", "description": "JWT for `Authorization: Bearer`." },
            "refresh_token": { "type": "string", "description": "Opaque, 64 characters; rotated on every refresh." },
            "token_type": { "type": "string", "const": "bearer" },
            "expires_in": { "type": "integer", "description": "Seconds until the access token expires." },
        }, "required": ["access_token", "refresh_token", "token_type", "expires_in"] },
        "AppUserMe": { "type": "object", "properties": {
            "id": { "type": "string", "format": "uuid" }, "email": { "type": "string" },
            "is_email_verified": { "type": "boolean" },
        }, "required": ["id", "email", "is_email_verified"] },
        "AppUserListed": { "type": "object", "properties": {
            "id": { "type": "string", "format": "uuid" }, "email": { "type": "string" },
            "is_email_verified": { "type": "boolean" }, "is_disabled": { "type": "boolean" },
            "created_at": { "type": "string", "format": "date-time" },
        }, "required": ["id", "email", "is_email_verified", "is_disabled", "created_at"] },
        "Role": { "type": "object", "properties": {
            "id": { "type": "string", "format": "uuid" },
            "project_id": { "type": "string", "format": "uuid" },
            "name": { "type": "string" }, "display_name": { "type": "string" },
            "description": { "type": ["string", "null"] },
            "is_default": { "type": "boolean" }, "is_system": { "type": "boolean" },
            "created_at": { "type": "string", "format": "date-time" },
            "updated_at": { "type": "string", "format": "date-time" },
        }, "required": ["id", "project_id", "name", "display_name", "is_default", "is_system"] },
        "AppUserRoles": { "type": "object", "properties": {
            "app_user_id": { "type": "string", "format": "uuid" },
            "roles": { "type": "array", "items": { "$ref": "#/components/schemas/Role" } },
        }, "required": ["app_user_id", "roles"] },
    });
    match schemas {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}
