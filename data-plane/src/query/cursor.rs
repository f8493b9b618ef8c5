//! Keyset (cursor) pagination beside `limit`/`offset`: `?cursor=` starts, each page answers
//! `next_cursor`, and the next page continues strictly after the last row of the previous one in
//! the page's sort order (`id` breaks ties), so rows inserted meanwhile never shift or repeat a
//! page. The cursor is opaque to clients: base64url of `{"s": <sort>, "v": [<keys>…, <id>]}`.

use super::filter::Where;
use super::PushIdent;
use crate::http::error::ApiError;
use crate::registry::Column;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use model::value::coerce_json;
use serde_json::{json, Value};
use sqlx::{Postgres, QueryBuilder};
use std::sync::Arc;

/// A decoded cursor: the sort keys' values of the last row seen, then its id.
#[derive(Debug, Clone)]
pub struct After {
    /// Coerced values (text, bound with a cast), one per sort key plus the id; `None` = NULL.
    pub values: Vec<Option<String>>,
}

fn invalid() -> ApiError {
    ApiError::BadRequest("Invalid cursor".into())
}

/// The sort spec a cursor is bound to (the raw `sort` parameter, normalized).
pub fn sort_spec(sort: &[(Arc<Column>, bool)]) -> String {
    sort.iter()
        .map(|(c, desc)| format!("{}{}", if *desc { "-" } else { "" }, c.sql))
        .collect::<Vec<_>>()
        .join(",")
}

/// Checks that keyset pagination can follow this sort: every key must never be NULL.
pub fn check_sort(sort: &[(Arc<Column>, bool)]) -> Result<(), ApiError> {
    if sort.iter().any(|(c, _)| c.nullable) {
        return Err(ApiError::BadRequest(
            "Cursor pagination needs sort keys that are never null (system columns or required fields)"
                .into(),
        ));
    }
    Ok(())
}

/// Decodes `raw` (empty = the first page) for this sort.
pub fn decode(
    raw: &str,
    sort: &[(Arc<Column>, bool)],
    id: &Column,
) -> Result<Option<After>, ApiError> {
    if raw.trim().is_empty() {
        return Ok(None);
    }
    let bytes = URL_SAFE_NO_PAD.decode(raw.trim()).map_err(|_| invalid())?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    if v["s"].as_str() != Some(sort_spec(sort).as_str()) {
        return Err(ApiError::BadRequest(
            "The cursor belongs to another sort order".into(),
        ));
    }
    let items = v["v"].as_array().ok_or_else(invalid)?;
    let columns: Vec<&Column> = sort.iter().map(|(c, _)| c.as_ref()).chain([id]).collect();
    if items.len() != columns.len() {
        return Err(invalid());
    }
    let values = columns
        .iter()
        .zip(items)
        .map(|(c, item)| match coerce_json(c.ty, item) {
            Ok(Some(v)) => Ok(Some(v)),
            _ => Err(invalid()),
        })
        .collect::<Result<_, _>>()?;
    Ok(Some(After { values }))
}

/// The cursor after `last` (a record of the page, as JSON).
pub fn encode(last: &Value, sort: &[(Arc<Column>, bool)]) -> String {
    let key = |c: &Column| last[c.sql.name()].clone();
    let mut values: Vec<Value> = sort.iter().map(|(c, _)| key(c)).collect();
    values.push(last["id"].clone());
    let doc = json!({ "s": sort_spec(sort), "v": values });
    URL_SAFE_NO_PAD.encode(doc.to_string())
}

/// Pushes the keyset condition: `(k1, …, id)` strictly after the cursor in the sort's
/// directions, as an OR of prefixes (directions may differ per key).
pub fn push_after(
    qb: &mut QueryBuilder<'_, Postgres>,
    w: &mut Where,
    after: &After,
    sort: &[(Arc<Column>, bool)],
    id: &Column,
    id_desc: bool,
) {
    let keys: Vec<(&Column, bool)> = sort
        .iter()
        .map(|(c, d)| (c.as_ref(), *d))
        .chain([(id, id_desc)])
        .collect();
    w.next(qb);
    qb.push("(");
    for i in 0..keys.len() {
        qb.push(if i == 0 { "(" } else { " OR (" });
        for (j, (col, desc)) in keys.iter().enumerate().take(i + 1) {
            if j > 0 {
                qb.push(" AND ");
            }
            let op = if j < i {
                "="
            } else if *desc {
                "<"
            } else {
                ">"
            };
            qb.push_ident(&col.sql)
                .push(format_args!(" {op} CAST("))
                .push_bind(after.values[j].clone())
                .push(format_args!(" AS {})", col.sql_type));
        }
        qb.push(")");
    }
    qb.push(")");
}
