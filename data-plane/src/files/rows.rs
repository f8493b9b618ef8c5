//! File metadata rows in the project's `_files` table. Every statement runs in the project's
//! transaction (its role, its schema) and carries the caller's policy predicate
//! ([`crate::policy::rule`] over the files pseudo-collection) in its `WHERE`.

use crate::db::Tx;
use crate::query::filter::{push_pred, Pred};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{Postgres, QueryBuilder, Row};
use uuid::Uuid;

/// A new file's row.
pub struct NewFile<'a> {
    /// File id.
    pub id: Uuid,
    /// Object key in the store.
    pub object_key: &'a str,
    /// Stored name (`<timestamp>_<hex>.<ext>`).
    pub filename: &'a str,
    /// Uploaded name, cleaned.
    pub original_filename: &'a str,
    /// Media type.
    pub content_type: &'a str,
    /// Size in bytes.
    pub size_bytes: i64,
    /// Optional label.
    pub bucket: Option<&'a str>,
    /// Optional link to a record.
    pub collection_id: Option<Uuid>,
    /// Optional link to a record.
    pub record_id: Option<&'a str>,
    /// Optional link to a record's field.
    pub field_name: Option<&'a str>,
    /// Downloadable by anyone.
    pub is_public: bool,
    /// The admin who uploaded it.
    pub uploaded_by_user_id: Option<String>,
    /// The app user who uploaded it.
    pub uploaded_by_app_user_id: Option<String>,
}

/// What serving a file needs, and its `FileOut`.
pub struct FileRow {
    /// File id.
    pub id: Uuid,
    /// Object key in the store.
    pub object_key: String,
    /// Uploaded name.
    pub original_filename: String,
    /// Media type.
    pub content_type: String,
    /// Size in bytes.
    pub size_bytes: i64,
    /// Downloadable by anyone.
    pub is_public: bool,
    /// Upload time.
    pub created_at: DateTime<Utc>,
    /// The contract's `FileOut`.
    pub out: Value,
}

/// `FileOut` built by Postgres (timestamps in the API's usual JSON form).
const OUT: &str = "json_build_object('id', id, 'filename', filename,
    'original_filename', original_filename, 'content_type', content_type,
    'size_bytes', size_bytes, 'bucket', bucket, 'collection_id', collection_id,
    'record_id', record_id, 'field_name', field_name, 'is_public', is_public,
    'uploaded_by_user_id', uploaded_by_user_id,
    'uploaded_by_app_user_id', uploaded_by_app_user_id,
    'created_at', created_at, 'updated_at', updated_at)::text";

fn columns() -> String {
    format!(
        "id, object_key, original_filename, content_type, size_bytes, is_public, created_at, {OUT}"
    )
}

fn file_row(r: sqlx::postgres::PgRow) -> Result<FileRow, sqlx::Error> {
    let out: String = r.try_get(7)?;
    Ok(FileRow {
        id: r.try_get(0)?,
        object_key: r.try_get(1)?,
        original_filename: r.try_get(2)?,
        content_type: r.try_get(3)?,
        size_bytes: r.try_get(4)?,
        is_public: r.try_get(5)?,
        created_at: r.try_get(6)?,
        out: serde_json::from_str(&out).unwrap_or(Value::Null),
    })
}

/// Inserts the row when the caller's `create` rule holds for it (`pred` over the new row's
/// values); `None` when it does not.
pub async fn insert(
    tx: &mut Tx,
    f: &NewFile<'_>,
    pred: &Pred,
) -> Result<Option<FileRow>, sqlx::Error> {
    let mut qb: QueryBuilder<'_, Postgres> = QueryBuilder::new(
        "WITH new AS (SELECT $1::uuid AS id, $2::text AS object_key, $3::text AS filename,
            $4::text AS original_filename, $5::text AS content_type, $6::bigint AS size_bytes,
            $7::text AS bucket, $8::uuid AS collection_id, $9::text AS record_id,
            $10::text AS field_name, $11::boolean AS is_public, $12::text AS uploaded_by_user_id,
            $13::text AS uploaded_by_app_user_id, $12::text AS created_by_user_id,
            $13::text AS created_by_app_user_id, clock_timestamp() AS created_at,
            clock_timestamp() AS updated_at)
         INSERT INTO \"_files\" (id, object_key, filename, original_filename, content_type,
            size_bytes, bucket, collection_id, record_id, field_name, is_public,
            uploaded_by_user_id, uploaded_by_app_user_id)
         SELECT id, object_key, filename, original_filename, content_type, size_bytes, bucket,
            collection_id, record_id, field_name, is_public, uploaded_by_user_id,
            uploaded_by_app_user_id FROM new WHERE ",
    );
    push_pred(&mut qb, pred);
    qb.push(format_args!(" RETURNING {}", columns()));
    let q = qb
        .build()
        .bind(f.id)
        .bind(f.object_key)
        .bind(f.filename)
        .bind(f.original_filename)
        .bind(f.content_type)
        .bind(f.size_bytes)
        .bind(f.bucket)
        .bind(f.collection_id)
        .bind(f.record_id)
        .bind(f.field_name)
        .bind(f.is_public)
        .bind(&f.uploaded_by_user_id)
        .bind(&f.uploaded_by_app_user_id);
    q.fetch_optional(&mut **tx).await?.map(file_row).transpose()
}

/// One file, and whether the caller's rule allows it.
pub async fn get(
    tx: &mut Tx,
    id: Uuid,
    pred: &Pred,
) -> Result<Option<(FileRow, bool)>, sqlx::Error> {
    let mut qb: QueryBuilder<'_, Postgres> =
        QueryBuilder::new(format!("SELECT {}, COALESCE(", columns()));
    push_pred(&mut qb, pred);
    qb.push(", FALSE) FROM \"_files\" WHERE id = ")
        .push_bind(id);
    match qb.build().fetch_optional(&mut **tx).await? {
        Some(r) => {
            let allowed: bool = r.try_get(8)?;
            Ok(Some((file_row(r)?, allowed)))
        }
        None => Ok(None),
    }
}

/// The list's exact-match filters and page.
#[derive(Default)]
pub struct Listing {
    /// `bucket`.
    pub bucket: Option<String>,
    /// `collection_id` (a value that is no UUID matches nothing).
    pub collection_id: Option<String>,
    /// `record_id`.
    pub record_id: Option<String>,
    /// Page size.
    pub limit: i64,
    /// Rows skipped.
    pub offset: i64,
}

/// The files the caller may see, newest first, as `FileOut` values.
pub async fn list(tx: &mut Tx, l: &Listing, pred: &Pred) -> Result<Vec<Value>, sqlx::Error> {
    let mut qb: QueryBuilder<'_, Postgres> =
        QueryBuilder::new(format!("SELECT {OUT} FROM \"_files\" WHERE "));
    push_pred(&mut qb, pred);
    if let Some(b) = &l.bucket {
        qb.push(" AND bucket = ").push_bind(b.clone());
    }
    if let Some(c) = &l.collection_id {
        qb.push(" AND collection_id::text = ")
            .push_bind(c.to_lowercase());
    }
    if let Some(r) = &l.record_id {
        qb.push(" AND record_id = ").push_bind(r.clone());
    }
    qb.push(" ORDER BY created_at DESC, id DESC LIMIT ")
        .push_bind(l.limit)
        .push(" OFFSET ")
        .push_bind(l.offset);
    let rows = qb.build().fetch_all(&mut **tx).await?;
    rows.into_iter()
        .map(|r| {
            let out: String = r.try_get(0)?;
            Ok(serde_json::from_str(&out).unwrap_or(Value::Null))
        })
        .collect()
}

/// Count and total size of the files the caller may see.
pub async fn stats(tx: &mut Tx, pred: &Pred) -> Result<(i64, i64), sqlx::Error> {
    let mut qb: QueryBuilder<'_, Postgres> = QueryBuilder::new(
        "SELECT count(*), coalesce(sum(size_bytes), 0)::bigint FROM \"_files\" WHERE ",
    );
    push_pred(&mut qb, pred);
    let r = qb.build().fetch_one(&mut **tx).await?;
    Ok((r.try_get(0)?, r.try_get(1)?))
}

/// Deletes a file the caller may delete; its object key, `None` when there was none.
pub async fn delete(tx: &mut Tx, id: Uuid, pred: &Pred) -> Result<Option<String>, sqlx::Error> {
    let mut qb: QueryBuilder<'_, Postgres> =
        QueryBuilder::new("DELETE FROM \"_files\" WHERE id = ");
    qb.push_bind(id).push(" AND ");
    push_pred(&mut qb, pred);
    qb.push(" RETURNING object_key");
    let row = qb.build().fetch_optional(&mut **tx).await?;
    row.map(|r| r.try_get(0)).transpose()
}
