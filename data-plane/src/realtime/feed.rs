//! One project's feed on one worker: follows the sealed chain from its cursor and hands each
//! event to the subscribers that may read it, in chain order.

use super::judge::judge;
use super::store::{self, Event};
use super::topic::Planned;
use super::{Frame, Hub, Principal, Sub};
use crate::audit::chain::Sealed;
use crate::http::context::Caller;
use crate::policy;
use crate::query::filter::Pred;
use crate::registry::Project;
use bytes::Bytes;
use model::Action;
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;
use tracing::{debug, warn};
use uuid::Uuid;

/// Events read per statement.
const BATCH: i64 = 500;
/// How often open streams are checked when no event comes (sessions revoked, tokens expired).
const RECHECK: Duration = Duration::from_secs(15);
/// How long a feed waits after a failed read before trying again.
const RETRY: Duration = Duration::from_secs(1);

/// A topic's plan with the subscriber's read rule.
#[derive(Debug, Clone)]
pub struct Plan {
    topic: Planned,
    rule: Pred,
}

/// Binds a planned topic with the caller's `read` rule on its collection.
pub fn plan(topic: Planned, caller: &Caller) -> Plan {
    let rule = policy::rule(&topic.collection, Action::Read, caller);
    Plan { topic, rule }
}

/// What a subscriber's feed keeps of it.
pub struct SubState {
    /// Who opened it.
    pub principal: Principal,
    /// The config version its plans were made under.
    pub version: u64,
    /// One plan per topic.
    pub plans: Vec<Plan>,
    /// Events up to this place are not for it (before it joined, or already replayed).
    pub after: i64,
}

/// One project's subscribers on this worker.
pub struct Feed {
    /// The project.
    pub project: Uuid,
    subs: Mutex<HashMap<u64, Arc<Sub>>>,
    joins: Mutex<Vec<(Arc<Sub>, Option<i64>)>>,
    wake: Notify,
    /// Bytes a subscriber may have waiting.
    buffer_bytes: usize,
}

impl Feed {
    pub(super) fn new(project: Uuid, buffer_bytes: usize) -> Self {
        Self {
            project,
            buffer_bytes,
            subs: Mutex::default(),
            joins: Mutex::default(),
            wake: Notify::new(),
        }
    }

    pub(super) fn join(&self, sub: Arc<Sub>, last: Option<i64>) {
        self.joins.lock().expect("lock").push((sub, last));
        self.wake.notify_one();
    }

    pub(super) fn leave(&self, sub: u64) {
        self.subs.lock().expect("lock").remove(&sub);
        self.joins
            .lock()
            .expect("lock")
            .retain(|(s, _)| s.id != sub);
        self.wake.notify_one();
    }

    pub(super) fn poke(&self) {
        self.wake.notify_one();
    }

    pub(super) fn is_idle(&self) -> bool {
        self.subs.lock().expect("lock").is_empty() && self.joins.lock().expect("lock").is_empty()
    }

    pub(super) fn close_all(&self, detail: &str) {
        let subs: Vec<Arc<Sub>> = self.subs.lock().expect("lock").values().cloned().collect();
        for s in subs {
            self.close(&s, detail);
        }
        let joins: Vec<(Arc<Sub>, Option<i64>)> =
            std::mem::take(&mut *self.joins.lock().expect("lock"));
        for (s, _) in joins {
            let _ = s.tx.send(Frame::Close {
                detail: detail.to_owned(),
            });
        }
        self.wake.notify_one();
    }

    /// Ends a stream: tells it why (if its buffer has room) and lets it go.
    fn close(&self, sub: &Sub, detail: &str) {
        let _ = sub.tx.send(Frame::Close {
            detail: detail.to_owned(),
        });
        self.subs.lock().expect("lock").remove(&sub.id);
    }

    /// Sends a frame; a subscriber with more than its buffer's worth of events not yet taken
    /// by its connection is too slow and is let go (it may resume with `Last-Event-ID`).
    fn send(&self, sub: &Sub, frame: Frame) -> bool {
        if let Frame::Data(b) = &frame {
            // What it has not taken yet of earlier batches (one batch may be larger).
            let waiting = sub.queued.fetch_add(b.len(), Ordering::Relaxed);
            if waiting > self.buffer_bytes {
                debug!(project.id = %self.project, waiting, "realtime subscriber too slow: disconnected");
                self.close(
                    sub,
                    "Too far behind reading the stream; reconnect with Last-Event-ID to resume",
                );
                return false;
            }
        }
        if sub.tx.send(frame).is_err() {
            self.subs.lock().expect("lock").remove(&sub.id);
            return false;
        }
        true
    }
}

/// The feed's task: ends when its last subscriber has left.
pub(super) async fn run(feed: Arc<Feed>, hub: Arc<Hub>) {
    let mut cursor: Option<i64> = None;
    let mut recheck_at = Instant::now() + RECHECK;
    loop {
        if hub.retire(&feed) {
            return;
        }
        let Some(project) = hub.registry.get(&feed.project) else {
            feed.close_all("Project not found");
            continue;
        };
        let ok = step(&feed, &hub, &project, &mut cursor, &mut recheck_at).await;
        if let Err(e) = ok {
            warn!(project.id = %feed.project, "realtime feed could not read events (retrying): {e}");
            tokio::time::sleep(RETRY).await;
            continue;
        }
        tokio::select! {
            _ = feed.wake.notified() => {}
            _ = tokio::time::sleep_until(recheck_at) => {}
        }
    }
}

/// Sends what was sealed since the cursor, then admits new subscribers at the new cursor.
async fn step(
    feed: &Arc<Feed>,
    hub: &Hub,
    project: &Arc<Project>,
    cursor: &mut Option<i64>,
    recheck_at: &mut Instant,
) -> Result<(), sqlx::Error> {
    let joins: Vec<(Arc<Sub>, Option<i64>)> =
        std::mem::take(&mut *feed.joins.lock().expect("lock"));
    let result = catch_up(feed, hub, project, cursor, &joins).await;
    if let Err(e) = result {
        // They join on the next try.
        feed.joins.lock().expect("lock").extend(joins);
        return Err(e);
    }
    let at = cursor.unwrap_or_default();
    let mut joins = joins.into_iter();
    while let Some((sub, last)) = joins.next() {
        if let Err(e) = admit(feed, hub, project, sub.clone(), last, at).await {
            // It and the rest join on the next try, from what it was sent already.
            let sent = last.map(|_| sub.state.lock().expect("lock").after);
            let mut queue = feed.joins.lock().expect("lock");
            queue.push((sub, sent));
            queue.extend(joins);
            return Err(e);
        }
    }
    if Instant::now() >= *recheck_at {
        let subs: Vec<Arc<Sub>> = feed.subs.lock().expect("lock").values().cloned().collect();
        refresh(feed, hub, project, &subs).await;
        *recheck_at = Instant::now() + RECHECK;
    }
    Ok(())
}

/// Sends what was sealed since the cursor to the subscribers in, moving the cursor; seals
/// first when subscribers are about to join.
async fn catch_up(
    feed: &Arc<Feed>,
    hub: &Hub,
    project: &Arc<Project>,
    cursor: &mut Option<i64>,
    joins: &[(Arc<Sub>, Option<i64>)],
) -> Result<(), sqlx::Error> {
    if !joins.is_empty() {
        // A new stream starts after everything committed before it: seal that first.
        seal_now(hub, project).await;
    }
    let mut at = match *cursor {
        Some(c) => c,
        None => store::head(&hub.db, project).await?,
    };
    *cursor = Some(at);
    loop {
        let page = store::events(&hub.db, project, at, None, BATCH).await?;
        let Some(last) = page.last else { break };
        let subs: Vec<Arc<Sub>> = feed.subs.lock().expect("lock").values().cloned().collect();
        refresh(feed, hub, project, &subs).await;
        deliver(feed, hub, project, &subs, &page.events).await;
        at = last;
        *cursor = Some(at);
        if page.rows < BATCH as usize {
            break;
        }
    }
    Ok(())
}

/// Seals the project's committed events now (waiting briefly for another worker's seal).
async fn seal_now(hub: &Hub, project: &Project) {
    for _ in 0..20 {
        match crate::audit::chain::seal(&hub.db, project).await {
            Ok(Sealed::Events(0)) => return,
            Ok(Sealed::Events(n)) => {
                hub.announce_sealed(project.config.project_id);
                if (n as i64) < crate::audit::chain::BATCH {
                    return;
                }
            }
            Ok(Sealed::Busy) => tokio::time::sleep(Duration::from_millis(10)).await,
            Err(e) => {
                warn!(project.id = %project.config.project_id, "could not seal audit events: {e}");
                return;
            }
        }
    }
}

/// Lets a subscriber in at `at` (the feed's cursor), first replaying what it missed after
/// `last` when it resumes, or telling it to reload when that is too far behind.
async fn admit(
    feed: &Feed,
    hub: &Hub,
    project: &Arc<Project>,
    sub: Arc<Sub>,
    last: Option<i64>,
    at: i64,
) -> Result<(), sqlx::Error> {
    let set_after = |after: i64| sub.state.lock().expect("lock").after = after;
    match last {
        Some(last) if last < at => {
            if at - last > hub.limits.replay {
                set_after(at);
                if !feed.send(
                    &sub,
                    Frame::Reset {
                        id: at,
                        reason: "too_far_behind",
                    },
                ) {
                    return Ok(());
                }
            } else {
                let mut from = last;
                set_after(last);
                refresh(feed, hub, project, std::slice::from_ref(&sub)).await;
                while from < at {
                    let page = store::events(&hub.db, project, from, Some(at), BATCH).await?;
                    if from == last && page.first != Some(last + 1) {
                        // What followed `last` was purged: a replay would have a hole.
                        set_after(at);
                        feed.send(
                            &sub,
                            Frame::Reset {
                                id: at,
                                reason: "purged",
                            },
                        );
                        break;
                    }
                    let Some(end) = page.last else { break };
                    deliver(feed, hub, project, std::slice::from_ref(&sub), &page.events).await;
                    from = end;
                    set_after(end);
                }
                set_after(at);
            }
        }
        // Ahead of this feed (it saw a faster worker): skip what it already has.
        Some(last) => set_after(last),
        None => set_after(at),
    }
    if feed.send(
        &sub,
        Frame::Ready {
            id: at.max(last.unwrap_or(at)),
        },
    ) {
        feed.subs.lock().expect("lock").insert(sub.id, sub);
    }
    Ok(())
}

/// Checks the subscribers again before events go out: expired tokens, revoked sessions,
/// disabled users, removed members or keys end their streams; new roles or a new config
/// re-plan them.
async fn refresh(feed: &Feed, hub: &Hub, project: &Arc<Project>, subs: &[Arc<Sub>]) {
    let sessions: Vec<Uuid> = subs
        .iter()
        .filter_map(|s| match &s.state.lock().expect("lock").principal {
            Principal::AppUser { session, .. } => Some(*session),
            _ => None,
        })
        .collect();
    let live = if sessions.is_empty() {
        None
    } else {
        match store::live_sessions(&hub.db, project, &sessions).await {
            Ok(l) => Some(l),
            Err(e) => {
                warn!(project.id = %feed.project, "could not check the app users of realtime streams: {e}");
                None
            }
        }
    };
    let now = chrono::Utc::now().timestamp();
    for sub in subs {
        if sub.expires.is_some_and(|e| e <= now) {
            feed.close(
                sub,
                "The access token expired; reconnect with a fresh one and Last-Event-ID",
            );
            continue;
        }
        let mut st = sub.state.lock().expect("lock");
        let mut changed = st.version != project.config.version;
        let gone = match &mut st.principal {
            Principal::AppUser { session, seen, .. } => match live.as_ref().map(|l| l.get(session))
            {
                Some(None) => Some("The session ended or the user was disabled"),
                Some(Some(now)) => {
                    if now != seen {
                        *seen = now.clone();
                        changed = true;
                    }
                    None
                }
                None => None,
            },
            Principal::Admin(id) => (!project.config.members.contains(id))
                .then_some("You are no longer a member of this project"),
            Principal::ApiKey(id) => (!project.api_keys.values().flatten().any(|k| k.id == *id))
                .then_some("The API key was revoked"),
            Principal::Anonymous => None,
        };
        if let Some(why) = gone {
            drop(st);
            feed.close(sub, why);
            continue;
        }
        if !changed {
            continue;
        }
        let caller = st.principal.caller(project);
        let mut plans = Vec::with_capacity(sub.topics.len());
        let mut failed = None;
        for t in &sub.topics {
            match t.plan(project) {
                Ok(p) => plans.push(plan(p, &caller)),
                Err(e) => {
                    failed = Some(e.to_string());
                    break;
                }
            }
        }
        match failed {
            Some(detail) => {
                drop(st);
                feed.close(sub, &format!("A topic no longer applies: {detail}"));
            }
            None => {
                st.plans = plans;
                st.version = project.config.version;
            }
        }
    }
}

/// Whether an event goes to a subscriber: yes, no, or ask the database.
enum Verdict {
    Yes,
    No,
    /// Ask for these plans (indexes); yes when any holds.
    Ask(Vec<usize>),
}

/// Sends each event to the subscribers that may read it, in chain order per subscriber.
async fn deliver(
    feed: &Feed,
    hub: &Hub,
    project: &Arc<Project>,
    subs: &[Arc<Sub>],
    events: &[Event],
) {
    if subs.is_empty() || events.is_empty() {
        return;
    }
    let encoded: Vec<Option<String>> = events.iter().map(|e| encode(project, e)).collect();
    // verdicts[s][e]
    let mut verdicts: Vec<Vec<Verdict>> = Vec::with_capacity(subs.len());
    for sub in subs {
        let st = sub.state.lock().expect("lock");
        let mut row = Vec::with_capacity(events.len());
        for (e, f) in events.iter().zip(&encoded) {
            row.push(if f.is_none() || e.seq <= st.after {
                Verdict::No
            } else {
                verdict(&st.plans, e)
            });
        }
        verdicts.push(row);
    }
    // What memory could not decide: one statement per subscriber and plan.
    for (s, sub) in subs.iter().enumerate() {
        let mut asks: HashMap<usize, Vec<usize>> = HashMap::new();
        for (e, v) in verdicts[s].iter().enumerate() {
            if let Verdict::Ask(plans) = v {
                for p in plans {
                    asks.entry(*p).or_default().push(e);
                }
            }
        }
        for (p, idx) in asks {
            let plan = match sub.state.lock().expect("lock").plans.get(p) {
                Some(plan) => plan.clone(),
                None => continue,
            };
            let pred = Pred::all(vec![plan.rule.clone(), plan.topic.matches.clone()]);
            let records: Vec<_> = idx.iter().map(|e| &events[*e].record).collect();
            let answers =
                store::judge(&hub.db, project, &plan.topic.collection, &records, &[&pred]).await;
            let answers = match answers {
                Ok(mut a) => a.pop().unwrap_or_default(),
                Err(e) => {
                    warn!(project.id = %feed.project, "could not judge realtime events: {e}");
                    vec![false; idx.len()]
                }
            };
            for (e, yes) in idx.into_iter().zip(answers) {
                if yes {
                    verdicts[s][e] = Verdict::Yes;
                }
            }
        }
    }
    // One write per subscriber and batch; subscribers that get the same events share its bytes.
    let mut shared: HashMap<Vec<usize>, Bytes> = HashMap::new();
    for (s, sub) in subs.iter().enumerate() {
        let yes: Vec<usize> = verdicts[s]
            .iter()
            .enumerate()
            .filter(|(_, v)| matches!(v, Verdict::Yes))
            .map(|(e, _)| e)
            .collect();
        if yes.is_empty() {
            continue;
        }
        let bytes = shared
            .entry(yes)
            .or_insert_with_key(|yes| {
                let mut text = String::new();
                for e in yes {
                    text.push_str(encoded[*e].as_deref().unwrap_or_default());
                }
                Bytes::from(text)
            })
            .clone();
        feed.send(sub, Frame::Data(bytes));
    }
}

/// The verdict for one event from a subscriber's plans.
fn verdict(plans: &[Plan], e: &Event) -> Verdict {
    let mut ask = Vec::new();
    for (i, p) in plans.iter().enumerate() {
        if p.topic.collection.config.id != e.collection {
            continue;
        }
        if p.topic_record().is_some_and(|r| r != e.record_id) {
            continue;
        }
        let rule = judge(&p.rule, &e.record);
        let matches = judge(&p.topic.matches, &e.record);
        match (rule, matches) {
            (Some(true), Some(true)) => return Verdict::Yes,
            (Some(false), _) | (_, Some(false)) => {}
            _ => ask.push(i),
        }
    }
    if ask.is_empty() {
        Verdict::No
    } else {
        Verdict::Ask(ask)
    }
}

impl Plan {
    fn topic_record(&self) -> Option<&str> {
        self.topic.record.as_deref()
    }
}

/// An event as the stream sends it (`None` when its collection is gone from the config):
/// `id`, `event` and one line of JSON data.
fn encode(project: &Project, e: &Event) -> Option<String> {
    let c = project.by_id.get(&e.collection)?;
    let name = match e.action.as_str() {
        "create" => "record.created",
        "update" => "record.updated",
        _ => "record.deleted",
    };
    let data = json!({
        "collection": c.config.name,
        "record": e.record,
        "record_id": e.record_id,
        "event": name,
        "timestamp": e.at,
    });
    Some(format!("id: {}\nevent: {name}\ndata: {data}\n\n", e.seq))
}
