//! OAuth 2.0 authorization-code flow with PKCE (S256) for app-user sign-in through Google,
//! GitHub or any OpenID Connect provider.
//!
//! The worker builds the provider's authorize URL, and later exchanges the code the browser
//! brings back for the user's identity: provider user id, email and whether the provider has
//! verified that email. Every request goes through the egress allow-list. Errors are short
//! texts safe to show an app user; they never hold the client secret, the code or tokens.

use super::egress::EgressError;
use super::Egress;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use reqwest::header::{ACCEPT, AUTHORIZATION};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const GOOGLE_ISSUER: &str = "https://accounts.google.com";
const GITHUB_AUTHORIZE: &str = "https://github.com/login/oauth/authorize";
const GITHUB_TOKEN: &str = "https://github.com/login/oauth/access_token";
const GITHUB_USER: &str = "https://api.github.com/user";
const OIDC_SCOPES: &str = "openid email profile";
const GITHUB_SCOPES: &str = "read:user user:email";
/// How long a discovery document is trusted.
const DISCOVERY_TTL: Duration = Duration::from_secs(3600);
/// Largest provider response read.
const MAX_BODY: usize = 1 << 20;

/// Which protocol a provider speaks.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// Google: OIDC with the issuer `https://accounts.google.com` unless configured.
    Google,
    /// GitHub (or GitHub Enterprise through the endpoint overrides): plain OAuth 2.0 and the
    /// REST API for the identity.
    Github,
    /// Any OpenID Connect provider, found through its issuer's discovery document.
    Oidc,
}

/// One provider of one project. Its `Debug` leaves the client secret out.
#[derive(Clone)]
pub struct Provider {
    /// Protocol.
    pub kind: ProviderKind,
    /// The project's client id at the provider.
    pub client_id: String,
    /// The project's client secret at the provider.
    pub client_secret: String,
    /// OIDC issuer URL (required for Oidc; Google defaults to https://accounts.google.com).
    pub issuer: Option<String>,
    /// Authorize endpoint override (GitHub Enterprise, or tests); wins over discovery.
    pub authorize_url: Option<String>,
    /// Token endpoint override; wins over discovery.
    pub token_url: Option<String>,
    /// Userinfo endpoint override; for GitHub the `/user` URL, whose `/emails` lists the
    /// user's emails.
    pub userinfo_url: Option<String>,
    /// Space-separated scopes; default "openid email profile" (GitHub "read:user user:email").
    pub scopes: Option<String>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("kind", &self.kind)
            .field("client_id", &self.client_id)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// A PKCE pair: the verifier stays with the worker (inside the signed state), the challenge
/// goes into the authorize URL.
pub struct Pkce {
    /// 43 random unreserved characters (32 random bytes, base64url).
    pub verifier: String,
    /// base64url(SHA-256(verifier)), without padding.
    pub challenge: String,
}

impl Pkce {
    /// A fresh random pair.
    pub fn new() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self::from_verifier(URL_SAFE_NO_PAD.encode(bytes))
    }

    fn from_verifier(verifier: String) -> Self {
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        Self {
            verifier,
            challenge,
        }
    }
}

impl Default for Pkce {
    fn default() -> Self {
        Self::new()
    }
}

/// What the provider says about the user.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    /// The provider's stable id for the user (OIDC `sub`, GitHub `id`).
    pub provider_user_id: String,
    /// The user's email as the provider gives it (not lower-cased).
    pub email: Option<String>,
    /// Whether the provider says it verified that email (false without an email).
    pub email_verified: bool,
}

/// Why an OAuth step failed. The texts are safe to show an app user; causes worth logging
/// travel as `source`.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// The provider's settings cannot work (e.g. an OIDC provider without issuer).
    #[error("OAuth provider is misconfigured: {0}")]
    Misconfigured(&'static str),
    /// An endpoint is outside EGRESS_ALLOW.
    #[error("OAuth provider is outside EGRESS_ALLOW")]
    Egress(#[source] EgressError),
    /// The provider could not be reached (connect, TLS, timeout).
    #[error("OAuth provider is not reachable")]
    Unreachable(#[source] reqwest::Error),
    /// Discovery failed or its issuer differs from the configured one.
    #[error("OAuth provider discovery failed: {0}")]
    Discovery(&'static str),
    /// The token endpoint refused the code (wrong code, verifier, redirect URI or client).
    #[error("OAuth provider refused the code")]
    Refused {
        /// The provider's `error` code, when it sent one.
        error: Option<String>,
    },
    /// The provider answered something we cannot use.
    #[error("OAuth provider sent an unexpected response: {0}")]
    BadResponse(&'static str),
}

/// Talks to OAuth providers; cheap to clone.
#[derive(Clone)]
pub struct OAuthClient {
    egress: Egress,
    http: reqwest::Client,
    discovered: Arc<Mutex<HashMap<String, (Instant, Endpoints)>>>,
}

/// The endpoints of one provider.
#[derive(Clone, Debug)]
struct Endpoints {
    authorize: String,
    token: String,
    userinfo: Option<String>,
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    userinfo_endpoint: Option<String>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct UserInfo {
    sub: Value,
    email: Option<String>,
    email_verified: Option<Value>,
}

#[derive(Deserialize)]
struct GithubUser {
    id: Value,
    email: Option<String>,
}

#[derive(Deserialize)]
struct GithubEmail {
    email: String,
    #[serde(default)]
    primary: bool,
    #[serde(default)]
    verified: bool,
}

impl OAuthClient {
    /// A client whose requests all pass `egress`.
    pub fn new(egress: Egress) -> Self {
        Self {
            http: egress.http_client(),
            egress,
            discovered: Arc::default(),
        }
    }

    /// The provider's authorize URL with response_type=code, client_id, redirect_uri, scope,
    /// state, code_challenge and code_challenge_method=S256. For Google and OIDC providers this
    /// may fetch the discovery document (cached for an hour).
    pub async fn authorize_url(
        &self,
        p: &Provider,
        redirect_uri: &str,
        state: &str,
        pkce_challenge: &str,
    ) -> anyhow::Result<String> {
        let endpoints = self.endpoints(p).await?;
        let mut url = reqwest::Url::parse(&endpoints.authorize)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or(OAuthError::Misconfigured(
                "the authorize URL is not an http(s) URL",
            ))?;
        let default_scopes = match p.kind {
            ProviderKind::Github => GITHUB_SCOPES,
            ProviderKind::Google | ProviderKind::Oidc => OIDC_SCOPES,
        };
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &p.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", p.scopes.as_deref().unwrap_or(default_scopes))
            .append_pair("state", state)
            .append_pair("code_challenge", pkce_challenge)
            .append_pair("code_challenge_method", "S256");
        Ok(url.into())
    }

    /// Exchanges the code at the token endpoint (form POST with client id and secret, the
    /// redirect URI and the PKCE verifier), then reads the identity: OIDC/Google from the
    /// userinfo endpoint, GitHub from `/user` and `/user/emails` (the primary email).
    pub async fn exchange(
        &self,
        p: &Provider,
        code: &str,
        redirect_uri: &str,
        pkce_verifier: &str,
    ) -> anyhow::Result<Identity> {
        let endpoints = self.endpoints(p).await?;
        let token = self
            .token(p, &endpoints.token, code, redirect_uri, pkce_verifier)
            .await?;
        let userinfo = endpoints
            .userinfo
            .as_deref()
            .ok_or(OAuthError::Discovery("no userinfo_endpoint"))?;
        Ok(match p.kind {
            ProviderKind::Github => self.github_identity(userinfo, &token).await?,
            ProviderKind::Google | ProviderKind::Oidc => {
                self.oidc_identity(userinfo, &token).await?
            }
        })
    }

    async fn endpoints(&self, p: &Provider) -> Result<Endpoints, OAuthError> {
        let issuer = match (&p.kind, p.issuer.as_deref()) {
            (ProviderKind::Github, _) => {
                return Ok(Endpoints {
                    authorize: p
                        .authorize_url
                        .as_deref()
                        .unwrap_or(GITHUB_AUTHORIZE)
                        .into(),
                    token: p.token_url.as_deref().unwrap_or(GITHUB_TOKEN).into(),
                    userinfo: Some(p.userinfo_url.as_deref().unwrap_or(GITHUB_USER).into()),
                })
            }
            (_, Some(issuer)) => issuer,
            (ProviderKind::Google, None) => GOOGLE_ISSUER,
            (ProviderKind::Oidc, None) => {
                return Err(OAuthError::Misconfigured(
                    "an OIDC provider needs an issuer",
                ))
            }
        };
        // Overrides win over discovery; with all three set, discovery is skipped.
        let mut endpoints = match (&p.authorize_url, &p.token_url, &p.userinfo_url) {
            (Some(authorize), Some(token), Some(userinfo)) => {
                return Ok(Endpoints {
                    authorize: authorize.clone(),
                    token: token.clone(),
                    userinfo: Some(userinfo.clone()),
                })
            }
            _ => self.discover(issuer).await?,
        };
        if let Some(url) = &p.authorize_url {
            endpoints.authorize = url.clone();
        }
        if let Some(url) = &p.token_url {
            endpoints.token = url.clone();
        }
        if let Some(url) = &p.userinfo_url {
            endpoints.userinfo = Some(url.clone());
        }
        Ok(endpoints)
    }

    /// The issuer's endpoints from its discovery document, cached for an hour.
    async fn discover(&self, issuer: &str) -> Result<Endpoints, OAuthError> {
        if let Some((at, found)) = self.discovered.lock().expect("cache lock").get(issuer) {
            if at.elapsed() < DISCOVERY_TTL {
                return Ok(found.clone());
            }
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let response = self.send(&url, self.http.get(&url)).await?;
        if !response.status().is_success() {
            return Err(OAuthError::Discovery(
                "the discovery document was not found",
            ));
        }
        let doc: Discovery = read_json(response)
            .await?
            .ok_or(OAuthError::Discovery("the discovery document is not valid"))?;
        if doc.issuer.trim_end_matches('/') != issuer.trim_end_matches('/') {
            return Err(OAuthError::Discovery(
                "the provider names a different issuer",
            ));
        }
        let found = Endpoints {
            authorize: doc.authorization_endpoint,
            token: doc.token_endpoint,
            userinfo: doc.userinfo_endpoint,
        };
        let mut cache = self.discovered.lock().expect("cache lock");
        if cache.len() >= 1024 {
            cache.retain(|_, (at, _)| at.elapsed() < DISCOVERY_TTL);
        }
        cache.insert(issuer.to_owned(), (Instant::now(), found.clone()));
        Ok(found)
    }

    async fn token(
        &self,
        p: &Provider,
        url: &str,
        code: &str,
        redirect_uri: &str,
        verifier: &str,
    ) -> Result<String, OAuthError> {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("client_id", p.client_id.as_str()),
            ("client_secret", p.client_secret.as_str()),
            ("code_verifier", verifier),
        ];
        let request = self
            .http
            .post(url)
            .header(ACCEPT, "application/json")
            .form(&form);
        let response = self.send(url, request).await?;
        let ok = response.status().is_success();
        let body: Option<TokenResponse> = read_json(response).await?;
        match body {
            Some(TokenResponse {
                access_token: Some(token),
                error: None,
            }) if ok && !token.is_empty() => Ok(token),
            Some(TokenResponse { error, .. }) if !ok || error.is_some() => {
                Err(OAuthError::Refused { error })
            }
            _ if !ok => Err(OAuthError::Refused { error: None }),
            _ => Err(OAuthError::BadResponse("no access token")),
        }
    }

    async fn oidc_identity(&self, url: &str, token: &str) -> Result<Identity, OAuthError> {
        let info: UserInfo =
            self.get_json(url, token, "application/json")
                .await?
                .ok_or(OAuthError::BadResponse(
                    "the userinfo response is not valid",
                ))?;
        let verified = match info.email_verified {
            Some(Value::Bool(b)) => b,
            Some(Value::String(s)) => s == "true",
            _ => false,
        };
        identity(&info.sub, info.email, verified)
    }

    async fn github_identity(&self, url: &str, token: &str) -> Result<Identity, OAuthError> {
        const GITHUB_JSON: &str = "application/vnd.github+json";
        let user: GithubUser = self
            .get_json(url, token, GITHUB_JSON)
            .await?
            .ok_or(OAuthError::BadResponse("the user response is not valid"))?;
        let emails_url = format!("{}/emails", url.trim_end_matches('/'));
        // Without the user:email scope the list is refused; the profile email then stands,
        // unverified.
        let emails: Option<Vec<GithubEmail>> = self
            .get_json(&emails_url, token, GITHUB_JSON)
            .await
            .ok()
            .flatten();
        let (email, verified) = match emails {
            Some(list) => match list.into_iter().find(|e| e.primary) {
                Some(primary) => (Some(primary.email), primary.verified),
                None => (user.email, false),
            },
            None => (user.email, false),
        };
        identity(&user.id, email, verified)
    }

    /// GET with the access token; `None` when the body is not the expected JSON.
    async fn get_json<T: DeserializeOwned>(
        &self,
        url: &str,
        token: &str,
        accept: &str,
    ) -> Result<Option<T>, OAuthError> {
        let request = self
            .http
            .get(url)
            .header(ACCEPT, accept)
            .header(AUTHORIZATION, format!("Bearer {token}"));
        let response = self.send(url, request).await?;
        if !response.status().is_success() {
            return Err(OAuthError::BadResponse("the access token was not accepted"));
        }
        read_json(response).await
    }

    /// Sends after checking `url` against the allow-list (reqwest's resolver checks names
    /// again when it connects; IP literals only get this check).
    async fn send(
        &self,
        url: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, OAuthError> {
        self.egress.check(url).await.map_err(|e| match e {
            EgressError::BadUrl => OAuthError::Misconfigured("an endpoint is not an http(s) URL"),
            e => OAuthError::Egress(e),
        })?;
        request.send().await.map_err(OAuthError::Unreachable)
    }
}

/// The identity from an id that may be a string or a number.
fn identity(id: &Value, email: Option<String>, verified: bool) -> Result<Identity, OAuthError> {
    let provider_user_id = match id {
        Value::String(s) if !s.is_empty() => s.clone(),
        Value::Number(n) if n.is_u64() || n.is_i64() => n.to_string(),
        _ => return Err(OAuthError::BadResponse("no user id")),
    };
    let email = email.filter(|e| !e.is_empty());
    Ok(Identity {
        provider_user_id,
        email_verified: verified && email.is_some(),
        email,
    })
}

/// Reads at most [`MAX_BODY`] bytes and parses them; `None` when they are not the expected
/// JSON (the parse error is dropped: it may quote the body, which can hold tokens).
async fn read_json<T: DeserializeOwned>(
    mut response: reqwest::Response,
) -> Result<Option<T>, OAuthError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(OAuthError::Unreachable)? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(OAuthError::BadResponse("the response is too large"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(serde_json::from_slice(&body).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::{get, post};
    use axum::{Form, Json, Router};
    use serde_json::json;

    const CLIENT_ID: &str = "client-1";
    const SECRET: &str = "s3cret-xyz";
    const CODE: &str = "code-abc";
    const REDIRECT: &str = "https://app.example.com/auth/callback";
    const ACCESS: &str = "access-tok-777";

    /// A provider on 127.0.0.1 speaking just enough OIDC and GitHub for the flow.
    #[derive(Default)]
    struct Fake {
        base: String,
        /// The issuer its discovery document names.
        issuer: Mutex<String>,
        /// The challenge the browser brought to the authorize endpoint.
        challenge: Mutex<Option<String>>,
        userinfo: Mutex<Value>,
        emails: Mutex<Value>,
        hits: Mutex<Vec<&'static str>>,
    }

    impl Fake {
        fn hit(&self, what: &'static str) {
            self.hits.lock().unwrap().push(what);
        }
        fn hits(&self, what: &str) -> usize {
            self.hits
                .lock()
                .unwrap()
                .iter()
                .filter(|h| **h == what)
                .count()
        }
        fn bearer_ok(headers: &HeaderMap) -> bool {
            headers.get("authorization").and_then(|v| v.to_str().ok())
                == Some(&format!("Bearer {ACCESS}"))
        }
    }

    async fn discovery(State(f): State<Arc<Fake>>) -> Json<Value> {
        f.hit("discovery");
        Json(json!({
            "issuer": *f.issuer.lock().unwrap(),
            "authorization_endpoint": format!("{}/authorize", f.base),
            "token_endpoint": format!("{}/token", f.base),
            "userinfo_endpoint": format!("{}/userinfo", f.base),
        }))
    }

    async fn token(
        State(f): State<Arc<Fake>>,
        headers: HeaderMap,
        Form(form): Form<HashMap<String, String>>,
    ) -> (StatusCode, Json<Value>) {
        f.hit("token");
        let field = |k: &str| form.get(k).map(String::as_str);
        let challenge = f.challenge.lock().unwrap().clone();
        let verifier_ok = field("code_verifier")
            .zip(challenge)
            .is_some_and(|(v, c)| URL_SAFE_NO_PAD.encode(Sha256::digest(v.as_bytes())) == c);
        let ok = headers.get("accept").and_then(|v| v.to_str().ok()) == Some("application/json")
            && field("grant_type") == Some("authorization_code")
            && field("client_id") == Some(CLIENT_ID)
            && field("client_secret") == Some(SECRET)
            && field("code") == Some(CODE)
            && field("redirect_uri") == Some(REDIRECT)
            && verifier_ok;
        if ok {
            let body = json!({"access_token": ACCESS, "token_type": "Bearer", "expires_in": 3600});
            (StatusCode::OK, Json(body))
        } else {
            (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": "invalid_grant"})),
            )
        }
    }

    async fn userinfo(State(f): State<Arc<Fake>>, headers: HeaderMap) -> (StatusCode, Json<Value>) {
        f.hit("userinfo");
        match Fake::bearer_ok(&headers) {
            true => (StatusCode::OK, Json(f.userinfo.lock().unwrap().clone())),
            false => (
                StatusCode::UNAUTHORIZED,
                Json(json!({"error": "invalid_token"})),
            ),
        }
    }

    async fn github_user(headers: HeaderMap) -> (StatusCode, Json<Value>) {
        match Fake::bearer_ok(&headers) {
            true => (
                StatusCode::OK,
                Json(json!({"id": 583231, "login": "ada", "email": "public@example.com"})),
            ),
            false => (
                StatusCode::UNAUTHORIZED,
                Json(json!({"message": "Bad credentials"})),
            ),
        }
    }

    async fn github_emails(
        State(f): State<Arc<Fake>>,
        headers: HeaderMap,
    ) -> (StatusCode, Json<Value>) {
        match Fake::bearer_ok(&headers) {
            true => (StatusCode::OK, Json(f.emails.lock().unwrap().clone())),
            false => (
                StatusCode::UNAUTHORIZED,
                Json(json!({"message": "Bad credentials"})),
            ),
        }
    }

    async fn fake() -> Arc<Fake> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let fake = Arc::new(Fake {
            issuer: Mutex::new(base.clone()),
            userinfo: Mutex::new(json!({
                "sub": "user-1", "email": "Ada@Example.com", "email_verified": true,
            })),
            base,
            ..Fake::default()
        });
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/token", post(token))
            .route("/userinfo", get(userinfo))
            .route("/user", get(github_user))
            .route("/user/emails", get(github_emails))
            .with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        fake
    }

    fn oidc(f: &Fake) -> Provider {
        Provider {
            kind: ProviderKind::Oidc,
            client_id: CLIENT_ID.into(),
            client_secret: SECRET.into(),
            issuer: Some(f.base.clone()),
            authorize_url: None,
            token_url: None,
            userinfo_url: None,
            scopes: None,
        }
    }

    fn github(f: &Fake) -> Provider {
        Provider {
            kind: ProviderKind::Github,
            issuer: None,
            authorize_url: Some(format!("{}/login/oauth/authorize", f.base)),
            token_url: Some(format!("{}/token", f.base)),
            userinfo_url: Some(format!("{}/user", f.base)),
            ..oidc(f)
        }
    }

    fn client() -> OAuthClient {
        OAuthClient::new(Egress::parse("loopback").unwrap())
    }

    /// The browser's part: builds the authorize URL and brings its challenge to the provider.
    /// Returns the URL's query.
    async fn authorize(
        c: &OAuthClient,
        p: &Provider,
        f: &Fake,
        pkce: &Pkce,
    ) -> HashMap<String, String> {
        let url = c
            .authorize_url(p, REDIRECT, "state-1", &pkce.challenge)
            .await
            .unwrap();
        let url = reqwest::Url::parse(&url).unwrap();
        let query: HashMap<String, String> = url.query_pairs().into_owned().collect();
        *f.challenge.lock().unwrap() = query.get("code_challenge").cloned();
        query
    }

    #[tokio::test]
    async fn oidc_flow_returns_the_verified_identity() {
        let f = fake().await;
        let c = client();
        let p = oidc(&f);
        let pkce = Pkce::new();

        let url = c
            .authorize_url(&p, REDIRECT, "state-1", &pkce.challenge)
            .await
            .unwrap();
        assert!(url.starts_with(&format!("{}/authorize?", f.base)), "{url}");
        let query = authorize(&c, &p, &f, &pkce).await;
        let expected = [
            ("response_type", "code"),
            ("client_id", CLIENT_ID),
            ("redirect_uri", REDIRECT),
            ("scope", "openid email profile"),
            ("state", "state-1"),
            ("code_challenge", pkce.challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        for (key, value) in expected {
            assert_eq!(query.get(key).map(String::as_str), Some(value), "{key}");
        }
        assert!(!url.contains(SECRET));

        let identity = c
            .exchange(&p, CODE, REDIRECT, &pkce.verifier)
            .await
            .unwrap();
        assert_eq!(
            identity,
            Identity {
                provider_user_id: "user-1".into(),
                email: Some("Ada@Example.com".into()),
                email_verified: true,
            }
        );
        assert_eq!(f.hits("discovery"), 1, "discovery is cached");
    }

    #[tokio::test]
    async fn oidc_email_verified_is_false_unless_the_provider_says_true() {
        let f = fake().await;
        let c = client();
        let p = oidc(&f);
        let cases = [
            (
                json!({"sub": "u", "email": "a@example.com", "email_verified": false}),
                false,
            ),
            (
                json!({"sub": "u", "email": "a@example.com", "email_verified": "true"}),
                true,
            ),
            (
                json!({"sub": "u", "email": "a@example.com", "email_verified": "false"}),
                false,
            ),
            (
                json!({"sub": "u", "email": "a@example.com", "email_verified": 1}),
                false,
            ),
            (json!({"sub": "u", "email": "a@example.com"}), false),
            (json!({"sub": "u", "email_verified": true}), false),
        ];
        for (info, verified) in cases {
            *f.userinfo.lock().unwrap() = info.clone();
            let pkce = Pkce::new();
            authorize(&c, &p, &f, &pkce).await;
            let identity = c
                .exchange(&p, CODE, REDIRECT, &pkce.verifier)
                .await
                .unwrap();
            assert_eq!(identity.email_verified, verified, "{info}");
            assert_eq!(identity.provider_user_id, "u");
        }
    }

    #[tokio::test]
    async fn wrong_verifier_is_refused() {
        let f = fake().await;
        let c = client();
        let p = oidc(&f);
        let pkce = Pkce::new();
        authorize(&c, &p, &f, &pkce).await;

        let other = Pkce::new();
        let err = c
            .exchange(&p, CODE, REDIRECT, &other.verifier)
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "OAuth provider refused the code");
        assert!(matches!(
            err.downcast_ref::<OAuthError>(),
            Some(OAuthError::Refused { error: Some(e) }) if e == "invalid_grant"
        ));
        let shown = format!("{err:#} {err:?}");
        for secret in [SECRET, CODE, other.verifier.as_str(), ACCESS] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert_eq!(f.hits("userinfo"), 0);

        let err = c
            .exchange(&p, "another-code", REDIRECT, &pkce.verifier)
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "OAuth provider refused the code");
        c.exchange(&p, CODE, REDIRECT, &pkce.verifier)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn issuer_mismatch_in_discovery_is_refused() {
        let f = fake().await;
        *f.issuer.lock().unwrap() = "https://accounts.example.net".into();
        let c = client();
        let p = oidc(&f);
        let err = c.authorize_url(&p, REDIRECT, "s", "c").await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "OAuth provider discovery failed: the provider names a different issuer"
        );
        let err = c.exchange(&p, CODE, REDIRECT, "v").await.unwrap_err();
        assert!(err.to_string().contains("different issuer"), "{err}");
        assert_eq!(f.hits("token"), 0);
    }

    #[tokio::test]
    async fn github_flow_uses_the_primary_email() {
        let f = fake().await;
        let c = client();
        let p = github(&f);
        let pkce = Pkce::new();
        let query = authorize(&c, &p, &f, &pkce).await;
        assert_eq!(query["scope"], "read:user user:email");
        assert_eq!(query["client_id"], CLIENT_ID);
        assert_eq!(query["code_challenge_method"], "S256");

        *f.emails.lock().unwrap() = json!([
            {"email": "old@example.com", "primary": false, "verified": true},
            {"email": "ada@example.com", "primary": true, "verified": false},
        ]);
        let identity = c
            .exchange(&p, CODE, REDIRECT, &pkce.verifier)
            .await
            .unwrap();
        assert_eq!(
            identity,
            Identity {
                provider_user_id: "583231".into(),
                email: Some("ada@example.com".into()),
                email_verified: false,
            }
        );

        *f.emails.lock().unwrap() = json!([
            {"email": "ada@example.com", "primary": true, "verified": true, "visibility": "private"},
        ]);
        let identity = c
            .exchange(&p, CODE, REDIRECT, &pkce.verifier)
            .await
            .unwrap();
        assert!(identity.email_verified);

        // A list we cannot read leaves the profile email, unverified.
        *f.emails.lock().unwrap() = json!({"message": "not a list"});
        let identity = c
            .exchange(&p, CODE, REDIRECT, &pkce.verifier)
            .await
            .unwrap();
        assert_eq!(identity.email.as_deref(), Some("public@example.com"));
        assert!(!identity.email_verified);
        assert_eq!(f.hits("discovery"), 0);
    }

    #[tokio::test]
    async fn provider_outside_egress_is_refused() {
        let f = fake().await;
        let c = OAuthClient::new(Egress::parse("public").unwrap());

        let err = c
            .authorize_url(&oidc(&f), REDIRECT, "s", "c")
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "OAuth provider is outside EGRESS_ALLOW");
        assert!(
            format!("{err:#}").contains("(127.0.0.1) is outside EGRESS_ALLOW"),
            "{err:#}"
        );

        let p = github(&f);
        c.authorize_url(&p, REDIRECT, "s", "c").await.unwrap();
        let err = c.exchange(&p, CODE, REDIRECT, "v").await.unwrap_err();
        assert_eq!(err.to_string(), "OAuth provider is outside EGRESS_ALLOW");
        assert!(f.hits.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn oidc_without_issuer_is_misconfigured() {
        let f = fake().await;
        let p = Provider {
            issuer: None,
            ..oidc(&f)
        };
        let err = client()
            .authorize_url(&p, REDIRECT, "s", "c")
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "OAuth provider is misconfigured: an OIDC provider needs an issuer"
        );
    }

    #[test]
    fn pkce_is_s256_over_unreserved_characters() {
        // RFC 7636, appendix B.
        let pkce = Pkce::from_verifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into());
        assert_eq!(
            pkce.challenge,
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );

        let (a, b) = (Pkce::new(), Pkce::new());
        assert_ne!(a.verifier, b.verifier);
        for pkce in [a, b] {
            assert!((43..=128).contains(&pkce.verifier.len()));
            assert!(pkce
                .verifier
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"-._~".contains(&c)));
            assert_eq!(
                pkce.challenge,
                Pkce::from_verifier(pkce.verifier.clone()).challenge
            );
        }
    }
}
