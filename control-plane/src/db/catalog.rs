//! Collections and fields of a project's catalog. Row structs serialize as the contract's
//! `CollectionOut` / `FieldOut`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::postgres::PgRow;
use sqlx::{PgExecutor, Row};
use uuid::Uuid;

/// `CollectionOut`.
#[derive(Debug, Clone, Serialize)]
pub struct Collection {
    /// Id.
    pub id: Uuid,
    /// Current name.
    pub name: String,
    /// Display name.
    pub display_name: String,
    /// Physical table.
    pub sql_table_name: String,
    /// Not soft-deleted.
    pub is_active: bool,
    /// `_users`.
    pub is_system: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// `FieldOut` (plus compile-only columns that are not serialized).
#[derive(Debug, Clone, Serialize)]
pub struct Field {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Display name.
    pub display_name: String,
    /// Contract type name.
    pub field_type: String,
    /// Physical column.
    pub sql_column_name: String,
    /// NOT NULL.
    pub is_required: bool,
    /// Unique index.
    pub is_unique: bool,
    /// Plain index.
    pub is_indexed: bool,
    /// Default, as text.
    pub default_value: Option<String>,
    /// System field.
    pub is_system: bool,
    /// Hidden from the data API.
    pub is_hidden: bool,
    /// Relation target.
    pub relation_target_collection_id: Option<Uuid>,
    /// Relation kind.
    pub relation_type: Option<String>,
    /// FK action.
    pub relation_on_delete: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Postgres column type.
    #[serde(skip)]
    pub sql_type: String,
    /// Soft-deleted.
    #[serde(skip)]
    pub is_deleted: bool,
}

const COLLECTION_COLS: &str =
    "id, name, display_name, sql_table_name, is_active, is_system, created_at, updated_at";
const FIELD_COLS: &str =
    "id, name, display_name, field_type, sql_column_name, is_required, is_unique, \
    is_indexed, default_value, is_system, is_hidden, relation_target_collection_id, relation_type, \
    relation_on_delete, created_at, updated_at, sql_type, is_deleted";

fn collection(r: PgRow) -> Collection {
    Collection {
        id: r.get(0),
        name: r.get(1),
        display_name: r.get(2),
        sql_table_name: r.get(3),
        is_active: r.get(4),
        is_system: r.get(5),
        created_at: r.get(6),
        updated_at: r.get(7),
    }
}

fn field(r: PgRow) -> Field {
    Field {
        id: r.get(0),
        name: r.get(1),
        display_name: r.get(2),
        field_type: r.get(3),
        sql_column_name: r.get(4),
        is_required: r.get(5),
        is_unique: r.get(6),
        is_indexed: r.get(7),
        default_value: r.get(8),
        is_system: r.get(9),
        is_hidden: r.get(10),
        relation_target_collection_id: r.get(11),
        relation_type: r.get(12),
        relation_on_delete: r.get(13),
        created_at: r.get(14),
        updated_at: r.get(15),
        sql_type: r.get(16),
        is_deleted: r.get(17),
    }
}

/// A collection to insert.
pub struct NewCollection<'a> {
    /// Project.
    pub project_id: Uuid,
    /// Name (also the table name).
    pub name: &'a str,
    /// Display name.
    pub display_name: &'a str,
    /// `_users`.
    pub is_system: bool,
}

/// Inserts a collection; `Ok(None)` when the name is taken in this project.
pub async fn insert_collection(
    db: impl PgExecutor<'_>,
    c: &NewCollection<'_>,
) -> Result<Option<Collection>, sqlx::Error> {
    let sql = format!(
        "INSERT INTO control.collections (id, project_id, name, display_name, sql_table_name, is_system)
         VALUES ($1, $2, $3, $4, $3, $5) ON CONFLICT (project_id, name) DO NOTHING
         RETURNING {COLLECTION_COLS}"
    );
    let row = sqlx::query(&sql)
        .bind(Uuid::new_v4())
        .bind(c.project_id)
        .bind(c.name)
        .bind(c.display_name)
        .bind(c.is_system)
        .fetch_optional(db)
        .await?;
    Ok(row.map(collection))
}

/// Active collections of a project, in creation order.
pub async fn list_collections(
    db: impl PgExecutor<'_>,
    project: Uuid,
) -> Result<Vec<Collection>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLLECTION_COLS} FROM control.collections
         WHERE project_id = $1 AND is_active ORDER BY seq"
    );
    Ok(sqlx::query(&sql)
        .bind(project)
        .fetch_all(db)
        .await?
        .into_iter()
        .map(collection)
        .collect())
}

/// The active collection with this current name.
pub async fn collection_by_name(
    db: impl PgExecutor<'_>,
    project: Uuid,
    name: &str,
) -> Result<Option<Collection>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLLECTION_COLS} FROM control.collections
         WHERE project_id = $1 AND name = $2 AND is_active"
    );
    Ok(sqlx::query(&sql)
        .bind(project)
        .bind(name)
        .fetch_optional(db)
        .await?
        .map(collection))
}

/// A field to insert.
pub struct NewField<'a> {
    /// Collection.
    pub collection_id: Uuid,
    /// Name.
    pub name: &'a str,
    /// Display name.
    pub display_name: &'a str,
    /// Contract type.
    pub field_type: &'a str,
    /// Column.
    pub sql_column_name: &'a str,
    /// Column type.
    pub sql_type: &'a str,
    /// NOT NULL.
    pub is_required: bool,
    /// Unique.
    pub is_unique: bool,
    /// Indexed.
    pub is_indexed: bool,
    /// Default.
    pub default_value: Option<&'a str>,
    /// System.
    pub is_system: bool,
    /// Hidden.
    pub is_hidden: bool,
}

/// Inserts a field; `Ok(None)` when the name is taken in this collection.
pub async fn insert_field(
    db: impl PgExecutor<'_>,
    f: &NewField<'_>,
) -> Result<Option<Field>, sqlx::Error> {
    let sql = format!(
        "INSERT INTO control.fields (id, collection_id, name, display_name, field_type, sql_column_name,
             sql_type, is_required, is_unique, is_indexed, default_value, is_system, is_hidden)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
         ON CONFLICT (collection_id, name) DO NOTHING
         RETURNING {FIELD_COLS}"
    );
    let row = sqlx::query(&sql)
        .bind(Uuid::new_v4())
        .bind(f.collection_id)
        .bind(f.name)
        .bind(f.display_name)
        .bind(f.field_type)
        .bind(f.sql_column_name)
        .bind(f.sql_type)
        .bind(f.is_required)
        .bind(f.is_unique)
        .bind(f.is_indexed)
        .bind(f.default_value)
        .bind(f.is_system)
        .bind(f.is_hidden)
        .fetch_optional(db)
        .await?;
    Ok(row.map(field))
}

/// Every field of a collection (deleted and hidden ones included), in creation order.
pub async fn all_fields(
    db: impl PgExecutor<'_>,
    collection: Uuid,
) -> Result<Vec<Field>, sqlx::Error> {
    let sql =
        format!("SELECT {FIELD_COLS} FROM control.fields WHERE collection_id = $1 ORDER BY seq");
    Ok(sqlx::query(&sql)
        .bind(collection)
        .fetch_all(db)
        .await?
        .into_iter()
        .map(field)
        .collect())
}

/// Every field of every active collection of a project (for compiling), in creation order.
pub async fn project_fields(
    db: impl PgExecutor<'_>,
    project: Uuid,
) -> Result<Vec<(Uuid, Field)>, sqlx::Error> {
    let sql = format!(
        "SELECT {}, f.collection_id FROM control.fields f
         JOIN control.collections c ON c.id = f.collection_id
         WHERE c.project_id = $1 AND c.is_active ORDER BY f.seq",
        FIELD_COLS
            .split(", ")
            .map(|c| format!("f.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let rows = sqlx::query(&sql).bind(project).fetch_all(db).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let cid: Uuid = r.get(18);
            (cid, field(r))
        })
        .collect())
}

/// Member admin ids of a project.
pub async fn member_ids(db: impl PgExecutor<'_>, project: Uuid) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT admin_id FROM control.memberships WHERE project_id = $1 ORDER BY created_at",
    )
    .bind(project)
    .fetch_all(db)
    .await
}
