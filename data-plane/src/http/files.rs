//! File routes (`spec/files.md`): upload (multipart, streamed into the store), list, stats,
//! metadata, download (ranges, validators, safe headers), signed URLs, delete.
//!
//! Who: member admins always. App users and API keys when the project's file policies allow
//! (`create`, `read`, `delete` on the `_files` pseudo-collection, same model as collections); a
//! project without file policies keeps the contract's admin-only behaviour. Downloads of public
//! files need no one; private ones take an admin, a caller the `read` policy allows, or a signed
//! URL.

use super::context::{Caller, Ctx, ProjectOf};
use super::error::ApiError;
use crate::db;
use crate::files::{self, names, range, rows, signed, Files, SinkError};
use crate::query::filter::Pred;
use crate::query::int_param;
use crate::AppState;
use axum::body::Body;
use axum::extract::{FromRequestParts, Path, Query, Request, State};
use axum::http::{header, request::Parts, HeaderMap, HeaderValue, Response, StatusCode};
use axum::Json;
use model::error_body::{json_invalid, not_an_object, validation_item};
use model::Action;
use multer::{Field, Multipart};
use serde_json::{json, Value};
use std::collections::HashMap;
use uuid::Uuid;

/// A text part longer than this is refused.
const TEXT_PART_MAX: usize = 4096;
/// How much of a too-large file is still read (and dropped) to report its size and let the
/// client read the answer.
const DRAIN_MAX: u64 = 64 * 1024 * 1024;

fn not_found() -> ApiError {
    ApiError::NotFound("File not found")
}

/// The rows of `_files` the caller may act on with `action`; an error when none.
fn access(ctx: &Ctx, action: Action) -> Result<Pred, ApiError> {
    if let Caller::Admin(_) = ctx.caller {
        return Ok(Pred::Const(true));
    }
    let files = &ctx.project.files;
    // Without file policies, files are the admins' (the contract's behaviour).
    if files.config.policies.is_empty() {
        return Err(ApiError::Unauthorized("Not authenticated"));
    }
    let rule = crate::policy::rule(files, action, &ctx.caller);
    if rule.constant() == Some(false) {
        return Err(deny(&ctx.caller, action));
    }
    Ok(rule)
}

/// A refusal: anonymous callers are asked to sign in (the contract's `Not authenticated`),
/// others are refused.
fn deny(caller: &Caller, action: Action) -> ApiError {
    match caller {
        Caller::Anonymous => ApiError::Unauthorized("Not authenticated"),
        _ => ApiError::Forbidden(format!("Permission denied for action: {}", action.as_str())),
    }
}

fn download_url(project: Uuid, id: Uuid) -> String {
    format!("/api/projects/{project}/files/{id}/download")
}

fn parse_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| not_found())
}

/// A 422 about one form part.
fn part_error(part: &str, kind: &str, msg: &str, input: Value) -> ApiError {
    ApiError::Validation(vec![validation_item(kind, &["body", part], msg, input)])
}

fn body_unreadable() -> ApiError {
    ApiError::BadRequest("There was an error parsing the body".into())
}

/// How much of a request body the form parser may take in one go. It reads on while bytes are
/// waiting, so without a pause a fast sender would fill its buffer with as much of the file as
/// the socket holds; with it, memory stays within about this much whatever the file's size.
const PACE: usize = 256 * 1024;

/// The body as a stream that pauses (yields to the runtime, which polls it again at once) after
/// every [`PACE`] bytes.
fn paced(body: Body) -> impl futures_util::Stream<Item = Result<bytes::Bytes, axum::Error>> {
    let mut inner = body.into_data_stream();
    let mut since_pause = 0usize;
    futures_util::stream::poll_fn(move |cx| {
        use futures_util::Stream;
        if since_pause >= PACE {
            since_pause = 0;
            cx.waker().wake_by_ref();
            return std::task::Poll::Pending;
        }
        let next = std::pin::Pin::new(&mut inner).poll_next(cx);
        match &next {
            std::task::Poll::Ready(Some(Ok(b))) => since_pause += b.len(),
            std::task::Poll::Pending => since_pause = 0,
            _ => {}
        }
        next
    })
}

/// The text parts of an upload.
#[derive(Default)]
struct Form {
    bucket: Option<String>,
    is_public: Option<String>,
    collection_id: Option<String>,
    record_id: Option<String>,
    field_name: Option<String>,
}

async fn text_part(name: &str, mut field: Field<'static>) -> Result<String, ApiError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(|_| body_unreadable())? {
        if bytes.len() + chunk.len() > TEXT_PART_MAX {
            return Err(part_error(
                name,
                "string_too_long",
                &format!("String should have at most {TEXT_PART_MAX} characters"),
                Value::Null,
            ));
        }
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes).map_err(|_| {
        part_error(
            name,
            "string_type",
            "Input should be a valid string",
            Value::Null,
        )
    })
}

fn parse_bool(name: &str, raw: &str) -> Result<bool, ApiError> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(part_error(
            name,
            "bool_parsing",
            "Input should be a valid boolean, unable to interpret input",
            json!(raw),
        )),
    }
}

/// The uploaded file as stored.
struct Stored {
    original: String,
    ext: String,
    content_type: String,
    size: u64,
}

/// Streams the `file` part into the store under `key`.
async fn store_file(
    st: &AppState,
    key: &object_store::path::Path,
    mut field: Field<'static>,
) -> Result<Stored, ApiError> {
    let original = names::clean_original(field.file_name().unwrap_or("unnamed"));
    let ext = names::check_extension(&original).map_err(ApiError::BadRequest)?;
    let sent_type = field.headers().get(header::CONTENT_TYPE);
    let content_type = names::content_type(sent_type.and_then(|v| v.to_str().ok()), &ext);
    let files: &Files = &st.files;
    let mut sink = files.sink(key.clone());
    loop {
        let chunk = match field.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(_) => {
                sink.abort().await;
                return Err(body_unreadable());
            }
        };
        match sink.push(chunk).await {
            Ok(()) => {}
            Err(SinkError::TooLarge) => {
                let mut seen = sink.written();
                sink.abort().await;
                // Read on (up to a bound) to report the size and let the client hear us.
                while seen <= DRAIN_MAX {
                    match field.chunk().await {
                        Ok(Some(c)) => seen += c.len() as u64,
                        _ => break,
                    }
                }
                return Err(ApiError::BadRequest(format!(
                    "File size {seen} exceeds maximum allowed size of {} bytes",
                    files.max_size
                )));
            }
            Err(SinkError::Store(e)) => {
                sink.abort().await;
                return Err(ApiError::Internal(
                    anyhow::Error::new(e).context("file store write"),
                ));
            }
        }
    }
    let size = sink
        .finish()
        .await
        .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("file store write")))?;
    Ok(Stored {
        original,
        ext,
        content_type,
        size,
    })
}

/// Reads the form, streaming the file into the store; on any error nothing stays stored.
async fn read_form(
    st: &AppState,
    key: &object_store::path::Path,
    form: &mut Multipart<'static>,
) -> Result<(Option<Stored>, Form), ApiError> {
    let mut stored: Option<Stored> = None;
    let mut text = Form::default();
    let result = async {
        while let Some(field) = form.next_field().await.map_err(|_| body_unreadable())? {
            let name = field.name().unwrap_or_default().to_owned();
            let slot = match name.as_str() {
                "file" if stored.is_none() => {
                    stored = Some(store_file(st, key, field).await?);
                    continue;
                }
                "bucket" => &mut text.bucket,
                "is_public" => &mut text.is_public,
                "collection_id" => &mut text.collection_id,
                "record_id" => &mut text.record_id,
                "field_name" => &mut text.field_name,
                // Unknown parts (and a second file) are read past.
                _ => {
                    let mut field = field;
                    while field
                        .chunk()
                        .await
                        .map_err(|_| body_unreadable())?
                        .is_some()
                    {}
                    continue;
                }
            };
            *slot = Some(text_part(&name, field).await?);
        }
        Ok::<(), ApiError>(())
    }
    .await;
    match result {
        Ok(()) => Ok((stored, text)),
        Err(e) => {
            if stored.is_some() {
                st.files.discard(key).await;
            }
            Err(e)
        }
    }
}

/// `POST …/files/upload`
pub async fn upload(
    State(st): State<AppState>,
    ctx: Ctx,
    req: Request,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let rule = access(&ctx, Action::Create)?;
    let missing_file = || part_error("file", "missing", "Field required", Value::Null);
    let boundary = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| multer::parse_boundary(ct).ok())
        .ok_or_else(missing_file)?;
    let mut form = Multipart::new(paced(req.into_body()), boundary);
    let pid = ctx.project.config.project_id;
    let id = Uuid::new_v4();
    let key = Files::key(pid, id);
    let (stored, text) = read_form(&st, &key, &mut form).await?;
    let Some(stored) = stored else {
        return Err(missing_file());
    };
    let checked = (|| {
        let is_public = match &text.is_public {
            Some(raw) => parse_bool("is_public", raw)?,
            None => false,
        };
        let collection_id = match text.collection_id.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(raw) => Some(Uuid::parse_str(raw).map_err(|_| {
                part_error(
                    "collection_id",
                    "uuid_parsing",
                    "Input should be a valid UUID",
                    json!(raw),
                )
            })?),
        };
        Ok::<_, ApiError>((is_public, collection_id))
    })();
    let (is_public, collection_id) = match checked {
        Ok(v) => v,
        Err(e) => {
            st.files.discard(&key).await;
            return Err(e);
        }
    };
    let filename = names::stored_name(chrono::Utc::now(), &stored.ext);
    let key_text = key.to_string();
    let (by_admin, by_app_user) = match &ctx.caller {
        Caller::Admin(a) => (Some(a.to_string()), None),
        Caller::AppUser(u) => (None, Some(u.id.clone())),
        _ => (None, None),
    };
    let new = rows::NewFile {
        id,
        object_key: &key_text,
        filename: &filename,
        original_filename: &stored.original,
        content_type: &stored.content_type,
        size_bytes: stored.size as i64,
        bucket: text.bucket.as_deref(),
        collection_id,
        record_id: text.record_id.as_deref(),
        field_name: text.field_name.as_deref(),
        is_public,
        uploaded_by_user_id: by_admin,
        uploaded_by_app_user_id: by_app_user,
    };
    let inserted = async {
        let mut tx = db::begin(&st.db, &ctx.project).await?;
        let row = rows::insert(&mut tx, &new, &rule).await?;
        tx.commit().await?;
        Ok::<_, ApiError>(row)
    }
    .await;
    let row = match inserted {
        Ok(Some(row)) => row,
        Ok(None) => {
            st.files.discard(&key).await;
            return Err(deny(&ctx.caller, Action::Create));
        }
        Err(e) => {
            st.files.discard(&key).await;
            return Err(e);
        }
    };
    tracing::info!(project.id = %pid, file.id = %id, file.size = stored.size, "stored file");
    let mut out = row.out;
    out["download_url"] = json!(download_url(pid, id));
    Ok((StatusCode::CREATED, Json(out)))
}

/// `GET …/files`: newest first, exact-match filters, paged.
pub async fn list(
    State(st): State<AppState>,
    ctx: Ctx,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Vec<Value>>, ApiError> {
    let rule = access(&ctx, Action::Read)?;
    let listing = rows::Listing {
        bucket: q.get("bucket").cloned(),
        collection_id: q.get("collection_id").cloned(),
        record_id: q.get("record_id").cloned(),
        limit: q
            .get("limit")
            .map_or(Ok(100), |v| int_param("limit", v, 1, 1000))?,
        offset: q
            .get("offset")
            .map_or(Ok(0), |v| int_param("offset", v, 0, i64::MAX))?,
    };
    let mut tx = db::begin(&st.db, &ctx.project).await?;
    let list = rows::list(&mut tx, &listing, &rule).await?;
    tx.commit().await?;
    Ok(Json(list))
}

/// `GET …/files/stats`
pub async fn stats(State(st): State<AppState>, ctx: Ctx) -> Result<Json<Value>, ApiError> {
    let rule = access(&ctx, Action::Read)?;
    let mut tx = db::begin(&st.db, &ctx.project).await?;
    let (count, bytes) = rows::stats(&mut tx, &rule).await?;
    tx.commit().await?;
    let mb = (bytes as f64 / 1_048_576.0 * 100.0).round() / 100.0;
    Ok(Json(
        json!({ "file_count": count, "total_bytes": bytes, "total_mb": mb }),
    ))
}

/// One file the caller may act on with `action`.
async fn visible(
    st: &AppState,
    ctx: &Ctx,
    id: &str,
    action: Action,
) -> Result<rows::FileRow, ApiError> {
    let rule = access(ctx, action)?;
    let id = parse_id(id)?;
    let mut tx = db::begin(&st.db, &ctx.project).await?;
    let found = rows::get(&mut tx, id, &rule).await?;
    tx.commit().await?;
    match found {
        Some((row, true)) => Ok(row),
        Some((_, false)) => Err(deny(&ctx.caller, action)),
        None => Err(not_found()),
    }
}

/// `GET …/files/{file_id}`: `FileOut` plus `download_url`.
pub async fn get(
    State(st): State<AppState>,
    ctx: Ctx,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let row = visible(&st, &ctx, &id, Action::Read).await?;
    let mut out = row.out;
    out["download_url"] = json!(download_url(ctx.project.config.project_id, row.id));
    Ok(Json(out))
}

/// `DELETE …/files/{file_id}`: the row, then the object.
pub async fn delete(
    State(st): State<AppState>,
    ctx: Ctx,
    Path((_, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let row = visible(&st, &ctx, &id, Action::Delete).await?;
    let mut tx = db::begin(&st.db, &ctx.project).await?;
    let key = rows::delete(&mut tx, row.id, &Pred::Const(true)).await?;
    tx.commit().await?;
    let Some(key) = key else {
        return Err(not_found());
    };
    if let Err(e) = st.files.delete(&key.as_str().into()).await {
        // The row is gone, so nobody can reach the object; it is only space.
        tracing::warn!(file.id = %row.id, object.key = %key, "file row deleted but its object stays: {e}");
    }
    tracing::info!(project.id = %ctx.project.config.project_id, file.id = %row.id, "deleted file");
    Ok(StatusCode::NO_CONTENT)
}

/// `POST …/files/{file_id}/signed-url` with `{"expires_in": seconds}` (1 s – 7 days, default one
/// hour): a download URL that works without credentials until it expires.
pub async fn signed_url(
    State(st): State<AppState>,
    ctx: Ctx,
    Path((_, id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let row = visible(&st, &ctx, &id, Action::Read).await?;
    // No body at all is an empty object.
    let body = match body.is_empty() {
        true => serde_json::Map::new(),
        false => match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(map)) => map,
            Ok(other) => return Err(ApiError::Validation(vec![not_an_object(other)])),
            Err(e) => return Err(ApiError::Validation(vec![json_invalid(&e.to_string())])),
        },
    };
    let expires_in = match body.get("expires_in") {
        None | Some(Value::Null) => 3600,
        Some(v) => match v.as_i64() {
            Some(n) if (signed::LIFE.0..=signed::LIFE.1).contains(&n) => n,
            Some(n) => {
                let (kind, msg) = if n < signed::LIFE.0 {
                    (
                        "greater_than_equal",
                        format!(
                            "Input should be greater than or equal to {}",
                            signed::LIFE.0
                        ),
                    )
                } else {
                    (
                        "less_than_equal",
                        format!("Input should be less than or equal to {}", signed::LIFE.1),
                    )
                };
                return Err(ApiError::Validation(vec![validation_item(
                    kind,
                    &["body", "expires_in"],
                    &msg,
                    v.clone(),
                )]));
            }
            None => {
                return Err(ApiError::Validation(vec![validation_item(
                    "int_type",
                    &["body", "expires_in"],
                    "Input should be a valid integer",
                    v.clone(),
                )]))
            }
        },
    };
    let config = &ctx.project.config;
    let expires = chrono::Utc::now().timestamp() + expires_in;
    let signature = signed::sign(config, row.id, expires).ok_or_else(|| {
        ApiError::Internal(anyhow::anyhow!(
            "project {} has no signing key",
            config.project_id
        ))
    })?;
    let url = format!(
        "{}?expires={expires}&signature={signature}",
        download_url(config.project_id, row.id)
    );
    let expires_at = chrono::DateTime::from_timestamp(expires, 0).unwrap_or_default();
    Ok(Json(
        json!({ "url": url, "expires_at": expires_at, "expires_in": expires_in }),
    ))
}

/// `GET …/files/{file_id}/download`
pub async fn download(
    State(st): State<AppState>,
    ProjectOf(project): ProjectOf,
    Path((_, id)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    mut parts: Parts,
) -> Result<Response<Body>, ApiError> {
    let id = parse_id(&id)?;
    let signed = match (q.get("expires"), q.get("signature")) {
        (Some(expires), Some(signature)) => {
            let now = chrono::Utc::now().timestamp();
            match signed::verify(&project.config, id, expires, signature, now) {
                Ok(()) => true,
                Err(signed::Refusal::Expired) => {
                    return Err(ApiError::Unauthorized("Signed URL has expired"))
                }
                Err(signed::Refusal::Invalid) => {
                    return Err(ApiError::Unauthorized("Invalid signed URL"))
                }
            }
        }
        _ => false,
    };
    let mut tx = db::begin(&st.db, &project).await?;
    let found = rows::get(&mut tx, id, &Pred::Const(true)).await?;
    tx.commit().await?;
    let (row, _) = found.ok_or_else(not_found)?;
    if !(row.is_public || signed) {
        // Private: who is asking?
        let ctx = Ctx::from_request_parts(&mut parts, &st).await?;
        visible(&st, &ctx, &id.to_string(), Action::Read).await?;
    }
    serve(&st.files, &row, &parts.headers).await
}

fn http_date(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// The file's bytes (or the asked range) with its headers.
async fn serve(
    files: &Files,
    row: &rows::FileRow,
    headers: &HeaderMap,
) -> Result<Response<Body>, ApiError> {
    let etag = format!("\"{}\"", row.id.simple());
    let size = row.size_bytes.max(0) as u64;
    let header_text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let mut res = Response::builder()
        .header(header::ETAG, &etag)
        .header(header::LAST_MODIFIED, http_date(row.created_at))
        .header(header::ACCEPT_RANGES, "bytes")
        .header(
            header::CACHE_CONTROL,
            if row.is_public {
                "public, no-cache"
            } else {
                "private, no-cache"
            },
        )
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; sandbox",
        );
    if let Some(inm) = header_text(header::IF_NONE_MATCH) {
        if inm.split(',').any(|t| {
            let t = t.trim();
            t == "*" || t.trim_start_matches("W/") == etag
        }) {
            return Ok(res
                .status(StatusCode::NOT_MODIFIED)
                .body(Body::empty())
                .expect("valid response"));
        }
    }
    // `If-Range` with another validator asks for the whole (changed) file.
    let range_header = match header_text(header::IF_RANGE) {
        Some(v) if v.trim() != etag => None,
        _ => header_text(header::RANGE),
    };
    let want = range::parse(range_header, size);
    if want == range::Want::Unsatisfiable {
        return Ok(res
            .status(StatusCode::RANGE_NOT_SATISFIABLE)
            .header(header::CONTENT_RANGE, format!("bytes */{size}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                r#"{"detail":"Requested range not satisfiable"}"#,
            ))
            .expect("valid response"));
    }
    let key = row.object_key.as_str().into();
    let (status, read_range, length) = match want {
        range::Want::Part { start, end } => {
            res = res.header(header::CONTENT_RANGE, format!("bytes {start}-{end}/{size}"));
            (
                StatusCode::PARTIAL_CONTENT,
                Some((start, end)),
                end - start + 1,
            )
        }
        _ => (StatusCode::OK, None, size),
    };
    // An empty file has no range to read.
    let body = if length == 0 {
        Body::empty()
    } else {
        let stream = files
            .read(&key, read_range)
            .await
            .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("file store read")))?
            .ok_or(ApiError::NotFound("File content not found"))?;
        files::body(stream)
    };
    Ok(res
        .status(status)
        .header(header::CONTENT_TYPE, &row.content_type)
        .header(header::CONTENT_LENGTH, length)
        .header(
            header::CONTENT_DISPOSITION,
            names::disposition(&row.original_filename),
        )
        .body(body)
        .expect("valid response"))
}
