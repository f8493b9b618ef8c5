//! Views (saved queries) and their version snapshots. Row structs serialize as the contract's
//! `ViewOut` and version items (`spec/views.md`); definitions are stored as JSONB, empty ones as
//! NULL.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{PgExecutor, Row};
use uuid::Uuid;

/// `FilterDef`, with defaults filled in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FilterDef {
    /// Column name.
    pub field: String,
    /// Operator name (`=`, `in`, …).
    pub operator: String,
    /// Fixed value, or the fallback of a parameter.
    #[serde(default)]
    pub value: Value,
    /// The value comes from a request parameter.
    #[serde(default)]
    pub is_param: bool,
    /// The parameter's name.
    #[serde(default)]
    pub param_name: Option<String>,
}

/// `SortDef`, with defaults filled in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SortDef {
    /// Column name.
    pub field: String,
    /// Descending.
    #[serde(default)]
    pub desc: bool,
    /// The column comes from a request parameter.
    #[serde(default)]
    pub is_param: bool,
    /// The column parameter's name.
    #[serde(default)]
    pub param_name: Option<String>,
    /// The direction comes from a request parameter.
    #[serde(default)]
    pub desc_is_param: bool,
    /// The direction parameter's name.
    #[serde(default)]
    pub desc_param_name: Option<String>,
}

/// `JoinDef` (stored, never executed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JoinDef {
    /// Joined collection id.
    pub collection_id: String,
    /// Column of the base collection.
    pub on_field: String,
    /// Column of the joined collection.
    pub target_field: String,
    /// Join kind.
    #[serde(rename = "type")]
    pub kind: String,
}

/// The versioned part of a view: what each version snapshot records. `None` = not set.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Definition {
    /// Selected columns (`None` = all).
    pub projection: Option<Vec<String>>,
    /// Filters.
    pub filters: Option<Vec<FilterDef>>,
    /// Sorts.
    pub sorts: Option<Vec<SortDef>>,
    /// Joins.
    pub joins: Option<Vec<JoinDef>>,
    /// Parameter documentation.
    pub params_schema: Option<Value>,
}

/// `ViewOut`.
#[derive(Debug, Clone, Serialize)]
pub struct View {
    /// Id.
    pub id: Uuid,
    /// Name, unique among the project's active views.
    pub name: String,
    /// Display name.
    pub display_name: String,
    /// Description.
    pub description: Option<String>,
    /// The collection it reads.
    pub base_collection_id: Uuid,
    /// Projection, filters, sorts, joins and params schema.
    #[serde(flatten)]
    pub def: Definition,
    /// Limit when a request gives none.
    pub default_limit: i64,
    /// Largest limit.
    pub max_limit: i64,
    /// 1 on creation, +1 per update.
    pub version: i64,
    /// Not deleted.
    pub is_active: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// One version snapshot of a view.
#[derive(Debug, Clone, Serialize)]
pub struct ViewVersion {
    /// Id.
    pub id: Uuid,
    /// The view.
    pub view_id: Uuid,
    /// The view's version it records.
    pub version: i64,
    /// The definition at that version.
    #[serde(flatten)]
    pub def: Definition,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
    /// The admin who made it.
    pub created_by_user_id: Option<Uuid>,
}

/// The base collection of a view, as far as views need it.
#[derive(Debug, Clone)]
pub struct BaseCollection {
    /// Id.
    pub id: Uuid,
    /// Current name.
    pub name: String,
    /// `_users` (its ids are UUIDs).
    pub is_system: bool,
}

const VIEW_COLS: &str = "id, name, display_name, description, base_collection_id, \
    projection_json, filters_json, sorts_json, joins_json, params_schema_json, \
    default_limit, max_limit, version, is_active, created_at, updated_at";
const VERSION_COLS: &str = "id, view_id, version, projection_json, filters_json, sorts_json, \
    joins_json, params_schema_json, created_at, created_by_user_id";

/// Reads the five JSONB columns starting at `at`.
fn definition(r: &PgRow, at: usize) -> Definition {
    fn json<T: serde::de::DeserializeOwned>(r: &PgRow, i: usize) -> Option<T> {
        r.get::<Option<Json<T>>, _>(i).map(|j| j.0)
    }
    Definition {
        projection: json(r, at),
        filters: json(r, at + 1),
        sorts: json(r, at + 2),
        joins: json(r, at + 3),
        params_schema: json(r, at + 4),
    }
}

fn view(r: PgRow) -> View {
    View {
        id: r.get(0),
        name: r.get(1),
        display_name: r.get(2),
        description: r.get(3),
        base_collection_id: r.get(4),
        def: definition(&r, 5),
        default_limit: r.get(10),
        max_limit: r.get(11),
        version: r.get(12),
        is_active: r.get(13),
        created_at: r.get(14),
        updated_at: r.get(15),
    }
}

fn version(r: PgRow) -> ViewVersion {
    ViewVersion {
        id: r.get(0),
        view_id: r.get(1),
        version: r.get(2),
        def: definition(&r, 3),
        created_at: r.get(8),
        created_by_user_id: r.get(9),
    }
}

/// Binds the five definition columns, in `definition` order.
fn bind_def<'q>(
    q: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    d: &'q Definition,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    q.bind(d.projection.as_ref().map(Json))
        .bind(d.filters.as_ref().map(Json))
        .bind(d.sorts.as_ref().map(Json))
        .bind(d.joins.as_ref().map(Json))
        .bind(d.params_schema.as_ref().map(Json))
}

/// The active collection with this id in the project.
pub async fn base_collection(
    db: impl PgExecutor<'_>,
    project: Uuid,
    id: Uuid,
) -> Result<Option<BaseCollection>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, name, is_system FROM control.collections
         WHERE id = $1 AND project_id = $2 AND is_active",
    )
    .bind(id)
    .bind(project)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| BaseCollection {
        id: r.get(0),
        name: r.get(1),
        is_system: r.get(2),
    }))
}

/// A view to insert (version 1).
pub struct NewView<'a> {
    /// Project.
    pub project_id: Uuid,
    /// Name.
    pub name: &'a str,
    /// Display name.
    pub display_name: &'a str,
    /// Description.
    pub description: Option<&'a str>,
    /// Base collection.
    pub base_collection_id: Uuid,
    /// Definition.
    pub def: &'a Definition,
    /// Default limit.
    pub default_limit: i64,
    /// Max limit.
    pub max_limit: i64,
    /// The creating admin.
    pub created_by: Uuid,
}

/// Inserts a view; `Ok(None)` when an active view of the project has this name.
pub async fn insert(db: impl PgExecutor<'_>, v: &NewView<'_>) -> Result<Option<View>, sqlx::Error> {
    let sql = format!(
        "INSERT INTO control.views (id, project_id, name, display_name, description,
             base_collection_id, default_limit, max_limit, created_by_user_id,
             projection_json, filters_json, sorts_json, joins_json, params_schema_json)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
         ON CONFLICT (project_id, name) WHERE is_active DO NOTHING
         RETURNING {VIEW_COLS}"
    );
    let q = sqlx::query(&sql)
        .bind(Uuid::new_v4())
        .bind(v.project_id)
        .bind(v.name)
        .bind(v.display_name)
        .bind(v.description)
        .bind(v.base_collection_id)
        .bind(v.default_limit)
        .bind(v.max_limit)
        .bind(v.created_by);
    Ok(bind_def(q, v.def).fetch_optional(db).await?.map(view))
}

/// Records the view's current version and definition as a snapshot.
pub async fn insert_version(
    db: impl PgExecutor<'_>,
    v: &View,
    actor: Uuid,
) -> Result<(), sqlx::Error> {
    let q = sqlx::query(
        "INSERT INTO control.view_versions (id, view_id, version, created_by_user_id,
             projection_json, filters_json, sorts_json, joins_json, params_schema_json)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(Uuid::new_v4())
    .bind(v.id)
    .bind(v.version)
    .bind(actor);
    bind_def(q, &v.def).execute(db).await?;
    Ok(())
}

/// Active views of a project, ordered by name.
pub async fn list_active(db: impl PgExecutor<'_>, project: Uuid) -> Result<Vec<View>, sqlx::Error> {
    let sql = format!(
        "SELECT {VIEW_COLS} FROM control.views
         WHERE project_id = $1 AND is_active ORDER BY name, id"
    );
    Ok(sqlx::query(&sql)
        .bind(project)
        .fetch_all(db)
        .await?
        .into_iter()
        .map(view)
        .collect())
}

/// The active view with this name.
pub async fn active_by_name(
    db: impl PgExecutor<'_>,
    project: Uuid,
    name: &str,
) -> Result<Option<View>, sqlx::Error> {
    let sql = format!(
        "SELECT {VIEW_COLS} FROM control.views
         WHERE project_id = $1 AND name = $2 AND is_active"
    );
    Ok(sqlx::query(&sql)
        .bind(project)
        .bind(name)
        .fetch_optional(db)
        .await?
        .map(view))
}

/// Writes a view's display name, description and definition, and gives it the next version.
pub async fn update(db: impl PgExecutor<'_>, v: &View) -> Result<View, sqlx::Error> {
    let sql = format!(
        "UPDATE control.views SET display_name = $2, description = $3,
             projection_json = $4, filters_json = $5, sorts_json = $6, joins_json = $7,
             params_schema_json = $8, version = version + 1, updated_at = now()
         WHERE id = $1 RETURNING {VIEW_COLS}"
    );
    let q = sqlx::query(&sql)
        .bind(v.id)
        .bind(&v.display_name)
        .bind(&v.description);
    Ok(view(bind_def(q, &v.def).fetch_one(db).await?))
}

/// Soft-deletes a view.
pub async fn deactivate(db: impl PgExecutor<'_>, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE control.views SET is_active = false, updated_at = now() WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Every version snapshot of a view, newest first.
pub async fn versions(
    db: impl PgExecutor<'_>,
    view_id: Uuid,
) -> Result<Vec<ViewVersion>, sqlx::Error> {
    let sql = format!(
        "SELECT {VERSION_COLS} FROM control.view_versions
         WHERE view_id = $1 ORDER BY version DESC"
    );
    Ok(sqlx::query(&sql)
        .bind(view_id)
        .fetch_all(db)
        .await?
        .into_iter()
        .map(version)
        .collect())
}

/// Sets a view's limits (schema documents carry them; the PATCH body does not).
pub async fn set_limits(
    db: impl PgExecutor<'_>,
    id: Uuid,
    default_limit: i64,
    max_limit: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE control.views SET default_limit = $2, max_limit = $3 WHERE id = $1")
        .bind(id)
        .bind(default_limit)
        .bind(max_limit)
        .execute(db)
        .await?;
    Ok(())
}

/// Names of the active views that read a collection.
pub async fn names_on_collection(
    db: impl PgExecutor<'_>,
    collection: Uuid,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT name FROM control.views WHERE base_collection_id = $1 AND is_active ORDER BY name",
    )
    .bind(collection)
    .fetch_all(db)
    .await
}
