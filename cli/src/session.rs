//! Which server the CLI talks to and as whom: the URL and token from the flags, the environment or
//! the config file `login` wrote; and `login` / `logout`, which write and clear that file.

use crate::client::{self, Client};
use crate::config::{self, Saved};
use crate::output::{self, Format};
use anyhow::{anyhow, bail, Context};
use proto::admin::{
    CreateApiTokenRequest, GetMeRequest, LoginRequest, LogoutRequest, RefreshRequest,
    RevokeApiTokenRequest,
};
use serde_json::json;
use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use tonic::Code;

/// The server when neither a flag, the environment nor a login names one.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8000";

/// Where and how commands run.
pub struct Session {
    /// The server.
    pub url: String,
    /// The bearer token, if any.
    pub token: Option<String>,
    /// `--output`.
    pub output: Format,
    /// The config file, when there is a place for one.
    pub config: Option<PathBuf>,
}

impl Session {
    /// Picks the URL (flag or env, else the one saved by `login`, else [`DEFAULT_URL`]) and the
    /// token (flag or env, else the saved one if it belongs to that URL).
    pub fn resolve(
        url: Option<String>,
        token: Option<String>,
        output: Format,
        config: Option<PathBuf>,
    ) -> anyhow::Result<Self> {
        let saved = match &config {
            Some(path) => config::load(path)?,
            None => Saved::default(),
        };
        let url = url
            .or_else(|| saved.url.clone())
            .unwrap_or_else(|| DEFAULT_URL.to_owned());
        let url = url.trim_end_matches('/').to_owned();
        let token = token
            .filter(|t| !t.is_empty())
            .or_else(|| saved.token.filter(|_| saved.url.as_deref() == Some(&url)));
        Ok(Self {
            url,
            token,
            output,
            config,
        })
    }

    /// A client that sends the token; without one, tells the user to log in.
    pub async fn client(&self) -> Result<Client, client::Error> {
        let token = self.token.as_deref().ok_or(client::Error::NoToken)?;
        Client::connect(&self.url, Some(token)).await
    }

    /// A client that sends a signed-in admin's access token, which making API tokens needs: the
    /// given token when it is one, else one from the refresh token `login` saved (the rotated
    /// refresh token is saved in its place).
    pub async fn signed_in_client(&self) -> anyhow::Result<Client> {
        let token = self.token.as_deref().ok_or(client::Error::NoToken)?;
        if !token.starts_with("bfy_") {
            return Ok(Client::connect(&self.url, Some(token)).await?);
        }
        let path = self.config_path()?;
        let mut saved = config::load(path)?;
        let refresh = saved
            .refresh_token
            .clone()
            .filter(|_| saved.url.as_deref() == Some(self.url.as_str()) && saved.token.as_deref() == Some(token))
            .context("making API tokens needs a signed-in admin, not an API token: run `backendify login`")?;
        let pair = Client::connect(&self.url, None)
            .await?
            .call(|mut api| async move {
                api.refresh(RefreshRequest {
                    refresh_token: refresh,
                })
                .await
            })
            .await
            .map_err(|e| anyhow!("{e}; the sign-in has expired: run `backendify login`"))?;
        saved.refresh_token = Some(pair.refresh_token);
        config::save(path, &saved)?;
        Ok(Client::connect(&self.url, Some(&pair.access_token)).await?)
    }

    fn config_path(&self) -> anyhow::Result<&PathBuf> {
        self.config
            .as_ref()
            .context("no place for the config file: pass --config (BACKENDIFY_CONFIG) or set HOME")
    }
}

/// How long the token `login` makes lasts.
const LOGIN_TOKEN_DAYS: i64 = 90;

/// `login`: signs in, makes an admin API token for this CLI (access tokens last minutes; this one
/// lasts [`LOGIN_TOKEN_DAYS`] days, shows in `tokens list` and is revoked by `logout`), saves
/// `{url, token, token_id}` (mode 0600) and says who is logged in.
pub async fn login(s: &Session, email: String, password: Option<String>) -> anyhow::Result<()> {
    let path = s.config_path()?;
    let password = match password {
        Some(p) => p,
        None => read_password()?,
    };
    let anonymous = Client::connect(&s.url, None).await?;
    let pair = anonymous
        .call(|mut api| async move { api.login(LoginRequest { email, password }).await })
        .await
        .map_err(|e| match e {
            // The login hint would only point back here.
            client::Error::Rpc { status, .. } if status.code() == Code::Unauthenticated => {
                anyhow!("login failed: {}", status.message())
            }
            other => other.into(),
        })?;
    let session = Client::connect(&s.url, Some(&pair.access_token)).await?;
    let me = session
        .call(|mut api| async move { api.get_me(GetMeRequest {}).await })
        .await?;
    let name = format!("backendify CLI on {}", host_name());
    let made = session
        .call(|mut api| {
            let name = name.clone();
            async move {
                api.create_api_token(CreateApiTokenRequest {
                    name,
                    expires_in_days: Some(LOGIN_TOKEN_DAYS),
                    ..Default::default()
                })
                .await
            }
        })
        .await?;
    let saved = Saved {
        url: Some(s.url.clone()),
        token: Some(
            made.token
                .context("the server did not show the new token")?,
        ),
        token_id: Some(made.id),
        refresh_token: Some(pair.refresh_token),
    };
    config::save(path, &saved)?;
    match s.output {
        Format::Json => output::json(&json!({"url": s.url, "id": me.id, "email": me.email})),
        Format::Table => println!("logged in to {} as {} (id {})", s.url, me.email, me.id),
    }
    Ok(())
}

/// `logout`: revokes the token `login` made (a server that cannot be reached only gets a
/// warning) and forgets it; the URL stays for the next login.
pub async fn logout(s: &Session) -> anyhow::Result<()> {
    let path = s.config_path()?;
    let mut saved = config::load(path)?;
    if let (Some(token), Some(id)) = (saved.token.clone(), saved.token_id.clone()) {
        let url = saved.url.clone().unwrap_or_else(|| s.url.clone());
        let revoked = async {
            Client::connect(&url, Some(&token))
                .await?
                .call(|mut api| {
                    let token_id = id.clone();
                    async move {
                        api.revoke_api_token(RevokeApiTokenRequest { token_id })
                            .await
                    }
                })
                .await
        }
        .await;
        if let Err(e) = revoked {
            eprintln!("warning: the token could not be revoked ({e}); revoke it with `backendify tokens revoke {id}`");
        }
    }
    // The sign-in's refresh token ends too: a copy of the file is worth nothing afterwards.
    if let Some(refresh_token) = saved.refresh_token.clone() {
        let url = saved.url.clone().unwrap_or_else(|| s.url.clone());
        let ended = async {
            Client::connect(&url, None)
                .await?
                .call(|mut api| {
                    let refresh_token = refresh_token.clone();
                    async move { api.logout(LogoutRequest { refresh_token }).await }
                })
                .await
        }
        .await;
        if let Err(e) = ended {
            eprintln!("warning: the sign-in could not be ended on the server ({e})");
        }
    }
    saved.token_id = None;
    saved.refresh_token = None;
    let had = saved.token.take().is_some();
    if had {
        config::save(path, &saved)?;
    }
    match s.output {
        Format::Json => output::json(&json!({"logged_out": had})),
        Format::Table if had => println!("logged out (token removed from {})", path.display()),
        Format::Table => println!("not logged in"),
    }
    Ok(())
}

/// This machine's name, for the token's name (`HOSTNAME`, else `/etc/hostname`).
fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "this machine".into())
}

/// The password from one line of stdin, which must not be a terminal (echo would show it).
fn read_password() -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        bail!("no password: pass --password, set BACKENDIFY_PASSWORD or pipe it on stdin");
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("read the password from stdin")?;
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password);
    if password.is_empty() {
        bail!("no password: stdin was empty");
    }
    Ok(password.to_owned())
}
