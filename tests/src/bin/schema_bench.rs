//! Schema scale benchmark: a project of 300 collections × 20 fields, built in one schema-document
//! import; then the time from "add one more field" to "both workers acknowledged the new config"
//! (the request returns only then), the compile time alone, and the config size.
//!
//! Run with `make bench-schema` (release build). Everything stays on 127.0.0.1.

use e2e::TestEnv;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const COLLECTIONS: usize = 300;
const FIELDS: usize = 20;
const ROUNDS: usize = 15;

fn document() -> Value {
    let types = ["string", "int", "float", "bool", "date", "datetime", "uuid"];
    let collections: Vec<Value> = (0..COLLECTIONS)
        .map(|c| {
            let fields: Vec<Value> = (0..FIELDS)
                .map(|f| {
                    json!({
                        "name": format!("f{f:02}"), "display_name": format!("Field {f}"),
                        "field_type": types[f % types.len()], "is_indexed": f % 5 == 0,
                    })
                })
                .collect();
            json!({ "name": format!("c{c:03}"), "display_name": format!("Collection {c}"), "fields": fields })
        })
        .collect();
    json!({ "format": "backendify.schema/v1", "collections": collections })
}

fn stats(mut xs: Vec<Duration>) -> (Duration, Duration, Duration) {
    xs.sort();
    (xs[0], xs[xs.len() / 2], xs[xs.len() - 1])
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let env = TestEnv::start().await;
    let t = env.admin("bench@example.com").await;
    let p = env.project(&t, "scale").await;
    let base = format!("/api/projects/{p}");

    eprintln!(
        "[schema-bench] importing {COLLECTIONS} collections x {FIELDS} fields in one change set…"
    );
    let started = Instant::now();
    let res = env
        .call(
            "POST",
            &format!("{base}/schema/import"),
            Some(&t),
            Some(document()),
        )
        .await;
    let import = started.elapsed();
    assert_eq!(res.status, 200, "import failed: {}", res.detail());
    assert!(
        res.headers.get("x-config-lagging-workers").is_none(),
        "workers lagged after the import"
    );

    let mut adds = Vec::new();
    for i in 0..ROUNDS {
        let body =
            json!({"name": format!("extra{i}"), "display_name": "Extra", "field_type": "string"});
        let path = format!(
            "{base}/schema/collections/c{:03}/fields",
            i * 7 % COLLECTIONS
        );
        let started = Instant::now();
        let res = env.call("POST", &path, Some(&t), Some(body)).await;
        adds.push(started.elapsed());
        assert_eq!(res.status, 201, "add field failed: {}", res.detail());
        assert!(
            res.headers.get("x-config-lagging-workers").is_none(),
            "a worker did not acknowledge within the ack timeout"
        );
    }

    let pool = sqlx::PgPool::connect(&env.db_url).await.expect("connect");
    let id = uuid::Uuid::parse_str(&p).unwrap();
    let mut compiles = Vec::new();
    let mut size = 0;
    let secrets = control_plane::secrets::SecretBox::new(&[0; 32]);
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let config = control_plane::compile::compile_project(&pool, id, "k", &secrets)
            .await
            .expect("compile")
            .expect("project exists");
        compiles.push(started.elapsed());
        size = serde_json::to_vec(&config).unwrap().len();
    }
    pool.close().await;

    let (amin, amed, amax) = stats(adds);
    let (cmin, cmed, cmax) = stats(compiles);
    println!(
        "schema scale: {COLLECTIONS} collections x {FIELDS} fields, 2 workers, {ROUNDS} rounds"
    );
    println!("| measure | min | median | max |");
    println!("| --- | --- | --- | --- |");
    println!(
        "| add one field → both workers acknowledged (HTTP round trip) | {} | {} | {} |",
        ms(amin),
        ms(amed),
        ms(amax)
    );
    println!(
        "| compile the project config alone | {} | {} | {} |",
        ms(cmin),
        ms(cmed),
        ms(cmax)
    );
    println!(
        "| initial import ({} DDL statements, one transaction) | {} | | |",
        res.body["steps"].as_array().map_or(0, Vec::len),
        ms(import)
    );
    println!(
        "config size: {size} bytes ({:.1} KiB) of JSON",
        size as f64 / 1024.0
    );
    env.shutdown().await;
}
