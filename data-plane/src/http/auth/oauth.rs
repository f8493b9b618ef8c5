//! OAuth sign-in. The real flow is the authorization-code grant with PKCE: `…/oauth/{provider}/url`
//! stores a verifier and answers the provider's URL with a signed `state` and a `flow` secret;
//! the app sends the `code` and `state` it got back, with its `flow`, to
//! `…/oauth/{provider}/callback` (or `…/oauth/callback`), and the worker exchanges them with the
//! provider itself. The `flow` never travels through the browser, so whoever intercepts the
//! redirect (or plants one, for a login CSRF) cannot finish the sign-in. An identity is linked to an existing
//! account only when the provider confirms the email address.
//!
//! The contract's trust-the-caller callback (`provider_user_id` and `email` as query
//! parameters) exists only in development mode.

use super::{issue_pair, opt_param, origin, query_param};
use crate::auth::roles;
use crate::auth::store::{self, Origin};
use crate::db;
use crate::http::context::ProjectOf;
use crate::http::error::ApiError;
use crate::outbound::oauth::{Pkce, Provider, ProviderKind};
use crate::registry::Project;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::request::Parts;
use axum::Json;
use model::jwt;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

type Params = Query<Vec<(String, String)>>;

/// The signed `state` of an authorization: which project, provider and redirect it belongs to,
/// and the row holding its PKCE verifier.
#[derive(Serialize, Deserialize)]
struct StateClaims {
    #[serde(rename = "type")]
    kind: String,
    project_id: String,
    provider: String,
    redirect_uri: String,
    sid: String,
    exp: i64,
}

fn display(provider: &str) -> &str {
    match provider {
        "google" => "Google",
        "github" => "GitHub",
        other => other,
    }
}

/// The provider's client config, when the project configured one, after the enable checks.
/// `Ok(None)` is a built-in provider that is enabled but has no credentials yet.
fn provider(p: &Project, name: &str, style_of_url: bool) -> Result<Option<Provider>, ApiError> {
    let s = &p.config.auth.settings;
    let enabled = match name {
        "google" => s.enable_oauth_google,
        "github" => s.enable_oauth_github,
        _ => true,
    };
    let configured = p
        .config
        .auth
        .oauth_providers
        .iter()
        .find(|c| c.name == name);
    if !enabled {
        // The two endpoints word it differently in the contract.
        let msg = if style_of_url {
            format!("{} OAuth not enabled", display(name))
        } else {
            format!("{} OAuth is not enabled for this project", display(name))
        };
        return Err(ApiError::BadRequest(msg));
    }
    let Some(c) = configured else {
        return match name {
            "google" | "github" => Ok(None),
            _ => Err(ApiError::BadRequest(format!(
                "Unknown OAuth provider: {name}"
            ))),
        };
    };
    let kind = match c.kind.as_str() {
        "google" => ProviderKind::Google,
        "github" => ProviderKind::Github,
        _ => ProviderKind::Oidc,
    };
    Ok(Some(Provider {
        kind,
        client_id: c.client_id.clone(),
        client_secret: c.client_secret.clone(),
        issuer: c.issuer.clone(),
        authorize_url: c.authorize_url.clone(),
        token_url: c.token_url.clone(),
        userinfo_url: c.userinfo_url.clone(),
        scopes: c.scopes.clone(),
    }))
}

fn sign_state(
    p: &Project,
    provider: &str,
    redirect_uri: &str,
    sid: Uuid,
) -> Result<String, ApiError> {
    let key = p
        .config
        .auth
        .signing_keys
        .first()
        .ok_or_else(super::no_signing_key)?;
    let claims = StateClaims {
        kind: "oauth_state".into(),
        project_id: p.config.project_id.to_string(),
        provider: provider.to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        sid: sid.to_string(),
        exp: chrono::Utc::now().timestamp() + 600,
    };
    Ok(jwt::sign_with_kid(&claims, &key.kid, key.secret.as_bytes()))
}

fn verify_state(p: &Project, state: &str, provider: &str) -> Result<Uuid, ApiError> {
    let invalid = || ApiError::BadRequest("Invalid or expired OAuth state".into());
    let (kid, _) = jwt::peek(state).ok_or_else(invalid)?;
    let key = kid
        .and_then(|kid| p.config.auth.signing_keys.iter().find(|k| k.kid == kid))
        .ok_or_else(invalid)?;
    let c: StateClaims = jwt::verify(state, key.secret.as_bytes()).map_err(|_| invalid())?;
    if c.kind != "oauth_state"
        || c.project_id != p.config.project_id.to_string()
        || c.provider != provider
    {
        return Err(invalid());
    }
    Uuid::parse_str(&c.sid).map_err(|_| invalid())
}

/// `GET …/auth/oauth/{provider}/url?redirect_uri=`
pub async fn url(
    State(st): State<AppState>,
    ProjectOf(p): ProjectOf,
    Path((_, name)): Path<(String, String)>,
    parts: Parts,
    Query(params): Params,
) -> Result<Json<Value>, ApiError> {
    let redirect_uri = query_param(&params, "redirect_uri")?;
    let origin = origin(&parts, &st);
    super::limit(&st, &p, crate::ratelimit::Bucket::OAuthStart, &origin, None).await?;
    if redirect_uri.len() > 2048 || redirect_uri.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(
            "redirect_uri must be a URL of at most 2048 characters".into(),
        ));
    }
    let configured = provider(&p, &name, true)?;
    let sid = Uuid::new_v4();
    let state = sign_state(&p, &name, redirect_uri, sid)?;
    let Some(provider) = configured else {
        // A built-in provider without credentials: the contract's placeholder URL.
        let (base, scope) = if name == "google" {
            (
                "https://accounts.google.com/o/oauth2/v2/auth",
                "email%20profile",
            )
        } else {
            ("https://github.com/login/oauth/authorize", "user:email")
        };
        let enc = |s: &str| form_urlencoded_component(s);
        let auth_url = format!(
            "{base}?client_id=YOUR_CLIENT_ID&redirect_uri={}&response_type=code&scope={scope}&state={}",
            enc(redirect_uri),
            enc(&state)
        );
        return Ok(Json(json!({
            "provider": name, "auth_url": auth_url, "state": state,
            "note": format!("Replace YOUR_CLIENT_ID with actual {} OAuth client ID (PUT …/settings/auth/oauth/{name} stores it, and the URL is then complete)", display(&name)),
        })));
    };
    let pkce = Pkce::new();
    let flow = model::secret::random_token();
    let mut tx = db::begin(&st.db, &p).await?;
    store::save_oauth_state(&mut tx, sid, &name, redirect_uri, &pkce.verifier, &flow).await?;
    tx.commit().await?;
    let auth_url = st
        .oauth
        .authorize_url(&provider, redirect_uri, &state, &pkce.challenge)
        .await
        .map_err(|e| ApiError::BadGateway(format!("OAuth provider unavailable: {e}")))?;
    Ok(Json(
        json!({ "provider": name, "auth_url": auth_url, "state": state, "flow": flow }),
    ))
}

fn form_urlencoded_component(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `GET|POST …/auth/oauth/{provider}/callback?code=&state=`
pub async fn provider_callback(
    State(st): State<AppState>,
    ProjectOf(p): ProjectOf,
    Path((_, name)): Path<(String, String)>,
    parts: Parts,
    Query(params): Params,
) -> Result<Json<Value>, ApiError> {
    let code = query_param(&params, "code")?;
    let state = query_param(&params, "state")?;
    let flow = query_param(&params, "flow")?;
    let origin = origin(&parts, &st);
    complete(&st, &p, &name, code, state, flow, &origin).await
}

/// `POST …/auth/oauth/callback`: `code` and `state` (query or JSON body, with `provider`)
/// complete a real authorization; the contract's `provider_user_id` form is for development.
pub async fn callback(
    State(st): State<AppState>,
    ProjectOf(p): ProjectOf,
    parts: Parts,
    Query(params): Params,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body: serde_json::Map<String, Value> = if body.iter().all(u8::is_ascii_whitespace) {
        Default::default()
    } else {
        serde_json::from_slice(&body).unwrap_or_default()
    };
    let get = |k: &str| {
        opt_param(&params, k)
            .map(str::to_owned)
            .or_else(|| body.get(k).and_then(Value::as_str).map(str::to_owned))
    };
    let provider_name = get("provider");
    let origin = origin(&parts, &st);
    if let (Some(code), Some(state)) = (get("code"), get("state")) {
        let name = provider_name.ok_or_else(|| missing("provider"))?;
        let flow = get("flow").ok_or_else(|| missing("flow"))?;
        return complete(&st, &p, &name, &code, &state, &flow, &origin).await;
    }
    let name = query_param(&params, "provider")?.to_owned();
    let provider_user_id = query_param(&params, "provider_user_id")?.to_owned();
    if !st.dev_mode {
        return Err(ApiError::BadRequest(
            "OAuth callback needs the 'code' and 'state' the provider returned (start at GET …/auth/oauth/{provider}/url); the form with provider_user_id is only available in development mode".into(),
        ));
    }
    match name.as_str() {
        "google" | "github" => {
            provider(&p, &name, false)?;
        }
        _ => {
            return Err(ApiError::BadRequest(format!(
                "Unknown OAuth provider: {name}"
            )))
        }
    }
    let email = opt_param(&params, "email").map(str::to_lowercase);
    let who = Identity {
        provider: &name,
        provider_user_id: &provider_user_id,
        email: email.as_deref(),
        // The development stand-in trusts the caller, as the contract describes.
        email_verified: email.is_some(),
    };
    sign_in(&st, &p, &who, &origin).await.map(Json)
}

fn missing(key: &str) -> ApiError {
    ApiError::Validation(vec![model::error_body::validation_item(
        "missing",
        &["query", key],
        "Field required",
        Value::Null,
    )])
}

/// Exchanges the code with the provider and signs the user in.
async fn complete(
    st: &AppState,
    p: &Project,
    name: &str,
    code: &str,
    state: &str,
    flow: &str,
    origin: &Origin,
) -> Result<Json<Value>, ApiError> {
    let Some(provider) = provider(p, name, false)? else {
        return Err(ApiError::BadRequest(format!(
            "{} OAuth has no client credentials configured",
            display(name)
        )));
    };
    let sid = verify_state(p, state, name)?;
    let mut tx = db::begin(&st.db, p).await?;
    let pending = store::take_oauth_state(&mut tx, sid, flow).await?;
    tx.commit().await?;
    let (_, redirect_uri, verifier) =
        pending.ok_or_else(|| ApiError::BadRequest("Invalid or expired OAuth state".into()))?;
    let identity = st
        .oauth
        .exchange(&provider, code, &redirect_uri, &verifier)
        .await
        .map_err(|e| ApiError::BadRequest(format!("OAuth sign-in failed: {e}")))?;
    let email = identity.email.as_deref().map(str::to_lowercase);
    let who = Identity {
        provider: name,
        provider_user_id: &identity.provider_user_id,
        email: email.as_deref(),
        email_verified: identity.email_verified,
    };
    sign_in(st, p, &who, origin).await.map(Json)
}

/// Who the provider says signed in.
struct Identity<'a> {
    provider: &'a str,
    provider_user_id: &'a str,
    email: Option<&'a str>,
    email_verified: bool,
}

/// The user of an identity: the linked one, else the account with a verified matching email
/// (then linked), else a new account.
async fn sign_in(
    st: &AppState,
    p: &Project,
    who: &Identity<'_>,
    origin: &Origin,
) -> Result<Value, ApiError> {
    let disabled = || ApiError::Forbidden("User account is disabled".into());
    let method = format!("oauth_{}", who.provider);
    let mut tx = db::begin(&st.db, p).await?;
    let user = match store::identity(&mut tx, who.provider, who.provider_user_id).await? {
        Some(id) => store::user_by_id(&mut tx, &id)
            .await?
            .ok_or_else(|| ApiError::BadRequest("Linked user not found".into()))?,
        None => {
            let email = who
                .email
                .ok_or_else(|| ApiError::BadRequest("Email is required".into()))?;
            let user = match store::user_by_email(&mut tx, email).await? {
                Some(_) if !who.email_verified => {
                    return Err(ApiError::Conflict(
                        "An account with this email already exists, and the provider did not confirm the address: sign in to that account instead".into(),
                    ));
                }
                Some(existing) => existing,
                None => {
                    if !p.config.auth.settings.allow_public_signup {
                        return Err(ApiError::Forbidden(
                            "Public signup is not allowed for this project".into(),
                        ));
                    }
                    let user = store::insert_user(&mut tx, email, None, who.email_verified, false)
                        .await?
                        .ok_or_else(|| {
                            ApiError::Conflict("User with this email already exists".into())
                        })?;
                    roles::assign_default_role(&mut tx, &p.config, &user.id).await?;
                    store::audit_user(
                        &mut tx,
                        "auth.register",
                        &user,
                        json!({ "method": method }),
                        origin,
                    )
                    .await?;
                    user
                }
            };
            if user.is_disabled {
                return Err(disabled());
            }
            store::link_identity(
                &mut tx,
                who.provider,
                who.provider_user_id,
                &user.id,
                Some(email),
            )
            .await?;
            user
        }
    };
    if user.is_disabled {
        return Err(disabled());
    }
    if who.email_verified && who.email == Some(user.email.as_str()) {
        store::prove_email(&mut tx, &user).await?;
    }
    let pair = issue_pair(&mut tx, p, &user.id, origin).await?;
    store::audit_user(
        &mut tx,
        "auth.login",
        &user,
        json!({ "method": method }),
        origin,
    )
    .await?;
    tx.commit().await?;
    Ok(pair)
}
