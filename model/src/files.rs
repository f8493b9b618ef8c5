//! The files pseudo-collection: the shape of a project's `_files` metadata table as a collection,
//! so file access policies (`create`, `read`, `delete` on `_files`) are written, checked and
//! enforced like those of any collection. It is not a collection of the data API.

use crate::config::{CollectionConfig, FieldConfig, FieldType, IdKind};
use crate::PolicyConfig;
use uuid::Uuid;

/// The name policies use for the files of a project.
pub const NAME: &str = "_files";

/// The metadata a file policy's condition may name, besides the system columns (`id`,
/// `created_at`, `updated_at`, and the uploader as `created_by_user_id` /
/// `created_by_app_user_id`).
pub const FIELDS: [(&str, FieldType); 11] = [
    ("filename", FieldType::String),
    ("original_filename", FieldType::String),
    ("content_type", FieldType::String),
    ("size_bytes", FieldType::Int),
    ("bucket", FieldType::String),
    ("collection_id", FieldType::Uuid),
    ("record_id", FieldType::String),
    ("field_name", FieldType::String),
    ("is_public", FieldType::Bool),
    ("uploaded_by_user_id", FieldType::String),
    ("uploaded_by_app_user_id", FieldType::String),
];

/// The pseudo-collection of a project's files, with its compiled policies. Its id is the
/// project's own (policies need one; no collection can have it).
pub fn collection(project: Uuid, policies: Vec<PolicyConfig>) -> CollectionConfig {
    CollectionConfig {
        id: project,
        name: NAME.into(),
        table: NAME.into(),
        is_system: true,
        id_kind: IdKind::Uuid,
        fields: FIELDS
            .iter()
            .map(|(name, ty)| FieldConfig {
                id: Uuid::nil(),
                name: (*name).into(),
                column: (*name).into(),
                field_type: *ty,
                sql_type: ty.sql_type().into(),
                is_required: false,
                is_hidden: false,
                is_deleted: false,
                is_system: true,
                aliases: vec![],
                relation: None,
                rules: vec![],
            })
            .collect(),
        aliases: vec![],
        policies,
    }
}
