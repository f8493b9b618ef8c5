//! `GET …/data/{collection}` and `GET …/data/{collection}/{id}`: their parameters planned.
//!
//! Reserved parameters: `limit`, `offset`, `sort`, `expand`, `cursor`, `skip_total` (also
//! `skipTotal`). Every other parameter is a filter (unknown keys are ignored, per the contract).

use super::cursor::{self, After};
use super::expand::{self, Node};
use super::filter::{Filter, Filters, Pred};
use super::{flag, int_param};
use crate::http::error::ApiError;
use crate::registry::{Collection, Column, Project};
use std::sync::Arc;

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
    /// Leave `total` out (`null`): the page query alone.
    pub skip_total: bool,
    /// Keyset pagination: `None` = off, `Some(None)` = first page, `Some(Some(_))` = after a row.
    pub cursor: Option<Option<After>>,
    /// Relation expansions.
    pub expand: Vec<Node>,
    /// The rows the caller may list (spec/policies.md); none until the handler sets it.
    pub rule: Pred,
    /// The app user the rule assumed, reported back by the statement.
    pub check: Option<crate::db::LiveCheck>,
}

/// Plans a list request from its query parameters (repeated keys: the last wins).
pub fn plan_list(
    project: &Project,
    coll: &Arc<Collection>,
    params: &[(String, String)],
) -> Result<ListPlan, ApiError> {
    let mut plan = ListPlan {
        filters: Vec::new(),
        sort: Vec::new(),
        limit: 100,
        offset: 0,
        skip_total: false,
        cursor: None,
        expand: Vec::new(),
        rule: Pred::Const(false),
        check: None,
    };
    let mut filters = Filters::default();
    let mut raw_cursor = None;
    for (key, raw) in params {
        match key.as_str() {
            "limit" => plan.limit = int_param("limit", raw, 1, 1000)?,
            "offset" => plan.offset = int_param("offset", raw, 0, i64::MAX)?,
            "sort" => plan.sort = plan_sort(coll, raw)?,
            "expand" => plan.expand = expand::plan(project, coll, raw)?,
            "skip_total" | "skipTotal" => plan.skip_total = flag(key, raw)?,
            "cursor" => raw_cursor = Some(raw.as_str()),
            _ => {
                filters.add(coll, key, raw)?;
            }
        }
    }
    plan.filters = filters.finish();
    if let Some(raw) = raw_cursor {
        if plan.offset != 0 {
            return Err(ApiError::BadRequest(
                "Use either offset or cursor, not both".into(),
            ));
        }
        cursor::check_sort(&plan.sort)?;
        plan.cursor = Some(cursor::decode(raw, &plan.sort, &coll.columns["id"])?);
    }
    Ok(plan)
}

/// Plans the parameters of a single-record read: only `expand` matters.
pub fn plan_get(
    project: &Project,
    coll: &Arc<Collection>,
    params: &[(String, String)],
) -> Result<Vec<Node>, ApiError> {
    match params.iter().rev().find(|(k, _)| k == "expand") {
        Some((_, raw)) => expand::plan(project, coll, raw),
        None => Ok(Vec::new()),
    }
}

fn plan_sort(coll: &Collection, raw: &str) -> Result<Vec<(Arc<Column>, bool)>, ApiError> {
    let mut keys: Vec<(Arc<Column>, bool)> = Vec::new();
    for k in raw.split(',').map(str::trim).filter(|k| !k.is_empty()) {
        let (name, desc) = match k.strip_prefix('-') {
            Some(n) => (n, true),
            None => (k, false),
        };
        if let Some(c) = coll.columns.get(name) {
            check_sortable(c, name)?;
            // A key given twice (by name and by column) sorts once, where it first appears.
            if !keys.iter().any(|(k, _)| k.sql == c.sql) {
                keys.push((c.clone(), desc));
            }
        }
    }
    Ok(keys)
}

/// A JSON value has no order users would expect, so a `json` field is refused as a sort key.
pub fn check_sortable(col: &Column, name: &str) -> Result<(), ApiError> {
    if col.ty == model::FieldType::Json {
        return Err(ApiError::BadRequest(format!(
            "Cannot sort by json field '{name}'"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod fuzz {
    //! Random query strings against the planner and renderer: never a panic, every rejection a
    //! client error with a detail, and no request text ever in the SQL (values are bound).
    use super::*;
    use crate::db::render_list;
    use crate::http::error::ApiError;
    use crate::registry::sample::project;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    const MARK: &str = "ZQX";

    fn pick<'a>(rng: &mut StdRng, xs: &[&'a str]) -> &'a str {
        xs[rng.gen_range(0..xs.len())]
    }

    fn value(rng: &mut StdRng) -> String {
        let parts = [
            "1",
            "-5",
            "0.5",
            "1e999",
            "true",
            "no",
            "2024-01-01",
            "2024-13-45",
            "2024-01-01T10:00:00Z",
            "' OR 1=1 --",
            "%",
            "_",
            "\\",
            "\0",
            ",",
            ",,",
            "\"",
            "550e8400-e29b-41d4-a716-446655440000",
            "é",
            "NaN",
            "",
            "{\"a\":[1]}",
            "[",
            "null",
            "\"\\u0000\"",
        ];
        let mut v = String::new();
        for _ in 0..rng.gen_range(0..4) {
            v.push_str(pick(rng, &parts));
        }
        if rng.gen_bool(0.5) {
            v.push_str(MARK);
        }
        v
    }

    fn key(rng: &mut StdRng) -> String {
        let names = [
            "title",
            "n",
            "x",
            "ok",
            "day",
            "at",
            "u",
            "parent",
            "parent_id",
            "meta",
            "id",
            "created_at",
            "updated_at",
            "created_by_user_id",
            "limit",
            "offset",
            "sort",
            "expand",
            "cursor",
            "skip_total",
            "zzz",
            "",
            "__",
            "title__",
            "ZQXfield",
        ];
        let ops = [
            "",
            "__eq",
            "__neq",
            "__gt",
            "__gte",
            "__lt",
            "__lte",
            "__like",
            "__ilike",
            "__contains",
            "__startswith",
            "__endswith",
            "__in",
            "__notin",
            "__isnull",
            "__isnotnull",
            "__bogus",
            "__",
            "__in__in",
        ];
        format!("{}{}", pick(rng, &names), pick(rng, &ops))
    }

    fn special(rng: &mut StdRng, key: &str) -> Option<String> {
        Some(match key {
            "sort" => [
                "-n,title",
                "zzz,-id",
                ",,-",
                "-x,ok,parent_id",
                "ZQX",
                "meta",
            ][rng.gen_range(0..6)]
            .to_owned(),
            "expand" => ["parent", "parent.zzz", "a.b.c.d", "ZQX", "parent,parent"]
                [rng.gen_range(0..5)]
            .to_owned(),
            _ => return None,
        })
    }

    #[test]
    fn random_queries_never_panic_and_never_reach_sql_text() {
        let project = project();
        let coll = project.collections["order"].clone();
        let mut rng = StdRng::seed_from_u64(7);
        let (mut ok, mut refused) = (0, 0);
        for _ in 0..20_000 {
            let params: Vec<(String, String)> = (0..rng.gen_range(0..6))
                .map(|_| {
                    let k = key(&mut rng);
                    let v = special(&mut rng, &k).unwrap_or_else(|| value(&mut rng));
                    (k, v)
                })
                .collect();
            match plan_list(&project, &coll, &params) {
                Ok(plan) => {
                    ok += 1;
                    let sql = render_list(&coll, &plan).into_sql();
                    assert!(
                        !sql.contains(MARK),
                        "request text in SQL: {sql}\n{params:?}"
                    );
                    assert!(!sql.contains('\0'));
                }
                Err(e) => {
                    refused += 1;
                    assert!(
                        matches!(e, ApiError::BadRequest(_) | ApiError::Validation(_)),
                        "{e:?} for {params:?}"
                    );
                    assert!(!e.to_string().is_empty());
                }
            }
        }
        assert!(ok > 1000 && refused > 1000, "ok {ok}, refused {refused}");
    }
}
