//! One control plane leads at a time. Workers and routers must all watch the same hub (its
//! read-your-writes waits count their acknowledgements), so a second control plane (a standby
//! replica, or an old pod during a rollout) waits for the leader lock — a Postgres session
//! advisory lock on a connection of its own — before it migrates, compiles or serves.
//!
//! - **Standby:** its HTTP port answers `/health` (alive) and 503 to everything else, `/ready`
//!   included, so an orchestrator keeps it running but sends it nothing.
//! - **Leader:** the lock's connection is checked every few seconds. If it broke (Postgres
//!   restarted), the lock is taken again on a new one; if another control plane took it
//!   meanwhile, this one reports that it lost the lead and stops.

use axum::http::StatusCode;
use axum::Json;
use serde_json::json;
use sqlx::{Connection, PgConnection};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{error, info, warn};

/// The advisory lock's key (`bfy_lead`).
const KEY: i64 = 0x6266_795f_6c65_6164;
/// How often a standby tries the lock, and the leader checks its connection.
const STANDBY_POLL: Duration = Duration::from_secs(1);
const CHECK_EVERY: Duration = Duration::from_secs(3);

async fn try_lock(url: String) -> Result<Option<PgConnection>, sqlx::Error> {
    let mut conn = PgConnection::connect(&url).await?;
    let (got,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_lock($1)")
        .bind(KEY)
        .fetch_one(&mut conn)
        .await?;
    Ok(got.then_some(conn))
}

/// Serves the standby's answers on `listener` until `done`.
async fn standby(listener: TcpListener, mut done: watch::Receiver<bool>) {
    let app = axum::Router::new()
        .route(
            "/health",
            axum::routing::get(|| async { Json(json!({ "ok": true, "standby": true })) }),
        )
        .fallback(|| async {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "ready": false, "detail": "Standby: another control plane leads" })),
            )
        });
    let signal = async move {
        let _ = done.wait_for(|d| *d).await;
    };
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(signal)
        .await
    {
        warn!("standby listener failed: {e}");
    }
}

/// Takes the leader lock, waiting as a standby (answering on `http_addr`) while another control
/// plane holds it. Returns the connection that holds it.
pub async fn acquire(url: String, http_addr: SocketAddr) -> anyhow::Result<PgConnection> {
    if let Some(conn) = try_lock(url.clone()).await? {
        info!("holding the leader lock");
        return Ok(conn);
    }
    warn!("another control plane holds the leader lock: this one waits as a standby on http://{http_addr} (health 200, everything else 503)");
    let listener = TcpListener::bind(http_addr).await?;
    let (done, on_done) = watch::channel(false);
    let server = tokio::spawn(standby(listener, on_done));
    let conn = loop {
        tokio::time::sleep(STANDBY_POLL).await;
        match try_lock(url.clone()).await {
            Ok(Some(conn)) => break conn,
            Ok(None) => {}
            Err(e) => warn!("standby: the database does not answer ({e}); trying again"),
        }
    };
    done.send_replace(true);
    let _ = server.await;
    info!("took the leader lock: this control plane leads now");
    Ok(conn)
}

/// Keeps the lead until `stop`: checks the lock's connection, takes the lock again on a new one
/// when it broke, and says `lost` when another control plane holds it by then.
pub async fn keep(
    url: String,
    mut conn: PgConnection,
    lost: watch::Sender<bool>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let stopping = tokio::select! {
            _ = tokio::time::sleep(CHECK_EVERY) => false,
            _ = stopped(&mut stop) => true,
        };
        if stopping {
            let _ = conn.close().await;
            return;
        }
        if sqlx::query("SELECT 1").execute(&mut conn).await.is_ok() {
            continue;
        }
        warn!("the leader lock's connection broke; taking the lock again");
        conn = loop {
            match try_lock(url.clone()).await {
                Ok(Some(c)) => break c,
                Ok(None) => {
                    error!("another control plane took the leader lock: this one stops");
                    lost.send_replace(true);
                    return;
                }
                // Postgres is away: nobody can take the lock meanwhile.
                Err(_) => {
                    tokio::select! {
                        _ = tokio::time::sleep(STANDBY_POLL) => {}
                        _ = stopped(&mut stop) => return,
                    }
                }
            }
        };
        info!("holding the leader lock again");
    }
}

/// Resolves once `stop` is true (the borrow of its value ends inside).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
