//! Cells: every project lives on one cell, a Postgres cluster with its own workers. The default
//! cell is the control database itself; `CELLS` names the others. The control plane keeps the
//! placement (`control.projects.cell`), runs each project's DDL on its cell, and places a new
//! project on the cell with the fewest projects.
//!
//! A change of a project on another cell spans two databases, so it commits in two phases
//! ([`Unit::commit`]): the cell transaction is prepared (`PREPARE TRANSACTION`), its id is
//! recorded in the control transaction (`control.cell_commits`), which commits, and then the
//! prepared one commits. A control plane that stops in between leaves a prepared transaction that
//! [`Cells::resolve`] settles by that record: committed when the id is there, rolled back when not.

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

    /// The default cell and every one of `cells`, each checked to take two-phase commits.
    pub async fn connect(control: PgPool, cells: &[CellUrl], max: u32) -> anyhow::Result<Self> {
        let mut others = BTreeMap::new();
        for c in cells {
            if others.contains_key(&c.name) {
                anyhow::bail!("cell '{}' is named twice in CELLS", c.name);
            }
            let pool = crate::db::connect(&c.url, max)
                .await
                .with_context(|| format!("connect to cell '{}'", c.name))?;
            let prepared: String = sqlx::query_scalar("SHOW max_prepared_transactions")
                .fetch_one(&pool)
                .await
                .with_context(|| format!("read the settings of cell '{}'", c.name))?;
            if prepared.parse::<u32>().unwrap_or(0) == 0 {
                anyhow::bail!(
                    "cell '{}' has max_prepared_transactions = 0: set it to at least {max} on that \
                     cluster (schema changes of its projects commit in two phases) and restart it",
                    c.name
                );
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
        let mut conn = self.pool(cell)?.acquire().await?;
        sqlx::query("BEGIN")
            .persistent(false)
            .execute(&mut *conn)
            .await?;
        Ok(Unit {
            control,
            cell: Some(CellTx {
                name: cell.to_owned(),
                control_pool: self.control.clone(),
                conn: Some(conn),
            }),
        })
    }

    /// Settles the prepared transactions older than `min_age` that a control plane left in a
    /// cell when it stopped between the two phases: commits those whose decision was recorded,
    /// rolls back the others. Returns how many it settled.
    pub async fn resolve(&self, min_age: Duration) -> Result<usize, sqlx::Error> {
        let mut settled = 0;
        for (name, pool) in &self.others {
            let gids: Vec<String> = sqlx::query_scalar(
                "SELECT gid FROM pg_prepared_xacts
                 WHERE starts_with(gid, $1) AND database = current_database()
                   AND prepared < now() - make_interval(secs => $2)",
            )
            .bind(GID_PREFIX)
            .bind(min_age.as_secs_f64())
            .fetch_all(pool)
            .await?;
            for gid in gids {
                let commit = decided(&self.control, &gid).await?;
                finish(&mut *pool.acquire().await?, &gid, commit).await?;
                let verb = if commit { "committed" } else { "rolled back" };
                warn!(cell = %name, gid = %gid, "{verb} a prepared transaction a control plane left in cell '{name}'");
                settled += 1;
            }
            // Decisions whose prepared transaction is gone are done with.
            let open: Vec<String> =
                sqlx::query_scalar("SELECT gid FROM pg_prepared_xacts WHERE starts_with(gid, $1)")
                    .bind(GID_PREFIX)
                    .fetch_all(pool)
                    .await?;
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
        }
        Ok(settled)
    }

    /// Whether there is any cell beside the default.
    pub fn has_others(&self) -> bool {
        !self.others.is_empty()
    }
}

/// Whether the control database recorded the decision to commit `gid`.
async fn decided(control: &PgPool, gid: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM control.cell_commits WHERE gid = $1)")
        .bind(gid)
        .fetch_one(control)
        .await
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

/// Every minute, settles what a stopped control plane left prepared in the cells.
pub async fn keep_settled(
    state: crate::state::AppState,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    if !state.cells.has_others() {
        return;
    }
    loop {
        if let Err(e) = state.cells.resolve(SETTLE_AFTER).await {
            warn!("settling prepared cell transactions failed: {e}");
        }
        tokio::select! {
            _ = tokio::time::sleep(SETTLE_AFTER) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// The open transaction of a change in another cell. Dropped unfinished (an error), its
/// connection is closed, which ends the transaction.
struct CellTx {
    name: String,
    /// Where the decision is read back when a commit's outcome is unknown.
    control_pool: PgPool,
    conn: Option<PoolConnection<Postgres>>,
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
            Some(c) => c.conn.as_mut().expect("an open cell transaction"),
            None => &mut self.control,
        }
    }

    /// Undoes everything.
    pub async fn rollback(mut self) -> Result<(), sqlx::Error> {
        if let Some(c) = self.cell.as_mut() {
            if let Some(mut conn) = c.conn.take() {
                sqlx::query("ROLLBACK")
                    .persistent(false)
                    .execute(&mut *conn)
                    .await?;
            }
        }
        self.control.rollback().await
    }

    /// Commits both sides, in two phases when there are two.
    pub async fn commit(mut self) -> Result<(), ApiError> {
        let Some(mut cell) = self.cell.take() else {
            self.control.commit().await?;
            return Ok(());
        };
        let gid = format!("{GID_PREFIX}{}", Uuid::new_v4());
        let mut conn = cell.conn.take().expect("an open cell transaction");
        if let Err(e) = sqlx::query(&format!("PREPARE TRANSACTION {}", quote_literal(&gid)))
            .persistent(false)
            .execute(&mut *conn)
            .await
        {
            conn.close_on_drop();
            return Err(e.into());
        }
        // From here the cell's part waits, prepared, for the decision.
        let recorded = sqlx::query("INSERT INTO control.cell_commits (gid, cell) VALUES ($1, $2)")
            .bind(&gid)
            .bind(&cell.name)
            .execute(&mut *self.control)
            .await;
        if let Err(e) = recorded {
            drop(self.control);
            finish(&mut conn, &gid, false).await?;
            return Err(e.into());
        }
        if let Err(e) = self.control.commit().await {
            // The commit may or may not have happened: the record says which.
            match decided(&cell.control_pool, &gid).await {
                Ok(commit) => {
                    finish(&mut conn, &gid, commit).await?;
                    if commit {
                        return Ok(());
                    }
                }
                Err(_) => {
                    warn!(cell = %cell.name, gid = %gid, "left prepared until the control database answers again");
                }
            }
            return Err(e.into());
        }
        if let Err(e) = finish(&mut conn, &gid, true).await {
            // Decided: the resolver commits it if this connection could not.
            warn!(cell = %cell.name, gid = %gid, "the second phase failed ({e}); it will be retried");
            conn.close_on_drop();
            return Ok(());
        }
        drop(conn);
        let _ = sqlx::query("DELETE FROM control.cell_commits WHERE gid = $1")
            .bind(&gid)
            .execute(&cell.control_pool)
            .await;
        Ok(())
    }
}
