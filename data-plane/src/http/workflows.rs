//! The data side of workflows (`spec/workflows.md`): a workflow's runs, one run with its steps,
//! and a manual start. Member admins only. The definitions are the control plane's; workers
//! know them from the project config and run them ([`crate::workflow`]).

use super::auth::require_admin;
use super::context::Ctx;
use super::error::ApiError;
use crate::db;
use crate::workflow::{self, store};
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use model::error_body::{json_invalid, not_an_object, validation_item};
use model::WorkflowConfig;
use serde_json::{json, Value};
use uuid::Uuid;

/// Run statuses a listing may filter on.
const STATUSES: [&str; 5] = ["pending", "running", "waiting", "completed", "failed"];

fn find<'a>(ctx: &'a Ctx, id: &str) -> Result<&'a WorkflowConfig, ApiError> {
    Uuid::parse_str(id)
        .ok()
        .and_then(|id| ctx.project.config.workflows.iter().find(|w| w.id == id))
        .ok_or(ApiError::NotFound("Workflow not found"))
}

fn query_error(key: &str, kind: &str, msg: &str, input: &str) -> ApiError {
    ApiError::Validation(vec![validation_item(
        kind,
        &["query", key],
        msg,
        Value::String(input.to_owned()),
    )])
}

/// `GET …/workflows/{workflow_id}/runs?limit=&offset=&status=`: `{"runs", "total", "limit",
/// "offset"}`, newest first (`limit` 1–100, default 20).
pub async fn runs(
    State(st): State<AppState>,
    ctx: Ctx,
    Path((_, id)): Path<(String, String)>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, ApiError> {
    require_admin(&ctx)?;
    let wf = find(&ctx, &id)?;
    let (mut limit, mut offset, mut status) = (20i64, 0i64, None);
    for (k, v) in &params {
        match k.as_str() {
            "limit" => match v.parse::<i64>() {
                Ok(n) if (1..=100).contains(&n) => limit = n,
                _ => {
                    let msg = "Input should be a whole number from 1 to 100";
                    return Err(query_error("limit", "int_parsing", msg, v));
                }
            },
            "offset" => match v.parse::<i64>() {
                Ok(n) if n >= 0 => offset = n,
                _ => {
                    let msg = "Input should be a whole number, 0 or more";
                    return Err(query_error("offset", "int_parsing", msg, v));
                }
            },
            "status" if STATUSES.contains(&v.as_str()) => status = Some(v.clone()),
            "status" => {
                let msg = format!("Input should be one of {}", STATUSES.join(", "));
                return Err(query_error("status", "enum", &msg, v));
            }
            _ => {}
        }
    }
    let mut tx = db::begin(&st.db, &ctx.project).await?;
    let (runs, total) = store::list(&mut tx, wf.id, status.as_deref(), limit, offset).await?;
    tx.commit().await?;
    Ok(Json(
        json!({ "runs": runs, "total": total, "limit": limit, "offset": offset }),
    ))
}

/// `GET …/workflows/{workflow_id}/runs/{run_id}`: the run with each step's input, output,
/// error, attempts and timings.
pub async fn run(
    State(st): State<AppState>,
    ctx: Ctx,
    Path((_, id, run)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    require_admin(&ctx)?;
    let wf = find(&ctx, &id)?;
    let run = Uuid::parse_str(&run).map_err(|_| ApiError::NotFound("Run not found"))?;
    let mut tx = db::begin(&st.db, &ctx.project).await?;
    let out = store::one(&mut tx, wf.id, run).await?;
    tx.commit().await?;
    out.map(Json).ok_or(ApiError::NotFound("Run not found"))
}

/// `POST …/workflows/{workflow_id}/run`: starts a run now and answers `202` with it. The body
/// (optional) is the input object, or `{"input": {…}}`; templates read it as `trigger.input`
/// (and its `record`, if any, as `trigger.record`).
pub async fn start(
    State(st): State<AppState>,
    ctx: Ctx,
    Path((_, id)): Path<(String, String)>,
    req: axum::extract::Request,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let admin = require_admin(&ctx)?;
    let wf = find(&ctx, &id)?;
    let limit = req
        .extensions()
        .get::<super::context::BodyLimit>()
        .map_or(1 << 20, |l| l.0);
    let body = axum::body::to_bytes(req.into_body(), limit)
        .await
        .map_err(|_| ApiError::TooLarge)?;
    let input = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(mut o)) => match o.remove("input") {
                Some(Value::Object(inner)) if o.is_empty() => Value::Object(inner),
                Some(other) => {
                    o.insert("input".into(), other);
                    Value::Object(o)
                }
                None => Value::Object(o),
            },
            Ok(other) => return Err(ApiError::Validation(vec![not_an_object(other)])),
            Err(e) => return Err(ApiError::Validation(vec![json_invalid(&e.to_string())])),
        }
    };
    let trigger = json!({
        "event": "manual", "input": input, "record": input.get("record"),
        "actor": {"user_id": admin, "api_key_id": null},
        "timestamp": chrono::Utc::now(),
    });
    let run = workflow::start_manual(&st, &ctx.project, wf, &trigger).await?;
    let mut tx = db::begin(&st.db, &ctx.project).await?;
    let out = store::one(&mut tx, wf.id, run).await?;
    tx.commit().await?;
    Ok((StatusCode::ACCEPTED, Json(out.unwrap_or(Value::Null))))
}
