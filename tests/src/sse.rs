//! A small Server-Sent Events client for the realtime tests and benchmark: reads a streamed
//! response and splits it into events (`id`, `event`, `data`, comment lines).

use serde_json::Value;
use std::time::Duration;

/// One event (or a block of comments only, with an empty `event`).
#[derive(Debug, Clone, Default)]
pub struct SseEvent {
    /// `id:`
    pub id: Option<String>,
    /// `event:` (empty for comment-only blocks; `message` is never implied here).
    pub event: String,
    /// `data:` lines joined with newlines.
    pub data: String,
    /// Comment lines (`: …`), without the colon and one space.
    pub comments: Vec<String>,
}

impl SseEvent {
    /// The data as JSON (`Null` when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or(Value::Null)
    }

    /// The id as a number.
    pub fn seq(&self) -> i64 {
        self.id
            .as_deref()
            .and_then(|i| i.parse().ok())
            .unwrap_or(-1)
    }
}

/// An open stream.
pub struct Sse {
    res: reqwest::Response,
    buf: String,
    ended: bool,
}

impl Sse {
    /// Sends `req`; `Err` holds the status and body when it was not a 200 stream.
    pub async fn open(req: reqwest::RequestBuilder) -> Result<Sse, (u16, Value)> {
        let res = req
            .header("accept", "text/event-stream")
            .send()
            .await
            .expect("the stream's request is answered");
        let status = res.status().as_u16();
        if status != 200 {
            let body = res.json().await.unwrap_or(Value::Null);
            return Err((status, body));
        }
        Ok(Sse {
            res,
            buf: String::new(),
            ended: false,
        })
    }

    /// The next block, or `None` when the stream ended or nothing came within `wait`.
    pub async fn next(&mut self, wait: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                return Some(parse(&block));
            }
            if self.ended {
                return None;
            }
            match tokio::time::timeout_at(deadline, self.res.chunk()).await {
                Ok(Ok(Some(bytes))) => self
                    .buf
                    .push_str(&String::from_utf8_lossy(&bytes).replace("\r\n", "\n")),
                Ok(_) => self.ended = true,
                Err(_) => return None,
            }
        }
    }

    /// Waits for the `: ready <id>` comment that says the subscription is live; returns the id.
    pub async fn ready(&mut self) -> i64 {
        loop {
            let e = self
                .next(Duration::from_secs(10))
                .await
                .expect("the stream says it is ready");
            if let Some(id) = e.comments.iter().find_map(|c| c.strip_prefix("ready ")) {
                return id.parse().expect("a numeric id");
            }
        }
    }

    /// The next named event (skipping comments) within `wait`.
    pub async fn event(&mut self, wait: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let e = self.next(left).await?;
            if !e.event.is_empty() {
                return Some(e);
            }
        }
    }

    /// Every named event that comes within `wait` (until the stream goes quiet or ends).
    pub async fn drain(&mut self, wait: Duration) -> Vec<SseEvent> {
        let mut out = Vec::new();
        while let Some(e) = self.event(wait).await {
            out.push(e);
        }
        out
    }

    /// True once the server ended the stream.
    pub fn ended(&self) -> bool {
        self.ended
    }
}

fn parse(block: &str) -> SseEvent {
    let mut e = SseEvent::default();
    let mut data: Vec<&str> = Vec::new();
    for line in block.lines() {
        if let Some(c) = line.strip_prefix(':') {
            e.comments.push(c.strip_prefix(' ').unwrap_or(c).to_owned());
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "id" => e.id = Some(value.to_owned()),
            "event" => e.event = value.to_owned(),
            "data" => data.push(value),
            _ => {}
        }
    }
    e.data = data.join("\n");
    e
}
