//! Workflows as both planes see them (`spec/workflows.md`): a trigger and a list of steps,
//! checked when saved (every problem named by its step index and key) and compiled into the
//! project config, where workers run them.
//!
//! Steps are flat objects (`{"action": "delay", "seconds": 5}`); a nested `config` object is
//! accepted too, and a flat key wins over the same key inside `config`.

pub mod condition;
pub mod template;

use crate::error_body::validation_item;
use condition::Condition;
pub use croner::Cron;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use uuid::Uuid;

/// Trigger types.
pub const TRIGGERS: [&str; 5] = [
    "record.created",
    "record.updated",
    "record.deleted",
    "schedule",
    "manual",
];
/// Step actions.
pub const ACTIONS: [&str; 8] = [
    "http_request",
    "transform",
    "condition",
    "delay",
    "create_record",
    "update_record",
    "delete_record",
    "send_email",
];
/// Most steps a workflow has.
pub const MAX_STEPS: usize = 50;
/// Longest `delay`.
pub const MAX_DELAY_SECS: u64 = 30 * 86_400;
/// Longest time limit of one HTTP attempt.
pub const MAX_HTTP_TIMEOUT_SECS: u64 = 60;
/// HTTP attempt time limit unless a step sets `timeout_seconds`.
pub const DEFAULT_HTTP_TIMEOUT_SECS: u64 = 10;
/// Retries of an HTTP step unless it sets `retries`.
pub const DEFAULT_HTTP_RETRIES: u32 = 3;
/// Most retries of an HTTP step.
pub const MAX_HTTP_RETRIES: u32 = 10;
/// Writes made by workflow steps start workflows at most this many levels deep.
pub const MAX_DEPTH: i16 = 3;

/// One workflow, compiled (inactive ones too: their runs stay listable).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowConfig {
    /// The workflow's id.
    pub id: Uuid,
    /// Its name (for logs).
    pub name: String,
    /// What starts a run.
    pub trigger: Trigger,
    /// What a run does, in order.
    pub steps: Vec<Step>,
    /// Turned on by its admins.
    pub is_active: bool,
    /// The admin who made it: record steps write as this member.
    #[serde(default)]
    pub created_by: Option<Uuid>,
}

impl WorkflowConfig {
    /// Whether a record event of `collection` starts a run (the condition is judged later, on
    /// the written row).
    pub fn wants(&self, event: &str, collection: &str) -> bool {
        self.is_active
            && matches!(&self.trigger, Trigger::Record { event: e, collection: c, .. }
                if e == event && c.as_deref().is_none_or(|c| c == collection))
    }

    /// The index of the step named `name`.
    pub fn step_named(&self, name: &str) -> Option<usize> {
        self.steps
            .iter()
            .position(|s| s.name.as_deref() == Some(name))
    }
}

/// What starts a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Trigger {
    /// A record event, optionally of one collection and only when the row passes a condition.
    Record {
        /// `record.created`, `record.updated` or `record.deleted`.
        event: String,
        /// Only this collection (by name).
        collection: Option<String>,
        /// Policy-style condition on the written row (see [`condition`]).
        condition: Option<Value>,
    },
    /// Each due time of a cron expression (UTC; five fields, or six with seconds first).
    Schedule {
        /// The expression.
        cron: String,
    },
    /// `POST …/workflows/{id}/run`.
    Manual,
}

/// One step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// Its name: later steps read its output as `steps.<name>`.
    pub name: Option<String>,
    /// What it does.
    pub action: Action,
}

impl Step {
    /// The action's name.
    pub fn action_name(&self) -> &'static str {
        match &self.action {
            Action::HttpRequest { .. } => "http_request",
            Action::Transform { .. } => "transform",
            Action::Condition { .. } => "condition",
            Action::Delay { .. } => "delay",
            Action::CreateRecord { .. } => "create_record",
            Action::UpdateRecord { .. } => "update_record",
            Action::DeleteRecord { .. } => "delete_record",
            Action::SendEmail { .. } => "send_email",
        }
    }

    /// The key its output is kept under in `steps`: its name, else `step_<index>`.
    pub fn key(&self, index: usize) -> String {
        self.name.clone().unwrap_or_else(|| format!("step_{index}"))
    }
}

/// What a step does. String values (and strings nested in `headers`, `body`, `output` and
/// `data`) are templates ([`template`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// Sends a request through the egress allow-list; captures status, headers and body.
    HttpRequest {
        /// HTTP method (upper case).
        method: String,
        /// Template of the URL.
        url: String,
        /// Header templates.
        headers: Map<String, Value>,
        /// JSON body (templates inside); not sent for GET and HEAD.
        body: Option<Value>,
        /// One attempt's time limit.
        timeout_secs: u64,
        /// Attempts after the first on a network error, 429 or 5xx.
        retries: u32,
        /// A final answer outside 2xx fails the step (default); `false` only records it.
        fail_on_status: bool,
    },
    /// Builds an object from templates.
    Transform {
        /// The object (templates inside).
        output: Value,
    },
    /// Goes on when the condition holds; otherwise stops the run or skips to a later step.
    Condition {
        /// Policy-style condition on the run's variables (`trigger.record.x`, `steps.h.status`).
        condition: Value,
        /// What happens when it does not hold.
        otherwise: Otherwise,
    },
    /// Waits (the run is parked in the database, surviving restarts).
    Delay {
        /// How long.
        seconds: u64,
    },
    /// Creates a record through the data path.
    CreateRecord {
        /// Collection name.
        collection: String,
        /// The record (templates inside).
        data: Value,
    },
    /// Updates a record through the data path.
    UpdateRecord {
        /// Collection name.
        collection: String,
        /// The record id (a template, or a number).
        id: Value,
        /// The changes (templates inside).
        data: Value,
    },
    /// Deletes a record through the data path.
    DeleteRecord {
        /// Collection name.
        collection: String,
        /// The record id (a template, or a number).
        id: Value,
    },
    /// Sends a plain-text mail through the configured mailer.
    SendEmail {
        /// Recipient template.
        to: String,
        /// Subject template.
        subject: String,
        /// Body template.
        body: String,
    },
}

/// What a failed condition does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Otherwise {
    /// The run ends (completed).
    Stop,
    /// The run goes on at the step of this name (always a later one).
    SkipTo(String),
}

/// A saved definition, checked: the body's `trigger_type`, `trigger_config` and `steps` as
/// given.
pub struct Definition<'a> {
    /// `trigger_type`.
    pub trigger_type: &'a str,
    /// `trigger_config`.
    pub trigger_config: &'a Map<String, Value>,
    /// `steps`, each an object.
    pub steps: &'a [Value],
}

/// Problems found in a definition, as items of the contract's 422 list (`loc` names the body
/// key, the step index and the step's key).
pub type Problems = Vec<Value>;

fn problem(problems: &mut Problems, loc: &[Value], kind: &str, msg: &str, input: Value) {
    let mut item = validation_item(kind, &[], msg, input);
    let mut full = vec![json!("body")];
    full.extend(loc.iter().cloned());
    item["loc"] = Value::Array(full);
    problems.push(item);
}

impl Definition<'_> {
    /// Checks and compiles the trigger and steps; every problem is reported, not just the first.
    pub fn compile(&self) -> Result<(Trigger, Vec<Step>), Problems> {
        let mut problems = Problems::new();
        let trigger = self.trigger(&mut problems);
        let steps = self.steps(&mut problems);
        match (trigger, problems.is_empty()) {
            (Some(t), true) => Ok((t, steps)),
            _ => Err(problems),
        }
    }

    fn trigger(&self, problems: &mut Problems) -> Option<Trigger> {
        let cfg = self.trigger_config;
        let at = |key: &str| [json!("trigger_config"), json!(key)];
        let t = self.trigger_type;
        if !TRIGGERS.contains(&t) {
            let msg = format!("Trigger type must be one of {}", TRIGGERS.join(", "));
            problem(problems, &[json!("trigger_type")], "enum", &msg, json!(t));
            return None;
        }
        Some(match t {
            "schedule" => {
                let Some(cron) = cfg.get("cron").and_then(Value::as_str) else {
                    let msg =
                        "A schedule needs `cron`: a cron expression in UTC, e.g. \"*/5 * * * *\"";
                    problem(
                        problems,
                        &at("cron"),
                        "missing",
                        msg,
                        json!(cfg.get("cron")),
                    );
                    return None;
                };
                if let Err(e) = parse_cron(cron) {
                    problem(problems, &at("cron"), "value_error", &e, json!(cron));
                    return None;
                }
                Trigger::Schedule {
                    cron: cron.to_owned(),
                }
            }
            "manual" => Trigger::Manual,
            event => {
                let collection = match cfg.get("collection") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
                    Some(v) => {
                        let msg = "`collection` must be a collection name";
                        problem(problems, &at("collection"), "string_type", msg, v.clone());
                        None
                    }
                };
                let condition = match cfg.get("condition") {
                    None | Some(Value::Null) => None,
                    Some(v) => match Condition::parse(v) {
                        Ok(_) => Some(v.clone()),
                        Err(e) => {
                            problem(problems, &at("condition"), "value_error", &e, v.clone());
                            None
                        }
                    },
                };
                Trigger::Record {
                    event: event.to_owned(),
                    collection,
                    condition,
                }
            }
        })
    }

    fn steps(&self, problems: &mut Problems) -> Vec<Step> {
        if self.steps.len() > MAX_STEPS {
            let msg = format!("A workflow has at most {MAX_STEPS} steps");
            problem(
                problems,
                &[json!("steps")],
                "too_long",
                &msg,
                json!(self.steps.len()),
            );
            return Vec::new();
        }
        let mut out = Vec::with_capacity(self.steps.len());
        let mut at = Vec::with_capacity(self.steps.len());
        let mut names: Vec<Option<String>> = Vec::new();
        for (i, raw) in self.steps.iter().enumerate() {
            let mut p = StepProblems { index: i, problems };
            let Some(obj) = raw.as_object() else {
                p.add("", "dict_type", "Each step must be an object", raw.clone());
                names.push(None);
                continue;
            };
            let step = read_step(obj, &mut p);
            if let Some(name) = step.as_ref().and_then(|s| s.name.clone()) {
                if names.iter().flatten().any(|n| *n == name) {
                    let msg = format!("Another step is already named '{name}'");
                    p.add("name", "value_error", &msg, json!(name));
                }
            }
            names.push(step.as_ref().and_then(|s| s.name.clone()));
            if let Some(step) = step {
                out.push(step);
                at.push(i);
            }
        }
        // A condition may only skip forward, to a step that exists.
        for (s, &i) in out.iter().zip(&at) {
            if let Action::Condition {
                otherwise: Otherwise::SkipTo(target),
                ..
            } = &s.action
            {
                let later = names
                    .iter()
                    .skip(i + 1)
                    .any(|n| n.as_deref() == Some(target.as_str()));
                if !later {
                    let msg = format!("`else` must be \"stop\" or the name of a later step; no later step is named '{target}'");
                    StepProblems { index: i, problems }.add(
                        "else",
                        "value_error",
                        &msg,
                        json!(target),
                    );
                }
            }
        }
        out
    }
}

/// Problems of one step.
struct StepProblems<'a> {
    index: usize,
    problems: &'a mut Problems,
}

impl StepProblems<'_> {
    fn add(&mut self, key: &str, kind: &str, msg: &str, input: Value) {
        let mut loc = vec![json!("steps"), json!(self.index)];
        if !key.is_empty() {
            loc.push(json!(key));
        }
        let msg = format!("Step {}: {msg}", self.index);
        problem(self.problems, &loc, kind, &msg, input);
    }
}

/// A step's keys: flat ones first, then those of a nested `config` object.
struct Keys<'a> {
    flat: &'a Map<String, Value>,
    nested: Option<&'a Map<String, Value>>,
}

impl<'a> Keys<'a> {
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.flat
            .get(key)
            .or_else(|| self.nested.and_then(|n| n.get(key)))
            .filter(|v| !v.is_null())
    }
}

fn read_step(obj: &Map<String, Value>, p: &mut StepProblems<'_>) -> Option<Step> {
    let keys = Keys {
        flat: obj,
        nested: obj.get("config").and_then(Value::as_object),
    };
    let name = match keys.get("name") {
        None => None,
        Some(Value::String(s)) if valid_name(s) => Some(s.clone()),
        Some(v) => {
            let msg = "`name` must be 1–64 letters, digits or underscores, starting with a letter or underscore";
            p.add("name", "value_error", msg, v.clone());
            None
        }
    };
    let action = match keys.get("action").or_else(|| keys.get("type")) {
        Some(Value::String(a)) if ACTIONS.contains(&a.as_str()) => a.clone(),
        Some(v) => {
            let msg = format!("`action` must be one of {}", ACTIONS.join(", "));
            p.add("action", "enum", &msg, v.clone());
            return None;
        }
        None => {
            p.add("action", "missing", "`action` is required", Value::Null);
            return None;
        }
    };
    let before = p.problems.len();
    let action = read_action(&action, &keys, p);
    if p.problems.len() > before {
        return None;
    }
    action.map(|action| Step { name, action })
}

fn valid_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && s.len() <= 64
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A required string key that is a valid template.
fn template_key(keys: &Keys<'_>, key: &str, p: &mut StepProblems<'_>) -> Option<String> {
    match keys.get(key) {
        Some(Value::String(s)) if !s.is_empty() => {
            check_templates(&json!(s), key, p);
            Some(s.clone())
        }
        Some(v) => {
            p.add(
                key,
                "string_type",
                &format!("`{key}` must be a non-empty string"),
                v.clone(),
            );
            None
        }
        None => {
            p.add(key, "missing", &format!("`{key}` is required"), Value::Null);
            None
        }
    }
}

/// Every string inside `v` must be a valid template.
fn check_templates(v: &Value, key: &str, p: &mut StepProblems<'_>) {
    if let Err(e) = template::check_value(v) {
        p.add(key, "template_error", &e, v.clone());
    }
}

/// A record id: a number, or a non-empty string (a template).
fn record_id(keys: &Keys<'_>, p: &mut StepProblems<'_>) -> Option<Value> {
    match keys.get("id").or_else(|| keys.get("record_id")) {
        Some(v @ Value::Number(_)) => Some(v.clone()),
        Some(v @ Value::String(s)) if !s.is_empty() => {
            check_templates(v, "id", p);
            Some(v.clone())
        }
        Some(v) => {
            p.add(
                "id",
                "value_error",
                "`id` must be a record id or a template",
                v.clone(),
            );
            None
        }
        None => {
            p.add("id", "missing", "`id` is required", Value::Null);
            None
        }
    }
}

/// An object of templates under `key` (`{}` when absent unless `required`).
fn object_key(
    keys: &Keys<'_>,
    key: &str,
    required: bool,
    p: &mut StepProblems<'_>,
) -> Option<Value> {
    match keys.get(key) {
        Some(v @ Value::Object(_)) => {
            check_templates(v, key, p);
            Some(v.clone())
        }
        Some(v) => {
            p.add(
                key,
                "dict_type",
                &format!("`{key}` must be an object"),
                v.clone(),
            );
            None
        }
        None if required => {
            p.add(key, "missing", &format!("`{key}` is required"), Value::Null);
            None
        }
        None => Some(json!({})),
    }
}

/// A whole number in `min..=max` under `key`, or `default`.
fn number_key(
    keys: &Keys<'_>,
    key: &str,
    default: u64,
    min: u64,
    max: u64,
    p: &mut StepProblems<'_>,
) -> u64 {
    match keys.get(key) {
        None => default,
        Some(v) => match v.as_u64().or_else(|| {
            v.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                .map(|f| f as u64)
        }) {
            Some(n) if (min..=max).contains(&n) => n,
            _ => {
                let msg = format!("`{key}` must be a whole number from {min} to {max}");
                p.add(key, "value_error", &msg, v.clone());
                default
            }
        },
    }
}

fn read_action(action: &str, keys: &Keys<'_>, p: &mut StepProblems<'_>) -> Option<Action> {
    Some(match action {
        "http_request" => {
            let method = match keys.get("method") {
                None => "GET".to_owned(),
                Some(Value::String(m)) if is_token(m) => m.to_ascii_uppercase(),
                Some(v) => {
                    p.add(
                        "method",
                        "value_error",
                        "`method` must be an HTTP method such as GET or POST",
                        v.clone(),
                    );
                    "GET".to_owned()
                }
            };
            let url = template_key(keys, "url", p);
            if let Some(u) = &url {
                if !template::is_template(u) {
                    if let Err(e) = check_url(u) {
                        p.add("url", "url_parsing", e, json!(u));
                    }
                }
            }
            let headers = object_key(keys, "headers", false, p);
            if let Some(Value::Object(h)) = &headers {
                for (name, v) in h {
                    if !is_token(name) || !v.is_string() {
                        p.add(
                            "headers",
                            "value_error",
                            "`headers` must map header names to strings",
                            json!({name: v}),
                        );
                    }
                }
            }
            let body = keys.get("body").cloned();
            if let Some(b) = &body {
                check_templates(b, "body", p);
            }
            let timeout_secs = number_key(
                keys,
                "timeout_seconds",
                DEFAULT_HTTP_TIMEOUT_SECS,
                1,
                MAX_HTTP_TIMEOUT_SECS,
                p,
            );
            let retries = number_key(
                keys,
                "retries",
                DEFAULT_HTTP_RETRIES.into(),
                0,
                MAX_HTTP_RETRIES.into(),
                p,
            ) as u32;
            let fail_on_status = match keys.get("fail_on_status") {
                None => true,
                Some(Value::Bool(b)) => *b,
                Some(v) => {
                    p.add(
                        "fail_on_status",
                        "bool_type",
                        "`fail_on_status` must be true or false",
                        v.clone(),
                    );
                    true
                }
            };
            Action::HttpRequest {
                method,
                url: url?,
                headers: match headers? {
                    Value::Object(h) => h,
                    _ => Map::new(),
                },
                body,
                timeout_secs,
                retries,
                fail_on_status,
            }
        }
        "transform" => Action::Transform {
            output: object_key(keys, "output", false, p)?,
        },
        "condition" => {
            let Some(cond) = keys.get("if").or_else(|| keys.get("condition")) else {
                p.add(
                    "if",
                    "missing",
                    "`if` is required: a condition on the run's variables",
                    Value::Null,
                );
                return None;
            };
            if let Err(e) = Condition::parse(cond) {
                p.add("if", "value_error", &e, cond.clone());
            }
            let otherwise = match keys.get("else") {
                None => Otherwise::Stop,
                Some(Value::String(s)) if s == "stop" => Otherwise::Stop,
                Some(Value::String(s)) if valid_name(s) => Otherwise::SkipTo(s.clone()),
                Some(v) => {
                    p.add(
                        "else",
                        "value_error",
                        "`else` must be \"stop\" or the name of a later step",
                        v.clone(),
                    );
                    Otherwise::Stop
                }
            };
            Action::Condition {
                condition: cond.clone(),
                otherwise,
            }
        }
        "delay" => Action::Delay {
            seconds: number_key(keys, "seconds", 1, 0, MAX_DELAY_SECS, p),
        },
        "create_record" => Action::CreateRecord {
            collection: collection_key(keys, p)?,
            data: object_key(keys, "data", true, p)?,
        },
        "update_record" => {
            let collection = collection_key(keys, p);
            let id = record_id(keys, p);
            let data = object_key(keys, "data", true, p);
            Action::UpdateRecord {
                collection: collection?,
                id: id?,
                data: data?,
            }
        }
        "delete_record" => {
            let collection = collection_key(keys, p);
            let id = record_id(keys, p);
            Action::DeleteRecord {
                collection: collection?,
                id: id?,
            }
        }
        "send_email" => {
            let to = template_key(keys, "to", p);
            let subject = template_key(keys, "subject", p);
            let body = template_key(keys, "body", p);
            Action::SendEmail {
                to: to?,
                subject: subject?,
                body: body?,
            }
        }
        _ => return None,
    })
}

fn collection_key(keys: &Keys<'_>, p: &mut StepProblems<'_>) -> Option<String> {
    match keys.get("collection") {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(v) => {
            p.add(
                "collection",
                "string_type",
                "`collection` must be a collection name",
                v.clone(),
            );
            None
        }
        None => {
            p.add(
                "collection",
                "missing",
                "`collection` is required",
                Value::Null,
            );
            None
        }
    }
}

/// An HTTP token (method or header name).
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// An absolute http(s) URL with a host.
pub fn check_url(raw: &str) -> Result<(), &'static str> {
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("URL must not contain spaces or control characters");
    }
    let Some((scheme, rest)) = raw.split_once("://") else {
        return Err("URL must be an absolute http or https URL");
    };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err("URL must use http or https");
    }
    if rest.is_empty() || rest.starts_with(['/', '\\', '?', '#']) {
        return Err("URL must name a host");
    }
    Ok(())
}

/// Parses a cron expression: five fields (minute first), or six with seconds first; UTC.
pub fn parse_cron(expr: &str) -> Result<croner::Cron, String> {
    let fields = expr.split_whitespace().count();
    if !(5..=6).contains(&fields) {
        return Err(format!(
            "`{expr}` is not a cron expression: it needs five fields (minute hour day month weekday), or six with seconds first"
        ));
    }
    croner::Cron::new(expr)
        .with_seconds_optional()
        .parse()
        .map_err(|e| format!("`{expr}` is not a cron expression: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(t: &str, cfg: Value, steps: Value) -> Result<(Trigger, Vec<Step>), Problems> {
        let cfg = cfg.as_object().unwrap().clone();
        let steps = steps.as_array().unwrap().clone();
        Definition {
            trigger_type: t,
            trigger_config: &cfg,
            steps: &steps,
        }
        .compile()
    }

    fn locs(p: &Problems) -> Vec<String> {
        p.iter().map(|i| i["loc"].to_string()).collect()
    }

    #[test]
    fn compiles_the_issue_s_step_shapes() {
        let (trigger, steps) = compile(
            "record.created",
            json!({"collection": "orders", "condition": {"status": "paid"}}),
            json!([
                {"action": "transform", "name": "t", "output": {"msg": "order {{ trigger.record.title }}"}},
                {"action": "http_request", "name": "h", "method": "post", "url": "http://127.0.0.1:9/x",
                 "headers": {"X-A": "{{ steps.t.msg }}"}, "body": {"m": "{{ steps.t.msg }}"}},
                {"action": "condition", "if": {"steps.h.status": 200}, "else": "stop"},
                {"action": "delay", "seconds": 5},
                {"action": "update_record", "collection": "orders", "id": "{{ trigger.record.id }}", "data": {"status": "notified"}},
                {"action": "send_email", "config": {"to": "a@b.c", "subject": "s", "body": "b"}},
            ]),
        )
        .unwrap();
        assert!(
            matches!(trigger, Trigger::Record { ref collection, .. } if collection.as_deref() == Some("orders"))
        );
        assert_eq!(steps.len(), 6);
        assert!(matches!(&steps[1].action, Action::HttpRequest { method, .. } if method == "POST"));
        assert_eq!(steps[4].action_name(), "update_record");
        assert_eq!(steps[5].key(5), "step_5");
    }

    #[test]
    fn names_the_step_index_and_key_of_every_problem() {
        let err = compile(
            "record.created",
            json!({}),
            json!([
                {"action": "http_request"},
                {"action": "delay", "seconds": -1},
                {"action": "transform", "output": {"x": "{{ unclosed"}},
                {"action": "explode"},
                "not an object",
                {"action": "condition", "if": {"a": 1}, "else": "nowhere"},
            ]),
        )
        .unwrap_err();
        let l = locs(&err);
        assert!(
            l.contains(&r#"["body","steps",0,"url"]"#.to_owned()),
            "{l:?}"
        );
        assert!(
            l.contains(&r#"["body","steps",1,"seconds"]"#.to_owned()),
            "{l:?}"
        );
        assert!(
            l.contains(&r#"["body","steps",2,"output"]"#.to_owned()),
            "{l:?}"
        );
        assert!(
            l.contains(&r#"["body","steps",3,"action"]"#.to_owned()),
            "{l:?}"
        );
        assert!(l.contains(&r#"["body","steps",4]"#.to_owned()), "{l:?}");
        assert!(
            l.contains(&r#"["body","steps",5,"else"]"#.to_owned()),
            "{l:?}"
        );
        assert!(err[0]["msg"].as_str().unwrap().starts_with("Step 0:"));
    }

    #[test]
    fn checks_triggers() {
        assert!(compile("record.changed", json!({}), json!([])).is_err());
        assert!(compile("schedule", json!({}), json!([])).is_err());
        assert!(compile("schedule", json!({"cron": "not cron"}), json!([])).is_err());
        assert!(compile("schedule", json!({"cron": "*/5 * * * *"}), json!([])).is_ok());
        assert!(compile("schedule", json!({"cron": "*/2 * * * * *"}), json!([])).is_ok());
        assert!(compile(
            "record.updated",
            json!({"condition": {"type": "owner"}}),
            json!([])
        )
        .is_err());
        assert!(compile("manual", json!({}), json!([])).is_ok());
        let too_many: Vec<Value> = (0..51).map(|_| json!({"action": "delay"})).collect();
        assert!(compile("manual", json!({}), Value::Array(too_many)).is_err());
    }

    #[test]
    fn a_condition_skips_only_forward() {
        let ok = compile(
            "manual",
            json!({}),
            json!([{"action": "condition", "if": {"a": 1}, "else": "end"}, {"action": "delay", "name": "end"}]),
        );
        assert!(ok.is_ok());
        let back = compile(
            "manual",
            json!({}),
            json!([{"action": "delay", "name": "end"}, {"action": "condition", "if": {"a": 1}, "else": "end"}]),
        );
        assert!(back.is_err());
    }
}
