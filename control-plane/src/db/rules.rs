//! Field validation rules. `Rule` serializes as the contract's `RuleOut`
//! (`spec/validations.md`); an empty config is stored as NULL by the callers.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{PgExecutor, Row};
use uuid::Uuid;

/// `RuleOut`.
#[derive(Debug, Clone, Serialize)]
pub struct Rule {
    /// Id.
    pub id: Uuid,
    /// The field it checks.
    pub field_id: Uuid,
    /// One of `model::access::RULE_TYPES`.
    pub rule_type: String,
    /// Settings (`{"min": 3}`), or null.
    pub config: Option<Value>,
    /// Replaces the default failure message.
    pub error_message: Option<String>,
    /// Evaluation order, ascending.
    pub priority: i32,
    /// Inactive rules are kept but never run.
    pub is_active: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// The order rules run in: priority, then creation.
const ORDER: &str = "priority, created_at, id";
const RULE_COLS: &str =
    "id, field_id, rule_type, config, error_message, priority, is_active, created_at, updated_at";

/// A column list qualified with the rules table's alias `r`.
fn of_r(cols: &str) -> String {
    cols.split(", ")
        .map(|c| format!("r.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn rule(r: PgRow) -> Rule {
    Rule {
        id: r.get(0),
        field_id: r.get(1),
        rule_type: r.get(2),
        config: r.get(3),
        error_message: r.get(4),
        priority: r.get(5),
        is_active: r.get(6),
        created_at: r.get(7),
        updated_at: r.get(8),
    }
}

/// A rule to insert (active).
pub struct NewRule<'a> {
    /// Field.
    pub field_id: Uuid,
    /// Rule type.
    pub rule_type: &'a str,
    /// Settings; `None` for none.
    pub config: Option<&'a Value>,
    /// Message.
    pub error_message: Option<&'a str>,
    /// Priority.
    pub priority: i32,
}

/// Inserts an active rule.
pub async fn insert(db: impl PgExecutor<'_>, r: &NewRule<'_>) -> Result<Rule, sqlx::Error> {
    let sql = format!(
        "INSERT INTO control.validation_rules (id, field_id, rule_type, config, error_message, priority)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {RULE_COLS}"
    );
    let row = sqlx::query(&sql)
        .bind(Uuid::new_v4())
        .bind(r.field_id)
        .bind(r.rule_type)
        .bind(r.config)
        .bind(r.error_message)
        .bind(r.priority)
        .fetch_one(db)
        .await?;
    Ok(rule(row))
}

/// The active rules of a field, in evaluation order.
pub async fn active_of_field(
    db: impl PgExecutor<'_>,
    field: Uuid,
) -> Result<Vec<Rule>, sqlx::Error> {
    let sql = format!(
        "SELECT {RULE_COLS} FROM control.validation_rules
         WHERE field_id = $1 AND is_active ORDER BY {ORDER}"
    );
    Ok(sqlx::query(&sql)
        .bind(field)
        .fetch_all(db)
        .await?
        .into_iter()
        .map(rule)
        .collect())
}

/// The rule with this id, if its field belongs to a collection of the project.
pub async fn in_project(
    db: impl PgExecutor<'_>,
    project: Uuid,
    id: Uuid,
) -> Result<Option<Rule>, sqlx::Error> {
    let cols = of_r(RULE_COLS);
    let sql = format!(
        "SELECT {cols} FROM control.validation_rules r
         JOIN control.fields f ON f.id = r.field_id
         JOIN control.collections c ON c.id = f.collection_id
         WHERE r.id = $1 AND c.project_id = $2"
    );
    Ok(sqlx::query(&sql)
        .bind(id)
        .bind(project)
        .fetch_optional(db)
        .await?
        .map(rule))
}

/// Writes a rule's changeable part (config, message, priority, active) and stamps the change.
pub async fn update(db: impl PgExecutor<'_>, r: &Rule) -> Result<Rule, sqlx::Error> {
    let sql = format!(
        "UPDATE control.validation_rules
         SET config = $2, error_message = $3, priority = $4, is_active = $5, updated_at = now()
         WHERE id = $1 RETURNING {RULE_COLS}"
    );
    let row = sqlx::query(&sql)
        .bind(r.id)
        .bind(&r.config)
        .bind(&r.error_message)
        .bind(r.priority)
        .bind(r.is_active)
        .fetch_one(db)
        .await?;
    Ok(rule(row))
}

/// Deletes a rule.
pub async fn delete(db: impl PgExecutor<'_>, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM control.validation_rules WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// The active rules of every field of the project's active collections, in evaluation order
/// (for compiling).
pub async fn active_in_project(
    db: impl PgExecutor<'_>,
    project: Uuid,
) -> Result<Vec<Rule>, sqlx::Error> {
    let cols = of_r(RULE_COLS);
    let order = of_r(ORDER);
    let sql = format!(
        "SELECT {cols} FROM control.validation_rules r
         JOIN control.fields f ON f.id = r.field_id
         JOIN control.collections c ON c.id = f.collection_id
         WHERE c.project_id = $1 AND c.is_active AND r.is_active ORDER BY {order}"
    );
    Ok(sqlx::query(&sql)
        .bind(project)
        .fetch_all(db)
        .await?
        .into_iter()
        .map(rule)
        .collect())
}
