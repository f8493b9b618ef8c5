//! Query parameters: read leniently into a map, then checked one by one with the contract's 422
//! items (`loc: ["query", name]`).

use super::error::ApiError;
use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use model::error_body::validation_item;
use serde_json::Value;
use std::collections::HashMap;

/// The query string as a map (the last value of a repeated key wins).
pub struct Params(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(map) = Query::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::BadRequest("Malformed query string".into()))?;
        Ok(Self(map))
    }
}

impl Params {
    /// A boolean (`true/false/1/0/yes/no/on/off`), `default` when absent.
    pub fn bool(&self, key: &str, default: bool) -> Result<bool, ApiError> {
        let Some(raw) = self.0.get(key) else {
            return Ok(default);
        };
        match raw.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err(ApiError::Validation(vec![validation_item(
                "bool_parsing",
                &["query", key],
                "Input should be a valid boolean, unable to interpret input",
                Value::String(raw.clone()),
            )])),
        }
    }

    /// An integer in `min..=max`, `default` when absent.
    pub fn int(&self, key: &str, default: i64, min: i64, max: i64) -> Result<i64, ApiError> {
        let Some(raw) = self.0.get(key) else {
            return Ok(default);
        };
        let input = Value::String(raw.clone());
        let n: i64 = raw.trim().parse().map_err(|_| {
            ApiError::Validation(vec![validation_item(
                "int_parsing",
                &["query", key],
                "Input should be a valid integer, unable to parse string as an integer",
                input.clone(),
            )])
        })?;
        if n < min {
            return Err(ApiError::Validation(vec![validation_item(
                "greater_than_equal",
                &["query", key],
                &format!("Input should be greater than or equal to {min}"),
                input,
            )]));
        }
        if n > max {
            return Err(ApiError::Validation(vec![validation_item(
                "less_than_equal",
                &["query", key],
                &format!("Input should be less than or equal to {max}"),
                input,
            )]));
        }
        Ok(n)
    }

    /// A non-empty string, if present.
    pub fn string(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }
}
