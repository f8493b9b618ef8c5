//! Versioned migrations of the control schema, embedded in the binary and applied at start-up
//! under an advisory lock (several control planes may start at once).

use sqlx::PgPool;
use tracing::info;

/// `(version, name, sql)` in order. Never edit an applied one: add the next.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("../../migrations/0001_init.sql")),
    (
        2,
        "schema_evolution",
        include_str!("../../migrations/0002_schema_evolution.sql"),
    ),
    (3, "views", include_str!("../../migrations/0003_views.sql")),
    (
        4,
        "app_auth",
        include_str!("../../migrations/0004_app_auth.sql"),
    ),
    (
        5,
        "access",
        include_str!("../../migrations/0005_access.sql"),
    ),
    (
        6,
        "validation_rules",
        include_str!("../../migrations/0006_validation_rules.sql"),
    ),
    (
        7,
        "admin_refresh_families",
        include_str!("../../migrations/0007_admin_refresh_families.sql"),
    ),
    (
        8,
        "webhooks",
        include_str!("../../migrations/0008_webhooks.sql"),
    ),
    (
        9,
        "audit_retention",
        include_str!("../../migrations/0009_audit_retention.sql"),
    ),
    (
        10,
        "file_policies",
        include_str!("../../migrations/0010_file_policies.sql"),
    ),
    (
        11,
        "workflows",
        include_str!("../../migrations/0011_workflows.sql"),
    ),
    (
        12,
        "admin_api_tokens",
        include_str!("../../migrations/0012_admin_api_tokens.sql"),
    ),
    (13, "cells", include_str!("../../migrations/0013_cells.sql")),
];

/// Applies every migration not yet recorded in `control.schema_migrations`.
pub async fn run(pool: &PgPool) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(7316202611)")
        .execute(&mut *tx)
        .await?;
    sqlx::raw_sql(
        "CREATE SCHEMA IF NOT EXISTS control;
         CREATE TABLE IF NOT EXISTS control.schema_migrations (
             version bigint PRIMARY KEY, name text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .execute(&mut *tx)
    .await?;
    let done: Vec<i64> = sqlx::query_scalar("SELECT version FROM control.schema_migrations")
        .fetch_all(&mut *tx)
        .await?;
    for (version, name, sql) in MIGRATIONS {
        if done.contains(version) {
            continue;
        }
        sqlx::raw_sql(sql).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO control.schema_migrations (version, name) VALUES ($1, $2)")
            .bind(version)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        info!(
            migration.version = version,
            "applied migration {version}_{name}"
        );
    }
    tx.commit().await
}
