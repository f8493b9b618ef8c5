//! The worker's Postgres connections: a plain pool that hands out and takes back connections
//! without a round trip.
//!
//! sqlx's pool pings every connection when it comes back (and, by default, before handing it
//! out), and offers no switch for the former: one more round trip to Postgres on every request,
//! about a tenth of the worker's throughput. Here a connection goes back as it is. What the ping
//! guarded against is handled where it matters:
//!
//! - a transaction dropped unfinished is rolled back by a task before its connection goes back
//!   ([`Tx`]'s drop), so its locks go at once; a statement abandoned mid-way leaves its replies
//!   unread, and sqlx reads them before the connection's next statement;
//! - a connection that died while idle fails on first use; the caller discards it
//!   ([`Conn::discard`]) and retries on another (`crate::db`).

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Database, Postgres, TransactionManager};
use std::borrow::Cow;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long a request waits for a connection (all busy) or for a new one to open.
const WAIT: Duration = Duration::from_secs(30);

/// At most `max` connections, opened on demand, reused last-in first-out.
#[derive(Clone)]
pub struct Pool(Arc<Inner>);

struct Inner {
    opts: PgConnectOptions,
    max: u32,
    idle: Mutex<Vec<PgConnection>>,
    permits: Arc<Semaphore>,
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
        drop(pool.acquire().await?);
        Ok(pool)
    }

    /// The most connections it opens.
    pub fn max(&self) -> u32 {
        self.0.max
    }

    /// A connection: an idle one, else a new one while fewer than `max` are open.
    pub async fn acquire(&self) -> Result<Conn, sqlx::Error> {
        let permit = tokio::time::timeout(WAIT, self.0.permits.clone().acquire_owned())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
            .map_err(|_| sqlx::Error::PoolClosed)?;
        let idle = self.0.idle.lock().expect("pool lock").pop();
        let conn = match idle {
            Some(conn) => conn,
            None => tokio::time::timeout(WAIT, self.0.opts.connect())
                .await
                .map_err(|_| sqlx::Error::PoolTimedOut)??,
        };
        Ok(Conn {
            conn: Some(conn),
            pool: self.0.clone(),
            _permit: permit,
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
/// discard when the connection itself broke.
pub struct BeginError(pub sqlx::Error, pub Option<Conn>);

/// A connection out of the pool; it goes back when dropped.
pub struct Conn {
    conn: Option<PgConnection>,
    pool: Arc<Inner>,
    _permit: OwnedSemaphorePermit,
}

impl Conn {
    /// Closes a connection that broke instead of returning it (its place is free again).
    pub fn discard(mut self) {
        self.conn = None;
    }
}

impl Deref for Conn {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        self.conn.as_ref().expect("a live connection")
    }
}

impl DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut PgConnection {
        self.conn.as_mut().expect("a live connection")
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool.idle.lock().expect("pool lock").push(conn);
        }
        // The permit is released after this, once the connection is back.
    }
}

/// An open transaction; rolled back unless committed.
pub struct Tx {
    /// `None` once committed.
    conn: Option<Conn>,
}

impl Tx {
    /// Commits. A connection whose `COMMIT` failed is closed: Postgres ended the transaction
    /// either way, and the connection's own account of it can no longer be trusted.
    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        let mut conn = self.conn.take().expect("an open transaction");
        let res = <Postgres as Database>::TransactionManager::commit(&mut conn).await;
        if res.is_err() {
            conn.discard();
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
    /// held while it sits idle. The connection goes back (or, broken, is closed) afterwards.
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return conn.discard();
        };
        rt.spawn(async move {
            if <Postgres as Database>::TransactionManager::rollback(&mut conn)
                .await
                .is_err()
            {
                conn.discard();
            }
        });
    }
}
