//! One step of a run: render its templates, do it, record how it ended and what the run does
//! next. Record steps write through the one write path ([`crate::write::Writer`]) as the
//! workflow's creator, with the collection's validations, and their events; the write and the
//! step's record commit together.

use super::store::{self, StepEnd, Then};
use super::{LEASE, LEASE_MARGIN};
use crate::auth::store::Origin;
use crate::db;
use crate::events::Actor;
use crate::http::context::{Caller, Ctx};
use crate::http::error::ApiError;
use crate::outbound::mail::Mail;
use crate::registry::Project;
use crate::write::Writer;
use crate::AppState;
use model::workflows::condition::Condition;
use model::workflows::template::{render_str, render_value, vars as template_vars, Vars};
use model::workflows::{Action, Otherwise, Step, WorkflowConfig};
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::Duration;

use super::store::Claimed;

/// Most bytes of an HTTP answer read; the body kept is at most [`KEPT_BODY`].
const READ_BODY: usize = 1 << 20;
/// Most bytes of a non-JSON answer kept as text.
const KEPT_BODY: usize = 64 * 1024;
/// The longest back-off between HTTP attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// What the run does after a step.
pub enum Flow {
    /// Goes on at this step, here.
    Next(usize),
    /// Waits in the database for this long (any worker resumes it).
    Parked(Duration),
    /// Ended (`completed` or `failed`).
    Finished(&'static str),
}

/// Runs step `i` of a claimed run; `vars` gains its output.
pub async fn run(
    st: &AppState,
    project: &Arc<Project>,
    wf: &WorkflowConfig,
    run: &Claimed,
    i: usize,
    step: &Step,
    vars: &mut super::Vars,
) -> Result<Flow, sqlx::Error> {
    let s = StepRun {
        st,
        project,
        wf,
        run,
        i,
        step,
        pending: std::sync::Mutex::new(std::mem::take(&mut vars.pending)),
        began: chrono::Utc::now(),
    };
    let v = template_vars(&vars.json(run));
    let (input, outcome) = match &step.action {
        Action::Transform { output } => {
            let out = render_value(output, &v);
            (output.clone(), out.map(Done::Output))
        }
        Action::Condition {
            condition,
            otherwise,
        } => {
            let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            let passed = Condition::parse(condition)
                .map(|c| c.holds(&vars.json(run), &now))
                .unwrap_or(false);
            let out = json!({ "passed": passed });
            let done = match (passed, otherwise) {
                (true, _) => Done::Output(out),
                (false, Otherwise::Stop) => Done::Stop(json!({ "passed": false, "stopped": true })),
                (false, Otherwise::SkipTo(name)) => match wf.step_named(name) {
                    Some(to) => Done::Skip(json!({ "passed": false, "skipped_to": name }), to),
                    None => Done::Stop(json!({ "passed": false, "stopped": true })),
                },
            };
            (condition.clone(), Ok(done))
        }
        Action::Delay { seconds } => {
            let input = json!({ "seconds": seconds });
            (input, Ok(Done::Wait(Duration::from_secs(*seconds))))
        }
        Action::HttpRequest { .. } => return s.keep(s.http(&v).await?, vars),
        Action::SendEmail { to, subject, body } => {
            let rendered = (|| {
                Ok::<_, String>(json!({
                    "to": render_str(to, &v)?, "subject": render_str(subject, &v)?,
                    "body": render_str(body, &v)?,
                }))
            })();
            match rendered {
                Ok(input) => return s.keep(s.email(input).await?, vars),
                Err(e) => (json!({ "to": to, "subject": subject }), Err(e)),
            }
        }
        Action::CreateRecord { .. } | Action::UpdateRecord { .. } | Action::DeleteRecord { .. } => {
            return s.keep(s.record(&v).await?, vars);
        }
    };
    let ended = s.end(&input, outcome, false).await?;
    s.keep(ended, vars)
}

/// How a step came out.
enum Done {
    /// It made this; the run goes on.
    Output(Value),
    /// It made this; the run ends `completed`.
    Stop(Value),
    /// It made this; the run goes on at that step.
    Skip(Value, usize),
    /// The run waits this long, then goes on.
    Wait(Duration),
    /// Try the step again after this long (its error).
    Retry(String, Duration),
}

/// What [`StepRun::end`] recorded.
struct Ended {
    flow: Flow,
    output: Option<Value>,
}

struct StepRun<'a> {
    st: &'a AppState,
    project: &'a Arc<Project>,
    wf: &'a WorkflowConfig,
    run: &'a Claimed,
    i: usize,
    step: &'a Step,
    /// Ends of earlier steps not written yet (see [`Pending`]).
    pending: std::sync::Mutex<Vec<Pending>>,
    /// When the step began.
    began: chrono::DateTime<chrono::Utc>,
}

/// The end of a step after which the run goes on here: written with the run's next write (the
/// start of a step with side effects, a record step's transaction, a wait or the run's end), not
/// in a transaction of its own. A worker that dies before then runs the step again, as it would
/// a step it died in.
pub struct Pending {
    index: usize,
    name: Option<String>,
    action: &'static str,
    input: Value,
    output: Option<Value>,
    /// The step's row exists (started with its attempt counted).
    counted: bool,
    /// When it began and ended.
    at: (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>),
}

/// Writes ends kept for a later write (a run that fails on its limits still shows them).
pub async fn write_pending(
    tx: &mut db::Tx,
    run: uuid::Uuid,
    pending: &[Pending],
) -> Result<(), sqlx::Error> {
    for p in pending {
        let end = StepEnd {
            index: p.index,
            name: p.name.as_deref(),
            action: p.action,
            status: "completed",
            input: &p.input,
            output: p.output.as_ref(),
            error: None,
        };
        store::step_done(tx, run, &end, p.counted, p.at).await?;
    }
    Ok(())
}

impl StepRun<'_> {
    /// Keeps a step's output for the steps after it.
    fn keep(&self, e: Ended, vars: &mut super::Vars) -> Result<Flow, sqlx::Error> {
        vars.pending = std::mem::take(&mut *self.pending.lock().expect("lock"));
        if let (Flow::Next(_), Some(out)) = (&e.flow, e.output) {
            vars.steps.insert(self.step.key(self.i), out);
        }
        Ok(e.flow)
    }

    /// The step after this one, or the run's end.
    fn next(&self, to: usize) -> Then {
        if to >= self.wf.steps.len() {
            Then::Finish {
                status: "completed",
                error: None,
            }
        } else {
            Then::Continue {
                next_step: to,
                lease: LEASE,
            }
        }
    }

    fn failure(&self, e: &str) -> String {
        match &self.step.name {
            Some(n) => format!("step {} ({n}): {e}", self.i),
            None => format!("step {}: {e}", self.i),
        }
    }

    /// What a step's outcome means for the record and the run.
    fn plan(
        &self,
        outcome: &Result<Done, String>,
    ) -> (&'static str, Option<Value>, Option<String>, Then) {
        let i = self.i;
        match outcome {
            Ok(Done::Output(out)) => ("completed", Some(out.clone()), None, self.next(i + 1)),
            Ok(Done::Stop(out)) => (
                "completed",
                Some(out.clone()),
                None,
                Then::Finish {
                    status: "completed",
                    error: None,
                },
            ),
            Ok(Done::Skip(out, to)) => ("completed", Some(out.clone()), None, self.next(*to)),
            Ok(Done::Wait(wait)) => {
                let out = json!({ "delayed": wait.as_secs() });
                let then = if wait.is_zero() {
                    self.next(i + 1)
                } else {
                    Then::Wait {
                        next_step: i + 1,
                        wait: *wait,
                        extend: *wait,
                    }
                };
                ("completed", Some(out), None, then)
            }
            Ok(Done::Retry(e, wait)) => (
                "retrying",
                None,
                Some(e.clone()),
                Then::Wait {
                    next_step: i,
                    wait: *wait,
                    extend: Duration::ZERO,
                },
            ),
            Err(e) => (
                "failed",
                None,
                Some(e.clone()),
                Then::Finish {
                    status: "failed",
                    error: Some(self.failure(e)),
                },
            ),
        }
    }

    /// Records the step's end and the run's next move in a transaction of its own.
    async fn end(
        &self,
        input: &Value,
        outcome: Result<Done, String>,
        counted: bool,
    ) -> Result<Ended, sqlx::Error> {
        let (status, output, _, then) = self.plan(&outcome);
        if let Then::Continue { next_step, .. } = then {
            self.pending.lock().expect("lock").push(Pending {
                index: self.i,
                name: self.step.name.clone(),
                action: self.step.action_name(),
                input: input.clone(),
                output: output.clone(),
                counted,
                at: (self.began, chrono::Utc::now()),
            });
            debug_assert_eq!(status, "completed");
            return Ok(Ended {
                flow: Flow::Next(next_step),
                output,
            });
        }
        let mut tx = db::begin(&self.st.db, self.project).await?;
        let ended = self.end_in(&mut tx, input, outcome, counted).await?;
        tx.commit().await?;
        Ok(ended)
    }

    /// Writes the ends of earlier steps that were kept for this write ([`Pending`]).
    async fn flush(&self, tx: &mut db::Tx) -> Result<(), sqlx::Error> {
        let pending = std::mem::take(&mut *self.pending.lock().expect("lock"));
        write_pending(tx, self.run.id, &pending).await
    }

    async fn end_in(
        &self,
        tx: &mut db::Tx,
        input: &Value,
        outcome: Result<Done, String>,
        counted: bool,
    ) -> Result<Ended, sqlx::Error> {
        self.flush(tx).await?;
        let (status, output, error, then) = self.plan(&outcome);
        let end = StepEnd {
            index: self.i,
            name: self.step.name.as_deref(),
            action: self.step.action_name(),
            status,
            input,
            output: output.as_ref(),
            error: error.as_deref(),
        };
        store::step_ended(tx, self.run.id, &end, counted, &then).await?;
        let flow = match then {
            Then::Continue { next_step, .. } => Flow::Next(next_step),
            Then::Wait { wait, .. } => Flow::Parked(wait),
            Then::Finish { status, .. } => Flow::Finished(status),
        };
        Ok(Ended { flow, output })
    }

    /// Marks a step with side effects as started (its lease covers `limit`); returns the attempt.
    async fn started(&self, input: &Value, limit: Duration) -> Result<i32, sqlx::Error> {
        let mut tx = db::begin(&self.st.db, self.project).await?;
        self.flush(&mut tx).await?;
        let n = store::step_started(
            &mut tx,
            self.run.id,
            self.i,
            self.step.name.as_deref(),
            self.step.action_name(),
            input,
            limit + LEASE_MARGIN,
        )
        .await?;
        tx.commit().await?;
        Ok(n)
    }

    async fn http(&self, v: &Vars) -> Result<Ended, sqlx::Error> {
        let Action::HttpRequest {
            method,
            url,
            headers,
            body,
            timeout_secs,
            retries,
            fail_on_status,
        } = &self.step.action
        else {
            unreachable!("called for http_request steps");
        };
        let rendered = (|| {
            let url = render_str(url, v)?;
            let headers = render_value(&Value::Object(headers.clone()), v)?;
            let body = body.as_ref().map(|b| render_value(b, v)).transpose()?;
            Ok::<_, String>(
                json!({ "method": method, "url": url, "headers": headers, "body": body }),
            )
        })();
        let input = match rendered {
            Ok(input) => input,
            Err(e) => {
                let input = json!({ "method": method, "url": url });
                return self.end(&input, Err(e), false).await;
            }
        };
        let timeout = Duration::from_secs(*timeout_secs);
        let attempt = self.started(&input, timeout).await?;
        let answer = self.send(&input, timeout).await;
        let outcome = match answer {
            Answer::Refused(e) => Err(e),
            Answer::Reply {
                status,
                output,
                retry_after,
            } => {
                let ok = (200..300).contains(&status);
                let retryable = status == 429 || status >= 500;
                if ok || !*fail_on_status {
                    Ok(Done::Output(output))
                } else if retryable && attempt <= *retries as i32 {
                    let e = format!(
                        "the server answered {status}; attempt {attempt} of {}",
                        retries + 1
                    );
                    Ok(Done::Retry(e, backoff(attempt, retry_after)))
                } else {
                    Err(format!("the server answered {status} (attempt {attempt})"))
                }
            }
            Answer::Unreachable(e) if attempt <= *retries as i32 => {
                let e = format!("{e}; attempt {attempt} of {}", retries + 1);
                Ok(Done::Retry(e, backoff(attempt, None)))
            }
            Answer::Unreachable(e) => Err(format!("{e} (attempt {attempt})")),
        };
        self.end(&input, outcome, true).await
    }

    /// Sends the rendered request; the `Idempotency-Key` is the same on every attempt.
    async fn send(&self, input: &Value, timeout: Duration) -> Answer {
        let runner = &self.st.workflows;
        let url = input["url"].as_str().unwrap_or_default();
        if let Err(msg) = model::workflows::check_url(url) {
            return Answer::Refused(format!("`{url}`: {msg}"));
        }
        match tokio::time::timeout(timeout, runner.egress.check_url(url)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Answer::Refused(format!("{e:#}")),
            Err(_) => return Answer::Unreachable("resolving the host timed out".into()),
        }
        let method = input["method"].as_str().unwrap_or("GET");
        let Ok(method) = reqwest::Method::from_bytes(method.as_bytes()) else {
            return Answer::Refused(format!("`{method}` is not an HTTP method"));
        };
        let has_body = !matches!(method, reqwest::Method::GET | reqwest::Method::HEAD);
        let mut req = runner
            .client
            .request(method, url)
            .timeout(timeout)
            .header("idempotency-key", format!("{}:{}", self.run.id, self.i))
            .header("x-backendify-workflow", self.wf.id.to_string())
            .header("x-backendify-run", self.run.id.to_string());
        if let Some(h) = input["headers"].as_object() {
            for (name, value) in h {
                let value = match value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let (Ok(n), Ok(v)) = (
                    reqwest::header::HeaderName::from_bytes(name.as_bytes()),
                    reqwest::header::HeaderValue::from_str(&value),
                ) else {
                    return Answer::Refused(format!("header `{name}` is not a valid header"));
                };
                req = req.header(n, v);
            }
        }
        if has_body && !input["body"].is_null() {
            req = req.json(&input["body"]);
        }
        let mut res = match req.send().await {
            Ok(res) => res,
            Err(e) if e.is_timeout() => {
                return Answer::Unreachable(format!("no answer within {} s", timeout.as_secs()))
            }
            Err(e) if e.is_connect() => {
                let cause =
                    std::error::Error::source(&e).map_or(String::new(), |s| format!(": {s}"));
                return Answer::Unreachable(format!("could not connect{cause}"));
            }
            Err(e) => return Answer::Unreachable(format!("request failed: {e}")),
        };
        let status = res.status().as_u16();
        let mut headers = Map::new();
        for (k, v) in res.headers() {
            if let Ok(v) = v.to_str() {
                headers.insert(k.as_str().to_owned(), json!(v));
            }
        }
        let retry_after = res
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(crate::webhook::send::parse_retry_after);
        let mut bytes = Vec::new();
        let read = tokio::time::timeout(timeout, async {
            while let Ok(Some(chunk)) = res.chunk().await {
                bytes.extend_from_slice(&chunk);
                if bytes.len() >= READ_BODY {
                    break;
                }
            }
        })
        .await;
        if read.is_err() {
            return Answer::Unreachable(format!(
                "the answer did not arrive within {} s",
                timeout.as_secs()
            ));
        }
        let body = match serde_json::from_slice::<Value>(&bytes) {
            Ok(v) if bytes.len() < READ_BODY => v,
            _ => {
                let text = String::from_utf8_lossy(&bytes);
                let mut end = text.len().min(KEPT_BODY);
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                json!(text[..end])
            }
        };
        Answer::Reply {
            status,
            output: json!({ "status": status, "headers": headers, "body": body }),
            retry_after,
        }
    }

    async fn email(&self, input: Value) -> Result<Ended, sqlx::Error> {
        let to = input["to"].as_str().unwrap_or_default();
        let Some(to) = model::fields::normalize_email(to) else {
            let e = format!("`{to}` is not an email address");
            return self.end(&input, Err(e), false).await;
        };
        self.started(&input, Duration::from_secs(30)).await?;
        let mail = Mail {
            to: to.clone(),
            subject: input["subject"].as_str().unwrap_or_default().to_owned(),
            body: input["body"].as_str().unwrap_or_default().to_owned(),
            secret: String::new(),
        };
        let outcome = if self.st.mailer.send(mail).await {
            Ok(Done::Output(json!({ "sent": true, "to": to })))
        } else {
            Err("the mail could not be sent (see the worker's log)".to_owned())
        };
        self.end(&input, outcome, true).await
    }

    /// A record step: the write and the step's record commit in one transaction.
    async fn record(&self, v: &Vars) -> Result<Ended, sqlx::Error> {
        let (collection, id, data) = match &self.step.action {
            Action::CreateRecord { collection, data } => (collection, None, Some(data)),
            Action::UpdateRecord {
                collection,
                id,
                data,
            } => (collection, Some(id), Some(data)),
            Action::DeleteRecord { collection, id } => (collection, Some(id), None),
            _ => unreachable!("called for record steps"),
        };
        let rendered = (|| {
            let id = id.map(|i| render_value(i, v)).transpose()?;
            let data = data.map(|d| render_value(d, v)).transpose()?;
            Ok::<_, String>(json!({ "collection": collection, "id": id, "data": data }))
        })();
        let input = match rendered {
            Ok(input) => input,
            Err(e) => {
                let input = json!({ "collection": collection });
                return self.end(&input, Err(e), false).await;
            }
        };
        let admin = self.wf.created_by.unwrap_or_default();
        let ctx = Ctx {
            project: self.project.clone(),
            caller: Caller::Admin(admin),
        };
        let mut writer = Writer::new(&ctx, Origin::default());
        writer.actor = Actor {
            admin: Some(admin),
            origin: Origin {
                ip: None,
                user_agent: Some(format!("workflow {} run {}", self.wf.id, self.run.id)),
            },
            ..Default::default()
        };
        writer.depth = self.run.depth + 1;
        let mut tx = db::begin(&self.st.db, self.project).await?;
        let written = write(&writer, &mut tx, &ctx, &input).await;
        match written {
            Ok(output) => {
                let ended = self
                    .end_in(&mut tx, &input, Ok(Done::Output(output)), false)
                    .await?;
                tx.commit().await?;
                writer.committed(self.st);
                Ok(ended)
            }
            Err(ApiError::Internal(e)) => {
                // A database problem: the lease runs out and the step is tried again.
                Err(sqlx::Error::Protocol(format!("{e:#}")))
            }
            Err(e) => {
                drop(tx);
                let msg = e.to_string();
                self.end(&input, Err(msg), false).await
            }
        }
    }
}

/// Does a rendered record step's write in `tx`; returns the step's output.
async fn write(
    writer: &Writer<'_>,
    tx: &mut db::Tx,
    ctx: &Ctx,
    input: &Value,
) -> Result<Value, ApiError> {
    let name = input["collection"].as_str().unwrap_or_default();
    let c = crate::http::records::collection(ctx, name)?;
    let data = match &input["data"] {
        Value::Object(d) => Some(d.clone()),
        Value::Null => None,
        _ => {
            return Err(ApiError::BadRequest(
                "`data` must render to an object".into(),
            ))
        }
    };
    let id = match &input["id"] {
        Value::Null => None,
        Value::String(s) => Some(crate::http::records::record_id(&c, s)?),
        Value::Number(n) => Some(crate::http::records::record_id(&c, &n.to_string())?),
        _ => {
            return Err(ApiError::BadRequest(
                "`id` must render to a record id".into(),
            ))
        }
    };
    let parse = |json: String| serde_json::from_str(&json).unwrap_or(Value::Null);
    match (id, data) {
        (None, Some(data)) => Ok(parse(writer.create_in(tx, &c, data).await?)),
        (Some(id), Some(data)) => Ok(parse(writer.update_in(tx, &c, &id, data).await?)),
        (Some(id), None) => {
            writer.delete_in(tx, &c, &id).await?;
            Ok(json!({ "deleted": true, "id": input["id"] }))
        }
        (None, None) => Err(ApiError::BadRequest("`id` is required".into())),
    }
}

/// What an HTTP attempt came to.
enum Answer {
    /// The request may not be sent (bad URL or header, the egress allow-list): not retried.
    Refused(String),
    /// No answer (connect error, time-out): retried.
    Unreachable(String),
    /// An answer.
    Reply {
        status: u16,
        output: Value,
        retry_after: Option<Duration>,
    },
}

/// The wait before attempt `attempt + 1`: 1 s, 2 s, 4 s … (±10 %), at most five minutes, or
/// longer when the server asked (up to an hour).
fn backoff(attempt: i32, retry_after: Option<Duration>) -> Duration {
    let base = Duration::from_secs(1u64 << attempt.clamp(1, 16).saturating_sub(1)).min(MAX_BACKOFF);
    let jittered = base.mul_f64(1.0 + (rand::random::<f64>() - 0.5) * 0.2);
    retry_after.map_or(jittered, |r| r.min(Duration::from_secs(3600)).max(jittered))
}
