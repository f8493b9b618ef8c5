//! The config hub: the latest compiled config of every project, the live workers (a worker is
//! live while its `Watch` stream is open) and what each has acknowledged, and the placement table
//! routers follow (workers by cell, and the cell of each project not on the default one) with what
//! each live router has acknowledged. Admin calls that change a config publish here and then wait,
//! bounded, until every live worker of the project's cell applied it (and, for a project new on
//! another cell, every router knows where it is).

use crate::cells::DEFAULT;
use proto::config::{Placements, ProjectCell, ProjectConfig as ConfigItem, WatchRequest, Worker};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use uuid::Uuid;

/// A registered worker.
struct WorkerEntry {
    conn: u64,
    http_addr: String,
    cell: String,
    unix_socket: String,
    host_id: String,
    acked: HashMap<Uuid, u64>,
    /// It acknowledged its first snapshot: only then do routers send it requests (before, it
    /// would answer 503 "still loading" to every project).
    ready: bool,
}

/// A router following the placement table.
struct RouterEntry {
    conn: u64,
    /// The newest table version it applied.
    acked: u64,
    /// When its stream ended: it keeps serving its last table while it reconnects, so for a
    /// while it still counts (as lagging, unless it applied the version waited for).
    gone: Option<std::time::Instant>,
}

/// How long a router whose stream ended still counts.
const ROUTER_GONE_GRACE: Duration = Duration::from_secs(10);

#[derive(Default)]
struct State {
    configs: HashMap<Uuid, Arc<ConfigItem>>,
    workers: HashMap<String, WorkerEntry>,
    /// The cell of every project not on the default one.
    project_cells: BTreeMap<Uuid, String>,
    routers: HashMap<String, RouterEntry>,
    /// Version of the placement table, bumped on every change of it.
    table_version: u64,
    next_conn: u64,
}

/// Shared between the admin API and the gRPC service.
pub struct Hub {
    state: Mutex<State>,
    changes: broadcast::Sender<Arc<ConfigItem>>,
    /// Bumped on every ack and (de)registration, so waiters re-check.
    progress: watch::Sender<u64>,
    placements: watch::Sender<Arc<Placements>>,
    shutdown: watch::Sender<bool>,
}

impl Default for Hub {
    fn default() -> Self {
        Self {
            state: Mutex::default(),
            changes: broadcast::channel(1024).0,
            progress: watch::channel(0).0,
            placements: watch::channel(Arc::new(Placements::default())).0,
            shutdown: watch::channel(false).0,
        }
    }
}

impl Hub {
    /// Stores a compiled config of a project on `cell` if it is newer than the one held, and
    /// sends it to watchers. Returns the placement table version routers must reach when the
    /// project is new on a cell other than the default one.
    pub fn publish(
        &self,
        project: Uuid,
        cell: &str,
        version: u64,
        config_json: Vec<u8>,
    ) -> Option<u64> {
        let mut st = self.state.lock().expect("hub lock");
        if !self.insert(&mut st, project, cell, version, config_json) {
            return None;
        }
        if self.changed(&mut st) {
            Some(st.table_version)
        } else {
            // Shutting down: no router learns it from here, so every one lags.
            Some(u64::MAX)
        }
    }

    /// [`Hub::publish`] for many configs at once (the start-up compile): the placement table
    /// changes once, not once per project.
    pub fn publish_all(&self, configs: impl IntoIterator<Item = (Uuid, String, u64, Vec<u8>)>) {
        let mut st = self.state.lock().expect("hub lock");
        let mut moved = false;
        for (project, cell, version, json) in configs {
            moved |= self.insert(&mut st, project, &cell, version, json);
        }
        if moved {
            self.changed(&mut st);
        }
    }

    /// Stores and broadcasts a config if newer; true when it put the project on the table's
    /// list of projects of other cells.
    fn insert(
        &self,
        st: &mut State,
        project: Uuid,
        cell: &str,
        version: u64,
        config_json: Vec<u8>,
    ) -> bool {
        if st
            .configs
            .get(&project)
            .is_some_and(|c| c.version >= version)
        {
            return false;
        }
        let item = Arc::new(ConfigItem {
            project_id: project.to_string(),
            version,
            config_json,
            cell: cell.to_owned(),
        });
        st.configs.insert(project, item.clone());
        // Sent under the lock so the broadcast order matches the map's.
        let _ = self.changes.send(item);
        if cell == DEFAULT || st.project_cells.get(&project).is_some_and(|c| c == cell) {
            return false;
        }
        st.project_cells.insert(project, cell.to_owned());
        true
    }

    /// Subscribes to changes, then takes a snapshot of `cell`'s configs (so nothing falls between
    /// the two). The receiver carries every cell's changes: the caller keeps its own.
    pub fn subscribe(&self, cell: &str) -> (broadcast::Receiver<Arc<ConfigItem>>, Vec<ConfigItem>) {
        let st = self.state.lock().expect("hub lock");
        let rx = self.changes.subscribe();
        let snapshot = st
            .configs
            .values()
            .filter(|c| c.cell == cell)
            .map(|c| (**c).clone())
            .collect();
        (rx, snapshot)
    }

    /// Registers a worker's open stream; returns the connection number that unregisters it. A
    /// worker that says it is `serving` (it reconnected with its configs) is placed at once;
    /// a starting one once it acknowledged its snapshot.
    pub fn register(&self, w: &WatchRequest) -> u64 {
        let mut st = self.state.lock().expect("hub lock");
        st.next_conn += 1;
        let conn = st.next_conn;
        let entry = WorkerEntry {
            conn,
            http_addr: w.http_addr.clone(),
            cell: w.cell.clone(),
            unix_socket: w.unix_socket.clone(),
            host_id: w.host_id.clone(),
            acked: HashMap::new(),
            ready: w.serving,
        };
        st.workers.insert(w.worker_id.clone(), entry);
        self.changed(&mut st);
        conn
    }

    /// Unregisters a worker whose stream `conn` ended (a newer connection of it stays).
    pub fn unregister(&self, id: &str, conn: u64) {
        let mut st = self.state.lock().expect("hub lock");
        if st.workers.get(id).is_some_and(|w| w.conn == conn) {
            st.workers.remove(id);
            self.changed(&mut st);
        }
    }

    /// Records what a worker applied. Its first acknowledgement (of the snapshot) places it.
    pub fn ack(&self, id: &str, applied: impl IntoIterator<Item = (Uuid, u64)>) {
        let mut st = self.state.lock().expect("hub lock");
        let mut placed = false;
        if let Some(w) = st.workers.get_mut(id) {
            for (project, version) in applied {
                let v = w.acked.entry(project).or_default();
                *v = (*v).max(version);
            }
            placed = !w.ready;
            w.ready = true;
        }
        if placed {
            self.changed(&mut st);
        }
        drop(st);
        self.progress.send_modify(|n| *n += 1);
    }

    /// Sends the placement table (unless the control plane is shutting down: false).
    fn changed(&self, st: &mut State) -> bool {
        let mut workers: Vec<Worker> = st
            .workers
            .iter()
            .filter(|(_, w)| w.ready)
            .map(|(id, w)| Worker {
                id: id.clone(),
                http_addr: w.http_addr.clone(),
                cell: w.cell.clone(),
                unix_socket: w.unix_socket.clone(),
                host_id: w.host_id.clone(),
            })
            .collect();
        workers.sort_by(|a, b| a.id.cmp(&b.id));
        // Workers drop their streams while the control plane shuts down; routers must keep the
        // last table they had rather than learn an empty one.
        if !*self.shutdown.borrow() {
            st.table_version += 1;
            let projects = st
                .project_cells
                .iter()
                .map(|(id, cell)| ProjectCell {
                    project_id: id.to_string(),
                    cell: cell.clone(),
                })
                .collect();
            self.placements.send_replace(Arc::new(Placements {
                workers,
                projects,
                version: st.table_version,
            }));
            self.progress.send_modify(|n| *n += 1);
            return true;
        }
        self.progress.send_modify(|n| *n += 1);
        false
    }

    /// Registers a router's open placement stream; returns the connection number that
    /// unregisters it.
    pub fn register_router(&self, id: &str) -> u64 {
        let mut st = self.state.lock().expect("hub lock");
        st.next_conn += 1;
        let conn = st.next_conn;
        let acked = st.routers.get(id).map_or(0, |r| r.acked);
        st.routers.insert(
            id.to_owned(),
            RouterEntry {
                conn,
                acked,
                gone: None,
            },
        );
        conn
    }

    /// Notes that a router's stream `conn` ended (it still counts for [`ROUTER_GONE_GRACE`]).
    pub fn unregister_router(&self, id: &str, conn: u64) {
        let mut st = self.state.lock().expect("hub lock");
        if let Some(r) = st.routers.get_mut(id).filter(|r| r.conn == conn) {
            r.gone = Some(std::time::Instant::now());
        }
        drop(st);
        self.progress.send_modify(|n| *n += 1);
    }

    /// Records the placement table version a router applied.
    pub fn ack_router(&self, id: &str, version: u64) {
        let mut st = self.state.lock().expect("hub lock");
        if let Some(r) = st.routers.get_mut(id) {
            r.acked = r.acked.max(version);
        }
        drop(st);
        self.progress.send_modify(|n| *n += 1);
    }

    /// Live routers that have not applied placement table `version`.
    fn lagging_routers(&self, version: u64) -> Vec<String> {
        let mut st = self.state.lock().expect("hub lock");
        st.routers
            .retain(|_, r| r.gone.is_none_or(|t| t.elapsed() < ROUTER_GONE_GRACE));
        let mut ids: Vec<String> = st
            .routers
            .iter()
            .filter(|(_, r)| r.acked < version)
            .map(|(id, _)| format!("router {id}"))
            .collect();
        ids.sort();
        ids
    }

    /// Waits until every live router applied placement table `version`, at most `timeout`.
    /// Returns the routers still lagging.
    pub async fn wait_routers(&self, version: u64, timeout: Duration) -> Vec<String> {
        self.wait(timeout, || self.lagging_routers(version)).await
    }

    /// Live workers of the project's cell that have not applied `version` of `project`.
    pub fn lagging(&self, project: Uuid, version: u64) -> Vec<String> {
        let st = self.state.lock().expect("hub lock");
        let cell = st
            .configs
            .get(&project)
            .map_or(DEFAULT, |c| c.cell.as_str());
        let mut ids: Vec<String> = st
            .workers
            .iter()
            .filter(|(_, w)| w.cell == cell)
            .filter(|(_, w)| w.acked.get(&project).copied().unwrap_or(0) < version)
            .map(|(id, _)| id.clone())
            .collect();
        ids.sort();
        ids
    }

    /// Waits until every live worker applied `version` of `project`, at most `timeout`.
    /// Returns the workers still lagging (empty when all caught up).
    pub async fn wait_applied(
        &self,
        project: Uuid,
        version: u64,
        timeout: Duration,
    ) -> Vec<String> {
        self.wait(timeout, || self.lagging(project, version)).await
    }

    /// Re-checks `lagging` on every ack and (de)registration until it is empty, at most `timeout`.
    async fn wait(&self, timeout: Duration, lagging: impl Fn() -> Vec<String>) -> Vec<String> {
        let mut progress = self.progress.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            progress.borrow_and_update();
            let now = lagging();
            if now.is_empty() {
                return now;
            }
            if tokio::time::timeout_at(deadline, progress.changed())
                .await
                .is_err()
            {
                return lagging();
            }
        }
    }

    /// How many project configs the hub holds.
    pub fn config_count(&self) -> usize {
        self.state.lock().expect("hub lock").configs.len()
    }

    /// The placed workers of the project's cell.
    pub fn workers_of(&self, project: Uuid) -> Vec<Worker> {
        let cell = self
            .state
            .lock()
            .expect("hub lock")
            .project_cells
            .get(&project)
            .cloned()
            .unwrap_or_else(|| DEFAULT.to_owned());
        let table = self.placements.borrow();
        table
            .workers
            .iter()
            .filter(|w| w.cell == cell)
            .cloned()
            .collect()
    }

    /// The placement table, for routers.
    pub fn placements(&self) -> watch::Receiver<Arc<Placements>> {
        self.placements.subscribe()
    }

    /// Resolves when the control plane shuts down; open streams end then.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Ends every open stream.
    pub fn shut_down(&self) {
        self.shutdown.send_replace(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worker(id: &str, addr: &str, cell: &str, serving: bool) -> WatchRequest {
        WatchRequest {
            worker_id: id.into(),
            http_addr: addr.into(),
            cell: cell.into(),
            serving,
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn waits_for_live_workers_only() {
        let hub = Hub::default();
        let p = Uuid::new_v4();
        assert!(hub
            .wait_applied(p, 5, Duration::from_millis(10))
            .await
            .is_empty());
        let conn = hub.register(&worker("w1", "127.0.0.1:1", "default", false));
        assert_eq!(
            hub.wait_applied(p, 5, Duration::from_millis(10)).await,
            vec!["w1".to_string()]
        );
        hub.ack("w1", [(p, 5)]);
        assert!(hub
            .wait_applied(p, 5, Duration::from_millis(10))
            .await
            .is_empty());
        // An older connection's end does not unregister the newer one, which is placed once it
        // acknowledged its snapshot.
        let newer = hub.register(&worker("w1", "127.0.0.1:1", "default", false));
        hub.unregister("w1", conn);
        assert!(hub.placements().borrow().workers.is_empty());
        hub.ack("w1", []);
        assert_eq!(hub.placements().borrow().workers.len(), 1);
        hub.unregister("w1", newer);
        assert!(hub.placements().borrow().workers.is_empty());
    }

    #[test]
    fn shutting_down_keeps_the_last_placement_table() {
        let hub = Hub::default();
        let conn = hub.register(&worker("w1", "127.0.0.1:1", "default", false));
        hub.ack("w1", []);
        hub.shut_down();
        hub.unregister("w1", conn);
        assert_eq!(hub.placements().borrow().workers.len(), 1);
    }

    #[test]
    fn a_worker_is_placed_only_once_it_applied_its_snapshot() {
        let hub = Hub::default();
        hub.register(&worker("w1", "127.0.0.1:1", "default", false));
        assert!(
            hub.placements().borrow().workers.is_empty(),
            "not before its snapshot"
        );
        hub.ack("w1", [(Uuid::new_v4(), 1)]);
        assert_eq!(
            hub.placements().borrow().workers[0].http_addr,
            "127.0.0.1:1"
        );
    }

    #[test]
    fn a_worker_that_reconnects_with_its_configs_stays_placed() {
        let hub = Hub::default();
        hub.register(&worker("w1", "127.0.0.1:1", "default", true));
        assert_eq!(hub.placements().borrow().workers.len(), 1);
    }

    #[test]
    fn keeps_the_newest_config() {
        let hub = Hub::default();
        let p = Uuid::new_v4();
        hub.publish(p, "default", 7, b"new".to_vec());
        hub.publish(p, "default", 6, b"old".to_vec());
        let (_, snap) = hub.subscribe("default");
        assert_eq!(snap[0].config_json, b"new");
    }

    #[tokio::test]
    async fn a_project_on_another_cell_reaches_only_its_workers_and_every_router() {
        let hub = Hub::default();
        hub.register(&worker("a1", "127.0.0.1:1", "default", true));
        hub.register(&worker("b1", "127.0.0.1:2", "b", true));
        let router = hub.register_router("r1");
        let (p, q) = (Uuid::new_v4(), Uuid::new_v4());
        assert_eq!(hub.publish(p, "default", 1, b"p".to_vec()), None);
        let table = hub
            .publish(q, "b", 2, b"q".to_vec())
            .expect("a new project on cell b changes the table");
        assert_eq!(
            hub.subscribe("b").1.len(),
            1,
            "cell b's snapshot holds q only"
        );
        assert_eq!(hub.subscribe("b").1[0].project_id, q.to_string());
        assert_eq!(hub.subscribe("default").1[0].project_id, p.to_string());
        // Only the project's own cell is waited for.
        assert_eq!(hub.lagging(q, 2), vec!["b1".to_string()]);
        assert_eq!(hub.lagging(p, 1), vec!["a1".to_string()]);
        // The table lists q's cell; the creation waits until the router applied it.
        let placed = hub.placements().borrow().clone();
        assert_eq!(placed.version, table);
        assert_eq!(placed.projects[0].cell, "b");
        assert_eq!(
            hub.wait_routers(table, Duration::from_millis(10)).await,
            vec!["router r1".to_string()]
        );
        hub.ack_router("r1", table);
        assert!(hub
            .wait_routers(table, Duration::from_millis(10))
            .await
            .is_empty());
        // A newer config of q does not change the table again.
        assert_eq!(hub.publish(q, "b", 3, b"q2".to_vec()), None);
        // A router whose stream ended still counts for a while: it serves its old table.
        hub.unregister_router("r1", router);
        assert_eq!(
            hub.wait_routers(table + 1, Duration::from_millis(10)).await,
            vec!["router r1".to_string()]
        );
        assert!(hub
            .wait_routers(table, Duration::from_millis(10))
            .await
            .is_empty());
    }
}
