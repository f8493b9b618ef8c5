//! Workflow runs (`spec/workflows.md`), durable, from the project's outbox.
//!
//! - **Start.** A record write inserts one pending run per workflow it starts, in the write's
//!   own statement ([`crate::events`]); a schedule's due time inserts one run, claimed exactly once
//!   across workers ([`scheduler`]); `POST …/workflows/{id}/run` inserts one.
//! - **Claim.** The outbox consumer's wake-ups ([`crate::webhook::Engine`]) call [`Runner::look_at`],
//!   which claims due runs (`FOR UPDATE SKIP LOCKED`) and leases them. A trigger's condition is
//!   judged on the row in memory; a run whose condition does not hold is discarded.
//! - **Steps** run one after another on the claiming worker ([`step`]). Each step's end is
//!   recorded with the run's next step in one statement; a record step's write commits in that
//!   same transaction, so it is never applied twice. A step with side effects outside the
//!   database (`http_request`, `send_email`) is recorded as started first and renews the lease
//!   for its time limit: a worker that dies mid-step leaves a lease that runs out, and another
//!   worker runs that step again (the HTTP request carries the same `Idempotency-Key`).
//! - **Waits** (`delay`, an HTTP retry's back-off) park the run in the database with its due
//!   time; any worker resumes it. A delay does not count against the run's time limit.
//! - **Yielding.** Runs are background work: while the worker answers more than
//!   [`BUSY_REQUESTS`] requests at once, at most [`BUSY_SLOTS`] runs execute (otherwise up to
//!   `WORKFLOW_RUNS_IN_FLIGHT`), so a burst of writes is not slowed by the runs it starts.
//! - **Limits.** A run has a time limit (`WORKFLOW_RUN_TIME_LIMIT_SECS`) and runs at most
//!   [`MAX_STEPS`] steps; writes made by workflow steps start workflows at most
//!   [`model::workflows::MAX_DEPTH`] levels deep.

pub mod step;
pub mod store;

use crate::db;
use crate::outbound::Egress;
use crate::registry::Project;
use crate::AppState;
use chrono::{DateTime, Utc};
use model::workflows::condition::Condition;
use model::workflows::{Trigger, WorkflowConfig, MAX_STEPS};
use serde_json::{json, Map, Value};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use store::Claimed;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tracing::{debug, info, warn};
use uuid::Uuid;

/// Most runs one claim takes.
const CLAIM_BATCH: usize = 32;
/// A claimed run's lease between steps (a step with side effects extends it for its time limit).
pub const LEASE: Duration = Duration::from_secs(30);
/// How much longer than a step's time limit its run stays leased.
pub const LEASE_MARGIN: Duration = Duration::from_secs(5);
/// How long a run of a workflow this worker does not know yet waits.
const POSTPONE: Duration = Duration::from_secs(30);
/// Requests answered at once above which the worker counts as busy.
const BUSY_REQUESTS: usize = 3;
/// Runs executed at once while the worker is busy.
const BUSY_SLOTS: usize = 2;
/// How often schedules are looked at.
const SCHEDULE_EVERY: Duration = Duration::from_secs(1);

/// The workflow side of one worker.
pub struct Runner {
    slots: Arc<Semaphore>,
    /// Sends `http_request` steps (every connection through the egress allow-list).
    client: reqwest::Client,
    egress: Egress,
    /// A run's time limit, delays excluded.
    time_limit: Duration,
    /// Projects whose last claim was full, or that waited for free slots: a finishing run looks
    /// at them again.
    more: Mutex<HashSet<Uuid>>,
    /// Runs executed at once.
    in_flight: usize,
}

/// What the runner is set up with.
pub struct Settings {
    /// The egress allow-list of `http_request` steps.
    pub egress: Egress,
    /// A run's time limit, delays excluded.
    pub time_limit: Duration,
    /// Runs executed at once.
    pub in_flight: usize,
}

impl Runner {
    /// A runner with these settings.
    pub fn new(settings: Settings) -> Self {
        let longest = Duration::from_secs(model::workflows::MAX_HTTP_TIMEOUT_SECS);
        Self {
            slots: Arc::new(Semaphore::new(settings.in_flight.max(1))),
            in_flight: settings.in_flight.max(1),
            client: settings.egress.http_client_with_timeout(longest),
            egress: settings.egress,
            time_limit: settings.time_limit,
            more: Mutex::default(),
        }
    }

    /// Claims the project's due runs and starts them (called on the outbox consumer's wake-ups).
    pub async fn look_at(st: &AppState, project: &Arc<Project>) {
        let me = &st.workflows;
        let pid = project.config.project_id;
        if project.config.workflows.is_empty() {
            return;
        }
        // Runs are background work: while the worker answers many requests at once, at most
        // BUSY_SLOTS run. Claims take at least half the allowed slots at a time: one claim per
        // finished run would cost a transaction per run while the machine is busiest.
        let busy =
            crate::http::IN_FLIGHT.load(std::sync::atomic::Ordering::Relaxed) > BUSY_REQUESTS;
        let cap = if busy {
            BUSY_SLOTS.min(me.in_flight)
        } else {
            me.in_flight
        };
        let running = me.in_flight - me.slots.available_permits();
        let free = cap.saturating_sub(running);
        if free == 0 || free < cap / 2 {
            me.more.lock().expect("lock").insert(pid);
            return;
        }
        let limit = free.min(CLAIM_BATCH);
        let claimed = async {
            let mut tx = db::begin(&st.db, project).await?;
            let out = store::claim(&mut tx, limit as i64, LEASE, me.time_limit).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(out)
        }
        .await;
        let (claimed, next) = match claimed {
            Ok(c) => c,
            Err(e) => {
                warn!(project.id = %pid, "could not claim workflow runs: {e}");
                st.webhooks
                    .due_at(pid, Instant::now() + Duration::from_secs(5));
                return;
            }
        };
        if claimed.len() == limit {
            me.more.lock().expect("lock").insert(pid);
        }
        if let Some(next) = next {
            st.webhooks.due_at(pid, crate::webhook::instant_of(next));
        }
        for run in claimed {
            let Ok(permit) = me.slots.clone().try_acquire_owned() else {
                // Cannot happen (only this task takes permits); the lease brings it back.
                break;
            };
            let (st, project) = (st.clone(), project.clone());
            tokio::spawn(async move { execute(st, project, run, permit).await });
        }
    }
}

/// The run's variables as templates and conditions read them.
pub struct Vars {
    /// `trigger`.
    pub trigger: Value,
    /// `steps`: each finished step's output by its key.
    pub steps: Map<String, Value>,
    /// Ends of finished steps not written yet ([`step::Pending`]).
    pub pending: Vec<step::Pending>,
}

impl Vars {
    /// `{"trigger", "steps", "now", "run"}`.
    pub fn json(&self, run: &Claimed) -> Value {
        json!({
            "trigger": self.trigger, "steps": self.steps,
            "now": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "run": {"id": run.id, "workflow_id": run.workflow_id, "depth": run.depth},
        })
    }
}

/// Runs a claimed run until it finishes, parks, or this worker loses it.
async fn execute(st: AppState, project: Arc<Project>, run: Claimed, permit: OwnedSemaphorePermit) {
    let pid = project.config.project_id;
    if let Err(e) = drive(&st, &project, run).await {
        // The lease runs out and the run resumes at the step it was at, on any worker.
        warn!(project.id = %pid, "a workflow run stopped on a database error (it resumes when its lease ends): {e}");
    }
    drop(permit);
    if st.workflows.more.lock().expect("lock").remove(&pid) {
        st.webhooks.due_at(pid, Instant::now());
    }
}

async fn drive(st: &AppState, project: &Arc<Project>, mut run: Claimed) -> Result<(), sqlx::Error> {
    let pid = project.config.project_id;
    // The newest config: the workflow may have changed since the run was queued.
    let project = st.registry.get(&pid).unwrap_or_else(|| project.clone());
    let Some(wf) = project
        .config
        .workflows
        .iter()
        .find(|w| w.id == run.workflow_id)
        .cloned()
    else {
        debug!(project.id = %pid, workflow.id = %run.workflow_id, "a run of a workflow this worker does not know yet: later");
        let mut tx = db::begin(&st.db, &project).await?;
        store::postpone(&mut tx, run.id, POSTPONE).await?;
        return tx.commit().await;
    };
    let fresh = run.next_step == 0 && run.steps_run == 0;
    if fresh && !trigger_holds(&wf, &run.trigger) {
        let mut tx = db::begin(&st.db, &project).await?;
        store::discard(&mut tx, run.id).await?;
        return tx.commit().await;
    }
    let mut vars = Vars {
        trigger: run.trigger.clone(),
        steps: Map::new(),
        pending: Vec::new(),
    };
    if !fresh {
        let mut tx = db::begin(&st.db, &project).await?;
        for (i, out) in store::outputs(&mut tx, run.id).await? {
            if let Some(s) = wf.steps.get(i) {
                vars.steps.insert(s.key(i), out);
            }
        }
        tx.commit().await?;
    }
    if fresh {
        info!(project.id = %pid, workflow.id = %wf.id, run.id = %run.id, "workflow {} started", wf.name);
    }
    loop {
        let failure = if Utc::now() > run.deadline {
            Some("the run passed its time limit".to_owned())
        } else if run.steps_run >= MAX_STEPS as i32 {
            Some(format!("the run reached its limit of {MAX_STEPS} steps"))
        } else {
            None
        };
        if let Some(why) = failure {
            info!(project.id = %pid, workflow.id = %wf.id, run.id = %run.id, "workflow run failed: {why}");
            let mut tx = db::begin(&st.db, &project).await?;
            step::write_pending(&mut tx, run.id, &vars.pending).await?;
            store::fail(&mut tx, run.id, &why).await?;
            tx.commit().await?;
            crate::metrics::outcome(&crate::metrics::get().runs, "failed");
            return Ok(());
        }
        let Some(s) = wf.steps.get(run.next_step) else {
            // Past the last step (a workflow without steps, or a delay at the end).
            let mut tx = db::begin(&st.db, &project).await?;
            store::complete(&mut tx, run.id).await?;
            tx.commit().await?;
            crate::metrics::outcome(&crate::metrics::get().runs, "completed");
            info!(project.id = %pid, workflow.id = %wf.id, run.id = %run.id, "workflow run completed");
            return Ok(());
        };
        let i = run.next_step;
        let flow = step::run(st, &project, &wf, &run, i, s, &mut vars).await?;
        match flow {
            step::Flow::Next(next) => {
                run.next_step = next;
                run.steps_run += 1;
            }
            step::Flow::Parked(wait) => {
                st.webhooks.due_at(pid, Instant::now() + wait);
                return Ok(());
            }
            step::Flow::Finished(status) => {
                // The step committed the run's end.
                crate::metrics::outcome(&crate::metrics::get().runs, status);
                info!(project.id = %pid, workflow.id = %wf.id, run.id = %run.id, "workflow run {status}");
                return Ok(());
            }
        }
    }
}

/// Whether a record trigger's condition holds for the written row (true without one).
fn trigger_holds(wf: &WorkflowConfig, trigger: &Value) -> bool {
    let Trigger::Record {
        condition: Some(cond),
        ..
    } = &wf.trigger
    else {
        return true;
    };
    let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    Condition::parse(cond).is_ok_and(|c| c.holds(&trigger["record"], &now))
}

/// Starts a run of `wf` now (`POST …/workflows/{id}/run`); returns its id.
pub async fn start_manual(
    st: &AppState,
    project: &Project,
    wf: &WorkflowConfig,
    trigger: &Value,
) -> Result<Uuid, sqlx::Error> {
    let mut tx = db::begin(&st.db, project).await?;
    let id = store::start(&mut tx, wf.id, 1, trigger).await?;
    tx.commit().await?;
    st.webhooks.committed(project.config.project_id);
    Ok(id)
}

/// Starts each schedule's runs: once a second, every active schedule whose next due time has
/// passed claims it ([`store::fire_schedule`]), so each due time runs exactly once whichever
/// workers see it. A worker counts due times from when it first sees a schedule: times that
/// passed while no worker ran are not made up. Postgres is not touched while nothing is due.
pub async fn scheduler(st: AppState, mut stop: watch::Receiver<bool>) {
    // Per workflow: its expression and the time up to which due times were looked at.
    let mut seen: HashMap<Uuid, (String, DateTime<Utc>)> = HashMap::new();
    let mut parsed: HashMap<String, model::workflows::Cron> = HashMap::new();
    let mut tick = tokio::time::interval(SCHEDULE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let now = Utc::now();
        let mut live = HashSet::new();
        for project in st.registry.snapshot().values() {
            for wf in &project.config.workflows {
                let Trigger::Schedule { cron } = &wf.trigger else {
                    continue;
                };
                if !wf.is_active {
                    continue;
                }
                live.insert(wf.id);
                let entry = seen.entry(wf.id).or_insert_with(|| (cron.clone(), now));
                if entry.0 != *cron {
                    *entry = (cron.clone(), now);
                    continue;
                }
                if !parsed.contains_key(cron) {
                    match model::workflows::parse_cron(cron) {
                        Ok(c) => {
                            parsed.insert(cron.clone(), c);
                        }
                        Err(_) => continue,
                    }
                }
                let c = &parsed[cron];
                let mut due = None;
                let mut t = entry.1;
                for _ in 0..10_000 {
                    match c.find_next_occurrence(&t, false) {
                        Ok(n) if n <= now => {
                            due = Some(n);
                            t = n;
                        }
                        _ => break,
                    }
                }
                entry.1 = now;
                if let Some(due) = due {
                    fire(&st, project, wf, due).await;
                }
            }
        }
        seen.retain(|id, _| live.contains(id));
    }
}

async fn fire(st: &AppState, project: &Project, wf: &WorkflowConfig, due: DateTime<Utc>) {
    let pid = project.config.project_id;
    let fired = async {
        let mut tx = db::begin(&st.db, project).await?;
        let fired = store::fire_schedule(&mut tx, wf.id, due).await?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>(fired)
    }
    .await;
    match fired {
        Ok(true) => {
            debug!(project.id = %pid, workflow.id = %wf.id, "schedule due at {due} started a run");
            st.webhooks.committed(pid);
        }
        Ok(false) => {}
        Err(e) => {
            warn!(project.id = %pid, workflow.id = %wf.id, "could not start the run due at {due}: {e}")
        }
    }
}
