//! Realtime streams (`GET …/realtime?subscribe=…`, Server-Sent Events) over the real stack: a
//! write through one worker reaches subscribers on every worker and through the router, each
//! subscriber sees what it may read and what its topic matches, a resume with `Last-Event-ID`
//! loses nothing, and losing a role or a session stops the events.

use e2e::sse::{Sse, SseEvent};
use e2e::{Options, TestEnv};
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);
/// How long a stream must stay quiet to show that an event was not sent.
const QUIET: Duration = Duration::from_millis(1500);

struct Rt<'a> {
    env: &'a TestEnv,
    admin: String,
    p: String,
    key: String,
    http: reqwest::Client,
}

impl Rt<'_> {
    async fn start(env: &TestEnv) -> Rt<'_> {
        let admin = env.admin("owner@example.com").await;
        let p = env.project(&admin, "Live").await;
        env.collection(&admin, &p, "posts").await;
        for (f, t) in [("title", "string"), ("status", "string"), ("n", "int")] {
            env.field(&admin, &p, "posts", f, t).await;
        }
        let key = env
            .call(
                "POST",
                &format!("/api/projects/{p}/api-keys"),
                Some(&admin),
                Some(json!({"name": "k"})),
            )
            .await
            .body["api_key"]
            .as_str()
            .unwrap()
            .to_owned();
        Rt {
            env,
            admin,
            p,
            key,
            http: reqwest::Client::new(),
        }
    }

    /// The base URL of worker `i`, or of the router for `None`.
    fn base(&self, worker: Option<usize>) -> String {
        match worker {
            Some(i) => format!("http://{}", self.env.workers[i].http_addr),
            None => self.env.base.clone(),
        }
    }

    fn stream(&self, worker: Option<usize>, query: &str) -> reqwest::RequestBuilder {
        self.http.get(format!(
            "{}/api/projects/{}/realtime?{query}",
            self.base(worker),
            self.p
        ))
    }

    async fn open(&self, req: reqwest::RequestBuilder) -> Sse {
        let mut s = Sse::open(req).await.expect("a stream");
        s.ready().await;
        s
    }

    /// A write with the API key through worker `i` (or the router); returns the JSON answer.
    async fn write(
        &self,
        worker: Option<usize>,
        method: &str,
        rest: &str,
        body: Option<Value>,
    ) -> Value {
        self.write_as(worker, Who::Key, method, rest, body).await
    }

    async fn write_as(
        &self,
        worker: Option<usize>,
        who: Who<'_>,
        method: &str,
        rest: &str,
        body: Option<Value>,
    ) -> Value {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let url = format!("{}/api/projects/{}{rest}", self.base(worker), self.p);
        let mut req = self.http.request(method, url);
        req = match who {
            Who::Key => req.header("x-api-key", &self.key),
            Who::Admin => req.bearer_auth(&self.admin),
            Who::Token(t) => req.bearer_auth(t),
        };
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        assert!((200..300).contains(&status), "{rest}: {status} {body}");
        body
    }

    async fn post(&self, worker: Option<usize>, data: Value) -> i64 {
        self.write(worker, "POST", "/data/posts", Some(data)).await["id"]
            .as_i64()
            .unwrap()
    }

    async fn policy(&self, body: Value) {
        let res = self
            .env
            .call(
                "POST",
                &format!("/api/projects/{}/schema/collections/posts/policies", self.p),
                Some(&self.admin),
                Some(body),
            )
            .await;
        assert_eq!(res.status, 201, "{res:?}");
    }

    /// Registers an app user; returns (id, access token).
    async fn user(&self, email: &str) -> (String, String) {
        let res = self
            .env
            .call(
                "POST",
                &format!("/api/projects/{}/auth/register", self.p),
                None,
                Some(json!({"email": email, "password": "password123"})),
            )
            .await;
        assert_eq!(res.status, 201, "{res:?}");
        let token = res.body["access_token"].as_str().unwrap().to_owned();
        let me = self
            .env
            .call(
                "GET",
                &format!("/api/projects/{}/auth/me", self.p),
                Some(&token),
                None,
            )
            .await;
        (me.body["id"].as_str().unwrap().to_owned(), token)
    }
}

#[derive(Clone, Copy)]
enum Who<'a> {
    Key,
    Admin,
    Token(&'a str),
}

fn names(events: &[SseEvent]) -> Vec<&str> {
    events.iter().map(|e| e.event.as_str()).collect()
}

fn titles(events: &[SseEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            e.json()["record"]["title"]
                .as_str()
                .unwrap_or("?")
                .to_owned()
        })
        .collect()
}

async fn take(s: &mut Sse, n: usize) -> Vec<SseEvent> {
    let mut out = Vec::new();
    while out.len() < n {
        match s.event(WAIT).await {
            Some(e) => out.push(e),
            None => panic!("expected {n} events, got {out:#?}"),
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_through_one_worker_reaches_subscribers_on_every_worker() {
    let env = TestEnv::start().await;
    let rt = Rt::start(&env).await;
    let mut on0 = rt
        .open(
            rt.stream(Some(0), "subscribe=posts")
                .header("x-api-key", &rt.key),
        )
        .await;
    let mut on1 = rt
        .open(
            rt.stream(Some(1), "subscribe=posts")
                .header("x-api-key", &rt.key),
        )
        .await;
    // Through the router, as an admin, with the token in the query as `EventSource` sends it.
    let mut routed = rt
        .open(rt.stream(None, &format!("subscribe=posts&access_token={}", rt.admin)))
        .await;

    let id = rt
        .post(
            Some(1),
            json!({"title": "hello", "status": "draft", "n": 1}),
        )
        .await;
    rt.write(
        Some(1),
        "PATCH",
        &format!("/data/posts/{id}"),
        Some(json!({"status": "published"})),
    )
    .await;
    let res = rt
        .http
        .delete(format!(
            "{}/api/projects/{}/data/posts/{id}",
            rt.base(Some(1)),
            rt.p
        ))
        .header("x-api-key", &rt.key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);

    let mut seqs = Vec::new();
    for s in [&mut on0, &mut on1, &mut routed] {
        let events = take(s, 3).await;
        assert_eq!(
            names(&events),
            ["record.created", "record.updated", "record.deleted"]
        );
        let ids: Vec<i64> = events.iter().map(SseEvent::seq).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids rise: {ids:?}");
        let created = events[0].json();
        assert_eq!(created["collection"], "posts");
        assert_eq!(created["event"], "record.created");
        assert_eq!(created["record_id"], id.to_string());
        assert_eq!(created["record"]["title"], "hello");
        assert_eq!(created["record"]["id"], id);
        assert!(created["timestamp"].is_string(), "{created}");
        assert_eq!(events[1].json()["record"]["status"], "published");
        assert_eq!(events[2].json()["record"]["title"], "hello");
        seqs.push(ids);
    }
    // The same ids on every worker: a client may resume on any of them.
    assert_eq!(seqs[0], seqs[1]);
    assert_eq!(seqs[0], seqs[2]);
    // Nothing else came.
    assert!(on0.event(QUIET).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_user_under_an_owner_policy_sees_only_their_rows() {
    let env = TestEnv::start().await;
    let rt = Rt::start(&env).await;
    rt.policy(json!({"name": "own", "action": "read", "effect": "allow",
        "allowed_principals": "app_user",
        "condition_json": json!({"created_by_app_user_id": "$current_app_user_id"}).to_string()}))
        .await;
    rt.policy(
        json!({"name": "write", "action": "create", "effect": "allow",
        "allowed_principals": "app_user"}),
    )
    .await;
    let (_, alice) = rt.user("alice@example.com").await;
    let (_, bob) = rt.user("bob@example.com").await;
    let mut a = rt
        .open(rt.stream(None, &format!("subscribe=posts&access_token={alice}")))
        .await;
    let mut b = rt
        .open(rt.stream(Some(0), "subscribe=posts").bearer_auth(&bob))
        .await;
    // Nobody else may read posts: an anonymous stream is refused as a GET would be.
    let anonymous = Sse::open(rt.stream(None, "subscribe=posts"))
        .await
        .err()
        .unwrap();
    assert_eq!(anonymous.0, 401, "{anonymous:?}");

    for (i, who) in [&bob, &alice, &bob, &alice].into_iter().enumerate() {
        let owner = if who == &alice { "alice" } else { "bob" };
        rt.write_as(
            Some(i % 2),
            Who::Token(who),
            "POST",
            "/data/posts",
            Some(json!({"title": format!("{owner} {i}")})),
        )
        .await;
    }
    assert_eq!(titles(&take(&mut a, 2).await), ["alice 1", "alice 3"]);
    assert_eq!(titles(&take(&mut b, 2).await), ["bob 0", "bob 2"]);
    assert!(a.event(QUIET).await.is_none());
    assert!(b.event(QUIET).await.is_none());

    // A policy change applies to open streams at once: everyone may now read every post.
    rt.policy(json!({"name": "all", "action": "read", "effect": "allow",
        "allowed_principals": "app_user", "priority": 10}))
        .await;
    rt.write_as(
        Some(0),
        Who::Token(&bob),
        "POST",
        "/data/posts",
        Some(json!({"title": "bob 4"})),
    )
    .await;
    assert_eq!(titles(&take(&mut a, 1).await), ["bob 4"]);
    assert_eq!(titles(&take(&mut b, 1).await), ["bob 4"]);

    // An app user may keep at most 10 streams open on a worker (REALTIME_MAX_CONNECTIONS_PER_USER).
    let mut more = Vec::new();
    for _ in 0..9 {
        more.push(
            rt.open(rt.stream(Some(0), "subscribe=posts").bearer_auth(&bob))
                .await,
        );
    }
    let refused = Sse::open(rt.stream(Some(0), "subscribe=posts").bearer_auth(&bob))
        .await
        .err()
        .unwrap();
    assert_eq!(refused.0, 429, "{refused:?}");
    assert!(
        refused.1["detail"].as_str().unwrap().contains("at most 10"),
        "{refused:?}"
    );
    // One closes: room for another.
    more.pop();
    tokio::time::sleep(Duration::from_millis(300)).await;
    more.push(
        rt.open(rt.stream(Some(0), "subscribe=posts").bearer_auth(&bob))
            .await,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filter_topic_sees_only_matching_rows() {
    let env = TestEnv::start().await;
    let rt = Rt::start(&env).await;
    let first = rt
        .post(None, json!({"title": "first", "status": "draft", "n": 1}))
        .await;
    let topic = |t: &str| format!("subscribe={}", urlencode(t));
    let mut published = rt
        .open(
            rt.stream(None, &topic("posts?status=published"))
                .header("x-api-key", &rt.key),
        )
        .await;
    let mut big = rt
        .open(
            rt.stream(Some(1), &topic("posts?n__gte=5&title__startswith=b"))
                .header("x-api-key", &rt.key),
        )
        .await;
    let mut one = rt
        .open(
            rt.stream(Some(0), &topic(&format!("posts/{first}")))
                .header("x-api-key", &rt.key),
        )
        .await;

    rt.post(
        Some(0),
        json!({"title": "a draft", "status": "draft", "n": 9}),
    )
    .await;
    rt.post(
        Some(1),
        json!({"title": "big news", "status": "published", "n": 7}),
    )
    .await;
    rt.post(
        None,
        json!({"title": "small news", "status": "published", "n": 2}),
    )
    .await;
    rt.write(
        None,
        "PATCH",
        &format!("/data/posts/{first}"),
        Some(json!({"status": "published"})),
    )
    .await;

    let got = take(&mut published, 3).await;
    assert_eq!(titles(&got), ["big news", "small news", "first"]);
    assert_eq!(
        names(&got),
        ["record.created", "record.created", "record.updated"]
    );
    assert_eq!(titles(&take(&mut big, 1).await), ["big news"]);
    let mine = take(&mut one, 1).await;
    assert_eq!(names(&mine), ["record.updated"]);
    assert_eq!(mine[0].json()["record_id"], first.to_string());
    for s in [&mut published, &mut big, &mut one] {
        assert!(s.event(QUIET).await.is_none());
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_with_last_event_id_loses_nothing_and_a_long_absence_resets() {
    let env = TestEnv::start_with(Options {
        realtime_replay_events: 5,
        ..Options::default()
    })
    .await;
    let rt = Rt::start(&env).await;
    let key = |r: reqwest::RequestBuilder| r.header("x-api-key", rt.key.clone());
    // A stream that saw no event yet still gave an id to resume from (with its `: ready`).
    let mut quiet = Sse::open(key(rt.stream(Some(0), "subscribe=posts")))
        .await
        .unwrap();
    let ready = quiet.next(WAIT).await.unwrap();
    let start = ready.id.clone().expect("the ready block carries an id");
    assert!(
        ready.event.is_empty() && ready.comments[0].starts_with("ready"),
        "{ready:?}"
    );
    drop(quiet);
    let mut s = rt.open(key(rt.stream(Some(0), "subscribe=posts"))).await;
    for t in ["one", "two"] {
        rt.post(None, json!({"title": t})).await;
    }
    let mut again =
        Sse::open(key(rt.stream(Some(1), "subscribe=posts")).header("last-event-id", &start))
            .await
            .unwrap();
    assert_eq!(titles(&take(&mut again, 2).await), ["one", "two"]);
    drop(again);
    let seen = take(&mut s, 2).await;
    let last = seen[1].id.clone().unwrap();
    drop(s);

    // Missed while away: three creates, on either worker.
    for (i, t) in ["three", "four", "five"].into_iter().enumerate() {
        rt.post(Some(i % 2), json!({"title": t})).await;
    }
    // Back, on the other worker, with the last id seen.
    let mut back =
        Sse::open(key(rt.stream(Some(1), "subscribe=posts")).header("last-event-id", &last))
            .await
            .unwrap();
    let missed = take(&mut back, 3).await;
    assert_eq!(titles(&missed), ["three", "four", "five"]);
    assert_eq!(missed[0].seq(), last.parse::<i64>().unwrap() + 1);
    // Then live events follow.
    rt.post(Some(0), json!({"title": "six"})).await;
    assert_eq!(titles(&take(&mut back, 1).await), ["six"]);
    let head = back.drain(Duration::from_millis(300)).await;
    assert!(head.is_empty(), "{head:?}");

    // Further behind than the replay window (5 events here): reset, then live.
    let mut far = Sse::open(key(rt.stream(None, "subscribe=posts&last_event_id=0")))
        .await
        .unwrap();
    let reset = far.event(WAIT).await.unwrap();
    assert_eq!(reset.event, "reset", "{reset:?}");
    assert!(reset.seq() >= 6, "{reset:?}");
    rt.post(None, json!({"title": "seven"})).await;
    assert_eq!(titles(&take(&mut far, 1).await), ["seven"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_a_role_stops_events_and_a_revoked_session_ends_the_stream() {
    let env = TestEnv::start().await;
    let rt = Rt::start(&env).await;
    let role = env
        .call(
            "POST",
            &format!("/api/projects/{}/rbac/roles", rt.p),
            Some(&rt.admin),
            Some(json!({"name": "reader", "display_name": "Reader"})),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    rt.policy(
        json!({"name": "readers", "action": "read", "effect": "allow",
        "allowed_principals": "app_user", "allowed_roles": "reader"}),
    )
    .await;
    let (uid, token) = rt.user("reader@example.com").await;
    let roles = format!("/api/projects/{}/rbac/users/{uid}/roles", rt.p);
    let res = env
        .call(
            "POST",
            &roles,
            Some(&rt.admin),
            Some(json!({"role_ids": [role]})),
        )
        .await;
    assert!(res.status < 300, "{res:?}");

    let mut s = rt
        .open(rt.stream(Some(0), "subscribe=posts").bearer_auth(&token))
        .await;
    rt.write_as(
        Some(1),
        Who::Admin,
        "POST",
        "/data/posts",
        Some(json!({"title": "for readers"})),
    )
    .await;
    assert_eq!(titles(&take(&mut s, 1).await), ["for readers"]);

    // The role goes (through the other worker): the next write is not sent.
    let res = env
        .call("DELETE", &format!("{roles}/{role}"), Some(&rt.admin), None)
        .await;
    assert!(res.status < 300, "{res:?}");
    rt.write_as(
        Some(1),
        Who::Admin,
        "POST",
        "/data/posts",
        Some(json!({"title": "not for you"})),
    )
    .await;
    assert!(s.event(QUIET).await.is_none());

    // Back again: events again.
    env.call(
        "POST",
        &roles,
        Some(&rt.admin),
        Some(json!({"role_ids": [role]})),
    )
    .await;
    rt.write_as(
        Some(1),
        Who::Admin,
        "POST",
        "/data/posts",
        Some(json!({"title": "welcome back"})),
    )
    .await;
    assert_eq!(titles(&take(&mut s, 1).await), ["welcome back"]);

    // Signing out everywhere ends the stream at the next event.
    let res = env
        .call(
            "POST",
            &format!("/api/projects/{}/auth/logout/all", rt.p),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(res.status, 204, "{res:?}");
    rt.write_as(
        Some(1),
        Who::Admin,
        "POST",
        "/data/posts",
        Some(json!({"title": "gone"})),
    )
    .await;
    let end = s.event(WAIT).await.expect("an error event");
    assert_eq!(end.event, "error", "{end:?}");
    assert!(
        end.json()["detail"].as_str().unwrap().contains("session"),
        "{end:?}"
    );
    assert!(s.next(WAIT).await.is_none() && s.ended(), "the stream ends");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_subscriptions_get_the_contract_s_errors() {
    let env = TestEnv::start().await;
    let rt = Rt::start(&env).await;
    let cases: Vec<(String, u16, &str)> = vec![
        ("".into(), 400, "Subscribe to at least one topic"),
        ("subscribe=nope".into(), 404, "Collection not found"),
        ("subscribe=posts/abc".into(), 404, "Record not found"),
        ("subscribe=posts/1/2".into(), 400, "Invalid topic"),
        (
            format!("subscribe={}", urlencode("posts?n__zz=1")),
            400,
            "Unknown filter operator: zz",
        ),
        (
            format!("subscribe={}", urlencode("posts?n=many")),
            400,
            "Invalid value for filter 'n'",
        ),
        (
            "subscribe=posts&last_event_id=yesterday".into(),
            400,
            "Invalid Last-Event-ID",
        ),
        (
            (0..21)
                .map(|_| "subscribe=posts")
                .collect::<Vec<_>>()
                .join("&"),
            400,
            "Too many topics",
        ),
    ];
    for (query, status, detail) in cases {
        let res = Sse::open(rt.stream(None, &query).header("x-api-key", &rt.key))
            .await
            .err()
            .unwrap_or_else(|| panic!("{query}: a stream was opened"));
        assert_eq!(res.0, status, "{query}: {res:?}");
        let got = res.1["detail"].as_str().unwrap_or_default().to_owned();
        assert!(got.contains(detail), "{query}: {got}");
    }
    // Another project's stream is not found, whoever asks.
    let res = Sse::open(rt.http.get(format!(
        "{}/api/projects/{}/realtime?subscribe=posts",
        env.base,
        uuid::Uuid::new_v4()
    )))
    .await
    .err()
    .unwrap();
    assert_eq!(res.0, 404);
    // An admin of another project does not see this one.
    let stranger = env.admin("stranger@example.com").await;
    let res = Sse::open(rt.stream(None, "subscribe=posts").bearer_auth(&stranger))
        .await
        .err()
        .unwrap();
    assert_eq!(res.0, 404, "{res:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_subscriber_is_let_go_while_the_others_keep_up() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let env = TestEnv::start_with(Options {
        realtime_buffer_bytes: 64 << 10,
        ..Options::default()
    })
    .await;
    let rt = Rt::start(&env).await;
    env.field(&rt.admin, &rt.p, "posts", "body", "text").await;
    // A reader that stops reading: a small receive window, and nothing read past `: ready`.
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let mut stalled = sock.connect(env.workers[0].http_addr).await.unwrap();
    let head = format!(
        "GET /api/projects/{}/realtime?subscribe=posts HTTP/1.1\r\nhost: localhost\r\nx-api-key: {}\r\naccept: text/event-stream\r\n\r\n",
        rt.p, rt.key
    );
    stalled.write_all(head.as_bytes()).await.unwrap();
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains(": ready") {
        let mut buf = [0u8; 512];
        let n = tokio::time::timeout(WAIT, stalled.read(&mut buf))
            .await
            .expect("the stalled stream starts")
            .unwrap();
        assert!(n > 0, "{}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    let mut healthy = rt
        .open(
            rt.stream(Some(0), "subscribe=posts")
                .header("x-api-key", &rt.key),
        )
        .await;

    // About 10 MB of events: more than the socket buffers (4 MB at most here) and the 64 KiB
    // a subscriber may have waiting.
    let body = "x".repeat(96 << 10);
    for i in 0..100 {
        rt.post(Some(1), json!({"title": format!("big {i}"), "body": body}))
            .await;
    }
    let got = take(&mut healthy, 100).await;
    let want: Vec<String> = (0..100).map(|i| format!("big {i}")).collect();
    assert_eq!(titles(&got), want);

    // The stalled stream was ended: reading it now gives what was already on its way, then the
    // end of the body (the last chunk), far short of the 100 events.
    let mut rest = Vec::new();
    loop {
        let mut buf = vec![0u8; 64 << 10];
        match tokio::time::timeout(Duration::from_secs(2), stalled.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => rest.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    let text = String::from_utf8_lossy(&rest);
    let events = text.matches("event: record.created").count();
    assert!(events < 100, "the stalled reader got {events} events");
    assert!(
        text.ends_with("\r\n0\r\n\r\n"),
        "the body ended: …{}",
        &text[text.len().saturating_sub(200)..]
    );
}
