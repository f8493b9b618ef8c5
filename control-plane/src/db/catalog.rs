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
    /// Relation label field (metadata for the console; shown by the relations endpoints).
    #[serde(skip)]
    pub relation_display_field: Option<String>,
    /// The owning collection.
    #[serde(skip)]
    pub collection_id: Uuid,
}

const COLLECTION_COLS: &str =
    "id, name, display_name, sql_table_name, is_active, is_system, created_at, updated_at";
const FIELD_COLS: &str =
    "id, name, display_name, field_type, sql_column_name, is_required, is_unique, \
    is_indexed, default_value, is_system, is_hidden, relation_target_collection_id, relation_type, \
    relation_on_delete, created_at, updated_at, sql_type, is_deleted, relation_display_field, collection_id";

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
        relation_display_field: r.get(18),
        collection_id: r.get(19),
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
    /// For relation fields.
    pub relation: Option<NewRelation<'a>>,
}

/// The relation part of a relation field.
pub struct NewRelation<'a> {
    /// Target collection.
    pub target: Uuid,
    /// `RESTRICT`, `CASCADE` or `SET NULL`.
    pub on_delete: &'a str,
    /// Label field (metadata).
    pub display_field: Option<&'a str>,
}

/// Inserts a field; `Ok(None)` when the name is taken in this collection.
pub async fn insert_field(
    db: impl PgExecutor<'_>,
    f: &NewField<'_>,
) -> Result<Option<Field>, sqlx::Error> {
    let sql = format!(
        "INSERT INTO control.fields (id, collection_id, name, display_name, field_type, sql_column_name,
             sql_type, is_required, is_unique, is_indexed, default_value, is_system, is_hidden,
             relation_target_collection_id, relation_type, relation_on_delete, relation_display_field)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
             coalesce($16, 'RESTRICT'), $17)
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
        .bind(f.relation.as_ref().map(|r| r.target))
        .bind(f.relation.as_ref().map(|_| "many_to_one"))
        .bind(f.relation.as_ref().map(|r| r.on_delete))
        .bind(f.relation.as_ref().and_then(|r| r.display_field))
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
        "SELECT {} FROM control.fields f
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
            let f = field(r);
            (f.collection_id, f)
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

/// The active collection with this id in this project.
pub async fn collection_by_id(
    db: impl PgExecutor<'_>,
    project: Uuid,
    id: Uuid,
) -> Result<Option<Collection>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLLECTION_COLS} FROM control.collections
         WHERE project_id = $1 AND id = $2 AND is_active"
    );
    Ok(sqlx::query(&sql)
        .bind(project)
        .bind(id)
        .fetch_optional(db)
        .await?
        .map(collection))
}

/// Sets a collection's display name.
pub async fn set_collection_display_name(
    db: impl PgExecutor<'_>,
    id: Uuid,
    display_name: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE control.collections SET display_name = $2, updated_at = now() WHERE id = $1",
    )
    .bind(id)
    .bind(display_name)
    .execute(db)
    .await?;
    Ok(())
}

/// Renames a collection (and its table name); `false` when the new name is taken.
pub async fn rename_collection(
    db: &mut sqlx::PgConnection,
    c: &Collection,
    new_name: &str,
    display_name: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let res = sqlx::query(
        "UPDATE control.collections SET name = $2, sql_table_name = $2,
             display_name = coalesce($3, display_name), updated_at = now()
         WHERE id = $1 AND NOT EXISTS (
             SELECT 1 FROM control.collections o
             WHERE o.project_id = control.collections.project_id AND o.name = $2 AND o.id <> $1)",
    )
    .bind(c.id)
    .bind(new_name)
    .bind(display_name)
    .execute(db)
    .await?;
    Ok(res.rows_affected() == 1)
}

/// Removes a collection from the catalog (its fields and aliases go with it).
pub async fn delete_collection(db: impl PgExecutor<'_>, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM control.collections WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Relation fields (soft-deleted ones included: their foreign keys still exist) pointing at
/// `target`.
pub async fn relations_to(
    db: impl PgExecutor<'_>,
    target: Uuid,
) -> Result<Vec<Field>, sqlx::Error> {
    let sql = format!(
        "SELECT {FIELD_COLS} FROM control.fields
         WHERE relation_target_collection_id = $1 ORDER BY seq"
    );
    Ok(sqlx::query(&sql)
        .bind(target)
        .fetch_all(db)
        .await?
        .into_iter()
        .map(field)
        .collect())
}

/// A field's changeable attributes, written back whole.
pub struct FieldUpdate<'a> {
    /// Display name.
    pub display_name: &'a str,
    /// NOT NULL.
    pub is_required: bool,
    /// Unique index.
    pub is_unique: bool,
    /// Plain index.
    pub is_indexed: bool,
    /// Default, as text.
    pub default_value: Option<&'a str>,
    /// Relation label field.
    pub relation_display_field: Option<&'a str>,
}

/// Writes a field's attributes.
pub async fn update_field(
    db: impl PgExecutor<'_>,
    id: Uuid,
    u: &FieldUpdate<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE control.fields SET display_name = $2, is_required = $3, is_unique = $4,
             is_indexed = $5, default_value = $6, relation_display_field = $7, updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .bind(u.display_name)
    .bind(u.is_required)
    .bind(u.is_unique)
    .bind(u.is_indexed)
    .bind(u.default_value)
    .bind(u.relation_display_field)
    .execute(db)
    .await?;
    Ok(())
}

/// Renames a field and its column.
pub async fn rename_field(
    db: impl PgExecutor<'_>,
    id: Uuid,
    new_name: &str,
    new_column: &str,
    display_name: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE control.fields SET name = $2, sql_column_name = $3,
             display_name = coalesce($4, display_name), updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .bind(new_name)
    .bind(new_column)
    .bind(display_name)
    .execute(db)
    .await?;
    Ok(())
}

/// Soft-deletes (`deleted = true`) or restores a field; returns the deletion time.
pub async fn set_field_deleted(
    db: impl PgExecutor<'_>,
    id: Uuid,
    deleted: bool,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE control.fields SET is_deleted = $2,
             deleted_at = CASE WHEN $2 THEN now() END, updated_at = now()
         WHERE id = $1 RETURNING deleted_at",
    )
    .bind(id)
    .bind(deleted)
    .fetch_one(db)
    .await
}

/// Removes a field from the catalog.
pub async fn delete_field(db: impl PgExecutor<'_>, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM control.fields WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Changes a field's declared and column type.
pub async fn set_field_type(
    db: impl PgExecutor<'_>,
    id: Uuid,
    field_type: &str,
    sql_type: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE control.fields SET field_type = $2, sql_type = $3, updated_at = now() WHERE id = $1",
    )
    .bind(id)
    .bind(field_type)
    .bind(sql_type)
    .execute(db)
    .await?;
    Ok(())
}

/// A rename's alias: the old name keeps resolving until it expires.
#[derive(Debug, Clone, Serialize)]
pub struct Alias {
    /// The name before the rename.
    pub old_name: String,
    /// The renamed collection (also set for field aliases).
    pub collection_id: Uuid,
    /// The renamed field (field aliases only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field_id: Option<Uuid>,
    /// When the alias stops resolving.
    pub expires_at: DateTime<Utc>,
}

/// Records a collection alias.
pub async fn insert_collection_alias(
    db: impl PgExecutor<'_>,
    project: Uuid,
    collection: Uuid,
    old_name: &str,
    expires_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    // The newest rename owns an old name: an older alias of the same name goes.
    sqlx::query(
        "WITH gone AS (DELETE FROM control.collection_aliases WHERE project_id = $2 AND old_name = $4)
         INSERT INTO control.collection_aliases (id, project_id, collection_id, old_name, expires_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(Uuid::new_v4())
    .bind(project)
    .bind(collection)
    .bind(old_name)
    .bind(expires_at)
    .execute(db)
    .await?;
    Ok(())
}

/// Records a field alias.
pub async fn insert_field_alias(
    db: impl PgExecutor<'_>,
    collection: Uuid,
    field: Uuid,
    old_name: &str,
    expires_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    // The newest rename owns an old name: an older alias of the same name goes.
    sqlx::query(
        "WITH gone AS (DELETE FROM control.field_aliases WHERE collection_id = $2 AND old_name = $4)
         INSERT INTO control.field_aliases (id, collection_id, field_id, old_name, expires_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(Uuid::new_v4())
    .bind(collection)
    .bind(field)
    .bind(old_name)
    .bind(expires_at)
    .execute(db)
    .await?;
    Ok(())
}

/// Unexpired collection aliases of a project, oldest first.
pub async fn collection_aliases(
    db: impl PgExecutor<'_>,
    project: Uuid,
) -> Result<Vec<Alias>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT a.old_name, a.collection_id, a.expires_at FROM control.collection_aliases a
         JOIN control.collections c ON c.id = a.collection_id
         WHERE a.project_id = $1 AND a.expires_at > now() AND c.is_active ORDER BY a.seq",
    )
    .bind(project)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Alias {
            old_name: r.get(0),
            collection_id: r.get(1),
            field_id: None,
            expires_at: r.get(2),
        })
        .collect())
}

/// Unexpired field aliases of a project, oldest first.
pub async fn field_aliases(
    db: impl PgExecutor<'_>,
    project: Uuid,
) -> Result<Vec<Alias>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT a.old_name, a.collection_id, a.field_id, a.expires_at FROM control.field_aliases a
         JOIN control.collections c ON c.id = a.collection_id
         WHERE c.project_id = $1 AND a.expires_at > now() AND c.is_active ORDER BY a.seq",
    )
    .bind(project)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Alias {
            old_name: r.get(0),
            collection_id: r.get(1),
            field_id: Some(r.get(2)),
            expires_at: r.get(3),
        })
        .collect())
}

/// Whether a table of the project schema has any row (cheap: stops at the first).
pub async fn table_has_rows(
    db: &mut sqlx::PgConnection,
    schema: &str,
    table: &str,
) -> Result<bool, sqlx::Error> {
    let sql = format!(
        "SELECT EXISTS (SELECT 1 FROM {}.{})",
        super::ddl::ident(schema),
        super::ddl::ident(table)
    );
    sqlx::query_scalar(&sql)
        .persistent(false)
        .fetch_one(db)
        .await
}

/// Postgres' row estimate for a table (no scan), for previews.
pub async fn estimated_rows(
    db: &mut sqlx::PgConnection,
    schema: &str,
    table: &str,
) -> Result<i64, sqlx::Error> {
    let n: Option<f32> = sqlx::query_scalar(
        "SELECT c.reltuples FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = $1 AND c.relname = $2",
    )
    .bind(schema)
    .bind(table)
    .fetch_optional(db)
    .await?;
    Ok(n.map_or(0, |n| n.max(0.0) as i64))
}

/// A field by id.
pub async fn field_by_id(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<Field>, sqlx::Error> {
    let sql = format!("SELECT {FIELD_COLS} FROM control.fields WHERE id = $1");
    Ok(sqlx::query(&sql)
        .bind(id)
        .fetch_optional(db)
        .await?
        .map(field))
}

/// The one-column indexes (name, unique) and foreign keys (name) on a column of a project table,
/// read from Postgres itself, so renames and drops never depend on how a name was built or
/// truncated and never touch another table's objects.
#[derive(Debug, Default)]
pub struct ColumnObjects {
    /// One-column indexes other than the primary key.
    pub indexes: Vec<(String, bool)>,
    /// Foreign-key constraints on the column.
    pub foreign_keys: Vec<String>,
}

/// Reads the [`ColumnObjects`] of `schema.table.column`.
pub async fn column_objects(
    db: &mut sqlx::PgConnection,
    schema: &str,
    table: &str,
    column: &str,
) -> Result<ColumnObjects, sqlx::Error> {
    let indexes = sqlx::query(
        "SELECT i.relname::text, x.indisunique FROM pg_index x
         JOIN pg_class t ON t.oid = x.indrelid
         JOIN pg_namespace n ON n.oid = t.relnamespace
         JOIN pg_class i ON i.oid = x.indexrelid
         JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = x.indkey[0]
         WHERE n.nspname = $1 AND t.relname = $2 AND a.attname = $3
             AND x.indnatts = 1 AND NOT x.indisprimary
         ORDER BY i.relname",
    )
    .bind(schema)
    .bind(table)
    .bind(column)
    .fetch_all(&mut *db)
    .await?
    .into_iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect();
    let foreign_keys = sqlx::query_scalar(
        "SELECT c.conname::text FROM pg_constraint c
         JOIN pg_class t ON t.oid = c.conrelid
         JOIN pg_namespace n ON n.oid = t.relnamespace
         JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = c.conkey[1]
         WHERE n.nspname = $1 AND t.relname = $2 AND a.attname = $3 AND c.contype = 'f'
         ORDER BY c.conname",
    )
    .bind(schema)
    .bind(table)
    .bind(column)
    .fetch_all(&mut *db)
    .await?;
    Ok(ColumnObjects {
        indexes,
        foreign_keys,
    })
}
