//! `GET …/realtime?subscribe=<topic>…`: a Server-Sent Events stream of record changes
//! ([`crate::realtime`]). Credentials as on the data API, or `?access_token=` for browsers'
//! `EventSource`; `Last-Event-ID` (or `?last_event_id=`) resumes.

use super::context::{Caller, Ctx};
use super::error::ApiError;
use crate::realtime::topic::Topic;
use crate::realtime::{Frame, Membership, Principal, Request};
use crate::write::deny;
use crate::AppState;
use axum::extract::{FromRequestParts, State};
use axum::http::{header, HeaderValue};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use model::Action;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::mpsc;

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
    let (principal, expires) = principal(&st, &ctx, &parts);
    let (rx, membership) = st.realtime.subscribe(Request {
        project: ctx.project.clone(),
        principal,
        expires,
        topics,
        last_event_id,
    })?;
    let events = Frames {
        rx,
        _membership: membership,
        done: false,
    };
    let mut res = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive"))
        .into_response();
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(res)
}

/// What is checked again while the stream is open, and when its token expires.
fn principal(
    st: &AppState,
    ctx: &Ctx,
    parts: &axum::http::request::Parts,
) -> (Principal, Option<i64>) {
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
    match &ctx.caller {
        Caller::Admin(id) => (Principal::Admin(*id), expires),
        Caller::ApiKey(id) => (Principal::ApiKey(*id), None),
        Caller::Anonymous => (Principal::Anonymous, None),
        Caller::AppUser(u) => {
            let session =
                token.and_then(|t| crate::auth::tokens::verify(&ctx.project.config, t).ok());
            let seen = session.as_ref().and_then(|t| {
                st.principals
                    .get(ctx.project.config.project_id, t.session_id, &t.user_id)
            });
            match (session, seen) {
                (Some(t), Some(seen)) => (
                    Principal::AppUser {
                        id: u.id.clone(),
                        session: t.session_id,
                        seen,
                    },
                    expires,
                ),
                // Cannot happen (the caller was just resolved from this token); nobody then.
                _ => (Principal::Anonymous, None),
            }
        }
    }
}

/// The stream's frames as SSE events; it ends after a `Close`, or when the feed lets it go.
struct Frames {
    rx: mpsc::Receiver<Frame>,
    _membership: Membership,
    done: bool,
}

impl Stream for Frames {
    type Item = Result<Event, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        let frame = match self.rx.poll_recv(cx) {
            Poll::Ready(Some(f)) => f,
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => return Poll::Pending,
        };
        let event = match frame {
            Frame::Event { id, name, data } => {
                Event::default().id(id.to_string()).event(name).data(&*data)
            }
            Frame::Ready { id } => Event::default()
                .retry(Duration::from_secs(2))
                .comment(format!("ready {id}")),
            Frame::Reset { id, reason } => Event::default()
                .id(id.to_string())
                .event("reset")
                .data(serde_json::json!({ "reason": reason, "last_event_id": id }).to_string()),
            Frame::Close { detail } => {
                self.done = true;
                Event::default()
                    .event("error")
                    .data(serde_json::json!({ "detail": detail }).to_string())
            }
        };
        Poll::Ready(Some(Ok(event)))
    }
}
