//! Which RBAC roles app users hold (`spec/rbac.md`): the SQL of `_user_roles` in the project's
//! schema, inside a project transaction (`db::begin`). The roles themselves come from the
//! compiled config; an assignment of a role the config no longer has is ignored (deleting a role
//! removes its assignments anyway).

use crate::db::Tx;
use model::ProjectConfig;
use serde_json::Value;
use uuid::Uuid;

/// Who made an assignment: an admin through `rbac/users/{id}/roles`.
pub const BY_ADMIN: &str = "admin";
/// Who made an assignment: the project's default role given to a new app user.
pub const BY_SYSTEM: &str = "system";

/// The role ids a user holds.
pub async fn held(tx: &mut Tx, user: &str) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT \"role_id\" FROM \"_user_roles\" WHERE \"user_id\" = $1")
        .bind(user)
        .fetch_all(&mut **tx)
        .await
}

/// Gives a user these roles; roles already held are left as they are.
pub async fn assign(
    tx: &mut Tx,
    user: &str,
    roles: &[Uuid],
    assigned_by: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO \"_user_roles\" (\"user_id\", \"role_id\", \"assigned_by\")
         SELECT $1, r, $3 FROM unnest($2::uuid[]) AS r
         ON CONFLICT (\"user_id\", \"role_id\") DO NOTHING",
    )
    .bind(user)
    .bind(roles)
    .bind(assigned_by)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Takes a role from a user; false when the user did not hold it.
pub async fn remove(tx: &mut Tx, user: &str, role: Uuid) -> Result<bool, sqlx::Error> {
    let n = sqlx::query("DELETE FROM \"_user_roles\" WHERE \"user_id\" = $1 AND \"role_id\" = $2")
        .bind(user)
        .bind(role)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    Ok(n == 1)
}

/// Gives a new app user the project's default role, if it has one (`assigned_by = "system"`).
/// Call it in the transaction that created the user.
pub async fn assign_default_role(
    tx: &mut Tx,
    config: &ProjectConfig,
    user: &str,
) -> Result<(), sqlx::Error> {
    match config.roles.iter().find(|r| r.is_default) {
        Some(role) => assign(tx, user, &[role.id], BY_SYSTEM).await,
        None => Ok(()),
    }
}

/// [`assign_default_role`] for a `_users` row just inserted through the data API, given as the
/// JSON the insert returned (its `id` names the user).
pub async fn assign_default_role_to_record(
    tx: &mut Tx,
    config: &ProjectConfig,
    record: &str,
) -> Result<(), sqlx::Error> {
    let row: Value = serde_json::from_str(record).map_err(|e| sqlx::Error::Decode(e.into()))?;
    match row["id"].as_str() {
        Some(id) => assign_default_role(tx, config, id).await,
        None => Err(sqlx::Error::Decode(
            "an inserted app user has no text id".into(),
        )),
    }
}
