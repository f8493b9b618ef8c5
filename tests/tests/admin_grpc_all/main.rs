//! Every RPC of the gRPC admin API (`backendify.admin.v1.AdminService`) on its happy path, through
//! the router, in the order an admin would use them: create, read, list, update, special actions,
//! delete. Each answer is checked for what it must say (ids match, a change shows, a deleted thing
//! is gone). The calls go through a channel that notes every method it carries, and the test ends
//! by holding that list equal to the service's RPCs as `admin.proto` declares them, so an RPC added
//! to the proto without a case here fails the test.
//!
//! Problems are collected rather than raised one at a time, so one run names every RPC whose answer
//! does not fit its message.
//!
//! This file is the harness and the order of the run; the cases live in the modules below, each
//! named for the part of the API it covers.

use e2e::receiver::Receiver;
use e2e::TestEnv;
use proto::admin::*;
use proto::json::{from_struct, from_value, to_struct, to_value};
use proto::AdminServiceClient;
use serde_json::{json, Value as Json};
use std::collections::BTreeSet;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tonic::codegen::{http, Service};
use tonic::transport::Channel;
use tonic::{Code, Request, Response, Status};

/// The proto the service is built from: its `rpc` lines are the list every case must cover.
const ADMIN_PROTO: &str = include_str!("../../../proto/proto/backendify/admin/v1/admin.proto");

/// A channel that notes the method of every call it carries.
#[derive(Clone)]
struct Recording {
    inner: Channel,
    seen: Arc<Mutex<BTreeSet<String>>>,
}

impl Service<http::Request<tonic::body::Body>> for Recording {
    type Response = http::Response<tonic::body::Body>;
    type Error = tonic::transport::Error;
    type Future = <Channel as Service<http::Request<tonic::body::Body>>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Service::poll_ready(&mut self.inner, cx)
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        if let Some(method) = req.uri().path().rsplit('/').next() {
            self.seen.lock().unwrap().insert(method.to_owned());
        }
        Service::call(&mut self.inner, req)
    }
}

type Client = AdminServiceClient<Recording>;

/// `msg` with `authorization: Bearer <token>`.
fn authed<T>(token: &str, msg: T) -> Request<T> {
    let mut req = Request::new(msg);
    req.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    req
}

fn mask(paths: &[&str]) -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask {
        paths: paths.iter().map(|p| (*p).to_owned()).collect(),
    })
}

fn obj(v: Json) -> prost_types::Struct {
    to_struct(v.as_object().expect("a JSON object"))
}

/// Every problem of the run, reported together at the end.
#[derive(Default)]
struct Report(Vec<String>);

impl Report {
    /// The answer of a call that must succeed; a failure is noted and a default answer stands in.
    fn ok<T: Default>(&mut self, rpc: &str, res: Result<Response<T>, Status>) -> T {
        match res {
            Ok(r) => r.into_inner(),
            Err(e) => {
                self.0
                    .push(format!("{rpc} failed: {:?} {}", e.code(), e.message()));
                T::default()
            }
        }
    }

    /// A call that must fail with `code`.
    fn fails<T: Debug>(&mut self, rpc: &str, res: Result<Response<T>, Status>, code: Code) {
        match res {
            Err(e) if e.code() == code => {}
            Err(e) => self.0.push(format!(
                "{rpc}: expected {code:?}, got {:?} {}",
                e.code(),
                e.message()
            )),
            Ok(r) => self
                .0
                .push(format!("{rpc}: expected {code:?}, got {:?}", r.get_ref())),
        }
    }
}

macro_rules! check {
    ($r:expr, $cond:expr, $($msg:tt)+) => {
        if !$cond {
            $r.0.push(format!("line {}: {} ({})", line!(), stringify!($cond), format!($($msg)+)));
        }
    };
}

mod access;
mod events;
mod evolution;
mod identity;
mod schema;

fn rpcs_in_proto() -> BTreeSet<String> {
    ADMIN_PROTO
        .lines()
        .filter_map(|l| l.trim().strip_prefix("rpc "))
        .filter_map(|l| l.split('(').next())
        .map(|n| n.trim().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_admin_rpc_answers_on_its_happy_path() {
    let env = TestEnv::start().await;
    let rx = Receiver::start().await;
    let seen = Arc::new(Mutex::new(BTreeSet::new()));
    let channel = proto::connect(&format!("http://{}", env.router_addr()))
        .await
        .expect("the router speaks HTTP/2");
    let mut c: Client = AdminServiceClient::new(Recording {
        inner: channel,
        seen: seen.clone(),
    });
    let mut r = Report::default();

    let t = identity::admin_auth(&mut c, &mut r).await;
    identity::api_tokens(&mut c, &mut r, &t).await;
    let p = identity::projects(&mut c, &mut r, &t).await;
    identity::api_keys(&mut c, &mut r, &t, &p).await;
    let posts = schema::collections_and_fields(&mut c, &mut r, &t, &p).await;
    let rec = env
        .call(
            "POST",
            &format!("/api/projects/{p}/data/posts"),
            Some(&t),
            Some(json!({"title": "hello", "views": 3})),
        )
        .await;
    check!(r, rec.status == 201, "{rec:?}");
    access::audit(&env, &mut c, &mut r, &t, &p).await;
    access::validation_rules(&mut c, &mut r, &t, &p).await;
    access::policies(&mut c, &mut r, &t, &p).await;
    schema::relations(&mut c, &mut r, &t, &p, &posts).await;
    schema::views(&mut c, &mut r, &t, &p, &posts).await;
    evolution::evolution(&mut c, &mut r, &t, &p).await;
    evolution::pending_changes(&mut c, &mut r, &t, &p).await;
    identity::auth_settings(&mut c, &mut r, &t, &p).await;
    identity::app_users_and_roles(&mut c, &mut r, &t, &p).await;
    events::webhooks(&mut c, &mut r, &t, &p, &rx).await;
    events::workflows(&mut c, &mut r, &t, &p).await;
    evolution::schema_documents(&mut c, &mut r, &t, &p).await;

    let seen = seen.lock().unwrap().clone();
    let declared = rpcs_in_proto();
    check!(
        r,
        declared.len() >= 100,
        "the proto's RPCs were read: {declared:?}"
    );
    let missing: Vec<_> = declared.difference(&seen).cloned().collect();
    check!(r, missing.is_empty(), "RPCs never called: {missing:?}");
    env.shutdown().await;
    assert!(r.0.is_empty(), "\n{}", r.0.join("\n"));
}
