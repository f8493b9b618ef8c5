//! The worker's side of `ConfigService.Watch`: connect, apply the snapshot and every change,
//! acknowledge each, and on any failure keep serving the last configs and reconnect with backoff.

use crate::registry::Registry;
use model::ProjectConfig;
use proto::config::{config_event, AckRequest, Applied, WatchRequest};
use proto::ConfigServiceClient;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tracing::{debug, info, warn};

/// Who this worker is, as told to the control plane.
#[derive(Clone)]
pub struct Identity {
    /// Worker id.
    pub worker_id: String,
    /// Where the router reaches it.
    pub http_addr: String,
    /// Its cell.
    pub cell: String,
    /// The Unix socket it also serves on, and its machine ([`proto::local::host_id`]); empty
    /// when none.
    pub unix_socket: String,
    /// See `unix_socket`.
    pub host_id: String,
    /// The credential every `ConfigService` call carries.
    pub token: proto::cluster::ClusterToken,
}

/// Largest config message a worker accepts (a snapshot of every project).
const MAX_CONFIG_MESSAGE: usize = 1 << 30;

/// Runs until `stop` turns true; `on_snapshot` runs after each applied snapshot.
pub async fn watch_configs(
    url: String,
    me: Identity,
    registry: Arc<Registry>,
    mut stop: watch::Receiver<bool>,
    on_snapshot: impl Fn() + Send + Sync,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let session = watch_once(&url, &me, &registry, &on_snapshot);
        tokio::select! {
            res = session => match res {
                Ok(()) => info!("config stream ended; reconnecting"),
                Err(e) => warn!(projects = registry.len(), "config stream failed ({e}); serving the last configs and reconnecting in {backoff:?}"),
            },
            _ = stop.wait_for(|s| *s) => return,
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

#[derive(Debug, thiserror::Error)]
enum WatchError {
    #[error("connect: {0}")]
    Connect(#[from] tonic::transport::Error),
    #[error("rpc: {0}")]
    Rpc(#[from] tonic::Status),
}

async fn watch_once(
    url: &str,
    me: &Identity,
    registry: &Registry,
    on_snapshot: &(impl Fn() + Sync),
) -> Result<(), WatchError> {
    let channel = proto::connect(url).await?;
    // A snapshot carries every project's config in one message: far above tonic's 4 MiB default
    // once projects are large (300 collections × 20 fields is about 1.3 MiB of config).
    let mut client = ConfigServiceClient::with_interceptor(channel, me.token.clone())
        .max_decoding_message_size(MAX_CONFIG_MESSAGE);
    let req = WatchRequest {
        worker_id: me.worker_id.clone(),
        http_addr: me.http_addr.clone(),
        cell: me.cell.clone(),
        serving: !registry.is_empty(),
        unix_socket: me.unix_socket.clone(),
        host_id: me.host_id.clone(),
    };
    let mut stream = client.watch(req).await?.into_inner();
    info!(worker.id = %me.worker_id, "watching configs at {url}");
    while let Some(event) = stream.message().await? {
        let applied = match event.kind {
            Some(config_event::Kind::Snapshot(snap)) => {
                let configs: Vec<ProjectConfig> = snap
                    .configs
                    .iter()
                    .filter_map(|c| decode(c, &me.cell))
                    .collect();
                let applied = configs.iter().map(applied).collect();
                info!(
                    projects = configs.len(),
                    "applied a snapshot of {} project configs",
                    configs.len()
                );
                registry.replace_all(configs);
                on_snapshot();
                applied
            }
            Some(config_event::Kind::Config(item)) => match decode(&item, &me.cell) {
                Some(config) => {
                    let a = applied(&config);
                    if registry.apply(config) {
                        debug!(project.id = %a.project_id, config.version = a.version, "applied config v{}", a.version);
                    }
                    vec![a]
                }
                None => continue,
            },
            None => continue,
        };
        client
            .ack(AckRequest {
                worker_id: me.worker_id.clone(),
                applied,
            })
            .await?;
    }
    Ok(())
}

fn applied(c: &ProjectConfig) -> Applied {
    Applied {
        project_id: c.project_id.to_string(),
        version: c.version,
    }
}

/// The config of `item`, unless it does not decode or belongs to another cell than the worker's
/// (its schema is in another database).
fn decode(item: &proto::config::ProjectConfig, cell: &str) -> Option<ProjectConfig> {
    match serde_json::from_slice::<ProjectConfig>(&item.config_json) {
        Ok(c) if c.cell != cell => {
            warn!(project.id = %item.project_id, "ignoring the config of a project on cell '{}' (this worker serves '{cell}')", c.cell);
            None
        }
        Ok(c) => Some(c),
        Err(e) => {
            warn!(project.id = %item.project_id, "ignoring a config that does not decode: {e}");
            None
        }
    }
}
