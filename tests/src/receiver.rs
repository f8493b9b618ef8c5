//! A webhook receiver on a loopback port, stopped when dropped: it keeps every request it answers
//! (headers, body, arrival time) and answers from a script (status, headers, a stall), then 200.
//! A request whose sender goes away during a stall is not kept: it was never answered.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::serve::ListenerExt;
use axum::Router;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Hit {
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body.
    pub body: Bytes,
    /// When it arrived.
    pub at: Instant,
}

impl Hit {
    /// A header as text ("" when absent).
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// How the receiver answers one request.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Status.
    pub status: u16,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
    /// Wait this long first.
    pub stall: Duration,
    /// Body.
    pub body: String,
}

impl Answer {
    /// A plain answer with this status.
    pub fn status(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            stall: Duration::ZERO,
            body: format!("answer {status}"),
        }
    }
}

#[derive(Default)]
struct Inner {
    hits: Vec<Hit>,
    script: VecDeque<Answer>,
    /// Used once the script is done (`None`: 200).
    always: Option<Answer>,
    /// Requests being answered now, and the most there ever were at once.
    in_flight: usize,
    max_in_flight: usize,
    /// Distinct `webhook-id`s answered, and when the last request was answered: what a
    /// benchmark polls (cheap, where cloning every hit is not).
    ids: std::collections::HashSet<String>,
    last_at: Option<Instant>,
}

/// The receiver.
pub struct Receiver {
    addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    task: Option<JoinHandle<()>>,
    /// Ends a receiver that runs on a thread of its own.
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Receiver {
    /// Starts on 127.0.0.1, answering 200 until scripted otherwise.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = Router::new().fallback(receive).with_state(inner.clone());
        let task = tokio::spawn(async move {
            let listener = listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            let _ = axum::serve(listener, app).await;
        });
        Self {
            addr,
            inner,
            task: Some(task),
            stop: None,
        }
    }

    /// Starts on 127.0.0.1 on a thread and runtime of its own (a benchmark's load generator then
    /// does not share its thread with the receiver).
    pub fn start_on_own_thread() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = Router::new().fallback(receive).with_state(inner.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the receiver");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let listener = listener.tap_io(|tcp| {
                    let _ = tcp.set_nodelay(true);
                });
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await;
            });
        });
        Self {
            addr,
            inner,
            task: None,
            stop: Some(stop),
        }
    }

    /// How many distinct `webhook-id`s it answered, and when it last answered anything.
    pub fn distinct_ids(&self) -> (usize, Option<Instant>) {
        let i = self.inner.lock().unwrap();
        (i.ids.len(), i.last_at)
    }

    /// The most requests it was answering at once.
    pub fn max_in_flight(&self) -> usize {
        self.inner.lock().unwrap().max_in_flight
    }

    /// Its URL for `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Answers the next requests so, in order.
    pub fn script(&self, answers: impl IntoIterator<Item = Answer>) {
        self.inner.lock().unwrap().script.extend(answers);
    }

    /// Answers every request after the script so.
    pub fn always(&self, answer: Answer) {
        self.inner.lock().unwrap().always = Some(answer);
    }

    /// Everything received so far.
    pub fn hits(&self) -> Vec<Hit> {
        self.inner.lock().unwrap().hits.clone()
    }

    /// Waits (up to `within`) until `n` requests arrived; returns them all.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Hit> {
        let until = Instant::now() + within;
        loop {
            let hits = self.hits();
            if hits.len() >= n || Instant::now() >= until {
                return hits;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn receive(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let at = Instant::now();
    let answer = {
        let mut i = inner.lock().unwrap();
        i.in_flight += 1;
        i.max_in_flight = i.max_in_flight.max(i.in_flight);
        let next = i.script.pop_front();
        next.or_else(|| i.always.clone())
            .unwrap_or_else(|| Answer::status(200))
    };
    // Counts the request out however it ends (a sender that goes away drops this future).
    struct Leaving(Arc<Mutex<Inner>>);
    impl Drop for Leaving {
        fn drop(&mut self) {
            self.0.lock().unwrap().in_flight -= 1;
        }
    }
    let _leaving = Leaving(inner.clone());
    if !answer.stall.is_zero() {
        // Dropped here (and not kept) when the sender goes away meanwhile.
        tokio::time::sleep(answer.stall).await;
    }
    {
        let mut i = inner.lock().unwrap();
        if let Some(id) = headers.get("webhook-id").and_then(|v| v.to_str().ok()) {
            i.ids.insert(id.to_owned());
        }
        i.last_at = Some(Instant::now());
        i.hits.push(Hit { headers, body, at });
    }
    let mut out = HeaderMap::new();
    for (k, v) in &answer.headers {
        out.insert(*k, v.parse().unwrap());
    }
    (
        StatusCode::from_u16(answer.status).unwrap(),
        out,
        answer.body,
    )
}
