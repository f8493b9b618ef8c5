//! Schema changes as data. Every way the catalog changes — an immediate endpoint, a staged batch
//! of pending changes, a schema document applied to a project — becomes a list of [`Change`]s run
//! by one [`apply::Applier`] inside one transaction: catalog rows, DDL (as the project role) and the
//! schema-op log together, then one version bump and one history entry. A preview runs the very
//! same code and rolls back, so the SQL it shows is the SQL that would run.

pub mod apply;
pub mod document;
pub mod run;

use serde::{Deserialize, Serialize};

/// One schema change. Collections and fields are named by current name or by id (a UUID string),
/// so a staged batch can refer to what an earlier step of the same batch creates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Change {
    /// A new collection with the system columns.
    CreateCollection {
        /// Name (also the table name).
        name: String,
        /// Display name.
        display_name: String,
    },
    /// A collection's display name.
    UpdateCollection {
        /// The collection.
        collection: String,
        /// New display name.
        display_name: String,
    },
    /// Drops a collection's table and catalog entry. Refused while it has rows unless `force`.
    DeleteCollection {
        /// The collection.
        collection: String,
        /// Delete even when the table has rows.
        #[serde(default)]
        force: bool,
    },
    /// Renames a collection and its table; the old name stays an alias for 30 days.
    RenameCollection {
        /// The collection.
        collection: String,
        /// New name.
        new_name: String,
        /// New display name, if any.
        #[serde(default)]
        new_display_name: Option<String>,
    },
    /// A new field (column).
    AddField {
        /// The collection.
        collection: String,
        /// Field name (also the column name).
        name: String,
        /// Display name.
        display_name: String,
        /// One of the creatable types.
        field_type: String,
        /// NOT NULL (needs `default_value`).
        #[serde(default)]
        is_required: bool,
        /// Unique index.
        #[serde(default)]
        is_unique: bool,
        /// Plain index.
        #[serde(default)]
        is_indexed: bool,
        /// Default, as text.
        #[serde(default)]
        default_value: Option<String>,
    },
    /// A many-to-one relation field (`<name>_id` with a foreign key).
    AddRelation {
        /// The source collection.
        collection: String,
        /// Field name.
        name: String,
        /// Display name.
        display_name: String,
        /// The target collection.
        target: String,
        /// Only `many_to_one`.
        #[serde(default = "many_to_one")]
        relation_type: String,
        /// `RESTRICT`, `CASCADE` or `SET NULL`.
        #[serde(default = "restrict")]
        on_delete: String,
        /// Label field (metadata).
        #[serde(default)]
        display_field: Option<String>,
        /// NOT NULL (only on an empty collection).
        #[serde(default)]
        is_required: bool,
    },
    /// A field's display name and flags. Absent keys keep their value.
    UpdateField {
        /// The collection.
        collection: String,
        /// The field.
        field: String,
        /// New display name.
        #[serde(default)]
        display_name: Option<String>,
        /// NOT NULL (needs a default).
        #[serde(default)]
        is_required: Option<bool>,
        /// Unique index.
        #[serde(default)]
        is_unique: Option<bool>,
        /// Plain index.
        #[serde(default)]
        is_indexed: Option<bool>,
        /// New default; `null` clears it.
        #[serde(
            default,
            with = "double_option",
            skip_serializing_if = "Option::is_none"
        )]
        default_value: Option<Option<String>>,
        /// Relation label field; `null` clears it.
        #[serde(
            default,
            with = "double_option",
            skip_serializing_if = "Option::is_none"
        )]
        display_field: Option<Option<String>>,
    },
    /// Renames a field and its column; the old name stays an alias for 30 days.
    RenameField {
        /// The collection.
        collection: String,
        /// The field.
        field: String,
        /// New name.
        new_name: String,
        /// New display name, if any.
        #[serde(default)]
        new_display_name: Option<String>,
    },
    /// Hides a field from records and writes; the column and its data stay.
    SoftDeleteField {
        /// The collection.
        collection: String,
        /// The field.
        field: String,
    },
    /// Undoes a soft delete.
    RestoreField {
        /// The collection.
        collection: String,
        /// The field.
        field: String,
    },
    /// Drops a field's column. Needs a soft delete first unless `force`.
    HardDeleteField {
        /// The collection.
        collection: String,
        /// The field.
        field: String,
        /// Skip the soft-delete requirement.
        #[serde(default)]
        force: bool,
    },
    /// Changes a field's type along the safe-conversion table.
    ChangeFieldType {
        /// The collection.
        collection: String,
        /// The field.
        field: String,
        /// New type.
        new_type: String,
    },
    /// Creates or updates a view from its schema-document form (base collection by name).
    PutView {
        /// The view (`name`, `base_collection`, definition, limits).
        view: serde_json::Value,
    },
    /// Soft-deletes a view.
    DeleteView {
        /// The view's name.
        name: String,
    },
}

fn many_to_one() -> String {
    "many_to_one".into()
}

fn restrict() -> String {
    "RESTRICT".into()
}

/// `Option<Option<T>>` that tells an absent key (`None`) from an explicit `null` (`Some(None)`).
mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer, T: Serialize>(
        v: &Option<Option<T>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            None => s.serialize_none(),
            Some(inner) => inner.serialize(s),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

impl Change {
    /// Whether the change loses data (a document apply asks for `force` before running it).
    pub fn is_destructive(&self) -> bool {
        matches!(
            self,
            Change::DeleteCollection { .. } | Change::HardDeleteField { .. }
        )
    }

    /// The operation name, as in `SchemaOperationResponse.operation`.
    pub fn op(&self) -> &'static str {
        match self {
            Change::CreateCollection { .. } => "create_collection",
            Change::UpdateCollection { .. } => "update_collection",
            Change::DeleteCollection { .. } => "delete_collection",
            Change::RenameCollection { .. } => "rename_collection",
            Change::AddField { .. } => "add_field",
            Change::AddRelation { .. } => "add_relation",
            Change::UpdateField { .. } => "update_field",
            Change::RenameField { .. } => "rename_field",
            Change::SoftDeleteField { .. } => "soft_delete_field",
            Change::RestoreField { .. } => "restore_field",
            Change::HardDeleteField { .. } => "hard_delete_field",
            Change::ChangeFieldType { .. } => "change_field_type",
            Change::PutView { .. } => "put_view",
            Change::DeleteView { .. } => "delete_view",
        }
    }
}

/// The conversions `change_field_type` allows: `(from, to, description)`.
pub const SAFE_CONVERSIONS: [(&str, &str, &str); 4] = [
    ("int", "float", "Integer to floating point"),
    ("string", "text", "String to text (no-op)"),
    ("date", "datetime", "Date to datetime (midnight UTC)"),
    ("json", "text", "JSON to text (each value's JSON text)"),
];

/// Whether `change_field_type` allows `from` → `to`.
pub fn is_safe_conversion(from: &str, to: &str) -> bool {
    SAFE_CONVERSIONS
        .iter()
        .any(|(f, t, _)| *f == from && *t == to)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changes_round_trip_as_tagged_json() {
        let c: Change = serde_json::from_value(json!({
            "op": "update_field", "collection": "posts", "field": "title", "default_value": null
        }))
        .unwrap();
        assert_eq!(
            c,
            Change::UpdateField {
                collection: "posts".into(),
                field: "title".into(),
                display_name: None,
                is_required: None,
                is_unique: None,
                is_indexed: None,
                default_value: Some(None),
                display_field: None,
            }
        );
        let back: Change = serde_json::from_value(serde_json::to_value(&c).unwrap()).unwrap();
        assert_eq!(back, c);
        assert!(serde_json::from_value::<Change>(json!({"op": "drop_everything"})).is_err());
        assert!(serde_json::from_value::<Change>(
            json!({"op": "soft_delete_field", "collection": "a", "field": "b", "x": 1})
        )
        .is_err());
    }
}
