//! Webhook deliveries: the outbox consumer of every worker.
//!
//! A change and its delivery rows commit in one transaction in the project's schema
//! ([`store::enqueue`]). After commit, any worker may deliver them:
//!
//! - **Wake-up.** The worker that committed wakes its own dispatcher at once and tells the others
//!   through `NOTIFY backendify_outbox, '<project id>'`, sent by a separate task from its own
//!   connection in batches, never inside the write's transaction (a `NOTIFY` there takes a
//!   database-wide lock at commit and would serialise every write). Every worker `LISTEN`s.
//! - **Fresh deliveries.** The worker that committed a write sends its deliveries itself: the
//!   write's statement inserted them under ids the worker made ([`crate::events::Change`]), so
//!   one claim by primary key takes all that gathered in a couple of milliseconds
//!   ([`store::claim_ids`]), without walking the due index. That index starts with the dead
//!   entries of rows delivered since the last vacuum, which a busy webhook leaves by the
//!   thousand; walking them made claims cost more as the backlog churned. The index is walked
//!   only for retries and for deliveries whose worker died (by the sweep, or when told).
//! - **Claim.** A short transaction claims due rows (`FOR UPDATE SKIP LOCKED`), counts the
//!   attempt and leases them for the attempt's time limit plus [`LEASE_MARGIN`]; the POST happens outside any transaction,
//!   then a second short transaction records the outcome. A worker that dies mid-send leaves a
//!   lease that runs out, and another worker sends again: deliveries are at least once, with the
//!   same `webhook-id`.
//! - **Retries** follow the configured schedule (exponential by default, with ±10 % jitter), or a
//!   receiver's `Retry-After` when it asks for longer. A 410 turns the webhook off, and so do
//!   [`DISABLE_AFTER`] deliveries in a row that failed for good.
//! - **Fairness.** At most [`PER_WEBHOOK`] deliveries of one webhook are in flight at once, out of
//!   [`IN_FLIGHT`] per worker, so a stalled receiver cannot hold up the others.
//! - **Batches.** A claim takes up to `CLAIM_BATCH` rows; delivered attempts (the common case) are
//!   recorded together, one statement per project every few milliseconds.
//! - **When idle** nothing is polled but one project a second, round robin (a safety net for a
//!   missed notification or a retry scheduled by a worker that died).
//! - **Workflow runs** are claimed on the same wake-ups ([`crate::workflow`]).
//! - **The audit chain** is sealed on the same wake-ups: looking at a project first seals its
//!   newly committed audit events ([`crate::audit::chain`]), at most every [`SEAL_EVERY`]. A
//!   seal that placed events wakes this worker's realtime feed of the project and, through
//!   `NOTIFY backendify_sealed` from the announcer, the other workers' ([`crate::realtime`]).

pub mod send;
pub mod store;

use crate::audit::chain::Sealed;
use crate::db::{self, Pool};
use crate::registry::{Project, Registry};
use chrono::{DateTime, Utc};
use send::{Sender, Verdict};
use sqlx::postgres::PgListener;
use sqlx::{Connection, PgConnection};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use store::{Claimed, Outcome};
use tokio::sync::{watch, Notify, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn};
use uuid::Uuid;

/// The channel workers wake each other on; the payload is a project id.
pub const CHANNEL: &str = "backendify_outbox";
/// The channel a worker tells the others on that it sealed new audit events of a project (the
/// payload): their realtime feeds read them ([`crate::realtime`]).
pub const SEALED_CHANNEL: &str = "backendify_sealed";
/// Deliveries one worker sends at once.
pub const IN_FLIGHT: usize = 256;
/// Deliveries of one webhook in flight at once, per worker.
pub const PER_WEBHOOK: usize = 64;
/// Most deliveries one claim takes.
const CLAIM_BATCH: usize = 128;
/// How long a delivered attempt may wait to be recorded together with others.
const RECORD_EVERY: Duration = Duration::from_millis(5);
/// Fresh deliveries (committed here, not yet sent) a worker keeps in memory at most; past it,
/// they are claimed from the table like any due delivery.
const MAX_FRESH: usize = 65_536;
/// How long fresh deliveries gather before one claim takes them.
const FRESH_EVERY: Duration = Duration::from_millis(2);
/// Deliveries in a row that failed for good before a webhook is turned off.
pub const DISABLE_AFTER: i32 = 20;
/// How much longer than an attempt's time limit a claimed delivery stays reserved.
pub const LEASE_MARGIN: Duration = Duration::from_secs(5);
/// How long a delivery of a webhook this worker does not know yet waits.
const POSTPONE: Duration = Duration::from_secs(30);
/// How often the idle sweep looks at one more project.
const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// How often a project's new audit events are sealed at most (wake-ups come with every commit;
/// sealing a few events each time would cost far more than sealing them together). Realtime
/// events leave when sealed, so this is most of their delay.
const SEAL_EVERY: Duration = Duration::from_millis(50);

/// The default retry schedule: the delay before each attempt.
pub const DEFAULT_SCHEDULE: &str = "0s,5s,5m,30m,2h,5h,10h";

/// Parses a retry schedule: comma-separated delays before each attempt, each a number and a unit
/// (`ms`, `s`, `m`, `h`, `d`), e.g. `0s,5s,5m`. The first is the first attempt's (usually 0).
pub fn parse_schedule(spec: &str) -> Result<Vec<Duration>, String> {
    let items: Vec<&str> = spec.split(',').map(str::trim).collect();
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let split = item
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(item.len());
        let (n, unit) = item.split_at(split);
        let n: u64 = n
            .parse()
            .map_err(|_| format!("`{item}` is not a delay such as 5s, 5m or 2h"))?;
        let ms = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(format!("`{item}` has no unit (ms, s, m, h or d)")),
        };
        out.push(Duration::from_millis(n.saturating_mul(ms)));
    }
    Ok(out)
}

/// The delivery engine of one worker.
pub struct Engine {
    db: Pool,
    registry: Arc<Registry>,
    sender: Sender,
    schedule: Vec<Duration>,
    /// When each project should next be looked at.
    due: Mutex<HashMap<Uuid, Instant>>,
    wake: Notify,
    /// Projects whose commits the other workers have not been told of yet.
    unannounced: Mutex<HashSet<Uuid>>,
    /// Deliveries committed here and not yet sent: `(project, webhook, delivery)`.
    fresh: Mutex<Vec<(Uuid, Uuid, Uuid)>>,
    fresh_now: Notify,
    /// Projects whose new sealed events the other workers have not been told of yet.
    unannounced_seals: Mutex<HashSet<Uuid>>,
    /// This worker's realtime streams.
    realtime: Arc<crate::realtime::Hub>,
    announce: Notify,
    in_flight: Arc<Semaphore>,
    per_webhook: Mutex<HashMap<Uuid, usize>>,
    /// How often a project's old audit events are purged, and when each last was.
    purge_every: Duration,
    purged: Mutex<HashMap<Uuid, Instant>>,
    /// Delivered attempts not yet recorded, by project (written in batches by the recorder).
    delivered: Mutex<HashMap<Uuid, Vec<store::Delivered>>>,
    record_now: Notify,
    /// The worker's state, for the workflow runs each wake-up also looks at.
    state: std::sync::OnceLock<std::sync::Weak<crate::Inner>>,
    /// When each project's audit events were last sealed.
    sealed: Mutex<HashMap<Uuid, Instant>>,
    /// The backend pid of the announcer's connection: the listener ignores this worker's own
    /// notifications (it already woke itself).
    announcer_pid: std::sync::atomic::AtomicU32,
}

/// What the outbox consumer is set up with (from the worker's configuration).
pub struct Settings {
    /// Sends deliveries.
    pub sender: Sender,
    /// Delays before each attempt.
    pub schedule: Vec<Duration>,
    /// How often each project's audit retention is applied.
    pub purge_every: Duration,
}

impl Engine {
    /// An engine over the worker's pool and registry.
    pub fn new(
        db: Pool,
        registry: Arc<Registry>,
        settings: Settings,
        realtime: Arc<crate::realtime::Hub>,
    ) -> Self {
        Self {
            realtime,
            unannounced_seals: Mutex::default(),
            fresh: Mutex::default(),
            fresh_now: Notify::new(),
            db,
            registry,
            sender: settings.sender,
            schedule: settings.schedule,
            purge_every: settings.purge_every,
            purged: Mutex::default(),
            delivered: Mutex::default(),
            record_now: Notify::new(),
            due: Mutex::default(),
            wake: Notify::new(),
            unannounced: Mutex::default(),
            announce: Notify::new(),
            in_flight: Arc::new(Semaphore::new(IN_FLIGHT)),
            per_webhook: Mutex::default(),
            state: std::sync::OnceLock::new(),
            sealed: Mutex::default(),
            announcer_pid: std::sync::atomic::AtomicU32::new(0),
        }
    }

    /// Gives the engine the worker's state (once, when the state is made).
    pub fn attach(&self, state: std::sync::Weak<crate::Inner>) {
        let _ = self.state.set(state);
    }

    /// After a commit that queued deliveries of `project`: deliver them now, and tell the other
    /// workers.
    pub fn committed(&self, project: Uuid) {
        self.due_at(project, Instant::now());
        self.unannounced.lock().expect("lock").insert(project);
        self.announce.notify_one();
    }

    /// After a commit here that queued these deliveries (`(webhook, delivery)`): this worker sends
    /// them at once, claimed by id; no other worker needs telling (should this one die first,
    /// they are due in the table, where any worker finds them).
    pub fn fresh(&self, project: Uuid, deliveries: Vec<(Uuid, Uuid)>) {
        let mut fresh = self.fresh.lock().expect("lock");
        if fresh.len() + deliveries.len() > MAX_FRESH {
            drop(fresh);
            self.due_at(project, Instant::now());
            return;
        }
        fresh.extend(deliveries.into_iter().map(|(h, d)| (project, h, d)));
        drop(fresh);
        self.fresh_now.notify_one();
    }

    /// After a commit that wrote audit events but queued no delivery: seal them soon (no other
    /// worker needs telling).
    pub fn seal_soon(&self, project: Uuid) {
        self.due_at(project, Instant::now() + SEAL_EVERY);
    }

    /// Tells the other workers that new audit events of `project` were sealed here (their
    /// realtime feeds read them).
    pub fn announce_sealed(&self, project: Uuid) {
        self.unannounced_seals.lock().expect("lock").insert(project);
        self.announce.notify_one();
    }

    /// Looks at `project` no later than `at`.
    pub fn due_at(&self, project: Uuid, at: Instant) {
        let mut due = self.due.lock().expect("lock");
        let slot = due.entry(project).or_insert(at);
        if at < *slot {
            *slot = at;
        }
        drop(due);
        self.wake.notify_one();
    }

    /// Starts the dispatcher, the announcer and the listener; they end when `stop` turns true.
    pub fn spawn(
        self: &Arc<Self>,
        database_url: &str,
        stop: watch::Receiver<bool>,
    ) -> Vec<JoinHandle<()>> {
        vec![
            tokio::spawn(self.clone().dispatch(stop.clone())),
            tokio::spawn(
                self.clone()
                    .announcer(database_url.to_owned(), stop.clone()),
            ),
            tokio::spawn(self.clone().recorder(stop.clone())),
            tokio::spawn(self.clone().fresh_sender(stop.clone())),
            tokio::spawn(self.clone().listener(database_url.to_owned(), stop)),
        ]
    }

    async fn dispatch(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut sweep_at = Instant::now() + SWEEP_EVERY;
        let mut sweep_pos = 0usize;
        loop {
            let now = Instant::now();
            if now >= sweep_at {
                self.sweep_one(&mut sweep_pos);
                sweep_at = now + SWEEP_EVERY;
            }
            let ready: Vec<Uuid> = {
                let mut due = self.due.lock().expect("lock");
                let ready: Vec<Uuid> = due
                    .iter()
                    .filter(|(_, t)| **t <= now)
                    .map(|(p, _)| *p)
                    .collect();
                for p in &ready {
                    due.remove(p);
                }
                ready
            };
            for p in ready {
                self.look_at(p).await;
            }
            let next = {
                let due = self.due.lock().expect("lock");
                due.values()
                    .min()
                    .copied()
                    .unwrap_or(sweep_at)
                    .min(sweep_at)
            };
            tokio::select! {
                _ = tokio::time::sleep_until(next) => {}
                _ = self.wake.notified() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }

    /// Marks the next project (round robin) as due.
    fn sweep_one(&self, pos: &mut usize) {
        let all = self.registry.snapshot();
        let mut ids: Vec<Uuid> = all.keys().copied().collect();
        if ids.is_empty() {
            return;
        }
        ids.sort_unstable();
        *pos = (*pos + 1) % ids.len();
        self.due_at(ids[*pos], Instant::now());
    }

    /// Seals the project's new audit events, then claims its due deliveries and starts sending
    /// them.
    async fn look_at(self: &Arc<Self>, project_id: Uuid) {
        let Some(project) = self.registry.get(&project_id) else {
            return;
        };
        let seal_wait = {
            let mut sealed = self.sealed.lock().expect("lock");
            let now = Instant::now();
            match sealed.get(&project_id) {
                Some(last) if now.duration_since(*last) < SEAL_EVERY => Some(*last + SEAL_EVERY),
                _ => {
                    sealed.insert(project_id, now);
                    None
                }
            }
        };
        match seal_wait {
            // Sealed a moment ago: the events committed since are sealed together, soon.
            Some(at) => self.due_at(project_id, at),
            None => match crate::audit::chain::seal(&self.db, &project).await {
                Ok(Sealed::Events(0)) => {}
                Ok(Sealed::Events(n)) => {
                    if n as i64 == crate::audit::chain::BATCH {
                        self.sealed.lock().expect("lock").remove(&project_id);
                        self.due_at(project_id, Instant::now());
                    }
                    self.realtime.sealed(project_id);
                    self.announce_sealed(project_id);
                }
                // Another worker is sealing: what it did not see is sealed here shortly.
                Ok(Sealed::Busy) => self.due_at(project_id, Instant::now() + SEAL_EVERY),
                Err(e) => warn!(project.id = %project_id, "could not seal audit events: {e}"),
            },
        }
        self.purge_if_due(&project).await;
        if !project.config.workflows.is_empty() {
            if let Some(st) = self.state.get().and_then(std::sync::Weak::upgrade) {
                crate::workflow::Runner::look_at(&crate::AppState(st), &project).await;
            }
        }
        if project.config.webhooks.is_empty() {
            return;
        }
        let free = self.in_flight.available_permits();
        if free == 0 {
            // Every slot is busy: a finishing delivery wakes the dispatcher again.
            self.due_at(project_id, Instant::now() + Duration::from_millis(200));
            return;
        }
        // Each webhook of the project may take what its in-flight limit leaves; those with more
        // than half of it in flight are left out until half is back.
        // The room is reserved before the claim (fresh deliveries are claimed meanwhile), and
        // what the claim did not fill is given back after it.
        let room: Vec<(Uuid, i32)> = {
            let mut per = self.per_webhook.lock().expect("lock");
            let room: Vec<(Uuid, i32)> = project
                .config
                .webhooks
                .iter()
                .map(|w| {
                    (
                        w.id,
                        PER_WEBHOOK - per.get(&w.id).copied().unwrap_or(0).min(PER_WEBHOOK),
                    )
                })
                // A webhook with more than half its limit in flight waits to claim a batch.
                .filter(|(_, left)| *left >= PER_WEBHOOK / 2)
                .map(|(w, left)| (w, left as i32))
                .collect();
            for (w, left) in &room {
                *per.entry(*w).or_default() += *left as usize;
            }
            room
        };
        if room.is_empty() {
            // Every webhook is busy: a finishing delivery wakes the dispatcher again.
            return;
        }
        let claimed = async {
            let mut tx = db::begin_relaxed(&self.db, &project).await?;
            let lease = self.sender.timeout() + LEASE_MARGIN;
            let limit = free.min(CLAIM_BATCH) as i64;
            let out = store::claim(&mut tx, limit, &room, lease).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(out)
        }
        .await;
        let reserved: Vec<(Uuid, usize)> = room.iter().map(|(w, n)| (*w, *n as usize)).collect();
        let (claimed, next) = match claimed {
            Ok(c) => c,
            Err(e) => {
                self.unreserve(&reserved, &[]);
                warn!(project.id = %project_id, "could not claim webhook deliveries: {e}");
                self.due_at(project_id, Instant::now() + Duration::from_secs(5));
                return;
            }
        };
        if let Some(next) = next {
            self.due_at(project_id, instant_of(next));
        }
        self.unreserve(&reserved, &claimed);
        self.start(&project, claimed);
    }

    /// Gives back the reserved in-flight slots (per webhook) that these claimed deliveries do
    /// not take.
    fn unreserve(&self, reserved: &[(Uuid, usize)], claimed: &[Claimed]) {
        let mut per = self.per_webhook.lock().expect("lock");
        for (hook, n) in reserved {
            let used = claimed.iter().filter(|d| d.webhook_id == *hook).count();
            let back = n.saturating_sub(used);
            if let Some(count) = per.get_mut(hook) {
                *count = count.saturating_sub(back);
                if *count == 0 {
                    per.remove(hook);
                }
            }
        }
    }

    /// Starts sending claimed deliveries, each in its own task. Their webhooks' in-flight slots
    /// were reserved before the claim.
    fn start(self: &Arc<Self>, project: &Arc<Project>, claimed: Vec<Claimed>) {
        for d in claimed {
            let Ok(permit) = self.in_flight.clone().try_acquire_owned() else {
                // The worker's limit was checked before the claim but another claim came first:
                // the delivery's lease brings it back; its slot is given back now.
                self.unreserve(&[(d.webhook_id, 1)], &[]);
                continue;
            };
            let engine = self.clone();
            let project = project.clone();
            tokio::spawn(async move {
                let hook = d.webhook_id;
                engine.deliver(&project, d).await;
                drop(permit);
                let mut per = engine.per_webhook.lock().expect("lock");
                let left = match per.get_mut(&hook) {
                    Some(n) => {
                        *n -= 1;
                        *n
                    }
                    None => 0,
                };
                if left == 0 {
                    per.remove(&hook);
                }
                drop(per);
                // Fresh deliveries held back by the limits may go now.
                engine.fresh_now.notify_one();
                // Its webhook has room for a claim again (half its limit, or idle): look at the
                // project for more due deliveries. Claims come in batches, not one per delivery.
                if left == PER_WEBHOOK / 2 || left == 0 {
                    engine.due_at(project.config.project_id, Instant::now());
                }
            });
        }
    }

    /// Sends the deliveries committed here as soon as the limits allow: one claim by id per
    /// project for all that gathered in [`FRESH_EVERY`], then each in its own task.
    async fn fresh_sender(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = self.fresh_now.notified() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            tokio::time::sleep(FRESH_EVERY).await;
            // What the limits let go now, by project; the rest waits for a finishing delivery.
            let mut by_project: HashMap<Uuid, Vec<(Uuid, Uuid)>> = HashMap::new();
            {
                let mut fresh = self.fresh.lock().expect("lock");
                if fresh.is_empty() {
                    continue;
                }
                // Slots are reserved here, under the same lock the limits are read with.
                let mut per = self.per_webhook.lock().expect("lock");
                let mut free = self.in_flight.available_permits();
                fresh.retain(|(project, hook, id)| {
                    let busy = per.get(hook).copied().unwrap_or(0);
                    if free == 0 || busy >= PER_WEBHOOK {
                        return true;
                    }
                    free -= 1;
                    *per.entry(*hook).or_default() += 1;
                    by_project.entry(*project).or_default().push((*hook, *id));
                    false
                });
            }
            for (pid, taken) in by_project {
                let mut reserved: HashMap<Uuid, usize> = HashMap::new();
                for (hook, _) in &taken {
                    *reserved.entry(*hook).or_default() += 1;
                }
                let reserved: Vec<(Uuid, usize)> = reserved.into_iter().collect();
                let ids: Vec<Uuid> = taken.iter().map(|(_, id)| *id).collect();
                let Some(project) = self.registry.get(&pid) else {
                    self.unreserve(&reserved, &[]);
                    continue;
                };
                let claimed = async {
                    let mut tx = db::begin_relaxed(&self.db, &project).await?;
                    let out = store::claim_ids(&mut tx, &ids, self.sender.timeout() + LEASE_MARGIN)
                        .await?;
                    tx.commit().await?;
                    Ok::<_, sqlx::Error>(out)
                }
                .await;
                match claimed {
                    Ok(claimed) => {
                        // Rolled back or taken elsewhere: not sent from here.
                        self.unreserve(&reserved, &claimed);
                        self.start(&project, claimed);
                    }
                    Err(e) => {
                        self.unreserve(&reserved, &[]);
                        // They are due in the table: the next look finds them.
                        warn!(project.id = %pid, "could not claim fresh webhook deliveries: {e}");
                        self.due_at(pid, Instant::now() + Duration::from_secs(1));
                    }
                }
            }
        }
    }

    /// Applies the project's audit retention, at most once per `purge_every`.
    async fn purge_if_due(&self, project: &Project) {
        let pid = project.config.project_id;
        {
            let mut purged = self.purged.lock().expect("lock");
            let last = purged
                .entry(pid)
                .or_insert_with(|| Instant::now() - self.purge_every);
            if last.elapsed() < self.purge_every {
                return;
            }
            *last = Instant::now();
        }
        let days = project.config.auth.settings.audit_retention_days;
        match crate::audit::chain::purge(&self.db, project, days).await {
            Ok(0) => {}
            Ok(n) => info!(project.id = %pid, "purged {n} audit events older than {days} days"),
            Err(e) => warn!(project.id = %pid, "could not purge old audit events: {e}"),
        }
    }

    /// Sends one claimed delivery and records what happened.
    async fn deliver(&self, project: &Arc<Project>, d: Claimed) {
        // The newest config: the webhook may have changed or gone since the claim.
        let project = self
            .registry
            .get(&project.config.project_id)
            .unwrap_or_else(|| project.clone());
        let hook = project
            .config
            .webhooks
            .iter()
            .find(|w| w.id == d.webhook_id)
            .cloned();
        let result = match hook {
            // Not in this worker's config (yet): a deleted webhook's rows are removed by the
            // control plane, so this one is kept for a worker that knows it.
            None => self.postpone(&project, &d).await,
            Some(_) if d.disabled => {
                let why = "the webhook was turned off by the platform; turn it on again to resume";
                self.abandon(&project, &d, why).await
            }
            Some(h) if !h.is_active && d.event_type != "webhook.test" => {
                self.abandon(&project, &d, "the webhook is inactive").await
            }
            Some(h) => {
                let id = d.id.to_string();
                let verdict = self.sender.send(&h, &id, &d.event_type, &d.payload).await;
                self.record(&project, &d, verdict).await
            }
        };
        if let Err(e) = result {
            // The lease runs out and the delivery is sent again.
            warn!(project.id = %project.config.project_id, webhook.id = %d.webhook_id, delivery.id = %d.id, "could not record a webhook delivery: {e}");
        }
    }

    async fn abandon(&self, project: &Project, d: &Claimed, why: &str) -> Result<(), sqlx::Error> {
        let mut tx = db::begin_relaxed(&self.db, project).await?;
        store::abandon(&mut tx, d, why).await?;
        tx.commit().await
    }

    async fn postpone(&self, project: &Project, d: &Claimed) -> Result<(), sqlx::Error> {
        debug!(project.id = %project.config.project_id, webhook.id = %d.webhook_id, "delivery of a webhook this worker does not know yet: later");
        let mut tx = db::begin_relaxed(&self.db, project).await?;
        store::postpone(&mut tx, d, POSTPONE).await?;
        tx.commit().await
    }

    async fn record(
        &self,
        project: &Project,
        d: &Claimed,
        verdict: Verdict,
    ) -> Result<(), sqlx::Error> {
        let pid = project.config.project_id;
        let mut disable = None;
        let outcome = match verdict {
            Verdict::Delivered { status, body } => {
                // The common case is recorded in batches (the lease keeps it from being sent
                // again meanwhile).
                let done = store::Delivered {
                    id: d.id,
                    webhook_id: d.webhook_id,
                    status,
                    body,
                    at: Utc::now(),
                };
                self.delivered
                    .lock()
                    .expect("lock")
                    .entry(pid)
                    .or_default()
                    .push(done);
                self.record_now.notify_one();
                crate::metrics::outcome(&crate::metrics::get().deliveries, "delivered");
                return Ok(());
            }
            Verdict::Gone { body } => {
                disable = Some("the receiver answered 410 Gone".to_owned());
                Outcome::Failed {
                    status: Some(410),
                    body: Some(body),
                    error: "the receiver answered 410 Gone: the webhook was turned off".into(),
                    retry_at: None,
                }
            }
            Verdict::Failed {
                status,
                body,
                error,
                retry_after,
            } => Outcome::Failed {
                status,
                body,
                retry_at: self.retry_at(d.attempts, retry_after),
                error,
            },
        };
        let kind = match (&disable, &outcome) {
            (Some(_), _) => "gone",
            (
                None,
                Outcome::Failed {
                    retry_at: Some(_), ..
                },
            ) => "retrying",
            _ => "failed",
        };
        crate::metrics::outcome(&crate::metrics::get().deliveries, kind);
        let mut tx = db::begin_relaxed(&self.db, project).await?;
        let failures = store::finish(&mut tx, d, &outcome).await?;
        if disable.is_none() && failures >= DISABLE_AFTER {
            disable = Some(format!("{failures} deliveries in a row failed"));
        }
        if let Some(reason) = &disable {
            store::disable(&mut tx, d.webhook_id, reason).await?;
        }
        tx.commit().await?;
        match &outcome {
            Outcome::Delivered { status, .. } => {
                debug!(project.id = %pid, webhook.id = %d.webhook_id, delivery.id = %d.id, "delivered ({status})");
            }
            Outcome::Failed {
                error, retry_at, ..
            } => {
                info!(project.id = %pid, webhook.id = %d.webhook_id, delivery.id = %d.id, attempt = d.attempts, "webhook delivery failed: {error}{}", if retry_at.is_some() { "; will retry" } else { "" });
                if let Some(at) = retry_at {
                    self.due_at(pid, instant_of(*at));
                }
            }
        }
        if let Some(reason) = disable {
            warn!(project.id = %pid, webhook.id = %d.webhook_id, "turned webhook {} off: {reason}", d.webhook_id);
        }
        Ok(())
    }

    /// Records delivered attempts in batches, one statement per project. A batch that cannot be
    /// recorded is sent again when its leases end (at least once).
    async fn recorder(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = self.record_now.notified() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            tokio::time::sleep(RECORD_EVERY).await;
            let batches: Vec<(Uuid, Vec<store::Delivered>)> =
                self.delivered.lock().expect("lock").drain().collect();
            for (pid, done) in batches {
                let Some(project) = self.registry.get(&pid) else {
                    continue;
                };
                let recorded = async {
                    let mut tx = db::begin_relaxed(&self.db, &project).await?;
                    store::finish_delivered(&mut tx, &done).await?;
                    tx.commit().await
                }
                .await;
                match recorded {
                    Ok(()) => debug!(project.id = %pid, "recorded {} deliveries", done.len()),
                    Err(e) => {
                        warn!(project.id = %pid, "could not record {} deliveries (they will be sent again): {e}", done.len())
                    }
                }
            }
        }
    }

    /// When attempt `attempts + 1` is due, or `None` when the schedule is used up.
    fn retry_at(&self, attempts: i32, retry_after: Option<Duration>) -> Option<DateTime<Utc>> {
        let base = *self.schedule.get(usize::try_from(attempts).ok()?)?;
        let jittered = base.mul_f64(1.0 + (rand::random::<f64>() - 0.5) * 0.2);
        let wait = retry_after.map_or(jittered, |r| {
            r.min(Duration::from_secs(86_400)).max(jittered)
        });
        Some(Utc::now() + chrono::Duration::from_std(wait).ok()?)
    }

    /// Tells the other workers of commits, in batches, from a connection of its own.
    async fn announcer(self: Arc<Self>, url: String, mut stop: watch::Receiver<bool>) {
        let mut conn: Option<PgConnection> = None;
        loop {
            tokio::select! {
                _ = self.announce.notified() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            let mut channels: Vec<&str> = Vec::new();
            let mut batch: Vec<String> = Vec::new();
            for (set, channel) in [
                (&self.unannounced, CHANNEL),
                (&self.unannounced_seals, SEALED_CHANNEL),
            ] {
                for p in set.lock().expect("lock").drain() {
                    channels.push(channel);
                    batch.push(p.to_string());
                }
            }
            if batch.is_empty() {
                continue;
            }
            if conn.is_none() {
                conn = PgConnection::connect(&url)
                    .await
                    .map_err(|e| warn!("outbox notifier cannot connect: {e}"))
                    .ok();
            }
            let Some(c) = conn.as_mut() else { continue };
            if self
                .announcer_pid
                .load(std::sync::atomic::Ordering::Relaxed)
                == 0
            {
                if let Ok(pid) = sqlx::query_scalar::<_, i32>("SELECT pg_backend_pid()")
                    .fetch_one(&mut *c)
                    .await
                {
                    self.announcer_pid
                        .store(pid as u32, std::sync::atomic::Ordering::Relaxed);
                }
            }
            let sent = sqlx::query(
                "SELECT pg_notify(c, p) FROM unnest($1::text[], $2::text[]) AS x(c, p)",
            )
            .bind(&channels)
            .bind(&batch)
            .execute(c)
            .await;
            if let Err(e) = sent {
                // The lost wake-ups are caught by the other workers' sweep.
                warn!("could not notify other workers of new webhook deliveries: {e}");
                conn = None;
                self.announcer_pid
                    .store(0, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }

    /// Wakes the dispatcher on other workers' commits; after a lost connection, looks at every
    /// project with webhooks (notifications may have been missed meanwhile).
    async fn listener(self: Arc<Self>, url: String, mut stop: watch::Receiver<bool>) {
        let mut backoff = Duration::from_millis(200);
        loop {
            let listener = async {
                let mut l = PgListener::connect(&url).await?;
                l.listen_all([CHANNEL, SEALED_CHANNEL]).await?;
                Ok::<_, sqlx::Error>(l)
            };
            let connected = tokio::select! {
                l = listener => l,
                _ = stop.wait_for(|s| *s) => return,
            };
            let mut l = match connected {
                Ok(l) => l,
                Err(e) => {
                    warn!("outbox listener cannot connect (retrying in {backoff:?}): {e}");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = stop.wait_for(|s| *s) => return,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                    continue;
                }
            };
            backoff = Duration::from_millis(200);
            self.look_at_all();
            loop {
                let next = tokio::select! {
                    n = l.try_recv() => n,
                    _ = stop.wait_for(|s| *s) => return,
                };
                match next {
                    Ok(Some(n))
                        if n.process_id()
                            == self
                                .announcer_pid
                                .load(std::sync::atomic::Ordering::Relaxed) => {}
                    Ok(Some(n)) => {
                        if let Ok(p) = Uuid::parse_str(n.payload()) {
                            if n.channel() == SEALED_CHANNEL {
                                self.realtime.sealed(p);
                            } else {
                                self.due_at(p, Instant::now());
                            }
                        }
                    }
                    // Reconnected: anything may have been missed.
                    Ok(None) => self.look_at_all(),
                    Err(e) => {
                        warn!("outbox listener lost its connection: {e}");
                        break;
                    }
                }
            }
        }
    }

    fn look_at_all(&self) {
        for p in self.realtime.projects() {
            self.realtime.sealed(p);
        }
        let now = Instant::now();
        for p in self.registry.snapshot().values() {
            self.due_at(p.config.project_id, now);
        }
    }
}

/// The tokio instant of a database time (now, if it is past).
pub(crate) fn instant_of(at: DateTime<Utc>) -> Instant {
    let wait = (at - Utc::now()).to_std().unwrap_or_default();
    Instant::now() + wait
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_retry_schedules() {
        let s = parse_schedule(DEFAULT_SCHEDULE).unwrap();
        assert_eq!(s.len(), 7);
        assert_eq!(s[0], Duration::ZERO);
        assert_eq!(s[2], Duration::from_secs(300));
        assert_eq!(s[6], Duration::from_secs(36_000));
        assert_eq!(
            parse_schedule("0s, 200ms").unwrap()[1],
            Duration::from_millis(200)
        );
        assert!(parse_schedule("5").is_err());
        assert!(parse_schedule("5x").is_err());
        assert!(parse_schedule("").is_err());
    }
}
