//! Fakes of the outside endpoints workers talk to, each on its own loopback port and stopped
//! when dropped: an SMTP server that keeps what it is sent, and an OAuth 2.0 / OpenID Connect
//! provider (with a GitHub flavour) that checks the code exchange as a real one would, PKCE
//! included. No browser runs in tests: the test plays it through
//! [`OAuthProvider::authorize`].

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// How long [`Smtp::wait_for`] waits for a mail.
const MAIL_TIMEOUT: Duration = Duration::from_secs(15);

/// One message the fake SMTP server accepted.
#[derive(Debug, Clone)]
pub struct Mail {
    /// The envelope sender (`MAIL FROM`).
    pub from: String,
    /// The envelope recipients (`RCPT TO`).
    pub to: Vec<String>,
    /// The message after `DATA`: headers and body, dot-stuffing undone, without the final ".".
    pub data: String,
}

impl Mail {
    /// The body: everything after the blank line ending the headers.
    pub fn body(&self) -> &str {
        self.data
            .split_once("\r\n\r\n")
            .map_or(self.data.as_str(), |(_, body)| body)
    }

    /// The first header of that name (case-insensitive), unfolded.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or("");
        let mut found: Option<String> = None;
        for line in head.split("\r\n") {
            match &mut found {
                Some(value) if line.starts_with([' ', '\t']) => value.push_str(line),
                Some(_) => break,
                None => {
                    let (key, value) = line.split_once(':').unwrap_or((line, ""));
                    if key.eq_ignore_ascii_case(name) {
                        found = Some(value.trim_start().to_owned());
                    }
                }
            }
        }
        found
    }
}

/// A tiny SMTP server on 127.0.0.1 (no TLS, no AUTH) that keeps every message in an inbox.
pub struct Smtp {
    addr: SocketAddr,
    inbox: Arc<Mutex<Vec<Mail>>>,
    server: JoinHandle<()>,
}

impl Smtp {
    /// Starts listening on a free port.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind SMTP");
        let addr = listener.local_addr().expect("SMTP address");
        let inbox = Arc::<Mutex<Vec<Mail>>>::default();
        let server = tokio::spawn(smtp_serve(listener, inbox.clone()));
        Self {
            addr,
            inbox,
            server,
        }
    }

    /// The `SMTP_URL` for workers: plain SMTP, never STARTTLS.
    pub fn url(&self) -> String {
        format!("smtp://{}?tls=none", self.addr)
    }

    /// Every message received so far, oldest first.
    pub fn inbox(&self) -> Vec<Mail> {
        self.inbox.lock().unwrap().clone()
    }

    /// Waits (15 s at most) for the first message that matches; panics with `what` otherwise.
    pub async fn wait_for(&self, what: &str, matches: impl Fn(&Mail) -> bool) -> Mail {
        let deadline = Instant::now() + MAIL_TIMEOUT;
        loop {
            if let Some(mail) = self.inbox().into_iter().find(|m| matches(m)) {
                return mail;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; inbox: {:#?}",
                self.inbox()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        // Dropping the server's task drops its JoinSet, which ends every open session.
        self.server.abort();
    }
}

async fn smtp_serve(listener: TcpListener, inbox: Arc<Mutex<Vec<Mail>>>) {
    let mut sessions = JoinSet::new();
    loop {
        if let Ok((socket, _)) = listener.accept().await {
            sessions.spawn(smtp_session(socket, inbox.clone()));
        }
        while sessions.try_join_next().is_some() {}
    }
}

/// The address inside `<…>` of a `MAIL FROM:` or `RCPT TO:` command.
fn smtp_address(command: &str) -> String {
    let start = command.find('<').map_or(0, |i| i + 1);
    let end = command[start..]
        .find('>')
        .map_or(command.len(), |i| start + i);
    command[start..end].to_owned()
}

async fn smtp_session(socket: TcpStream, inbox: Arc<Mutex<Vec<Mail>>>) -> std::io::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut read = BufReader::new(read);
    let mut buf = Vec::new();
    let (mut from, mut to) = (None::<String>, Vec::<String>::new());
    write.write_all(b"220 fake.smtp ESMTP ready\r\n").await?;
    loop {
        buf.clear();
        if read.read_until(b'\n', &mut buf).await? == 0 {
            return Ok(());
        }
        let line = String::from_utf8_lossy(&buf);
        let command = line.trim_end();
        let verb = command
            .split([' ', ':'])
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let reply = match verb.as_str() {
            "EHLO" => "250-fake.smtp greets you\r\n250 HELP\r\n",
            "HELO" => "250 fake.smtp\r\n",
            "MAIL" => {
                from = Some(smtp_address(command));
                to.clear();
                "250 2.1.0 sender ok\r\n"
            }
            "RCPT" if from.is_none() => "503 5.5.1 MAIL first\r\n",
            "RCPT" => {
                to.push(smtp_address(command));
                "250 2.1.5 recipient ok\r\n"
            }
            "DATA" if to.is_empty() => "503 5.5.1 RCPT first\r\n",
            "DATA" => {
                write
                    .write_all(b"354 end data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let data = smtp_data(&mut read).await?;
                let mail = Mail {
                    from: from.take().unwrap_or_default(),
                    to: std::mem::take(&mut to),
                    data,
                };
                inbox.lock().unwrap().push(mail);
                "250 2.0.0 queued\r\n"
            }
            "RSET" => {
                (from, to) = (None, Vec::new());
                "250 2.0.0 ok\r\n"
            }
            "NOOP" => "250 2.0.0 ok\r\n",
            "QUIT" => {
                write.write_all(b"221 2.0.0 bye\r\n").await?;
                return Ok(());
            }
            _ => "502 5.5.2 command not implemented\r\n",
        };
        write.write_all(reply.as_bytes()).await?;
    }
}

/// Reads the lines of a message up to the lone ".", undoing dot-stuffing.
async fn smtp_data(
    read: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
) -> std::io::Result<String> {
    let mut data = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if read.read_until(b'\n', &mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line == b".\r\n" || line == b".\n" {
            return Ok(String::from_utf8_lossy(&data).into_owned());
        }
        let unstuffed = line.strip_prefix(b".").unwrap_or(&line);
        data.extend_from_slice(unstuffed);
    }
}

/// Who the provider says signs in.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The provider's stable user id (OIDC `sub`; GitHub's numeric `id` when it is digits).
    pub sub: String,
    /// The user's email, if the provider shares one.
    pub email: Option<String>,
    /// Whether the provider vouches for that email.
    pub email_verified: bool,
}

impl Identity {
    /// A user whose email the provider has verified.
    pub fn verified(sub: &str, email: &str) -> Self {
        Self {
            sub: sub.into(),
            email: Some(email.into()),
            email_verified: true,
        }
    }

    /// A user whose email the provider has not verified.
    pub fn unverified(sub: &str, email: &str) -> Self {
        Self {
            email_verified: false,
            ..Self::verified(sub, email)
        }
    }
}

/// What the browser brings back from the provider's authorize page.
#[derive(Debug, Clone)]
pub struct Authorization {
    /// The authorization code to exchange.
    pub code: String,
    /// The `state` the authorize URL carried, returned unchanged.
    pub state: String,
    /// Every query parameter of the authorize URL.
    pub query: HashMap<String, String>,
}

/// An OAuth 2.0 / OpenID Connect provider on 127.0.0.1. Its issuer is its base URL; it serves
/// discovery, `/token`, `/userinfo`, and GitHub's `/user` and `/user/emails`.
pub struct OAuthProvider {
    shared: Arc<Provider>,
    server: JoinHandle<()>,
}

/// A code handed out by the authorize page, waiting for its exchange.
struct Grant {
    challenge: String,
    redirect_uri: String,
    identity: Identity,
}

struct Provider {
    base: String,
    grants: Mutex<HashMap<String, Grant>>,
    access_tokens: Mutex<HashMap<String, Identity>>,
    token_requests: Mutex<usize>,
    refusals: Mutex<Vec<String>>,
}

impl OAuthProvider {
    /// The client id the project must be configured with.
    pub const CLIENT_ID: &'static str = "backendify-e2e-client";
    /// The matching client secret.
    pub const CLIENT_SECRET: &'static str = "e2e-client-secret-7d1f";

    /// Starts serving on a free port.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind provider");
        let base = format!(
            "http://{}",
            listener.local_addr().expect("provider address")
        );
        let shared = Arc::new(Provider {
            base,
            grants: Mutex::default(),
            access_tokens: Mutex::default(),
            token_requests: Mutex::default(),
            refusals: Mutex::default(),
        });
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/token", post(token))
            .route("/userinfo", get(userinfo))
            .route("/user", get(github_user))
            .route("/user/emails", get(github_emails))
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { shared, server }
    }

    /// Base URL, which is also the OIDC issuer.
    pub fn base(&self) -> &str {
        &self.shared.base
    }

    /// The body of `PUT …/settings/auth/oauth/{name}` for an OIDC provider found by discovery.
    pub fn oidc_settings(&self) -> Value {
        json!({
            "client_id": Self::CLIENT_ID,
            "client_secret": Self::CLIENT_SECRET,
            "issuer": self.base(),
        })
    }

    /// The body of `PUT …/settings/auth/oauth/github` pointing GitHub's endpoints here.
    pub fn github_settings(&self) -> Value {
        json!({
            "client_id": Self::CLIENT_ID,
            "client_secret": Self::CLIENT_SECRET,
            "authorize_url": format!("{}/login/oauth/authorize", self.base()),
            "token_url": format!("{}/token", self.base()),
            "userinfo_url": format!("{}/user", self.base()),
        })
    }

    /// Registers a sign-in: the code exchanges only with the verifier of `challenge` and the
    /// same `redirect_uri`, once, and yields `identity`.
    pub fn grant(&self, challenge: &str, redirect_uri: &str, identity: Identity) -> String {
        let code = format!("code-{}", uuid::Uuid::new_v4().simple());
        let grant = Grant {
            challenge: challenge.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
            identity,
        };
        self.shared
            .grants
            .lock()
            .unwrap()
            .insert(code.clone(), grant);
        code
    }

    /// Plays the browser at the authorize page: checks `auth_url` as the provider would (its
    /// endpoint, `response_type=code`, our client id, a redirect URI, a state and an S256
    /// challenge; panics otherwise), and lets `identity` sign in.
    pub fn authorize(&self, auth_url: &str, identity: Identity) -> Authorization {
        let url = reqwest::Url::parse(auth_url).expect("auth_url is a URL");
        let endpoint = format!("{}{}", url.origin().ascii_serialization(), url.path());
        let ours = ["/authorize", "/login/oauth/authorize"].map(|p| format!("{}{p}", self.base()));
        assert!(ours.contains(&endpoint), "not this provider: {auth_url}");
        let query: HashMap<String, String> = url.query_pairs().into_owned().collect();
        let param = |k: &str| {
            query
                .get(k)
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| panic!("auth_url lacks {k}: {auth_url}"))
                .clone()
        };
        assert_eq!(param("response_type"), "code", "{auth_url}");
        assert_eq!(param("client_id"), Self::CLIENT_ID, "{auth_url}");
        assert_eq!(param("code_challenge_method"), "S256", "{auth_url}");
        let challenge = param("code_challenge");
        assert_eq!(challenge.len(), 43, "not an S256 challenge: {auth_url}");
        let code = self.grant(&challenge, &param("redirect_uri"), identity);
        Authorization {
            code,
            state: param("state"),
            query,
        }
    }

    /// How many code exchanges the token endpoint has seen.
    pub fn token_requests(&self) -> usize {
        *self.shared.token_requests.lock().unwrap()
    }

    /// Why the token endpoint refused exchanges, in order (e.g. "unknown code").
    pub fn refusals(&self) -> Vec<String> {
        self.shared.refusals.lock().unwrap().clone()
    }
}

impl Drop for OAuthProvider {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn discovery(State(p): State<Arc<Provider>>) -> Json<Value> {
    let base = &p.base;
    Json(json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "userinfo_endpoint": format!("{base}/userinfo"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post"],
    }))
}

/// The code exchange (form POST). A known code is spent by any attempt, right or wrong.
async fn token(State(p): State<Arc<Provider>>, body: String) -> (StatusCode, Json<Value>) {
    *p.token_requests.lock().unwrap() += 1;
    let form: HashMap<String, String> = reqwest::Url::parse(&format!("http://form/?{body}"))
        .map(|u| u.query_pairs().into_owned().collect())
        .unwrap_or_default();
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    let refuse = |status: StatusCode, error: &str, why: &str| {
        p.refusals.lock().unwrap().push(why.to_owned());
        (status, Json(json!({ "error": error })))
    };
    if field("client_id") != OAuthProvider::CLIENT_ID
        || field("client_secret") != OAuthProvider::CLIENT_SECRET
    {
        return refuse(StatusCode::UNAUTHORIZED, "invalid_client", "client");
    }
    if field("grant_type") != "authorization_code" {
        return refuse(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type",
        );
    }
    let Some(grant) = p.grants.lock().unwrap().remove(field("code")) else {
        return refuse(StatusCode::BAD_REQUEST, "invalid_grant", "unknown code");
    };
    if field("redirect_uri") != grant.redirect_uri {
        return refuse(StatusCode::BAD_REQUEST, "invalid_grant", "redirect_uri");
    }
    let verified = URL_SAFE_NO_PAD.encode(Sha256::digest(field("code_verifier").as_bytes()));
    if verified != grant.challenge {
        return refuse(StatusCode::BAD_REQUEST, "invalid_grant", "code_verifier");
    }
    let access = format!("at-{}", uuid::Uuid::new_v4().simple());
    p.access_tokens
        .lock()
        .unwrap()
        .insert(access.clone(), grant.identity);
    let body = json!({ "access_token": access, "token_type": "Bearer", "expires_in": 3600 });
    (StatusCode::OK, Json(body))
}

/// The identity an `Authorization: Bearer` access token stands for.
fn bearer(p: &Provider, headers: &HeaderMap) -> Option<Identity> {
    let header = headers.get("authorization")?.to_str().ok()?;
    let token = header.strip_prefix("Bearer ")?;
    p.access_tokens.lock().unwrap().get(token).cloned()
}

fn unauthorized() -> (StatusCode, Json<Value>) {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({ "error": "invalid_token" })),
    )
}

async fn userinfo(State(p): State<Arc<Provider>>, headers: HeaderMap) -> (StatusCode, Json<Value>) {
    let Some(who) = bearer(&p, &headers) else {
        return unauthorized();
    };
    let mut body = json!({ "sub": who.sub, "email_verified": who.email_verified });
    if let Some(email) = who.email {
        body["email"] = json!(email);
    }
    (StatusCode::OK, Json(body))
}

/// GitHub's `/user`: a numeric id when the sub is digits; the profile email stays private.
async fn github_user(
    State(p): State<Arc<Provider>>,
    headers: HeaderMap,
) -> (StatusCode, Json<Value>) {
    let Some(who) = bearer(&p, &headers) else {
        return unauthorized();
    };
    let id = match who.sub.parse::<u64>() {
        Ok(n) => json!(n),
        Err(_) => json!(who.sub),
    };
    let body = json!({ "id": id, "login": format!("user-{}", who.sub), "email": null });
    (StatusCode::OK, Json(body))
}

/// GitHub's `/user/emails`: the identity's email as the primary one.
async fn github_emails(
    State(p): State<Arc<Provider>>,
    headers: HeaderMap,
) -> (StatusCode, Json<Value>) {
    let Some(who) = bearer(&p, &headers) else {
        return unauthorized();
    };
    let emails: Vec<Value> = who
        .email
        .iter()
        .map(|e| {
            json!({ "email": e, "primary": true, "verified": who.email_verified,
                    "visibility": "private" })
        })
        .collect();
    (StatusCode::OK, Json(json!(emails)))
}
