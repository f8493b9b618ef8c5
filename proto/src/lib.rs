//! The gRPC contract between the control plane, workers and routers: `ConfigService`.
//!
//! Generated from `proto/config.proto`; these types stop at the gRPC handlers. [`cluster`] holds
//! the credential every call carries; [`service`] what each service process shares (logs, when to
//! stop).

pub mod cluster;
pub mod service;

/// `backendify.config.v1`: config and placement distribution.
#[allow(missing_docs, clippy::all)]
pub mod config {
    tonic::include_proto!("backendify.config.v1");
}

pub use config::config_service_client::ConfigServiceClient;
pub use config::config_service_server::{ConfigService, ConfigServiceServer};

/// Opens a channel to the control plane's `ConfigService`, with the keep-alive settings every
/// watcher uses (a dead peer is noticed within ~15 s).
pub async fn connect(url: &str) -> Result<tonic::transport::Channel, tonic::transport::Error> {
    tonic::transport::Endpoint::from_shared(url.to_owned())?
        .connect_timeout(std::time::Duration::from_secs(2))
        .http2_keep_alive_interval(std::time::Duration::from_secs(10))
        .keep_alive_timeout(std::time::Duration::from_secs(5))
        .connect()
        .await
}
