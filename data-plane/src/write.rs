//! Record writes: the one path that REST, batch steps and (later) workflow steps take. A write
//! makes its checks in the contract's order (collection → record → permission → validation
//! rules → values), writes, and records its audit event and its webhooks' outbox rows in the same
//! statement ([`crate::events`]); after commit it wakes the outbox consumer. The common create and
//! update are one statement outside a transaction; everything else runs in one.

use crate::auth::roles;
use crate::db::{self, Found, RecordId, Tx, Values};
use crate::events::{self, Actor, Change, Kind};
use crate::http::context::{Caller, Ctx};
use crate::http::error::ApiError;
use crate::http::validate::check_record;
use crate::policy;
use crate::query::filter::Pred;
use crate::registry::{Collection, SYSTEM_COLUMNS};
use crate::AppState;
use model::value::coerce_json;
use model::{Action, IdKind};
use serde_json::{Map, Value};
use std::sync::Arc;

/// Who writes: the request's caller and where it came from.
pub struct Writer<'a> {
    /// Project and caller.
    pub ctx: &'a Ctx,
    /// What the events record of them.
    pub actor: Actor,
    /// The depth of the workflow runs its writes start (1 for a request; see [`Change::depth`]).
    pub depth: i16,
    /// The webhook deliveries its writes queued: `(webhook, delivery)`, sent from this worker
    /// once they commit ([`Writer::committed`]).
    deliveries: std::sync::Mutex<Vec<(uuid::Uuid, uuid::Uuid)>>,
}

impl<'a> Writer<'a> {
    /// A writer for the request's caller.
    pub fn new(ctx: &'a Ctx, origin: crate::auth::store::Origin) -> Self {
        Self {
            ctx,
            actor: Actor::of(&ctx.caller, origin),
            depth: 1,
            deliveries: Default::default(),
        }
    }

    fn change(&self, c: &Collection, kind: Kind) -> Change<'_> {
        let hooks = events::hooks(&self.ctx.project, c, kind);
        let deliveries: Vec<uuid::Uuid> = hooks.iter().map(|_| uuid::Uuid::new_v4()).collect();
        self.deliveries
            .lock()
            .expect("lock")
            .extend(hooks.iter().copied().zip(deliveries.iter().copied()));
        Change {
            project: &self.ctx.project,
            actor: &self.actor,
            hooks,
            deliveries,
            flows: events::flows(&self.ctx.project, c, kind),
            depth: self.depth,
        }
    }

    /// After the commit of this writer's writes: their webhook deliveries leave from here at once
    /// (any worker sends them later should this one not), workflow runs are due, and the audit
    /// chain has events to seal. Deliveries of writes that were rolled back are simply not found.
    pub fn committed(&self, st: &AppState) {
        let fresh = std::mem::take(&mut *self.deliveries.lock().expect("lock"));
        let pid = self.ctx.project.config.project_id;
        if !fresh.is_empty() {
            st.webhooks.fresh(pid, fresh);
        }
        if self
            .ctx
            .project
            .config
            .workflows
            .iter()
            .any(|w| w.is_active)
        {
            st.webhooks.committed(pid);
        } else {
            st.webhooks.seal_soon(pid);
        }
    }

    /// Creates a record; returns it as JSON.
    pub async fn create(
        &self,
        st: &AppState,
        c: &Collection,
        body: &Map<String, Value>,
    ) -> Result<String, ApiError> {
        let ctx = self.ctx;
        let (rule, values) = create_values(ctx, c, body)?;
        let change = self.change(c, Kind::Created);
        // The common create (a rule that allows any row, a collection other than `_users`) is one
        // statement; anything else is judged in a transaction.
        let record = if rule.constant() == Some(true) && !c.config.is_system && !values.is_empty() {
            db::insert_at_once(&st.db, &ctx.project, c, &values, &change)
                .await?
                .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("the insert wrote no row")))?
        } else {
            let mut tx = db::begin(&st.db, &ctx.project).await?;
            let record = insert_in(&mut tx, ctx, c, &values, &rule, &change).await?;
            tx.commit().await?;
            record
        };
        self.committed(st);
        Ok(record)
    }

    /// Updates a record; returns it as JSON.
    pub async fn update(
        &self,
        st: &AppState,
        c: &Collection,
        id: &RecordId,
        body: Map<String, Value>,
    ) -> Result<String, ApiError> {
        let record = match self.update_at_once(st, c, id, &body).await? {
            Some(record) => record,
            None => {
                let mut tx = db::begin(&st.db, &self.ctx.project).await?;
                let record = self.update_in(&mut tx, c, id, body).await?;
                tx.commit().await?;
                record
            }
        };
        self.committed(st);
        Ok(record)
    }

    /// Deletes a record: the common delete (a collection other than `_users`, a rule that may
    /// allow it) as one statement; when that deletes nothing, a transaction answers in the
    /// contract's order (missing, refused) or deletes what the statement could not (a
    /// constraint's refusal is its to report).
    pub async fn delete(
        &self,
        st: &AppState,
        c: &Collection,
        id: &RecordId,
    ) -> Result<(), ApiError> {
        let ctx = self.ctx;
        let rule = policy::rule(c, Action::Delete, &ctx.caller);
        if !c.config.is_system && rule.constant() != Some(false) {
            let change = self.change(c, Kind::Deleted);
            match db::delete_at_once(&st.db, &ctx.project, c, id, &rule, &change).await {
                Ok(Some(_)) => {
                    self.committed(st);
                    return Ok(());
                }
                // Nothing deleted, or a constraint refused (a relation that restricts deletes):
                // the transaction answers as the contract orders it.
                Ok(None) => {}
                Err(sqlx::Error::Database(d)) if d.code().is_some_and(|c| c.starts_with("23")) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let mut tx = db::begin(&st.db, &ctx.project).await?;
        self.delete_in(&mut tx, c, id).await?;
        tx.commit().await?;
        self.committed(st);
        Ok(())
    }

    /// The common update (a valid body, a collection other than `_users`) as one statement.
    /// `None` when it changed nothing, or the body has a problem: the transaction of
    /// [`Writer::update_in`] then answers in the contract's order (missing, refused, invalid).
    async fn update_at_once(
        &self,
        st: &AppState,
        c: &Collection,
        id: &RecordId,
        body: &Map<String, Value>,
    ) -> Result<Option<String>, ApiError> {
        let ctx = self.ctx;
        let rule = policy::rule(c, Action::Update, &ctx.caller);
        if c.config.is_system || rule.constant() == Some(false) || check_record(c, body).is_err() {
            return Ok(None);
        }
        let Ok(values) = values_from(c, body) else {
            return Ok(None);
        };
        let change = self.change(c, Kind::Updated);
        match db::update_at_once(&st.db, &ctx.project, c, id, &values, &rule, &change).await {
            Ok(record) => Ok(record),
            // A value or constraint Postgres refused: the transaction answers, after the record
            // and the permission, as the contract orders it.
            Err(sqlx::Error::Database(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// A create inside an open transaction (a batch step): permission, values, insert.
    pub async fn create_in(
        &self,
        tx: &mut Tx,
        c: &Collection,
        body: Map<String, Value>,
    ) -> Result<String, ApiError> {
        let (rule, values) = create_values(self.ctx, c, &body)?;
        let change = self.change(c, Kind::Created);
        insert_in(tx, self.ctx, c, &values, &rule, &change).await
    }

    /// An update inside an open transaction: the record (locked), permission, values, write.
    pub async fn update_in(
        &self,
        tx: &mut Tx,
        c: &Collection,
        id: &RecordId,
        body: Map<String, Value>,
    ) -> Result<String, ApiError> {
        let ctx = self.ctx;
        // Checked after the record and the permission, as the contract orders it.
        let admin_only = admin_only_fields(c, &body);
        let checked = check_record(c, &body);
        let values = values_from(c, &body);
        let rule = policy::rule(c, Action::Update, &ctx.caller);
        found(
            db::lock_record(tx, c, id, &rule).await?,
            ctx,
            Action::Update,
        )?;
        checked?;
        let mut values = values?;
        guard_admin_only(ctx, &admin_only)?;
        if admin_only.contains(&"email") {
            normalize_app_user_email(&mut values)?;
        }
        let change = self.change(c, Kind::Updated);
        db::update(tx, c, id, &values, &change)
            .await?
            .ok_or(ApiError::NotFound("Record not found"))
    }

    /// A delete inside an open transaction: the record (locked), permission, delete.
    pub async fn delete_in(
        &self,
        tx: &mut Tx,
        c: &Collection,
        id: &RecordId,
    ) -> Result<(), ApiError> {
        let rule = policy::rule(c, Action::Delete, &self.ctx.caller);
        found(
            db::lock_record(tx, c, id, &rule).await?,
            self.ctx,
            Action::Delete,
        )?;
        let change = self.change(c, Kind::Deleted);
        db::delete(tx, c, id, &change).await?;
        Ok(())
    }
}

/// The refusal of spec/data.md: anonymous callers are asked to sign in, others are refused.
pub fn deny(caller: &Caller, action: Action) -> ApiError {
    match caller {
        Caller::Anonymous => ApiError::Unauthorized("Authentication required"),
        _ => ApiError::Forbidden(format!("Permission denied for action: {}", action.as_str())),
    }
}

/// The caller's rule for `action` on `c`; a rule that allows no row at all is refused at once.
pub fn rule(ctx: &Ctx, c: &Collection, action: Action) -> Result<Pred, ApiError> {
    let rule = policy::rule(c, action, &ctx.caller);
    match rule.constant() {
        Some(false) => Err(deny(&ctx.caller, action)),
        _ => Ok(rule),
    }
}

/// A record lookup's outcome as the contract orders it: missing (404) before denied.
pub fn found<T>(f: Found<T>, ctx: &Ctx, action: Action) -> Result<T, ApiError> {
    match f {
        Found::Missing => Err(ApiError::NotFound("Record not found")),
        Found::Denied => Err(deny(&ctx.caller, action)),
        Found::Allowed(t) => Ok(t),
    }
}

/// Turns a body into column values: system columns are ignored, unknown keys are a 400, values
/// are coerced to the field's type.
pub fn values_from(c: &Collection, body: &Map<String, Value>) -> Result<Values, ApiError> {
    let mut values: Values = Vec::new();
    for (key, v) in body {
        if SYSTEM_COLUMNS.iter().any(|(s, _)| s == key) {
            continue;
        }
        let col = match c.columns.get(key) {
            Some(col) if col.writable => col.clone(),
            _ if c
                .config
                .fields
                .iter()
                .any(|f| f.is_hidden && (&f.name == key || &f.column == key)) =>
            {
                return Err(ApiError::BadRequest(format!(
                    "Field '{key}' cannot be written through the data API; use settings/auth/users"
                )))
            }
            _ => return Err(ApiError::BadRequest(format!("Unknown field: {key}"))),
        };
        let v = coerce_json(col.ty, v)
            .map_err(|e| ApiError::BadRequest(format!("Invalid value for field '{key}': {e}")))?;
        values.retain(|(c, _)| c.sql != col.sql);
        values.push((col, v));
    }
    Ok(values)
}

fn system_value(
    c: &Collection,
    column: &str,
    v: String,
) -> (Arc<crate::registry::Column>, Option<String>) {
    (c.columns[column].clone(), Some(v))
}

/// What a create may write, in the contract's order: permission, validation rules, values
/// (with the creator, and for `_users` an id and a normalized email).
fn create_values(
    ctx: &Ctx,
    c: &Collection,
    body: &Map<String, Value>,
) -> Result<(Pred, Values), ApiError> {
    let rule = rule(ctx, c, Action::Create)?;
    // A new app user needs its email, whoever creates it.
    let mut admin_only = admin_only_fields(c, body);
    admin_only.retain(|f| *f != "email");
    guard_admin_only(ctx, &admin_only)?;
    check_record(c, body)?;
    let mut values = values_from(c, body)?;
    match &ctx.caller {
        Caller::Admin(id) => values.push(system_value(c, "created_by_user_id", id.to_string())),
        Caller::AppUser(u) => values.push(system_value(c, "created_by_app_user_id", u.id.clone())),
        Caller::ApiKey(_) | Caller::Anonymous => {}
    }
    if c.config.id_kind == IdKind::Uuid {
        prepare_app_user(c, &mut values)?;
    }
    Ok((rule, values))
}

/// The insert of a create in a transaction, refused when `rule` refuses the row as written.
async fn insert_in(
    tx: &mut Tx,
    ctx: &Ctx,
    c: &Collection,
    values: &Values,
    rule: &Pred,
    change: &Change<'_>,
) -> Result<String, ApiError> {
    let record = db::insert(tx, c, values, rule, change)
        .await?
        .ok_or_else(|| deny(&ctx.caller, Action::Create))?;
    if c.config.is_system {
        roles::assign_default_role_to_record(tx, &ctx.project.config, &record).await?;
    }
    Ok(record)
}

/// Columns of `_users` that only admins write through the data API (spec/users-collection.md,
/// Recommended, extended to `email`): whether a user is disabled or verified, and the address
/// sign-ins trust. An API key or app user that could write them would lift restrictions or take
/// over an identity.
const ADMIN_ONLY: [&str; 3] = ["is_disabled", "is_email_verified", "email"];

/// The admin-only columns a body writes.
fn admin_only_fields(c: &Collection, body: &Map<String, Value>) -> Vec<&'static str> {
    if !c.config.is_system {
        return Vec::new();
    }
    ADMIN_ONLY
        .into_iter()
        .filter(|f| body.contains_key(*f))
        .collect()
}

/// 403 when someone other than an admin writes an admin-only column.
fn guard_admin_only(ctx: &Ctx, fields: &[&str]) -> Result<(), ApiError> {
    match fields.first() {
        Some(f) if !matches!(ctx.caller, Caller::Admin(_)) => Err(ApiError::Forbidden(format!(
            "Field '{f}' can only be changed by an admin"
        ))),
        _ => Ok(()),
    }
}

/// `_users` rows get a server-made UUID and a required, lower-cased email.
fn prepare_app_user(c: &Collection, values: &mut Values) -> Result<(), ApiError> {
    normalize_app_user_email(values)?;
    values.push(system_value(c, "id", uuid::Uuid::new_v4().to_string()));
    Ok(())
}

/// An app user's email must be an address, and is stored lower-cased.
fn normalize_app_user_email(values: &mut Values) -> Result<(), ApiError> {
    let email = values.iter_mut().find(|(col, _)| col.sql.name() == "email");
    match email {
        Some((_, Some(e))) if model::fields::normalize_email(e).is_some() => {
            *e = e.to_lowercase();
            Ok(())
        }
        _ => Err(ApiError::BadRequest(
            "Field 'email' is required and must be an email address".into(),
        )),
    }
}

#[cfg(test)]
mod fuzz {
    //! Random record bodies: never a panic, every rejection a 400 with a detail.
    use super::*;
    use crate::registry::sample::project;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use serde_json::json;

    fn value(rng: &mut StdRng, depth: u32) -> Value {
        match rng.gen_range(0..10) {
            0 => Value::Null,
            1 => json!(rng.gen::<bool>()),
            2 => json!(rng.gen::<i64>()),
            3 => json!(rng.gen::<f64>() * 1e300),
            4 => json!(
                [
                    "1",
                    "x",
                    "2024-01-01",
                    "' OR 1=1 --",
                    "\0",
                    "",
                    "true",
                    "1.5"
                ][rng.gen_range(0..8)]
            ),
            5 if depth < 2 => Value::Array(
                (0..rng.gen_range(0..3))
                    .map(|_| value(rng, depth + 1))
                    .collect(),
            ),
            6 if depth < 2 => json!({ "k": value(rng, depth + 1) }),
            7 => json!(u64::MAX),
            _ => json!("550e8400-e29b-41d4-a716-446655440000"),
        }
    }

    #[test]
    fn random_bodies_never_panic() {
        let project = project();
        let c = project.collections["order"].clone();
        let keys = [
            "title",
            "n",
            "x",
            "ok",
            "day",
            "at",
            "u",
            "parent",
            "parent_id",
            "id",
            "created_at",
            "zzz",
            "",
        ];
        let mut rng = StdRng::seed_from_u64(11);
        for _ in 0..20_000 {
            let body: Map<String, Value> = (0..rng.gen_range(0..5))
                .map(|_| {
                    (
                        keys[rng.gen_range(0..keys.len())].to_owned(),
                        value(&mut rng, 0),
                    )
                })
                .collect();
            if let Err(e) = values_from(&c, &body) {
                assert!(matches!(e, ApiError::BadRequest(_)), "{e:?} for {body:?}");
            }
        }
    }
}
