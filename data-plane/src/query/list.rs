//! `GET …/data/{collection}` and `GET …/data/{collection}/{id}`: their parameters planned.
//!
//! Reserved parameters: `limit`, `offset`, `sort`, `expand`, `cursor`, `skip_total` (also
//! `skipTotal`). Every other parameter is a filter (unknown keys are ignored, per the contract).

use super::cursor::{self, After};
use super::expand::{self, Node};
use super::filter::{plan_filter, Filter};
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
    };
    let mut filters: Vec<(&str, Filter)> = Vec::new();
    let mut raw_cursor = None;
    for (key, raw) in params {
        match key.as_str() {
            "limit" => plan.limit = int_param("limit", raw, 1, 1000)?,
            "offset" => plan.offset = int_param("offset", raw, 0, i64::MAX)?,
            "sort" => plan.sort = plan_sort(coll, raw),
            "expand" => plan.expand = expand::plan(project, coll, raw)?,
            "skip_total" | "skipTotal" => plan.skip_total = flag(key, raw)?,
            "cursor" => raw_cursor = Some(raw.as_str()),
            _ => {
                if let Some(f) = plan_filter(coll, key, raw)? {
                    filters.retain(|(k, _)| *k != key.as_str());
                    filters.push((key.as_str(), f));
                }
            }
        }
    }
    plan.filters = filters.into_iter().map(|(_, f)| f).collect();
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

fn plan_sort(coll: &Collection, raw: &str) -> Vec<(Arc<Column>, bool)> {
    let mut keys: Vec<(Arc<Column>, bool)> = Vec::new();
    for k in raw.split(',').map(str::trim).filter(|k| !k.is_empty()) {
        let (name, desc) = match k.strip_prefix('-') {
            Some(n) => (n, true),
            None => (k, false),
        };
        if let Some(c) = coll.columns.get(name) {
            // A key given twice (by name and by column) sorts once, where it first appears.
            if !keys.iter().any(|(k, _)| k.sql == c.sql) {
                keys.push((c.clone(), desc));
            }
        }
    }
    keys
}
