//! What every Backendify service process shares: its log output (`LOG`, `LOG_FORMAT`) and when it
//! stops (Ctrl-C, SIGTERM, SIGHUP, or the launcher that started it is gone).

use std::io::IsTerminal;
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};
use tracing_subscriber::EnvFilter;

/// A `LOG_FORMAT` that is neither `text` nor `json`.
#[derive(Debug, thiserror::Error)]
#[error("LOG_FORMAT must be `text` or `json`, not `{0}`")]
pub struct UnknownLogFormat(String);

/// Starts logging to stdout: the `LOG` filter (default `info`); `LOG_FORMAT=json` writes one JSON
/// object per line, `text` (the default) readable lines, coloured only when stdout is a terminal
/// (a log file never gets escape codes).
pub fn init_logging() -> Result<(), UnknownLogFormat> {
    let filter = EnvFilter::try_from_env("LOG").unwrap_or_else(|_| "info".into());
    let format = std::env::var("LOG_FORMAT").unwrap_or_default();
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format.trim().to_ascii_lowercase().as_str() {
        "json" => builder.json().with_ansi(false).init(),
        "" | "text" => builder.with_ansi(std::io::stdout().is_terminal()).init(),
        _ => return Err(UnknownLogFormat(format)),
    }
    Ok(())
}

/// How often a process looks whether its launcher is still there.
const PARENT_POLL: Duration = Duration::from_millis(200);

/// Resolves when the process should stop: Ctrl-C, SIGTERM, SIGHUP, or, when `parent` is given,
/// once this process's parent is no longer that pid (the launcher ended, even by SIGKILL, and the
/// process was handed to another parent).
pub async fn stop_signal(parent: Option<u32>) -> std::io::Result<()> {
    let mut term = signal(SignalKind::terminate())?;
    let mut hup = signal(SignalKind::hangup())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
        _ = hup.recv() => {}
        _ = parent_gone(parent) => {
            tracing::warn!("the launcher (pid {}) is gone; stopping", parent.unwrap_or_default());
        }
    }
    Ok(())
}

async fn parent_gone(parent: Option<u32>) {
    let Some(pid) = parent else {
        return std::future::pending().await;
    };
    while std::os::unix::process::parent_id() == pid {
        tokio::time::sleep(PARENT_POLL).await;
    }
}
