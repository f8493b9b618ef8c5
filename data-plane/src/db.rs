//! All data-plane SQL; Postgres builds the response JSON. Every statement runs as the project's
//! role, so even a wrong query cannot reach another tenant:
//!
//! - writes run in a transaction that begins with `SET LOCAL ROLE` (one message with `BEGIN`);
//! - reads are one statement, `SELECT current_user, (<json>)`, on a connection whose session role
//!   is the project's. The worker uses the answer only when `current_user` is the project's role;
//!   otherwise (a fresh connection, or one last used for another project) it discards it, runs
//!   `SET ROLE` and asks again. A read therefore costs one round trip.

use crate::query::aggregate::{self, AggregatePlan};
use crate::query::cursor;
use crate::query::expand::{self, Node};
use crate::query::filter::{push_order, push_where, Where};
use crate::query::list::ListPlan;
use crate::query::view::ViewPlan;
use crate::registry::{Collection, Column, Project};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, QueryBuilder, Transaction};
use std::str::FromStr;
use std::sync::Arc;

/// Opens the worker's pool; every connection works in UTC.
pub async fn connect(url: &str, max: u32) -> Result<PgPool, sqlx::Error> {
    let opts = PgConnectOptions::from_str(url)?.options([("TimeZone", "UTC")]);
    PgPoolOptions::new()
        .max_connections(max)
        .connect_with(opts)
        .await
}

/// An open data transaction.
pub type Tx = Transaction<'static, Postgres>;

/// A transaction running as the project's role, with its schema as search path. `BEGIN` and the
/// role switch travel as one simple-query message: one round trip.
pub async fn begin(pool: &PgPool, project: &Project) -> Result<Tx, sqlx::Error> {
    pool.begin_with(project.begin_sql.clone()).await
}

/// The start of every read statement: the role it runs as, then the JSON answer.
pub const READ_PREFIX: &str = "SELECT current_user::text, (";

/// Runs a read statement made by `render` (it starts with [`READ_PREFIX`] and closes its
/// parenthesis) as the project's role; see the module comment. `None` when the JSON is NULL.
pub async fn read<'a>(
    pool: &PgPool,
    project: &Project,
    render: impl Fn() -> QueryBuilder<'a, Postgres>,
) -> Result<Option<String>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let role = &project.config.db_role;
    for _ in 0..2 {
        let mut qb = render();
        let res = qb
            .build_query_as::<(String, Option<String>)>()
            .fetch_one(&mut *conn)
            .await;
        match res {
            Ok((user, json)) if &user == role => return Ok(json),
            // Ran as another role: the answer is thrown away unseen.
            Ok(_) => {}
            Err(e) if is_permission_denied(&e) => {}
            Err(e) => return Err(e),
        }
        sqlx::query(&project.set_role_sql)
            .persistent(false)
            .execute(&mut *conn)
            .await?;
    }
    Err(sqlx::Error::Protocol(format!(
        "could not run as role {role}"
    )))
}

fn is_permission_denied(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == "42501")
}

/// The app user behind an access token, if it is still enabled and its session live:
/// `(email, verified)`. One read statement.
pub async fn live_principal(
    pool: &PgPool,
    project: &Project,
    user: &str,
    session: uuid::Uuid,
) -> Result<Option<(String, bool)>, sqlx::Error> {
    let schema = model::sql::quote_ident(&project.config.db_schema);
    let json = read(pool, project, || {
        let mut qb = QueryBuilder::new(READ_PREFIX);
        qb.push(format_args!(
            "SELECT json_build_object('email', u.\"email\", 'verified', u.\"is_email_verified\")::text
             FROM {schema}.\"_users\" u JOIN {schema}.\"_auth_sessions\" s ON s.\"user_id\" = u.\"id\"
             WHERE NOT u.\"is_disabled\" AND s.\"revoked_at\" IS NULL AND u.\"id\" = "
        ));
        qb.push_bind(user.to_owned());
        qb.push(" AND s.\"id\" = ");
        qb.push_bind(session);
        qb.push(")");
        qb
    })
    .await?;
    Ok(json.and_then(|j| {
        let v: serde_json::Value = serde_json::from_str(&j).ok()?;
        Some((v["email"].as_str()?.to_owned(), v["verified"].as_bool()?))
    }))
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

/// One page and the total, as the contract's JSON object (built by Postgres), expansions
/// included: one statement, one round trip.
pub async fn list(
    pool: &PgPool,
    project: &Project,
    c: &Collection,
    plan: &ListPlan,
) -> Result<String, sqlx::Error> {
    let json = read(pool, project, || render_list(c, plan)).await?;
    Ok(json.unwrap_or_default())
}

/// The statement of [`list`] (pure; values are bound, never in the text).
pub fn render_list<'a>(c: &'a Collection, plan: &'a ListPlan) -> QueryBuilder<'a, Postgres> {
    let mut qb = QueryBuilder::new(format!(
        "{READ_PREFIX}SELECT json_build_object('records', COALESCE((SELECT json_agg(r) FROM (SELECT "
    ));
    expand::push_select(&mut qb, c, &plan.expand, 0);
    let mut w = Where::default();
    push_where(&mut qb, &mut w, &plan.filters);
    if let Some(Some(after)) = &plan.cursor {
        let id = &c.columns["id"];
        cursor::push_after(&mut qb, &mut w, after, &plan.sort, id, plan.sort.is_empty());
    }
    push_order(&mut qb, &plan.sort);
    qb.push(" LIMIT ").push_bind(plan.limit);
    if plan.offset > 0 {
        qb.push(" OFFSET ").push_bind(plan.offset);
    }
    qb.push(") r), '[]'::json), 'total', ");
    if plan.skip_total {
        qb.push("NULL");
    } else {
        qb.push("(SELECT count(*) FROM ").push(&c.table).push(" t0");
        push_where(&mut qb, &mut Where::default(), &plan.filters);
        qb.push(")");
    }
    qb.push(", 'limit', ")
        .push_bind(plan.limit)
        .push(", 'offset', ")
        .push_bind(plan.offset)
        .push(")::text)");
    qb
}

/// One record as JSON, expansions included (a read).
pub async fn get(
    pool: &PgPool,
    project: &Project,
    c: &Collection,
    id: &RecordId,
    expand: &[Node],
) -> Result<Option<String>, sqlx::Error> {
    read(pool, project, || {
        let mut qb = QueryBuilder::new(format!(
            "{READ_PREFIX}SELECT row_to_json(r)::text FROM (SELECT "
        ));
        expand::push_select(&mut qb, c, expand, 0);
        push_id(&mut qb, id);
        qb.push(") r)");
        qb
    })
    .await
}

/// One record as JSON inside a write transaction, locked for the update or delete that follows.
pub async fn get_for_update(
    tx: &mut Transaction<'static, Postgres>,
    c: &Collection,
    id: &RecordId,
) -> Result<Option<String>, sqlx::Error> {
    let mut qb = QueryBuilder::new("SELECT row_to_json(r)::text FROM (SELECT ");
    expand::push_select(&mut qb, c, &[], 0);
    push_id(&mut qb, id);
    qb.push(" FOR UPDATE) r");
    qb.build_query_scalar().fetch_optional(&mut **tx).await
}

/// Aggregates as `{"results": […]}` (a read).
pub async fn aggregate(
    pool: &PgPool,
    project: &Project,
    c: &Collection,
    plan: &AggregatePlan,
) -> Result<String, sqlx::Error> {
    let json = read(pool, project, || aggregate::render(c, plan)).await?;
    Ok(json.unwrap_or_default())
}

/// Column values to write: the column and its coerced text (None = NULL).
pub type Values = Vec<(Arc<Column>, Option<String>)>;

fn push_value(qb: &mut QueryBuilder<'_, Postgres>, col: &Column, v: &Option<String>) {
    qb.push("CAST(")
        .push_bind(v.clone())
        .push(format_args!(" AS {})", col.sql_type));
}

/// Inserts a record; returns it as JSON.
pub async fn insert(
    tx: &mut Transaction<'static, Postgres>,
    c: &Collection,
    values: &Values,
) -> Result<String, sqlx::Error> {
    let mut qb = QueryBuilder::new("WITH w AS (INSERT INTO ");
    qb.push(&c.table);
    if values.is_empty() {
        qb.push(" DEFAULT VALUES");
    } else {
        qb.push(" (");
        for (i, (col, _)) in values.iter().enumerate() {
            qb.push(if i == 0 { "" } else { ", " }).push(&col.sql);
        }
        qb.push(") VALUES (");
        for (i, (col, v)) in values.iter().enumerate() {
            qb.push(if i == 0 { "" } else { ", " });
            push_value(&mut qb, col, v);
        }
        qb.push(")");
    }
    qb.push(" RETURNING ")
        .push(&c.select_list)
        .push(") SELECT row_to_json(w)::text FROM w");
    qb.build_query_scalar().fetch_one(&mut **tx).await
}

/// Updates a record (always bumping `updated_at`); returns it as JSON.
pub async fn update(
    tx: &mut Transaction<'static, Postgres>,
    c: &Collection,
    id: &RecordId,
    values: &Values,
) -> Result<Option<String>, sqlx::Error> {
    let mut qb = QueryBuilder::new("WITH w AS (UPDATE ");
    qb.push(&c.table).push(" t0 SET \"updated_at\" = now()");
    for (col, v) in values {
        qb.push(", ").push(&col.sql).push(" = ");
        push_value(&mut qb, col, v);
    }
    push_id(&mut qb, id);
    qb.push(" RETURNING ")
        .push(&c.select_list)
        .push(") SELECT row_to_json(w)::text FROM w");
    qb.build_query_scalar().fetch_optional(&mut **tx).await
}

/// Deletes a record; false when it did not exist.
pub async fn delete(
    tx: &mut Transaction<'static, Postgres>,
    c: &Collection,
    id: &RecordId,
) -> Result<bool, sqlx::Error> {
    let mut qb = QueryBuilder::new("DELETE FROM ");
    qb.push(&c.table).push(" t0");
    push_id(&mut qb, id);
    Ok(qb.build().execute(&mut **tx).await?.rows_affected() > 0)
}

/// One page of a view as the contract's `{data, total, limit, offset, view_name, view_version}`
/// (a read).
pub async fn view_page(
    pool: &PgPool,
    project: &Project,
    c: &Collection,
    view: &model::ViewConfig,
    plan: &ViewPlan,
) -> Result<String, sqlx::Error> {
    let json = read(pool, project, || render_view(c, view, plan)).await?;
    Ok(json.unwrap_or_default())
}

fn render_view<'a>(
    c: &'a Collection,
    view: &'a model::ViewConfig,
    plan: &'a ViewPlan,
) -> QueryBuilder<'a, Postgres> {
    let mut qb = QueryBuilder::new(format!(
        "{READ_PREFIX}SELECT json_build_object('data', COALESCE((SELECT json_agg(r) FROM (SELECT "
    ));
    qb.push(&plan.select_list)
        .push(" FROM ")
        .push(&c.table)
        .push(" t0");
    push_where(&mut qb, &mut Where::default(), &plan.filters);
    if plan.sort.is_empty() {
        qb.push(" ORDER BY t0.\"id\" ASC");
    } else {
        push_order(&mut qb, &plan.sort);
    }
    qb.push(" LIMIT ")
        .push_bind(plan.limit)
        .push(" OFFSET ")
        .push_bind(plan.offset)
        .push(") r), '[]'::json), 'total', (SELECT count(*) FROM ")
        .push(&c.table)
        .push(" t0");
    push_where(&mut qb, &mut Where::default(), &plan.filters);
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
