//! One delivery attempt: the signed POST (Standard Webhooks) through the egress allow-list, and
//! what its answer means.

use crate::outbound::Egress;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use model::WebhookConfig;
use ring::hmac;
use std::time::Duration;

/// How much of a receiver's answer is kept.
pub const KEPT_BODY_BYTES: usize = 4096;

/// The `webhook-signature` header: `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>` per
/// key (base64 in `keys`), space-separated. Keys that are not base64 are skipped.
pub fn signature(keys: &[String], id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        let Ok(key) = STANDARD.decode(key) else {
            continue;
        };
        let mut mac = hmac::Context::with_key(&hmac::Key::new(hmac::HMAC_SHA256, &key));
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        out.push(format!("v1,{}", STANDARD.encode(mac.sign().as_ref())));
    }
    out.join(" ")
}

/// What an attempt came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Any 2xx.
    Delivered {
        /// Status.
        status: u16,
        /// The start of the answer.
        body: String,
    },
    /// 410: the receiver wants no more; the webhook is turned off.
    Gone {
        /// The start of the answer.
        body: String,
    },
    /// Anything else: another status (redirects included: they are not followed), a time-out, a
    /// refused or unreachable destination.
    Failed {
        /// Status, if the receiver answered.
        status: Option<u16>,
        /// The start of the answer, if any.
        body: Option<String>,
        /// What went wrong.
        error: String,
        /// The receiver's `Retry-After`, if it gave one.
        retry_after: Option<Duration>,
    },
}

/// Sends deliveries: an HTTP client whose every connection passes the egress allow-list.
#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
    egress: Egress,
    timeout: Duration,
}

impl Sender {
    /// A sender with this allow-list and per-attempt time limit.
    pub fn new(egress: Egress, timeout: Duration) -> Self {
        Self {
            client: egress.http_client_with_timeout(timeout),
            egress,
            timeout,
        }
    }

    /// The time limit of one attempt.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Posts `payload` to the webhook as delivery `id` of `event`, signed with each of its keys.
    pub async fn send(
        &self,
        hook: &WebhookConfig,
        id: &str,
        event: &str,
        payload: &str,
    ) -> Verdict {
        // IP-literal URLs skip the client's resolver: check them here (names are checked as
        // they resolve, once, and only the checked addresses are dialled).
        match tokio::time::timeout(self.timeout, self.egress.check_url(&hook.url)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return failed(None, None, format!("{e:#}"), None),
            Err(_) => return failed(None, None, "resolving the target timed out".into(), None),
        }
        let timestamp = chrono::Utc::now().timestamp();
        let sent = self
            .client
            .post(&hook.url)
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header(
                "webhook-signature",
                signature(hook.live_keys(), id, timestamp, payload.as_bytes()),
            )
            .header("x-webhook-event", event)
            .header("x-webhook-delivery", id)
            .body(payload.to_owned())
            .send()
            .await;
        let mut res = match sent {
            Ok(res) => res,
            Err(e) => return failed(None, None, self.describe(&e), None),
        };
        let status = res.status().as_u16();
        let retry_after = res
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let body = read_start(&mut res).await;
        match status {
            200..=299 => Verdict::Delivered { status, body },
            410 => Verdict::Gone { body },
            _ => failed(
                Some(status),
                Some(body),
                format!("the receiver answered {status}"),
                retry_after,
            ),
        }
    }

    fn describe(&self, e: &reqwest::Error) -> String {
        if e.is_timeout() {
            format!("no answer within {} s", self.timeout.as_secs_f64())
        } else if e.is_connect() {
            let cause = std::error::Error::source(e).map_or(String::new(), |s| format!(": {s}"));
            format!("could not connect{cause}")
        } else {
            format!("request failed: {e}")
        }
    }
}

fn failed(
    status: Option<u16>,
    body: Option<String>,
    error: String,
    retry_after: Option<Duration>,
) -> Verdict {
    let error: String = error.replace('\0', "").chars().take(1024).collect();
    Verdict::Failed {
        status,
        body,
        error,
        retry_after,
    }
}

/// The first [`KEPT_BODY_BYTES`] of an answer (as text; what could not be read is left out).
async fn read_start(res: &mut reqwest::Response) -> String {
    let mut kept = Vec::new();
    while kept.len() < KEPT_BODY_BYTES {
        match res.chunk().await {
            Ok(Some(chunk)) => kept.extend_from_slice(&chunk),
            _ => break,
        }
    }
    kept.truncate(KEPT_BODY_BYTES);
    // Postgres text cannot hold NUL.
    String::from_utf8_lossy(&kept).replace('\0', "")
}

/// `Retry-After`: delay-seconds or an HTTP date (RFC 9110 §10.2.3).
/// A `Retry-After` value: seconds, or an HTTP date.
pub(crate) fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let wait = at.timestamp() - chrono::Utc::now().timestamp();
    Some(Duration::from_secs(wait.max(0) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_as_standard_webhooks() {
        // The example of the Standard Webhooks specification.
        let key = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned();
        let body = br#"{"test": 2432232314}"#;
        let sig = signature(&[key], "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        let two = signature(
            &["AAAA".into(), "not base64!".into(), "BBBB".into()],
            "i",
            1,
            b"{}",
        );
        assert_eq!(two.split(' ').count(), 2);
    }

    #[test]
    fn reads_retry_after_in_both_forms() {
        assert_eq!(parse_retry_after("120"), Some(Duration::from_secs(120)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }
}
