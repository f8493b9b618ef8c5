//! The query pipeline of the data API: parse the request's parameters, plan them against the
//! compiled project (every name resolves to a quoted identifier from the config, or is dropped or
//! refused), and render SQL with every value bound. No string from a request ever becomes SQL text.

pub mod aggregate;
pub mod cursor;
pub mod expand;
pub mod filter;
pub mod list;
pub mod view;

use crate::http::error::ApiError;
use model::error_body::validation_item;
use model::sql::{Ident, IdentList};
use serde_json::Value;
use sqlx::{Postgres, QueryBuilder};

/// How a name enters a statement: only as an [`Ident`] (or a list of them) from the compiled
/// config, never as a string.
pub trait PushIdent {
    /// Pushes one quoted identifier.
    fn push_ident(&mut self, ident: &Ident) -> &mut Self;
    /// Pushes a comma-separated list of quoted identifiers.
    fn push_idents(&mut self, list: &IdentList) -> &mut Self;
}

impl PushIdent for QueryBuilder<'_, Postgres> {
    fn push_ident(&mut self, ident: &Ident) -> &mut Self {
        self.push(ident.as_sql())
    }

    fn push_idents(&mut self, list: &IdentList) -> &mut Self {
        self.push(list.as_sql())
    }
}

/// A 422 about one query parameter.
pub fn query_error(key: &str, kind: &str, msg: &str, input: &str) -> ApiError {
    ApiError::Validation(vec![validation_item(
        kind,
        &["query", key],
        msg,
        Value::String(input.into()),
    )])
}

/// An integer query parameter in `min..=max` (422 otherwise).
pub fn int_param(key: &str, raw: &str, min: i64, max: i64) -> Result<i64, ApiError> {
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

/// A boolean query flag: `true/1/yes/on` or `false/0/no/off` (400 otherwise).
pub fn flag(key: &str, raw: &str) -> Result<bool, ApiError> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" | "" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(ApiError::BadRequest(format!(
            "Invalid value for '{key}': expected true or false"
        ))),
    }
}
