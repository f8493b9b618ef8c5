//! The workers the router may send data requests to, by cell, and the cell of each project,
//! learned from the control plane's placement stream (never from a static list), with a short
//! quarantine for workers that refuse connections.

use arc_swap::ArcSwap;
use proto::cluster::ClusterToken;
use proto::config::{Placements, PlacementsAck, PlacementsRequest};
use proto::ConfigServiceClient;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{info, warn};
use uuid::Uuid;

const QUARANTINE: Duration = Duration::from_secs(3);
/// How long a worker's Unix socket this router may not open is left aside: the router runs as
/// another user than the worker, and asking again will not change that.
const SOCKET_DENIED: Duration = Duration::from_secs(3600);

/// The cell of a project the table does not list.
const DEFAULT_CELL: &str = "default";

/// A placed worker: its cell and address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placed {
    /// Its cell.
    pub cell: String,
    /// Its HTTP address.
    pub addr: String,
    /// Its Unix socket, when it is on this router's machine: tried before `addr`, as
    /// `unix:<path>`.
    pub local: Option<String>,
}

/// What requests are routed by.
#[derive(Default)]
struct Table {
    /// Each cell's workers, each as its addresses in order of preference.
    cells: HashMap<String, Vec<Vec<String>>>,
    /// The cell of each project not on the default one.
    projects: HashMap<Uuid, String>,
    /// How many workers in all.
    len: usize,
}

/// Live workers and their health as seen from this router.
#[derive(Default)]
pub struct Upstreams {
    table: ArcSwap<Table>,
    /// A placement table arrived from the control plane at least once.
    heard: std::sync::atomic::AtomicBool,
    next: AtomicUsize,
    /// Addresses that refused a connection, and until when they are tried last.
    down: Mutex<HashMap<String, Instant>>,
}

impl Upstreams {
    /// Addresses of the workers of `project`'s cell to try for one of its requests: healthy ones
    /// first, round-robin.
    pub fn candidates(&self, project: Uuid) -> Vec<String> {
        let table = self.table.load();
        let cell = table
            .projects
            .get(&project)
            .map_or(DEFAULT_CELL, String::as_str);
        let Some(workers) = table.cells.get(cell).filter(|w| !w.is_empty()) else {
            return Vec::new();
        };
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let mut order: Vec<String> = (0..workers.len())
            .flat_map(|i| workers[(start + i) % workers.len()].iter().cloned())
            .collect();
        let down = self.down.lock().expect("upstreams lock");
        if !down.is_empty() {
            let now = Instant::now();
            order.sort_by_key(|w| down.get(w).is_some_and(|until| now < *until));
        }
        order
    }

    /// Marks a worker's address as refusing connections (`e`) for a while: 3 s, or an hour for
    /// a Unix socket this router may not open. True when it was not marked already (worth a
    /// log line).
    pub fn mark_down(&self, addr: &str, e: &std::io::Error) -> bool {
        let denied = addr.starts_with("unix:") && e.kind() == std::io::ErrorKind::PermissionDenied;
        let now = Instant::now();
        let until = now + if denied { SOCKET_DENIED } else { QUARANTINE };
        let mut down = self.down.lock().expect("upstreams lock");
        let was = down.insert(addr.to_owned(), until);
        was.is_none_or(|before| now >= before)
    }

    /// Marks a worker as answering again.
    pub fn mark_up(&self, addr: &str) {
        let mut down = self.down.lock().expect("upstreams lock");
        if !down.is_empty() {
            down.remove(addr);
        }
    }

    fn set(&self, workers: &[Placed], projects: HashMap<Uuid, String>) {
        let mut cells: HashMap<String, Vec<Vec<String>>> = HashMap::new();
        for w in workers {
            let addrs = w
                .local
                .iter()
                .map(|path| format!("unix:{path}"))
                .chain([w.addr.clone()])
                .collect();
            cells.entry(w.cell.clone()).or_default().push(addrs);
        }
        self.table.store(Arc::new(Table {
            cells,
            projects,
            len: workers.len(),
        }));
        self.heard.store(true, Ordering::Relaxed);
    }

    fn set_workers(&self, workers: &[Placed]) {
        let projects = self.table.load().projects.clone();
        self.set(workers, projects);
    }

    /// Whether the control plane has told the router its workers at least once.
    pub fn heard(&self) -> bool {
        self.heard.load(Ordering::Relaxed)
    }

    /// The addresses of every worker known, by cell name, then in table order.
    pub fn all(&self) -> Vec<String> {
        let table = self.table.load();
        let mut cells: Vec<_> = table.cells.iter().collect();
        cells.sort_by_key(|(name, _)| name.as_str());
        cells
            .into_iter()
            .flat_map(|(_, w)| w.iter().flatten().cloned())
            .collect()
    }

    /// How many workers are known.
    pub fn len(&self) -> usize {
        self.table.load().len
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
    stable: Vec<Placed>,
    /// When the grace period that began with the first reconnection after a loss ends.
    grace_until: Option<Instant>,
    /// A grace period was given since the last stable table: the next one waits for a new
    /// stable table (a control plane that keeps dropping does not get one grace per drop).
    grace_spent: bool,
    /// The newest table received during the grace period.
    latest: Option<Vec<Placed>>,
}

impl Tables {
    fn in_grace(&self) -> bool {
        self.grace_until.is_some_and(|t| Instant::now() < t)
    }

    /// A table arrived: during the grace period the stable workers it lacks are kept beside it;
    /// after it, it is the table.
    /// The project cells always come from the newest table: a control plane lists every project
    /// from the start.
    fn received(
        &mut self,
        upstreams: &Upstreams,
        workers: Vec<Placed>,
        projects: HashMap<Uuid, String>,
    ) {
        if self.in_grace() {
            let mut merged = workers.clone();
            merged.extend(self.stable.iter().filter(|w| !workers.contains(w)).cloned());
            upstreams.set(&merged, projects);
            self.latest = Some(workers);
        } else {
            upstreams.set(&workers, projects);
            self.stable = workers;
            self.grace_until = None;
            self.grace_spent = false;
            self.latest = None;
        }
    }

    /// A connection to the control plane opened: the first one after a loss, with workers
    /// known, starts the grace period (once per stable table).
    fn connected(&mut self) {
        let now = Instant::now();
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
            upstreams.set_workers(&workers);
            self.stable = workers;
            self.grace_spent = false;
        }
    }
}

/// Follows the placement stream until `stop`, acknowledging each table applied; keeps the last
/// table while the control plane is away.
pub async fn watch_placements(
    url: String,
    token: ClusterToken,
    upstreams: Arc<Upstreams>,
    sockets: bool,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(100);
    let mut tables = Tables::default();
    let router_id = Uuid::new_v4().to_string();
    loop {
        tokio::select! {
            res = follow(&url, &token, &router_id, sockets, &upstreams, &mut tables) => if let Err(e) = res {
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
    router_id: &str,
    sockets: bool,
    upstreams: &Upstreams,
    tables: &mut Tables,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let channel = proto::connect(url).await?;
    let mut client = ConfigServiceClient::with_interceptor(channel, token.clone());
    let host = proto::local::host_id().filter(|_| sockets);
    let mut stream = client
        .watch_placements(PlacementsRequest {
            router_id: router_id.to_owned(),
        })
        .await?
        .into_inner();
    tables.connected();
    loop {
        let grace = tables.grace_until;
        tokio::select! {
            p = stream.message() => {
                let Some(p) = p? else { return Ok(()) };
                let version = p.version;
                let (workers, projects) = read_table(p, host.as_deref());
                info!(workers = workers.len(), projects = projects.len(), "placement table v{version}: {} workers", workers.len());
                tables.received(upstreams, workers, projects);
                client
                    .ack_placements(PlacementsAck { router_id: router_id.to_owned(), version })
                    .await?;
            }
            _ = tokio::time::sleep_until(grace.unwrap_or_else(Instant::now)), if grace.is_some() => {
                tables.end_grace(upstreams);
            }
        }
    }
}

/// A placement table's workers and project cells. A worker on this machine (`host`) is reached
/// on its Unix socket first.
fn read_table(p: Placements, host: Option<&str>) -> (Vec<Placed>, HashMap<Uuid, String>) {
    let workers = p
        .workers
        .into_iter()
        .map(|w| Placed {
            cell: w.cell,
            addr: w.http_addr,
            local: (!w.unix_socket.is_empty() && host == Some(w.host_id.as_str()))
                .then_some(w.unix_socket),
        })
        .collect();
    let projects = p
        .projects
        .into_iter()
        .filter_map(|c| Some((Uuid::parse_str(&c.project_id).ok()?, c.cell)))
        .collect();
    (workers, projects)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(addrs: &[&str]) -> Vec<Placed> {
        addrs
            .iter()
            .map(|a| Placed {
                cell: DEFAULT_CELL.into(),
                addr: (*a).into(),
                local: None,
            })
            .collect()
    }

    #[test]
    fn a_project_goes_to_the_workers_of_its_cell() {
        let u = Upstreams::default();
        let mut t = Tables::default();
        let (p, q) = (Uuid::new_v4(), Uuid::new_v4());
        let mut workers = w(&["a1", "a2"]);
        workers.push(Placed {
            cell: "b".into(),
            addr: "b1".into(),
            local: None,
        });
        t.received(&u, workers, HashMap::from([(q, "b".to_string())]));
        let mut on_default = u.candidates(p);
        on_default.sort();
        assert_eq!(
            on_default,
            ["a1", "a2"],
            "unlisted projects are on the default cell"
        );
        assert_eq!(u.candidates(q), ["b1"]);
        assert_eq!(u.len(), 3);
        // A cell without a live worker has no candidates (503), not another cell's workers.
        t.received(&u, w(&["a1"]), HashMap::from([(q, "b".to_string())]));
        assert!(u.candidates(q).is_empty());
    }

    #[test]
    fn a_worker_on_this_machine_is_tried_on_its_socket_first_then_on_tcp() {
        let u = Upstreams::default();
        let mut t = Tables::default();
        let mut workers = w(&["a1"]);
        workers.push(Placed {
            cell: DEFAULT_CELL.into(),
            addr: "a2".into(),
            local: Some("/tmp/a2.sock".into()),
        });
        t.received(&u, workers, HashMap::new());
        let p = Uuid::new_v4();
        let rounds: Vec<Vec<String>> = (0..2).map(|_| u.candidates(p)).collect();
        assert!(rounds.contains(&vec!["a1".into(), "unix:/tmp/a2.sock".into(), "a2".into()]));
        assert!(rounds.contains(&vec!["unix:/tmp/a2.sock".into(), "a2".into(), "a1".into()]));
        // Its socket refusing, the worker is still reached over TCP before the other one.
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(u.mark_down("unix:/tmp/a2.sock", &refused));
        assert!(
            !u.mark_down("unix:/tmp/a2.sock", &refused),
            "already marked"
        );
        let after: Vec<Vec<String>> = (0..2).map(|_| u.candidates(p)).collect();
        assert!(after.contains(&vec!["a2".into(), "a1".into(), "unix:/tmp/a2.sock".into()]));
    }

    #[tokio::test(start_paused = true)]
    async fn a_socket_this_router_may_not_open_is_left_aside_longer_than_a_refusal() {
        let u = Upstreams::default();
        let mut t = Tables::default();
        let local = |name: &str| Placed {
            cell: DEFAULT_CELL.into(),
            addr: format!("{name}:8101"),
            local: Some(format!("/tmp/{name}.sock")),
        };
        t.received(&u, vec![local("a"), local("b")], HashMap::new());
        let p = Uuid::new_v4();
        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(u.mark_down("unix:/tmp/a.sock", &denied));
        assert!(u.mark_down("unix:/tmp/b.sock", &refused));
        let last_two = |u: &Upstreams| {
            let c = u.candidates(p);
            c[c.len() - 2..].to_vec()
        };
        let mut aside = last_two(&u);
        aside.sort();
        assert_eq!(aside, ["unix:/tmp/a.sock", "unix:/tmp/b.sock"]);
        // A refusal is forgotten after seconds; a denied socket stays aside (and unlogged).
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(!u.mark_down("unix:/tmp/a.sock", &denied));
        for _ in 0..2 {
            assert_eq!(
                u.candidates(p).last().map(String::as_str),
                Some("unix:/tmp/a.sock")
            );
        }
        assert!(u.mark_down("unix:/tmp/b.sock", &refused));
    }

    #[test]
    fn only_a_worker_of_the_same_machine_gets_its_socket_used() {
        let table = |host: &str| Placements {
            workers: vec![proto::config::Worker {
                id: "w".into(),
                http_addr: "10.0.0.2:8101".into(),
                cell: "default".into(),
                unix_socket: "/tmp/w.sock".into(),
                host_id: host.into(),
            }],
            ..Default::default()
        };
        let (same, _) = read_table(table("boot/mnt:[1]"), Some("boot/mnt:[1]"));
        assert_eq!(same[0].local.as_deref(), Some("/tmp/w.sock"));
        let (other, _) = read_table(table("boot/mnt:[2]"), Some("boot/mnt:[1]"));
        assert_eq!(other[0].local, None);
        let (unknown, _) = read_table(table(""), None);
        assert_eq!(unknown[0].local, None);
    }

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
        t.received(&u, w(&["a", "b"]), HashMap::new());
        assert_eq!(table(&u), ["a", "b"]);
        // A restarted control plane knows only `a` so far: `b` is kept during the grace period.
        t.connected();
        t.received(&u, w(&["a"]), HashMap::new());
        assert_eq!(table(&u), ["a", "b"]);
        // Dropping and coming back within the period does not extend it.
        tokio::time::advance(Duration::from_secs(6)).await;
        t.connected();
        t.received(&u, w(&["a"]), HashMap::new());
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
        t.received(&u, w(&["a", "b"]), HashMap::new());
        t.connected();
        t.received(&u, w(&["a"]), HashMap::new());
        // The stream drops and the period runs out while away; the next connection gets none.
        tokio::time::advance(Duration::from_secs(11)).await;
        t.connected();
        assert!(!t.in_grace());
        t.received(&u, w(&["a"]), HashMap::new());
        assert_eq!(table(&u), ["a"]);
    }
}
