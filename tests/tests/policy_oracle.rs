//! A property test of access policies: random policies over random rows owned by random users.
//! For every caller, what list, get, aggregate and expansions return through the real stack must
//! equal what a plain Rust reading of spec/policies.md (below, [`decide`]) allows, row by row.
//!
//! Where the contract leaves a choice, the oracle states ours: conditions are evaluated per row for
//! `list` too (rows the condition refuses are left out), an app user's list holds only their own
//! rows, a value that is undefined for the caller (`principal.user_id` of an API key) never
//! matches, and a NULL column matches no comparison. A refusal (401/403) is accepted only where
//! the oracle allows nothing.

use e2e::oracle::{self, decide, policies, Caller, Kind, Policy, STATUSES};
use e2e::TestEnv;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::collections::BTreeSet;

fn ids(records: &Value) -> BTreeSet<i64> {
    records
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_callers_get_equals_what_the_policies_allow() {
    let env = TestEnv::start().await;
    let s = oracle::stack(&env).await;
    env.collection(&s.admin, &s.p, "parts").await;
    env.field(&s.admin, &s.p, "parts", "label", "string").await;
    let items_id = s.ok("GET", "/schema/collections/items", None).await["id"].clone();
    let parts_id = s.ok("GET", "/schema/collections/parts", None).await["id"].clone();
    s.ok(
        "POST",
        &format!(
            "/schema/relations/collections/{}/relations",
            parts_id.as_str().unwrap()
        ),
        Some(json!({"name": "item", "display_name": "Item", "target_collection_id": items_id})),
    )
    .await;
    let callers = oracle::callers(&s).await;

    // Rows owned by random creators, with random owners, statuses and numbers.
    let mut rng = StdRng::seed_from_u64(5);
    let seed = Policy {
        action: "create",
        allow: true,
        principals: vec![Kind::AppUser, Kind::ApiKey],
        verified: false,
        roles: vec![],
        condition: None,
        priority: 0,
    };
    s.set_policies("items", std::slice::from_ref(&seed)).await;
    s.set_policies("parts", &[seed]).await;
    let creators: Vec<Caller> = callers
        .iter()
        .filter(|c| c.kind != Kind::Anonymous)
        .cloned()
        .collect();
    let app_ids: Vec<String> = callers.iter().filter_map(|c| c.id.clone()).collect();
    let mut item_ids = Vec::new();
    for _ in 0..14 {
        let who = &creators[rng.gen_range(0..creators.len())];
        let owner = (rng.gen_bool(0.6)).then(|| app_ids[rng.gen_range(0..app_ids.len())].clone());
        let body = json!({"owner": owner, "status": STATUSES[rng.gen_range(0..4)],
                          "n": rng.gen_range(0..4)});
        let res = s.call(who, "POST", "/data/items", Some(body)).await;
        assert_eq!(res.status, 201, "{res:?}");
        item_ids.push(res.body["id"].as_i64().unwrap());
    }
    for i in 0..10 {
        let who = &creators[rng.gen_range(0..creators.len())];
        let item = item_ids[rng.gen_range(0..item_ids.len())];
        let res = s
            .call(
                who,
                "POST",
                "/data/parts",
                Some(json!({"label": format!("part {i}"), "item": item})),
            )
            .await;
        assert_eq!(res.status, 201, "{res:?}");
    }
    let items = s.ok("GET", "/data/items?limit=1000", None).await["records"].clone();
    let parts = s.ok("GET", "/data/parts?limit=1000", None).await["records"].clone();
    let item = |id: i64| {
        items
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == json!(id))
            .unwrap()
            .clone()
    };

    // How often the interesting cases came up: some rows allowed and some refused.
    let (mut partial_lists, mut allowed_reads, mut refused_reads) = (0, 0, 0);
    for round in 0..30 {
        let item_rules = policies(&mut rng, &["list", "read"], 6);
        let part_rules = policies(&mut rng, &["list", "read", "update"], 4);
        s.set_policies("items", &item_rules).await;
        s.set_policies("parts", &part_rules).await;
        let ctx = format!("round {round}\nitems: {item_rules:#?}\nparts: {part_rules:#?}");
        for who in &callers {
            let refusal = if who.kind == Kind::Anonymous {
                401
            } else {
                403
            };
            let listable = |r: &Value, rules: &[Policy]| {
                decide(rules, "list", who, r)
                    && (who.kind != Kind::AppUser || r["created_by_app_user_id"] == json!(who.id))
            };
            // list
            let want: BTreeSet<i64> = items
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| listable(r, &item_rules))
                .map(|r| r["id"].as_i64().unwrap())
                .collect();
            let res = s.call(who, "GET", "/data/items?limit=1000", None).await;
            if !want.is_empty() && want.len() < item_ids.len() {
                partial_lists += 1;
            }
            if res.status == 200 {
                assert_eq!(ids(&res.body["records"]), want, "{who:?} list\n{ctx}");
                assert_eq!(res.body["total"], json!(want.len()), "{who:?}\n{ctx}");
            } else {
                assert_eq!(res.status, refusal, "{who:?} list {res:?}\n{ctx}");
                assert!(
                    want.is_empty(),
                    "{who:?} list refused, oracle {want:?}\n{ctx}"
                );
            }
            // aggregate
            let res = s
                .call(who, "GET", "/data/items/_aggregate?sum=n", None)
                .await;
            if res.status == 200 {
                let count = res.body["results"][0]["count"].as_u64().unwrap();
                assert_eq!(count as usize, want.len(), "{who:?} aggregate\n{ctx}");
            } else {
                assert!(want.is_empty() && res.status == refusal, "{res:?}\n{ctx}");
            }
            // get each item, with the parts that point at it
            for &id in &item_ids {
                let row = item(id);
                let res = s
                    .call(
                        who,
                        "GET",
                        &format!("/data/items/{id}?expand=parts_via_item"),
                        None,
                    )
                    .await;
                if decide(&item_rules, "read", who, &row) {
                    allowed_reads += 1;
                    assert_eq!(res.status, 200, "{who:?} read {row}\n{ctx}");
                    let want: BTreeSet<i64> = parts
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter(|p| p["item_id"] == json!(id))
                        .filter(|p| decide(&part_rules, "read", who, p))
                        .map(|p| p["id"].as_i64().unwrap())
                        .collect();
                    assert_eq!(
                        ids(&res.body["parts_via_item"]),
                        want,
                        "{who:?} expand parts of {id}\n{ctx}"
                    );
                } else {
                    refused_reads += 1;
                    assert_eq!(res.status, refusal, "{who:?} read {row}: {res:?}\n{ctx}");
                }
            }
            // list parts with their items: an item the caller may not read expands to null
            let res = s
                .call(who, "GET", "/data/parts?limit=1000&expand=item", None)
                .await;
            let want_parts: BTreeSet<i64> = parts
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| listable(p, &part_rules))
                .map(|p| p["id"].as_i64().unwrap())
                .collect();
            if res.status == 200 {
                assert_eq!(
                    ids(&res.body["records"]),
                    want_parts,
                    "{who:?} parts\n{ctx}"
                );
                for part in res.body["records"].as_array().unwrap() {
                    let target = item(part["item_id"].as_i64().unwrap());
                    let want = if decide(&item_rules, "read", who, &target) {
                        target["id"].clone()
                    } else {
                        Value::Null
                    };
                    assert_eq!(part["item"]["id"], want, "{who:?} expand {part}\n{ctx}");
                }
            } else {
                assert_eq!(res.status, refusal, "{who:?} parts {res:?}\n{ctx}");
                assert!(
                    want_parts.is_empty(),
                    "{who:?} parts refused, oracle {want_parts:?}\n{ctx}"
                );
            }
        }
    }
    assert!(
        partial_lists >= 20 && allowed_reads >= 300 && refused_reads >= 300,
        "too few telling cases: {partial_lists} partial lists, {allowed_reads} allowed and \
         {refused_reads} refused reads"
    );
    env.shutdown().await;
}
