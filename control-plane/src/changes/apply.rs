//! `Applier`: runs [`Change`]s inside the caller's transaction. Each change checks its request
//! against the catalog in the contract's order (with its status and message), writes the catalog,
//! runs its DDL as the project role and appends its schema op. Nothing here commits.

use super::{is_safe_conversion, Change};
use crate::cells::Unit;
use crate::db::catalog::{self, Collection, Field};
use crate::db::ddl;
use crate::db::ddl::ident as q;
use crate::db::projects::{self, Project};
use crate::http::error::ApiError;
use crate::http::views;
use crate::names::{is_postgres_system_column, is_valid_slug, SYSTEM_COLUMNS};
use chrono::{Duration, Utc};
use model::sql::quote_literal;
use model::value::coerce_text;
use model::FieldType;
use serde_json::{json, Value};
use uuid::Uuid;

/// How long an old name keeps resolving after a rename.
const ALIAS_DAYS: i64 = 30;
/// Tables above this many rows get a warning when a change rewrites or locks them.
const BIG_TABLE_ROWS: i64 = 10_000;

/// What one applied change produced.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// `SchemaOperationResponse.details`.
    pub details: Value,
    /// The collection it touched.
    pub collection_id: Option<Uuid>,
    /// The field it touched.
    pub field_id: Option<Uuid>,
}

/// Runs changes in one open transaction, collecting the SQL it ran and the warnings.
pub struct Applier<'c> {
    unit: &'c mut Unit,
    project: &'c Project,
    actor: Uuid,
    /// SQL run so far, in order (catalog-only changes add a `--` comment).
    pub steps: Vec<String>,
    /// What the caller should know (data loss, table rewrites, aliases).
    pub warnings: Vec<String>,
}

fn system_field(name: &str) -> ApiError {
    ApiError::BadRequest(format!(
        "Field '{name}' is a system field and cannot be modified."
    ))
}

fn system_collection(verb: &str) -> ApiError {
    ApiError::BadRequest(format!("System collection '_users' cannot be {verb}."))
}

fn check_display_name(s: &str) -> Result<(), ApiError> {
    let n = s.chars().count();
    if (1..=255).contains(&n) {
        Ok(())
    } else {
        Err(ApiError::BadRequest(
            "display_name must have 1 to 255 characters".into(),
        ))
    }
}

/// Maps a failed DDL statement: a lock wait that ran out is a 409, existing rows that do not fit
/// the change a 400/409 naming the cause; anything else is ours (500).
fn ddl_error(e: sqlx::Error) -> ApiError {
    let code = e
        .as_database_error()
        .and_then(|d| d.code().map(|c| c.into_owned()));
    let msg = e
        .as_database_error()
        .map(|d| d.message().to_owned())
        .unwrap_or_default();
    match code.as_deref() {
        Some("55P03") => ApiError::Conflict("Could not acquire lock for schema change".into()),
        Some("42P07" | "42710") => ApiError::Conflict(
            format!("A table, index or constraint of that name already exists: {msg}").into(),
        ),
        Some("23505") => {
            ApiError::Conflict(format!("Existing records do not allow this change: {msg}").into())
        }
        Some(c) if c.starts_with("22") || c.starts_with("23") || c == "42804" => {
            ApiError::BadRequest(format!("Existing records do not allow this change: {msg}"))
        }
        _ => ApiError::Internal(e.into()),
    }
}

impl<'c> Applier<'c> {
    /// An applier over an open change in which `project` is locked.
    pub fn new(unit: &'c mut Unit, project: &'c Project, actor: Uuid) -> Self {
        Self {
            unit,
            project,
            actor,
            steps: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Runs one change.
    pub async fn apply(&mut self, change: &Change) -> Result<Outcome, ApiError> {
        match change {
            Change::CreateCollection { name, display_name } => {
                self.create_collection(name, display_name).await
            }
            Change::UpdateCollection {
                collection,
                display_name,
            } => self.update_collection(collection, display_name).await,
            Change::DeleteCollection { collection, force } => {
                self.delete_collection(collection, *force).await
            }
            Change::RenameCollection {
                collection,
                new_name,
                new_display_name,
            } => {
                self.rename_collection(collection, new_name, new_display_name.as_deref())
                    .await
            }
            Change::AddField { .. } => self.add_field(change).await,
            Change::AddRelation { .. } => self.add_relation(change).await,
            Change::UpdateField { .. } => self.update_field(change).await,
            Change::RenameField {
                collection,
                field,
                new_name,
                new_display_name,
            } => {
                self.rename_field(collection, field, new_name, new_display_name.as_deref())
                    .await
            }
            Change::SoftDeleteField { collection, field } => {
                self.soft_delete_field(collection, field).await
            }
            Change::RestoreField { collection, field } => {
                self.restore_field(collection, field).await
            }
            Change::HardDeleteField {
                collection,
                field,
                force,
            } => self.hard_delete_field(collection, field, *force).await,
            Change::ChangeFieldType {
                collection,
                field,
                new_type,
            } => self.change_field_type(collection, field, new_type).await,
            Change::PutView { view } => {
                views::put_from_document(self.unit.control(), self.project.id, self.actor, view)
                    .await?;
                let name = view["name"].as_str().unwrap_or_default();
                self.steps
                    .push(format!("-- Create or update view '{name}' (no DDL)"));
                Ok(Outcome {
                    details: json!({ "view_name": name }),
                    ..Outcome::default()
                })
            }
            Change::DeleteView { name } => {
                views::delete_by_name(self.unit.control(), self.project.id, name).await?;
                self.steps.push(format!("-- Delete view '{name}' (no DDL)"));
                Ok(Outcome {
                    details: json!({ "view_name": name, "deleted": true }),
                    ..Outcome::default()
                })
            }
        }
    }

    async fn ddl(&mut self, stmts: Vec<String>) -> Result<(), ApiError> {
        ddl::as_project_role(self.unit.cell(), &self.project.db_role, &stmts)
            .await
            .map_err(ddl_error)?;
        self.steps.extend(stmts);
        Ok(())
    }

    async fn log(
        &mut self,
        collection: Option<Uuid>,
        op_type: &str,
        payload: Value,
    ) -> Result<(), ApiError> {
        projects::log_schema_op(
            self.unit.control(),
            self.project.id,
            collection,
            op_type,
            payload,
            self.actor,
        )
        .await?;
        Ok(())
    }

    fn table(&self, c: &Collection) -> String {
        ddl::table(&self.project.db_schema, &c.sql_table_name)
    }

    async fn warn_if_big(&mut self, c: &Collection, what: &str) -> Result<(), ApiError> {
        let n =
            catalog::estimated_rows(self.unit.cell(), &self.project.db_schema, &c.sql_table_name)
                .await?;
        if n >= BIG_TABLE_ROWS {
            self.warnings
                .push(format!("'{}' has about {n} rows: {what}", c.name));
        }
        Ok(())
    }

    /// Statements that rename the indexes and foreign keys found on `old` (table, column) to the
    /// names they get on `new`, as creation names them ([`ddl::index_name`],
    /// [`ddl::foreign_key_name`]). Run before the table or column is renamed.
    async fn renamed_objects(
        &mut self,
        old: (&str, &str),
        new: (&str, &str),
    ) -> Result<Vec<String>, ApiError> {
        let schema = self.project.db_schema.clone();
        let found = catalog::column_objects(self.unit.cell(), &schema, old.0, old.1).await?;
        let mut stmts = Vec::new();
        for (name, unique) in found.indexes {
            let prefix = if unique { "uq" } else { "ix" };
            let to = ddl::index_name(prefix, new.0, new.1);
            stmts.push(ddl::rename_index(&schema, &name, &to));
        }
        for name in found.foreign_keys {
            stmts.push(format!(
                "ALTER TABLE {} RENAME CONSTRAINT {} TO {}",
                ddl::table(&schema, old.0),
                q(&name),
                q(&ddl::foreign_key_name(new.0, new.1))
            ));
        }
        Ok(stmts)
    }

    /// An active collection of the project, by id or current name.
    pub async fn collection(&mut self, r: &str) -> Result<Collection, ApiError> {
        let found = match Uuid::parse_str(r) {
            Ok(id) => catalog::collection_by_id(self.unit.control(), self.project.id, id).await?,
            Err(_) => catalog::collection_by_name(self.unit.control(), self.project.id, r).await?,
        };
        found.ok_or(ApiError::NotFound("Collection not found".into()))
    }

    /// A field of the collection (soft-deleted ones included), by id or name.
    pub async fn field(&mut self, c: &Collection, r: &str) -> Result<Field, ApiError> {
        let id = Uuid::parse_str(r).ok();
        catalog::all_fields(self.unit.control(), c.id)
            .await?
            .into_iter()
            .find(|f| Some(f.id) == id || f.name == r)
            .ok_or(ApiError::NotFound("Field not found".into()))
    }

    async fn create_collection(
        &mut self,
        name: &str,
        display_name: &str,
    ) -> Result<Outcome, ApiError> {
        if !is_valid_slug(name) {
            return Err(ApiError::BadRequest("Invalid collection name. Must be lowercase, start with a letter, and contain only letters, numbers, and underscores.".into()));
        }
        check_display_name(display_name)?;
        let new = catalog::NewCollection {
            project_id: self.project.id,
            name,
            display_name,
            is_system: false,
        };
        let c = catalog::insert_collection(self.unit.control(), &new)
            .await?
            .ok_or(ApiError::Conflict(
                "Collection with this name already exists".into(),
            ))?;
        let schema = self.project.db_schema.clone();
        self.ddl(vec![ddl::create_collection_table(&schema, name)])
            .await?;
        let payload = json!({ "schema_name": schema, "table_name": name, "collection_name": name });
        self.log(Some(c.id), "create_table", payload).await?;
        Ok(Outcome {
            details: json!({ "collection_id": c.id, "name": name }),
            collection_id: Some(c.id),
            field_id: None,
        })
    }

    async fn update_collection(
        &mut self,
        r: &str,
        display_name: &str,
    ) -> Result<Outcome, ApiError> {
        let c = self.collection(r).await?;
        if c.is_system {
            return Err(system_collection("changed"));
        }
        check_display_name(display_name)?;
        catalog::set_collection_display_name(self.unit.control(), c.id, display_name).await?;
        self.steps.push(format!(
            "-- Set the display name of '{}' to '{display_name}' (no DDL)",
            c.name
        ));
        Ok(Outcome {
            details: json!({ "collection_id": c.id, "display_name": display_name }),
            collection_id: Some(c.id),
            field_id: None,
        })
    }

    async fn delete_collection(&mut self, r: &str, force: bool) -> Result<Outcome, ApiError> {
        let c = self.collection(r).await?;
        if c.is_system {
            return Err(system_collection("deleted"));
        }
        for f in catalog::relations_to(self.unit.control(), c.id).await? {
            if f.collection_id != c.id {
                let source = catalog::collection_by_id(
                    self.unit.control(),
                    self.project.id,
                    f.collection_id,
                )
                .await?
                .map_or_else(|| f.collection_id.to_string(), |s| s.name);
                return Err(ApiError::Conflict(format!(
                    "Collection '{}' is the target of relation '{source}.{}'; hard-delete that field first",
                    c.name, f.name
                ).into()));
            }
        }
        // No record may slip in between the check and the drop.
        let lock = format!("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE", self.table(&c));
        ddl::as_project_role(self.unit.cell(), &self.project.db_role, &[lock])
            .await
            .map_err(ddl_error)?;
        let has_rows =
            catalog::table_has_rows(self.unit.cell(), &self.project.db_schema, &c.sql_table_name)
                .await?;
        if has_rows && !force {
            return Err(ApiError::Conflict(
                format!(
                "Collection '{}' has records; pass force=true to delete it with all its records",
                c.name
            )
                .into(),
            ));
        }
        for view in crate::db::views::names_on_collection(self.unit.control(), c.id).await? {
            self.warnings.push(format!(
                "View '{view}' reads '{}' and is deleted with it",
                c.name
            ));
        }
        let table = self.table(&c);
        self.ddl(vec![format!("DROP TABLE {table}")]).await?;
        catalog::delete_collection(self.unit.control(), c.id).await?;
        self.warnings.push(format!(
            "THIS WILL PERMANENTLY DELETE COLLECTION '{}' AND ALL ITS RECORDS",
            c.name
        ));
        let payload = json!({ "table_name": c.sql_table_name, "collection_name": c.name, "had_records": has_rows });
        self.log(Some(c.id), "drop_table", payload).await?;
        Ok(Outcome {
            details: json!({ "collection_id": c.id, "name": c.name, "deleted": true }),
            collection_id: Some(c.id),
            field_id: None,
        })
    }

    async fn rename_collection(
        &mut self,
        r: &str,
        new_name: &str,
        new_display_name: Option<&str>,
    ) -> Result<Outcome, ApiError> {
        let c = self.collection(r).await?;
        if c.is_system {
            return Err(system_collection("renamed"));
        }
        if !is_valid_slug(new_name) {
            return Err(ApiError::BadRequest(format!(
                "Invalid collection name: {new_name}"
            )));
        }
        if new_name == c.name {
            return Err(ApiError::BadRequest(
                "New name is the same as the current name".into(),
            ));
        }
        let display = new_display_name.filter(|d| !d.is_empty());
        if let Some(d) = display {
            check_display_name(d)?;
        }
        if !catalog::rename_collection(self.unit.control(), &c, new_name, display).await? {
            return Err(ApiError::Conflict(
                "Collection with this name already exists".into(),
            ));
        }
        // Indexes and foreign keys first, while the table still has its old name.
        let mut stmts = Vec::new();
        for f in catalog::all_fields(self.unit.control(), c.id).await? {
            let col = f.sql_column_name.as_str();
            let renames = self
                .renamed_objects((&c.sql_table_name, col), (new_name, col))
                .await?;
            stmts.extend(renames);
        }
        stmts.push(format!(
            "ALTER TABLE {} RENAME TO {}",
            self.table(&c),
            q(new_name)
        ));
        self.ddl(stmts).await?;
        let expires = Utc::now() + Duration::days(ALIAS_DAYS);
        catalog::insert_collection_alias(
            self.unit.control(),
            self.project.id,
            c.id,
            &c.name,
            expires,
        )
        .await?;
        self.warnings.push(format!(
            "Old name '{}' will be aliased for {ALIAS_DAYS} days",
            c.name
        ));
        let payload = json!({
            "old_name": c.name, "new_name": new_name, "old_sql_table_name": c.sql_table_name,
            "new_sql_table_name": new_name, "alias_expires_at": expires,
        });
        self.log(Some(c.id), "rename_table", payload).await?;
        Ok(Outcome {
            details: json!({ "old_name": c.name, "new_name": new_name, "alias_expires_at": expires }),
            collection_id: Some(c.id),
            field_id: None,
        })
    }

    /// 400 for a system field or column name (ours or Postgres's), 409 for a name or column
    /// already used.
    async fn check_free_name(
        &mut self,
        c: &Collection,
        name: &str,
        column: &str,
        except: Option<Uuid>,
    ) -> Result<(), ApiError> {
        if is_postgres_system_column(name) || is_postgres_system_column(column) {
            return Err(ApiError::BadRequest(format!(
                "Invalid field name: '{name}' is a Postgres system column name (ctid, xmin, xmax, cmin, cmax, tableoid, oid)"
            )));
        }
        let existing = catalog::all_fields(self.unit.control(), c.id).await?;
        if let Some(clash) = existing.iter().find(|f| {
            Some(f.id) != except
                && (f.name == name
                    || f.sql_column_name == name
                    || f.name == column
                    || f.sql_column_name == column)
        }) {
            return Err(if clash.is_system {
                system_field(name)
            } else {
                ApiError::Conflict("Field with this name already exists".into())
            });
        }
        if SYSTEM_COLUMNS.contains(&name) || SYSTEM_COLUMNS.contains(&column) {
            return Err(system_field(name));
        }
        Ok(())
    }

    async fn add_field(&mut self, change: &Change) -> Result<Outcome, ApiError> {
        let Change::AddField {
            collection,
            name,
            display_name,
            field_type,
            is_required,
            is_unique,
            is_indexed,
            default_value,
        } = change
        else {
            unreachable!("add_field takes AddField")
        };
        let c = self.collection(collection).await?;
        if !is_valid_slug(name) {
            return Err(ApiError::BadRequest("Invalid field name. Must be lowercase, start with a letter, and contain only letters, numbers, and underscores.".into()));
        }
        let ty = FieldType::parse(field_type)
            .filter(|t| FieldType::CREATABLE.contains(t))
            .ok_or_else(|| ApiError::BadRequest(FieldType::invalid_type_detail()))?;
        if ty == FieldType::Json && *is_unique {
            return Err(json_unique());
        }
        self.check_free_name(&c, name, name, None).await?;
        if *is_required && default_value.is_none() {
            return Err(ApiError::BadRequest(
                "Required fields must have a default value for existing rows".into(),
            ));
        }
        check_display_name(display_name)?;
        let default =
            match default_value {
                Some(v) => Some(coerce_text(ty, v).map_err(|e| {
                    ApiError::BadRequest(format!("Invalid default value '{v}': {e}"))
                })?),
                None => None,
            };
        let field = catalog::NewField {
            collection_id: c.id,
            name,
            display_name,
            field_type: ty.as_str(),
            sql_column_name: name,
            sql_type: ty.sql_type(),
            is_required: *is_required,
            is_unique: *is_unique,
            is_indexed: *is_indexed,
            default_value: default.as_deref(),
            is_system: false,
            is_hidden: false,
            relation: None,
        };
        let created = catalog::insert_field(self.unit.control(), &field)
            .await?
            .ok_or(ApiError::Conflict(
                "Field with this name already exists".into(),
            ))?;
        let add = ddl::AddColumn {
            schema: &self.project.db_schema,
            table: &c.sql_table_name,
            column: name,
            sql_type: ty.sql_type(),
            required_default: if *is_required {
                default.as_deref()
            } else {
                None
            },
            unique: *is_unique,
            indexed: *is_indexed,
        };
        let stmts = ddl::add_column(&add);
        if *is_unique || *is_indexed {
            self.warn_if_big(&c, "building the index blocks writes until it is done")
                .await?;
        }
        self.ddl(stmts).await?;
        let payload = json!({
            "table_name": c.sql_table_name, "column_name": name, "field_type": ty.as_str(),
            "is_required": is_required, "is_unique": is_unique, "is_indexed": is_indexed,
        });
        self.log(Some(c.id), "add_column", payload).await?;
        Ok(Outcome {
            details: json!({ "field_id": created.id, "field_name": name }),
            collection_id: Some(c.id),
            field_id: Some(created.id),
        })
    }

    async fn add_relation(&mut self, change: &Change) -> Result<Outcome, ApiError> {
        let Change::AddRelation {
            collection,
            name,
            display_name,
            target,
            relation_type,
            on_delete,
            display_field,
            is_required,
        } = change
        else {
            unreachable!("add_relation takes AddRelation")
        };
        let c = self.collection(collection).await?;
        let t = match self.collection(target).await {
            Ok(t) => t,
            Err(ApiError::NotFound(_)) => {
                return Err(ApiError::BadRequest("Target collection not found".into()))
            }
            Err(e) => return Err(e),
        };
        if !is_valid_slug(name) {
            return Err(ApiError::BadRequest(format!("Invalid field name: {name}")));
        }
        if relation_type != "many_to_one" {
            return Err(ApiError::BadRequest(format!(
                "Invalid relation type: {relation_type}. Must be one of ['many_to_one']"
            )));
        }
        if !["RESTRICT", "CASCADE", "SET NULL"].contains(&on_delete.as_str()) {
            return Err(ApiError::BadRequest(format!("Invalid on_delete action: {on_delete}. Must be one of ['RESTRICT', 'CASCADE', 'SET NULL']")));
        }
        let column = format!("{name}_id");
        if column.len() > 63 {
            return Err(ApiError::BadRequest(format!("Invalid field name: {name}")));
        }
        self.check_free_name(&c, name, &column, None).await?;
        check_display_name(display_name)?;
        if *is_required
            && catalog::table_has_rows(self.unit.cell(), &self.project.db_schema, &c.sql_table_name)
                .await?
        {
            return Err(ApiError::BadRequest(
                "Required relation fields can only be added to empty collections".into(),
            ));
        }
        if *is_required && c.id == t.id {
            return Err(ApiError::BadRequest(
                "A self-referencing relation cannot be required (the first record would have nothing to point at)".into(),
            ));
        }
        if *is_required && on_delete == "SET NULL" {
            return Err(ApiError::BadRequest(
                "A required relation cannot use on_delete SET NULL".into(),
            ));
        }
        let sql_type = if t.is_system { "text" } else { "bigint" };
        let field = catalog::NewField {
            collection_id: c.id,
            name,
            display_name,
            field_type: "relation",
            sql_column_name: &column,
            sql_type,
            is_required: *is_required,
            is_unique: false,
            is_indexed: true,
            default_value: None,
            is_system: false,
            is_hidden: false,
            relation: Some(catalog::NewRelation {
                target: t.id,
                on_delete,
                display_field: display_field.as_deref(),
            }),
        };
        let created = catalog::insert_field(self.unit.control(), &field)
            .await?
            .ok_or(ApiError::Conflict(
                "Field with this name already exists".into(),
            ))?;
        let stmts = ddl::add_relation(&ddl::AddRelation {
            schema: &self.project.db_schema,
            table: &c.sql_table_name,
            column: &column,
            sql_type,
            required: *is_required,
            target_table: &t.sql_table_name,
            on_delete,
        });
        self.ddl(stmts).await?;
        let payload = json!({
            "table_name": c.sql_table_name, "column_name": column, "target_collection_id": t.id,
            "target_table_name": t.sql_table_name, "relation_type": "many_to_one", "on_delete": on_delete,
        });
        self.log(Some(c.id), "add_relation_column", payload).await?;
        Ok(Outcome {
            details: json!({ "field_id": created.id, "field_name": name, "target_collection_id": t.id }),
            collection_id: Some(c.id),
            field_id: Some(created.id),
        })
    }

    async fn update_field(&mut self, change: &Change) -> Result<Outcome, ApiError> {
        let Change::UpdateField {
            collection,
            field,
            display_name,
            is_required,
            is_unique,
            is_indexed,
            default_value,
            display_field,
        } = change
        else {
            unreachable!("update_field takes UpdateField")
        };
        let c = self.collection(collection).await?;
        let f = self.field(&c, field).await?;
        if f.is_system {
            return Err(system_field(&f.name));
        }
        if f.is_deleted {
            return Err(ApiError::BadRequest(format!(
                "Field '{}' is deleted; restore it first",
                f.name
            )));
        }
        let is_relation = f.relation_target_collection_id.is_some();
        if is_relation && (is_unique.is_some() || is_indexed.is_some() || default_value.is_some()) {
            return Err(ApiError::BadRequest(
                "A relation field only takes display_name, is_required and display_field".into(),
            ));
        }
        if !is_relation && display_field.is_some() {
            return Err(ApiError::BadRequest(
                "display_field applies to relation fields only".into(),
            ));
        }
        if let Some(d) = display_name {
            check_display_name(d)?;
        }
        if is_relation && *is_required == Some(true) && !f.is_required {
            if f.relation_on_delete == "SET NULL" {
                return Err(ApiError::BadRequest(
                    "A required relation cannot use on_delete SET NULL".into(),
                ));
            }
            if f.relation_target_collection_id == Some(c.id) {
                return Err(ApiError::BadRequest(
                    "A self-referencing relation cannot be required (the first record would have nothing to point at)".into(),
                ));
            }
        }
        let ty = FieldType::parse(&f.field_type).unwrap_or(FieldType::String);
        let default =
            match default_value {
                Some(Some(v)) => Some(coerce_text(ty, v).map_err(|e| {
                    ApiError::BadRequest(format!("Invalid default value '{v}': {e}"))
                })?),
                Some(None) => None,
                None => f.default_value.clone(),
            };
        let required = is_required.unwrap_or(f.is_required);
        let unique = is_unique.unwrap_or(f.is_unique);
        if ty == FieldType::Json && unique {
            return Err(json_unique());
        }
        let indexed = is_indexed.unwrap_or(f.is_indexed);
        if required && !is_relation && default.is_none() {
            return Err(ApiError::BadRequest(
                "Required fields must have a default value for existing rows".into(),
            ));
        }
        let table = self.table(&c);
        let col = q(&f.sql_column_name);
        let mut stmts = Vec::new();
        let cast_default = |d: &str| format!("CAST({} AS {})", quote_literal(d), f.sql_type);
        if required && !is_relation && (!f.is_required || default != f.default_value) {
            let d = cast_default(default.as_deref().unwrap_or_default());
            if !f.is_required {
                stmts.push(format!(
                    "UPDATE {table} SET {col} = {d} WHERE {col} IS NULL"
                ));
            }
            stmts.push(format!(
                "ALTER TABLE {table} ALTER COLUMN {col} SET DEFAULT {d}"
            ));
        }
        if required && !f.is_required {
            stmts.push(format!(
                "ALTER TABLE {table} ALTER COLUMN {col} SET NOT NULL"
            ));
            self.warn_if_big(&c, "setting NOT NULL scans the whole table")
                .await?;
        }
        if !required && f.is_required {
            stmts.push(format!(
                "ALTER TABLE {table} ALTER COLUMN {col} DROP NOT NULL"
            ));
            if !is_relation {
                stmts.push(format!(
                    "ALTER TABLE {table} ALTER COLUMN {col} DROP DEFAULT"
                ));
            }
        }
        let kind = |u: bool, i: bool| {
            if u {
                Some(true)
            } else if i {
                Some(false)
            } else {
                None
            }
        };
        let (old_idx, new_idx) = (kind(f.is_unique, f.is_indexed), kind(unique, indexed));
        if !is_relation && old_idx != new_idx {
            let schema = &self.project.db_schema;
            if old_idx.is_some() {
                let found = catalog::column_objects(
                    self.unit.cell(),
                    schema,
                    &c.sql_table_name,
                    &f.sql_column_name,
                )
                .await?;
                for (name, _) in found.indexes {
                    stmts.push(ddl::drop_index(schema, &name));
                }
            }
            if let Some(u) = new_idx {
                stmts.push(ddl::create_index_for(
                    schema,
                    &c.sql_table_name,
                    &f.sql_column_name,
                    u,
                    &f.sql_type,
                ));
                self.warn_if_big(&c, "building the index blocks writes until it is done")
                    .await?;
            }
        }
        let display_field = match display_field {
            Some(v) => v.clone(),
            None => f.relation_display_field.clone(),
        };
        let update = catalog::FieldUpdate {
            display_name: display_name.as_deref().unwrap_or(&f.display_name),
            is_required: required,
            is_unique: unique,
            is_indexed: indexed,
            default_value: default.as_deref(),
            relation_display_field: display_field.as_deref(),
        };
        catalog::update_field(self.unit.control(), f.id, &update).await?;
        if stmts.is_empty() {
            self.steps
                .push(format!("-- Update field '{}' in catalog (no DDL)", f.name));
        } else {
            self.ddl(stmts).await?;
            let payload = json!({
                "field_id": f.id, "field_name": f.name, "is_required": required,
                "is_unique": unique, "is_indexed": indexed, "default_value": default,
            });
            self.log(Some(c.id), "alter_column", payload).await?;
        }
        Ok(Outcome {
            details: json!({ "field_id": f.id, "field_name": f.name }),
            collection_id: Some(c.id),
            field_id: Some(f.id),
        })
    }

    async fn rename_field(
        &mut self,
        cr: &str,
        fr: &str,
        new_name: &str,
        new_display_name: Option<&str>,
    ) -> Result<Outcome, ApiError> {
        let c = self.collection(cr).await?;
        let f = self.field(&c, fr).await?;
        if f.is_system {
            return Err(system_field(&f.name));
        }
        if !is_valid_slug(new_name) {
            return Err(ApiError::BadRequest(format!(
                "Invalid field name: {new_name}"
            )));
        }
        if new_name == f.name {
            return Err(ApiError::BadRequest(
                "New name is the same as the current name".into(),
            ));
        }
        let is_relation = f.relation_target_collection_id.is_some();
        let new_column = if is_relation {
            format!("{new_name}_id")
        } else {
            new_name.to_owned()
        };
        if new_column.len() > 63 {
            return Err(ApiError::BadRequest(format!(
                "Invalid field name: {new_name}"
            )));
        }
        self.check_free_name(&c, new_name, &new_column, Some(f.id))
            .await?;
        let display = new_display_name.filter(|d| !d.is_empty());
        if let Some(d) = display {
            check_display_name(d)?;
        }
        catalog::rename_field(self.unit.control(), f.id, new_name, &new_column, display).await?;
        let mut stmts = self
            .renamed_objects(
                (&c.sql_table_name, &f.sql_column_name),
                (&c.sql_table_name, &new_column),
            )
            .await?;
        stmts.push(format!(
            "ALTER TABLE {} RENAME COLUMN {} TO {}",
            self.table(&c),
            q(&f.sql_column_name),
            q(&new_column)
        ));
        self.ddl(stmts).await?;
        let expires = Utc::now() + Duration::days(ALIAS_DAYS);
        catalog::insert_field_alias(self.unit.control(), c.id, f.id, &f.name, expires).await?;
        self.warnings.push(format!(
            "Old field name '{}' will be aliased for {ALIAS_DAYS} days",
            f.name
        ));
        let payload = json!({
            "field_id": f.id, "old_name": f.name, "new_name": new_name,
            "old_sql_column_name": f.sql_column_name, "new_sql_column_name": new_column,
            "alias_expires_at": expires,
        });
        self.log(Some(c.id), "rename_column", payload).await?;
        Ok(Outcome {
            details: json!({ "old_name": f.name, "new_name": new_name, "alias_expires_at": expires }),
            collection_id: Some(c.id),
            field_id: Some(f.id),
        })
    }

    async fn soft_delete_field(&mut self, cr: &str, fr: &str) -> Result<Outcome, ApiError> {
        let c = self.collection(cr).await?;
        let f = self.field(&c, fr).await?;
        if f.is_system {
            return Err(system_field(&f.name));
        }
        if f.is_deleted {
            return Err(ApiError::BadRequest("Field is already deleted".into()));
        }
        if f.is_required && f.relation_target_collection_id.is_some() {
            return Err(ApiError::BadRequest(format!(
                "Field '{}' is a required relation; new records could not be written without it. Make it optional first",
                f.name
            )));
        }
        let deleted_at = catalog::set_field_deleted(self.unit.control(), f.id, true).await?;
        self.steps.push(format!(
            "-- Mark field '{}' as deleted in catalog (no DDL)",
            f.name
        ));
        self.warnings.extend([
            "Field will be hidden from UI and writes will be blocked".to_owned(),
            "Data is preserved; use hard_delete to remove column".to_owned(),
        ]);
        let payload = json!({
            "field_id": f.id, "field_name": f.name, "sql_column_name": f.sql_column_name,
            "deleted_at": deleted_at,
        });
        self.log(Some(c.id), "soft_delete_column", payload).await?;
        Ok(Outcome {
            details: json!({ "field_id": f.id, "field_name": f.name, "deleted_at": deleted_at }),
            collection_id: Some(c.id),
            field_id: Some(f.id),
        })
    }

    async fn restore_field(&mut self, cr: &str, fr: &str) -> Result<Outcome, ApiError> {
        let c = self.collection(cr).await?;
        let f = self.field(&c, fr).await?;
        if f.is_system {
            return Err(system_field(&f.name));
        }
        if !f.is_deleted {
            return Err(ApiError::BadRequest("Field is not deleted".into()));
        }
        catalog::set_field_deleted(self.unit.control(), f.id, false).await?;
        self.steps.push(format!(
            "-- Mark field '{}' as restored in catalog (no DDL)",
            f.name
        ));
        let payload = json!({ "field_id": f.id, "field_name": f.name });
        self.log(Some(c.id), "restore_column", payload).await?;
        Ok(Outcome {
            details: json!({ "field_id": f.id, "field_name": f.name, "restored": true }),
            collection_id: Some(c.id),
            field_id: Some(f.id),
        })
    }

    async fn hard_delete_field(
        &mut self,
        cr: &str,
        fr: &str,
        force: bool,
    ) -> Result<Outcome, ApiError> {
        let c = self.collection(cr).await?;
        let f = self.field(&c, fr).await?;
        if f.is_system {
            return Err(system_field(&f.name));
        }
        if !f.is_deleted && !force {
            return Err(ApiError::BadRequest(
                "Field must be soft-deleted first. Use force=True to skip.".into(),
            ));
        }
        let table = self.table(&c);
        self.ddl(vec![format!(
            "ALTER TABLE {table} DROP COLUMN {}",
            q(&f.sql_column_name)
        )])
        .await?;
        catalog::delete_field(self.unit.control(), f.id).await?;
        self.warnings.extend([
            "THIS WILL PERMANENTLY DELETE ALL DATA IN THIS COLUMN".to_owned(),
            "This action cannot be undone".to_owned(),
        ]);
        let payload =
            json!({ "field_id": f.id, "field_name": f.name, "sql_column_name": f.sql_column_name });
        self.log(Some(c.id), "drop_column", payload).await?;
        Ok(Outcome {
            details: json!({ "field_id": f.id, "field_name": f.name, "dropped": true }),
            collection_id: Some(c.id),
            field_id: Some(f.id),
        })
    }

    async fn change_field_type(
        &mut self,
        cr: &str,
        fr: &str,
        new_type: &str,
    ) -> Result<Outcome, ApiError> {
        let c = self.collection(cr).await?;
        let f = self.field(&c, fr).await?;
        if f.is_system {
            return Err(system_field(&f.name));
        }
        // `boolean` names `bool`.
        let new_type: &str = match FieldType::parse(new_type) {
            Some(t) => t.as_str(),
            None => new_type,
        };
        if new_type == f.field_type {
            return Err(ApiError::BadRequest(
                "New type is the same as current type".into(),
            ));
        }
        let to = is_safe_conversion(&f.field_type, new_type)
            .then(|| FieldType::parse(new_type))
            .flatten()
            .ok_or_else(|| ApiError::BadRequest(format!("Unsafe type conversion from {} to {new_type}. Use the migration wizard for complex conversions.", f.field_type)))?;
        let sql_type = to.sql_type();
        let table = self.table(&c);
        let col = q(&f.sql_column_name);
        let alter = if sql_type == f.sql_type {
            format!("ALTER TABLE {table} ALTER COLUMN {col} TYPE {sql_type}")
        } else {
            self.warn_if_big(
                &c,
                "changing the type rewrites the table under an exclusive lock",
            )
            .await?;
            format!("ALTER TABLE {table} ALTER COLUMN {col} TYPE {sql_type} USING CAST({col} AS {sql_type})")
        };
        let mut stmts = Vec::new();
        // A GIN index of a json column has no text form: it is dropped and the column indexed
        // again as text.
        let reindex = f.sql_type == "jsonb" && f.is_indexed;
        if reindex {
            let schema = &self.project.db_schema;
            let found = catalog::column_objects(
                self.unit.cell(),
                schema,
                &c.sql_table_name,
                &f.sql_column_name,
            )
            .await?;
            for (name, _) in found.indexes {
                stmts.push(ddl::drop_index(schema, &name));
            }
        }
        stmts.push(alter);
        if reindex {
            stmts.push(ddl::create_index(
                &self.project.db_schema,
                &c.sql_table_name,
                &f.sql_column_name,
                false,
            ));
        }
        self.ddl(stmts).await?;
        catalog::set_field_type(self.unit.control(), f.id, to.as_str(), sql_type).await?;
        if let Some(d) = &f.default_value {
            // The stored default follows the type (`5` → `5`, `2024-01-01` → midnight UTC).
            if let Ok(converted) = coerce_text(to, d) {
                let update = catalog::FieldUpdate {
                    display_name: &f.display_name,
                    is_required: f.is_required,
                    is_unique: f.is_unique,
                    is_indexed: f.is_indexed,
                    default_value: Some(&converted),
                    relation_display_field: None,
                };
                catalog::update_field(self.unit.control(), f.id, &update).await?;
            }
        }
        let payload = json!({ "field_id": f.id, "field_name": f.name, "old_type": f.field_type, "new_type": to.as_str() });
        self.log(Some(c.id), "change_column_type", payload).await?;
        Ok(Outcome {
            details: json!({ "field_id": f.id, "field_name": f.name, "old_type": f.field_type, "new_type": to.as_str() }),
            collection_id: Some(c.id),
            field_id: Some(f.id),
        })
    }
}

/// A JSON value has no useful uniqueness (and large ones exceed what a B-tree index holds).
fn json_unique() -> ApiError {
    ApiError::BadRequest(
        "A json field cannot be unique (is_indexed gives it a GIN index for containment filters)"
            .into(),
    )
}
