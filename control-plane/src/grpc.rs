//! `ConfigService`: workers watch their cell's configs and acknowledge them; routers watch
//! placements and acknowledge them.

use crate::hub::Hub;
use proto::config::{
    config_event, AckRequest, AckResponse, ConfigEvent, Placements, PlacementsAck,
    PlacementsRequest, Snapshot, WatchRequest,
};
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};
use tracing::{info, warn};
use uuid::Uuid;

/// The gRPC service over the hub.
pub struct ConfigGrpc(pub Arc<Hub>);

type EventStream = Pin<Box<dyn Stream<Item = Result<ConfigEvent, Status>> + Send>>;
type PlacementStream = Pin<Box<dyn Stream<Item = Result<Placements, Status>> + Send>>;

fn snapshot(configs: Vec<proto::config::ProjectConfig>) -> ConfigEvent {
    ConfigEvent {
        kind: Some(config_event::Kind::Snapshot(Snapshot { configs })),
    }
}

#[tonic::async_trait]
impl proto::ConfigService for ConfigGrpc {
    type WatchStream = EventStream;
    type WatchPlacementsStream = PlacementStream;

    async fn watch(&self, req: Request<WatchRequest>) -> Result<Response<EventStream>, Status> {
        let req = req.into_inner();
        if req.worker_id.is_empty() || req.http_addr.is_empty() {
            return Err(Status::invalid_argument(
                "worker_id and http_addr are required",
            ));
        }
        let hub = self.0.clone();
        let (tx, rx) = mpsc::channel(64);
        let cell = req.cell.clone();
        let (mut changes, snap) = hub.subscribe(&cell);
        let conn = hub.register(&req);
        info!(worker.id = %req.worker_id, worker.addr = %req.http_addr, worker.cell = %req.cell, "worker connected");
        let mut shutdown = hub.shutdown_signal();
        tokio::spawn(async move {
            let mut next = Some(snapshot(snap));
            loop {
                if let Some(event) = next.take() {
                    if tx.send(Ok(event)).await.is_err() {
                        break;
                    }
                }
                next = tokio::select! {
                    change = changes.recv() => match change {
                        // Another cell's: not for this worker.
                        Ok(item) if item.cell != cell => None,
                        Ok(item) => Some(ConfigEvent { kind: Some(config_event::Kind::Config((*item).clone())) }),
                        // Fell behind: start over with a fresh snapshot.
                        Err(broadcast::error::RecvError::Lagged(_)) => {
                            let (rx, snap) = hub.subscribe(&cell);
                            changes = rx;
                            Some(snapshot(snap))
                        }
                        Err(broadcast::error::RecvError::Closed) => break,
                    },
                    _ = shutdown.wait_for(|s| *s) => break,
                    _ = tx.closed() => break,
                };
            }
            hub.unregister(&req.worker_id, conn);
            info!(worker.id = %req.worker_id, "worker disconnected");
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn ack(&self, req: Request<AckRequest>) -> Result<Response<AckResponse>, Status> {
        let req = req.into_inner();
        let applied = req
            .applied
            .iter()
            .filter_map(|a| match Uuid::parse_str(&a.project_id) {
                Ok(id) => Some((id, a.version)),
                Err(_) => {
                    warn!(worker.id = %req.worker_id, "ack with a bad project id");
                    None
                }
            });
        self.0.ack(&req.worker_id, applied);
        Ok(Response::new(AckResponse {}))
    }

    async fn watch_placements(
        &self,
        req: Request<PlacementsRequest>,
    ) -> Result<Response<PlacementStream>, Status> {
        let router = req.into_inner().router_id;
        let hub = self.0.clone();
        let mut placements = hub.placements();
        let mut shutdown = hub.shutdown_signal();
        // A router without an id (an older one) is served but not waited for.
        let conn = (!router.is_empty()).then(|| hub.register_router(&router));
        let (tx, rx) = mpsc::channel(8);
        tokio::spawn(async move {
            loop {
                let table = Placements::clone(&placements.borrow_and_update());
                if tx.send(Ok(table)).await.is_err() {
                    break;
                }
                tokio::select! {
                    biased;
                    _ = shutdown.wait_for(|s| *s) => break,
                    changed = placements.changed() => if changed.is_err() { break },
                    _ = tx.closed() => break,
                }
            }
            if let Some(conn) = conn {
                hub.unregister_router(&router, conn);
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn ack_placements(
        &self,
        req: Request<PlacementsAck>,
    ) -> Result<Response<AckResponse>, Status> {
        let req = req.into_inner();
        self.0.ack_router(&req.router_id, req.version);
        Ok(Response::new(AckResponse {}))
    }
}
