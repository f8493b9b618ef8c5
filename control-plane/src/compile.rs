//! Compiles a project's catalog into its `ProjectConfig`: the only thing workers ever see of it.

use crate::db::{auth, catalog, policies, projects, roles, rules, views, webhooks, workflows};
use crate::secrets::SecretBox;
use model::access::{
    compile_condition, parse_roles, Action, Cond, PolicyConfig, PrincipalKind, RoleConfig,
};
use model::{
    AuthConfig, CollectionConfig, FieldConfig, FieldType, IdKind, ProjectConfig, RelationConfig,
    RuleConfig, ViewConfig, ViewFilter, ViewOperator, ViewSort, WebhookConfig, WorkflowConfig,
};
use sqlx::{PgPool, Row};
use std::collections::HashMap;
use uuid::Uuid;

/// Reads the committed catalog of `project` and compiles it. `None` if the project is gone.
pub async fn compile_project(
    db: &PgPool,
    project: Uuid,
    admin_token_key: &str,
    secrets: &SecretBox,
) -> Result<Option<ProjectConfig>, sqlx::Error> {
    // One snapshot of the catalog, so the config is consistent with its version.
    let mut tx = db.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(&mut *tx)
        .await?;
    let Some(row) = sqlx::query(
        "SELECT name, db_schema, db_role, config_version, cell FROM control.projects WHERE id = $1",
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
    let mut policy_rows: HashMap<Uuid, Vec<policies::Policy>> = HashMap::new();
    for p in policies::project_active(&mut *tx, project).await? {
        policy_rows.entry(p.collection_id).or_default().push(p);
    }
    let role_rows = roles::list(&mut *tx, project).await?;
    let webhook_rows = webhooks::list(&mut *tx, project).await?;
    let workflow_rows = workflows::list(&mut *tx, project).await?;
    tx.commit().await?;
    let version: i64 = row.get(3);
    Ok(Some(ProjectConfig {
        project_id: project,
        version: version as u64,
        name: row.get(0),
        db_schema: row.get(1),
        db_role: row.get(2),
        cell: row.get(4),
        admin_token_key: admin_token_key.to_owned(),
        members,
        collections: collections
            .into_iter()
            .map(|c| {
                let fields = fields.remove(&c.id).unwrap_or_default();
                let policies = compile_policies(
                    policy_rows.remove(&c.id).unwrap_or_default(),
                    &condition_columns(c.is_system, &fields),
                );
                CollectionConfig {
                    id: c.id,
                    fields,
                    aliases: collection_aliases.remove(&c.id).unwrap_or_default(),
                    id_kind: if c.is_system {
                        IdKind::Uuid
                    } else {
                        IdKind::Int
                    },
                    name: c.name,
                    table: c.sql_table_name,
                    is_system: c.is_system,
                    policies,
                }
            })
            .collect(),
        views: view_rows.into_iter().filter_map(compile_view).collect(),
        auth,
        roles: role_rows.into_iter().map(compile_role).collect(),
        webhooks: webhook_rows
            .into_iter()
            .filter_map(|w| compile_webhook(w, secrets))
            .collect(),
        workflows: workflow_rows
            .into_iter()
            .filter_map(compile_workflow)
            .collect(),
        files_policies: compile_policies(
            policy_rows.remove(&project).unwrap_or_default(),
            &condition_columns(true, &model::files::collection(project, vec![]).fields),
        ),
    }))
}

/// What a condition may name in a collection, by field name and by column name: the live,
/// visible fields and the system columns, each with its physical column and the type values are
/// coerced to (a relation holds the target's ids: text for `_users`, integers otherwise).
fn condition_columns(users: bool, fields: &[FieldConfig]) -> HashMap<String, (String, FieldType)> {
    let id = if users {
        FieldType::String
    } else {
        FieldType::Int
    };
    let mut columns: HashMap<String, (String, FieldType)> = [
        ("id", id),
        ("created_at", FieldType::Datetime),
        ("updated_at", FieldType::Datetime),
        ("created_by_user_id", FieldType::String),
        ("created_by_app_user_id", FieldType::String),
    ]
    .into_iter()
    .map(|(name, ty)| (name.to_owned(), (name.to_owned(), ty)))
    .collect();
    for f in fields.iter().filter(|f| !f.is_deleted && !f.is_hidden) {
        let ty = match f.field_type {
            FieldType::Relation if f.sql_type != "bigint" => FieldType::String,
            FieldType::Relation => FieldType::Int,
            other => other,
        };
        columns.insert(f.column.clone(), (f.column.clone(), ty));
        columns.insert(f.name.clone(), (f.column.clone(), ty));
    }
    columns
}

/// A collection's active policies (already in evaluation order), compiled.
fn compile_policies(
    rows: Vec<policies::Policy>,
    columns: &HashMap<String, (String, FieldType)>,
) -> Vec<PolicyConfig> {
    let resolve = |name: &str| columns.get(name).cloned();
    rows.into_iter()
        .filter_map(|p| {
            // Checked on write; a policy for no known action could never match anyway.
            let action = Action::parse(&p.action)?;
            let condition = compile_condition(p.condition_json.as_deref(), &resolve)
                .unwrap_or_else(|e| {
                    tracing::warn!(policy.id = %p.id, "stored condition does not compile ({e}): the policy never matches");
                    Cond::Const(false)
                });
            Some(PolicyConfig {
                id: p.id,
                action,
                allow: p.effect == "allow",
                // An unreadable list (checked on write) names no one.
                principals: PrincipalKind::parse_list(p.allowed_principals.as_deref())
                    .unwrap_or_default(),
                require_email_verified: p.require_email_verified,
                roles: parse_roles(p.allowed_roles.as_deref()),
                condition,
                name: p.name,
            })
        })
        .collect()
}

fn compile_role(r: roles::Role) -> RoleConfig {
    RoleConfig {
        id: r.id,
        name: r.name,
        is_default: r.is_default,
        display_name: r.display_name,
        description: r.description,
        is_system: r.is_system,
        created_at: Some(r.created_at),
        updated_at: Some(r.updated_at),
    }
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

/// A webhook with its keys opened: the current one, and a rotated-out one while its grace
/// period lasts. A webhook whose key does not open (SECRETS_KEY changed) is left out, with a
/// warning: it could not sign anything.
fn compile_webhook(w: webhooks::Webhook, secrets: &SecretBox) -> Option<WebhookConfig> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let context = w.id.as_bytes();
    let Ok(current) = secrets.open(&w.secret_sealed, context) else {
        tracing::warn!(project.id = %w.project_id, webhook.id = %w.id, "the signing key of webhook {} does not open with SECRETS_KEY; it delivers nothing until its secret is rotated", w.id);
        return None;
    };
    let mut keys = vec![b64.encode(current)];
    let mut previous_key_until = None;
    if let Some((sealed, until)) = &w.previous_secret {
        if *until > chrono::Utc::now() {
            if let Ok(previous) = secrets.open(sealed, context) {
                keys.push(b64.encode(previous));
                previous_key_until = Some(*until);
            }
        }
    }
    Some(WebhookConfig {
        id: w.id,
        url: w.url,
        events: w.events,
        collection_ids: w.collection_ids,
        is_active: w.is_active,
        keys,
        previous_key_until,
    })
}

/// A workflow as workers run it. One whose stored definition no longer passes the checks
/// (saved by an older version) is left out, with a warning.
fn compile_workflow(w: workflows::Workflow) -> Option<WorkflowConfig> {
    let empty = serde_json::Map::new();
    let steps: &[serde_json::Value] = w.steps.as_array().map_or(&[], Vec::as_slice);
    let compiled = model::workflows::Definition {
        trigger_type: &w.trigger_type,
        trigger_config: w.trigger_config.as_object().unwrap_or(&empty),
        steps,
    }
    .compile();
    match compiled {
        Ok((trigger, steps)) => Some(WorkflowConfig {
            id: w.id,
            name: w.name,
            trigger,
            steps,
            is_active: w.is_active,
            created_by: w.created_by,
        }),
        Err(problems) => {
            tracing::warn!(project.id = %w.project_id, workflow.id = %w.id, "workflow {} does not pass the checks and does not run: {}", w.name, serde_json::Value::Array(problems));
            None
        }
    }
}

/// Compiles every project (start-up).
pub async fn compile_all(
    db: &PgPool,
    admin_token_key: &str,
    secrets: &SecretBox,
) -> Result<Vec<ProjectConfig>, sqlx::Error> {
    let mut out = Vec::new();
    for id in projects::all_ids(db).await? {
        if let Some(c) = compile_project(db, id, admin_token_key, secrets).await? {
            out.push(c);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::access::{CmpOp, Operand};

    fn field(name: &str, column: &str, ty: FieldType, sql_type: &str) -> FieldConfig {
        FieldConfig {
            id: Uuid::new_v4(),
            name: name.into(),
            column: column.into(),
            field_type: ty,
            sql_type: sql_type.into(),
            is_required: false,
            is_hidden: false,
            is_deleted: false,
            is_system: false,
            aliases: vec![],
            relation: None,
            rules: vec![],
        }
    }

    fn policy(
        condition: Option<&str>,
        principals: Option<&str>,
        roles: Option<&str>,
    ) -> policies::Policy {
        policies::Policy {
            id: Uuid::new_v4(),
            collection_id: Uuid::new_v4(),
            name: "p".into(),
            action: "read".into(),
            effect: "deny".into(),
            condition_json: condition.map(str::to_owned),
            is_active: true,
            priority: 0,
            allowed_principals: principals.map(str::to_owned),
            require_email_verified: false,
            allowed_roles: roles.map(str::to_owned),
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn conditions_name_live_visible_fields_and_system_columns() {
        let mut hidden = field("secret", "secret", FieldType::String, "text");
        hidden.is_hidden = true;
        let mut gone = field("old", "old", FieldType::Int, "bigint");
        gone.is_deleted = true;
        let fields = [
            field("we\"ird name", "we\"ird_col", FieldType::Int, "bigint"),
            field("owner", "owner_id", FieldType::Relation, "text"),
            field("author", "author_id", FieldType::Relation, "bigint"),
            hidden,
            gone,
        ];
        let cols = condition_columns(false, &fields);
        let col = |n: &str| cols.get(n).cloned();
        assert_eq!(
            col("we\"ird name"),
            Some(("we\"ird_col".into(), FieldType::Int))
        );
        assert_eq!(
            col("we\"ird_col"),
            Some(("we\"ird_col".into(), FieldType::Int))
        );
        assert_eq!(col("owner"), Some(("owner_id".into(), FieldType::String)));
        assert_eq!(col("author_id"), Some(("author_id".into(), FieldType::Int)));
        assert_eq!(col("id"), Some(("id".into(), FieldType::Int)));
        assert_eq!(
            col("updated_at"),
            Some(("updated_at".into(), FieldType::Datetime))
        );
        assert_eq!(col("secret"), None);
        assert_eq!(col("old"), None);
        let users = condition_columns(true, &[]);
        assert_eq!(users.get("id"), Some(&("id".into(), FieldType::String)));
    }

    #[test]
    fn policies_compile_their_condition_principals_and_roles() {
        let cols = condition_columns(false, &[field("n", "n_col", FieldType::Int, "bigint")]);
        let out = compile_policies(
            vec![
                policy(
                    Some(r#"{"type":"field_equals","field":"n","value":3}"#),
                    Some(" app_user , anonymous"),
                    Some(" editor, ,admin "),
                ),
                policy(Some("[]"), Some("root"), None),
            ],
            &cols,
        );
        assert_eq!(out.len(), 2);
        assert_eq!(
            out[0].condition,
            Cond::Compare {
                column: "n_col".into(),
                op: CmpOp::Eq,
                operand: Operand::Value("3".into()),
            }
        );
        assert_eq!(
            out[0].principals,
            [PrincipalKind::AppUser, PrincipalKind::Anonymous]
        );
        assert_eq!(
            out[0].roles,
            Some(vec!["editor".to_owned(), "admin".to_owned()])
        );
        assert!(!out[0].allow);
        assert_eq!(out[0].action, Action::Read);
        // What should never be stored applies to no one and never matches.
        assert_eq!(out[1].condition, Cond::Const(false));
        assert!(out[1].principals.is_empty());
        assert_eq!(out[1].roles, None);
    }
}
