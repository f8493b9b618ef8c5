//! Record CRUD (`spec/data.md`), in the contract's check order: project → body shape →
//! collection → record → permission → validation rules → values → write.

use super::context::{Caller, Ctx, JsonObject, ReadCtx};
use super::error::ApiError;
use super::validate::check_record;
use crate::auth::roles;
use crate::db::{self, Found, RecordId, Tx, Values};
use crate::policy;
use crate::query::aggregate;
use crate::query::cursor;
use crate::query::expand;
use crate::query::filter::{Filter, Op, Pred};
use crate::query::list::{plan_get, plan_list};
use crate::registry::{Collection, SYSTEM_COLUMNS};
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use model::value::coerce_json;
use model::{Action, IdKind};
use serde_json::{Map, Value};
use std::sync::Arc;

type Params2 = Path<(String, String)>;
type Params3 = Path<(String, String, String)>;

pub fn collection(ctx: &Ctx, name: &str) -> Result<Arc<Collection>, ApiError> {
    ctx.project
        .collections
        .get(name)
        .cloned()
        .ok_or(ApiError::NotFound("Collection not found"))
}

pub fn record_id(c: &Collection, raw: &str) -> Result<RecordId, ApiError> {
    match c.config.id_kind {
        IdKind::Int => raw
            .parse()
            .map(RecordId::Int)
            .map_err(|_| ApiError::NotFound("Record not found")),
        IdKind::Uuid => Ok(RecordId::Text(raw.to_owned())),
    }
}

/// The refusal of spec/data.md: anonymous callers are asked to sign in, others are refused.
fn deny(caller: &Caller, action: Action) -> ApiError {
    match caller {
        Caller::Anonymous => ApiError::Unauthorized("Authentication required"),
        _ => ApiError::Forbidden(format!("Permission denied for action: {}", action.as_str())),
    }
}

/// The caller's rule for `action` on `c`; a rule that allows no row at all is refused at once.
fn rule(ctx: &Ctx, c: &Collection, action: Action) -> Result<Pred, ApiError> {
    let rule = policy::rule(c, action, &ctx.caller);
    match rule.constant() {
        Some(false) => Err(deny(&ctx.caller, action)),
        _ => Ok(rule),
    }
}

/// The rows of a list or aggregate: the caller's `list` rule, and an app user's own rows only
/// (spec/data.md, app-user row scoping; no query parameter can widen it).
pub fn list_rule(ctx: &Ctx, c: &Collection) -> Result<Pred, ApiError> {
    let rule = rule(ctx, c, Action::List)?;
    Ok(match &ctx.caller {
        Caller::AppUser(u) => Pred::all(vec![
            rule,
            Pred::Leaf(Filter {
                col: c.columns["created_by_app_user_id"].clone(),
                op: Op::Eq,
                values: vec![u.id.clone()],
            }),
        ]),
        _ => rule,
    })
}

/// [`list_rule`] for a read: before refusing on facts last seen of an app user, reads them now;
/// `Err(next)` is the corrected context to plan again with when they changed.
async fn list_rule_now(
    st: &AppState,
    rctx: &ReadCtx,
    c: &Collection,
) -> Result<Result<Pred, ReadCtx>, ApiError> {
    match list_rule(&rctx.ctx, c) {
        Ok(rule) => Ok(Ok(rule)),
        Err(refusal) => rctx.confirm(st).await?.map(Err).ok_or(refusal),
    }
}

/// Expansions show only related records the caller may read.
fn guard_expansions(ctx: &Ctx, nodes: &mut [crate::query::expand::Node]) {
    expand::guard(nodes, &|target| {
        policy::rule(target, Action::Read, &ctx.caller)
    });
}

/// A record lookup's outcome as the contract orders it: missing (404) before denied.
fn found<T>(f: Found<T>, ctx: &Ctx, action: Action) -> Result<T, ApiError> {
    match f {
        Found::Missing => Err(ApiError::NotFound("Record not found")),
        Found::Denied => Err(deny(&ctx.caller, action)),
        Found::Allowed(t) => Ok(t),
    }
}

pub fn json(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Turns a body into column values: system columns are ignored, unknown keys are a 400, values
/// are coerced to the field's type.
fn values_from(c: &Collection, body: &Map<String, Value>) -> Result<Values, ApiError> {
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

/// `POST …/data/{collection}`
pub async fn create(
    State(st): State<AppState>,
    ctx: Ctx,
    Path((_, name)): Params2,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let c = collection(&ctx, &name)?;
    let (rule, values) = create_values(&ctx, &c, &body)?;
    // The common create (a rule that allows any row, a collection other than `_users`) is one
    // statement; anything else is judged in a transaction.
    if rule.constant() == Some(true) && !c.config.is_system && !values.is_empty() {
        let record = db::insert_at_once(&st.db, &ctx.project, &c, &values)
            .await?
            .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("the insert wrote no row")))?;
        return Ok(json(StatusCode::CREATED, record));
    }
    let mut tx = db::begin(&st.db, &ctx.project).await?;
    let record = insert_in(&mut tx, &ctx, &c, &values, &rule).await?;
    tx.commit().await?;
    Ok(json(StatusCode::CREATED, record))
}

/// A create inside an open transaction (also a batch step): permission, values, insert.
pub async fn create_in(
    tx: &mut Tx,
    ctx: &Ctx,
    c: &Collection,
    body: Map<String, Value>,
) -> Result<String, ApiError> {
    let (rule, values) = create_values(ctx, c, &body)?;
    insert_in(tx, ctx, c, &values, &rule).await
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
) -> Result<String, ApiError> {
    let record = db::insert(tx, c, values, rule)
        .await?
        .ok_or_else(|| deny(&ctx.caller, Action::Create))?;
    if c.config.is_system {
        roles::assign_default_role_to_record(tx, &ctx.project.config, &record).await?;
    }
    Ok(record)
}

/// An update inside an open transaction: the record (locked), permission, values, write.
pub async fn update_in(
    tx: &mut Tx,
    ctx: &Ctx,
    c: &Collection,
    id: &RecordId,
    body: Map<String, Value>,
) -> Result<String, ApiError> {
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
    db::update(tx, c, id, &values)
        .await?
        .ok_or(ApiError::NotFound("Record not found"))
}

/// A delete inside an open transaction: the record (locked), permission, delete.
pub async fn delete_in(
    tx: &mut Tx,
    ctx: &Ctx,
    c: &Collection,
    id: &RecordId,
) -> Result<(), ApiError> {
    let rule = policy::rule(c, Action::Delete, &ctx.caller);
    found(
        db::lock_record(tx, c, id, &rule).await?,
        ctx,
        Action::Delete,
    )?;
    db::delete(tx, c, id).await?;
    Ok(())
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

/// `GET …/data/{collection}`
pub async fn list(
    State(st): State<AppState>,
    mut rctx: ReadCtx,
    Path((_, name)): Params2,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let (plan, read) = loop {
        let ctx = &rctx.ctx;
        let c = collection(ctx, &name)?;
        let mut plan = plan_list(&ctx.project, &c, &params)?;
        plan.rule = match list_rule_now(&st, &rctx, &c).await? {
            Ok(rule) => rule,
            Err(next) => {
                rctx = next;
                continue;
            }
        };
        plan.check = rctx.check().cloned();
        guard_expansions(ctx, &mut plan.expand);
        let read = db::list(&st.db, &ctx.project, &c, &plan).await?;
        match rctx.settle(&st, read.principal.as_deref()) {
            Some(next) => rctx = next,
            None => break (plan, read),
        }
    };
    let page = read.json.unwrap_or_default();
    if plan.cursor.is_none() {
        return Ok(json(StatusCode::OK, page));
    }
    // Keyset mode: the next cursor continues after the last row of a full page.
    let mut page: Value = serde_json::from_str(&page).map_err(|e| ApiError::Internal(e.into()))?;
    let records = page["records"].as_array().map_or(&[][..], Vec::as_slice);
    let next = match records.last() {
        Some(last) if records.len() as i64 == plan.limit => {
            Value::String(cursor::encode(last, &plan.sort))
        }
        _ => Value::Null,
    };
    page["next_cursor"] = next;
    Ok(json(StatusCode::OK, page.to_string()))
}

/// `GET …/data/{collection}/_aggregate`: count, sum, avg, min, max over the list's filters,
/// optionally grouped.
pub async fn aggregate(
    State(st): State<AppState>,
    mut rctx: ReadCtx,
    Path((_, name)): Params2,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    loop {
        let ctx = &rctx.ctx;
        let c = collection(ctx, &name)?;
        let mut plan = aggregate::plan(&c, &params)?;
        plan.rule = match list_rule_now(&st, &rctx, &c).await? {
            Ok(rule) => rule,
            Err(next) => {
                rctx = next;
                continue;
            }
        };
        plan.check = rctx.check().cloned();
        let read = db::aggregate(&st.db, &ctx.project, &c, &plan).await?;
        match rctx.settle(&st, read.principal.as_deref()) {
            Some(next) => rctx = next,
            None => return Ok(json(StatusCode::OK, read.json.unwrap_or_default())),
        }
    }
}

/// `GET …/data/{collection}/{id}`
pub async fn get(
    State(st): State<AppState>,
    mut rctx: ReadCtx,
    Path((_, name, id)): Params3,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    loop {
        let ctx = &rctx.ctx;
        let c = collection(ctx, &name)?;
        let id = record_id(&c, &id)?;
        let mut expand = plan_get(&ctx.project, &c, &params)?;
        guard_expansions(ctx, &mut expand);
        let rule = policy::rule(&c, Action::Read, &ctx.caller);
        let (now, record) =
            db::get(&st.db, &ctx.project, &c, &id, &expand, &rule, rctx.check()).await?;
        match rctx.settle(&st, now.as_deref()) {
            Some(next) => rctx = next,
            None => {
                let record = found(record, ctx, Action::Read)?;
                return Ok(json(StatusCode::OK, record));
            }
        }
    }
}

/// `PATCH …/data/{collection}/{id}`
pub async fn update(
    State(st): State<AppState>,
    ctx: Ctx,
    Path((_, name, id)): Params3,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let c = collection(&ctx, &name)?;
    let id = record_id(&c, &id)?;
    if let Some(record) = update_at_once(&st, &ctx, &c, &id, &body).await? {
        return Ok(json(StatusCode::OK, record));
    }
    let mut tx = db::begin(&st.db, &ctx.project).await?;
    let record = update_in(&mut tx, &ctx, &c, &id, body).await?;
    tx.commit().await?;
    Ok(json(StatusCode::OK, record))
}

/// The common update (a valid body, a collection other than `_users`) as one statement. `None`
/// when it changed nothing, or the body has a problem: the transaction of [`update_in`] then
/// answers in the contract's order (missing, refused, invalid).
async fn update_at_once(
    st: &AppState,
    ctx: &Ctx,
    c: &Collection,
    id: &RecordId,
    body: &Map<String, Value>,
) -> Result<Option<String>, ApiError> {
    let rule = policy::rule(c, Action::Update, &ctx.caller);
    if c.config.is_system || rule.constant() == Some(false) || check_record(c, body).is_err() {
        return Ok(None);
    }
    let Ok(values) = values_from(c, body) else {
        return Ok(None);
    };
    match db::update_at_once(&st.db, &ctx.project, c, id, &values, &rule).await {
        Ok(record) => Ok(record),
        // A value or constraint Postgres refused: the transaction answers, after the record and
        // the permission, as the contract orders it.
        Err(sqlx::Error::Database(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// `DELETE …/data/{collection}/{id}`
pub async fn delete(
    State(st): State<AppState>,
    ctx: Ctx,
    Path((_, name, id)): Params3,
) -> Result<StatusCode, ApiError> {
    let c = collection(&ctx, &name)?;
    let id = record_id(&c, &id)?;
    let mut tx = db::begin(&st.db, &ctx.project).await?;
    delete_in(&mut tx, &ctx, &c, &id).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
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
