//! The configs this worker serves: a lock-free map from project id to its compiled config plus
//! what the worker derives from it once per version (quoted names, select lists, name lookups).
//! A request loads its project `Arc` once; a newer config replaces it atomically.

use arc_swap::ArcSwap;
use model::sql::{Ident, IdentList};
use model::{ApiKeyConfig, CollectionConfig, FieldType, ProjectConfig, ViewConfig};
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

/// The system columns every user-defined collection has, with their types.
pub const SYSTEM_COLUMNS: [(&str, FieldType); 5] = [
    ("id", FieldType::Int),
    ("created_at", FieldType::Datetime),
    ("updated_at", FieldType::Datetime),
    ("created_by_user_id", FieldType::String),
    ("created_by_app_user_id", FieldType::String),
];

/// A column a request may name (filter, sort, write).
#[derive(Debug, Clone)]
pub struct Column {
    /// Quoted column name.
    pub sql: Ident,
    /// Its type, for coercion.
    pub ty: FieldType,
    /// Its Postgres type, for casts.
    pub sql_type: String,
    /// A catalog field that may be written (system columns may not).
    pub writable: bool,
    /// The column may hold NULL (keyset pagination needs sort keys that never do).
    pub nullable: bool,
}

/// A many-to-one relation field of a collection, for expansion.
#[derive(Debug, Clone)]
pub struct Relation {
    /// The quoted key column (`"author_id"`).
    pub column: Ident,
    /// The field's name, quoted: the expansion's key in a record.
    pub key: Ident,
    /// The target collection.
    pub target: Uuid,
}

/// The reverse side of a relation: records of `source` whose `column` points here.
#[derive(Debug, Clone)]
pub struct Reverse {
    /// The expansion key, `<source>_via_<field>`.
    pub key: String,
    /// The expansion key, quoted.
    pub key_ident: Ident,
    /// The collection holding the key.
    pub source: Uuid,
    /// The quoted key column in `source`.
    pub column: Ident,
}

/// A collection, ready to query.
#[derive(Debug)]
pub struct Collection {
    /// The compiled config.
    pub config: CollectionConfig,
    /// `"schema"."table"`.
    pub table: Ident,
    /// The quoted, comma-separated columns a response shows (hidden ones left out).
    pub select_list: IdentList,
    /// The select list's columns as the worker writes their JSON ([`crate::rowjson`]); `None`
    /// when a column's type is one it does not write (Postgres writes that JSON then).
    pub row_fields: Option<Vec<crate::rowjson::Field>>,
    /// Columns by field name and by column name (soft-deleted and hidden fields left out).
    pub columns: HashMap<String, Arc<Column>>,
    /// Live relation fields by field name.
    pub relations: HashMap<String, Relation>,
    /// The fields' validation rules, compiled.
    pub rules: crate::rules::CollectionRules,
}

/// A project, ready to serve.
#[derive(Debug)]
pub struct Project {
    /// The compiled config.
    pub config: ProjectConfig,
    /// Collections by current name, then by unexpired former names (a current name always wins).
    pub collections: HashMap<String, Arc<Collection>>,
    /// Collections by id.
    pub by_id: HashMap<Uuid, Arc<Collection>>,
    /// Reverse relations by target collection id.
    pub reverse: HashMap<Uuid, Vec<Reverse>>,
    /// Active views by name.
    pub views: HashMap<String, Arc<ViewConfig>>,
    /// Live API keys by prefix (several keys may share one; each is then compared by hash).
    pub api_keys: HashMap<String, Vec<ApiKeyConfig>>,
    /// `BEGIN; SET LOCAL ROLE …; SET LOCAL search_path TO …` for this project (names from the
    /// config, quoted).
    pub begin_sql: String,
    /// `SET ROLE …` for reads (session level; every read checks it took effect).
    pub set_role_sql: String,
    /// Some policy names roles, so app users' roles must be read.
    pub roles_matter: bool,
    /// The project's schema, quoted (shared by every read that checks an app user).
    pub quoted_schema: Ident,
    /// The files pseudo-collection (`model::files`): the `_files` table with the file policies.
    pub files: Arc<Collection>,
}

impl Project {
    /// Derives the per-version lookups from a config.
    pub fn new(config: ProjectConfig) -> Self {
        let schema = config.schema_ident();
        let mut collections: HashMap<String, Arc<Collection>> = config
            .collections
            .iter()
            .map(|c| {
                (
                    c.name.clone(),
                    Arc::new(Collection::new(&schema, c.clone())),
                )
            })
            .collect();
        for c in &config.collections {
            let current = collections[&c.name].clone();
            for alias in &c.aliases {
                collections
                    .entry(alias.clone())
                    .or_insert_with(|| current.clone());
            }
        }
        let by_id = config
            .collections
            .iter()
            .map(|c| (c.id, collections[&c.name].clone()))
            .collect();
        let mut reverse: HashMap<Uuid, Vec<Reverse>> = HashMap::new();
        for c in &config.collections {
            for f in &c.fields {
                if let (Some(r), false) = (&f.relation, f.is_deleted || f.is_hidden) {
                    let (key, key_ident) = c.reverse_key(f);
                    reverse
                        .entry(r.target_collection_id)
                        .or_default()
                        .push(Reverse {
                            key,
                            key_ident,
                            source: c.id,
                            column: f.column_ident(),
                        });
                }
            }
        }
        let views = config
            .views
            .iter()
            .map(|v| (v.name.clone(), Arc::new(v.clone())))
            .collect();
        let role = config.role_ident();
        let begin_sql = format!("BEGIN; SET LOCAL ROLE {role}; SET LOCAL search_path TO {schema}");
        let mut api_keys: HashMap<String, Vec<ApiKeyConfig>> = HashMap::new();
        for k in &config.auth.api_keys {
            api_keys
                .entry(k.prefix.clone())
                .or_default()
                .push(k.clone());
        }
        let set_role_sql = format!("SET ROLE {role}");
        let roles_matter = config
            .collections
            .iter()
            .flat_map(|c| &c.policies)
            .chain(&config.files_policies)
            .any(|p| p.roles.as_ref().is_some_and(|r| !r.is_empty()));
        let files = Arc::new(Collection::new(
            &schema,
            model::files::collection(config.project_id, config.files_policies.clone()),
        ));
        Self {
            files,
            roles_matter,
            quoted_schema: schema,
            config,
            collections,
            by_id,
            reverse,
            views,
            api_keys,
            begin_sql,
            set_role_sql,
        }
    }
}

impl Collection {
    fn new(schema: &Ident, config: CollectionConfig) -> Self {
        let mut columns = HashMap::new();
        let mut shown: Vec<Ident> = Vec::new();
        let mut row_fields: Option<Vec<crate::rowjson::Field>> = Some(Vec::new());
        let mut row_field = |name: &str, ident: &Ident, sql_type: &str| {
            let field = crate::rowjson::Kind::of(sql_type)
                .map(|kind| crate::rowjson::Field::new(name, ident.clone(), kind));
            match (row_fields.as_mut(), field) {
                (Some(list), Some(f)) => list.push(f),
                _ => row_fields = None,
            }
        };
        for (name, ty) in SYSTEM_COLUMNS {
            let ty = if name == "id" && config.is_system {
                FieldType::String
            } else {
                ty
            };
            let sql = Ident::fixed(name);
            shown.push(sql.clone());
            row_field(name, &sql, ty.sql_type());
            let col = Column {
                sql,
                ty,
                sql_type: ty.sql_type().into(),
                writable: false,
                nullable: name.starts_with("created_by"),
            };
            columns.insert(name.to_owned(), Arc::new(col));
        }
        let mut aliases = Vec::new();
        let mut relations = HashMap::new();
        for f in &config.fields {
            // Soft-deleted fields keep their column but leave records, filters and writes.
            if f.is_hidden || f.is_deleted {
                continue;
            }
            let sql = f.column_ident();
            shown.push(sql.clone());
            row_field(&f.column, &sql, &f.sql_type);
            // A relation to `_users` holds its text ids; other relations hold integer ids.
            let ty = if f.field_type == FieldType::Relation && f.sql_type != "bigint" {
                FieldType::String
            } else {
                f.field_type
            };
            let col = Arc::new(Column {
                sql: sql.clone(),
                ty,
                sql_type: f.sql_type.clone(),
                writable: true,
                nullable: !f.is_required,
            });
            if let Some(r) = &f.relation {
                relations.insert(
                    f.name.clone(),
                    Relation {
                        column: sql,
                        key: f.name_ident(),
                        target: r.target_collection_id,
                    },
                );
            }
            columns.insert(f.column.clone(), col.clone());
            columns.insert(f.name.clone(), col.clone());
            aliases.extend(f.aliases.iter().map(|a| (a.clone(), col.clone())));
        }
        // A soft-deleted or hidden field keeps its names: no alias may take them over.
        let taken: Vec<&str> = config
            .fields
            .iter()
            .filter(|f| f.is_hidden || f.is_deleted)
            .flat_map(|f| [f.name.as_str(), f.column.as_str()])
            .collect();
        for (alias, col) in aliases {
            if !taken.contains(&alias.as_str()) {
                columns.entry(alias).or_insert(col);
            }
        }
        Self {
            table: schema.qualify(&config.table_ident()),
            select_list: IdentList::join(&shown),
            row_fields,
            columns,
            relations,
            rules: crate::rules::CollectionRules::new(&config),
            config,
        }
    }
}

/// Every project this worker serves.
#[derive(Default)]
pub struct Registry {
    projects: ArcSwap<HashMap<Uuid, Arc<Project>>>,
}

impl Registry {
    /// The project, if this worker has its config.
    pub fn get(&self, id: &Uuid) -> Option<Arc<Project>> {
        self.projects.load().get(id).cloned()
    }

    /// Every project as loaded now.
    pub fn snapshot(&self) -> Arc<HashMap<Uuid, Arc<Project>>> {
        self.projects.load_full()
    }

    /// Replaces everything with a snapshot.
    pub fn replace_all(&self, configs: Vec<ProjectConfig>) {
        let map = configs
            .into_iter()
            .map(|c| (c.project_id, Arc::new(Project::new(c))))
            .collect();
        self.projects.store(Arc::new(map));
    }

    /// Applies one config if it is newer than the one held; returns whether it was applied.
    pub fn apply(&self, config: ProjectConfig) -> bool {
        let id = config.project_id;
        if self
            .get(&id)
            .is_some_and(|p| p.config.version >= config.version)
        {
            return false;
        }
        let project = Arc::new(Project::new(config));
        self.projects.rcu(|old| {
            let mut map = HashMap::clone(old);
            map.insert(id, project.clone());
            map
        });
        true
    }

    /// How many projects are loaded.
    pub fn len(&self) -> usize {
        self.projects.load().len()
    }

    /// True before the first snapshot.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::{FieldConfig, IdKind};

    fn field(name: &str, aliases: &[&str], deleted: bool) -> FieldConfig {
        FieldConfig {
            id: Uuid::new_v4(),
            name: name.into(),
            column: name.into(),
            field_type: FieldType::Int,
            sql_type: "bigint".into(),
            is_required: false,
            is_hidden: false,
            is_deleted: deleted,
            is_system: false,
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
            relation: None,
            rules: vec![],
        }
    }

    fn collection(name: &str, aliases: &[&str], fields: Vec<FieldConfig>) -> CollectionConfig {
        CollectionConfig {
            id: Uuid::new_v4(),
            name: name.into(),
            table: name.into(),
            is_system: false,
            id_kind: IdKind::Int,
            fields,
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
            policies: vec![],
        }
    }

    #[test]
    fn current_names_win_over_aliases_and_deleted_fields_keep_theirs() {
        let config = ProjectConfig {
            project_id: Uuid::new_v4(),
            version: 1,
            name: "p".into(),
            db_schema: "p_1".into(),
            db_role: "p_1".into(),
            cell: "default".into(),
            admin_token_key: "k".into(),
            members: vec![],
            collections: vec![
                collection(
                    "purchases",
                    &["orders", "items"],
                    vec![
                        field("cost", &["price", "amount"], false),
                        field("price", &[], true),
                        field("amount", &[], false),
                    ],
                ),
                collection("orders", &[], vec![]),
            ],
            views: vec![],
            auth: Default::default(),
            roles: vec![],
            webhooks: vec![],
            files_policies: vec![],
            workflows: vec![],
        };
        let p = Project::new(config);
        assert_eq!(p.collections["orders"].config.name, "orders");
        assert_eq!(p.collections["items"].config.name, "purchases");
        let c = &p.collections["purchases"];
        assert!(
            !c.columns.contains_key("price"),
            "a soft-deleted field keeps its name"
        );
        assert_eq!(c.columns["amount"].sql.as_sql(), "\"amount\"");
        assert!(!c.select_list.as_sql().contains("\"price\""));
    }
}

/// A sample project for unit tests: `order` (every field type and a relation to `select`) and
/// `select` — hostile names on purpose.
#[cfg(test)]
pub mod sample {
    use super::*;
    use model::{FieldConfig, IdKind, RelationConfig};

    fn field(name: &str, ty: FieldType, relation: Option<Uuid>) -> FieldConfig {
        FieldConfig {
            id: Uuid::new_v4(),
            name: name.into(),
            column: if relation.is_some() {
                format!("{name}_id")
            } else {
                name.into()
            },
            field_type: ty,
            sql_type: ty.sql_type().into(),
            is_required: name == "title",
            is_hidden: false,
            is_deleted: false,
            is_system: false,
            aliases: vec![],
            relation: relation.map(|t| RelationConfig {
                target_collection_id: t,
                on_delete: "RESTRICT".into(),
                display_field: None,
            }),
            rules: vec![],
        }
    }

    pub fn project() -> Project {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let coll = |id, name: &str, fields| CollectionConfig {
            id,
            name: name.into(),
            table: name.into(),
            is_system: false,
            id_kind: IdKind::Int,
            fields,
            aliases: vec![],
            policies: vec![],
        };
        Project::new(ProjectConfig {
            project_id: Uuid::new_v4(),
            version: 1,
            name: "p".into(),
            db_schema: "p_1".into(),
            db_role: "p_1".into(),
            cell: "default".into(),
            admin_token_key: "k".into(),
            members: vec![],
            collections: vec![
                coll(
                    a,
                    "order",
                    vec![
                        field("title", FieldType::String, None),
                        field("n", FieldType::Int, None),
                        field("x", FieldType::Float, None),
                        field("ok", FieldType::Bool, None),
                        field("day", FieldType::Date, None),
                        field("at", FieldType::Datetime, None),
                        field("u", FieldType::Uuid, None),
                        field("parent", FieldType::Relation, Some(b)),
                        field("meta", FieldType::Json, None),
                    ],
                ),
                coll(b, "select", vec![field("name", FieldType::String, None)]),
            ],
            views: vec![],
            auth: Default::default(),
            roles: vec![],
            webhooks: vec![],
            files_policies: vec![],
            workflows: vec![],
        })
    }
}
