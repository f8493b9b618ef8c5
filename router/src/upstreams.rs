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

/// Follows the placement stream until `stop`; keeps the last table while the control plane is away.
pub async fn watch_placements(
    url: String,
    token: ClusterToken,
    upstreams: Arc<Upstreams>,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        tokio::select! {
            res = follow(&url, &token, &upstreams) => if let Err(e) = res {
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

/// How long after (re)connecting the router keeps workers that the control plane's table does
/// not list yet: a control plane that just started knows no worker until each has reconnected
/// and applied its snapshot (a second or two), and forgetting them meanwhile would fail every
/// data request.
const RECONNECT_GRACE: Duration = Duration::from_secs(10);

async fn follow(
    url: &str,
    token: &ClusterToken,
    upstreams: &Upstreams,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let channel = proto::connect(url).await?;
    let mut client = ConfigServiceClient::with_interceptor(channel, token.clone());
    let mut stream = client
        .watch_placements(PlacementsRequest {
            router_id: String::new(),
        })
        .await?
        .into_inner();
    let known = upstreams.all();
    let grace = tokio::time::sleep(RECONNECT_GRACE);
    tokio::pin!(grace);
    let mut in_grace = !known.is_empty();
    let mut latest: Option<Vec<String>> = None;
    loop {
        tokio::select! {
            p = stream.message() => {
                let Some(p) = p? else { return Ok(()) };
                let workers: Vec<String> = p.workers.into_iter().map(|w| w.http_addr).collect();
                info!(workers = workers.len(), "placement table: {} workers", workers.len());
                if in_grace {
                    let mut merged = workers.clone();
                    merged.extend(known.iter().filter(|w| !workers.contains(w)).cloned());
                    upstreams.set(merged);
                    latest = Some(workers);
                } else {
                    upstreams.set(workers);
                }
            }
            _ = &mut grace, if in_grace => {
                in_grace = false;
                if let Some(workers) = latest.take() {
                    upstreams.set(workers);
                }
            }
        }
    }
}
