//! The workers the router may send data requests to, learned from the control plane's placement
//! stream (never from a static list), with a short quarantine for workers that refuse connections.

use arc_swap::ArcSwap;
use proto::cluster::ClusterToken;
use proto::config::PlacementsRequest;
use proto::ConfigServiceClient;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tracing::{info, warn};

const QUARANTINE: Duration = Duration::from_secs(3);

/// Live workers and their health as seen from this router.
#[derive(Default)]
pub struct Upstreams {
    workers: ArcSwap<Vec<String>>,
    /// A placement table arrived from the control plane at least once.
    heard: std::sync::atomic::AtomicBool,
    next: AtomicUsize,
    down: Mutex<HashMap<String, Instant>>,
}

impl Upstreams {
    /// Worker addresses to try for one request: healthy ones first, round-robin.
    pub fn candidates(&self) -> Vec<String> {
        let workers = self.workers.load();
        if workers.is_empty() {
            return Vec::new();
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let mut order: Vec<String> = (0..workers.len())
            .map(|i| workers[(start + i) % workers.len()].clone())
            .collect();
        let down = self.down.lock().expect("upstreams lock");
        order.sort_by_key(|w| down.get(w).is_some_and(|t| t.elapsed() < QUARANTINE));
        order
    }

    /// Marks a worker as refusing connections for a while.
    pub fn mark_down(&self, addr: &str) {
        self.down
            .lock()
            .expect("upstreams lock")
            .insert(addr.to_owned(), Instant::now());
    }

    /// Marks a worker as answering again.
    pub fn mark_up(&self, addr: &str) {
        let mut down = self.down.lock().expect("upstreams lock");
        if !down.is_empty() {
            down.remove(addr);
        }
    }

    fn set(&self, workers: Vec<String>) {
        self.workers.store(Arc::new(workers));
        self.heard.store(true, Ordering::Relaxed);
    }

    /// Whether the control plane has told the router its workers at least once.
    pub fn heard(&self) -> bool {
        self.heard.load(Ordering::Relaxed)
    }

    /// The workers known, in table order.
    pub fn all(&self) -> Vec<String> {
        self.workers.load().as_ref().clone()
    }

    /// How many workers are known.
    pub fn len(&self) -> usize {
        self.workers.load().len()
    }

    /// True when no worker is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How long after (re)connecting the router keeps workers that the control plane's table does
/// not list yet: a control plane that just started knows no worker until each has reconnected
/// and applied its snapshot (a second or two), and forgetting them meanwhile would fail every
/// data request.
const RECONNECT_GRACE: Duration = Duration::from_secs(10);

/// What the router believes across reconnections.
#[derive(Default)]
struct Tables {
    /// The last table a control plane sent outside a grace period: its true list of workers.
    stable: Vec<String>,
    /// When the grace period that began with the first reconnection after a loss ends.
    grace_until: Option<tokio::time::Instant>,
    /// A grace period was given since the last stable table: the next one waits for a new
    /// stable table (a control plane that keeps dropping does not get one grace per drop).
    grace_spent: bool,
    /// The newest table received during the grace period.
    latest: Option<Vec<String>>,
}

impl Tables {
    fn in_grace(&self) -> bool {
        self.grace_until
            .is_some_and(|t| tokio::time::Instant::now() < t)
    }

    /// A table arrived: during the grace period the stable workers it lacks are kept beside it;
    /// after it, it is the table.
    fn received(&mut self, upstreams: &Upstreams, workers: Vec<String>) {
        if self.in_grace() {
            let mut merged = workers.clone();
            merged.extend(self.stable.iter().filter(|w| !workers.contains(w)).cloned());
            upstreams.set(merged);
            self.latest = Some(workers);
        } else {
            upstreams.set(workers.clone());
            self.stable = workers;
            self.grace_until = None;
            self.grace_spent = false;
            self.latest = None;
        }
    }

    /// A connection to the control plane opened: the first one after a loss, with workers
    /// known, starts the grace period (once per stable table).
    fn connected(&mut self) {
        let now = tokio::time::Instant::now();
        if self.grace_until.is_some_and(|t| t <= now) {
            self.grace_until = None;
        }
        if self.grace_until.is_none() && !self.grace_spent && !self.stable.is_empty() {
            self.grace_until = Some(now + RECONNECT_GRACE);
            self.grace_spent = true;
        }
    }

    /// The grace period is over: the newest table stands alone.
    fn end_grace(&mut self, upstreams: &Upstreams) {
        self.grace_until = None;
        if let Some(workers) = self.latest.take() {
            upstreams.set(workers.clone());
            self.stable = workers;
            self.grace_spent = false;
        }
    }
}

/// Follows the placement stream until `stop`; keeps the last table while the control plane is away.
pub async fn watch_placements(
    url: String,
    token: ClusterToken,
    upstreams: Arc<Upstreams>,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(100);
    let mut tables = Tables::default();
    loop {
        tokio::select! {
            res = follow(&url, &token, &upstreams, &mut tables) => if let Err(e) = res {
                warn!(workers = upstreams.len(), "placement stream failed ({e}); keeping the last table, retrying in {backoff:?}");
            },
            _ = stop.wait_for(|s| *s) => return,
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

async fn follow(
    url: &str,
    token: &ClusterToken,
    upstreams: &Upstreams,
    tables: &mut Tables,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let channel = proto::connect(url).await?;
    let mut client = ConfigServiceClient::with_interceptor(channel, token.clone());
    let mut stream = client
        .watch_placements(PlacementsRequest {
            router_id: String::new(),
        })
        .await?
        .into_inner();
    tables.connected();
    loop {
        let grace = tables.grace_until;
        tokio::select! {
            p = stream.message() => {
                let Some(p) = p? else { return Ok(()) };
                let workers: Vec<String> = p.workers.into_iter().map(|w| w.http_addr).collect();
                info!(workers = workers.len(), "placement table: {} workers", workers.len());
                tables.received(upstreams, workers);
            }
            _ = tokio::time::sleep_until(grace.unwrap_or_else(tokio::time::Instant::now)), if grace.is_some() => {
                tables.end_grace(upstreams);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(u: &Upstreams) -> Vec<String> {
        let mut t = u.all();
        t.sort();
        t
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_control_plane_does_not_make_the_router_forget_its_workers_for_a_while() {
        let u = Upstreams::default();
        let mut t = Tables::default();
        t.connected();
        t.received(&u, vec!["a".into(), "b".into()]);
        assert_eq!(table(&u), ["a", "b"]);
        // A restarted control plane knows only `a` so far: `b` is kept during the grace period.
        t.connected();
        t.received(&u, vec!["a".into()]);
        assert_eq!(table(&u), ["a", "b"]);
        // Dropping and coming back within the period does not extend it.
        tokio::time::advance(Duration::from_secs(6)).await;
        t.connected();
        t.received(&u, vec!["a".into()]);
        assert_eq!(table(&u), ["a", "b"]);
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(!t.in_grace());
        t.end_grace(&u);
        assert_eq!(table(&u), ["a"], "b was removed for real");
    }

    #[tokio::test(start_paused = true)]
    async fn a_control_plane_that_keeps_dropping_gets_one_grace_period() {
        let u = Upstreams::default();
        let mut t = Tables::default();
        t.connected();
        t.received(&u, vec!["a".into(), "b".into()]);
        t.connected();
        t.received(&u, vec!["a".into()]);
        // The stream drops and the period runs out while away; the next connection gets none.
        tokio::time::advance(Duration::from_secs(11)).await;
        t.connected();
        assert!(!t.in_grace());
        t.received(&u, vec!["a".into()]);
        assert_eq!(table(&u), ["a"]);
    }
}
