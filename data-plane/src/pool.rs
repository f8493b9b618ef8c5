//! The worker's Postgres connections: a plain pool that takes back a connection without a round
//! trip when its user says it is done with it.
//!
//! sqlx's pool pings every connection when it comes back (and, by default, before handing it
//! out), and offers no switch for the former: one more round trip to Postgres on every request,
//! about a tenth of the worker's throughput. Here:
//!
//! - a connection whose statement completed goes back as it is ([`Conn::release`]);
//! - one dropped without that (its request was cancelled mid-statement, or a `BEGIN` failed)
//!   may still hold another statement's replies or an open transaction: a task sends `ROLLBACK`
//!   and reads everything up to its answer before it goes back; if anything fails there, it is
//!   closed. So no caller ever sees another's leftovers, and no idle connection holds locks;
//! - a transaction dropped uncommitted is rolled back by a task the same way ([`Tx`]'s drop);
//! - a connection that died while idle fails on first use; the caller discards it
//!   ([`Conn::discard`]) and may retry on another (`crate::db`);
//! - connections idle for [`MAX_IDLE`] or older than [`MAX_AGE`] are closed instead of reused.

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Database, Postgres, TransactionManager};
use std::borrow::Cow;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long a request waits for a connection (all busy) or for a new one to open, and how long
/// the clean-up of an abandoned connection may take.
const WAIT: Duration = Duration::from_secs(30);

/// An idle connection unused this long is closed rather than reused.
const MAX_IDLE: Duration = Duration::from_secs(10 * 60);

/// A connection this old is closed when it comes back.
const MAX_AGE: Duration = Duration::from_secs(30 * 60);

/// At most `max` connections, opened on demand, reused last-in first-out.
#[derive(Clone)]
pub struct Pool(Arc<Inner>);

struct Inner {
    opts: PgConnectOptions,
    max: u32,
    idle: Mutex<Vec<Idle>>,
    permits: Arc<Semaphore>,
}

struct Idle {
    conn: PgConnection,
    opened: Instant,
    since: Instant,
}

impl Pool {
    /// A pool of at most `max` connections; one is opened now, so a wrong URL fails at start.
    pub async fn open(opts: PgConnectOptions, max: u32) -> Result<Self, sqlx::Error> {
        let max = max.max(1);
        let pool = Pool(Arc::new(Inner {
            opts,
            max,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(max as usize)),
        }));
        pool.acquire().await?.release();
        Ok(pool)
    }

    /// The most connections it opens.
    pub fn max(&self) -> u32 {
        self.0.max
    }

    /// Connections in use and idle ones kept open, for metrics.
    pub fn usage(&self) -> (usize, usize) {
        let in_use = (self.0.max as usize).saturating_sub(self.0.permits.available_permits());
        (in_use, self.0.idle.lock().expect("pool lock").len())
    }

    /// A connection: an idle one, else a new one while fewer than `max` are open.
    pub async fn acquire(&self) -> Result<Conn, sqlx::Error> {
        let permit = tokio::time::timeout(WAIT, self.0.permits.clone().acquire_owned())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
            .map_err(|_| sqlx::Error::PoolClosed)?;
        let idle = {
            let mut idle = self.0.idle.lock().expect("pool lock");
            // Stale ones are dropped (closed) on the way.
            std::iter::from_fn(|| idle.pop()).find(|i| i.since.elapsed() < MAX_IDLE)
        };
        let (conn, opened) = match idle {
            Some(i) => (i.conn, i.opened),
            None => {
                let conn = tokio::time::timeout(WAIT, self.0.opts.connect())
                    .await
                    .map_err(|_| sqlx::Error::PoolTimedOut)??;
                (conn, Instant::now())
            }
        };
        Ok(Conn {
            held: Some((conn, permit)),
            opened,
            pool: self.0.clone(),
        })
    }

    /// A transaction on a connection of the pool, opened by `begin` (a `BEGIN`, possibly with
    /// more statements in the same message).
    pub async fn begin(&self, begin: Cow<'static, str>) -> Result<Tx, BeginError> {
        let mut conn = self.acquire().await.map_err(|e| BeginError(e, None))?;
        match <Postgres as Database>::TransactionManager::begin(&mut conn, Some(begin)).await {
            Ok(()) => Ok(Tx { conn: Some(conn) }),
            Err(e) => Err(BeginError(e, Some(conn))),
        }
    }
}

/// A `BEGIN` that failed, with the connection it failed on (if one was had), for the caller to
/// discard when the connection itself broke (else dropping it cleans it up).
pub struct BeginError(pub sqlx::Error, pub Option<Conn>);

/// A connection out of the pool. [`Conn::release`] gives it back after a completed statement;
/// dropped otherwise, it is cleaned up first (see the module comment).
pub struct Conn {
    /// `None` once released or discarded.
    held: Option<(PgConnection, OwnedSemaphorePermit)>,
    opened: Instant,
    pool: Arc<Inner>,
}

impl Conn {
    /// Gives back a connection whose statements completed (their answers, errors included,
    /// were read); a connection past [`MAX_AGE`] is closed instead.
    pub fn release(mut self) {
        if let Some((conn, _permit)) = self.held.take() {
            if self.opened.elapsed() < MAX_AGE {
                self.pool.idle.lock().expect("pool lock").push(Idle {
                    conn,
                    opened: self.opened,
                    since: Instant::now(),
                });
            }
            // The permit goes after the connection is back.
        }
    }

    /// Closes a connection that broke instead of returning it (its place is free again).
    pub fn discard(mut self) {
        self.held = None;
    }
}

impl Deref for Conn {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        &self.held.as_ref().expect("a held connection").0
    }
}

impl DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.held.as_mut().expect("a held connection").0
    }
}

impl Drop for Conn {
    /// Not released: a statement may have been cut off, or a transaction left open. `ROLLBACK`
    /// (harmless outside a transaction) ends it and reads past every leftover answer; the
    /// connection goes back only when that worked.
    fn drop(&mut self) {
        let Some(held) = self.held.take() else {
            return;
        };
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        rt.spawn(clean_up(
            Abandoned(held, self.opened, self.pool.clone()),
            rollback_any,
        ));
    }
}

/// A connection taken out of its [`Conn`] for clean-up, held bare: dropped before the clean-up
/// ran (a task cancelled at once while the runtime shuts down), it just closes, and cannot start
/// another clean-up.
struct Abandoned((PgConnection, OwnedSemaphorePermit), Instant, Arc<Inner>);

type BoxFuture<'c, T> = Pin<Box<dyn Future<Output = T> + Send + 'c>>;

/// `ROLLBACK`, whatever state the connection is in (outside a transaction it only warns).
fn rollback_any(c: &mut PgConnection) -> BoxFuture<'_, Result<(), sqlx::Error>> {
    Box::pin(async move {
        sqlx::query("ROLLBACK").persistent(false).execute(c).await?;
        Ok(())
    })
}

/// A clean-up statement on an abandoned connection.
type Step = for<'c> fn(&'c mut PgConnection) -> BoxFuture<'c, Result<(), sqlx::Error>>;

/// Runs `step` on an abandoned connection and gives it back when it succeeds in time; closes it
/// otherwise (also when this task itself is dropped: the connection is held bare all along, so
/// its drop cannot start another clean-up).
async fn clean_up(conn: Abandoned, step: Step) {
    let Abandoned((mut raw, permit), opened, pool) = conn;
    if let Ok(Ok(())) = tokio::time::timeout(WAIT, step(&mut raw)).await {
        Conn {
            held: Some((raw, permit)),
            opened,
            pool,
        }
        .release();
    }
}

/// An open transaction; rolled back unless committed.
pub struct Tx {
    /// `None` once committed.
    conn: Option<Conn>,
}

impl Tx {
    /// Commits. A connection whose `COMMIT` failed is closed: Postgres ended the transaction
    /// either way, and the connection's own account of it can no longer be trusted. Cancelled
    /// mid-way, the transaction is still this one's, and its drop rolls back.
    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        let conn = self.conn.as_mut().expect("an open transaction");
        let res = <Postgres as Database>::TransactionManager::commit(conn).await;
        let conn = self.conn.take().expect("an open transaction");
        match res {
            Ok(()) => conn.release(),
            Err(_) => conn.discard(),
        }
        res
    }
}

impl Deref for Tx {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        self.conn.as_ref().expect("an open transaction")
    }
}

impl DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut PgConnection {
        self.conn.as_mut().expect("an open transaction")
    }
}

impl Drop for Tx {
    /// Rolls back now, not when the connection is next used: its row locks would otherwise stay
    /// held while it sits idle.
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return conn.discard();
        };
        let Some(held) = conn.held.take() else {
            return;
        };
        rt.spawn(clean_up(
            Abandoned(held, conn.opened, conn.pool.clone()),
            <Postgres as Database>::TransactionManager::rollback,
        ));
    }
}
