//! A property test of realtime streams: random read policies, callers of every kind (each
//! subscribed on a random worker or through the router, to the whole collection or a filter
//! topic) and random writes. A subscriber must receive an event exactly when a GET of that
//! record by the same caller right after the write returns it (for a delete: right before it)
//! and the record matches its topic, in the order of the writes.

use e2e::oracle::{self, policies, Caller, Kind, Policy, Stack, STATUSES};
use e2e::sse::Sse;
use e2e::TestEnv;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::time::Duration;

/// A topic and the test a record must pass to be in it.
type Topic = (&'static str, fn(&Value) -> bool);

/// Topics, with the test a record must pass (as a GET by an admin shows it). Text order is the
/// database's collation (judged by the database, not in memory); these lowercase words sort
/// the same in every one.
const TOPICS: [Topic; 4] = [
    ("items", |_| true),
    ("items?n__gte=2", |r| {
        r["n"].as_i64().is_some_and(|n| n >= 2)
    }),
    ("items?status=open", |r| r["status"] == "open"),
    ("items?status__gt=m", |r| {
        r["status"].as_str().is_some_and(|s| s > "m")
    }),
];

async fn get(s: &Stack<'_>, who: &Caller, id: i64) -> bool {
    let res = s.call(who, "GET", &format!("/data/items/{id}"), None).await;
    match res.status {
        200 => true,
        401 | 403 | 404 => false,
        other => panic!("GET as {who:?}: {other} {res:?}"),
    }
}

fn stream_url(env: &TestEnv, p: &str, place: usize, topic: &str) -> String {
    let base = match place {
        0 | 1 => format!("http://{}", env.workers[place].http_addr),
        _ => env.base.clone(),
    };
    let topic: String = url::form_urlencoded::byte_serialize(topic.as_bytes()).collect();
    format!("{base}/api/projects/{p}/realtime?subscribe={topic}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_gets_an_event_exactly_when_a_get_after_the_write_returns_the_record() {
    let env = TestEnv::start().await;
    let s = oracle::stack(&env).await;
    let callers = oracle::callers(&s).await;
    let http = reqwest::Client::new();
    let app_ids: Vec<String> = callers.iter().filter_map(|c| c.id.clone()).collect();
    // Creates by every kind but anonymous; updates and deletes by the API key.
    let writers: Vec<&Caller> = callers
        .iter()
        .filter(|c| c.kind != Kind::Anonymous)
        .collect();
    let key = callers.iter().find(|c| c.kind == Kind::ApiKey).unwrap();
    let writes_allowed = ["create", "update", "delete"].map(|action| Policy {
        action,
        allow: true,
        principals: vec![Kind::AppUser, Kind::ApiKey],
        verified: false,
        roles: vec![],
        condition: None,
        priority: 5,
    });
    let mut rng = StdRng::seed_from_u64(21);
    let (mut sent, mut withheld, mut refused) = (0, 0, 0);
    let mut live: Vec<i64> = Vec::new();
    for round in 0..10 {
        let mut rules = policies(&mut rng, &["read"], 5);
        rules.extend(writes_allowed.iter().cloned());
        s.set_policies("items", &rules).await;
        let ctx = format!("round {round}\n{rules:#?}");

        // One stream per caller.
        let mut streams: Vec<Option<(Sse, usize)>> = Vec::new();
        for who in &callers {
            let t = rng.gen_range(0..TOPICS.len());
            let place = rng.gen_range(0..3);
            let mut req = http.get(stream_url(&env, &s.p, place, TOPICS[t].0));
            req = match who.kind {
                Kind::Admin => req.bearer_auth(&s.admin),
                Kind::ApiKey => req.header("x-api-key", &s.key),
                Kind::AppUser => req.bearer_auth(who.token.as_ref().unwrap()),
                Kind::Anonymous => req,
            };
            match Sse::open(req).await {
                Ok(mut stream) => {
                    stream.ready().await;
                    streams.push(Some((stream, t)));
                }
                Err((status, body)) => {
                    // Refused only when the caller may read no record at all.
                    assert!(
                        matches!(status, 401 | 403),
                        "{who:?}: {status} {body}\n{ctx}"
                    );
                    refused += 1;
                    streams.push(None);
                }
            }
        }

        // Random writes; after each, what every caller's GET says.
        let mut want: Vec<Vec<(String, &str)>> = vec![Vec::new(); callers.len()];
        for _ in 0..10 {
            let op = if live.len() < 3 {
                0
            } else {
                rng.gen_range(0..4)
            };
            let row = json!({
                "owner": rng.gen_bool(0.6).then(|| app_ids[rng.gen_range(0..app_ids.len())].clone()),
                "status": STATUSES[rng.gen_range(0..4)],
                "n": rng.gen_range(0..4),
            });
            let (id, event) = match op {
                0 | 1 => {
                    let who = writers[rng.gen_range(0..writers.len())];
                    let res = s.call(who, "POST", "/data/items", Some(row)).await;
                    assert_eq!(res.status, 201, "{res:?}\n{ctx}");
                    let id = res.body["id"].as_i64().unwrap();
                    live.push(id);
                    (id, "record.created")
                }
                2 => {
                    let id = live[rng.gen_range(0..live.len())];
                    let res = s
                        .call(key, "PATCH", &format!("/data/items/{id}"), Some(row))
                        .await;
                    assert_eq!(res.status, 200, "{res:?}\n{ctx}");
                    (id, "record.updated")
                }
                _ => {
                    let id = live.swap_remove(rng.gen_range(0..live.len()));
                    (id, "record.deleted")
                }
            };
            let record = s.ok("GET", &format!("/data/items/{id}"), None).await;
            let mut visible = Vec::with_capacity(callers.len());
            for who in &callers {
                visible.push(get(&s, who, id).await);
            }
            if event == "record.deleted" {
                let res = s
                    .call(key, "DELETE", &format!("/data/items/{id}"), None)
                    .await;
                assert_eq!(res.status, 204, "{res:?}\n{ctx}");
            }
            for (c, stream) in streams.iter().enumerate() {
                match stream {
                    Some((_, t)) if visible[c] && TOPICS[*t].1(&record) => {
                        want[c].push((id.to_string(), event));
                        sent += 1;
                    }
                    Some(_) => withheld += 1,
                    None => assert!(
                        !visible[c],
                        "{:?} was refused a stream but reads {record}\n{ctx}",
                        callers[c]
                    ),
                }
            }
        }

        // What each stream got, in order, against what it should have.
        for (c, stream) in streams.iter_mut().enumerate() {
            let Some((stream, t)) = stream else { continue };
            let mut got: Vec<(String, String)> = Vec::new();
            let mut last = 0;
            // What is due arrives within seconds; anything more within a short quiet spell.
            loop {
                let wait = if got.len() < want[c].len() {
                    Duration::from_secs(10)
                } else {
                    Duration::from_millis(300)
                };
                let Some(e) = stream.event(wait).await else {
                    break;
                };
                assert!(e.seq() > last, "ids rise: {e:?}");
                last = e.seq();
                got.push((e.json()["record_id"].as_str().unwrap().to_owned(), e.event));
            }
            let want: Vec<(String, String)> = want[c]
                .iter()
                .map(|(id, ev)| (id.clone(), ev.to_string()))
                .collect();
            assert_eq!(got, want, "{:?} on {}\n{ctx}", callers[c], TOPICS[*t].0);
        }
    }
    assert!(
        sent >= 50 && withheld >= 80 && refused >= 3,
        "too few telling cases: {sent} sent, {withheld} withheld, {refused} streams refused"
    );
    env.shutdown().await;
}
