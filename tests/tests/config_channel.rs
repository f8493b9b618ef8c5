//! The internal config channel (`ConfigService` on the control plane's gRPC port) answers only
//! callers that present the cluster token: configs carry every project's signing keys.

use e2e::{TestEnv, CLUSTER_TOKEN};
use proto::cluster::ClusterToken;
use proto::config::{AckRequest, PlacementsRequest, WatchRequest};
use proto::ConfigServiceClient;
use tonic::metadata::MetadataValue;
use tonic::{Code, Request};

fn watch_request(token: Option<&str>) -> Request<WatchRequest> {
    let mut req = Request::new(WatchRequest {
        worker_id: "intruder".into(),
        http_addr: "127.0.0.1:9".into(),
        cell: "default".into(),
        serving: false,
        ..Default::default()
    });
    if let Some(t) = token {
        let v: MetadataValue<_> = format!("Bearer {t}").parse().unwrap();
        req.metadata_mut().insert("authorization", v);
    }
    req
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_without_the_cluster_token_gets_nothing() {
    let env = TestEnv::start().await;
    let admin = env.admin("owner@example.com").await;
    env.project(&admin, "Keys").await;
    let channel = proto::connect(&env.control_plane_grpc()).await.unwrap();
    let mut client = ConfigServiceClient::new(channel.clone());

    let wrong = "not-the-cluster-token-0123456789abcdef";
    for token in [None, Some(""), Some(wrong), Some(&CLUSTER_TOKEN[..20])] {
        let err = client.watch(watch_request(token)).await.err();
        let code = err.map(|e| e.code());
        assert_eq!(code, Some(Code::Unauthenticated), "watch with {token:?}");
        let err = client
            .watch_placements(PlacementsRequest::default())
            .await
            .err();
        assert_eq!(err.map(|e| e.code()), Some(Code::Unauthenticated));
        let err = client.ack(AckRequest::default()).await.err();
        assert_eq!(err.map(|e| e.code()), Some(Code::Unauthenticated));
    }
    // The refused watcher was never registered: the router still knows only the two workers.
    let placements = ConfigServiceClient::with_interceptor(
        channel.clone(),
        ClusterToken::new(CLUSTER_TOKEN).unwrap(),
    )
    .watch_placements(PlacementsRequest::default())
    .await
    .unwrap()
    .into_inner()
    .message()
    .await
    .unwrap()
    .unwrap();
    assert_eq!(placements.workers.len(), 2);

    // With the token, the same call gets the snapshot (with the project in it).
    let mut stream = client
        .watch(watch_request(Some(CLUSTER_TOKEN)))
        .await
        .expect("the cluster token opens the watch")
        .into_inner();
    let first = stream.message().await.unwrap().unwrap();
    match first.kind {
        Some(proto::config::config_event::Kind::Snapshot(s)) => assert_eq!(s.configs.len(), 1),
        other => panic!("expected a snapshot, got {other:?}"),
    }
    drop(stream);
    env.shutdown().await;
}
