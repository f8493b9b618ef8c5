//! gRPC ↔ REST, by the RPC's [`Binding`]: a request message becomes the admin REST request
//! (path fields into the path, the body field or every other field into the JSON body, the rest
//! into the query), and the REST answer becomes the response message, or the gRPC status its error
//! maps to. JSON follows the proto3 mapping with the proto field names, which are the REST keys.
//!
//! Lists page here: the REST lists answer whole, and `page_size`/`page_token` cut that answer
//! into pages whose `next_page_token` is an opaque offset.

use super::binding::{Binding, Body, Segment};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bytes::Bytes;
use http::StatusCode;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use prost_reflect::{
    DeserializeOptions, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, ReflectMessage,
    SerializeOptions, Value as PValue,
};
use serde_json::{Map, Value};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// Request fields that steer paging or updates and never reach REST.
const PAGE_SIZE: &str = "page_size";
const PAGE_TOKEN: &str = "page_token";
const NEXT_PAGE_TOKEN: &str = "next_page_token";
const UPDATE_MASK: &str = "update_mask";

/// A page when `page_size` is 0, and the most one page holds; a REST route that pages itself
/// takes at most [`MAX_REST_PAGE`] (the smallest of their `limit` bounds: workflow runs).
const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 1000;
const MAX_REST_PAGE: usize = 100;

/// Characters left as they are in a path segment (RFC 3986 unreserved).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The REST request an RPC call becomes.
#[derive(Debug)]
pub struct RestCall {
    /// The method.
    pub verb: http::Method,
    /// Path and query.
    pub target: String,
    /// The JSON body, if the route takes one.
    pub body: Option<Value>,
    /// The page asked for, when the call pages.
    pub page: Option<Page>,
}

/// A page of a list call.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    /// Items before it.
    pub offset: usize,
    /// Items in it at most.
    pub size: usize,
    /// The REST route pages itself (`limit`/`offset`), so the answer is the page already.
    pub by_rest: bool,
}

fn json_of(msg: &DynamicMessage, skip_defaults: bool) -> Result<Value, Status> {
    let opts = SerializeOptions::new()
        .use_proto_field_name(true)
        .stringify_64_bit_integers(false)
        .skip_default_fields(skip_defaults);
    let mut json = msg
        .serialize_with_options(serde_json::value::Serializer, &opts)
        .map_err(|e| Status::invalid_argument(format!("the request cannot be read: {e}")))?;
    whole_numbers(&mut json);
    Ok(json)
}

/// `google.protobuf.Value` holds every number as a double, so `{"min": 3}` arrives as 3.0; REST
/// wants the integer it was (a rule's `min`, a page `limit`). Whole doubles become integers.
fn whole_numbers(v: &mut Value) {
    match v {
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or_default();
            if f.fract() == 0.0 && f.abs() < 9.0e15 {
                *v = Value::from(f as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(whole_numbers),
        Value::Object(map) => map.values_mut().for_each(whole_numbers),
        _ => {}
    }
}

fn invalid(msg: impl Into<String>) -> Status {
    Status::invalid_argument(msg)
}

/// The REST request of a call.
pub fn request(b: &Binding, msg: &DynamicMessage) -> Result<RestCall, Status> {
    let input = msg.descriptor();
    let mut bound: Vec<&str> = vec![PAGE_SIZE, PAGE_TOKEN, UPDATE_MASK];
    let mut path = String::new();
    for s in &b.segments {
        match s {
            Segment::Literal(l) => path.push_str(l),
            Segment::Field(f) => {
                let v = msg
                    .get_field_by_name(f)
                    .and_then(|v| v.as_str().map(str::to_owned));
                let v = v
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| invalid(format!("{f} is required")))?;
                // `.` and `..` would be dot segments: spelled out, they stay one name.
                match v.as_str() {
                    "." => path.push_str("%2E"),
                    ".." => path.push_str("%2E%2E"),
                    v => path.extend(utf8_percent_encode(v, SEGMENT)),
                }
                bound.push(f);
            }
        }
    }
    let body = match &b.body {
        Body::None => None,
        Body::All => {
            let mut json = json_of(msg, true)?;
            if let Value::Object(o) = &mut json {
                for f in &bound {
                    o.remove(*f);
                }
            }
            Some(json)
        }
        Body::Field(f) => Some(body_field(msg, f)?),
    };
    if let Body::Field(f) = &b.body {
        bound.push(f);
    }
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    let mut any = false;
    if b.body != Body::All {
        for field in input.fields() {
            if bound.contains(&field.name()) || !msg.has_field(&field) {
                continue;
            }
            for v in query_values(&field, &msg.get_field(&field))? {
                query.append_pair(field.name(), &v);
                any = true;
            }
        }
    }
    let page = page(msg)?;
    if let Some(p) = page.filter(|p| p.by_rest) {
        query.append_pair("limit", &p.size.to_string());
        query.append_pair("offset", &p.offset.to_string());
        any = true;
    }
    if any {
        path.push('?');
        path.push_str(&query.finish());
    }
    Ok(RestCall {
        verb: b.verb.clone(),
        target: path,
        body,
        page,
    })
}

/// The body of a `body: "<field>"` rule; with an `update_mask`, only the masked fields (a masked
/// field left unset is sent as `null`, which clears it).
fn body_field(msg: &DynamicMessage, f: &str) -> Result<Value, Status> {
    let field = msg
        .descriptor()
        .get_field_by_name(f)
        .expect("checked at start");
    let value = msg.get_field(&field);
    let mask: Vec<String> = msg
        .get_field_by_name(UPDATE_MASK)
        .and_then(|m| {
            m.as_message()
                .and_then(|m| m.get_field_by_name("paths"))
                .and_then(|p| {
                    p.as_list().map(|l| {
                        l.iter()
                            .filter_map(|p| p.as_str().map(str::to_owned))
                            .collect()
                    })
                })
        })
        .unwrap_or_default();
    let Some(inner) = value.as_message() else {
        // A scalar or list body: its JSON form.
        let mut one = DynamicMessage::new(msg.descriptor());
        one.set_field(&field, value.into_owned());
        let json = json_of(&one, false)?;
        return Ok(json.get(f).cloned().unwrap_or(Value::Null));
    };
    if mask.is_empty() {
        return json_of(inner, true);
    }
    // A masked field takes the value it has, its default included (`false`, `""`: AIP's "set it
    // to that"), or `null` when it has none; inside it, unset fields stay out, so REST applies
    // its own defaults there.
    let set = json_of(inner, true)?;
    let full = json_of(inner, false)?;
    let mut out = Map::new();
    for path in &mask {
        let top = path.split('.').next().unwrap_or_default();
        let Some(field) = inner.descriptor().get_field_by_name(top) else {
            return Err(invalid(format!(
                "update_mask names {path}, which {} does not have",
                inner.descriptor().name()
            )));
        };
        let value = match set.get(top) {
            Some(v) => v.clone(),
            None if matches!(field.kind(), Kind::Message(_)) && !field.is_list() => Value::Null,
            None => full.get(top).cloned().unwrap_or(Value::Null),
        };
        out.insert(top.to_owned(), value);
    }
    Ok(Value::Object(out))
}

fn query_values(field: &FieldDescriptor, v: &PValue) -> Result<Vec<String>, Status> {
    let one = |v: &PValue| -> Result<String, Status> {
        Ok(match v {
            PValue::String(s) => s.clone(),
            PValue::Bool(b) => b.to_string(),
            PValue::I32(n) => n.to_string(),
            PValue::I64(n) => n.to_string(),
            PValue::U32(n) => n.to_string(),
            PValue::U64(n) => n.to_string(),
            PValue::F32(n) => n.to_string(),
            PValue::F64(n) => n.to_string(),
            PValue::EnumNumber(n) => n.to_string(),
            _ => {
                return Err(invalid(format!(
                    "{} cannot travel as a query parameter",
                    field.name()
                )))
            }
        })
    };
    match v {
        PValue::List(items) => items.iter().map(one).collect(),
        v => Ok(vec![one(v)?]),
    }
}

/// The page a list call asks for, when its request can page. A request that also has the REST
/// route's own `limit` and `offset` pages through them, unless it sets them itself (then it gets
/// exactly that slice and no `next_page_token`).
fn page(msg: &DynamicMessage) -> Result<Option<Page>, Status> {
    let d = msg.descriptor();
    if d.get_field_by_name(PAGE_SIZE).is_none() {
        return Ok(None);
    }
    let native = ["limit", "offset"].map(|f| d.get_field_by_name(f));
    let by_rest = native.iter().all(Option::is_some);
    if by_rest && native.iter().flatten().any(|f| msg.has_field(f)) {
        return Ok(None);
    }
    let size = msg
        .get_field_by_name(PAGE_SIZE)
        .and_then(|v| v.as_i32().or(v.as_i64().map(|n| n as i32)))
        .unwrap_or(0);
    if size < 0 {
        return Err(invalid("page_size must not be negative"));
    }
    let size = if size == 0 {
        DEFAULT_PAGE
    } else {
        (size as usize).min(MAX_PAGE)
    };
    let token = msg
        .get_field_by_name(PAGE_TOKEN)
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let offset = if token.is_empty() {
        0
    } else {
        URL_SAFE_NO_PAD
            .decode(&token)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.strip_prefix("o:").and_then(|n| n.parse().ok()))
            .ok_or_else(|| invalid("page_token is not one this API gave"))?
    };
    // A larger page than the route gives is coerced, not refused (AIP-158).
    let size = if by_rest {
        size.min(MAX_REST_PAGE)
    } else {
        size
    };
    Ok(Some(Page {
        offset,
        size,
        by_rest,
    }))
}

/// Whether answers that the response message lacks a field for are refused (tests and debug
/// builds) or dropped with a warning (release builds).
pub const STRICT: bool = cfg!(debug_assertions);

/// The response message of a successful REST answer.
pub fn response(b: &Binding, call: &RestCall, body: &Bytes) -> Result<DynamicMessage, Status> {
    let output = b.method.output();
    if output.full_name() == "google.protobuf.Empty" {
        return Ok(DynamicMessage::new(output));
    }
    let json: Value = if body.is_empty() || body.as_ref() == b"null" {
        Value::Object(Map::new())
    } else {
        serde_json::from_slice(body).map_err(|e| {
            tracing::error!(rpc = b.method.name(), "the REST answer is not JSON: {e}");
            Status::internal("the answer could not be read")
        })?
    };
    let mut json = match &b.response_body {
        Some(f) => Value::Object(Map::from_iter([(f.clone(), json)])),
        None => json,
    };
    if let Some(page) = call.page {
        cut_page(&output, b.response_body.as_deref(), &mut json, page);
    }
    decode(&output, json, b.method.name())
}

fn decode(output: &MessageDescriptor, json: Value, rpc: &str) -> Result<DynamicMessage, Status> {
    let strict = DeserializeOptions::new().deny_unknown_fields(true);
    match DynamicMessage::deserialize_with_options(output.clone(), &json, &strict) {
        Ok(m) => Ok(m),
        Err(e) if !STRICT => {
            tracing::warn!(rpc, "the answer has what {} lacks: {e}", output.name());
            let lenient = DeserializeOptions::new().deny_unknown_fields(false);
            DynamicMessage::deserialize_with_options(output.clone(), &json, &lenient).map_err(|e| {
                Status::internal(format!("the answer does not fit {}: {e}", output.name()))
            })
        }
        Err(e) => {
            tracing::error!(rpc, "the answer does not fit {}: {e}", output.name());
            Err(Status::internal(format!(
                "the answer does not fit {}: {e}",
                output.name()
            )))
        }
    }
}

/// Keeps the page's items of the list field (unless REST paged already), and says where the next
/// page starts: while REST's `total` says more exist, or, without a total, after a full page.
fn cut_page(output: &MessageDescriptor, items: Option<&str>, json: &mut Value, page: Page) {
    let Page {
        offset,
        size,
        by_rest,
    } = page;
    if output.get_field_by_name(NEXT_PAGE_TOKEN).is_none() {
        return;
    }
    let field = items.map(str::to_owned).or_else(|| {
        output
            .fields()
            .find(|f| f.is_list() && matches!(f.kind(), Kind::Message(_)))
            .map(|f| f.name().to_owned())
    });
    let Some(Value::Object(o)) = Some(json) else {
        return;
    };
    let total = o.get("total").and_then(Value::as_u64);
    let Some(Value::Array(list)) = field.and_then(|f| o.get_mut(&f)) else {
        return;
    };
    let (end, more) = if by_rest {
        let end = offset + list.len();
        let more = total.map_or(list.len() >= size, |t| (end as u64) < t);
        (end, more && !list.is_empty())
    } else {
        let total = list.len();
        let end = offset.saturating_add(size).min(total);
        let page: Vec<Value> = list.drain(offset.min(total)..end).collect();
        *list = page;
        (end, end < total)
    };
    if more {
        let token = URL_SAFE_NO_PAD.encode(format!("o:{end}"));
        o.insert(NEXT_PAGE_TOKEN.into(), Value::String(token));
    }
}

/// The gRPC status of a REST error answer: its `detail` is the message; a 422's list of problems
/// becomes `INVALID_ARGUMENT` with one field violation each (`google.rpc.BadRequest`).
pub fn error(status: StatusCode, body: &Bytes) -> Status {
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let detail = json.get("detail").cloned().unwrap_or(Value::Null);
    let text = match &detail {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|i| {
                let msg = i.get("msg").and_then(Value::as_str).unwrap_or("invalid");
                format!("{}: {msg}", location(i))
            })
            .collect::<Vec<_>>()
            .join("; "),
        _ => status.canonical_reason().unwrap_or("error").to_owned(),
    };
    let code = match status.as_u16() {
        400 | 422 => Code::InvalidArgument,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::NotFound,
        409 if text.contains("already exists") || text.contains("taken") => Code::AlreadyExists,
        409 if text.contains("lock") => Code::Aborted,
        409 | 412 | 428 => Code::FailedPrecondition,
        413 | 429 => Code::ResourceExhausted,
        501 => Code::Unimplemented,
        502..=504 => Code::Unavailable,
        _ => Code::Internal,
    };
    if let Value::Array(items) = &detail {
        let mut details = ErrorDetails::new();
        for i in items {
            let msg = i.get("msg").and_then(Value::as_str).unwrap_or("invalid");
            details.add_bad_request_violation(location(i), msg);
        }
        return Status::with_error_details(code, text, details);
    }
    Status::new(code, text)
}

/// A 422 problem's place: its `loc` without the leading `body`, joined with dots.
fn location(item: &Value) -> String {
    let loc = item.get("loc").and_then(Value::as_array);
    loc.map(|l| {
        l.iter()
            .skip_while(|p| p.as_str() == Some("body"))
            .map(|p| match p {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(".")
    })
    .unwrap_or_default()
}
