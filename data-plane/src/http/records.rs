//! Record CRUD (`spec/data.md`), in the contract's check order: project → body shape →
//! collection → record → permission → validation rules → values → write. Writes are
//! [`crate::write`]'s; these handlers only adapt them to HTTP.

use super::context::{Caller, ClientOrigin, Ctx, JsonObject, ReadCtx};
use super::error::ApiError;
use crate::db::{self, RecordId};
use crate::policy;
use crate::query::aggregate;
use crate::query::cursor;
use crate::query::expand;
use crate::query::filter::{Filter, Op, Pred};
use crate::query::list::{plan_get, plan_list};
use crate::registry::Collection;
use crate::write::{found, rule, Writer};
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use model::{Action, IdKind};
use serde_json::Value;
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

pub fn json(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// `POST …/data/{collection}`
pub async fn create(
    State(st): State<AppState>,
    ctx: Ctx,
    ClientOrigin(origin): ClientOrigin,
    Path((_, name)): Params2,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let c = collection(&ctx, &name)?;
    let record = Writer::new(&ctx, origin).create(&st, &c, &body).await?;
    Ok(json(StatusCode::CREATED, record))
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
    ClientOrigin(origin): ClientOrigin,
    Path((_, name, id)): Params3,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let c = collection(&ctx, &name)?;
    let id = record_id(&c, &id)?;
    let record = Writer::new(&ctx, origin).update(&st, &c, &id, body).await?;
    Ok(json(StatusCode::OK, record))
}

/// `DELETE …/data/{collection}/{id}`
pub async fn delete(
    State(st): State<AppState>,
    ctx: Ctx,
    ClientOrigin(origin): ClientOrigin,
    Path((_, name, id)): Params3,
) -> Result<StatusCode, ApiError> {
    let c = collection(&ctx, &name)?;
    let id = record_id(&c, &id)?;
    Writer::new(&ctx, origin).delete(&st, &c, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
