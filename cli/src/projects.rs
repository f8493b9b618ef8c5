//! `projects`: the projects the caller is a member of, and new ones.

use crate::output;
use crate::session::Session;
use clap::Subcommand;
use proto::admin::{CreateProjectRequest, ListProjectsRequest, Project};
use serde_json::{json, Value};

/// `projects …`
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Lists the projects you are a member of.
    List,
    /// Creates a project.
    Create {
        /// The project's name.
        name: String,
    },
}

/// Runs a `projects` command.
pub async fn run(s: &Session, cmd: Command) -> anyhow::Result<()> {
    let client = s.client().await?;
    match cmd {
        Command::List => {
            let res =
                client
                    .call(|mut api| async move {
                        api.list_projects(ListProjectsRequest::default()).await
                    })
                    .await?;
            let rows: Vec<Value> = res.projects.iter().map(to_json).collect();
            output::list(s.output, &["id", "name"], &rows);
        }
        Command::Create { name } => {
            let project =
                client
                    .call(|mut api| async move {
                        api.create_project(CreateProjectRequest { name }).await
                    })
                    .await?;
            output::record(s.output, &to_json(&project));
        }
    }
    Ok(())
}

fn to_json(p: &Project) -> Value {
    json!({"id": p.id, "name": p.name})
}
