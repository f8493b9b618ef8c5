//! Request bodies: size limit, JSON parsing and field validation that produce the contract's
//! 422 list (`{"detail": [{"type", "loc", "msg", "input"}]}`). Unknown keys are ignored.

use super::error::ApiError;
use axum::extract::{FromRequest, Request};
use model::error_body::{json_invalid, not_an_object};
pub use model::fields::{normalize_email, Fields};
use serde_json::{Map, Value};

/// Largest body the JSON extractor reads; the app sets it from the config.
#[derive(Clone, Copy)]
pub struct BodyLimit(pub usize);

/// A JSON object body, read within the limit. Validate it with [`Fields`].
pub struct JsonObject(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let limit = req.extensions().get::<BodyLimit>().map_or(1 << 20, |l| l.0);
        let bytes = axum::body::to_bytes(req.into_body(), limit)
            .await
            .map_err(|_| ApiError::TooLarge)?;
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(Self(map)),
            Ok(other) => Err(ApiError::Validation(vec![not_an_object(other)])),
            Err(e) => Err(ApiError::Validation(vec![json_invalid(&e.to_string())])),
        }
    }
}

impl From<JsonObject> for Map<String, Value> {
    fn from(body: JsonObject) -> Self {
        body.0
    }
}
