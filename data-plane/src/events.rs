//! What a record write reports, written by the write's own statement: its audit event
//! (`spec/audit.md`), one outbox row per webhook that wants it (`spec/webhooks.md`) and one run
//! per workflow it starts (`spec/workflows.md`). All are CTEs appended to the write's `WITH _w AS (…)`, so they commit or roll back with the change
//! itself, one-statement writes included, and cost no extra round trip.
//!
//! `_w` holds the written row. For an update, `_o` holds the row as it was before
//! ([`push_old_row`]). Hidden columns never appear: records are rendered from the collection's
//! select list, as reads show them.

use crate::auth::store::Origin;
use crate::http::context::Caller;
use crate::query::PushIdent;
use crate::registry::{Collection, Project};
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

/// A record event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `record.created` / `create`.
    Created,
    /// `record.updated` / `update`.
    Updated,
    /// `record.deleted` / `delete`.
    Deleted,
}

impl Kind {
    /// The webhook event name.
    pub fn event(self) -> &'static str {
        match self {
            Self::Created => "record.created",
            Self::Updated => "record.updated",
            Self::Deleted => "record.deleted",
        }
    }

    /// The audit action.
    pub fn action(self) -> &'static str {
        match self {
            Self::Created => "create",
            Self::Updated => "update",
            Self::Deleted => "delete",
        }
    }
}

/// Who made a change, from where: what its events record.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    /// A member admin.
    pub admin: Option<Uuid>,
    /// An app user.
    pub app_user: Option<String>,
    /// An API key.
    pub api_key: Option<Uuid>,
    /// Client IP and User-Agent.
    pub origin: Origin,
}

impl Actor {
    /// The caller of a request, from `origin`.
    pub fn of(caller: &Caller, origin: Origin) -> Self {
        let mut a = Actor {
            origin,
            ..Default::default()
        };
        match caller {
            Caller::Admin(id) => a.admin = Some(*id),
            Caller::AppUser(u) => a.app_user = Some(u.id.clone()),
            Caller::ApiKey(id) => a.api_key = Some(*id),
            Caller::Anonymous => {}
        }
        a
    }

    /// The id a webhook payload names as `actor_user_id` (admin or app user).
    fn user_id(&self) -> Option<String> {
        self.admin
            .map(|a| a.to_string())
            .or_else(|| self.app_user.clone())
    }
}

/// The webhooks of the project that want `kind` in this collection.
pub fn hooks(project: &Project, c: &Collection, kind: Kind) -> Vec<Uuid> {
    project
        .config
        .webhooks
        .iter()
        .filter(|w| w.wants(kind.event(), c.config.id))
        .map(|w| w.id)
        .collect()
}

/// The active workflows of the project that `kind` in this collection starts.
pub fn flows(project: &Project, c: &Collection, kind: Kind) -> Vec<Uuid> {
    project
        .config
        .workflows
        .iter()
        .filter(|w| w.wants(kind.event(), &c.config.name))
        .map(|w| w.id)
        .collect()
}

/// What a write reports beside the change: who made it, and which webhooks and workflows want it.
#[derive(Debug, Clone)]
pub struct Change<'a> {
    /// The project.
    pub project: &'a Project,
    /// Who, from where.
    pub actor: &'a Actor,
    /// Webhooks that want this event (see [`hooks`]).
    pub hooks: Vec<Uuid>,
    /// The id of each webhook's delivery, in the order of `hooks` (made here, so that the worker
    /// that commits can send them without looking for them).
    pub deliveries: Vec<Uuid>,
    /// Workflows this event starts (see [`flows`]).
    pub flows: Vec<Uuid>,
    /// The depth of the runs it starts: 1 for a request's write, one more than the writing run's
    /// for a workflow step's (none past [`model::workflows::MAX_DEPTH`]).
    pub depth: i16,
}

/// Appends `, _ea AS (INSERT INTO "_audit_events" …), _eh AS (INSERT INTO
/// "_webhook_deliveries" …)` after the `_w` CTE. `record` is the SQL of the written row's JSON as
/// text, evaluated per row of `_w`.
pub fn push_events(
    qb: &mut QueryBuilder<'_, Postgres>,
    change: &Change<'_>,
    c: &Collection,
    kind: Kind,
    record: &str,
) {
    let (project, actor, hooks) = (change.project, change.actor, &change.hooks);
    if !change.flows.is_empty() && change.depth <= model::workflows::MAX_DEPTH {
        push_runs(qb, change, c, kind, record);
    }
    let (old, new) = match kind {
        Kind::Created => ("NULL::text", record.to_owned()),
        Kind::Updated => ("(SELECT j FROM _o)", record.to_owned()),
        Kind::Deleted => (record, "NULL::text".to_owned()),
    };
    qb.push(", _ea AS (INSERT INTO ")
        .push_ident(&project.quoted_schema)
        .push(
            ".\"_audit_events\" (\"id\", \"collection_id\", \"record_id\",
        \"action\", \"actor_user_id\", \"actor_api_key_id\", \"actor_app_user_id\",
        \"old_data_json\", \"new_data_json\", \"ip_address\", \"user_agent\")
        SELECT gen_random_uuid(), ",
        );
    qb.push_bind(c.config.id)
        .push(", _w.\"id\"::text, ")
        .push_bind(kind.action())
        .push(", ")
        .push_bind(actor.admin)
        .push(", ")
        .push_bind(actor.api_key)
        .push(", ")
        .push_bind(actor.app_user.clone())
        .push(format_args!(", {old}, {new}, "))
        .push_bind(actor.origin.ip.clone())
        .push(", ")
        .push_bind(actor.origin.user_agent.clone())
        .push(" FROM _w)");
    if hooks.is_empty() {
        return;
    }
    qb.push(", _eh AS (INSERT INTO ")
        .push_ident(&project.quoted_schema)
        .push(
            ".\"_webhook_deliveries\" (\"id\", \"webhook_id\", \"event_type\",
        \"payload_json\") SELECT _h.did, _h.id, ",
        );
    qb.push_bind(kind.event())
        .push(", json_build_object('event', ")
        .push_bind(kind.event())
        .push(", 'timestamp', clock_timestamp(), 'project_id', ")
        .push_bind(project.config.project_id)
        .push("::uuid, 'collection', ")
        .push_bind(c.config.name.clone());
    match kind {
        Kind::Created => qb.push(format_args!(", 'record', ({record})::json")),
        Kind::Updated => qb.push(format_args!(
            ", 'record_id', _w.\"id\"::text, 'old_record', (SELECT j FROM _o)::json, 'new_record', ({record})::json"
        )),
        Kind::Deleted => qb.push(format_args!(
            ", 'record_id', _w.\"id\"::text, 'deleted_record', ({record})::json"
        )),
    };
    qb.push(", 'actor_user_id', ")
        .push_bind(actor.user_id())
        .push(")::text FROM _w, unnest(")
        .push_bind(hooks.to_vec())
        .push("::uuid[], ")
        .push_bind(change.deliveries.to_vec())
        .push("::uuid[]) AS _h(id, did))");
}

/// Appends `, _er AS (INSERT INTO "_workflow_runs" …)`: one pending run per workflow, with the
/// trigger the run's templates read as `trigger` (`event`, `collection`, `record`, for an update
/// `old_record`, `record_id`, `actor`, `timestamp`).
fn push_runs(
    qb: &mut QueryBuilder<'_, Postgres>,
    change: &Change<'_>,
    c: &Collection,
    kind: Kind,
    record: &str,
) {
    let (project, actor) = (change.project, change.actor);
    qb.push(", _er AS (INSERT INTO ")
        .push_ident(&project.quoted_schema)
        .push(
            ".\"_workflow_runs\" (\"id\", \"workflow_id\", \"depth\", \"trigger_json\")
        SELECT gen_random_uuid(), _f.id, ",
        );
    qb.push_bind(change.depth)
        .push(", json_build_object('event', ")
        .push_bind(kind.event())
        .push(", 'collection', ")
        .push_bind(c.config.name.clone())
        .push(format_args!(
            ", 'record_id', _w.\"id\", 'record', ({record})::json"
        ));
    if kind == Kind::Updated {
        qb.push(", 'old_record', (SELECT j FROM _o)::json");
    }
    qb.push(", 'actor', json_build_object('user_id', ")
        .push_bind(actor.user_id())
        .push("::text, 'api_key_id', ")
        .push_bind(actor.api_key)
        .push("::uuid), 'timestamp', clock_timestamp())::text FROM _w, unnest(")
        .push_bind(change.flows.to_vec())
        .push("::uuid[]) AS _f(id))");
}
