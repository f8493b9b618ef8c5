//! What every Backendify service process shares: its log output (`LOG`, `LOG_FORMAT`), its trace
//! export ([`crate::telemetry`], off unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set) and when it stops
//! (Ctrl-C, SIGTERM, SIGHUP, or the launcher that started it is gone).

use crate::telemetry::{ExportSetupError, Telemetry};
use std::io::IsTerminal;
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::Filter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
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
    let format = std::env::var("LOG_FORMAT").unwrap_or_default();
    let json = match format.trim().to_ascii_lowercase().as_str() {
        "json" => true,
        "" | "text" => false,
        _ => return Err(LoggingError::UnknownLogFormat(format)),
    };
    let (telemetry, export) = crate::telemetry::start(service, runtime)?;
    match export {
        // The filter in front of everything: a span or event it leaves out is never made.
        None => tracing_subscriber::registry()
            .with(LogFilter::from_env().layer())
            .with(log_lines(json))
            .init(),
        // Exported spans have their own filter, so `LOG` filters the log lines only.
        Some(export) => tracing_subscriber::registry()
            .with(log_lines(json).with_filter(LogFilter::from_env().filter()))
            .with(export)
            .init(),
    }
    Ok(telemetry)
}

/// The layer writing log lines to stdout: JSON objects, or readable lines coloured only on a
/// terminal.
fn log_lines<S>(json: bool) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    let fmt = tracing_subscriber::fmt::layer();
    if json {
        fmt.json().with_ansi(false).boxed()
    } else {
        fmt.with_ansi(std::io::stdout().is_terminal()).boxed()
    }
}

/// The `LOG` filter (`info` when unset or not understood). The usual `target=level` list is a
/// [`Targets`] filter, which decides once per call site and costs nothing per span; only
/// directives on spans or fields (`[span{field=x}]=debug`) need an [`EnvFilter`], which is
/// consulted on every span entered and left (several percent of a busy worker's CPU).
enum LogFilter {
    Targets(Targets),
    Env(Box<EnvFilter>),
}

impl LogFilter {
    fn from_env() -> Self {
        Self::parse(std::env::var("LOG").as_deref().unwrap_or_default())
    }

    fn parse(spec: &str) -> Self {
        let spec = match spec.trim() {
            "" => "info",
            spec => spec,
        };
        if !spec.contains(['[', '{']) {
            if let Ok(targets) = spec.parse::<Targets>() {
                return Self::Targets(targets);
            }
        }
        Self::Env(Box::new(
            EnvFilter::try_new(spec).unwrap_or_else(|_| EnvFilter::new("info")),
        ))
    }

    /// As a layer in front of all others.
    fn layer<S>(self) -> Box<dyn Layer<S> + Send + Sync>
    where
        S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    {
        match self {
            Self::Targets(f) => f.boxed(),
            Self::Env(f) => (*f).boxed(),
        }
    }

    /// As the filter of one layer.
    fn filter<S>(self) -> Box<dyn Filter<S> + Send + Sync>
    where
        S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    {
        match self {
            Self::Targets(f) => Box::new(f),
            Self::Env(f) => f,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::LogFilter;
    use tracing::level_filters::LevelFilter;

    #[test]
    fn target_lists_need_no_per_span_filter() {
        let LogFilter::Targets(t) = LogFilter::parse("warn,data_plane=debug") else {
            panic!("a target list is a Targets filter");
        };
        assert!(t.would_enable("data_plane::db", &tracing::Level::DEBUG));
        assert!(!t.would_enable("sqlx::query", &tracing::Level::INFO));
        let LogFilter::Targets(t) = LogFilter::parse("  ") else {
            panic!("unset is info");
        };
        assert_eq!(t.default_level(), Some(LevelFilter::INFO));
        assert!(matches!(
            LogFilter::parse("info,[request{project_id=x}]=debug"),
            LogFilter::Env(_)
        ));
    }
}
