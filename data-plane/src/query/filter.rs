//! Filters and sort order: planned against the compiled collection (every name resolves to a
//! quoted column or is dropped; every value is coerced and later bound) and rendered. No string
//! from a request ever becomes SQL text.

use crate::http::error::ApiError;
use crate::registry::{Collection, Column};
use model::value::coerce_text;
use model::FieldType;
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

    /// Parses an operator suffix (`gt`, `in`, …).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .find(|(name, _)| *name == s)
            .map(|(_, op)| *op)
    }
}

/// One planned condition.
#[derive(Debug, Clone)]
pub struct Filter {
    /// The column.
    pub col: Arc<Column>,
    /// The operator.
    pub op: Op,
    /// Coerced operand(s); a flag for the null tests.
    pub values: Vec<String>,
}

impl Filter {
    /// The same test: column, operator and operands.
    pub fn same(&self, other: &Filter) -> bool {
        self.col.sql == other.col.sql && self.op == other.op && self.values == other.values
    }
}

/// Most items an `__in` / `__notin` list may have.
pub const MAX_IN_ITEMS: usize = 1000;

/// A filter parameter, or `None` when its key names no column (ignored, per the contract).
pub fn plan_filter(coll: &Collection, key: &str, raw: &str) -> Result<Option<Filter>, ApiError> {
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
    if col.ty == FieldType::Json {
        return json_filter(col, key, op, raw).map(Some);
    }
    let coerce = |v: &str| {
        coerce_text(col.ty, v)
            .map_err(|e| ApiError::BadRequest(format!("Invalid value for filter '{key}': {e}")))
    };
    let values = match op {
        Op::IsNull | Op::IsNotNull => {
            vec![null_flag(raw)]
        }
        Op::In | Op::NotIn => {
            let items: Vec<&str> = raw.split(',').collect();
            if items.len() > MAX_IN_ITEMS {
                return Err(ApiError::BadRequest(format!(
                    "Too many values for filter '{key}' (at most {MAX_IN_ITEMS})"
                )));
            }
            items
                .into_iter()
                .map(|v| coerce(v.trim()))
                .collect::<Result<_, _>>()?
        }
        Op::Like if ends_in_escape(raw) => {
            return Err(ApiError::BadRequest(format!(
                "Invalid pattern for filter '{key}': it ends with an unescaped backslash"
            )))
        }
        Op::Like | Op::ILike | Op::Contains | Op::StartsWith | Op::EndsWith => vec![raw.to_owned()],
        _ => vec![coerce(raw)?],
    };
    Ok(Some(Filter {
        col: col.clone(),
        op,
        values,
    }))
}

/// The operand of `isnull`/`isnotnull`: `true` for `true`, `1` or `yes`, else `false`.
fn null_flag(raw: &str) -> String {
    let yes = matches!(
        raw.trim().to_ascii_lowercase().as_str(),
        "true" | "1" | "yes"
    );
    yes.to_string()
}

/// The operators a `json` field takes: JSON equality, containment (`@>`) and the null tests.
pub const JSON_OPS: &str = "eq, neq, contains, isnull or isnotnull";

/// Refuses an operator a `json` field cannot take (ordering, text matches, lists).
pub fn check_json_op(op: Op, name: &str) -> Result<(), ApiError> {
    match op {
        Op::Eq | Op::Neq | Op::Contains | Op::IsNull | Op::IsNotNull => Ok(()),
        _ => {
            let op = Op::ALL
                .iter()
                .find(|(_, o)| *o == op)
                .map_or("?", |(n, _)| n);
            Err(ApiError::BadRequest(format!(
                "Operator '{op}' cannot be used on json field '{name}' (use {JSON_OPS})"
            )))
        }
    }
}

/// A filter on a `json` field: the operand is JSON text (`meta__contains={"tier":"gold"}`),
/// checked and bound as `jsonb`.
fn json_filter(col: &Arc<Column>, key: &str, op: Op, raw: &str) -> Result<Filter, ApiError> {
    let name = key.rsplit_once("__").map_or(key, |(n, _)| n);
    check_json_op(op, name)?;
    // `meta=null` finds what holds no value (a null value is stored as SQL NULL).
    let (op, raw) = match (op, raw.trim()) {
        (Op::Eq, "null") => (Op::IsNull, "true"),
        (Op::Neq, "null") => (Op::IsNotNull, "true"),
        _ => (op, raw),
    };
    let values = match op {
        Op::IsNull | Op::IsNotNull => {
            vec![null_flag(raw)]
        }
        _ => vec![coerce_text(FieldType::Json, raw)
            .map_err(|e| ApiError::BadRequest(format!("Invalid value for filter '{key}': {e}")))?],
    };
    Ok(Filter {
        col: col.clone(),
        op,
        values,
    })
}

/// Filters by the parameter that made them; a repeated key replaces the earlier one.
#[derive(Debug, Default)]
pub struct Filters<'k>(Vec<(&'k str, Filter)>);

impl<'k> Filters<'k> {
    /// Plans `key=raw` as a filter (ignored when the key names no column).
    pub fn add(&mut self, coll: &Collection, key: &'k str, raw: &str) -> Result<(), ApiError> {
        if let Some(f) = plan_filter(coll, key, raw)? {
            self.0.retain(|(k, _)| *k != key);
            self.0.push((key, f));
        }
        Ok(())
    }

    /// The filters, in the order their keys last appeared.
    pub fn finish(self) -> Vec<Filter> {
        self.0.into_iter().map(|(_, f)| f).collect()
    }
}

/// A raw LIKE pattern whose last backslash escapes nothing (Postgres refuses it when it meets a
/// row, which would make the error depend on the rows).
fn ends_in_escape(pattern: &str) -> bool {
    let trailing = pattern.chars().rev().take_while(|c| *c == '\\').count();
    trailing % 2 == 1
}

fn escape_like(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// Starts each condition with ` WHERE ` or ` AND `.
#[derive(Debug, Default)]
pub struct Where(bool);

impl Where {
    /// Pushes the keyword before the next condition.
    pub fn next(&mut self, qb: &mut QueryBuilder<'_, Postgres>) {
        qb.push(if self.0 { " AND " } else { " WHERE " });
        self.0 = true;
    }
}

/// Appends the filters as AND-ed conditions.
pub fn push_where(qb: &mut QueryBuilder<'_, Postgres>, w: &mut Where, filters: &[Filter]) {
    for f in filters {
        w.next(qb);
        push_filter(qb, f);
    }
}

/// A row predicate: the tree both request filters and access rules (spec/policies.md,
/// compiled conditions bound with the caller) become. Each leaf is false where its column is
/// NULL, also under a negation, so SQL's three-valued logic never turns a "no" into a "maybe".
#[derive(Debug, Clone)]
pub enum Pred {
    /// Always this.
    Const(bool),
    /// The filter holds.
    Leaf(Filter),
    /// The filter does not hold (NULL counts as not holding).
    NotLeaf(Filter),
    /// Every one holds.
    All(Vec<Pred>),
    /// Any one holds.
    Any(Vec<Pred>),
}

impl Pred {
    /// Every one holds; constants folded, a condition given twice kept once (an owner policy
    /// and the forced owner filter of an app user's list are the same test).
    pub fn all(items: Vec<Pred>) -> Pred {
        let mut out: Vec<Pred> = Vec::new();
        for p in items {
            match p {
                Pred::Const(true) => {}
                Pred::Const(false) => return Pred::Const(false),
                Pred::All(inner) => out.extend(inner),
                Pred::Leaf(f) if out.iter().any(|o| matches!(o, Pred::Leaf(g) if g.same(&f))) => {}
                p => out.push(p),
            }
        }
        match out.len() {
            0 => Pred::Const(true),
            1 => out.pop().unwrap_or(Pred::Const(true)),
            _ => Pred::All(out),
        }
    }

    /// Any one holds; constants folded.
    pub fn any(items: Vec<Pred>) -> Pred {
        let mut out = Vec::new();
        for p in items {
            match p {
                Pred::Const(false) => {}
                Pred::Const(true) => return Pred::Const(true),
                Pred::Any(inner) => out.extend(inner),
                p => out.push(p),
            }
        }
        match out.len() {
            0 => Pred::Const(false),
            1 => out.pop().unwrap_or(Pred::Const(false)),
            _ => Pred::Any(out),
        }
    }

    /// The constant, if the predicate does not depend on the row.
    pub fn constant(&self) -> Option<bool> {
        match self {
            Pred::Const(b) => Some(*b),
            _ => None,
        }
    }
}

impl std::ops::Not for Pred {
    type Output = Pred;

    /// The negation, pushed down to the leaves.
    fn not(self) -> Pred {
        match self {
            Pred::Const(b) => Pred::Const(!b),
            Pred::Leaf(f) => Pred::NotLeaf(f),
            Pred::NotLeaf(f) => Pred::Leaf(f),
            Pred::All(items) => Pred::any(items.into_iter().map(|p| !p).collect()),
            Pred::Any(items) => Pred::all(items.into_iter().map(|p| !p).collect()),
        }
    }
}

/// Appends the predicate as one more AND-ed condition (nothing when it is always true).
pub fn push_pred_where(qb: &mut QueryBuilder<'_, Postgres>, w: &mut Where, p: &Pred) {
    if p.constant() != Some(true) {
        w.next(qb);
        push_pred(qb, p);
    }
}

/// Renders the predicate as one parenthesized boolean expression over bare column names (they
/// resolve to the innermost table in scope).
pub fn push_pred(qb: &mut QueryBuilder<'_, Postgres>, p: &Pred) {
    match p {
        Pred::Const(b) => {
            qb.push(if *b { "TRUE" } else { "FALSE" });
        }
        Pred::Leaf(f) => {
            qb.push("(");
            push_filter(qb, f);
            qb.push(")");
        }
        Pred::NotLeaf(f) => {
            qb.push("((");
            push_filter(qb, f);
            qb.push(") IS NOT TRUE)");
        }
        Pred::All(items) | Pred::Any(items) => {
            let join = if matches!(p, Pred::All(_)) {
                " AND "
            } else {
                " OR "
            };
            qb.push("(");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    qb.push(join);
                }
                push_pred(qb, item);
            }
            qb.push(")");
        }
    }
}

pub fn push_filter(qb: &mut QueryBuilder<'_, Postgres>, f: &Filter) {
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
        // On a json field `contains` is JSON containment.
        Op::Contains if f.col.ty == FieldType::Json => cmp(qb, "@>", first),
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
        qb.push(" ORDER BY t0.\"id\" DESC");
        return;
    }
    qb.push(" ORDER BY ");
    for (col, desc) in sort {
        qb.push(format_args!(
            "t0.{} {}, ",
            col.sql,
            if *desc { "DESC" } else { "ASC" }
        ));
    }
    qb.push("t0.\"id\" ASC");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::sample::project;

    fn sql(key: &str, raw: &str) -> Result<String, String> {
        let project = project();
        let coll = &project.collections["order"];
        let f = plan_filter(coll, key, raw)
            .map_err(|e| e.to_string())?
            .expect("a column");
        let mut qb = QueryBuilder::<Postgres>::new("");
        push_filter(&mut qb, &f);
        Ok(format!("{} {:?}", qb.into_sql(), f.values))
    }

    #[test]
    fn json_fields_compare_contain_and_refuse_the_rest() {
        assert_eq!(
            sql("meta__contains", r#"{ "tier": "gold" }"#).unwrap(),
            r#""meta" @> CAST($1 AS jsonb) ["{\"tier\":\"gold\"}"]"#
        );
        assert_eq!(
            sql("meta", "\"gold\"").unwrap(),
            r#""meta" = CAST($1 AS jsonb) ["\"gold\""]"#
        );
        assert_eq!(
            sql("meta__isnull", "1").unwrap(),
            r#""meta" IS NULL ["true"]"#
        );
        assert_eq!(sql("meta", " null").unwrap(), r#""meta" IS NULL ["true"]"#);
        assert_eq!(
            sql("meta__neq", "null").unwrap(),
            r#""meta" IS NOT NULL ["true"]"#
        );
        assert!(sql("meta__contains", "null").is_err());
        assert_eq!(
            sql("meta__contains", "{oops").unwrap_err(),
            "Invalid value for filter 'meta__contains': expected valid JSON"
        );
        assert_eq!(
            sql("meta__in", "1,2").unwrap_err(),
            "Operator 'in' cannot be used on json field 'meta' (use eq, neq, contains, isnull or isnotnull)"
        );
        // On other fields `contains` stays a text match.
        assert_eq!(
            sql("title__contains", "a%").unwrap(),
            r#"CAST("title" AS text) LIKE $1 ["a%"]"#
        );
    }
}
