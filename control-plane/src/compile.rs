//! Compiles a project's catalog into its `ProjectConfig`: the only thing workers ever see of it.

use crate::db::{auth, catalog, projects, rules, views};
use model::{
    AuthConfig, CollectionConfig, FieldConfig, FieldType, IdKind, ProjectConfig, RelationConfig,
    RuleConfig, ViewConfig, ViewFilter, ViewOperator, ViewSort,
};
use sqlx::{PgPool, Row};
use std::collections::HashMap;
use uuid::Uuid;

/// Reads the committed catalog of `project` and compiles it. `None` if the project is gone.
pub async fn compile_project(
    db: &PgPool,
    project: Uuid,
    admin_token_key: &str,
) -> Result<Option<ProjectConfig>, sqlx::Error> {
    // One snapshot of the catalog, so the config is consistent with its version.
    let mut tx = db.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(&mut *tx)
        .await?;
    let Some(row) = sqlx::query(
        "SELECT name, db_schema, db_role, config_version FROM control.projects WHERE id = $1",
    )
    .bind(project)
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Ok(None);
    };
    let members = catalog::member_ids(&mut *tx, project).await?;
    let collections = catalog::list_collections(&mut *tx, project).await?;
    let mut collection_aliases: HashMap<Uuid, Vec<String>> = HashMap::new();
    for a in catalog::collection_aliases(&mut *tx, project).await? {
        collection_aliases
            .entry(a.collection_id)
            .or_default()
            .push(a.old_name);
    }
    let mut field_aliases: HashMap<Uuid, Vec<String>> = HashMap::new();
    for a in catalog::field_aliases(&mut *tx, project).await? {
        if let Some(f) = a.field_id {
            field_aliases.entry(f).or_default().push(a.old_name);
        }
    }
    // Active rules, each field's in evaluation order: priority, then creation.
    let mut field_rules: HashMap<Uuid, Vec<RuleConfig>> = HashMap::new();
    for r in rules::active_in_project(&mut *tx, project).await? {
        field_rules.entry(r.field_id).or_default().push(RuleConfig {
            id: r.id,
            rule_type: r.rule_type,
            config: r.config,
            error_message: r.error_message,
        });
    }
    let mut fields: HashMap<Uuid, Vec<FieldConfig>> = HashMap::new();
    for (cid, f) in catalog::project_fields(&mut *tx, project).await? {
        let field_type = FieldType::parse(&f.field_type).unwrap_or(FieldType::String);
        fields.entry(cid).or_default().push(FieldConfig {
            id: f.id,
            name: f.name,
            column: f.sql_column_name,
            field_type,
            sql_type: f.sql_type,
            is_required: f.is_required,
            is_hidden: f.is_hidden,
            is_deleted: f.is_deleted,
            is_system: f.is_system,
            aliases: field_aliases.remove(&f.id).unwrap_or_default(),
            relation: f
                .relation_target_collection_id
                .map(|target| RelationConfig {
                    target_collection_id: target,
                    on_delete: f.relation_on_delete.clone(),
                    display_field: f.relation_display_field.clone(),
                }),
            rules: field_rules.remove(&f.id).unwrap_or_default(),
        });
    }
    let view_rows = views::list_active(&mut *tx, project).await?;
    let auth = AuthConfig {
        settings: auth::settings(&mut *tx, project).await?,
        signing_keys: auth::signing_keys(&mut *tx, project).await?,
        api_keys: auth::live_api_keys(&mut *tx, project).await?,
        oauth_providers: auth::oauth_providers(&mut *tx, project).await?,
    };
    tx.commit().await?;
    let version: i64 = row.get(3);
    Ok(Some(ProjectConfig {
        project_id: project,
        version: version as u64,
        name: row.get(0),
        db_schema: row.get(1),
        db_role: row.get(2),
        admin_token_key: admin_token_key.to_owned(),
        members,
        collections: collections
            .into_iter()
            .map(|c| CollectionConfig {
                id: c.id,
                fields: fields.remove(&c.id).unwrap_or_default(),
                aliases: collection_aliases.remove(&c.id).unwrap_or_default(),
                id_kind: if c.is_system {
                    IdKind::Uuid
                } else {
                    IdKind::Int
                },
                name: c.name,
                table: c.sql_table_name,
                is_system: c.is_system,
                policies: Vec::new(),
            })
            .collect(),
        views: view_rows.into_iter().filter_map(compile_view).collect(),
        auth,
        roles: Vec::new(),
    }))
}

/// A view's executable part. `None` (the view is left out, so it answers 404) if a stored
/// operator is unknown, which validation on write prevents.
fn compile_view(v: views::View) -> Option<ViewConfig> {
    let filters = v
        .def
        .filters
        .unwrap_or_default()
        .into_iter()
        .map(|f| {
            Some(ViewFilter {
                operator: ViewOperator::parse(&f.operator)?,
                field: f.field,
                value: f.value,
                is_param: f.is_param,
                param_name: f.param_name,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    let sorts = v
        .def
        .sorts
        .unwrap_or_default()
        .into_iter()
        .map(|s| ViewSort {
            field: s.field,
            desc: s.desc,
            is_param: s.is_param,
            param_name: s.param_name,
            desc_is_param: s.desc_is_param,
            desc_param_name: s.desc_param_name,
        })
        .collect();
    Some(ViewConfig {
        id: v.id,
        name: v.name,
        version: v.version,
        base_collection_id: v.base_collection_id,
        projection: v.def.projection,
        filters,
        sorts,
        params_schema: v.def.params_schema,
        default_limit: v.default_limit,
        max_limit: v.max_limit,
    })
}

/// Compiles every project (start-up).
pub async fn compile_all(
    db: &PgPool,
    admin_token_key: &str,
) -> Result<Vec<ProjectConfig>, sqlx::Error> {
    let mut out = Vec::new();
    for id in projects::all_ids(db).await? {
        if let Some(c) = compile_project(db, id, admin_token_key).await? {
            out.push(c);
        }
    }
    Ok(out)
}
