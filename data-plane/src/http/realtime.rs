//! `GET …/realtime?subscribe=<topic>…`: a Server-Sent Events stream of record changes
//! ([`crate::realtime`]). Credentials as on the data API, or `?access_token=` for browsers'
//! `EventSource`; `Last-Event-ID` (or `?last_event_id=`) resumes.

use super::context::{Caller, Ctx};
use super::error::ApiError;
use crate::realtime::topic::Topic;
use crate::realtime::{Frame, Membership, Principal, Request};
use crate::write::deny;
use crate::AppState;
use axum::body::Body;
use axum::extract::{FromRequestParts, State};
use axum::http::{header, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::Stream;
use model::Action;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::{Instant, Sleep};

/// How often an idle stream sends a keep-alive comment.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// `GET /api/projects/{id}/realtime`
pub async fn stream(
    State(st): State<AppState>,
    req: axum::extract::Request,
) -> Result<Response, ApiError> {
    let (mut parts, _) = req.into_parts();
    let params: Vec<(String, String)> = parts
        .uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    // `EventSource` cannot set headers: the token may come in the query instead.
    if !parts.headers.contains_key(header::AUTHORIZATION) {
        if let Some(token) = param("access_token") {
            let value = HeaderValue::from_str(&format!("Bearer {}", token.trim()))
                .map_err(|_| ApiError::Unauthorized("Invalid access token"))?;
            parts.headers.insert(header::AUTHORIZATION, value);
        }
    }
    let ctx = Ctx::from_request_parts(&mut parts, &st).await?;
    let last_event_id = match parts
        .headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .or_else(|| param("last_event_id"))
        .map(str::trim)
        .filter(|v| !v.is_empty())
    {
        Some(v) => Some(v.parse::<i64>().map_err(|_| {
            ApiError::BadRequest(format!("Invalid Last-Event-ID '{v}': expected an event id"))
        })?),
        None => None,
    };
    let raw_topics: Vec<&str> = params
        .iter()
        .filter(|(k, _)| k == "subscribe")
        .map(|(_, v)| v.as_str())
        .collect();
    if raw_topics.is_empty() {
        return Err(ApiError::BadRequest(
            "Subscribe to at least one topic: ?subscribe=<collection>, <collection>/<record id> or <collection>?<filters>".into(),
        ));
    }
    let limit = st.realtime.limits().topics_per_connection;
    if raw_topics.len() > limit {
        return Err(ApiError::BadRequest(format!(
            "Too many topics ({}); a stream may subscribe to at most {limit}",
            raw_topics.len()
        )));
    }
    let mut topics = Vec::with_capacity(raw_topics.len());
    for raw in raw_topics {
        let (topic, planned) = Topic::parse(&ctx.project, raw)?;
        // A collection the caller may never read is refused now, as a GET would be.
        if crate::policy::rule(&planned.collection, Action::Read, &ctx.caller).constant()
            == Some(false)
        {
            return Err(deny(&ctx.caller, Action::Read));
        }
        topics.push((topic, planned));
    }
    let (principal, expires) = principal(&st, &ctx, &parts).await?;
    let (rx, queued, membership) = st.realtime.subscribe(Request {
        project: ctx.project.clone(),
        principal,
        expires,
        topics,
        last_event_id,
    })?;
    let frames = Frames {
        rx,
        queued,
        _membership: membership,
        idle: Box::pin(tokio::time::sleep(KEEP_ALIVE)),
        done: false,
    };
    Ok((
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
            (HeaderName::from_static("x-accel-buffering"), "no"),
        ],
        Body::from_stream(frames),
    )
        .into_response())
}

/// What is checked again while the stream is open, and when its token expires.
async fn principal(
    st: &AppState,
    ctx: &Ctx,
    parts: &axum::http::request::Parts,
) -> Result<(Principal, Option<i64>), ApiError> {
    let token = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim());
    let expires = token
        .and_then(model::jwt::peek)
        .and_then(|(_, claims)| claims.get("exp").and_then(serde_json::Value::as_i64));
    Ok(match &ctx.caller {
        Caller::Admin(id) => (Principal::Admin(*id), expires),
        Caller::ApiKey(id) => (Principal::ApiKey(*id), None),
        Caller::Anonymous => (Principal::Anonymous, None),
        Caller::AppUser(u) => {
            let gone = || ApiError::Unauthorized("Invalid token");
            let t = token
                .and_then(|t| crate::auth::tokens::verify(&ctx.project.config, t).ok())
                .ok_or_else(gone)?;
            let pid = ctx.project.config.project_id;
            // As the caller was just resolved (read again if the memory of it is gone already).
            let seen = match st.principals.get(pid, t.session_id, &t.user_id) {
                Some(seen) => seen,
                None => crate::db::live_principal(&st.db, &ctx.project, &t.user_id, t.session_id)
                    .await?
                    .ok_or_else(gone)?,
            };
            (
                Principal::AppUser {
                    id: u.id.clone(),
                    session: t.session_id,
                    seen,
                },
                expires,
            )
        }
    })
}

/// The stream's frames as SSE text; a keep-alive comment after [`KEEP_ALIVE`] without one. It
/// ends after a `Close`, or when the feed lets it go.
struct Frames {
    rx: mpsc::UnboundedReceiver<Frame>,
    queued: Arc<AtomicUsize>,
    _membership: Membership,
    idle: Pin<Box<Sleep>>,
    done: bool,
}

impl Stream for Frames {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        let frame = match self.rx.poll_recv(cx) {
            Poll::Ready(Some(f)) => f,
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => {
                if self.idle.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                let next = Instant::now() + KEEP_ALIVE;
                self.idle.as_mut().reset(next);
                return Poll::Ready(Some(Ok(Bytes::from_static(b": keep-alive\n\n"))));
            }
        };
        let next = Instant::now() + KEEP_ALIVE;
        self.idle.as_mut().reset(next);
        let text = match frame {
            Frame::Data(bytes) => {
                self.queued.fetch_sub(bytes.len(), Ordering::Relaxed);
                return Poll::Ready(Some(Ok(bytes)));
            }
            // The id (without data, so no event) is where a browser resumes from should the
            // connection drop before any event came; it retries after 2 s.
            Frame::Ready { id } => format!("id: {id}\nretry: 2000\n: ready {id}\n\n"),
            Frame::Reset { id, reason } => format!(
                "id: {id}\nevent: reset\ndata: {}\n\n",
                serde_json::json!({ "reason": reason, "last_event_id": id })
            ),
            Frame::Close { detail } => {
                self.done = true;
                format!(
                    "event: error\ndata: {}\n\n",
                    serde_json::json!({ "detail": detail })
                )
            }
        };
        Poll::Ready(Some(Ok(Bytes::from(text))))
    }
}
