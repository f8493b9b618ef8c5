//! OpenTelemetry trace export, from the real binaries as processes (the exporter is per process):
//! a router and a control plane export to a collector on a loopback port, standing in for an
//! OpenTelemetry Collector (OTLP over HTTP/protobuf, decoded with `opentelemetry-proto`). A
//! caller's `traceparent` becomes the router span's parent, the router passes its own span on, and
//! the control plane's span is its child; spans still queued are sent on SIGTERM.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use e2e::bins::{bin_dir, free_port};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use prost::Message;
use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One span the collector got.
#[derive(Debug, Clone)]
struct Got {
    service: String,
    name: String,
    trace_id: String,
    span_id: String,
    parent: String,
    attrs: HashMap<String, String>,
}

type Spans = Arc<Mutex<Vec<Got>>>;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attrs(kvs: &[KeyValue]) -> HashMap<String, String> {
    kvs.iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(any_value::Value::StringValue(s)) => s.clone(),
                Some(any_value::Value::IntValue(i)) => i.to_string(),
                other => format!("{other:?}"),
            };
            (kv.key.clone(), value)
        })
        .collect()
}

/// `POST /v1/traces`: keeps every span of a well-formed OTLP/HTTP protobuf export.
async fn export(State(spans): State<Spans>, headers: HeaderMap, body: Bytes) -> impl IntoResponse {
    if headers.get(header::CONTENT_TYPE).map(|v| v.as_bytes()) != Some(b"application/x-protobuf") {
        return (StatusCode::UNSUPPORTED_MEDIA_TYPE, Vec::new());
    }
    let Ok(req) = ExportTraceServiceRequest::decode(body) else {
        return (StatusCode::BAD_REQUEST, Vec::new());
    };
    let mut got = spans.lock().unwrap();
    for rs in req.resource_spans {
        let resource = attrs(&rs.resource.map(|r| r.attributes).unwrap_or_default());
        let service = resource.get("service.name").cloned().unwrap_or_default();
        for span in rs.scope_spans.into_iter().flat_map(|s| s.spans) {
            got.push(Got {
                service: service.clone(),
                name: span.name,
                trace_id: hex(&span.trace_id),
                span_id: hex(&span.span_id),
                parent: hex(&span.parent_span_id),
                attrs: attrs(&span.attributes),
            });
        }
    }
    (
        StatusCode::OK,
        ExportTraceServiceResponse::default().encode_to_vec(),
    )
}

/// A process stopped (SIGKILL) if the test ends before it did.
struct Process(Child);

impl Process {
    fn start(binary: &str, env: &[(&str, String)]) -> Self {
        let child = Command::new(bin_dir().join(binary))
            .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .env_remove("OTEL_SERVICE_NAME")
            .env_remove("OTEL_RESOURCE_ATTRIBUTES")
            .env("LOG", "warn")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("start {binary}: {e}"));
        Self(child)
    }

    /// SIGTERM, then waits for a clean exit.
    async fn stop(&mut self) {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.0.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                assert!(status.success(), "stopped with {status}");
                return;
            }
            assert!(Instant::now() < deadline, "no exit 20 s after SIGTERM");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_spans_reach_the_collector_in_the_callers_trace() {
    let spans = Spans::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let collector = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .route("/v1/traces", axum::routing::post(export))
        .with_state(spans.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let db = e2e::pg::fresh_database().await;
    let (http, grpc, router) = (free_port(), free_port(), free_port());
    // Only the flush at shutdown sends within this test: the batch would wait a minute.
    let otel = |extra: Vec<(&'static str, String)>| {
        let mut env = vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.clone()),
            ("OTEL_BSP_SCHEDULE_DELAY", "60000".to_owned()),
            ("CLUSTER_TOKEN", e2e::CLUSTER_TOKEN.to_owned()),
        ];
        env.extend(extra);
        env
    };
    let mut control_plane = Process::start(
        "control-plane",
        &otel(vec![
            ("DATABASE_URL", db),
            ("CONTROL_HTTP_ADDR", format!("127.0.0.1:{http}")),
            ("CONTROL_GRPC_ADDR", format!("127.0.0.1:{grpc}")),
            ("JWT_SECRET", "tracing-test-secret".into()),
        ]),
    );
    let console = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/console");
    let mut router_process = Process::start(
        "router",
        &otel(vec![
            ("ROUTER_ADDR", format!("127.0.0.1:{router}")),
            ("CONTROL_PLANE_HTTP_URL", format!("http://127.0.0.1:{http}")),
            ("CONTROL_PLANE_GRPC_URL", format!("http://127.0.0.1:{grpc}")),
            ("CONSOLE_DIR", console.to_str().unwrap().to_owned()),
            // Standard OpenTelemetry: this name wins over the binary's.
            ("OTEL_SERVICE_NAME", "edge-router".into()),
        ]),
    );

    // An admin route: the router forwards it to the control plane, which answers 401.
    let url = format!("http://127.0.0.1:{router}/api/me");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = client.get(&url).send().await.map(|r| r.status().as_u16());
        if status.as_ref().is_ok_and(|s| *s == 401) {
            break;
        }
        assert!(Instant::now() < deadline, "never reached: {status:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let res = client
        .get(&url)
        .header("traceparent", format!("00-{TRACE_ID}-{CALLER_SPAN}-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let request_id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(
        spans.lock().unwrap().is_empty(),
        "sent before the batch delay"
    );

    router_process.stop().await;
    control_plane.stop().await;

    let deadline = Instant::now() + Duration::from_secs(10);
    let (edge, cp) = loop {
        let traced: Vec<Got> = spans
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.trace_id == TRACE_ID && s.name == "request")
            .cloned()
            .collect();
        let find = |service: &str| traced.iter().find(|s| s.service == service).cloned();
        if let (Some(edge), Some(cp)) = (find("edge-router"), find("control-plane")) {
            break (edge, cp);
        }
        assert!(
            Instant::now() < deadline,
            "no request spans of trace {TRACE_ID} from both processes: {:#?}",
            spans.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // The caller's span is the router's parent; the router's, the control plane's.
    assert_eq!(edge.parent, CALLER_SPAN, "{edge:#?}");
    assert_eq!(cp.parent, edge.span_id, "{cp:#?}");
    for span in [&edge, &cp] {
        assert_eq!(span.attrs["request_id"], request_id, "{span:#?}");
        assert_eq!(span.attrs["http.response.status_code"], "401", "{span:#?}");
        assert_eq!(span.attrs["method"], "GET", "{span:#?}");
    }
    // Spans of the other requests (the polling above) are not in the caller's trace.
    let spans = spans.lock().unwrap();
    assert!(spans.iter().any(|s| s.trace_id != TRACE_ID), "{spans:#?}");
}
