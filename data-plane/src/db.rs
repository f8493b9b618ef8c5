//! All data-plane SQL. Every transaction first switches to the project's role and schema, so even
//! a wrong query cannot reach another tenant. Postgres builds the response JSON.

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

/// Ends a read-only transaction without waiting: dropping it queues a `ROLLBACK` (nothing was
/// written, so it means the same as a commit), which the pool flushes together with its
/// release check right after the response is on its way — so no lock outlives the request.
/// (Keeping the rollback queued until the connection's next use would hold the read's table
/// locks while idle and block DDL.)
pub fn end_read(tx: Tx) {
    drop(tx);
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
    tx: &mut Transaction<'static, Postgres>,
    c: &Collection,
    plan: &ListPlan,
) -> Result<String, sqlx::Error> {
    render_list(c, plan)
        .build_query_scalar()
        .fetch_one(&mut **tx)
        .await
}

/// The statement of [`list`] (pure; values are bound, never in the text).
pub fn render_list<'a>(c: &'a Collection, plan: &'a ListPlan) -> QueryBuilder<'a, Postgres> {
    let mut qb = QueryBuilder::new(
        "SELECT json_build_object('records', COALESCE((SELECT json_agg(r) FROM (SELECT ",
    );
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
        .push(")::text");
    qb
}

/// One record as JSON, expansions included; `lock` takes a row lock for an update that follows.
pub async fn get(
    tx: &mut Transaction<'static, Postgres>,
    c: &Collection,
    id: &RecordId,
    expand: &[Node],
    lock: bool,
) -> Result<Option<String>, sqlx::Error> {
    let mut qb = QueryBuilder::new("SELECT row_to_json(r)::text FROM (SELECT ");
    expand::push_select(&mut qb, c, expand, 0);
    push_id(&mut qb, id);
    if lock {
        qb.push(" FOR UPDATE");
    }
    qb.push(") r");
    qb.build_query_scalar().fetch_optional(&mut **tx).await
}

/// Aggregates as the contract-free `{"results": […]}` JSON object.
pub async fn aggregate(
    tx: &mut Transaction<'static, Postgres>,
    c: &Collection,
    plan: &AggregatePlan,
) -> Result<String, sqlx::Error> {
    aggregate::render(c, plan)
        .build_query_scalar()
        .fetch_one(&mut **tx)
        .await
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

/// One page of a view as the contract's `{data, total, limit, offset, view_name, view_version}`.
pub async fn view_page(
    tx: &mut Transaction<'static, Postgres>,
    c: &Collection,
    view: &model::ViewConfig,
    plan: &ViewPlan,
) -> Result<String, sqlx::Error> {
    let mut qb = QueryBuilder::new(
        "SELECT json_build_object('data', COALESCE((SELECT json_agg(r) FROM (SELECT ",
    );
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
        .push_bind(view.name.clone())
        .push(", 'view_version', ")
        .push_bind(view.version)
        .push(")::text");
    qb.build_query_scalar().fetch_one(&mut **tx).await
}
