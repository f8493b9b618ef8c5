//! Schema as code: a project's whole schema as one document (JSON or YAML), and the list of
//! [`Change`]s that turns a project's schema into a document's. Pure: reading the catalog and
//! running the changes is the caller's business.

use super::{is_safe_conversion, Change};
use crate::db::catalog::{Collection, Field};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use uuid::Uuid;

/// The document format tag.
pub const FORMAT: &str = "backendify.schema/v1";

/// A project's schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Document {
    /// Always [`FORMAT`].
    pub format: String,
    /// Collections in creation order; `_users` lists only its custom fields.
    pub collections: Vec<CollectionDoc>,
    /// Saved views.
    #[serde(default)]
    pub views: Vec<serde_json::Value>,
    /// Access policies (not exported or imported yet; kept so documents stay forward-compatible).
    #[serde(default)]
    pub policies: Vec<serde_json::Value>,
    /// Validation rules (as policies).
    #[serde(default)]
    pub validations: Vec<serde_json::Value>,
}

/// One collection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectionDoc {
    /// Name.
    pub name: String,
    /// Display name.
    pub display_name: String,
    /// Fields in creation order (relations included).
    #[serde(default)]
    pub fields: Vec<FieldDoc>,
}

/// One field; relation fields carry `target` and `on_delete`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldDoc {
    /// Name.
    pub name: String,
    /// Display name.
    pub display_name: String,
    /// Contract type (`relation` for relations).
    pub field_type: String,
    /// NOT NULL.
    #[serde(default)]
    pub is_required: bool,
    /// Unique index.
    #[serde(default)]
    pub is_unique: bool,
    /// Plain index.
    #[serde(default)]
    pub is_indexed: bool,
    /// Default, as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_value: Option<String>,
    /// Relation target collection name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Relation delete action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_delete: Option<String>,
    /// Relation label field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_field: Option<String>,
}

/// Builds the document of a catalog: active collections with their live (not soft-deleted, not
/// system) fields.
pub fn export(
    collections: &[Collection],
    fields: &[Field],
    views: Vec<serde_json::Value>,
) -> Document {
    let names: HashMap<Uuid, &str> = collections
        .iter()
        .map(|c| (c.id, c.name.as_str()))
        .collect();
    let collections = collections
        .iter()
        .map(|c| CollectionDoc {
            name: c.name.clone(),
            display_name: c.display_name.clone(),
            fields: fields
                .iter()
                .filter(|f| f.collection_id == c.id && !f.is_system && !f.is_deleted)
                .map(|f| field_doc(f, &names))
                .collect(),
        })
        .collect();
    Document {
        format: FORMAT.into(),
        collections,
        views,
        policies: Vec::new(),
        validations: Vec::new(),
    }
}

fn field_doc(f: &Field, names: &HashMap<Uuid, &str>) -> FieldDoc {
    let relation = f.relation_target_collection_id;
    FieldDoc {
        name: f.name.clone(),
        display_name: f.display_name.clone(),
        field_type: f.field_type.clone(),
        is_required: f.is_required,
        is_unique: f.is_unique && relation.is_none(),
        is_indexed: f.is_indexed && relation.is_none(),
        default_value: f.default_value.clone(),
        target: relation.map(|t| names.get(&t).copied().unwrap_or_default().to_owned()),
        on_delete: relation.map(|_| f.relation_on_delete.clone()),
        display_field: f.relation_display_field.clone(),
    }
}

/// Why a document cannot be applied.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    /// The document is not ours.
    #[error("Unsupported document format '{0}'; expected '{FORMAT}'")]
    Format(String),
    /// A name appears twice.
    #[error("Collection '{0}' appears twice in the document")]
    DuplicateCollection(String),
    /// A name appears twice.
    #[error("Field '{0}.{1}' appears twice in the document")]
    DuplicateField(String, String),
    /// A type change the safe-conversion table does not allow.
    #[error("Field '{0}.{1}' is {2} in the project and {3} in the document; that conversion is not safe")]
    UnsafeType(String, String, String, String),
    /// A relation cannot be retargeted in place.
    #[error(
        "Field '{0}.{1}' differs in kind or relation target from the project; delete it first"
    )]
    Retarget(String, String),
}

/// The changes that make the catalog match the document, in an order that applies: new
/// collections, then per collection its fields in document order (restores, type changes,
/// updates, additions), then deletions of fields and collections missing from the document.
pub fn plan(
    doc: &Document,
    collections: &[Collection],
    fields: &[Field],
    views: &[serde_json::Value],
) -> Result<Vec<Change>, PlanError> {
    if doc.format != FORMAT {
        return Err(PlanError::Format(doc.format.clone()));
    }
    let mut seen = std::collections::HashSet::new();
    for c in &doc.collections {
        if !seen.insert(c.name.as_str()) {
            return Err(PlanError::DuplicateCollection(c.name.clone()));
        }
        let mut fseen = std::collections::HashSet::new();
        for f in &c.fields {
            if !fseen.insert(f.name.as_str()) {
                return Err(PlanError::DuplicateField(c.name.clone(), f.name.clone()));
            }
        }
    }
    let by_name: HashMap<&str, &Collection> =
        collections.iter().map(|c| (c.name.as_str(), c)).collect();
    let names: HashMap<Uuid, &str> = collections
        .iter()
        .map(|c| (c.id, c.name.as_str()))
        .collect();
    let mut out = Vec::new();
    for c in &doc.collections {
        match by_name.get(c.name.as_str()) {
            None => out.push(Change::CreateCollection {
                name: c.name.clone(),
                display_name: c.display_name.clone(),
            }),
            Some(existing) if !existing.is_system && existing.display_name != c.display_name => out
                .push(Change::UpdateCollection {
                    collection: c.name.clone(),
                    display_name: c.display_name.clone(),
                }),
            Some(_) => {}
        }
    }
    let mut deletions = Vec::new();
    for c in &doc.collections {
        let current: Vec<&Field> = by_name
            .get(c.name.as_str())
            .map(|e| {
                fields
                    .iter()
                    .filter(|f| f.collection_id == e.id && !f.is_system)
                    .collect()
            })
            .unwrap_or_default();
        for want in &c.fields {
            match current.iter().find(|f| f.name == want.name) {
                None => out.push(add(&c.name, want)),
                Some(have) => out.extend(alter(&c.name, have, want, &names)?),
            }
        }
        for have in &current {
            // A soft-deleted field is not exported; leaving it out of a document keeps it.
            if !have.is_deleted && !c.fields.iter().any(|f| f.name == have.name) {
                deletions.push(Change::HardDeleteField {
                    collection: c.name.clone(),
                    field: have.name.clone(),
                    force: true,
                });
            }
        }
    }
    for want in &doc.views {
        let name = &want["name"];
        let have = views.iter().find(|v| &v["name"] == name);
        if have.map(normalized) != Some(normalized(want)) {
            out.push(Change::PutView { view: want.clone() });
        }
    }
    for have in views {
        if !doc.views.iter().any(|v| v["name"] == have["name"]) {
            deletions.push(Change::DeleteView {
                name: have["name"].as_str().unwrap_or_default().to_owned(),
            });
        }
    }
    out.extend(deletions);
    let dropped: Vec<&Collection> = collections
        .iter()
        .filter(|e| !e.is_system && !doc.collections.iter().any(|c| c.name == e.name))
        .collect();
    // A dropped collection may point at another dropped one: drop those relations first, so the
    // collections can go in any order.
    for source in &dropped {
        for f in fields.iter().filter(|f| f.collection_id == source.id) {
            let into_dropped = f
                .relation_target_collection_id
                .is_some_and(|t| t != source.id && dropped.iter().any(|d| d.id == t));
            if into_dropped {
                out.push(Change::HardDeleteField {
                    collection: source.name.clone(),
                    field: f.name.clone(),
                    force: true,
                });
            }
        }
    }
    for existing in collections {
        if !existing.is_system && !doc.collections.iter().any(|c| c.name == existing.name) {
            // Relation fields of dropped collections go with their tables; relations pointing at
            // them from kept collections were deleted above (they are not in the document).
            out.push(Change::DeleteCollection {
                collection: existing.name.clone(),
                force: true,
            });
        }
    }
    Ok(out)
}

/// A view's document form with every optional key present, so equal views compare equal.
fn normalized(v: &serde_json::Value) -> serde_json::Value {
    let mut v = v.clone();
    if let Some(map) = v.as_object_mut() {
        for key in [
            "description",
            "projection",
            "filters",
            "sorts",
            "joins",
            "params_schema",
        ] {
            map.entry(key).or_insert(serde_json::Value::Null);
        }
        map.entry("default_limit").or_insert(100.into());
        map.entry("max_limit").or_insert(1000.into());
    }
    v
}

fn add(collection: &str, f: &FieldDoc) -> Change {
    match &f.target {
        Some(target) => Change::AddRelation {
            collection: collection.into(),
            name: f.name.clone(),
            display_name: f.display_name.clone(),
            target: target.clone(),
            relation_type: "many_to_one".into(),
            on_delete: f.on_delete.clone().unwrap_or_else(|| "RESTRICT".into()),
            display_field: f.display_field.clone(),
            is_required: f.is_required,
        },
        None => Change::AddField {
            collection: collection.into(),
            name: f.name.clone(),
            display_name: f.display_name.clone(),
            field_type: f.field_type.clone(),
            is_required: f.is_required,
            is_unique: f.is_unique,
            is_indexed: f.is_indexed,
            default_value: f.default_value.clone(),
        },
    }
}

fn alter(
    collection: &str,
    have: &Field,
    want: &FieldDoc,
    names: &HashMap<Uuid, &str>,
) -> Result<Vec<Change>, PlanError> {
    let mut out = Vec::new();
    let (c, n) = (collection.to_owned(), have.name.clone());
    let have_target = have
        .relation_target_collection_id
        .map(|t| names.get(&t).copied().unwrap_or_default());
    if have_target != want.target.as_deref() {
        return Err(PlanError::Retarget(c, n));
    }
    if have.is_deleted {
        out.push(Change::RestoreField {
            collection: c.clone(),
            field: n.clone(),
        });
    }
    // `boolean` names `bool`.
    let want_type: &str = match model::FieldType::parse(&want.field_type) {
        Some(t) => t.as_str(),
        None => &want.field_type,
    };
    if have.field_type != want_type {
        if !is_safe_conversion(&have.field_type, want_type) {
            return Err(PlanError::UnsafeType(
                c,
                n,
                have.field_type.clone(),
                want.field_type.clone(),
            ));
        }
        out.push(Change::ChangeFieldType {
            collection: c.clone(),
            field: n.clone(),
            new_type: want.field_type.clone(),
        });
    }
    let is_relation = want.target.is_some();
    let differs = |a: bool, b: bool| (a != b).then_some(b);
    let update = Change::UpdateField {
        collection: c,
        field: n,
        display_name: (have.display_name != want.display_name).then(|| want.display_name.clone()),
        is_required: differs(have.is_required, want.is_required),
        is_unique: if is_relation {
            None
        } else {
            differs(have.is_unique, want.is_unique)
        },
        is_indexed: if is_relation {
            None
        } else {
            differs(have.is_indexed, want.is_indexed)
        },
        default_value: (!is_relation && have.default_value != want.default_value)
            .then(|| want.default_value.clone()),
        display_field: (is_relation && have.relation_display_field != want.display_field)
            .then(|| want.display_field.clone()),
    };
    if let Change::UpdateField {
        display_name: None,
        is_required: None,
        is_unique: None,
        is_indexed: None,
        default_value: None,
        display_field: None,
        ..
    } = update
    {
    } else {
        out.push(update);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn coll(name: &str, system: bool) -> Collection {
        Collection {
            id: Uuid::new_v4(),
            name: name.into(),
            display_name: name.into(),
            sql_table_name: name.into(),
            is_active: true,
            is_system: system,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn field(c: &Collection, name: &str, ty: &str) -> Field {
        Field {
            id: Uuid::new_v4(),
            name: name.into(),
            display_name: name.into(),
            field_type: ty.into(),
            sql_column_name: name.into(),
            is_required: false,
            is_unique: false,
            is_indexed: false,
            default_value: None,
            is_system: false,
            is_hidden: false,
            relation_target_collection_id: None,
            relation_type: None,
            relation_on_delete: "RESTRICT".into(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
            sql_type: "text".into(),
            is_deleted: false,
            relation_display_field: None,
            collection_id: c.id,
        }
    }

    #[test]
    fn an_identical_document_plans_nothing() {
        let users = coll("_users", true);
        let posts = coll("posts", false);
        let fields = vec![field(&posts, "title", "string")];
        let doc = export(&[users.clone(), posts.clone()], &fields, Vec::new());
        assert_eq!(plan(&doc, &[users, posts], &fields, &[]).unwrap(), vec![]);
    }

    #[test]
    fn plans_additions_changes_and_flags_destructive_steps() {
        let posts = coll("posts", false);
        let old = coll("old", false);
        let fields = vec![
            field(&posts, "count", "int"),
            field(&posts, "gone", "string"),
        ];
        let mut doc = export(std::slice::from_ref(&posts), &fields, Vec::new());
        doc.collections[0].fields.retain(|f| f.name != "gone");
        doc.collections[0].fields[0].field_type = "float".into();
        doc.collections[0].fields.push(FieldDoc {
            name: "tag".into(),
            display_name: "Tag".into(),
            field_type: "relation".into(),
            is_required: false,
            is_unique: false,
            is_indexed: false,
            default_value: None,
            target: Some("tags".into()),
            on_delete: None,
            display_field: None,
        });
        doc.collections.insert(
            0,
            CollectionDoc {
                name: "tags".into(),
                display_name: "Tags".into(),
                fields: vec![],
            },
        );
        let changes = plan(&doc, &[posts, old], &fields, &[]).unwrap();
        let ops: Vec<&str> = changes.iter().map(Change::op).collect();
        assert_eq!(
            ops,
            [
                "create_collection",
                "change_field_type",
                "add_relation",
                "hard_delete_field",
                "delete_collection"
            ]
        );
        assert_eq!(changes.iter().filter(|c| c.is_destructive()).count(), 2);
        doc.collections[1].fields[0].field_type = "bool".into();
        assert!(plan(&doc, &[], &[], &[]).is_ok());
        let posts2 = coll("posts", false);
        let f2 = vec![field(&posts2, "count", "int")];
        assert!(matches!(
            plan(&doc, &[posts2], &f2, &[]),
            Err(PlanError::UnsafeType(..))
        ));
        doc.format = "other".into();
        assert!(matches!(
            plan(&doc, &[], &[], &[]),
            Err(PlanError::Format(_))
        ));
    }

    #[test]
    fn keeps_soft_deleted_fields_and_drops_related_collections_in_a_safe_order() {
        let cats = coll("categories", false);
        let products = coll("products", false);
        let keep = coll("keep", false);
        let mut rel = field(&products, "category", "relation");
        rel.relation_target_collection_id = Some(cats.id);
        let mut hidden = field(&keep, "old", "string");
        hidden.is_deleted = true;
        let fields = vec![rel, hidden];
        let doc = Document {
            format: FORMAT.into(),
            collections: vec![CollectionDoc {
                name: "keep".into(),
                display_name: "keep".into(),
                fields: vec![],
            }],
            views: vec![],
            policies: vec![],
            validations: vec![],
        };
        let changes = plan(&doc, &[cats, products, keep], &fields, &[]).unwrap();
        assert_eq!(
            changes,
            vec![
                Change::HardDeleteField {
                    collection: "products".into(),
                    field: "category".into(),
                    force: true
                },
                Change::DeleteCollection {
                    collection: "categories".into(),
                    force: true
                },
                Change::DeleteCollection {
                    collection: "products".into(),
                    force: true
                },
            ]
        );
    }
}
