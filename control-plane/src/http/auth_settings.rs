//! A project's app-auth configuration (`spec/app-auth.md`, "Admin: auth settings"): the settings
//! themselves, OAuth providers with their client credentials, and the keys that sign app-user
//! tokens. Everything here is compiled into the project config, so each change bumps the config
//! version under the project lock and is pushed to the workers after commit.

use super::body::{Fields, JsonObject};
use super::error::ApiError;
use super::member::{Member, Pushed};
use crate::db::auth;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use model::{AuthSettings, OAuthProviderConfig};
use serde_json::{json, Value};

/// `GET …/settings/auth` (the row is created with the defaults on first use).
pub async fn get(State(state): State<AppState>, m: Member) -> Result<Json<AuthSettings>, ApiError> {
    Ok(Json(auth::settings(&state.db, m.project.id).await?))
}

/// `PUT …/settings/auth`: a partial update despite the verb; null leaves a value alone.
pub async fn put(
    State(state): State<AppState>,
    m: Member,
    body: JsonObject,
) -> Result<Pushed<Json<AuthSettings>>, ApiError> {
    let mut f = Fields::new(body);
    let flags = [
        "enable_email_password",
        "enable_magic_link",
        "enable_otp",
        "enable_oauth_google",
        "enable_oauth_github",
        "allow_public_signup",
        "require_email_verification",
    ]
    .map(|k| (k, f.opt_bool(k)));
    let access = f.opt_int("access_ttl_minutes", 1, 1440);
    let refresh = f.opt_int("refresh_ttl_days", 1, 365);
    let retention = f.opt_int("audit_retention_days", 1, 3650);
    let mode = f.opt_string("session_mode", 16);
    if let Some(m) = mode
        .as_deref()
        .filter(|m| !matches!(*m, "header" | "cookie"))
    {
        f.reject(
            "session_mode",
            "string_pattern_mismatch",
            "String should match pattern '^(header|cookie)$'",
            m,
        );
    }
    f.finish()?;
    let mut tx = state.db.begin().await?;
    m.lock(&mut tx).await?;
    let mut s = auth::settings(&mut *tx, m.project.id).await?;
    for (key, value) in flags {
        let Some(v) = value else { continue };
        *match key {
            "enable_email_password" => &mut s.enable_email_password,
            "enable_magic_link" => &mut s.enable_magic_link,
            "enable_otp" => &mut s.enable_otp,
            "enable_oauth_google" => &mut s.enable_oauth_google,
            "enable_oauth_github" => &mut s.enable_oauth_github,
            "allow_public_signup" => &mut s.allow_public_signup,
            _ => &mut s.require_email_verification,
        } = v;
    }
    if let Some(n) = access {
        s.access_ttl_minutes = n as i32;
    }
    if let Some(n) = refresh {
        s.refresh_ttl_days = n as i32;
    }
    if let Some(mode) = mode {
        s.session_mode = mode;
    }
    if let Some(n) = retention {
        s.audit_retention_days = n as i32;
    }
    auth::save_settings(&mut *tx, m.project.id, &s).await?;
    let lagging = m.publish(&state, tx).await?;
    Ok(Pushed(Json(s), lagging))
}

fn provider_out(p: &OAuthProviderConfig) -> Value {
    json!({
        "name": p.name, "kind": p.kind, "client_id": p.client_id, "has_client_secret": true,
        "issuer": p.issuer, "authorize_url": p.authorize_url, "token_url": p.token_url,
        "userinfo_url": p.userinfo_url, "scopes": p.scopes,
    })
}

/// `GET …/settings/auth/oauth`: the providers, without their client secrets.
pub async fn providers(
    State(state): State<AppState>,
    m: Member,
) -> Result<Json<Vec<Value>>, ApiError> {
    let list = auth::oauth_providers(&state.db, m.project.id).await?;
    Ok(Json(list.iter().map(provider_out).collect()))
}

fn valid_provider_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && name.len() <= 32
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

fn is_http_url(s: &str) -> bool {
    (s.starts_with("https://") || s.starts_with("http://"))
        && s.len() <= 2048
        && !s.contains(char::is_whitespace)
}

/// `PUT …/settings/auth/oauth/{provider}`: sets a provider's client credentials. `google` and
/// `github` are the built-in providers (enabled by the settings' flags); any other name is an
/// OpenID Connect provider and needs its `issuer`.
pub async fn put_provider(
    State(state): State<AppState>,
    m: Member,
    Path((_, name)): Path<(String, String)>,
    body: JsonObject,
) -> Result<Pushed<Json<Value>>, ApiError> {
    if !valid_provider_name(&name) {
        return Err(ApiError::BadRequest(format!(
            "Invalid provider name: {name} (lower case letters, digits, '_' and '-', at most 32)"
        )));
    }
    let mut f = Fields::new(body);
    let client_id = f.string("client_id", 1, 512);
    let client_secret = f.string("client_secret", 1, 2048);
    let urls = ["issuer", "authorize_url", "token_url", "userinfo_url"].map(|k| {
        let v = f.opt_string(k, 2048);
        if let Some(bad) = v.as_deref().filter(|u| !is_http_url(u)) {
            f.reject(k, "url_parsing", "Input should be a valid http(s) URL", bad);
        }
        v
    });
    let scopes = f.opt_string("scopes", 1024);
    f.finish()?;
    let [issuer, authorize_url, token_url, userinfo_url] = urls;
    let kind = match name.as_str() {
        "google" | "github" => name.clone(),
        _ => "oidc".to_owned(),
    };
    if kind == "oidc" && issuer.is_none() {
        return Err(ApiError::BadRequest(format!(
            "Provider '{name}' is an OpenID Connect provider: 'issuer' is required"
        )));
    }
    let provider = OAuthProviderConfig {
        name,
        kind,
        client_id: client_id.unwrap_or_default(),
        client_secret: client_secret.unwrap_or_default(),
        issuer,
        authorize_url,
        token_url,
        userinfo_url,
        scopes,
    };
    let mut tx = state.db.begin().await?;
    m.lock(&mut tx).await?;
    auth::save_oauth_provider(&mut *tx, m.project.id, &provider).await?;
    let lagging = m.publish(&state, tx).await?;
    Ok(Pushed(Json(provider_out(&provider)), lagging))
}

/// `DELETE …/settings/auth/oauth/{provider}`
pub async fn delete_provider(
    State(state): State<AppState>,
    m: Member,
    Path((_, name)): Path<(String, String)>,
) -> Result<Pushed<StatusCode>, ApiError> {
    let mut tx = state.db.begin().await?;
    m.lock(&mut tx).await?;
    if !auth::delete_oauth_provider(&mut *tx, m.project.id, &name).await? {
        return Err(ApiError::NotFound("OAuth provider not found".into()));
    }
    let lagging = m.publish(&state, tx).await?;
    Ok(Pushed(StatusCode::NO_CONTENT, lagging))
}

/// `GET …/settings/auth/signing-keys`: key ids and dates, never the secrets.
pub async fn signing_keys(
    State(state): State<AppState>,
    m: Member,
) -> Result<Json<Vec<Value>>, ApiError> {
    let keys = auth::key_infos(&state.db, m.project.id).await?;
    Ok(Json(
        keys.iter()
            .map(|k| {
                json!({ "kid": k.kid, "created_at": k.created_at, "retired_at": k.retired_at,
                        "current": k.retired_at.is_none() })
            })
            .collect(),
    ))
}

/// `POST …/settings/auth/signing-keys/rotate`: a new key signs from now on; tokens signed by the
/// previous key keep working until they expire (the old key verifies for one more day).
pub async fn rotate_signing_key(
    State(state): State<AppState>,
    m: Member,
) -> Result<Pushed<(StatusCode, Json<Value>)>, ApiError> {
    let mut tx = state.db.begin().await?;
    m.lock(&mut tx).await?;
    let kid = auth::rotate_signing_key(&mut tx, m.project.id).await?;
    let lagging = m.publish(&state, tx).await?;
    tracing::info!(project.id = %m.project.id, key.id = %kid, "rotated the app-token signing key");
    Ok(Pushed(
        (StatusCode::CREATED, Json(json!({ "kid": kid }))),
        lagging,
    ))
}
