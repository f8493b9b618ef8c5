//! All control-plane SQL. Query functions take an executor so the caller picks pool or
//! transaction; DDL for project schemas lives in `ddl`.

pub mod admins;
pub mod api_tokens;
pub mod auth;
pub mod catalog;
pub mod ddl;
pub mod history;
pub mod migrate;
pub mod policies;
pub mod projects;
pub mod roles;
pub mod rules;
pub mod views;
pub mod webhooks;
pub mod workflows;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use std::str::FromStr;

/// A pool that connects on first use (a cell that may be down at start-up); every connection
/// works in UTC and waits at most 5 s for a connection.
pub fn connect_lazy(url: &str, max: u32) -> Result<PgPool, sqlx::Error> {
    let opts = PgConnectOptions::from_str(url)?.options([("TimeZone", "UTC")]);
    Ok(PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(std::time::Duration::from_secs(5))
        .connect_lazy_with(opts))
}

/// Opens the control plane's pool; every connection works in UTC.
pub async fn connect(url: &str, max: u32) -> Result<PgPool, sqlx::Error> {
    let opts = PgConnectOptions::from_str(url)?.options([("TimeZone", "UTC")]);
    PgPoolOptions::new()
        .max_connections(max)
        .connect_with(opts)
        .await
}
