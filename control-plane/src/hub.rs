//! The config hub: the latest compiled config of every project, the live workers (a worker is
//! live while its `Watch` stream is open) and what each has acknowledged. Admin calls that change
//! a config publish here and then wait, bounded, until every live worker applied it.

use proto::config::{ProjectConfig as ConfigItem, Worker};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use uuid::Uuid;

/// A registered worker.
struct WorkerEntry {
    conn: u64,
    http_addr: String,
    cell: String,
    acked: HashMap<Uuid, u64>,
    /// It acknowledged its first snapshot: only then do routers send it requests (before, it
    /// would answer 503 "still loading" to every project).
    ready: bool,
}

#[derive(Default)]
struct State {
    configs: HashMap<Uuid, Arc<ConfigItem>>,
    workers: HashMap<String, WorkerEntry>,
    next_conn: u64,
}

/// Shared between the admin API and the gRPC service.
pub struct Hub {
    state: Mutex<State>,
    changes: broadcast::Sender<Arc<ConfigItem>>,
    /// Bumped on every ack and (de)registration, so waiters re-check.
    progress: watch::Sender<u64>,
    placements: watch::Sender<Vec<Worker>>,
    shutdown: watch::Sender<bool>,
}

impl Default for Hub {
    fn default() -> Self {
        Self {
            state: Mutex::default(),
            changes: broadcast::channel(1024).0,
            progress: watch::channel(0).0,
            placements: watch::channel(Vec::new()).0,
            shutdown: watch::channel(false).0,
        }
    }
}

impl Hub {
    /// Stores a compiled config if it is newer than the one held, and sends it to watchers.
    pub fn publish(&self, project: Uuid, version: u64, config_json: Vec<u8>) {
        let item = Arc::new(ConfigItem {
            project_id: project.to_string(),
            version,
            config_json,
        });
        let mut st = self.state.lock().expect("hub lock");
        if st
            .configs
            .get(&project)
            .is_some_and(|c| c.version >= version)
        {
            return;
        }
        st.configs.insert(project, item.clone());
        // Sent under the lock so the broadcast order matches the map's.
        let _ = self.changes.send(item);
    }

    /// Subscribes to changes, then takes a snapshot (so nothing falls between the two).
    pub fn subscribe(&self) -> (broadcast::Receiver<Arc<ConfigItem>>, Vec<ConfigItem>) {
        let st = self.state.lock().expect("hub lock");
        let rx = self.changes.subscribe();
        let snapshot = st.configs.values().map(|c| (**c).clone()).collect();
        (rx, snapshot)
    }

    /// Registers a worker's open stream; returns the connection number that unregisters it. A
    /// worker that says it is `serving` (it reconnected with its configs) is placed at once;
    /// a starting one once it acknowledged its snapshot.
    pub fn register(&self, id: &str, http_addr: &str, cell: &str, serving: bool) -> u64 {
        let mut st = self.state.lock().expect("hub lock");
        st.next_conn += 1;
        let conn = st.next_conn;
        let entry = WorkerEntry {
            conn,
            http_addr: http_addr.to_owned(),
            cell: cell.to_owned(),
            acked: HashMap::new(),
            ready: serving,
        };
        st.workers.insert(id.to_owned(), entry);
        self.changed(&st);
        conn
    }

    /// Unregisters a worker whose stream `conn` ended (a newer connection of it stays).
    pub fn unregister(&self, id: &str, conn: u64) {
        let mut st = self.state.lock().expect("hub lock");
        if st.workers.get(id).is_some_and(|w| w.conn == conn) {
            st.workers.remove(id);
            self.changed(&st);
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
            self.changed(&st);
        }
        drop(st);
        self.progress.send_modify(|n| *n += 1);
    }

    fn changed(&self, st: &State) {
        let mut workers: Vec<Worker> = st
            .workers
            .iter()
            .filter(|(_, w)| w.ready)
            .map(|(id, w)| Worker {
                id: id.clone(),
                http_addr: w.http_addr.clone(),
                cell: w.cell.clone(),
            })
            .collect();
        workers.sort_by(|a, b| a.id.cmp(&b.id));
        // Workers drop their streams while the control plane shuts down; routers must keep the
        // last table they had rather than learn an empty one.
        if !*self.shutdown.borrow() {
            self.placements.send_replace(workers);
        }
        self.progress.send_modify(|n| *n += 1);
    }

    /// Live workers that have not applied `version` of `project`.
    pub fn lagging(&self, project: Uuid, version: u64) -> Vec<String> {
        let st = self.state.lock().expect("hub lock");
        let mut ids: Vec<String> = st
            .workers
            .iter()
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
        let mut progress = self.progress.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            progress.borrow_and_update();
            let lagging = self.lagging(project, version);
            if lagging.is_empty() {
                return lagging;
            }
            if tokio::time::timeout_at(deadline, progress.changed())
                .await
                .is_err()
            {
                return self.lagging(project, version);
            }
        }
    }

    /// How many project configs the hub holds.
    pub fn config_count(&self) -> usize {
        self.state.lock().expect("hub lock").configs.len()
    }

    /// The placement table, for routers.
    pub fn placements(&self) -> watch::Receiver<Vec<Worker>> {
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

    #[tokio::test]
    async fn waits_for_live_workers_only() {
        let hub = Hub::default();
        let p = Uuid::new_v4();
        assert!(hub
            .wait_applied(p, 5, Duration::from_millis(10))
            .await
            .is_empty());
        let conn = hub.register("w1", "127.0.0.1:1", "default", false);
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
        let newer = hub.register("w1", "127.0.0.1:1", "default", false);
        hub.unregister("w1", conn);
        assert!(hub.placements().borrow().is_empty());
        hub.ack("w1", []);
        assert_eq!(hub.placements().borrow().len(), 1);
        hub.unregister("w1", newer);
        assert!(hub.placements().borrow().is_empty());
    }

    #[test]
    fn shutting_down_keeps_the_last_placement_table() {
        let hub = Hub::default();
        let conn = hub.register("w1", "127.0.0.1:1", "default", false);
        hub.ack("w1", []);
        hub.shut_down();
        hub.unregister("w1", conn);
        assert_eq!(hub.placements().borrow().len(), 1);
    }

    #[test]
    fn a_worker_is_placed_only_once_it_applied_its_snapshot() {
        let hub = Hub::default();
        hub.register("w1", "127.0.0.1:1", "default", false);
        assert!(
            hub.placements().borrow().is_empty(),
            "not before its snapshot"
        );
        hub.ack("w1", [(Uuid::new_v4(), 1)]);
        assert_eq!(hub.placements().borrow()[0].http_addr, "127.0.0.1:1");
    }

    #[test]
    fn a_worker_that_reconnects_with_its_configs_stays_placed() {
        let hub = Hub::default();
        hub.register("w1", "127.0.0.1:1", "default", true);
        assert_eq!(hub.placements().borrow().len(), 1);
    }

    #[test]
    fn keeps_the_newest_config() {
        let hub = Hub::default();
        let p = Uuid::new_v4();
        hub.publish(p, 7, b"new".to_vec());
        hub.publish(p, 6, b"old".to_vec());
        let (_, snap) = hub.subscribe();
        assert_eq!(snap[0].config_json, b"new");
    }
}
