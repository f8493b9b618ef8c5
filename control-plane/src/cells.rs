//! Cells: every project lives on one cell, a Postgres cluster with its own workers. The default
//! cell is the control database itself; `CELLS` names the others. The control plane keeps the
//! placement (`control.projects.cell`), runs each project's DDL on its cell, and places a new
//! project on the cell with the fewest projects.
//!
//! A change of a project on another cell spans two databases, so it commits in two phases
//! ([`Unit::commit`]): the cell transaction is prepared (`PREPARE TRANSACTION`), the decision to
//! commit is recorded in the control transaction (a `commit` row in `control.cell_commits`), which
//! commits, and then the prepared one commits. A prepared transaction whose decision is unknown (a
//! control plane that stopped between the phases, a commit whose answer was lost) is settled by a
//! claim ([`settle`]): an `abort` row is inserted unless a decision is already there. The insert
//! waits for a committer still holding its uncommitted `commit` row, so exactly one side wins:
//! either the change commits everywhere, or its committer's control commit fails.

use crate::db::projects::Project;
use crate::http::error::ApiError;
use anyhow::Context;
use model::sql::quote_literal;
use sqlx::pool::PoolConnection;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use std::collections::BTreeMap;
use std::time::Duration;
use tracing::{error, info, warn};
use uuid::Uuid;

/// The cell that is the control database.
pub const DEFAULT: &str = "default";

/// Prefix of the ids of our prepared transactions (others in the cluster are not ours to settle).
const GID_PREFIX: &str = "backendify:";

/// A prepared transaction younger than this may still be on its way to being decided.
pub const SETTLE_AFTER: Duration = Duration::from_secs(60);

/// One `CELLS` entry: `name=postgres://…`.
#[derive(Clone)]
pub struct CellUrl {
    /// The cell's name, as its workers give it (`WORKER_CELL`).
    pub name: String,
    /// Its database.
    pub url: String,
}

/// A cell name: 1 to 32 of `a-z`, `0-9`, `-`, `_`.
pub fn is_valid_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

impl std::str::FromStr for CellUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (name, url) = s
            .trim()
            .split_once('=')
            .ok_or_else(|| "a cell is NAME=postgres://…".to_owned())?;
        if !is_valid_name(name) {
            return Err(format!(
                "cell name '{name}': 1 to 32 of a-z, 0-9, '-' and '_'"
            ));
        }
        if name == DEFAULT {
            return Err(
                "'default' is the control database (DATABASE_URL); give other cells other names"
                    .into(),
            );
        }
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(format!(
                "cell '{name}': the URL must start with postgres://"
            ));
        }
        Ok(Self {
            name: name.to_owned(),
            url: url.to_owned(),
        })
    }
}

impl std::fmt::Debug for CellUrl {
    /// Without the URL, which may hold a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}=…", self.name)
    }
}

/// The cells this control plane places projects on.
pub struct Cells {
    control: PgPool,
    others: BTreeMap<String, PgPool>,
}

impl Cells {
    /// Only the default cell.
    pub fn only(control: PgPool) -> Self {
        Self {
            control,
            others: BTreeMap::new(),
        }
    }

    /// The default cell and every one of `cells`, each checked to take two-phase commits. A
    /// cell that cannot be reached is kept (its projects answer 503 until it can); one that is
    /// reached but cannot take enough prepared transactions stops the start.
    pub async fn connect(control: PgPool, cells: &[CellUrl], max: u32) -> anyhow::Result<Self> {
        let mut others = BTreeMap::new();
        for c in cells {
            if others.contains_key(&c.name) {
                anyhow::bail!("cell '{}' is named twice in CELLS", c.name);
            }
            let pool = crate::db::connect_lazy(&c.url, max)
                .with_context(|| format!("the URL of cell '{}'", c.name))?;
            match sqlx::query_scalar::<_, String>("SHOW max_prepared_transactions")
                .fetch_one(&pool)
                .await
            {
                Ok(prepared) if prepared.parse::<u32>().unwrap_or(0) < max => anyhow::bail!(
                    "cell '{}' has max_prepared_transactions = {prepared}: set it to at least {max} \
                     (DB_MAX_CONNECTIONS) on that cluster, since schema changes of its projects \
                     commit in two phases, and restart it",
                    c.name
                ),
                Ok(_) => {}
                Err(e) => warn!(
                    cell = %c.name,
                    "cell '{}' cannot be reached ({e}); its projects answer 503 until it can",
                    c.name
                ),
            }
            others.insert(c.name.clone(), pool);
        }
        if !others.is_empty() {
            info!(
                cells = ?others.keys().collect::<Vec<_>>(),
                "cells: default and {}",
                others.keys().cloned().collect::<Vec<_>>().join(", ")
            );
        }
        Ok(Self { control, others })
    }

    /// Every cell's name, the default first.
    pub fn names(&self) -> Vec<&str> {
        std::iter::once(DEFAULT)
            .chain(self.others.keys().map(String::as_str))
            .collect()
    }

    /// The database of `cell`; 503 for a cell this control plane was not given.
    pub fn pool(&self, cell: &str) -> Result<&PgPool, ApiError> {
        if cell == DEFAULT {
            return Ok(&self.control);
        }
        self.others.get(cell).ok_or_else(|| {
            error!(
                cell,
                "a project is placed on cell '{cell}', which CELLS does not name"
            );
            ApiError::Unavailable
        })
    }

    /// The cell a new project goes to: the one with the fewest projects (the default first, then
    /// by name, on a tie).
    pub async fn emptiest(&self) -> Result<String, sqlx::Error> {
        if self.others.is_empty() {
            return Ok(DEFAULT.to_owned());
        }
        let counts: Vec<(String, i64)> =
            sqlx::query_as("SELECT cell, count(*) FROM control.projects GROUP BY cell")
                .fetch_all(&self.control)
                .await?;
        let count = |name: &str| {
            counts
                .iter()
                .find(|(c, _)| c == name)
                .map_or(0, |(_, n)| *n)
        };
        let names = self.names();
        let best = names
            .iter()
            .min_by_key(|n| count(n))
            .copied()
            .unwrap_or(DEFAULT);
        Ok(best.to_owned())
    }

    /// Opens a change of `project`: a control transaction, and beside it a transaction in the
    /// project's cell when that is another database.
    pub async fn begin(&self, project: &Project) -> Result<Unit, ApiError> {
        let control = self.control.begin().await?;
        self.join(control, &project.cell).await
    }

    /// A change over an open control transaction, for a project on `cell`.
    pub async fn join(
        &self,
        control: Transaction<'static, Postgres>,
        cell: &str,
    ) -> Result<Unit, ApiError> {
        if cell == DEFAULT {
            return Ok(Unit::from(control));
        }
        let pool = self.pool(cell)?.clone();
        // Held by the `CellTx` before `BEGIN`: dropped (a cancelled request) it is closed, never
        // returned to the pool inside a transaction.
        let mut tx = CellTx {
            name: cell.to_owned(),
            control_pool: self.control.clone(),
            conn: Some(pool.acquire().await?),
            pool,
        };
        sqlx::query("BEGIN")
            .persistent(false)
            .execute(tx.conn())
            .await?;
        Ok(Unit {
            control,
            cell: Some(tx),
        })
    }

    /// Settles the prepared transactions a control plane left in the cells: at once those whose
    /// commit was recorded, and those older than `min_age` whatever their state ([`settle`]).
    /// A cell that cannot be reached is skipped (and logged). Returns how many it settled.
    pub async fn resolve(&self, min_age: Duration) -> usize {
        let mut settled = 0;
        for (name, pool) in &self.others {
            match self.resolve_cell(name, pool, min_age).await {
                Ok(n) => settled += n,
                Err(e) => {
                    warn!(cell = %name, "settling the prepared transactions of cell '{name}' failed: {e}")
                }
            }
        }
        settled
    }

    async fn resolve_cell(
        &self,
        name: &str,
        pool: &PgPool,
        min_age: Duration,
    ) -> Result<usize, sqlx::Error> {
        let prepared: Vec<(String, bool)> = sqlx::query_as(
            "SELECT gid, prepared < now() - make_interval(secs => $2) FROM pg_prepared_xacts
             WHERE starts_with(gid, $1) AND database = current_database()",
        )
        .bind(GID_PREFIX)
        .bind(min_age.as_secs_f64())
        .fetch_all(pool)
        .await?;
        let mut settled = 0;
        for (gid, old) in &prepared {
            let recorded = decision(&self.control, gid).await?;
            if recorded.is_none() && !old {
                // Maybe still on its way to a decision.
                continue;
            }
            let commit = settle(&self.control, pool, name, gid).await?;
            let verb = if commit { "committed" } else { "rolled back" };
            warn!(cell = %name, gid = %gid, "{verb} a prepared transaction left in cell '{name}'");
            settled += 1;
        }
        // Decisions whose prepared transaction is gone are done with. A decision is recorded
        // after its PREPARE, so one younger than a minute may belong to a transaction prepared
        // after the list above was read.
        let open: Vec<String> = prepared.into_iter().map(|(g, _)| g).collect();
        sqlx::query(
            "DELETE FROM control.cell_commits
             WHERE cell = $1 AND decided_at < now() - make_interval(secs => $2)
               AND gid <> ALL($3)",
        )
        .bind(name)
        .bind(SETTLE_AFTER.as_secs_f64())
        .bind(&open)
        .execute(&self.control)
        .await?;
        Ok(settled)
    }

    /// Whether there is any cell beside the default.
    pub fn has_others(&self) -> bool {
        !self.others.is_empty()
    }
}

/// The decision recorded for `gid`: `Some(true)` commit, `Some(false)` abort, `None` none yet.
async fn decision(control: &PgPool, gid: &str) -> Result<Option<bool>, sqlx::Error> {
    let d: Option<String> =
        sqlx::query_scalar("SELECT decision FROM control.cell_commits WHERE gid = $1")
            .bind(gid)
            .fetch_optional(control)
            .await?;
    Ok(d.map(|d| d == "commit"))
}

/// Decides a prepared transaction whose committer may be gone, and carries the decision out:
/// an `abort` is recorded unless a decision is there (the insert waits for a committer's
/// uncommitted `commit` row), then the transaction commits or rolls back accordingly. Returns
/// whether it committed.
pub async fn settle(
    control: &PgPool,
    cell: &PgPool,
    name: &str,
    gid: &str,
) -> Result<bool, sqlx::Error> {
    let claimed: Option<bool> = sqlx::query_scalar(
        "INSERT INTO control.cell_commits (gid, cell, decision) VALUES ($1, $2, 'abort')
         ON CONFLICT (gid) DO NOTHING RETURNING true",
    )
    .bind(gid)
    .bind(name)
    .fetch_optional(control)
    .await?;
    let commit = match claimed {
        Some(_) => false,
        None => decision(control, gid).await?.unwrap_or(false),
    };
    finish(&mut *cell.acquire().await?, gid, commit).await?;
    Ok(commit)
}

/// Commits or rolls back a prepared transaction; one already gone is fine.
async fn finish(db: &mut PgConnection, gid: &str, commit: bool) -> Result<(), sqlx::Error> {
    let verb = if commit { "COMMIT" } else { "ROLLBACK" };
    let sql = format!("{verb} PREPARED {}", quote_literal(gid));
    match sqlx::query(&sql).persistent(false).execute(db).await {
        Err(e)
            if e.as_database_error()
                .and_then(|d| d.code())
                .is_some_and(|c| c == "42704") =>
        {
            Ok(())
        }
        other => other.map(|_| ()),
    }
}

/// How often a running control plane looks for prepared transactions to settle.
const SETTLE_TICK: Duration = Duration::from_secs(10);

/// Every [`SETTLE_TICK`], settles what was left prepared in the cells: recorded commits at once,
/// the rest after [`SETTLE_AFTER`].
pub async fn keep_settled(
    state: crate::state::AppState,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    if !state.cells.has_others() {
        return;
    }
    loop {
        state.cells.resolve(SETTLE_AFTER).await;
        tokio::select! {
            _ = tokio::time::sleep(SETTLE_TICK) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// The open transaction of a change in another cell. Dropped unfinished (an error, a cancelled
/// request), its connection is closed, which ends the transaction.
struct CellTx {
    name: String,
    /// The cell's pool: fresh connections to finish a prepared transaction.
    pool: PgPool,
    /// Where decisions are recorded and read.
    control_pool: PgPool,
    conn: Option<PoolConnection<Postgres>>,
}

impl CellTx {
    fn conn(&mut self) -> &mut PgConnection {
        self.conn.as_mut().expect("an open cell transaction")
    }
}

impl Drop for CellTx {
    fn drop(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            conn.close_on_drop();
        }
    }
}

/// A change that spans the control database and a project's cell: one transaction when the
/// cell is the control database, two committed together otherwise.
pub struct Unit {
    control: Transaction<'static, Postgres>,
    cell: Option<CellTx>,
}

impl From<Transaction<'static, Postgres>> for Unit {
    fn from(control: Transaction<'static, Postgres>) -> Self {
        Self {
            control,
            cell: None,
        }
    }
}

impl Unit {
    /// Where the catalog is written.
    pub fn control(&mut self) -> &mut PgConnection {
        &mut self.control
    }

    /// Where the project's schema is: DDL and reads of its rows.
    pub fn cell(&mut self) -> &mut PgConnection {
        match &mut self.cell {
            Some(c) => c.conn(),
            None => &mut self.control,
        }
    }

    /// Undoes everything.
    pub async fn rollback(mut self) -> Result<(), sqlx::Error> {
        if let Some(c) = self.cell.as_mut() {
            sqlx::query("ROLLBACK")
                .persistent(false)
                .execute(c.conn())
                .await?;
            drop(c.conn.take());
        }
        self.control.rollback().await
    }

    /// Commits both sides, in two phases when the cell's side wrote anything. Runs to its end
    /// even when the request that asked for it goes away meanwhile.
    pub async fn commit(mut self) -> Result<(), ApiError> {
        let Some(cell) = self.cell.take() else {
            self.control.commit().await?;
            return Ok(());
        };
        let control = self.control;
        tokio::spawn(commit_both(control, cell))
            .await
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("the commit task failed: {e}")))?
    }
}

/// The two phases (see the module's documentation).
async fn commit_both(
    mut control: Transaction<'static, Postgres>,
    mut cell: CellTx,
) -> Result<(), ApiError> {
    // Nothing written on the cell (a change of the catalog only): no second phase needed.
    let wrote: Option<String> = sqlx::query_scalar("SELECT pg_current_xact_id_if_assigned()::text")
        .persistent(false)
        .fetch_one(cell.conn())
        .await?;
    if wrote.is_none() {
        sqlx::query("COMMIT")
            .persistent(false)
            .execute(cell.conn())
            .await?;
        drop(cell.conn.take());
        control.commit().await?;
        return Ok(());
    }
    let gid = format!("{GID_PREFIX}{}", Uuid::new_v4());
    sqlx::query(&format!("PREPARE TRANSACTION {}", quote_literal(&gid)))
        .persistent(false)
        .execute(cell.conn())
        .await?;
    // A transaction that had failed answers PREPARE with a rollback, not an error.
    let prepared: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM pg_prepared_xacts WHERE gid = $1")
            .bind(&gid)
            .fetch_optional(cell.conn())
            .await?;
    if prepared.is_none() {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "the cell's transaction had failed before it could be prepared"
        )));
    }
    // From here the cell's part waits, prepared, for the decision.
    let recorded = sqlx::query("INSERT INTO control.cell_commits (gid, cell) VALUES ($1, $2)")
        .bind(&gid)
        .bind(&cell.name)
        .execute(&mut *control)
        .await;
    let committed = match recorded {
        Ok(_) => control.commit().await,
        Err(e) => Err(e),
    };
    if let Err(e) = committed {
        // Not recorded, or the commit's answer was lost: the claim tells which.
        match settle(&cell.control_pool, &cell.pool, &cell.name, &gid).await {
            Ok(true) => {}
            Ok(false) => return Err(e.into()),
            Err(_) => {
                warn!(cell = %cell.name, gid = %gid, "left prepared until the control database answers again");
                return Err(e.into());
            }
        }
    } else if let Err(e) = second_phase(&mut cell, &gid).await {
        // Decided: the resolver commits it within seconds.
        warn!(cell = %cell.name, gid = %gid, "the second phase failed ({e}); it will be retried");
        return Ok(());
    }
    drop(cell.conn.take());
    let _ = sqlx::query("DELETE FROM control.cell_commits WHERE gid = $1")
        .bind(&gid)
        .execute(&cell.control_pool)
        .await;
    Ok(())
}

/// `COMMIT PREPARED` on the transaction's own connection, then (when that broke) on fresh ones.
async fn second_phase(cell: &mut CellTx, gid: &str) -> Result<(), sqlx::Error> {
    let mut last = match finish(cell.conn(), gid, true).await {
        Ok(()) => return Ok(()),
        Err(e) => e,
    };
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        match cell.pool.acquire().await {
            Ok(mut conn) => match finish(&mut conn, gid, true).await {
                Ok(()) => return Ok(()),
                Err(e) => last = e,
            },
            Err(e) => last = e,
        }
    }
    Err(last)
}
