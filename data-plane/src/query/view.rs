//! View execution (`spec/views.md`, `POST …/views/{name}/execute`): the compiled view plus the
//! request's parameters become the same filter and sort plan a list uses. Parameterized sort
//! fields resolve only to real columns (the original spliced them into SQL); values are coerced to
//! the column type and bound.

use super::filter::{Filter, Op, Pred};
use crate::http::error::ApiError;
use crate::registry::{Collection, Column};
use model::sql::{Ident, IdentList};
use model::value::coerce_json;
use model::{FieldType, ViewConfig, ViewOperator};
use serde_json::{Map, Value};
use std::sync::Arc;

/// Hard cap of a view page.
pub const LIMIT_CAP: i64 = 1000;

/// A planned execution.
#[derive(Debug)]
pub struct ViewPlan {
    /// The quoted columns returned (the projection, or every shown column).
    pub select_list: IdentList,
    /// AND-ed conditions.
    pub filters: Vec<Filter>,
    /// Sort keys; empty means `id ASC`.
    pub sort: Vec<(Arc<Column>, bool)>,
    /// Page size.
    pub limit: i64,
    /// Page start.
    pub offset: i64,
    /// The rows the caller may list (the base collection's `list` rule); none until the handler
    /// sets it.
    pub rule: Pred,
}

/// The execute request body.
#[derive(Debug, Default)]
pub struct ExecuteRequest {
    /// `params` (an empty object counts as none, as in the original).
    pub params: Map<String, Value>,
    /// `limit` (`None` or 0 = the view's default).
    pub limit: Option<i64>,
    /// `offset`.
    pub offset: i64,
}

const ALWAYS_SORTABLE: [&str; 3] = ["id", "created_at", "updated_at"];

/// Plans one execution of `view` over `c`.
pub fn plan(view: &ViewConfig, c: &Collection, req: &ExecuteRequest) -> Result<ViewPlan, ApiError> {
    let params = &req.params;
    let has_params = !params.is_empty();
    let projection: Option<Vec<(String, Arc<Column>)>> = view.projection.as_ref().map(|p| {
        p.iter()
            .filter_map(|name| c.columns.get(name).map(|col| (name.clone(), col.clone())))
            .collect()
    });
    let select_list = match &projection {
        Some(cols) if !cols.is_empty() => IdentList::join(cols.iter().map(|(_, c)| &c.sql)),
        Some(_) => IdentList::join([&Ident::fixed("id")]),
        None => c.select_list.clone(),
    };
    let required = |name: &str| {
        view.params_schema
            .as_ref()
            .and_then(|s| s.get(name))
            .and_then(|p| p.get("required"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };

    let mut filters = Vec::new();
    for f in &view.filters {
        let Some(col) = c.columns.get(&f.field) else {
            continue;
        };
        let mut value = f.value.clone();
        if f.is_param {
            let name = f.param_name.as_deref().unwrap_or(&f.field);
            match params.get(name) {
                Some(v) if has_params => value = v.clone(),
                _ if required(name) => {
                    return Err(ApiError::BadRequest(format!(
                        "Missing required parameter: {name}"
                    )))
                }
                _ => {}
            }
        }
        filters.push(filter(col, f.operator, &value, &f.field)?);
    }

    let mut sort = Vec::new();
    for s in &view.sorts {
        let field = match (s.is_param && has_params, &s.param_name) {
            (true, Some(p)) => params
                .get(p)
                .and_then(Value::as_str)
                .unwrap_or(&s.field)
                .to_owned(),
            _ => s.field.clone(),
        };
        let desc = if s.desc_is_param && has_params {
            let v = s.desc_param_name.as_ref().and_then(|p| params.get(p));
            match v {
                Some(Value::Bool(b)) => *b,
                Some(Value::Number(n)) => n.as_i64() == Some(1),
                Some(Value::String(s)) => {
                    matches!(s.to_ascii_lowercase().as_str(), "true" | "desc" | "1")
                }
                _ => false,
            }
        } else {
            s.desc
        };
        // Only a real column; in a projection, only a projected one (or an always-sortable one).
        let Some(col) = c.columns.get(&field) else {
            continue;
        };
        super::list::check_sortable(col, &field)?;
        let visible = match &projection {
            None => true,
            Some(cols) => {
                cols.iter().any(|(_, p)| p.sql == col.sql)
                    || ALWAYS_SORTABLE.iter().any(|a| col.sql.name() == *a)
            }
        };
        if visible {
            sort.push((col.clone(), desc));
        }
    }

    let from_schema = |kind: &str| -> Option<i64> {
        let schema = view.params_schema.as_ref()?.as_object()?;
        let (name, _) = schema
            .iter()
            .find(|(_, p)| p.get("type").and_then(Value::as_str) == Some(kind))?;
        params.get(name).and_then(Value::as_i64)
    };
    let limit = from_schema("limit")
        .or(req.limit)
        .filter(|l| *l > 0)
        .unwrap_or(view.default_limit)
        .clamp(1, view.max_limit.clamp(1, LIMIT_CAP));
    let offset = from_schema("offset").unwrap_or(req.offset);
    if offset < 0 {
        return Err(ApiError::BadRequest("offset must be 0 or more".into()));
    }
    Ok(ViewPlan {
        select_list,
        filters,
        sort,
        limit,
        offset,
        rule: Pred::Const(false),
    })
}

/// One view condition as a list filter.
fn filter(
    col: &Arc<Column>,
    op: ViewOperator,
    value: &Value,
    field: &str,
) -> Result<Filter, ApiError> {
    let coerce = |v: &Value| -> Result<String, ApiError> {
        match coerce_json(col.ty, v) {
            Ok(Some(s)) => Ok(s),
            Ok(None) => Err(ApiError::BadRequest(format!(
                "Missing value for view filter on '{field}'"
            ))),
            Err(e) => Err(ApiError::BadRequest(format!(
                "Invalid value for view filter on '{field}': {e}"
            ))),
        }
    };
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if col.ty == FieldType::Json {
        return json_filter(col, op, value, field);
    }
    let (op, values) = match op {
        ViewOperator::Eq => (Op::Eq, vec![coerce(value)?]),
        ViewOperator::Ne => (Op::Neq, vec![coerce(value)?]),
        ViewOperator::Gt => (Op::Gt, vec![coerce(value)?]),
        ViewOperator::Lt => (Op::Lt, vec![coerce(value)?]),
        ViewOperator::Ge => (Op::Gte, vec![coerce(value)?]),
        ViewOperator::Le => (Op::Lte, vec![coerce(value)?]),
        ViewOperator::In | ViewOperator::NotIn => {
            let items = match value {
                Value::Array(items) => items.iter().map(coerce).collect::<Result<_, _>>()?,
                Value::Null => Vec::new(),
                v => vec![coerce(v)?],
            };
            let op = if op == ViewOperator::In {
                Op::In
            } else {
                Op::NotIn
            };
            (op, items)
        }
        ViewOperator::Contains => (Op::Contains, vec![text(value)]),
        ViewOperator::StartsWith => (Op::StartsWith, vec![text(value)]),
        ViewOperator::EndsWith => (Op::EndsWith, vec![text(value)]),
        ViewOperator::IsNull => (Op::IsNull, vec!["true".into()]),
        ViewOperator::IsNotNull => (Op::IsNotNull, vec!["true".into()]),
    };
    Ok(Filter {
        col: col.clone(),
        op,
        values,
    })
}

/// A view condition on a `json` field: JSON equality, containment or a null test; the value is
/// the JSON value itself.
fn json_filter(
    col: &Arc<Column>,
    op: ViewOperator,
    value: &Value,
    field: &str,
) -> Result<Filter, ApiError> {
    // `= null` finds what holds no value (a null value is stored as SQL NULL).
    let op = match op {
        ViewOperator::Eq if value.is_null() => Op::IsNull,
        ViewOperator::Ne if value.is_null() => Op::IsNotNull,
        ViewOperator::Eq => Op::Eq,
        ViewOperator::Ne => Op::Neq,
        ViewOperator::Contains => Op::Contains,
        ViewOperator::IsNull => Op::IsNull,
        ViewOperator::IsNotNull => Op::IsNotNull,
        other => {
            return Err(ApiError::BadRequest(format!(
                "Operator '{}' cannot be used on json field '{field}' (use =, !=, contains, is_null or is_not_null)",
                other.as_str()
            )))
        }
    };
    let values = match op {
        Op::IsNull | Op::IsNotNull => vec!["true".into()],
        _ => match coerce_json(FieldType::Json, value) {
            Ok(Some(s)) => vec![s],
            Ok(None) => {
                return Err(ApiError::BadRequest(format!(
                    "Missing value for view filter on '{field}'"
                )))
            }
            Err(e) => {
                return Err(ApiError::BadRequest(format!(
                    "Invalid value for view filter on '{field}': {e}"
                )))
            }
        },
    };
    Ok(Filter {
        col: col.clone(),
        op,
        values,
    })
}
