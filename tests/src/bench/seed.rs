//! The workload's data: an admin, a project and the `posts` collection made through the router,
//! then rows written straight with SQL (fast, and with `created_at` spread over a year), the extra
//! `created_at` index, and the reset that gives every measurement the same starting table.

use anyhow::{bail, Context};
use rand::rngs::StdRng;
use rand::Rng;
use serde_json::{json, Value};
use sqlx::PgPool;
use std::time::{Duration, Instant};

/// The project made for the run.
#[derive(Debug, Clone)]
pub struct Project {
    /// Project id.
    pub id: String,
    /// The admin's bearer token (the only caller kind the data API has today).
    pub token: String,
    /// An API key of the project.
    pub api_key: String,
    /// The admin's id (written to `created_by_user_id`, as the API does).
    pub admin_id: String,
    /// Postgres schema (and role) of the project.
    pub schema: String,
    /// `"schema"."posts"`.
    pub table: String,
}

/// Fields of `posts`: name, type, indexed.
pub const FIELDS: [(&str, &str, bool); 6] = [
    ("title", "string", false),
    ("body", "string", false),
    ("views", "int", true),
    ("score", "float", false),
    ("published", "bool", true),
    ("author", "string", false),
];

async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: Option<&str>,
    body: Option<Value>,
) -> anyhow::Result<(u16, Value)> {
    let mut req = http.request(method, url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.context("reach the router")?;
    let status = res.status().as_u16();
    Ok((status, res.json().await.unwrap_or(Value::Null)))
}

fn expect(what: &str, want: u16, (status, body): (u16, Value)) -> anyhow::Result<Value> {
    if status != want {
        bail!("{what}: HTTP {status}: {body}");
    }
    Ok(body)
}

/// Registers the admin, creates the project and `posts` with its fields through the router, and
/// waits until the router serves the collection's data route.
pub async fn create_project(base: &str) -> anyhow::Result<Project> {
    use reqwest::Method;
    let http = reqwest::Client::new();
    let creds = json!({"email": "bench@example.com", "password": "password123"});
    let url = |p: &str| format!("{base}{p}");
    let res = call(
        &http,
        Method::POST,
        url("/api/auth/register"),
        None,
        Some(creds),
    )
    .await?;
    let token = expect("register", 201, res)?["access_token"]
        .as_str()
        .context("access_token")?
        .to_owned();
    let t = Some(token.as_str());
    let me = expect(
        "me",
        200,
        call(&http, Method::GET, url("/api/me"), t, None).await?,
    )?;
    let admin_id = me["id"].as_str().context("admin id")?.to_owned();
    let res = call(
        &http,
        Method::POST,
        url("/api/projects"),
        t,
        Some(json!({"name": "bench"})),
    );
    let id = expect("create project", 201, res.await?)?["id"]
        .as_str()
        .context("project id")?
        .to_owned();
    let p = format!("/api/projects/{id}");
    let res = call(
        &http,
        Method::POST,
        url(&format!("{p}/api-keys")),
        t,
        Some(json!({"name": "bench"})),
    );
    let api_key = expect("create API key", 201, res.await?)?["api_key"]
        .as_str()
        .context("api_key")?
        .to_owned();
    let posts = json!({"name": "posts", "display_name": "Posts"});
    let res = call(
        &http,
        Method::POST,
        url(&format!("{p}/schema/collections")),
        t,
        Some(posts),
    );
    expect("create posts", 201, res.await?)?;
    for (name, ty, indexed) in FIELDS {
        let body =
            json!({"name": name, "display_name": name, "field_type": ty, "is_indexed": indexed});
        let path = url(&format!("{p}/schema/collections/posts/fields"));
        expect(
            name,
            201,
            call(&http, Method::POST, path, t, Some(body)).await?,
        )?;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let probe = url(&format!("{p}/data/posts?limit=1"));
    while call(&http, Method::GET, probe.clone(), t, None).await?.0 != 200 {
        if Instant::now() > deadline {
            bail!("the router did not serve {probe} within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let schema = model::config::project_db_name(uuid::Uuid::parse_str(&id)?);
    let table = format!("\"{schema}\".\"posts\"");
    Ok(Project {
        id,
        token,
        api_key,
        admin_id,
        schema,
        table,
    })
}

const WORDS: [&str; 32] = [
    "alpha", "river", "quiet", "stone", "market", "garden", "silver", "north", "paper", "window",
    "forest", "signal", "harbor", "winter", "copper", "lantern", "meadow", "orbit", "canvas",
    "thunder", "velvet", "bridge", "castle", "ember", "falcon", "glacier", "island", "jungle",
    "kettle", "ladder", "mirror", "needle",
];
const FIRST: [&str; 10] = [
    "Ada", "Ben", "Cleo", "Dan", "Eva", "Finn", "Gia", "Hugo", "Ines", "Jon",
];
const LAST: [&str; 10] = [
    "Kim", "Lopez", "Meyer", "Novak", "Okafor", "Patel", "Quinn", "Rossi", "Sato", "Tran",
];

/// Random words, between `min` and `max` characters long.
fn words(rng: &mut StdRng, min: usize, max: usize) -> String {
    let target = rng.gen_range(min..=max);
    let mut s = String::with_capacity(max + 10);
    while s.len() < target {
        if !s.is_empty() {
            s.push(' ');
        }
        s.push_str(WORDS[rng.gen_range(0..WORDS.len())]);
    }
    s.truncate(max);
    s.trim_end().to_owned()
}

/// One row's field values, as WORKLOAD.md describes them.
#[derive(Debug, Clone)]
pub struct Row {
    /// 20–60 chars of words.
    pub title: String,
    /// About 200 chars of words.
    pub body: String,
    /// Uniform 0..10000.
    pub views: i64,
    /// Uniform 0..1.
    pub score: f64,
    /// About half are true.
    pub published: bool,
    /// One of 100 names.
    pub author: String,
}

impl Row {
    /// A random row.
    pub fn random(rng: &mut StdRng) -> Self {
        Row {
            title: words(rng, 20, 60),
            body: words(rng, 180, 220),
            views: rng.gen_range(0..10_000),
            score: rng.gen(),
            published: rng.gen_bool(0.5),
            author: format!(
                "{} {}",
                FIRST[rng.gen_range(0..10)],
                LAST[rng.gen_range(0..10)]
            ),
        }
    }

    /// The row as a create body.
    pub fn json(&self) -> Value {
        json!({
            "title": self.title, "body": self.body, "views": self.views,
            "score": self.score, "published": self.published, "author": self.author,
        })
    }
}

const YEAR_SECS: f64 = 365.0 * 24.0 * 3600.0;

/// Writes rows with ids `from..=to` (explicit ids, so random ids in `1..=to` always exist),
/// `created_at` spread over the past year and `updated_at` between it and now.
pub async fn insert_rows(
    pool: &PgPool,
    p: &Project,
    from: i64,
    to: i64,
    rng: &mut StdRng,
) -> anyhow::Result<()> {
    let sql = format!(
        "INSERT INTO {} (id, title, body, views, score, published, author, created_by_user_id,
            created_at, updated_at)
         SELECT u.id, u.title, u.body, u.views, u.score, u.published, u.author, $9,
            now() - make_interval(secs => u.age), now() - make_interval(secs => u.age * u.f)
         FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::float8[],
            $6::bool[], $7::text[], $8::float8[], $10::float8[])
            AS u(id, title, body, views, score, published, author, age, f)",
        p.table
    );
    let mut start = from;
    while start <= to {
        let end = (start + 4_999).min(to);
        let rows: Vec<Row> = (start..=end).map(|_| Row::random(rng)).collect();
        sqlx::query(&sql)
            .bind((start..=end).collect::<Vec<i64>>())
            .bind(rows.iter().map(|r| r.title.clone()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.body.clone()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.views).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.score).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.published).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.author.clone()).collect::<Vec<_>>())
            .bind(
                rows.iter()
                    .map(|_| rng.gen::<f64>() * YEAR_SECS)
                    .collect::<Vec<_>>(),
            )
            .bind(&p.admin_id)
            .bind(rows.iter().map(|_| rng.gen::<f64>()).collect::<Vec<_>>())
            .execute(pool)
            .await
            .context("insert rows")?;
        start = end + 1;
    }
    Ok(())
}

/// Creates the index on `created_at` that the list's sort needs; returns its SQL. The schema
/// builder indexes fields only, never system columns, so it is made here.
pub async fn index_created_at(pool: &PgPool, p: &Project) -> anyhow::Result<String> {
    let sql = format!("CREATE INDEX ON {} (created_at)", p.table);
    sqlx::query(&sql)
        .execute(pool)
        .await
        .context("index created_at")?;
    Ok(sql)
}

/// Brings the table back to its first `rows` rows (creates are dropped, the id sequence rewound)
/// and runs `VACUUM ANALYZE`, so each measurement starts from the same table.
pub async fn reset(pool: &PgPool, p: &Project, rows: i64) -> anyhow::Result<()> {
    let t = &p.table;
    sqlx::query(&format!("DELETE FROM {t} WHERE id > $1"))
        .bind(rows)
        .execute(pool)
        .await
        .context("drop created rows")?;
    sqlx::query("SELECT setval(pg_get_serial_sequence($1, 'id'), $2)")
        .bind(t)
        .bind(rows)
        .execute(pool)
        .await
        .context("rewind the id sequence")?;
    sqlx::raw_sql(&format!("VACUUM ANALYZE {t}"))
        .execute(pool)
        .await
        .context("vacuum")?;
    Ok(())
}

/// For the policy figures: registers an app user, makes them the creator of every row, and gives
/// `posts` owner-style policies (an app user reads and lists their own rows; API keys too, so the
/// same run can compare, and keep creating). Returns the app user's access token.
pub async fn owner_policies(base: &str, pool: &PgPool, p: &Project) -> anyhow::Result<String> {
    use reqwest::Method;
    let http = reqwest::Client::new();
    let url = |rest: &str| format!("{base}/api/projects/{}{rest}", p.id);
    let creds = json!({"email": "reader@example.com", "password": "reader-password-1"});
    let res = call(
        &http,
        Method::POST,
        url("/auth/register"),
        None,
        Some(creds),
    );
    let token = expect("register an app user", 201, res.await?)?["access_token"]
        .as_str()
        .context("access_token")?
        .to_owned();
    let res = call(&http, Method::GET, url("/auth/me"), Some(&token), None);
    let user = expect("me", 200, res.await?)?["id"]
        .as_str()
        .context("app user id")?
        .to_owned();
    sqlx::query(&format!(
        "UPDATE {} SET created_by_app_user_id = $1",
        p.table
    ))
    .bind(&user)
    .execute(pool)
    .await
    .context("own the rows")?;
    // The update left a dead copy of every row; rewrite the table so that the app user reads
    // as compact a table as the runs before.
    sqlx::raw_sql(&format!("VACUUM FULL ANALYZE {}", p.table))
        .execute(pool)
        .await
        .context("rewrite the table")?;
    let owner = r#"{"type": "owner"}"#;
    for (name, action, principals, condition) in [
        ("read own", "read", "app_user", Some(owner)),
        ("list own", "list", "app_user", Some(owner)),
        ("keys read", "read", "api_key", None),
        ("keys list", "list", "api_key", None),
        // Later measurements (realtime) create with the project's API key.
        ("keys create", "create", "api_key", None),
    ] {
        let body = json!({"name": name, "action": action, "allowed_principals": principals,
                          "condition_json": condition});
        let path = url("/schema/collections/posts/policies");
        expect(
            name,
            201,
            call(&http, Method::POST, path, Some(&p.token), Some(body)).await?,
        )?;
    }
    Ok(token)
}
