//! The realtime stream in the project's OpenAPI document.

use super::{errors, schema_ref};
use serde_json::{json, Map, Value};

/// `GET …/realtime`, with the collections a topic may name.
pub(super) fn paths(base: &str, collections: &[&str]) -> Vec<(String, Value)> {
    let description = "A Server-Sent Events stream (`text/event-stream`) of record changes. Each event is \
        `id: <event id>` (rising, the same on every worker), `event: record.created|record.updated|record.deleted` \
        and `data:` a `RealtimeEvent`. An event is sent only when the caller could read the record now, as a GET \
        would (policies, roles, owner conditions; hidden fields never appear), and the record matches one of the \
        topics. A block `id: <id>` with the comment `: ready <id>` (no event) says the subscription is live \
        and sets the resume point; `: keep-alive` comes every 15 s. \
        Reconnecting with `Last-Event-ID` replays what was missed (up to the worker's replay window, 10,000 events \
        by default); further behind, `event: reset` (data `{\"reason\", \"last_event_id\"}`) says to reload and \
        the stream goes on from there. `event: error` (data `{\"detail\"}`) ends a stream whose session was \
        revoked, token expired, user disabled, key revoked or topic removed, or a subscriber that fell too far \
        behind reading.";
    let mut responses = Map::new();
    responses.insert(
        "200".into(),
        json!({
            "description": "The stream.",
            "content": { "text/event-stream": { "schema": { "type": "string" },
                "example": "id: 42\nevent: record.created\ndata: {\"collection\":\"posts\",\"record\":{\"id\":7,\"title\":\"Hello\"},\"record_id\":\"7\",\"event\":\"record.created\",\"timestamp\":\"2026-12-04T21:00:00.123456+00:00\"}\n\n" } },
        }),
    );
    responses.extend(errors(&[400, 401, 403, 404, 429]));
    responses.insert(
        "503".into(),
        json!({ "description": "The worker has as many streams open as it allows.",
                "content": { "application/json": { "schema": schema_ref("Error") } } }),
    );
    let params = vec![
        json!({
            "name": "subscribe", "in": "query", "required": true, "style": "form", "explode": true,
            "description": format!("A topic, once per topic (at most 20 by default): `<collection>`, \
                `<collection>/<record id>` or `<collection>?<the list endpoint's filter parameters>` \
                (URL-encoded as one value, e.g. `posts%3Fstatus%3Dpublished`). Collections: {}.",
                collections.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")),
            "schema": { "type": "array", "items": { "type": "string" } },
        }),
        json!({ "name": "access_token", "in": "query", "required": false,
                "description": "A bearer token for clients that cannot set headers (`EventSource`).",
                "schema": { "type": "string" } }),
        json!({ "name": "last_event_id", "in": "query", "required": false,
                "description": "As the `Last-Event-ID` header: resume after this event.",
                "schema": { "type": "integer" } }),
        json!({ "name": "Last-Event-ID", "in": "header", "required": false,
                "description": "Resume after this event (browsers send it when they reconnect).",
                "schema": { "type": "integer" } }),
    ];
    vec![(
        format!("{base}/realtime"),
        json!({ "get": {
            "tags": ["realtime"],
            "summary": "Subscribe to record changes",
            "description": description,
            "parameters": params,
            "responses": responses,
        } }),
    )]
}

/// The event's data.
pub(super) fn schemas() -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(
        "RealtimeEvent".into(),
        json!({
            "type": "object",
            "required": ["collection", "record", "record_id", "event", "timestamp"],
            "properties": {
                "collection": { "type": "string" },
                "record": { "type": "object", "description": "The record as the caller may read it: after the change, or before it for a delete." },
                "record_id": { "type": "string" },
                "event": { "type": "string", "enum": ["record.created", "record.updated", "record.deleted"] },
                "timestamp": { "type": "string", "format": "date-time", "description": "When the change was written." },
            },
        }),
    );
    m
}
