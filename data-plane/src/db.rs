//! All data-plane SQL; Postgres builds the response JSON. Every statement runs as the project's
//! role, so even a wrong query cannot reach another tenant:
//!
//! - writes run in a transaction that begins with `SET LOCAL ROLE` (one message with `BEGIN`),
//!   except the common create and patch: one statement each, shaped as a read (below), whose
//!   write happens only `WHERE current_user = <the project's role>`;
//! - reads are one statement, `SELECT current_user, (<json>)`, on a connection whose session role
//!   is the project's. The worker uses the answer only when `current_user` is the project's role;
//!   otherwise (a fresh connection, or one last used for another project) it discards it, runs
//!   `SET ROLE` and asks again. A read therefore costs one round trip. List pages and single
//!   records whose JSON the worker writes are the exception: their rows come only
//!   `WHERE current_user = <the role>` (see [`render_list_rows`]), and an answer without rows is
//!   asked again the usual way.

use crate::auth::principals::Seen;
use crate::events::{push_events, Change, Kind};
use crate::pool::{BeginError, Conn};
pub use crate::pool::{Pool, Tx};
use crate::query::aggregate::{self, AggregatePlan};
use crate::query::cursor;
use crate::query::expand::{self, Node};
use crate::query::filter::{push_order, push_pred, push_pred_where, push_where, Pred, Where};
use crate::query::list::ListPlan;
use crate::query::view::ViewPlan;
use crate::query::PushIdent;
use crate::registry::{Collection, Column, Project};
use model::sql::Ident;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Postgres, QueryBuilder};
use std::str::FromStr;
use std::sync::Arc;

/// Opens the worker's pool ([`Pool`]: no round trip when a connection is handed out or comes
/// back); every connection works in UTC.
pub async fn connect(url: &str, max: u32) -> Result<Pool, sqlx::Error> {
    let opts = PgConnectOptions::from_str(url)?.options([("TimeZone", "UTC")]);
    Pool::open(opts, max).await
}

/// The connection broke or its server process was ended (SQLSTATE class 57P: shutdown,
/// `pg_terminate_backend`), not the statement: nothing was done, so it is safe to retry.
fn is_broken(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) => true,
        sqlx::Error::Database(d) => d.code().is_some_and(|c| c.starts_with("57P")),
        _ => false,
    }
}

/// Postgres ended the connection's server process (SQLSTATE class 57P) before or instead of
/// running the statement: nothing was written.
fn is_terminated(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c.starts_with("57P"))
}

/// Tries enough for every pooled connection to have died, then one fresh.
fn attempts(pool: &Pool) -> u32 {
    pool.max() + 1
}

/// A transaction running as the project's role, with its schema as search path. `BEGIN` and the
/// role switch travel as one simple-query message: one round trip. A connection found broken is
/// closed and the next one tried.
pub async fn begin(pool: &Pool, project: &Project) -> Result<Tx, sqlx::Error> {
    begin_with(pool, project.begin_sql.clone()).await
}

/// [`begin`] for bookkeeping whose loss in a database crash only repeats work that is repeated
/// safely anyway (a delivery's claim or its outcome: the delivery is then sent again, as at least
/// once allows): its commit does not wait for the WAL flush (`synchronous_commit = off`), so it
/// neither waits for nor adds to the flushes that writes wait for.
pub async fn begin_relaxed(pool: &Pool, project: &Project) -> Result<Tx, sqlx::Error> {
    begin_with(
        pool,
        format!("{}; SET LOCAL synchronous_commit TO off", project.begin_sql),
    )
    .await
}

async fn begin_with(pool: &Pool, sql: String) -> Result<Tx, sqlx::Error> {
    let mut left = attempts(pool);
    loop {
        left -= 1;
        match pool.begin(sql.clone().into()).await {
            Ok(tx) => return Ok(tx),
            Err(BeginError(e, conn)) if is_broken(&e) && left > 0 => {
                if let Some(conn) = conn {
                    conn.discard();
                }
            }
            Err(BeginError(e, _)) => return Err(e),
        }
    }
}

/// The signed-in app user a read assumed (by session), whom the read statement reports as they
/// are now (see [`crate::auth::principals`]).
#[derive(Debug, Clone)]
pub struct LiveCheck {
    /// The project's schema, quoted.
    pub schema: Ident,
    /// App-user id.
    pub user_id: String,
    /// Session id.
    pub session_id: uuid::Uuid,
    /// Read the user's roles too (some policy of the project names roles).
    pub roles: bool,
    /// What the worker assumed of the user: the statement then answers [`SAME`] while they are
    /// still so, sparing both sides the JSON.
    pub assumed: Option<Seen>,
}

/// The principal column's answer when the app user is still as assumed.
pub const SAME: &str = "=";

/// The start of every read statement: `SELECT current_user::text, <principal>, (` — the role it
/// runs as, the app user of `check` as they are now ([`SAME`] when as assumed, else JSON; NULL
/// when no longer live or without a check), then the JSON answer, whose parenthesis the renderer
/// closes.
pub fn read_prefix<'a>(check: Option<&LiveCheck>) -> QueryBuilder<'a, Postgres> {
    let mut qb = QueryBuilder::new("SELECT current_user::text, ");
    match check {
        Some(c) => push_principal(&mut qb, c),
        None => {
            qb.push("NULL::text");
        }
    }
    qb.push(", (");
    qb
}

/// `(SELECT <the live app user>)`, NULL unless the user is enabled and the session not revoked.
/// A live user is [`SAME`] when as `c.assumed`, else JSON: email, verified flag and role ids
/// (sorted; an empty list when no policy names roles).
fn push_principal(qb: &mut QueryBuilder<'_, Postgres>, c: &LiveCheck) {
    let schema = &c.schema;
    let roles = if c.roles {
        format!(
            "ARRAY(SELECT r.\"role_id\" FROM {schema}.\"_user_roles\" r WHERE r.\"user_id\" = u.\"id\" ORDER BY 1)"
        )
    } else {
        "ARRAY[]::uuid[]".to_owned()
    };
    qb.push("(SELECT ");
    if let Some(seen) = &c.assumed {
        qb.push("CASE WHEN u.\"email\" = ");
        qb.push_bind(seen.email.clone());
        qb.push(" AND u.\"is_email_verified\" = ");
        qb.push_bind(seen.verified);
        if c.roles {
            qb.push(format_args!(" AND {roles} = "));
            qb.push_bind(seen.roles.clone());
        }
        qb.push(format_args!(" THEN '{SAME}' ELSE "));
    }
    qb.push(format_args!(
        "json_build_object('email', u.\"email\", 'verified', u.\"is_email_verified\", 'roles', {roles})::text"
    ));
    if c.assumed.is_some() {
        qb.push(" END");
    }
    qb.push(format_args!(
        " FROM {schema}.\"_users\" u JOIN {schema}.\"_auth_sessions\" s ON s.\"user_id\" = u.\"id\"
         WHERE NOT u.\"is_disabled\" AND s.\"revoked_at\" IS NULL AND u.\"id\" = "
    ));
    qb.push_bind(c.user_id.clone());
    qb.push(" AND s.\"id\" = ");
    qb.push_bind(c.session_id);
    qb.push(")");
}

/// What a read statement answered.
#[derive(Debug)]
pub struct Read {
    /// The app user of the statement's check as they are now (JSON), if there was one and they
    /// are still live.
    pub principal: Option<String>,
    /// The JSON answer (`None` when NULL).
    pub json: Option<String>,
}

/// Runs a read statement made by `render` (it starts with [`read_prefix`] and closes its
/// parenthesis) as the project's role; see the module comment.
pub async fn read<'a>(
    pool: &Pool,
    project: &Project,
    render: impl Fn() -> QueryBuilder<'a, Postgres>,
) -> Result<Read, sqlx::Error> {
    run(pool, project, is_broken, render).await
}

/// Runs a statement shaped as a read (`current_user`, principal, JSON), retrying on another
/// connection after a failure that `retry` deems safe to repeat.
async fn run<'a>(
    pool: &Pool,
    project: &Project,
    retry: fn(&sqlx::Error) -> bool,
    render: impl Fn() -> QueryBuilder<'a, Postgres>,
) -> Result<Read, sqlx::Error> {
    let mut left = attempts(pool);
    loop {
        left -= 1;
        let mut conn = pool.acquire().await?;
        match read_once(&mut conn, project, &render).await {
            Ok(read) => {
                conn.release();
                return Ok(read);
            }
            Err(e) if is_broken(&e) => {
                conn.discard();
                if left == 0 || !retry(&e) {
                    return Err(e);
                }
            }
            // Dropped unreleased: cleaned up before reuse.
            Err(e) => return Err(e),
        }
    }
}

async fn read_once<'a>(
    conn: &mut Conn,
    project: &Project,
    render: &impl Fn() -> QueryBuilder<'a, Postgres>,
) -> Result<Read, sqlx::Error> {
    let role = &project.config.db_role;
    for attempt in 0..2 {
        let mut qb = render();
        let res = qb
            .build_query_as::<(String, Option<String>, Option<String>)>()
            .fetch_one(&mut **conn)
            .await;
        match res {
            Ok((user, principal, json)) if &user == role => return Ok(Read { principal, json }),
            // Ran as another role: the answer is thrown away unseen.
            Ok(_) => {}
            // Perhaps only the wrong role; once run as the project's, the refusal stands.
            Err(e) if attempt == 0 && is_permission_denied(&e) => {}
            Err(e) => return Err(e),
        }
        sqlx::query(&project.set_role_sql)
            .persistent(false)
            .execute(&mut **conn)
            .await?;
    }
    Err(sqlx::Error::Protocol(format!(
        "could not run as role {role}"
    )))
}

/// "cached plan must not change result type": a prepared statement whose result columns
/// changed type since.
fn is_stale_plan(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == "0A000")
}

fn is_permission_denied(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == "42501")
}

/// The app user behind an access token, if it is still enabled and its session live. One read
/// statement.
pub async fn live_principal(
    pool: &Pool,
    project: &Project,
    user: &str,
    session: uuid::Uuid,
) -> Result<Option<Seen>, sqlx::Error> {
    let check = LiveCheck {
        schema: project.quoted_schema.clone(),
        user_id: user.to_owned(),
        session_id: session,
        roles: project.roles_matter,
        assumed: None,
    };
    let read = read(pool, project, || {
        let mut qb = read_prefix(None);
        push_principal(&mut qb, &check);
        qb.push(")");
        qb
    })
    .await?;
    Ok(Seen::parse(read.json.as_deref()))
}

/// What [`get`] answers: the caller's principal as now (app users), and the record.
type Got = (Option<String>, Found<String>);

/// The record [`render_get_row`] found, its JSON written here; `None` when there was no row
/// (no such record, or a connection in a role that may read the table but is not the project's:
/// Postgres' statement then tells which) or a value the worker does not write.
fn get_row(
    row: Option<&sqlx::postgres::PgRow>,
    checked: bool,
    fields: &[crate::rowjson::Field],
) -> Result<Option<Got>, sqlx::Error> {
    use sqlx::Row;
    let Some(row) = row else {
        return Ok(None);
    };
    let principal: Option<String> = if checked { row.try_get(0)? } else { None };
    let first = usize::from(checked) + 1;
    let allowed: bool = row.try_get(first - 1)?;
    if !crate::rowjson::types_match(row, first, fields) {
        return Ok(None);
    }
    if !allowed {
        return Ok(Some((principal, Found::Denied)));
    }
    let mut out = String::with_capacity(32 * fields.len());
    if !crate::rowjson::write_row(&mut out, row, first, fields)? {
        return Ok(None);
    }
    Ok(Some((principal, Found::Allowed(out))))
}

/// One record's typed row for [`get`] without expansions: the principal (when the caller is an
/// app user), whether `rule` allows the record, then its columns; a row only under the
/// project's role, as [`render_list_rows`].
fn render_get_row<'a>(
    c: &'a Collection,
    id: &RecordId,
    rule: &'a Pred,
    check: Option<&LiveCheck>,
    fields: &'a [crate::rowjson::Field],
    role: &str,
) -> QueryBuilder<'a, Postgres> {
    let mut qb = QueryBuilder::new("SELECT ");
    if let Some(check) = check {
        push_principal(&mut qb, check);
        qb.push(", ");
    }
    qb.push("COALESCE(");
    push_pred(&mut qb, rule);
    qb.push(", FALSE)");
    for f in fields {
        qb.push(", t0.").push_ident(&f.ident);
        if f.as_text() {
            qb.push("::text AS ").push_ident(&f.ident);
        }
    }
    qb.push(" FROM ")
        .push_ident(&c.table)
        .push(" t0 WHERE current_user = ");
    qb.push_bind(role.to_owned()).push(" AND t0.\"id\" = ");
    match id {
        RecordId::Int(n) => qb.push_bind(*n),
        RecordId::Text(s) => qb.push_bind(s.clone()),
    };
    qb
}

/// A record id from the path, typed for its collection.
#[derive(Debug, Clone)]
pub enum RecordId {
    /// `bigserial` ids.
    Int(i64),
    /// `_users` ids.
    Text(String),
}

fn push_id(qb: &mut QueryBuilder<'_, Postgres>, id: &RecordId) {
    qb.push(" WHERE t0.\"id\" = ");
    match id {
        RecordId::Int(n) => qb.push_bind(*n),
        RecordId::Text(s) => qb.push_bind(s.clone()),
    };
}

/// One page and the total, as the contract's JSON object, expansions included: one statement,
/// one round trip. Without expansions, and when the worker writes every column's JSON as
/// Postgres would ([`crate::rowjson`]), the rows travel typed and the worker writes the JSON;
/// otherwise (or for a value it does not write) Postgres builds it.
pub async fn list(
    pool: &Pool,
    project: &Project,
    c: &Collection,
    plan: &ListPlan,
) -> Result<Read, sqlx::Error> {
    let m = crate::metrics::get();
    if let (true, Some(fields)) = (plan.expand.is_empty(), c.row_fields.as_deref()) {
        match list_rows(pool, project, c, plan, fields).await {
            Ok(Some(read)) => {
                crate::metrics::outcome(&m.pages, "worker");
                return Ok(read);
            }
            Ok(None) => {}
            // A column's type changed under a statement this connection had prepared: its
            // cache is cleared (see `run_rows`) and Postgres writes this page.
            Err(e) if is_stale_plan(&e) => {}
            Err(e) => return Err(e),
        }
    }
    crate::metrics::outcome(&m.pages, "postgres");
    read(pool, project, || render_list(c, plan)).await
}

/// [`list`] with the page's rows typed and their JSON written here; `None` when a value is one
/// the worker does not write, or when the page is empty.
async fn list_rows(
    pool: &Pool,
    project: &Project,
    c: &Collection,
    plan: &ListPlan,
    fields: &[crate::rowjson::Field],
) -> Result<Option<Read>, sqlx::Error> {
    use sqlx::Row;
    let role = &project.config.db_role;
    let rows = run_rows(pool, project, || render_list_rows(c, plan, fields, role)).await?;
    // An empty page (or a type the worker does not write, below) is written by Postgres.
    let Some(head) = rows.first() else {
        return Ok(None);
    };
    let (principal_at, total_at, first) = list_head(plan);
    let principal: Option<String> = principal_at.map(|i| head.try_get(i)).transpose()?.flatten();
    let total: Option<i64> = total_at.map(|i| head.try_get(i)).transpose()?.flatten();
    if !crate::rowjson::types_match(head, first, fields) {
        return Ok(None);
    }
    let mut out = String::with_capacity(64 + rows.len() * 64 * fields.len());
    out.push_str("{\"records\":[");
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            out.push_str(crate::rowjson::AGG_SEPARATOR);
        }
        if !crate::rowjson::write_row(&mut out, row, first, fields)? {
            return Ok(None);
        }
    }
    out.push_str("],\"total\":");
    match total {
        Some(n) => out.push_str(itoa::Buffer::new().format(n)),
        None => out.push_str("null"),
    }
    out.push_str(&format!(
        ",\"limit\":{},\"offset\":{}}}",
        plan.limit, plan.offset
    ));
    Ok(Some(Read {
        principal,
        json: Some(out),
    }))
}

/// Where [`render_list_rows`] puts the principal and the total, when it selects them, and its
/// first record column.
fn list_head(plan: &ListPlan) -> (Option<usize>, Option<usize>, usize) {
    let principal = plan.check.is_some().then_some(0);
    let total = (!plan.skip_total).then_some(usize::from(plan.check.is_some()));
    let first = usize::from(principal.is_some()) + usize::from(total.is_some());
    (principal, total, first)
}

/// The statement of [`list_rows`]: one row per record, each the principal (when the caller is an
/// app user) and the total (unless skipped), both evaluated once as init plans, then the
/// record's columns.
///
/// - Rows come only when the statement runs as the project's role: `current_user = <role>` is
///   a condition Postgres checks once per call, before the scan, so the rows need not carry it.
///   Another project's role is refused the table (the role is set and the page asked again); a
///   role that may read it (a fresh connection's) gets no rows. A page without rows is written
///   by the statement that always answers, which checks the role its own way and sets it.
/// - Selecting from the table itself, not from a lateral page joined to a one-row head, spares
///   Postgres a subquery and a join to plan on every call.
pub fn render_list_rows<'a>(
    c: &'a Collection,
    plan: &'a ListPlan,
    fields: &'a [crate::rowjson::Field],
    role: &str,
) -> QueryBuilder<'a, Postgres> {
    let mut qb = QueryBuilder::new("SELECT ");
    if let Some(check) = plan.check.as_ref() {
        push_principal(&mut qb, check);
        qb.push(", ");
    }
    if !plan.skip_total {
        qb.push("(SELECT count(*) FROM ")
            .push_ident(&c.table)
            .push(" t0");
        let mut w = Where::default();
        push_where(&mut qb, &mut w, &plan.filters);
        push_pred_where(&mut qb, &mut w, &plan.rule);
        qb.push("), ");
    }
    for (i, f) in fields.iter().enumerate() {
        qb.push(if i > 0 { ", t0." } else { "t0." });
        qb.push_ident(&f.ident);
        if f.as_text() {
            qb.push("::text AS ").push_ident(&f.ident);
        }
    }
    qb.push(" FROM ").push_ident(&c.table).push(" t0");
    let mut w = Where::default();
    w.next(&mut qb);
    qb.push("current_user = ").push_bind(role.to_owned());
    push_where(&mut qb, &mut w, &plan.filters);
    push_pred_where(&mut qb, &mut w, &plan.rule);
    if let Some(Some(after)) = &plan.cursor {
        let id = &c.columns["id"];
        cursor::push_after(&mut qb, &mut w, after, &plan.sort, id, plan.sort.is_empty());
    }
    push_order(&mut qb, &plan.sort);
    qb.push(" LIMIT ").push_bind(plan.limit);
    if plan.offset > 0 {
        qb.push(" OFFSET ").push_bind(plan.offset);
    }
    qb
}

/// [`run`] for a statement that returns rows only when it runs as the project's role (see
/// [`render_list_rows`]).
async fn run_rows<'a>(
    pool: &Pool,
    project: &Project,
    render: impl Fn() -> QueryBuilder<'a, Postgres>,
) -> Result<Vec<sqlx::postgres::PgRow>, sqlx::Error> {
    let mut left = attempts(pool);
    loop {
        left -= 1;
        let mut conn = pool.acquire().await?;
        match rows_once(&mut conn, project, &render).await {
            Ok(rows) => {
                conn.release();
                return Ok(rows);
            }
            Err(e) if is_broken(&e) => {
                conn.discard();
                if left == 0 {
                    return Err(e);
                }
            }
            // Prepared before a column's type changed: that statement (typed rows) is stale on
            // this connection until its cache is cleared.
            Err(e) if is_stale_plan(&e) => {
                if sqlx::Connection::clear_cached_statements(&mut *conn)
                    .await
                    .is_ok()
                {
                    conn.release();
                } else {
                    conn.discard();
                }
                return Err(e);
            }
            Err(e) => return Err(e),
        }
    }
}

async fn rows_once<'a>(
    conn: &mut Conn,
    project: &Project,
    render: &impl Fn() -> QueryBuilder<'a, Postgres>,
) -> Result<Vec<sqlx::postgres::PgRow>, sqlx::Error> {
    match render().build().fetch_all(&mut **conn).await {
        // No rows under another role: the caller's fallback sets the role.
        Ok(rows) => return Ok(rows),
        // A role that may not read the project's schema at all.
        Err(e) if is_permission_denied(&e) => {}
        Err(e) => return Err(e),
    }
    sqlx::query(&project.set_role_sql)
        .persistent(false)
        .execute(&mut **conn)
        .await?;
    render().build().fetch_all(&mut **conn).await
}

/// The statement of [`list`] (pure; values are bound, never in the text).
pub fn render_list<'a>(c: &'a Collection, plan: &'a ListPlan) -> QueryBuilder<'a, Postgres> {
    // The object around the page is joined as text: `json_build_object` would render the page
    // and the count as JSON values once more (a tenth of a page's cost in Postgres).
    let mut qb = read_prefix(plan.check.as_ref());
    qb.push("SELECT '{\"records\":' || COALESCE((SELECT json_agg(_r)::text FROM (SELECT ");
    expand::push_select(&mut qb, c, &plan.expand, 0);
    let mut w = Where::default();
    push_where(&mut qb, &mut w, &plan.filters);
    push_pred_where(&mut qb, &mut w, &plan.rule);
    if let Some(Some(after)) = &plan.cursor {
        let id = &c.columns["id"];
        cursor::push_after(&mut qb, &mut w, after, &plan.sort, id, plan.sort.is_empty());
    }
    push_order(&mut qb, &plan.sort);
    qb.push(" LIMIT ").push_bind(plan.limit);
    if plan.offset > 0 {
        qb.push(" OFFSET ").push_bind(plan.offset);
    }
    qb.push(") _r), '[]') || ',\"total\":' || ");
    if plan.skip_total {
        qb.push("'null'");
    } else {
        qb.push("(SELECT count(*) FROM ")
            .push_ident(&c.table)
            .push(" t0");
        let mut w = Where::default();
        push_where(&mut qb, &mut w, &plan.filters);
        push_pred_where(&mut qb, &mut w, &plan.rule);
        qb.push(")::text");
    }
    qb.push(" || ',\"limit\":' || ")
        .push_bind(plan.limit)
        .push("::text || ',\"offset\":' || ")
        .push_bind(plan.offset)
        .push("::text || '}')");
    qb
}

/// What a single-record read or write found.
#[derive(Debug, PartialEq, Eq)]
pub enum Found<T> {
    /// No such record.
    Missing,
    /// The record exists but the caller's rule does not allow it.
    Denied,
    /// The record, allowed.
    Allowed(T),
}

/// One record as JSON, expansions included, if `rule` allows it (a read; the rule is checked in
/// the same statement).
pub async fn get(
    pool: &Pool,
    project: &Project,
    c: &Collection,
    id: &RecordId,
    expand: &[Node],
    rule: &Pred,
    check: Option<&LiveCheck>,
) -> Result<Got, sqlx::Error> {
    if let (true, Some(fields)) = (expand.is_empty(), c.row_fields.as_deref()) {
        let role = &project.config.db_role;
        let rows = run_rows(pool, project, || {
            render_get_row(c, id, rule, check, fields, role)
        })
        .await;
        match rows.and_then(|rows| get_row(rows.first(), check.is_some(), fields)) {
            Ok(Some(found)) => return Ok(found),
            Ok(None) => {}
            // A column's type changed under a statement this connection had prepared (see
            // `run_rows`): Postgres writes this record.
            Err(e) if is_stale_plan(&e) => {}
            Err(e) => return Err(e),
        }
    }
    let read = read(pool, project, || {
        let mut qb = read_prefix(check);
        qb.push("SELECT CASE WHEN COALESCE(");
        push_pred(&mut qb, rule);
        qb.push(", FALSE) THEN (SELECT row_to_json(_r)::text FROM (SELECT ");
        expand::push_columns(&mut qb, c, expand, 0);
        qb.push(") _r) ELSE '' END FROM ")
            .push_ident(&c.table)
            .push(" t0");
        push_id(&mut qb, id);
        qb.push(")");
        qb
    })
    .await?;
    let found = match read.json {
        None => Found::Missing,
        Some(j) if j.is_empty() => Found::Denied,
        Some(j) => Found::Allowed(j),
    };
    Ok((read.principal, found))
}

/// Locks a record inside a write transaction for the update or delete that follows, and says
/// whether `rule` allows it.
pub async fn lock_record(
    tx: &mut Tx,
    c: &Collection,
    id: &RecordId,
    rule: &Pred,
) -> Result<Found<()>, sqlx::Error> {
    let mut qb = QueryBuilder::new("SELECT COALESCE(");
    push_pred(&mut qb, rule);
    qb.push(", FALSE) FROM ").push_ident(&c.table).push(" t0");
    push_id(&mut qb, id);
    qb.push(" FOR UPDATE");
    let allowed: Option<bool> = qb.build_query_scalar().fetch_optional(&mut **tx).await?;
    Ok(match allowed {
        None => Found::Missing,
        Some(false) => Found::Denied,
        Some(true) => Found::Allowed(()),
    })
}

/// Aggregates as `{"results": […]}` (a read).
pub async fn aggregate(
    pool: &Pool,
    project: &Project,
    c: &Collection,
    plan: &AggregatePlan,
) -> Result<Read, sqlx::Error> {
    read(pool, project, || aggregate::render(c, plan)).await
}

/// Column values to write: the column and its coerced text (None = NULL).
pub type Values = Vec<(Arc<Column>, Option<String>)>;

fn push_value(qb: &mut QueryBuilder<'_, Postgres>, col: &Column, v: &Option<String>) {
    qb.push("CAST(")
        .push_bind(v.clone())
        .push(format_args!(" AS {})", col.sql_type));
}

/// ` (<column>, …)` of the values.
fn push_columns(qb: &mut QueryBuilder<'_, Postgres>, values: &Values) {
    qb.push(" (");
    for (i, (col, _)) in values.iter().enumerate() {
        qb.push(if i == 0 { "" } else { ", " }).push_ident(&col.sql);
    }
    qb.push(")");
}

/// The values, bound and cast to their columns' types, comma-separated.
fn push_values(qb: &mut QueryBuilder<'_, Postgres>, values: &Values) {
    for (i, (col, v)) in values.iter().enumerate() {
        qb.push(if i == 0 { "" } else { ", " });
        push_value(qb, col, v);
    }
}

/// The answer of a one-statement write (after its CTEs): shaped as a read, with the written row
/// as its JSON answer (NULL when nothing was written).
const WRITTEN: &str = " SELECT current_user::text, NULL::text, (SELECT j FROM _j)";

/// After `_w` (which returned the select list): `_j`, its row's JSON, made once for the answer
/// and every event; then the events.
fn push_written_events(
    qb: &mut QueryBuilder<'_, Postgres>,
    change: &Change<'_>,
    c: &Collection,
    kind: Kind,
) {
    qb.push(", _j AS (SELECT row_to_json(_w)::text AS j FROM _w)");
    push_events(qb, change, c, kind, "(SELECT j FROM _j)");
}

/// Inserts a record and returns it as JSON, or `None` when `rule` refuses the row as written
/// (column defaults included); the caller then drops the transaction, which undoes the insert.
pub async fn insert(
    tx: &mut Tx,
    c: &Collection,
    values: &Values,
    rule: &Pred,
    change: &Change<'_>,
) -> Result<Option<String>, sqlx::Error> {
    let mut qb = QueryBuilder::new("WITH _w AS (INSERT INTO ");
    qb.push_ident(&c.table);
    if values.is_empty() {
        qb.push(" DEFAULT VALUES");
    } else {
        push_columns(&mut qb, values);
        qb.push(" VALUES (");
        push_values(&mut qb, values);
        qb.push(")");
    }
    if rule.constant() == Some(true) {
        qb.push(" RETURNING ").push_idents(&c.select_list).push(")");
        push_written_events(&mut qb, change, c, Kind::Created);
        qb.push(" SELECT j FROM _j");
        return qb.build_query_scalar().fetch_optional(&mut **tx).await;
    }
    // The rule is judged on the row as Postgres wrote it: defaults and sequences included. When
    // it refuses, the caller drops the transaction, and the events go with it.
    qb.push(" RETURNING *)");
    let shown = format!(
        "(SELECT row_to_json(_r)::text FROM (SELECT {}) _r)",
        c.select_list
    );
    push_events(&mut qb, change, c, Kind::Created, &shown);
    qb.push(" SELECT CASE WHEN COALESCE((");
    push_pred(&mut qb, rule);
    qb.push("), false) THEN (SELECT row_to_json(_r)::text FROM (SELECT ")
        .push_idents(&c.select_list)
        .push(") _r) END FROM _w");
    let row: Option<Option<String>> = qb.build_query_scalar().fetch_optional(&mut **tx).await?;
    Ok(row.flatten())
}

/// Updates a record (always bumping `updated_at`); returns it as JSON.
pub async fn update(
    tx: &mut Tx,
    c: &Collection,
    id: &RecordId,
    values: &Values,
    change: &Change<'_>,
) -> Result<Option<String>, sqlx::Error> {
    let mut qb = push_update(c, id, values);
    qb.push(" RETURNING ").push_idents(&c.select_list).push(")");
    push_written_events(&mut qb, change, c, Kind::Updated);
    qb.push(" SELECT j FROM _j");
    qb.build_query_scalar().fetch_optional(&mut **tx).await
}

/// `WITH _o AS (<the row before>), _w AS (UPDATE … SET … WHERE <id>`, for the caller to finish.
/// The update names `_o`, so the old row is read (and locked) first.
fn push_update<'a>(
    c: &'a Collection,
    id: &RecordId,
    values: &Values,
) -> QueryBuilder<'a, Postgres> {
    let mut qb = QueryBuilder::new("WITH _o AS (SELECT row_to_json(_x)::text AS j FROM (SELECT ");
    qb.push_idents(&c.select_list)
        .push(" FROM ")
        .push_ident(&c.table)
        .push(" t0");
    push_id(&mut qb, id);
    qb.push(" FOR UPDATE) _x), _w AS (UPDATE ");
    qb.push_ident(&c.table)
        .push(" t0 SET \"updated_at\" = now()");
    for (col, v) in values {
        qb.push(", ").push_ident(&col.sql).push(" = ");
        push_value(&mut qb, col, v);
    }
    push_id(&mut qb, id);
    qb.push(" AND EXISTS (SELECT FROM _o)");
    qb
}

/// The common update as one statement, outside a transaction: the row changes only when it
/// exists, `rule` allows it (judged on the row before the change, as [`lock_record`] judges it)
/// and the statement runs as the project's role. `None` when it did not change: the caller then
/// finds out why in a transaction. Like a create, it runs again on another connection only when
/// Postgres said it ended the old one: repeated after it committed, a rule on a changed column
/// could refuse a write that was made.
pub async fn update_at_once(
    pool: &Pool,
    project: &Project,
    c: &Collection,
    id: &RecordId,
    values: &Values,
    rule: &Pred,
    change: &Change<'_>,
) -> Result<Option<String>, sqlx::Error> {
    let role = project.config.db_role.as_str();
    let read = run(pool, project, is_terminated, || {
        let mut qb = push_update(c, id, values);
        qb.push(" AND current_user = ").push_bind(role);
        if rule.constant() != Some(true) {
            qb.push(" AND ");
            push_pred(&mut qb, rule);
        }
        qb.push(" RETURNING ").push_idents(&c.select_list).push(")");
        push_written_events(&mut qb, change, c, Kind::Updated);
        qb.push(WRITTEN);
        qb
    })
    .await?;
    Ok(read.json)
}

/// An insert whose rule allows any row, as one statement outside a transaction, as the project's
/// role (guarded in the statement: under another role nothing is written and it runs again).
/// `values` must not be empty. A create is not safe to repeat, so it runs again on another
/// connection only when Postgres said it ended the old one (the statement never ran), not after
/// a connection broke mid-way.
pub async fn insert_at_once(
    pool: &Pool,
    project: &Project,
    c: &Collection,
    values: &Values,
    change: &Change<'_>,
) -> Result<Option<String>, sqlx::Error> {
    let role = project.config.db_role.as_str();
    let read = run(pool, project, is_terminated, || {
        let mut qb = QueryBuilder::new("WITH _w AS (INSERT INTO ");
        qb.push_ident(&c.table);
        push_columns(&mut qb, values);
        qb.push(" SELECT ");
        push_values(&mut qb, values);
        qb.push(" WHERE current_user = ").push_bind(role);
        qb.push(" RETURNING ").push_idents(&c.select_list).push(")");
        push_written_events(&mut qb, change, c, Kind::Created);
        qb.push(WRITTEN);
        qb
    })
    .await?;
    Ok(read.json)
}

/// The common delete as one statement, outside a transaction: the row goes only when it exists,
/// `rule` allows it and the statement runs as the project's role. `None` when nothing was
/// deleted: the caller's transaction then answers in the contract's order (missing, refused).
/// Safe to repeat on another connection (a second run finds nothing to delete).
pub async fn delete_at_once(
    pool: &Pool,
    project: &Project,
    c: &Collection,
    id: &RecordId,
    rule: &Pred,
    change: &Change<'_>,
) -> Result<Option<String>, sqlx::Error> {
    let role = project.config.db_role.as_str();
    let read = run(pool, project, is_terminated, || {
        let mut qb = QueryBuilder::new("WITH _w AS (DELETE FROM ");
        qb.push_ident(&c.table).push(" t0");
        push_id(&mut qb, id);
        qb.push(" AND current_user = ").push_bind(role);
        if rule.constant() != Some(true) {
            qb.push(" AND ");
            push_pred(&mut qb, rule);
        }
        qb.push(" RETURNING ").push_idents(&c.select_list).push(")");
        push_written_events(&mut qb, change, c, Kind::Deleted);
        qb.push(WRITTEN);
        qb
    })
    .await?;
    Ok(read.json)
}

/// Deletes a record with its events; false when it did not exist.
pub async fn delete(
    tx: &mut Tx,
    c: &Collection,
    id: &RecordId,
    change: &Change<'_>,
) -> Result<bool, sqlx::Error> {
    let mut qb = QueryBuilder::new("WITH _w AS (DELETE FROM ");
    qb.push_ident(&c.table).push(" t0");
    push_id(&mut qb, id);
    qb.push(" RETURNING ").push_idents(&c.select_list).push(")");
    push_written_events(&mut qb, change, c, Kind::Deleted);
    qb.push(" SELECT count(*) FROM _w");
    let n: i64 = qb.build_query_scalar().fetch_one(&mut **tx).await?;
    Ok(n > 0)
}

/// One page of a view as the contract's `{data, total, limit, offset, view_name, view_version}`
/// (a read).
pub async fn view_page(
    pool: &Pool,
    project: &Project,
    c: &Collection,
    view: &model::ViewConfig,
    plan: &ViewPlan,
) -> Result<String, sqlx::Error> {
    let read = read(pool, project, || render_view(c, view, plan)).await?;
    Ok(read.json.unwrap_or_default())
}

fn render_view<'a>(
    c: &'a Collection,
    view: &'a model::ViewConfig,
    plan: &'a ViewPlan,
) -> QueryBuilder<'a, Postgres> {
    let mut qb = read_prefix(None);
    qb.push("SELECT json_build_object('data', COALESCE((SELECT json_agg(_r) FROM (SELECT ");
    qb.push_idents(&plan.select_list)
        .push(" FROM ")
        .push_ident(&c.table)
        .push(" t0");
    let mut w = Where::default();
    push_where(&mut qb, &mut w, &plan.filters);
    push_pred_where(&mut qb, &mut w, &plan.rule);
    if plan.sort.is_empty() {
        qb.push(" ORDER BY t0.\"id\" ASC");
    } else {
        push_order(&mut qb, &plan.sort);
    }
    qb.push(" LIMIT ")
        .push_bind(plan.limit)
        .push(" OFFSET ")
        .push_bind(plan.offset)
        .push(") _r), '[]'::json), 'total', (SELECT count(*) FROM ")
        .push_ident(&c.table)
        .push(" t0");
    let mut w = Where::default();
    push_where(&mut qb, &mut w, &plan.filters);
    push_pred_where(&mut qb, &mut w, &plan.rule);
    qb.push("), 'limit', ")
        .push_bind(plan.limit)
        .push(", 'offset', ")
        .push_bind(plan.offset)
        .push(", 'view_name', ")
        .push_bind(view.name.as_str())
        .push(", 'view_version', ")
        .push_bind(view.version)
        .push(")::text)");
    qb
}
