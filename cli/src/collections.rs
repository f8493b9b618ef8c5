//! `collections`: a project's collections.

use crate::output;
use crate::session::Session;
use clap::Subcommand;
use proto::admin::{Collection, ListCollectionsRequest};
use serde_json::{json, Value};

/// `collections …`
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Lists a project's collections, in creation order.
    List {
        /// Project id.
        #[arg(long)]
        project: String,
    },
}

/// Runs a `collections` command.
pub async fn run(s: &Session, cmd: Command) -> anyhow::Result<()> {
    let client = s.client().await?;
    match cmd {
        Command::List { project } => {
            let req = ListCollectionsRequest {
                project_id: project,
                ..Default::default()
            };
            let res = client
                .call(|mut api| async move { api.list_collections(req).await })
                .await?;
            let rows: Vec<Value> = res.collections.iter().map(to_json).collect();
            let columns = ["name", "display_name", "system", "id", "created_at"];
            output::list(s.output, &columns, &rows);
        }
    }
    Ok(())
}

fn to_json(c: &Collection) -> Value {
    json!({
        "id": c.id,
        "name": c.name,
        "display_name": c.display_name,
        "sql_table_name": c.sql_table_name,
        "system": c.is_system,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
    })
}
