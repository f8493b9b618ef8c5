//! Admin sessions through the router (spec/admin-auth.md): refresh-token rotation and reuse
//! detection.

use e2e::{Res, TestEnv};
use serde_json::json;

async fn refresh(env: &TestEnv, token: &str) -> Res {
    env.call(
        "POST",
        "/api/auth/refresh",
        None,
        Some(json!({ "refresh_token": token })),
    )
    .await
}

async fn login(env: &TestEnv, email: &str) -> Res {
    let body = json!({ "email": email, "password": "password123" });
    let res = env.call("POST", "/api/auth/login", None, Some(body)).await;
    assert_eq!(res.status, 200, "{res:?}");
    res
}

fn refresh_token(res: &Res) -> String {
    res.body["refresh_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no refresh_token in {res:?}"))
        .to_owned()
}

fn invalid(res: &Res) -> (u16, &str) {
    (res.status, res.body["detail"].as_str().unwrap_or_default())
}

#[tokio::test]
async fn a_replayed_admin_refresh_token_ends_its_whole_family() {
    let env = TestEnv::start().await;
    env.admin("owner@example.com").await;
    let first = refresh_token(&login(&env, "owner@example.com").await);
    // Another login is another family: a replay in the first leaves it alone.
    let other = refresh_token(&login(&env, "owner@example.com").await);

    // Rotation: r0 → r1 → r2, each token good once.
    let r1 = refresh(&env, &first).await;
    assert_eq!(r1.status, 200, "{r1:?}");
    let r1 = refresh_token(&r1);
    let r2 = refresh(&env, &r1).await;
    assert_eq!(r2.status, 200, "{r2:?}");
    let r2 = refresh_token(&r2);
    assert!(first != r1 && r1 != r2);

    // The first token, rotated out long ago, comes back: it leaked. The replay is refused and
    // the newest token of its family, which the thief or the owner may hold, ends with it.
    let replay = refresh(&env, &first).await;
    assert_eq!(invalid(&replay), (401, "Invalid refresh token"));
    let newest = refresh(&env, &r2).await;
    assert_eq!(
        invalid(&newest),
        (401, "Invalid refresh token"),
        "r2 outlived a reuse"
    );
    assert_eq!(refresh(&env, &r1).await.status, 401);

    // The other family still rotates.
    let res = refresh(&env, &other).await;
    assert_eq!(res.status, 200, "{res:?}");
    let other2 = refresh_token(&res);

    // Replaying the token exchanged just before ends that family too (the shortest replay).
    assert_eq!(refresh(&env, &other).await.status, 401);
    assert_eq!(refresh(&env, &other2).await.status, 401);

    // A token that was logged out is only refused: logging out is no reuse.
    let fresh = refresh_token(&login(&env, "owner@example.com").await);
    let res = env
        .call(
            "POST",
            "/api/auth/logout",
            None,
            Some(json!({ "refresh_token": fresh })),
        )
        .await;
    assert_eq!(res.status, 204);
    assert_eq!(
        invalid(&refresh(&env, &fresh).await),
        (401, "Invalid refresh token")
    );
    // A new login works as before.
    let again = refresh_token(&login(&env, "owner@example.com").await);
    assert_eq!(refresh(&env, &again).await.status, 200);
}

#[tokio::test]
async fn a_replay_racing_the_rotation_still_ends_the_family() {
    let env = TestEnv::start().await;
    env.admin("racer@example.com").await;
    for _ in 0..5 {
        let token = refresh_token(&login(&env, "racer@example.com").await);
        // Two presentations of one token at once: exactly one rotates, the other is a reuse,
        // and whatever the first one got is dead afterwards.
        let (a, b) = tokio::join!(refresh(&env, &token), refresh(&env, &token));
        let mut statuses = [a.status, b.status];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 401], "{a:?} {b:?}");
        let winner = if a.status == 200 { &a } else { &b };
        assert_eq!(refresh(&env, &refresh_token(winner)).await.status, 401);
    }
}
