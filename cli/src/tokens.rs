//! `tokens`: admin API tokens (`bfy_…`) for scripts and CI, optionally read-only, limited to some
//! projects, or expiring.

use crate::output::{self, Format};
use crate::session::Session;
use clap::Subcommand;
use proto::admin::{ApiToken, CreateApiTokenRequest, ListApiTokensRequest, RevokeApiTokenRequest};
use serde_json::{json, Value};

/// `tokens …`
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Creates an API token and prints it (the only time it is shown).
    Create {
        /// A name to recognise the token by.
        #[arg(long)]
        name: String,
        /// A project the token may reach (repeatable); none: every project of yours.
        #[arg(long = "project", value_name = "ID")]
        projects: Vec<String>,
        /// The token may only read.
        #[arg(long)]
        read_only: bool,
        /// Days until the token expires (1 to 3650); absent: never.
        #[arg(long, value_name = "N")]
        expires_in_days: Option<i64>,
    },
    /// Lists your API tokens (revoked and expired ones too; never the secrets).
    List,
    /// Revokes an API token at once.
    Revoke {
        /// The token's id (from `tokens list`).
        id: String,
    },
}

/// Runs a `tokens` command.
pub async fn run(s: &Session, cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::Create {
            name,
            projects,
            read_only,
            expires_in_days,
        } => {
            let client = s.signed_in_client().await?;
            let req = CreateApiTokenRequest {
                name,
                project_ids: projects,
                read_only: Some(read_only),
                expires_in_days,
            };
            let token = client
                .call(|mut api| async move { api.create_api_token(req).await })
                .await?;
            output::record(s.output, &to_json(&token));
            eprintln!("warning: the token is shown only this once; store it somewhere safe now");
        }
        Command::List => {
            let client = s.client().await?;
            let res = client
                .call(|mut api| async move {
                    api.list_api_tokens(ListApiTokensRequest::default()).await
                })
                .await?;
            let rows: Vec<Value> = res.api_tokens.iter().map(to_json).collect();
            let columns = [
                "id",
                "name",
                "prefix",
                "status",
                "read_only",
                "project_ids",
                "expires_at",
                "last_used_at",
            ];
            output::list(s.output, &columns, &rows);
        }
        Command::Revoke { id } => {
            let client = s.client().await?;
            let req = RevokeApiTokenRequest {
                token_id: id.clone(),
            };
            client
                .call(|mut api| async move { api.revoke_api_token(req).await })
                .await?;
            match s.output {
                Format::Json => output::json(&json!({"id": id, "revoked": true})),
                Format::Table => println!("revoked API token {id}"),
            }
        }
    }
    Ok(())
}

/// A token as JSON; `token` only when the answer carries it (at creation).
fn to_json(t: &ApiToken) -> Value {
    let mut v = json!({
        "id": t.id,
        "name": t.name,
        "prefix": t.prefix,
        "status": t.status,
        "read_only": t.read_only,
        "project_ids": t.project_ids,
        "expires_at": t.expires_at,
        "created_at": t.created_at,
        "last_used_at": t.last_used_at,
        "revoked_at": t.revoked_at,
    });
    if let Some(secret) = &t.token {
        v["token"] = json!(secret);
    }
    v
}
