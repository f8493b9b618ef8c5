//! Aggregates over the same filters as a list: `GET …/data/{collection}/_aggregate?sum=views&
//! avg=score&min=created_at&max=views&group_by=author&published=true`.
//!
//! Answer: `{"results": [{"group": {"author": "ann"}, "count": 3, "sum": {"views": 10}, …}]}`,
//! one result without `group_by`, groups ordered by their keys. `count` is always there.

use super::filter::{push_pred_where, push_where, Filter, Filters, Pred, Where};
use super::{int_param, PushIdent};
use crate::http::error::ApiError;
use crate::registry::{Collection, Column};
use model::sql::IdentList;
use model::FieldType;
use sqlx::{Postgres, QueryBuilder};
use std::sync::Arc;

/// Most `group_by` keys.
pub const MAX_GROUP_KEYS: usize = 5;
/// Most aggregated columns per function.
pub const MAX_COLUMNS: usize = 20;

/// An aggregate function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    /// `sum`
    Sum,
    /// `avg`
    Avg,
    /// `min`
    Min,
    /// `max`
    Max,
}

impl Func {
    fn name(self) -> &'static str {
        match self {
            Func::Sum => "sum",
            Func::Avg => "avg",
            Func::Min => "min",
            Func::Max => "max",
        }
    }

    fn allows(self, ty: FieldType) -> bool {
        match self {
            Func::Sum | Func::Avg => matches!(ty, FieldType::Int | FieldType::Float),
            Func::Min | Func::Max => matches!(
                ty,
                FieldType::Int
                    | FieldType::Float
                    | FieldType::Date
                    | FieldType::Datetime
                    | FieldType::String
                    | FieldType::Text
            ),
        }
    }
}

/// Fields as asked (name) with their columns.
pub type Named = Vec<(String, Arc<Column>)>;

/// A planned aggregate request.
#[derive(Debug)]
pub struct AggregatePlan {
    /// AND-ed conditions.
    pub filters: Vec<Filter>,
    /// Group keys: the name as asked and the column.
    pub group_by: Named,
    /// Per function, the columns: the name as asked and the column.
    pub columns: Vec<(Func, Named)>,
    /// Most groups returned.
    pub limit: i64,
    /// The rows the caller may list (spec/policies.md); none until the handler sets it.
    pub rule: Pred,
    /// The app user the rule assumed, reported back by the statement.
    pub check: Option<crate::db::LiveCheck>,
}

fn names(coll: &Collection, key: &str, raw: &str) -> Result<Named, ApiError> {
    let mut out: Named = Vec::new();
    for name in raw.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let col = coll
            .columns
            .get(name)
            .ok_or_else(|| ApiError::BadRequest(format!("Unknown field in '{key}': {name}")))?;
        if !out.iter().any(|(n, _)| n == name) {
            out.push((name.to_owned(), col.clone()));
        }
    }
    if out.len() > MAX_COLUMNS {
        return Err(ApiError::BadRequest(format!(
            "Too many fields in '{key}' (at most {MAX_COLUMNS})"
        )));
    }
    Ok(out)
}

/// Plans an aggregate request.
pub fn plan(coll: &Collection, params: &[(String, String)]) -> Result<AggregatePlan, ApiError> {
    let mut plan = AggregatePlan {
        filters: Vec::new(),
        group_by: Vec::new(),
        columns: Vec::new(),
        limit: 100,
        rule: Pred::Const(false),
        check: None,
    };
    let mut filters = Filters::default();
    for (key, raw) in params {
        let func = match key.as_str() {
            "sum" => Func::Sum,
            "avg" => Func::Avg,
            "min" => Func::Min,
            "max" => Func::Max,
            "group_by" => {
                plan.group_by = names(coll, key, raw)?;
                if plan.group_by.len() > MAX_GROUP_KEYS {
                    return Err(ApiError::BadRequest(format!(
                        "Too many group_by fields (at most {MAX_GROUP_KEYS})"
                    )));
                }
                continue;
            }
            "limit" => {
                plan.limit = int_param("limit", raw, 1, 1000)?;
                continue;
            }
            "count" => continue,
            _ => {
                filters.add(coll, key, raw)?;
                continue;
            }
        };
        let cols = names(coll, key, raw)?;
        if let Some((name, _)) = cols.iter().find(|(_, c)| !func.allows(c.ty)) {
            return Err(ApiError::BadRequest(format!(
                "Cannot compute {} of field '{name}'",
                func.name()
            )));
        }
        plan.columns.retain(|(f, _)| *f != func);
        plan.columns.push((func, cols));
    }
    plan.filters = filters.finish();
    Ok(plan)
}

/// Renders the whole answer as one JSON value built by Postgres.
pub fn render<'a>(c: &Collection, plan: &'a AggregatePlan) -> QueryBuilder<'a, Postgres> {
    let mut qb = crate::db::read_prefix(plan.check.as_ref());
    qb.push("SELECT json_build_object('results', COALESCE(json_agg(a), '[]'::json))::text FROM (SELECT json_build_object('group', json_build_object(");
    for (i, (name, col)) in plan.group_by.iter().enumerate() {
        qb.push(if i == 0 { "" } else { ", " })
            .push("CAST(")
            .push_bind(name.as_str())
            .push(" AS text), ")
            .push_ident(&col.sql);
    }
    qb.push("), 'count', count(*)");
    for (func, cols) in &plan.columns {
        qb.push(format_args!(", '{}', json_build_object(", func.name()));
        for (i, (name, col)) in cols.iter().enumerate() {
            qb.push(if i == 0 { "" } else { ", " })
                .push("CAST(")
                .push_bind(name.as_str())
                .push(format_args!(" AS text), {}(", func.name()))
                .push_ident(&col.sql)
                .push(")");
        }
        qb.push(")");
    }
    qb.push(") AS a FROM ").push_ident(&c.table).push(" t0");
    let mut w = Where::default();
    push_where(&mut qb, &mut w, &plan.filters);
    push_pred_where(&mut qb, &mut w, &plan.rule);
    if !plan.group_by.is_empty() {
        let keys = IdentList::join(plan.group_by.iter().map(|(_, c)| &c.sql));
        qb.push(format_args!(" GROUP BY {keys} ORDER BY {keys}"));
    }
    qb.push(" LIMIT ").push_bind(plan.limit).push(") g)");
    qb
}
