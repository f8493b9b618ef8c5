//! Webhooks as workers see them: where to send which events, and the keys that sign them
//! (Standard Webhooks: `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The record events a webhook may subscribe to (besides `"*"`, every one of them).
pub const RECORD_EVENTS: [&str; 3] = ["record.created", "record.updated", "record.deleted"];

/// One webhook, compiled (inactive ones too: their deliveries stay listable and a test event
/// can still be sent to them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookConfig {
    /// The webhook's id.
    pub id: Uuid,
    /// Absolute http(s) URL deliveries are posted to.
    pub url: String,
    /// Event names (or `"*"`) it receives.
    pub events: Vec<String>,
    /// Only events of these collections (ids); `None`: every collection.
    pub collection_ids: Option<Vec<Uuid>>,
    /// Turned on by its admins (the platform may still have stopped it: see the worker's state).
    pub is_active: bool,
    /// Signing keys, base64 of the raw key bytes: the current one first, then a rotated-out one
    /// that still signs until its grace period ends. Every key signs each delivery.
    pub keys: Vec<String>,
    /// When the rotated-out key (the second of `keys`) stops signing.
    #[serde(default)]
    pub previous_key_until: Option<chrono::DateTime<chrono::Utc>>,
}

impl WebhookConfig {
    /// The keys that sign now: the current one, and the previous one until its grace ends.
    pub fn live_keys(&self) -> &[String] {
        let previous_live = self
            .previous_key_until
            .is_some_and(|until| until > chrono::Utc::now());
        let n = if previous_live {
            self.keys.len()
        } else {
            self.keys.len().min(1)
        };
        &self.keys[..n]
    }

    /// Whether an event of `collection` reaches this webhook (it must be active).
    pub fn wants(&self, event: &str, collection: Uuid) -> bool {
        self.is_active
            && self.events.iter().any(|e| e == "*" || e == event)
            && self
                .collection_ids
                .as_ref()
                .is_none_or(|ids| ids.contains(&collection))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_events_and_collections() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let mut w = WebhookConfig {
            id: Uuid::new_v4(),
            url: "http://127.0.0.1/h".into(),
            events: vec!["record.created".into()],
            collection_ids: None,
            is_active: true,
            keys: vec![],
            previous_key_until: None,
        };
        assert!(w.wants("record.created", a));
        assert!(!w.wants("record.deleted", a));
        w.collection_ids = Some(vec![b]);
        assert!(!w.wants("record.created", a));
        assert!(w.wants("record.created", b));
        w.events = vec!["*".into()];
        assert!(w.wants("record.deleted", b));
        w.is_active = false;
        assert!(!w.wants("record.deleted", b));
    }

    #[test]
    fn a_rotated_out_key_signs_only_until_its_grace_ends() {
        let mut w = WebhookConfig {
            id: Uuid::new_v4(),
            url: "http://127.0.0.1/h".into(),
            events: vec!["*".into()],
            collection_ids: None,
            is_active: true,
            keys: vec!["new".into(), "old".into()],
            previous_key_until: Some(chrono::Utc::now() + chrono::Duration::hours(1)),
        };
        assert_eq!(w.live_keys().len(), 2);
        w.previous_key_until = Some(chrono::Utc::now() - chrono::Duration::seconds(1));
        assert_eq!(w.live_keys(), ["new".to_owned()]);
    }
}
