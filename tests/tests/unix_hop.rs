//! The router↔worker hop on one machine: each worker also serves on a Unix socket and a router
//! with the same machine identity uses it. Here the workers advertise a TCP address where
//! nothing listens, so every answer through the router came over a socket.

use e2e::{Options, TestEnv};
use reqwest::multipart::{Form, Part};
use serde_json::json;
use std::os::unix::fs::PermissionsExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_requests_and_uploads_reach_workers_on_their_unix_sockets() {
    let env = TestEnv::start_with(Options {
        socket_only: true,
        ..Options::default()
    })
    .await;
    let sockets: Vec<_> = env
        .worker_addrs()
        .iter()
        .map(|a| std::env::temp_dir().join(format!("backendify-worker-{}.sock", a.port())))
        .collect();
    for s in &sockets {
        let mode = std::fs::metadata(s)
            .expect("the socket exists")
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "only this user may connect: {}",
            s.display()
        );
    }
    let t = env.admin("hop@example.com").await;
    let p = env.project(&t, "Hop").await;
    env.collection(&t, &p, "notes").await;
    env.field(&t, &p, "notes", "title", "text").await;
    for i in 0..6 {
        let made = env
            .call(
                "POST",
                &format!("/api/projects/{p}/data/notes"),
                Some(&t),
                Some(json!({"title": format!("n{i}")})),
            )
            .await;
        assert_eq!(made.status, 201, "{made:?}");
    }
    let list = env
        .call(
            "GET",
            &format!("/api/projects/{p}/data/notes?sort=id"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(list.status, 200, "{list:?}");
    assert_eq!(list.body["total"], 6);
    // A streamed upload takes the socket too.
    let form = Form::new().part(
        "file",
        Part::bytes(vec![b'x'; 300_000]).file_name("big.txt"),
    );
    let up = env
        .send(
            env.request("POST", &format!("/api/projects/{p}/files/upload"))
                .bearer_auth(&t)
                .multipart(form),
        )
        .await;
    assert_eq!(up.status, 201, "{up:?}");
    env.shutdown().await;
    for s in &sockets {
        assert!(
            !s.exists(),
            "a stopped worker removes its socket: {}",
            s.display()
        );
    }
}
