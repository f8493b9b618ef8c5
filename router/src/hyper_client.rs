//! hyper-util's pooled HTTP/1.1 client, over TCP or a Unix socket: what the router's own client
//! ([`crate::client`]) is measured against (`ROUTER_UPSTREAM_CLIENT=hyper`, and
//! `make bench BENCH_ARGS=--hop`). It carries the JSON requests to workers only; uploads, realtime
//! streams and the control plane keep their usual paths.

use crate::client::{SendError, Upstream};
use axum::body::Body;
use bytes::Bytes;
use http::{header, HeaderMap, Method, Request, Response, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as Pooled;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::collections::HashMap;
use std::io;
use std::sync::{Arc, RwLock};
use std::time::Duration;

type Sockets = Arc<RwLock<HashMap<String, String>>>;

/// Connects `http://sN.sock/…` to the socket registered as `sN`.
#[derive(Clone)]
struct UnixConnector(Sockets);

impl tower::Service<Uri> for UnixConnector {
    type Response = TokioIo<tokio::net::UnixStream>;
    type Error = io::Error;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = io::Result<Self::Response>> + Send + 'static>,
    >;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let path = uri
            .host()
            .and_then(|h| h.strip_suffix(".sock"))
            .and_then(|key| self.0.read().expect("sockets lock").get(key).cloned());
        Box::pin(async move {
            let path = path.ok_or_else(|| io::Error::other("unknown socket"))?;
            Ok(TokioIo::new(tokio::net::UnixStream::connect(path).await?))
        })
    }
}

/// Two pools: TCP upstreams and Unix sockets.
pub struct HyperClient {
    tcp: Pooled<HttpConnector, Full<Bytes>>,
    unix: Pooled<UnixConnector, Full<Bytes>>,
    sockets: Sockets,
}

impl Default for HyperClient {
    fn default() -> Self {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_secs(2)));
        let sockets = Sockets::default();
        let builder = || {
            let mut b = Pooled::builder(TokioExecutor::new());
            b.pool_idle_timeout(Duration::from_secs(60))
                .pool_max_idle_per_host(256);
            b
        };
        Self {
            tcp: builder().build(http),
            unix: builder().build(UnixConnector(sockets.clone())),
            sockets,
        }
    }
}

impl HyperClient {
    /// Sends one request and reads the whole answer.
    pub async fn send(
        &self,
        to: &Upstream,
        method: &Method,
        path_and_query: &str,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> Result<Response<Body>, SendError> {
        let uri = match to.authority().strip_prefix("unix:") {
            Some(path) => format!("http://{}.sock{path_and_query}", self.socket_key(path)),
            None => format!("http://{}{}", to.authority(), to.target(path_and_query)),
        };
        let mut req = Request::builder()
            .method(method.clone())
            .uri(uri)
            .body(Full::new(body.clone()))
            .map_err(|e| SendError::Exchange(io::Error::other(e)))?;
        for (name, value) in headers {
            if name != header::HOST && name != header::CONTENT_LENGTH {
                req.headers_mut().append(name.clone(), value.clone());
            }
        }
        let sent = if to.is_unix() {
            self.unix.request(req).await
        } else {
            self.tcp.request(req).await
        };
        let res = sent.map_err(|e| {
            if e.is_connect() {
                SendError::Connect(io::Error::other(e))
            } else {
                SendError::Exchange(io::Error::other(e))
            }
        })?;
        let (parts, body) = res.into_parts();
        let bytes = body
            .collect()
            .await
            .map_err(|e| SendError::Exchange(io::Error::other(e)))?
            .to_bytes();
        Ok(Response::from_parts(parts, Body::from(bytes)))
    }

    /// A host name standing for the socket at `path`.
    fn socket_key(&self, path: &str) -> String {
        if let Some(key) = self
            .sockets
            .read()
            .expect("sockets lock")
            .iter()
            .find(|(_, p)| p.as_str() == path)
            .map(|(k, _)| k.clone())
        {
            return key;
        }
        let mut sockets = self.sockets.write().expect("sockets lock");
        if let Some((key, _)) = sockets.iter().find(|(_, p)| p.as_str() == path) {
            return key.clone();
        }
        let key = format!("s{}", sockets.len());
        sockets.insert(key.clone(), path.to_owned());
        key
    }
}
