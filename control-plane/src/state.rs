//! Shared state of the control plane's handlers, and the publish path every config change takes:
//! commit → compile → publish → wait for workers.

use crate::cells::Cells;
use crate::compile::compile_project;
use crate::config::Config;
use crate::hub::Hub;
use crate::secrets::SecretBox;
use model::ProjectConfig;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, warn};
use uuid::Uuid;

/// Handler state.
#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

/// What the state holds.
pub struct Inner {
    /// Control database.
    pub db: PgPool,
    /// The cells: where each project's schema is.
    pub cells: Cells,
    /// Config hub.
    pub hub: Arc<Hub>,
    /// Admin token signing key.
    pub jwt_secret: String,
    /// Admin access-token lifetime.
    pub access_ttl: Duration,
    /// Admin refresh-token lifetime.
    pub refresh_ttl: Duration,
    /// How long a config change waits for workers.
    pub ack_timeout: Duration,
    /// Seals stored secrets (webhook signing keys).
    pub secrets: SecretBox,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// Builds the state from the config and the open cells (the default one is the control
    /// database).
    pub fn new(config: &Config, cells: Cells, hub: Arc<Hub>) -> Self {
        Self(Arc::new(Inner {
            db: cells
                .pool(crate::cells::DEFAULT)
                .expect("the default cell")
                .clone(),
            cells,
            hub,
            jwt_secret: config.jwt_secret.clone(),
            access_ttl: Duration::from_secs(config.access_token_expire_minutes * 60),
            refresh_ttl: Duration::from_secs(config.refresh_token_expire_days * 86_400),
            ack_timeout: Duration::from_millis(config.config_ack_timeout_ms),
            secrets: SecretBox::from_config(config.secrets_key.as_ref(), &config.jwt_secret),
        }))
    }

    /// Publishes every config compiled at start-up.
    pub fn publish_all(&self, configs: &[ProjectConfig]) {
        self.hub.publish_all(configs.iter().map(|c| {
            let json = serde_json::to_vec(c).expect("config serializes");
            (c.project_id, c.cell.clone(), c.version, json)
        }));
    }

    /// Publishes a compiled config to the hub. Returns the placement table version routers must
    /// reach when the project is new on a cell other than the default one.
    pub fn publish_config(&self, config: &ProjectConfig) -> Option<u64> {
        let json = serde_json::to_vec(config).expect("config serializes");
        self.hub
            .publish(config.project_id, &config.cell, config.version, json)
    }

    /// After a committed change: compiles the project, publishes it and waits (bounded) until
    /// every live worker of its cell applied it (and, for a project new on another cell, every
    /// router knows where it is). Returns the workers (and routers) that still lag.
    pub async fn push_project(&self, project: Uuid) -> Result<Vec<String>, sqlx::Error> {
        let Some(config) =
            compile_project(&self.db, project, &self.jwt_secret, &self.secrets).await?
        else {
            return Ok(Vec::new());
        };
        let version = config.version;
        let started = std::time::Instant::now();
        let table = self.publish_config(&config);
        let routers = async {
            match table {
                Some(table) => self.hub.wait_routers(table, self.ack_timeout).await,
                None => Vec::new(),
            }
        };
        let (mut lagging, routers) = tokio::join!(
            self.hub.wait_applied(project, version, self.ack_timeout),
            routers
        );
        lagging.extend(routers);
        let m = crate::metrics::get();
        m.push.observe(started.elapsed().as_secs_f64());
        if !lagging.is_empty() {
            m.lagging.inc();
        }
        if lagging.is_empty() {
            info!(project.id = %project, config.version = version, "pushed config v{version}");
        } else {
            warn!(project.id = %project, config.version = version, workers = ?lagging, "workers lag behind config v{version}");
        }
        Ok(lagging)
    }
}
