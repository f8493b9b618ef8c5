//! Realtime: record changes streamed to subscribers (Server-Sent Events), each event checked
//! against the subscriber's own read rule, as a GET of the record by the same caller would be.
//!
//! - **Source.** Events are the project's sealed audit chain ([`crate::audit::chain`]): each
//!   record change writes its audit event in its own transaction, and the sealer gives committed
//!   events, in the order they became visible, gapless places (`chain_seq`). That place is the
//!   stream's event id, the same on every worker, so a client may resume on any of them with
//!   `Last-Event-ID`, and nothing is ever sent before commit.
//! - **Fan-out.** One [`feed::Feed`] per project with subscribers on this worker reads what was
//!   sealed since its cursor (one statement per batch, whatever the number of subscribers) when
//!   woken: by this worker's sealer, or by `NOTIFY backendify_sealed` from the worker that sealed
//!   ([`crate::webhook`]'s announcer and listener).
//! - **Judging.** A subscriber's rule (`read` policies bound with the caller, as [`crate::policy`]
//!   builds them for a GET) and a topic's filters are judged in memory on the event's record
//!   ([`judge`]); what only the database can decide is asked once per batch and subscriber
//!   ([`store::judge`]). Before each batch, the app users of open streams are read again in one
//!   statement: a revoked session or a disabled user ends the stream, new roles apply at once;
//!   so does a new config (policies, roles, revoked API keys, membership).
//! - **Limits.** Topics per connection, connections per app user and per worker; a subscriber
//!   whose buffer fills (a slow or stalled client) is disconnected and may resume.

pub mod feed;
pub mod judge;
pub mod store;
pub mod topic;

use crate::auth::principals::Seen;
use crate::db::Pool;
use crate::http::context::Caller;
use crate::http::error::ApiError;
use crate::registry::{Project, Registry};
use bytes::Bytes;
use feed::Feed;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::mpsc;
use topic::Topic;
use uuid::Uuid;

/// What a worker allows (from its configuration).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Topics one connection may subscribe to.
    pub topics_per_connection: usize,
    /// Open streams per app user (per worker).
    pub connections_per_user: usize,
    /// Open streams per worker.
    pub connections: usize,
    /// Bytes of events waiting for one subscriber before it is disconnected as too slow.
    pub buffer_bytes: usize,
    /// Most events a resume replays; further behind, the client is told to reload.
    pub replay: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            topics_per_connection: 20,
            connections_per_user: 10,
            connections: 10_000,
            buffer_bytes: 1 << 20,
            replay: 10_000,
        }
    }
}

/// What a stream sends.
#[derive(Debug, Clone)]
pub enum Frame {
    /// Record events (`event: record.created`, …), encoded: one or more in a row, shared by
    /// every subscriber that gets the same ones.
    Data(Bytes),
    /// The subscription is live: events after `id` follow (a comment line).
    Ready {
        /// The place the stream continues after.
        id: i64,
    },
    /// Too far behind to replay: reload, then follow from `id`.
    Reset {
        /// The place the stream continues after.
        id: i64,
        /// Why.
        reason: &'static str,
    },
    /// The stream ends (`event: error`), saying why.
    Close {
        /// The error body's detail.
        detail: String,
    },
}

/// Who a stream was opened by: what is checked again while it is open.
#[derive(Debug, Clone)]
pub enum Principal {
    /// A member admin (until removed from the project or the token expires).
    Admin(Uuid),
    /// An app user's session (until revoked, the user disabled, or the token expires).
    AppUser {
        /// App-user id.
        id: String,
        /// Session id.
        session: Uuid,
        /// As last read.
        seen: Seen,
    },
    /// An API key (until revoked).
    ApiKey(Uuid),
    /// Nobody.
    Anonymous,
}

impl Principal {
    /// The caller a request by this principal would be, under `project`'s config.
    pub fn caller(&self, project: &Project) -> Caller {
        match self {
            Self::Admin(id) => Caller::Admin(*id),
            Self::AppUser { id, seen, .. } => crate::http::context::app_user(project, id, seen),
            Self::ApiKey(id) => Caller::ApiKey(*id),
            Self::Anonymous => Caller::Anonymous,
        }
    }
}

/// A subscriber.
pub struct Sub {
    id: u64,
    topics: Vec<Topic>,
    tx: mpsc::UnboundedSender<Frame>,
    /// Bytes sent to it and not yet taken by its connection.
    queued: Arc<AtomicUsize>,
    /// Unix seconds at which its token expires.
    expires: Option<i64>,
    state: Mutex<feed::SubState>,
}

/// The realtime hub of one worker.
pub struct Hub {
    db: Pool,
    registry: Arc<Registry>,
    limits: Limits,
    feeds: Mutex<HashMap<Uuid, Arc<Feed>>>,
    per_user: Mutex<HashMap<(Uuid, String), usize>>,
    open: AtomicUsize,
    next_id: AtomicU64,
    me: Weak<Hub>,
    /// The outbox consumer, which tells other workers of seals made here.
    engine: std::sync::OnceLock<Weak<crate::webhook::Engine>>,
}

/// What a new stream asks for.
pub struct Request {
    /// The project.
    pub project: Arc<Project>,
    /// Who asks.
    pub principal: Principal,
    /// When their token expires (unix seconds).
    pub expires: Option<i64>,
    /// Topics, parsed and planned.
    pub topics: Vec<(Topic, topic::Planned)>,
    /// `Last-Event-ID`.
    pub last_event_id: Option<i64>,
}

/// An open stream's end: dropped with the connection, it leaves the feed.
pub struct Membership {
    hub: Arc<Hub>,
    project: Uuid,
    sub: u64,
    user: Option<(Uuid, String)>,
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.hub.open.fetch_sub(1, Ordering::Relaxed);
        if let Some(user) = self.user.take() {
            let mut per = self.hub.per_user.lock().expect("lock");
            if let Some(n) = per.get_mut(&user) {
                *n -= 1;
                if *n == 0 {
                    per.remove(&user);
                }
            }
        }
        let feed = self
            .hub
            .feeds
            .lock()
            .expect("lock")
            .get(&self.project)
            .cloned();
        if let Some(feed) = feed {
            feed.leave(self.sub);
        }
    }
}

impl Hub {
    /// A hub over the worker's pool and registry.
    pub fn new(db: Pool, registry: Arc<Registry>, limits: Limits) -> Arc<Self> {
        Arc::new_cyclic(|me| Self {
            db,
            registry,
            limits,
            feeds: Mutex::default(),
            per_user: Mutex::default(),
            open: AtomicUsize::new(0),
            next_id: AtomicU64::new(1),
            me: me.clone(),
            engine: std::sync::OnceLock::new(),
        })
    }

    /// Gives the hub the worker's outbox consumer (once, when the state is made).
    pub fn attach(&self, engine: &Arc<crate::webhook::Engine>) {
        let _ = self.engine.set(Arc::downgrade(engine));
    }

    /// New events of `project` were sealed by a feed here: other workers' feeds read them too.
    fn announce_sealed(&self, project: Uuid) {
        if let Some(engine) = self.engine.get().and_then(Weak::upgrade) {
            engine.announce_sealed(project);
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Open streams on this worker.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Opens a stream: its frames arrive on the receiver until it ends or the membership is
    /// dropped. The stream lowers the counter by the bytes of each `Data` frame it takes.
    #[allow(clippy::type_complexity)]
    pub fn subscribe(
        &self,
        req: Request,
    ) -> Result<(mpsc::UnboundedReceiver<Frame>, Arc<AtomicUsize>, Membership), ApiError> {
        let hub = self.me.upgrade().expect("the hub is alive while used");
        let pid = req.project.config.project_id;
        if self.open.fetch_add(1, Ordering::Relaxed) >= self.limits.connections {
            self.open.fetch_sub(1, Ordering::Relaxed);
            return Err(ApiError::Unavailable(
                "This worker has as many realtime streams open as it allows; try again later",
            ));
        }
        let user = match &req.principal {
            Principal::AppUser { id, .. } => Some((pid, id.clone())),
            _ => None,
        };
        if let Some(u) = &user {
            let mut per = self.per_user.lock().expect("lock");
            let n = per.entry(u.clone()).or_default();
            if *n >= self.limits.connections_per_user {
                drop(per);
                self.open.fetch_sub(1, Ordering::Relaxed);
                return Err(ApiError::TooMany(format!(
                    "Too many realtime streams open for this user (at most {})",
                    self.limits.connections_per_user
                )));
            }
            *n += 1;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let membership = Membership {
            hub: hub.clone(),
            project: pid,
            sub: id,
            user,
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let caller = req.principal.caller(&req.project);
        let plans = req
            .topics
            .iter()
            .map(|(_, planned)| feed::plan(planned.clone(), &caller))
            .collect();
        let sub = Arc::new(Sub {
            id,
            topics: req.topics.into_iter().map(|(t, _)| t).collect(),
            tx,
            queued: queued.clone(),
            expires: req.expires,
            state: Mutex::new(feed::SubState {
                principal: req.principal,
                version: req.project.config.version,
                plans,
                after: i64::MAX,
            }),
        });
        // Joined under the map's lock: a feed retires (under the same lock) only when idle.
        let mut feeds = self.feeds.lock().expect("lock");
        match feeds.get(&pid) {
            Some(f) => f.join(sub, req.last_event_id),
            None => {
                let f = Arc::new(Feed::new(pid, self.limits.buffer_bytes));
                f.join(sub, req.last_event_id);
                feeds.insert(pid, f.clone());
                tokio::spawn(feed::run(f, hub.clone()));
            }
        }
        drop(feeds);
        Ok((rx, queued, membership))
    }

    /// New events of `project` were sealed (here or on another worker): its feed reads them.
    pub fn sealed(&self, project: Uuid) {
        let feed = self.feeds.lock().expect("lock").get(&project).cloned();
        if let Some(f) = feed {
            f.poke();
        }
    }

    /// Projects with subscribers on this worker.
    pub fn projects(&self) -> Vec<Uuid> {
        self.feeds.lock().expect("lock").keys().copied().collect()
    }

    /// Ends every stream (the worker is stopping).
    pub fn close_all(&self) {
        let feeds: Vec<Arc<Feed>> = self.feeds.lock().expect("lock").values().cloned().collect();
        for f in feeds {
            f.close_all("The worker is shutting down; reconnect with Last-Event-ID to resume");
        }
    }

    /// Removes `feed` when nobody is subscribed to it any more; true when it was removed.
    fn retire(&self, feed: &Arc<Feed>) -> bool {
        let mut feeds = self.feeds.lock().expect("lock");
        if !feed.is_idle() {
            return false;
        }
        if feeds
            .get(&feed.project)
            .is_some_and(|f| Arc::ptr_eq(f, feed))
        {
            feeds.remove(&feed.project);
        }
        true
    }
}
