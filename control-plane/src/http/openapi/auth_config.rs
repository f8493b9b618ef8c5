//! Operations of a project's app-auth configuration: API keys, auth settings, OAuth providers
//! and token signing keys.

use super::{list_of, object, op, sref, text, Op, UUID};
use serde_json::{json, Value};

const P: &str = "/api/projects/{project_id}";

pub(super) fn ops() -> Vec<Op> {
    let s = format!("{P}/settings/auth");
    let provider_body = object(
        &[
            ("client_id", json!({ "type": "string", "minLength": 1 })),
            ("client_secret", json!({ "type": "string", "minLength": 1 })),
            ("issuer", text("OpenID Connect issuer URL (required for providers other than `google` and `github`).")),
            ("authorize_url", text("Endpoint override (e.g. GitHub Enterprise).")),
            ("token_url", text("Endpoint override.")),
            ("userinfo_url", text("Endpoint override.")),
            ("scopes", text("Space-separated scopes; the provider's default when absent.")),
        ],
        &["client_id", "client_secret"],
    );
    vec![
        op("post", format!("{P}/api-keys"), "api-keys", "Create an API key")
            .about("The key is in this response only; it is stored as a SHA-256 digest. It works on every worker when the call returns.")
            .body(object(&[("name", json!({ "type": "string", "maxLength": 255 }))], &["name"]))
            .ok(201, "The key, shown once.", sref("ApiKeyCreated"))
            .errors(&[422])
            .pushed(),
        op("get", format!("{P}/api-keys"), "api-keys", "The project's API keys")
            .about("Revoked keys included; never the key itself.")
            .ok(200, "Keys.", list_of("ApiKey")),
        op("post", format!("{P}/api-keys/{{api_key_id}}/revoke"), "api-keys", "Revoke an API key")
            .about("Idempotent. The key stops working on every worker before the call returns.")
            .ok(204, "Revoked.", Value::Null)
            .pushed(),
        op("get", s.clone(), "auth-settings", "The project's auth settings")
            .ok(200, "Settings (defaults until changed).", sref("AuthSettings")),
        op("put", s.clone(), "auth-settings", "Change auth settings")
            .about("A partial update: absent or null keys keep their value.")
            .body(sref("AuthSettings"))
            .ok(200, "The settings after the change.", sref("AuthSettings"))
            .errors(&[422])
            .pushed(),
        op("get", format!("{s}/oauth"), "auth-settings", "OAuth providers")
            .ok(200, "Providers, without their client secrets.", list_of("OAuthProvider")),
        op("put", format!("{s}/oauth/{{provider}}"), "auth-settings", "Set an OAuth provider's client credentials")
            .about("`google` and `github` are built in (and enabled by the settings' flags); any other name is an OpenID Connect provider given by its `issuer`.")
            .body(provider_body)
            .ok(200, "The provider, without its secret.", sref("OAuthProvider"))
            .errors(&[400, 422])
            .pushed(),
        op("delete", format!("{s}/oauth/{{provider}}"), "auth-settings", "Remove an OAuth provider")
            .ok(204, "Removed.", Value::Null)
            .pushed(),
        op("get", format!("{s}/signing-keys"), "auth-settings", "Keys of app-user tokens")
            .about("Key ids and dates only. Retired keys verify tokens for one more day.")
            .ok(200, "Keys, newest first.", list_of("SigningKey")),
        op("post", format!("{s}/signing-keys/rotate"), "auth-settings", "Rotate the app-user token key")
            .about("New tokens are signed with a new key; tokens signed with the previous key keep working until they expire.")
            .ok(201, "The new key id.", object(&[("kid", json!({ "type": "string" }))], &["kid"]))
            .pushed(),
    ]
}

pub(super) fn schemas() -> Vec<(&'static str, Value)> {
    let uuid = json!({ "type": "string", "format": UUID });
    let time = json!({ "type": "string", "format": "date-time" });
    let flag = json!({ "type": "boolean" });
    vec![
        (
            "ApiKeyCreated",
            object(
                &[
                    ("id", uuid.clone()),
                    ("name", json!({ "type": "string" })),
                    ("prefix", text("The key's first 8 characters.")),
                    ("api_key", text("The key: send it as `X-API-Key`.")),
                ],
                &["id", "name", "prefix", "api_key"],
            ),
        ),
        (
            "ApiKey",
            object(
                &[
                    ("id", uuid),
                    ("name", json!({ "type": "string" })),
                    ("prefix", json!({ "type": "string" })),
                    ("revoked", flag.clone()),
                    ("created_at", time.clone()),
                ],
                &["id", "name", "prefix", "revoked", "created_at"],
            ),
        ),
        (
            "AuthSettings",
            object(
                &[
                    ("enable_email_password", flag.clone()),
                    ("enable_magic_link", flag.clone()),
                    ("enable_otp", flag.clone()),
                    ("enable_oauth_google", flag.clone()),
                    ("enable_oauth_github", flag.clone()),
                    (
                        "access_ttl_minutes",
                        json!({ "type": "integer", "minimum": 1, "maximum": 1440 }),
                    ),
                    (
                        "refresh_ttl_days",
                        json!({ "type": "integer", "minimum": 1, "maximum": 365 }),
                    ),
                    (
                        "session_mode",
                        json!({ "type": "string", "enum": ["header", "cookie"] }),
                    ),
                    ("allow_public_signup", flag.clone()),
                    ("require_email_verification", flag.clone()),
                    (
                        "audit_retention_days",
                        json!({ "type": "integer", "minimum": 1, "maximum": 3650, "default": 90, "description": "Days audit events are kept; workers purge older ones, and the audit chain keeps the last purged event's hash as its anchor." }),
                    ),
                ],
                &[],
            ),
        ),
        (
            "OAuthProvider",
            object(
                &[
                    ("name", json!({ "type": "string" })),
                    (
                        "kind",
                        json!({ "type": "string", "enum": ["google", "github", "oidc"] }),
                    ),
                    ("client_id", json!({ "type": "string" })),
                    ("has_client_secret", flag.clone()),
                    ("issuer", json!({ "type": ["string", "null"] })),
                    ("authorize_url", json!({ "type": ["string", "null"] })),
                    ("token_url", json!({ "type": ["string", "null"] })),
                    ("userinfo_url", json!({ "type": ["string", "null"] })),
                    ("scopes", json!({ "type": ["string", "null"] })),
                ],
                &["name", "kind", "client_id"],
            ),
        ),
        (
            "SigningKey",
            object(
                &[
                    ("kid", json!({ "type": "string" })),
                    ("created_at", time.clone()),
                    (
                        "retired_at",
                        json!({ "type": ["string", "null"], "format": "date-time" }),
                    ),
                    ("current", flag),
                ],
                &["kid", "created_at", "current"],
            ),
        ),
    ]
}
