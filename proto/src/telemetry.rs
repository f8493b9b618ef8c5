//! Trace export over OpenTelemetry, off unless `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set: then every `tracing` span at INFO or above (the
//! request span of [`crate::metrics::track`] and what runs inside it) goes to that collector as
//! OTLP over HTTP/protobuf, whatever `LOG` lets through to the log.
//!
//! The exporter comes without an HTTP client of its own: [`OnRuntime`] sends with our reqwest on
//! the service's tokio runtime, so no second reqwest, tonic or prost enters the build. The other
//! standard variables are the SDK's (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
//! `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_TRACES_SAMPLER`, `OTEL_BSP_*`).
//!
//! A caller's W3C `traceparent` makes the request span a child of the caller's span, and the
//! router passes its own span on to the worker or the control plane it forwards to ([`inject`]).

use axum::http;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{Status, TracerProvider as _};
use opentelemetry_http::{Bytes, HeaderExtractor, HeaderInjector, HttpClient, HttpError};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// Whether spans are exported (set once at start-up): without it, requests skip the header work.
static EXPORTING: AtomicBool = AtomicBool::new(false);

/// How long one export request may take (the OTLP default).
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// The most of a collector's answer that is read (an OTLP answer is a few bytes).
const MAX_ANSWER_BYTES: usize = 1 << 20;

/// The exporter could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ExportSetupError {
    /// The `OTEL_*` variables do not make an exporter.
    #[error("set up the OTLP trace exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    /// Its HTTP client could not be made (TLS set-up).
    #[error("set up the OTLP trace exporter's HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// The span exporter of a process, if any: [`Telemetry::shutdown`] sends what is still queued.
#[must_use = "shut it down when the process stops, or the last spans are lost"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Sends the spans still queued and stops the exporter (within 5 s). It blocks: call it from
    /// `main` once the service has stopped, while the runtime given to [`start`] still exists
    /// (its threads carry the last requests).
    pub fn shutdown(self) {
        let Some(provider) = self.provider else {
            return;
        };
        EXPORTING.store(false, Ordering::Relaxed);
        if let Err(e) = provider.shutdown() {
            tracing::warn!("could not send the last spans: {e}");
        }
    }
}

/// Whether an OTLP endpoint for traces is configured.
fn endpoint_configured() -> bool {
    [
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ]
    .iter()
    .any(|var| std::env::var_os(var).is_some_and(|v| !v.is_empty()))
}

/// Starts exporting when an endpoint is configured: the handle to shut down and the layer that
/// turns spans into OpenTelemetry spans (none when off). `service` is the `service.name` unless
/// `OTEL_SERVICE_NAME` (or `service.name` in `OTEL_RESOURCE_ATTRIBUTES`) says otherwise. Exports
/// run on `runtime`.
pub fn start<S>(
    service: &'static str,
    runtime: &tokio::runtime::Handle,
) -> Result<(Telemetry, Option<impl Layer<S>>), ExportSetupError>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    if !endpoint_configured() {
        return Ok((Telemetry { provider: None }, None));
    }
    let client = OnRuntime {
        http: reqwest::Client::builder()
            .timeout(EXPORT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()?,
        runtime: runtime.clone(),
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_http_client(client)
        .build()?;
    let provider = SdkTracerProvider::builder()
        .with_resource(resource(service))
        .with_batch_exporter(exporter)
        .build();
    let layer = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer(service))
        .with_filter(LevelFilter::INFO);
    EXPORTING.store(true, Ordering::Relaxed);
    Ok((
        Telemetry {
            provider: Some(provider),
        },
        Some(layer),
    ))
}

/// The SDK's resource (from the `OTEL_*` variables), named `service` unless they name it.
fn resource(service: &'static str) -> Resource {
    let detected = Resource::builder().build();
    let named = detected
        .get(&opentelemetry::Key::from_static_str("service.name"))
        .is_some_and(|name| !name.as_str().starts_with("unknown_service"));
    if named {
        detected
    } else {
        Resource::builder().with_service_name(service).build()
    }
}

/// Makes `span` (not yet entered) a child of the caller's span when the request carries a W3C
/// `traceparent` and spans are exported.
pub fn set_remote_parent(span: &tracing::Span, headers: &http::HeaderMap) {
    if !EXPORTING.load(Ordering::Relaxed) || !headers.contains_key("traceparent") {
        return;
    }
    let parent = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    // Fails only when the span is disabled: then there is nothing to export either.
    let _ = span.set_parent(parent);
}

/// Puts the current span into `headers` as `traceparent` (and `tracestate`) for the service a
/// request is forwarded to, replacing the caller's; when spans are not exported, the caller's
/// headers pass on unchanged.
pub fn inject(headers: &mut http::HeaderMap) {
    if !EXPORTING.load(Ordering::Relaxed) {
        return;
    }
    let cx = tracing::Span::current().context();
    TraceContextPropagator::new().inject_context(&cx, &mut HeaderInjector(headers));
}

/// A span to note the answer on once it is known, when spans are exported.
pub fn exported(span: &tracing::Span) -> Option<tracing::Span> {
    EXPORTING.load(Ordering::Relaxed).then(|| span.clone())
}

/// Notes the answer's status on the request span: `http.response.status_code`, and the span
/// status error on a 5xx (the server's fault, as OpenTelemetry's HTTP conventions have it).
pub fn record_status(span: &tracing::Span, status: u16) {
    span.set_attribute("http.response.status_code", i64::from(status));
    if status >= 500 {
        span.set_status(Status::error(""));
    }
}

/// The exporter's HTTP client: our reqwest client, on the service's runtime. The batch processor
/// exports from a thread of its own, outside any runtime, so each request is spawned onto the
/// runtime and awaited from there.
#[derive(Debug)]
struct OnRuntime {
    http: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl HttpClient for OnRuntime {
    async fn send_bytes(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, HttpError> {
        let http = self.http.clone();
        let sent = self.runtime.spawn(async move {
            let mut res = http.execute(request.try_into()?).await?;
            let mut answer = http::Response::builder().status(res.status());
            if let Some(headers) = answer.headers_mut() {
                *headers = std::mem::take(res.headers_mut());
            }
            let mut body = Vec::new();
            while let Some(chunk) = res.chunk().await? {
                if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                    return Err("the collector's answer is too long".into());
                }
                body.extend_from_slice(&chunk);
            }
            Ok::<_, HttpError>(answer.body(Bytes::from(body))?)
        });
        sent.await?
    }
}
