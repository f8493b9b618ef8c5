//! One control plane leads at a time: a second one over the same database waits as a standby
//! (alive, not ready, serving nothing) and takes over when the leader stops.

use e2e::TestEnv;
use std::time::Duration;

async fn get(url: &str, token: Option<&str>) -> u16 {
    let mut req = reqwest::Client::new().get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.map_or(0, |r| r.status().as_u16())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_control_plane_waits_as_a_standby_and_takes_over_when_the_leader_stops() {
    let mut env = TestEnv::start().await;
    let t = env.admin("lead@example.com").await;
    let port = e2e::bins::free_port();
    let second = control_plane::Config {
        http_addr: format!("127.0.0.1:{port}").parse().unwrap(),
        grpc_addr: "127.0.0.1:0".parse().unwrap(),
        metrics: Default::default(),
        ..env.control_plane_config()
    };
    // Polled here beside the checks (its start-up future is not sent to another task).
    let mut standby = Box::pin(control_plane::start(second));
    let base = format!("http://127.0.0.1:{port}");
    let checks = async {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while get(&format!("{base}/health"), None).await != 200 {
            assert!(
                std::time::Instant::now() < deadline,
                "the standby never answered /health"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Alive, but not ready and serving nothing, while the first one leads.
        assert_eq!(get(&format!("{base}/ready"), None).await, 503);
        assert_eq!(get(&format!("{base}/api/me"), Some(&t)).await, 503);
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    tokio::select! {
        started = &mut standby => panic!("the standby led while the leader lives: {}", started.is_ok()),
        _ = checks => {}
    }

    env.stop_control_plane().await;
    let leader = tokio::time::timeout(Duration::from_secs(15), standby)
        .await
        .expect("the standby took over")
        .expect("the second control plane started");
    assert_eq!(get(&format!("{base}/ready"), None).await, 200);
    assert_eq!(
        get(&format!("{base}/api/me"), Some(&t)).await,
        200,
        "same database, same admins"
    );
    leader.shutdown().await;
    env.shutdown().await;
}
