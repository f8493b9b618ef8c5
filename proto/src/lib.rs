//! The gRPC contract between the control plane, workers and routers: `ConfigService`.
//!
//! Generated from `proto/config.proto`; these types stop at the gRPC handlers.

#![allow(missing_docs, clippy::all)]

/// `backendify.config.v1`: config and placement distribution.
pub mod config {
    tonic::include_proto!("backendify.config.v1");
}

pub use config::config_service_client::ConfigServiceClient;
pub use config::config_service_server::{ConfigService, ConfigServiceServer};
