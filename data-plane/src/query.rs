//! List queries: parse the URL's parameters, plan them against the compiled collection (every
//! name resolves to a quoted column or is dropped; every value is coerced and later bound), and
//! render the SQL. No string from a request ever becomes SQL text.

use crate::http::error::ApiError;
use crate::registry::{Collection, Column};
use model::error_body::validation_item;
use model::value::coerce_text;
use serde_json::Value;
use sqlx::{Postgres, QueryBuilder};
use std::sync::Arc;

/// A filter operator (spec/data.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `=`
    Eq,
    /// `!=`
    Neq,
    /// `>`
    Gt,
    /// `>=`
    Gte,
    /// `<`
    Lt,
    /// `<=`
    Lte,
    /// raw LIKE pattern
    Like,
    /// case-insensitive contains
    ILike,
    /// contains
    Contains,
    /// prefix
    StartsWith,
    /// suffix
    EndsWith,
    /// one of
    In,
    /// none of
    NotIn,
    /// `IS NULL` when true
    IsNull,
    /// `IS NOT NULL` when true
    IsNotNull,
}

impl Op {
    /// Every operator with its URL suffix (`title__contains=…`), in the contract's order.
    pub const ALL: [(&'static str, Op); 15] = [
        ("eq", Self::Eq),
        ("neq", Self::Neq),
        ("gt", Self::Gt),
        ("gte", Self::Gte),
        ("lt", Self::Lt),
        ("lte", Self::Lte),
        ("like", Self::Like),
        ("ilike", Self::ILike),
        ("contains", Self::Contains),
        ("startswith", Self::StartsWith),
        ("endswith", Self::EndsWith),
        ("in", Self::In),
        ("notin", Self::NotIn),
        ("isnull", Self::IsNull),
        ("isnotnull", Self::IsNotNull),
    ];

    fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .find(|(name, _)| *name == s)
            .map(|(_, op)| *op)
    }
}

/// One planned condition.
#[derive(Debug, Clone)]
pub struct Filter {
    col: Arc<Column>,
    op: Op,
    /// Coerced operand(s); a flag for the null tests.
    values: Vec<String>,
}

/// A planned list request.
#[derive(Debug)]
pub struct ListPlan {
    /// AND-ed conditions.
    pub filters: Vec<Filter>,
    /// `(column, descending)`; empty means `id DESC`.
    pub sort: Vec<(Arc<Column>, bool)>,
    /// Page size.
    pub limit: i64,
    /// Page start.
    pub offset: i64,
}

fn query_error(key: &str, kind: &str, msg: &str, input: &str) -> ApiError {
    ApiError::Validation(vec![validation_item(
        kind,
        &["query", key],
        msg,
        Value::String(input.into()),
    )])
}

fn int_param(key: &str, raw: &str, min: i64, max: i64) -> Result<i64, ApiError> {
    let n: i64 = raw.trim().parse().map_err(|_| {
        query_error(
            key,
            "int_parsing",
            "Input should be a valid integer, unable to parse string as an integer",
            raw,
        )
    })?;
    if n < min {
        return Err(query_error(
            key,
            "greater_than_equal",
            &format!("Input should be greater than or equal to {min}"),
            raw,
        ));
    }
    if n > max {
        return Err(query_error(
            key,
            "less_than_equal",
            &format!("Input should be less than or equal to {max}"),
            raw,
        ));
    }
    Ok(n)
}

/// Plans `GET …/data/{collection}` from its query parameters (repeated keys: the last wins).
pub fn plan_list(coll: &Collection, params: &[(String, String)]) -> Result<ListPlan, ApiError> {
    let mut plan = ListPlan {
        filters: Vec::new(),
        sort: Vec::new(),
        limit: 100,
        offset: 0,
    };
    let mut filters: Vec<(&str, Filter)> = Vec::new();
    for (key, raw) in params {
        match key.as_str() {
            "limit" => plan.limit = int_param("limit", raw, 1, 1000)?,
            "offset" => plan.offset = int_param("offset", raw, 0, i64::MAX)?,
            "sort" => plan.sort = plan_sort(coll, raw),
            _ => {
                if let Some(f) = plan_filter(coll, key, raw)? {
                    filters.retain(|(k, _)| *k != key.as_str());
                    filters.push((key.as_str(), f));
                }
            }
        }
    }
    plan.filters = filters.into_iter().map(|(_, f)| f).collect();
    Ok(plan)
}

fn plan_sort(coll: &Collection, raw: &str) -> Vec<(Arc<Column>, bool)> {
    raw.split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .filter_map(|k| {
            let (name, desc) = match k.strip_prefix('-') {
                Some(n) => (n, true),
                None => (k, false),
            };
            coll.columns.get(name).map(|c| (c.clone(), desc))
        })
        .collect()
}

/// A filter parameter, or `None` when its key names no column (ignored, per the contract).
fn plan_filter(coll: &Collection, key: &str, raw: &str) -> Result<Option<Filter>, ApiError> {
    let (name, op) = match key.rsplit_once("__") {
        Some((name, op)) if coll.columns.contains_key(name) => (
            name,
            Op::parse(op)
                .ok_or_else(|| ApiError::BadRequest(format!("Unknown filter operator: {op}")))?,
        ),
        _ => (key, Op::Eq),
    };
    let Some(col) = coll.columns.get(name) else {
        return Ok(None);
    };
    let coerce = |v: &str| {
        coerce_text(col.ty, v)
            .map_err(|e| ApiError::BadRequest(format!("Invalid value for filter '{key}': {e}")))
    };
    let values = match op {
        Op::IsNull | Op::IsNotNull => {
            let yes = matches!(
                raw.trim().to_ascii_lowercase().as_str(),
                "true" | "1" | "yes"
            );
            vec![yes.to_string()]
        }
        Op::In | Op::NotIn => raw
            .split(',')
            .map(|v| coerce(v.trim()))
            .collect::<Result<_, _>>()?,
        Op::Like | Op::ILike | Op::Contains | Op::StartsWith | Op::EndsWith => vec![raw.to_owned()],
        _ => vec![coerce(raw)?],
    };
    Ok(Some(Filter {
        col: col.clone(),
        op,
        values,
    }))
}

fn escape_like(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// Appends ` WHERE …` (nothing when there are no filters).
pub fn push_where(qb: &mut QueryBuilder<'_, Postgres>, filters: &[Filter]) {
    for (i, f) in filters.iter().enumerate() {
        qb.push(if i == 0 { " WHERE " } else { " AND " });
        push_filter(qb, f);
    }
}

fn push_filter(qb: &mut QueryBuilder<'_, Postgres>, f: &Filter) {
    let (col, ty) = (&f.col.sql, &f.col.sql_type);
    let first = f.values.first().cloned().unwrap_or_default();
    let cmp = |qb: &mut QueryBuilder<'_, Postgres>, op: &str, v: String| {
        qb.push(format_args!("{col} {op} CAST("))
            .push_bind(v)
            .push(format_args!(" AS {ty})"));
    };
    let like = |qb: &mut QueryBuilder<'_, Postgres>, pattern: String, ci: bool| {
        if ci {
            qb.push(format_args!("lower(CAST({col} AS text)) LIKE lower("))
                .push_bind(pattern)
                .push(")");
        } else {
            qb.push(format_args!("CAST({col} AS text) LIKE "))
                .push_bind(pattern);
        }
    };
    match f.op {
        Op::Eq => cmp(qb, "=", first),
        Op::Neq => cmp(qb, "<>", first),
        Op::Gt => cmp(qb, ">", first),
        Op::Gte => cmp(qb, ">=", first),
        Op::Lt => cmp(qb, "<", first),
        Op::Lte => cmp(qb, "<=", first),
        Op::Like => like(qb, first, false),
        Op::ILike => like(qb, format!("%{}%", escape_like(&first)), true),
        Op::Contains => like(qb, format!("%{}%", escape_like(&first)), false),
        Op::StartsWith => like(qb, format!("{}%", escape_like(&first)), false),
        Op::EndsWith => like(qb, format!("%{}", escape_like(&first)), false),
        Op::In | Op::NotIn => {
            let neg = if f.op == Op::NotIn { "NOT " } else { "" };
            qb.push(format_args!("{neg}({col} = ANY(CAST("))
                .push_bind(f.values.clone())
                .push(format_args!(" AS {ty}[])))"));
        }
        Op::IsNull | Op::IsNotNull => {
            let null = (first == "true") == (f.op == Op::IsNull);
            qb.push(format_args!(
                "{col} IS {}NULL",
                if null { "" } else { "NOT " }
            ));
        }
    }
}

/// Appends ` ORDER BY …`, with `id` as the final tie-breaker.
pub fn push_order(qb: &mut QueryBuilder<'_, Postgres>, sort: &[(Arc<Column>, bool)]) {
    if sort.is_empty() {
        qb.push(" ORDER BY \"id\" DESC");
        return;
    }
    qb.push(" ORDER BY ");
    for (col, desc) in sort {
        qb.push(format_args!(
            "{} {}, ",
            col.sql,
            if *desc { "DESC" } else { "ASC" }
        ));
    }
    qb.push("\"id\" ASC");
}
