//! The gRPC contracts: `ConfigService` between the control plane, workers and routers, and the
//! public `AdminService` (its client; the control plane serves it from the descriptor set).
//!
//! Generated from `proto/config.proto` and `proto/backendify/admin/v1/admin.proto`; these types
//! stop at the gRPC handlers. [`cluster`] holds the credential every call carries; [`service`]
//! what each service process shares (logs, when to stop); [`metrics`] what each reports;
//! [`telemetry`] the optional OpenTelemetry trace export; [`json`] turns protobuf `Struct`s into
//! JSON and back.

pub mod cluster;
pub mod json;
pub mod local;
pub mod metrics;
pub mod service;
pub mod telemetry;

/// `backendify.config.v1`: config and placement distribution.
#[allow(missing_docs, clippy::all)]
pub mod config {
    tonic::include_proto!("backendify.config.v1");
}

/// `backendify.admin.v1`: the public admin API (`AdminService`), a client and the descriptors.
#[allow(missing_docs, clippy::all)]
pub mod admin {
    tonic::include_proto!("backendify.admin.v1");

    /// The encoded `FileDescriptorSet` of `admin.proto` and everything it imports: the control
    /// plane serves the API and its reflection from it.
    pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("admin_descriptor");
}

pub use admin::admin_service_client::AdminServiceClient;
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
