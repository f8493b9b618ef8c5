//! Graceful drain, as a rolling update or `kubectl delete pod` does it: SIGTERM to a router or a
//! worker process while a request is in flight (a slow upload). The request finishes and is
//! stored, new connections are refused at once, and the process exits cleanly.

use e2e::{bins, TestEnv};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BOUNDARY: &str = "drain-boundary-7d3f";

/// Uploads a small file to `url` over about two seconds, in pieces.
fn slow_upload(url: String, token: String) -> tokio::task::JoinHandle<(u16, serde_json::Value)> {
    tokio::spawn(async move {
        let head = format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"slow.txt\"\r\nContent-Type: text/plain\r\n\r\n"
        );
        let tail = format!("\r\n--{BOUNDARY}--\r\n");
        let mut pieces = vec![head.into_bytes()];
        pieces.extend((0..10).map(|i| vec![b'a' + i as u8; 1024]));
        pieces.push(tail.into_bytes());
        let stream = async_stream(pieces);
        let res = reqwest::Client::new()
            .post(url)
            .bearer_auth(token)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(reqwest::Body::wrap_stream(stream))
            .send()
            .await
            .expect("the in-flight upload is answered");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or_default())
    })
}

/// The pieces, 200 ms apart.
fn async_stream(
    pieces: Vec<Vec<u8>>,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures_util::stream::unfold(pieces.into_iter(), |mut rest| async move {
        let next = rest.next()?;
        tokio::time::sleep(Duration::from_millis(200)).await;
        Some((Ok(next), rest))
    })
}

fn sigterm(child: &Child) {
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

/// Waits for the process to exit (at most 15 s); its exit status.
async fn exit_of(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "the process did not exit");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_ready(port: u16) {
    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/ready");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(r) = http.get(&url).send().await {
            if r.status() == 200 {
                return;
            }
        }
        assert!(Instant::now() < deadline, "{url} never became ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A new connection to `port` is refused.
async fn refuses_new_connections(port: u16) {
    let fresh = reqwest::Client::new();
    let err = fresh
        .get(format!("http://127.0.0.1:{port}/health"))
        .send()
        .await
        .expect_err("no new request is taken while draining");
    assert!(err.is_connect(), "refused, not answered: {err}");
}

async fn assert_stored(env: &TestEnv, t: &str, p: &str, body: &serde_json::Value) {
    let id = body["id"].as_str().expect("a file id");
    let got = env
        .call(
            "GET",
            &format!("/api/projects/{p}/files/{id}"),
            Some(t),
            None,
        )
        .await;
    assert_eq!(got.status, 200, "the drained upload is stored: {got:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_in_flight_requests_finish_on_a_router_and_on_a_worker() {
    let env = TestEnv::start().await;
    let t = env.admin("drain@example.com").await;
    let p = env.project(&t, "Drain").await;

    // A router process in front of the test's control plane and workers.
    let port = bins::free_port();
    let console = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/console");
    let mut router = Command::new(bins::bin_dir().join("router"))
        .env("ROUTER_ADDR", format!("127.0.0.1:{port}"))
        .env(
            "CONTROL_PLANE_HTTP_URL",
            format!("http://{}", env.control_plane_http()),
        )
        .env("CONTROL_PLANE_GRPC_URL", env.control_plane_grpc())
        .env("CLUSTER_TOKEN", e2e::CLUSTER_TOKEN)
        .env("CONSOLE_DIR", console)
        .env("LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the router binary");
    wait_ready(port).await;
    let upload = slow_upload(
        format!("http://127.0.0.1:{port}/api/projects/{p}/files/upload"),
        t.clone(),
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    sigterm(&router);
    tokio::time::sleep(Duration::from_millis(300)).await;
    refuses_new_connections(port).await;
    let (status, body) = upload.await.unwrap();
    assert_eq!(status, 201, "the upload in flight finished: {body}");
    assert!(exit_of(&mut router).await.success());
    assert_stored(&env, &t, &p, &body).await;

    // A worker process, the same way (straight to its port).
    let port = bins::free_port();
    let files = env.files_dir.to_string_lossy().into_owned();
    let mut worker = bins::spawn_worker(&env, port, &[("FILES_DIR", files.as_str())]);
    wait_ready(port).await;
    let upload = slow_upload(
        format!("http://127.0.0.1:{port}/api/projects/{p}/files/upload"),
        t.clone(),
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    sigterm(&worker);
    tokio::time::sleep(Duration::from_millis(300)).await;
    refuses_new_connections(port).await;
    let (status, body) = upload.await.unwrap();
    assert_eq!(status, 201, "the upload in flight finished: {body}");
    assert!(exit_of(&mut worker).await.success());
    assert_stored(&env, &t, &p, &body).await;
    env.shutdown().await;
}
