//! `POST …/data/_batch`: several creates, updates and deletes across the project's collections
//! in one transaction — all or nothing. Each step runs exactly as its single-record endpoint
//! (record lookup, permission, values), so no step can skip a check another path makes.
//!
//! Body: `{"operations": [{"op": "create", "collection": "posts", "data": {…}},
//! {"op": "update", "collection": "posts", "id": 7, "data": {…}},
//! {"op": "delete", "collection": "posts", "id": 7}]}` (at most [`MAX_OPERATIONS`]).
//! Answer: `{"results": [{"status": 201, "record": {…}}, {"status": 200, "record": {…}},
//! {"status": 204}]}`; on failure the failing step's status and detail plus `"operation": <index>`,
//! and nothing is written.

use super::context::{ClientOrigin, Ctx, JsonObject};
use super::error::ApiError;
use super::records::{collection, json, record_id};
use crate::db;
use crate::write::Writer;
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value};

/// Most steps in one batch.
pub const MAX_OPERATIONS: usize = 100;

/// `POST …/data/_batch`
pub async fn batch(
    State(st): State<AppState>,
    ctx: Ctx,
    ClientOrigin(origin): ClientOrigin,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let writer = Writer::new(&ctx, origin);
    let ops = match body.get("operations") {
        Some(Value::Array(ops)) if !ops.is_empty() => ops.clone(),
        _ => {
            return Err(ApiError::BadRequest(
                "Body needs a non-empty 'operations' list".into(),
            ))
        }
    };
    if ops.len() > MAX_OPERATIONS {
        return Err(ApiError::BadRequest(format!(
            "Too many operations (at most {MAX_OPERATIONS})"
        )));
    }
    let mut tx = db::begin(&st.db, &ctx.project).await?;
    let mut out = String::from("{\"results\":[");
    for (i, op) in ops.into_iter().enumerate() {
        let result = step(&mut tx, &writer, op)
            .await
            .map_err(|e| ApiError::InBatch(i, Box::new(e)))?;
        if i > 0 {
            out.push(',');
        }
        out.push_str(&result);
    }
    tx.commit().await?;
    writer.committed(&st);
    out.push_str("]}");
    Ok(json(StatusCode::OK, out))
}

/// Runs one step; returns its result object as JSON text (records come from Postgres as text).
async fn step(tx: &mut db::Tx, writer: &Writer<'_>, op: Value) -> Result<String, ApiError> {
    let ctx = writer.ctx;
    let Value::Object(mut op) = op else {
        return Err(ApiError::BadRequest(
            "An operation must be an object".into(),
        ));
    };
    let kind = op
        .get("op")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let name = op
        .get("collection")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::BadRequest("An operation needs 'collection'".into()))?
        .to_owned();
    let c = collection(ctx, &name)?;
    let data = |op: &mut Map<String, Value>| match op.remove("data") {
        None => Ok(Map::new()),
        Some(Value::Object(d)) => Ok(d),
        Some(_) => Err(ApiError::BadRequest("'data' must be an object".into())),
    };
    let id = |op: &Map<String, Value>| {
        let raw = match op.get("id") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => {
                return Err(ApiError::BadRequest(
                    "An update or delete needs 'id'".into(),
                ))
            }
        };
        record_id(&c, &raw)
    };
    match kind.as_str() {
        "create" => {
            let record = writer.create_in(tx, &c, data(&mut op)?).await?;
            Ok(format!("{{\"status\":201,\"record\":{record}}}"))
        }
        "update" => {
            let id = id(&op)?;
            let record = writer.update_in(tx, &c, &id, data(&mut op)?).await?;
            Ok(format!("{{\"status\":200,\"record\":{record}}}"))
        }
        "delete" => {
            writer.delete_in(tx, &c, &id(&op)?).await?;
            Ok("{\"status\":204}".to_owned())
        }
        other => Err(ApiError::BadRequest(format!(
            "Unknown operation '{other}': use create, update or delete"
        ))),
    }
}
