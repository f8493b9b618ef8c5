//! `keys`: a project's API keys, which apps send as `X-API-Key`.

use crate::output::{self, Format};
use crate::session::Session;
use clap::Subcommand;
use proto::admin::{ApiKey, CreateApiKeyRequest, ListApiKeysRequest, RevokeApiKeyRequest};
use serde_json::{json, Value};

/// `keys …`
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Creates an API key and prints it (the only time it is shown).
    Create {
        /// Project id.
        #[arg(long)]
        project: String,
        /// A name to recognise the key by.
        #[arg(long)]
        name: String,
    },
    /// Lists a project's API keys (never the keys themselves).
    List {
        /// Project id.
        #[arg(long)]
        project: String,
    },
    /// Revokes an API key at once.
    Revoke {
        /// Project id.
        #[arg(long)]
        project: String,
        /// The key's id (from `keys list`).
        key_id: String,
    },
}

/// Runs a `keys` command.
pub async fn run(s: &Session, cmd: Command) -> anyhow::Result<()> {
    let client = s.client().await?;
    match cmd {
        Command::Create { project, name } => {
            let req = CreateApiKeyRequest {
                project_id: project,
                name,
            };
            let key = client
                .call(|mut api| async move { api.create_api_key(req).await })
                .await?;
            output::record(s.output, &to_json(&key));
            eprintln!("warning: the key is shown only this once; store it somewhere safe now");
        }
        Command::List { project } => {
            let req = ListApiKeysRequest {
                project_id: project,
                ..Default::default()
            };
            let res = client
                .call(|mut api| async move { api.list_api_keys(req).await })
                .await?;
            let rows: Vec<Value> = res.api_keys.iter().map(to_json).collect();
            let columns = ["id", "name", "prefix", "revoked", "created_at"];
            output::list(s.output, &columns, &rows);
        }
        Command::Revoke { project, key_id } => {
            let req = RevokeApiKeyRequest {
                project_id: project,
                api_key_id: key_id.clone(),
            };
            client
                .call(|mut api| async move { api.revoke_api_key(req).await })
                .await?;
            match s.output {
                Format::Json => output::json(&json!({"id": key_id, "revoked": true})),
                Format::Table => println!("revoked API key {key_id}"),
            }
        }
    }
    Ok(())
}

/// A key as JSON; `api_key` only when the answer carries it (at creation).
fn to_json(k: &ApiKey) -> Value {
    let mut v = json!({
        "id": k.id,
        "name": k.name,
        "prefix": k.prefix,
        "revoked": k.revoked,
        "created_at": k.created_at,
    });
    if let Some(secret) = &k.api_key {
        v["api_key"] = json!(secret);
    }
    v
}
