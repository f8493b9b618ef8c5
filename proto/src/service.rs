//! What every Backendify service process shares: its log output (`LOG`, `LOG_FORMAT`), its trace
//! export ([`crate::telemetry`], off unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set) and when it stops
//! (Ctrl-C, SIGTERM, SIGHUP, or the launcher that started it is gone).

use crate::telemetry::{ExportSetupError, Telemetry};
use std::io::IsTerminal;
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Logging or trace export could not start.
#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    /// A `LOG_FORMAT` that is neither `text` nor `json`.
    #[error("LOG_FORMAT must be `text` or `json`, not `{0}`")]
    UnknownLogFormat(String),
    /// The `OTEL_*` settings do not make an exporter.
    #[error(transparent)]
    Export(#[from] ExportSetupError),
}

/// Starts logging to stdout: the `LOG` filter (default `info`); `LOG_FORMAT=json` writes one JSON
/// object per line, `text` (the default) readable lines, coloured only when stdout is a terminal
/// (a log file never gets escape codes). With `OTEL_EXPORTER_OTLP_ENDPOINT` set, spans also go
/// there as `service` ([`crate::telemetry`]), sent from `runtime`; shut the returned handle down
/// once the service stopped, so the last ones are sent.
pub fn init_logging(
    service: &'static str,
    runtime: &tokio::runtime::Handle,
) -> Result<Telemetry, LoggingError> {
    let filter = EnvFilter::try_from_env("LOG").unwrap_or_else(|_| "info".into());
    let format = std::env::var("LOG_FORMAT").unwrap_or_default();
    let fmt = tracing_subscriber::fmt::layer();
    let fmt = match format.trim().to_ascii_lowercase().as_str() {
        "json" => fmt.json().with_ansi(false).with_filter(filter).boxed(),
        "" | "text" => fmt
            .with_ansi(std::io::stdout().is_terminal())
            .with_filter(filter)
            .boxed(),
        _ => return Err(LoggingError::UnknownLogFormat(format)),
    };
    let (telemetry, export) = crate::telemetry::start(service, runtime)?;
    tracing_subscriber::registry().with(fmt).with(export).init();
    Ok(telemetry)
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
