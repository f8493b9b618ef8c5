//! `backendify`: the command line for Backendify's gRPC admin API. This file holds the flags and
//! hands each command to the module that owns it; errors end here as `error: …` and exit code 1.

mod changes;
mod client;
mod collections;
mod config;
mod keys;
mod output;
mod projects;
mod schema;
mod session;
mod tokens;

use clap::{Parser, Subcommand};
use session::Session;
use std::path::PathBuf;
use std::process::ExitCode;

/// Administer a Backendify server from the command line: projects, API keys and tokens, schema as
/// code.
#[derive(Debug, Parser)]
#[command(name = "backendify", version)]
struct Cli {
    /// Server URL: the router's public address (gRPC over plain HTTP/2). Default: the URL of the
    /// last `login`, else http://127.0.0.1:8000.
    #[arg(long, env = "BACKENDIFY_URL", global = true)]
    url: Option<String>,
    /// Admin access token or admin API token (`bfy_…`). Default: the token saved by `login`.
    #[arg(long, env = "BACKENDIFY_TOKEN", global = true, hide_env_values = true)]
    token: Option<String>,
    /// How to print answers.
    #[arg(long, value_enum, default_value_t = output::Format::Table, global = true)]
    output: output::Format,
    /// The file `login` saves the session in. Default: $XDG_CONFIG_HOME/backendify/config.json
    /// (or ~/.config/backendify/config.json).
    #[arg(long, env = "BACKENDIFY_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Signs in, makes a 90-day admin API token for this CLI and saves it for the next commands.
    Login {
        /// Your admin email.
        #[arg(long)]
        email: String,
        /// Your password; otherwise read from one line of stdin (when it is not a terminal).
        #[arg(long, env = "BACKENDIFY_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
    /// Revokes and forgets the token `login` saved.
    Logout,
    /// Projects.
    #[command(subcommand)]
    Projects(projects::Command),
    /// Collections of a project.
    #[command(subcommand)]
    Collections(collections::Command),
    /// API keys of a project (what apps send as X-API-Key).
    #[command(subcommand)]
    Keys(keys::Command),
    /// Admin API tokens (bfy_…) for scripts and CI.
    #[command(subcommand)]
    Tokens(tokens::Command),
    /// Schema as code: export, diff and apply schema documents.
    #[command(subcommand)]
    Schema(schema::Command),
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    // Usage errors exit 1, not clap's 2: `schema diff` uses 2 for "there are changes", and a
    // mistyped flag in CI must not read as that.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = cli.config.or_else(config::default_path);
    let s = Session::resolve(cli.url, cli.token, cli.output, config)?;
    match cli.command {
        Command::Login { email, password } => session::login(&s, email, password).await?,
        Command::Logout => session::logout(&s).await?,
        Command::Projects(cmd) => projects::run(&s, cmd).await?,
        Command::Collections(cmd) => collections::run(&s, cmd).await?,
        Command::Keys(cmd) => keys::run(&s, cmd).await?,
        Command::Tokens(cmd) => tokens::run(&s, cmd).await?,
        Command::Schema(cmd) => return schema::run(&s, cmd).await,
    }
    Ok(ExitCode::SUCCESS)
}
