//! `schema`: a project's schema as a document (YAML or JSON) — export it, diff a file against the
//! project, apply a file — so a schema can live in git and reach each environment from CI.

use crate::changes;
use crate::client::Client;
use crate::output::{self, Format};
use crate::session::Session;
use anyhow::{bail, Context};
use clap::{Subcommand, ValueEnum};
use proto::admin::{ExportSchemaRequest, ImportSchemaRequest, ImportSchemaResponse};
use proto::json::{from_struct, to_struct};
use serde_json::{json, Value};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `schema …`
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Writes the project's schema document to stdout.
    Export {
        /// Project id.
        #[arg(long)]
        project: String,
        /// Document format.
        #[arg(long, value_enum, default_value_t = DocFormat::Yaml)]
        format: DocFormat,
    },
    /// Shows what applying FILE would change. Exit code 0: no changes; 2: changes; 1: error.
    Diff {
        /// The document (YAML or JSON; `-` reads stdin).
        file: PathBuf,
        /// Project id.
        #[arg(long)]
        project: String,
    },
    /// Makes the project's schema match FILE.
    Apply {
        /// The document (YAML or JSON; `-` reads stdin).
        file: PathBuf,
        /// Project id.
        #[arg(long)]
        project: String,
        /// Only show what would change.
        #[arg(long)]
        dry_run: bool,
        /// Also apply changes that delete data (dropped collections or columns).
        #[arg(long)]
        force: bool,
    },
}

/// How `schema export` writes the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DocFormat {
    /// YAML.
    Yaml,
    /// JSON.
    Json,
}

/// Exit code of `schema diff` when the project differs from the file.
const DIFFERS: u8 = 2;

/// Runs a `schema` command; `diff` reports through its exit code.
pub async fn run(s: &Session, cmd: Command) -> anyhow::Result<ExitCode> {
    let client = s.client().await?;
    match cmd {
        Command::Export { project, format } => export(&client, project, format).await?,
        Command::Diff { file, project } => {
            let doc = read_document(&file)?;
            let preview = import(&client, project, doc, true, false).await?;
            show(s.output, &preview);
            if !preview.changes.is_empty() {
                return Ok(ExitCode::from(DIFFERS));
            }
        }
        Command::Apply {
            file,
            project,
            dry_run,
            force,
        } => {
            let doc = read_document(&file)?;
            apply(s, &client, project, doc, dry_run, force).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn export(client: &Client, project: String, format: DocFormat) -> anyhow::Result<()> {
    let req = ExportSchemaRequest {
        project_id: project,
    };
    let res = client
        .call(|mut api| async move { api.export_schema(req).await })
        .await?;
    let doc = from_struct(&res.document.unwrap_or_default());
    match format {
        DocFormat::Yaml => print!("{}", serde_yaml::to_string(&doc).context("write YAML")?),
        DocFormat::Json => output::json(&doc),
    }
    Ok(())
}

/// Previews, refuses destructive changes without `force`, then applies; progress on stderr.
async fn apply(
    s: &Session,
    client: &Client,
    project: String,
    doc: serde_json::Map<String, Value>,
    dry_run: bool,
    force: bool,
) -> anyhow::Result<()> {
    eprintln!("previewing changes to project {project}…");
    let preview = import(client, project.clone(), doc.clone(), true, force).await?;
    if dry_run {
        show(s.output, &preview);
        return Ok(());
    }
    if preview.changes.is_empty() {
        eprintln!("nothing to do: the project already matches the document");
        show(s.output, &preview);
        return Ok(());
    }
    if !preview.destructive.is_empty() && !force {
        let names: Vec<String> = preview
            .destructive
            .iter()
            .map(|c| format!("  {}", changes::describe(&from_struct(c))))
            .collect();
        bail!(
            "refusing to apply: {} change(s) would delete data:\n{}\nreview them with `backendify schema diff`, then re-run with --force to apply them",
            names.len(),
            names.join("\n")
        );
    }
    eprintln!("applying {} change(s)…", preview.changes.len());
    let done = import(client, project, doc, false, force).await?;
    show(s.output, &done);
    eprintln!("done: schema version {}", done.schema_version);
    Ok(())
}

async fn import(
    client: &Client,
    project: String,
    doc: serde_json::Map<String, Value>,
    dry_run: bool,
    force: bool,
) -> anyhow::Result<ImportSchemaResponse> {
    let req = ImportSchemaRequest {
        project_id: project,
        document: Some(to_struct(&doc)),
        dry_run,
        force,
    };
    Ok(client
        .call(|mut api| async move { api.import_schema(req).await })
        .await?)
}

/// Prints an import's changes: JSON, or one line each with destructive ones marked, then the
/// server's warnings.
fn show(format: Format, res: &ImportSchemaResponse) {
    let changes: Vec<Value> = res.changes.iter().map(from_struct).collect();
    let destructive: Vec<Value> = res.destructive.iter().map(from_struct).collect();
    if format == Format::Json {
        output::json(&json!({
            "dry_run": res.dry_run,
            "applied": res.applied,
            "schema_version": res.schema_version,
            "changes": changes,
            "destructive": destructive,
            "warnings": res.warnings,
            "steps": res.steps,
        }));
        return;
    }
    if changes.is_empty() {
        println!("no changes");
    } else {
        let verb = if res.dry_run {
            "would apply"
        } else {
            "applied"
        };
        println!("{} change(s) {verb}:", changes.len());
        for c in &changes {
            let mark = if destructive.contains(c) {
                "   [destructive: deletes data]"
            } else {
                ""
            };
            println!("  {}{mark}", changes::describe(c));
        }
    }
    if !destructive.is_empty() && res.dry_run {
        println!(
            "{} destructive change(s): applying needs --force",
            destructive.len()
        );
    }
    for w in &res.warnings {
        println!("warning: {w}");
    }
}

/// Reads a schema document: JSON when the file ends in `.json`, else YAML (which also reads JSON).
fn read_document(path: &Path) -> anyhow::Result<serde_json::Map<String, Value>> {
    let name = path.display();
    let text = if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("read the document from stdin")?;
        text
    } else {
        std::fs::read_to_string(path).with_context(|| format!("read {name}"))?
    };
    let is_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let doc: Value = if is_json {
        serde_json::from_str(&text).with_context(|| format!("parse {name} as JSON"))?
    } else {
        serde_yaml::from_str(&text).with_context(|| format!("parse {name} as YAML"))?
    };
    match doc {
        Value::Object(map) => Ok(map),
        _ => bail!(
            "{name} is not a schema document (expected an object with `format` and `collections`)"
        ),
    }
}
