//! The gRPC admin API (`backendify.admin.v1.AdminService`, `proto/backendify/admin/v1/admin.proto`).
//!
//! Every RPC carries a `google.api.http` annotation naming its admin REST route, and is answered
//! by that route: the call is transcoded ([`transcode`]) into the REST request, sent to the same
//! router and handlers a REST client reaches ([`upstream`]), and the answer transcoded back. So
//! both protocols share every check, audit entry and config push, and the annotations are the one
//! list of which RPC is which route (a test holds it equal to the REST route table). The service
//! is served from the descriptor set with a dynamic codec ([`codec`]): no RPC can be left out.
//! `grpc.health.v1.Health` and server reflection ride along on the same port.

pub mod binding;
pub mod codec;
pub mod transcode;
pub mod upstream;

use crate::state::AppState;
use binding::Binding;
use codec::DynamicCodec;
use futures_util::future::BoxFuture;
use prost_reflect::{DescriptorPool, DynamicMessage};
use std::collections::HashMap;
use std::sync::Arc;
use tonic::{Request, Response, Status};
use tower::ServiceExt;
use upstream::Upstream;

/// The service's full name.
pub const SERVICE: &str = "backendify.admin.v1.AdminService";

/// The descriptors and bindings of the admin API.
pub struct AdminApi {
    bindings: HashMap<String, Arc<Binding>>,
    upstream: Upstream,
}

/// The admin API's descriptor pool.
pub fn pool() -> DescriptorPool {
    DescriptorPool::decode(proto::admin::FILE_DESCRIPTOR_SET)
        .expect("the admin descriptor set is valid")
}

/// Every RPC's binding, in the proto's order.
pub fn bindings() -> Vec<Binding> {
    binding::read(&pool(), SERVICE).expect("every admin RPC has a valid google.api.http rule")
}

impl AdminApi {
    /// The API over `rest`, this process's admin REST app.
    pub fn new(state: AppState, rest: axum::Router) -> Self {
        let bindings = bindings()
            .into_iter()
            .map(|b| (b.method.name().to_owned(), Arc::new(b)))
            .collect();
        Self {
            bindings,
            upstream: Upstream::new(state, rest),
        }
    }

    async fn call(
        &self,
        b: &Binding,
        req: Request<DynamicMessage>,
    ) -> Result<Response<DynamicMessage>, Status> {
        let headers = req.metadata().clone().into_headers();
        let call = transcode::request(b, req.get_ref())?;
        let answer = self.upstream.send(&call, &headers).await?;
        if !answer.status.is_success() {
            return Err(transcode::error(answer.status, &answer.body));
        }
        let msg = transcode::response(b, &call, &answer.body)?;
        let mut res = Response::new(msg);
        if let Some(lag) = answer
            .headers
            .get("x-config-lagging-workers")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
        {
            res.metadata_mut().insert("x-config-lagging-workers", lag);
        }
        Ok(res)
    }
}

/// One RPC, as tonic's unary server wants it.
#[derive(Clone)]
struct Unary {
    api: Arc<AdminApi>,
    binding: Arc<Binding>,
}

impl tonic::server::UnaryService<DynamicMessage> for Unary {
    type Response = DynamicMessage;
    type Future = BoxFuture<'static, Result<Response<DynamicMessage>, Status>>;

    fn call(&mut self, req: Request<DynamicMessage>) -> Self::Future {
        let (api, binding) = (self.api.clone(), self.binding.clone());
        Box::pin(async move { api.call(&binding, req).await })
    }
}

async fn serve(
    axum::extract::State(api): axum::extract::State<Arc<AdminApi>>,
    axum::extract::Path(method): axum::extract::Path<String>,
    req: axum::extract::Request,
) -> axum::response::Response {
    let Some(binding) = api.bindings.get(&method).cloned() else {
        return Status::unimplemented(format!("{SERVICE} has no method {method}"))
            .into_http::<axum::body::Body>()
            .map(axum::body::Body::new);
    };
    let codec = DynamicCodec {
        input: binding.method.input(),
    };
    let mut grpc = tonic::server::Grpc::new(codec);
    grpc.unary(Unary { api, binding }, req)
        .await
        .map(axum::body::Body::new)
}

/// The gRPC routes: `AdminService` over `rest`, health and reflection. Merged into the admin REST
/// app, they share its port (HTTP/2; the router passes gRPC through).
pub fn routes(state: AppState, rest: axum::Router) -> axum::Router {
    let api = Arc::new(AdminApi::new(state, rest));
    let (health, health_service) = tonic_health::server::health_reporter();
    tokio::spawn(async move {
        health
            .set_service_status(SERVICE, tonic_health::ServingStatus::Serving)
            .await;
        health
            .set_service_status("", tonic_health::ServingStatus::Serving)
            .await;
    });
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::admin::FILE_DESCRIPTOR_SET)
        .build_v1()
        .expect("the admin descriptor set is valid");
    let reflection_alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::admin::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .expect("the admin descriptor set is valid");
    let to_tonic = |req: axum::extract::Request| req.map(tonic::body::Body::new);
    axum::Router::new()
        .route(
            &format!("/{SERVICE}/{{method}}"),
            axum::routing::post(serve),
        )
        .with_state(api)
        .route_service(
            "/grpc.health.v1.Health/{*rest}",
            health_service.map_request(to_tonic),
        )
        .route_service(
            "/grpc.reflection.v1.ServerReflection/{*rest}",
            reflection.map_request(to_tonic),
        )
        .route_service(
            "/grpc.reflection.v1alpha.ServerReflection/{*rest}",
            reflection_alpha.map_request(to_tonic),
        )
}

#[cfg(test)]
mod tests;
