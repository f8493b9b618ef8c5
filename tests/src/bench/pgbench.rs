//! The floor: `pgbench` running each request's SQL against the same Postgres, with prepared
//! statements and the same number of connections, right after our own measurement.
//!
//! Two scripts per request type. `Floor` is the SQL the contract needs, as plain statements (get:
//! one row by id; list: the page query plus the count query; create: INSERT … RETURNING; patch:
//! UPDATE … RETURNING; list without total: the page query). `AsIssued` is what the data plane
//! sends today (`data-plane/src/db.rs`) for these requests: one statement each that also returns
//! `current_user`, writes guarding the role in the statement itself; JSON built by Postgres.
//! Ratios are taken against the floor.

use super::load::Kind;
use super::seed::{Project, Row, FIELDS};
use anyhow::{bail, Context};
use rand::SeedableRng;
use sqlx::postgres::PgConnectOptions;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// Which SQL pgbench runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// The statements the contract needs, nothing else.
    Floor,
    /// The data plane's statements and transaction, as it sends them.
    AsIssued,
}

/// What one pgbench run reported.
#[derive(Debug, Default)]
pub struct Measured {
    /// Transactions per second (pgbench's figure, without connection time).
    pub tps: f64,
    /// Every transaction's latency from the per-transaction log, in microseconds, sorted.
    pub latencies_us: Vec<u32>,
    /// Failed transactions.
    pub failed: u64,
}

/// How to reach the database, and where scripts and logs go.
pub struct Pgbench {
    bin: PathBuf,
    host: String,
    port: u16,
    db: String,
    dir: PathBuf,
}

const VARS: &str = "\\set id random(1, :rows)
\\set views random(0, 9999)
\\set pub random(0, 1)
\\set published 1
\\set min_views 500
\\set limit 50
\\set offset 0
";

fn select_list() -> String {
    let system = ["id", "created_at", "updated_at", "created_by_user_id"];
    let cols = system
        .iter()
        .chain(&["created_by_app_user_id"])
        .chain(FIELDS.iter().map(|(name, _, _)| name));
    cols.map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The script of one request type.
pub fn script(kind: Kind, variant: Variant, p: &Project) -> String {
    let (t, cols) = (&p.table, select_list());
    let order = "ORDER BY \"created_at\" DESC, \"id\" ASC";
    let row = Row::random(&mut rand::rngs::StdRng::seed_from_u64(7));
    let (title, body, author) = (
        literal(&row.title),
        literal(&row.body),
        literal(&row.author),
    );
    let admin = literal(&p.admin_id);
    let names = "\"title\", \"body\", \"views\", \"score\", \"published\", \"author\", \"created_by_user_id\"";
    let sql = match (variant, kind) {
        (_, Kind::Download) => unreachable!("file downloads have no pgbench floor"),
        (Variant::Floor, Kind::Get) => format!("SELECT {cols} FROM {t} WHERE \"id\" = :id;"),
        (Variant::Floor, Kind::List) => {
            let w = "\"published\" = CAST(:published AS boolean) AND \"views\" > :min_views";
            format!(
                "SELECT {cols} FROM {t} WHERE {w} {order} LIMIT :limit OFFSET :offset;\n\
                 SELECT count(*) FROM {t} WHERE {w};"
            )
        }
        (Variant::Floor, Kind::ListNoTotal) => {
            let w = "\"published\" = CAST(:published AS boolean) AND \"views\" > :min_views";
            format!("SELECT {cols} FROM {t} WHERE {w} {order} LIMIT :limit OFFSET :offset;")
        }
        (Variant::Floor, Kind::Create) => format!(
            "INSERT INTO {t} ({names}) VALUES ({title}, {body}, :views, random(), \
             CAST(:pub AS boolean), {author}, {admin}) RETURNING {cols};"
        ),
        (Variant::Floor, Kind::Patch) => format!(
            "UPDATE {t} SET \"updated_at\" = now(), \"views\" = :views WHERE \"id\" = :id \
             RETURNING {cols};"
        ),
        (Variant::AsIssued, kind) => {
            let stmt = as_issued(
                kind,
                t,
                &cols,
                order,
                [&title, &body, &author, &admin],
                names,
            );
            // Every statement runs on a connection already in the project's role and returns
            // current_user for the worker to check; writes also guard the role in the statement.
            match kind {
                Kind::Get | Kind::List | Kind::ListNoTotal => {
                    let stmt = stmt.trim_end_matches(';');
                    format!("SELECT current_user::text, ({stmt});")
                }
                Kind::Create | Kind::Patch | Kind::Download => stmt,
            }
        }
    };
    format!("{VARS}{sql}\n")
}

/// The data plane's statements (db.rs), with its casts.
fn as_issued(kind: Kind, t: &str, cols: &str, order: &str, v: [&str; 4], names: &str) -> String {
    let [title, body, author, admin] = v;
    let w =
        "\"published\" = CAST(:published AS boolean) AND \"views\" > CAST(:min_views AS bigint)";
    let (limit, offset) = ("CAST(:limit AS bigint)", "CAST(:offset AS bigint)");
    match kind {
        Kind::Download => unreachable!("file downloads have no pgbench floor"),
        Kind::Get => format!("SELECT row_to_json(r)::text FROM (SELECT {cols} FROM {t} t0 WHERE t0.\"id\" = :id) r;"),
        Kind::List => format!(
            "SELECT '{{\"records\":' || COALESCE((SELECT json_agg(r)::text FROM (SELECT {cols} \
             FROM {t} WHERE {w} {order} LIMIT {limit} OFFSET {offset}) r), '[]') || \
             ',\"total\":' || (SELECT count(*) FROM {t} WHERE {w})::text || ',\"limit\":' || \
             {limit}::text || ',\"offset\":' || {offset}::text || '}}';"
        ),
        Kind::ListNoTotal => format!(
            "SELECT '{{\"records\":' || COALESCE((SELECT json_agg(r)::text FROM (SELECT {cols} \
             FROM {t} WHERE {w} {order} LIMIT {limit}) r), '[]') || ',\"total\":' || 'null' || \
             ',\"limit\":' || {limit}::text || ',\"offset\":' || {offset}::text || '}}';"
        ),
        // The worker checks the role it ran as; here the guard names the role pgbench runs as.
        Kind::Create => format!(
            "WITH w AS (INSERT INTO {t} ({names}) SELECT CAST({title} AS text), CAST({body} AS text), \
             CAST(:views AS bigint), CAST(random() AS double precision), CAST(:pub AS boolean), \
             CAST({author} AS text), CAST({admin} AS text) WHERE current_user = 'postgres' \
             RETURNING {cols}) SELECT current_user::text, NULL::text, (SELECT row_to_json(w)::text FROM w);"
        ),
        Kind::Patch => format!(
            "WITH w AS (UPDATE {t} t0 SET \"updated_at\" = now(), \"views\" = CAST(:views AS bigint) \
             WHERE t0.\"id\" = :id AND current_user = 'postgres' RETURNING {cols}) \
             SELECT current_user::text, NULL::text, (SELECT row_to_json(w)::text FROM w);"
        ),
    }
}

impl Pgbench {
    /// pgbench from the cluster's bin folder, against the database of `db_url`.
    pub fn new(db_url: &str, dir: &Path) -> anyhow::Result<Self> {
        let bin = crate::pg::bin_dir().join("pgbench");
        if !bin.is_file() {
            bail!(
                "{} not found (it comes with the postgresql package)",
                bin.display()
            );
        }
        let opts = PgConnectOptions::from_str(db_url).context("parse the database URL")?;
        std::fs::create_dir_all(dir).context("create the pgbench folder")?;
        Ok(Pgbench {
            bin,
            host: opts.get_host().to_owned(),
            port: opts.get_port(),
            db: opts.get_database().context("database name")?.to_owned(),
            dir: dir.to_path_buf(),
        })
    }

    /// Runs `script` for `warmup` (not recorded), then for `duration` with a per-transaction log.
    pub async fn run(
        &self,
        name: &str,
        script: &str,
        (clients, rows): (usize, i64),
        warmup: Duration,
        duration: Duration,
    ) -> anyhow::Result<Measured> {
        let file = self.dir.join(format!("{name}.sql"));
        std::fs::write(&file, script).context("write the pgbench script")?;
        self.once(&file, clients, rows, warmup, None).await?;
        let prefix = self.dir.join(name);
        let out = self
            .once(&file, clients, rows, duration, Some(&prefix))
            .await?;
        let mut m = Measured {
            tps: number_after(&out, "tps = ").context("pgbench printed no tps")?,
            failed: number_after(&out, "number of failed transactions: ").unwrap_or(0.0) as u64,
            latencies_us: Vec::new(),
        };
        let log_name = format!("{name}.");
        for entry in std::fs::read_dir(&self.dir)?.filter_map(|e| e.ok()) {
            let fname = entry.file_name().to_string_lossy().into_owned();
            if fname.starts_with(&log_name) && !fname.ends_with(".sql") {
                let text = std::fs::read_to_string(entry.path())?;
                // client_id transaction_no time_us script_no epoch epoch_us
                let lat = text
                    .lines()
                    .filter_map(|l| l.split(' ').nth(2)?.parse::<u32>().ok());
                m.latencies_us.extend(lat);
                std::fs::remove_file(entry.path())?;
            }
        }
        m.latencies_us.sort_unstable();
        Ok(m)
    }

    async fn once(
        &self,
        file: &Path,
        clients: usize,
        rows: i64,
        time: Duration,
        log: Option<&Path>,
    ) -> anyhow::Result<String> {
        let mut cmd = tokio::process::Command::new(&self.bin);
        cmd.args(["-n", "-M", "prepared", "-U", "postgres", "-h", &self.host])
            .args(["-p", &self.port.to_string()])
            .args([
                "-c",
                &clients.to_string(),
                "-j",
                &clients.min(2).to_string(),
            ])
            .args(["-T", &time.as_secs().max(1).to_string()])
            .args(["-D", &format!("rows={rows}")])
            .arg("-f")
            .arg(file);
        if let Some(prefix) = log {
            cmd.arg("--log")
                .arg(format!("--log-prefix={}", prefix.display()));
        }
        let out = cmd.arg(&self.db).output().await.context("run pgbench")?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            bail!(
                "pgbench failed: {}{stdout}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(stdout)
    }
}

fn number_after(text: &str, label: &str) -> Option<f64> {
    let rest = text.lines().find_map(|l| l.strip_prefix(label))?;
    rest.split_whitespace().next()?.parse().ok()
}
