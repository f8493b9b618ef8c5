//! How a schema changes once it exists: renames, type changes and field deletion, staged pending
//! changes and their history, and the schema as a document (export, import).

use super::schema::{create_collection, create_field, field_names, get_field};
use super::*;

/// RenameCollection, GetAliases, PreviewMigration, RenameField, ChangeFieldType,
/// ListSafeConversions, SoftDeleteField, RestoreField, HardDeleteField.
pub(crate) async fn evolution(c: &mut Client, r: &mut Report, t: &str, p: &str) {
    let drafts = create_collection(c, r, t, p, "drafts").await;
    let body = create_field(c, r, t, p, "drafts", "body", "string").await;
    let count = create_field(c, r, t, p, "drafts", "count", "int").await;
    let old = create_field(c, r, t, p, "drafts", "old", "string").await;
    let cid = drafts.id.clone();

    let res = c
        .rename_collection(authed(
            t,
            RenameCollectionRequest {
                project_id: p.into(),
                collection_id: cid.clone(),
                new_name: "articles".into(),
                new_display_name: Some("Articles".into()),
            },
        ))
        .await;
    let op = r.ok("RenameCollection", res);
    let details = op.details.as_ref().map(from_value).unwrap_or_default();
    check!(
        r,
        op.success && op.operation == "rename_collection" && details["new_name"] == "articles",
        "{op:?}"
    );
    let res = c
        .get_collection(authed(
            t,
            GetCollectionRequest {
                project_id: p.into(),
                collection_name: "articles".into(),
            },
        ))
        .await;
    let renamed = r.ok("GetCollection", res);
    check!(r, renamed.id == cid, "{renamed:?}");

    let res = c
        .preview_migration(authed(
            t,
            PreviewMigrationRequest {
                project_id: p.into(),
                collection_id: cid.clone(),
                operation: "rename_collection".into(),
                params: Some(obj(json!({"new_name": "essays"}))),
            },
        ))
        .await;
    let preview = r.ok("PreviewMigration", res);
    let params = preview.params.as_ref().map(from_struct);
    check!(
        r,
        preview.operation == "rename_collection"
            && preview.collection == "articles"
            && !preview.steps.is_empty()
            && !preview.warnings.is_empty()
            && params == Some(json!({"new_name": "essays"})),
        "{preview:?}"
    );

    let res = c
        .rename_field(authed(
            t,
            RenameFieldRequest {
                project_id: p.into(),
                collection_id: cid.clone(),
                field_id: body.id.clone(),
                new_name: "text".into(),
                new_display_name: Some("Text".into()),
            },
        ))
        .await;
    let op = r.ok("RenameField", res);
    check!(r, op.operation == "rename_field", "{op:?}");
    let res = get_field(c, t, p, "articles", "text").await;
    let text = r.ok("GetField", res);
    check!(
        r,
        text.id == body.id && text.display_name == "Text",
        "{text:?}"
    );

    let res = c
        .get_aliases(authed(
            t,
            GetAliasesRequest {
                project_id: p.into(),
            },
        ))
        .await;
    let aliases = r.ok("GetAliases", res);
    check!(
        r,
        aliases
            .collection_aliases
            .iter()
            .any(|a| a.old_name == "drafts" && a.collection_id == cid)
            && aliases
                .field_aliases
                .iter()
                .any(|a| a.old_name == "body" && a.field_id.as_deref() == Some(&body.id)),
        "{aliases:?}"
    );

    let res = c
        .list_safe_conversions(authed(
            t,
            ListSafeConversionsRequest {
                project_id: p.into(),
                ..Default::default()
            },
        ))
        .await;
    let safe = r.ok("ListSafeConversions", res);
    check!(
        r,
        safe.safe_conversions.len() >= 3
            && safe
                .safe_conversions
                .iter()
                .any(|s| s.from == "int" && s.to == "float"),
        "{safe:?}"
    );
    let res = c
        .change_field_type(authed(
            t,
            ChangeFieldTypeRequest {
                project_id: p.into(),
                collection_id: cid.clone(),
                field_id: count.id.clone(),
                new_type: "float".into(),
            },
        ))
        .await;
    let op = r.ok("ChangeFieldType", res);
    check!(r, op.operation == "change_field_type", "{op:?}");
    let res = get_field(c, t, p, "articles", "count").await;
    let f = r.ok("GetField", res);
    check!(r, f.field_type == "float", "{f:?}");

    let field_req = |id: &str| SoftDeleteFieldRequest {
        project_id: p.into(),
        collection_id: cid.clone(),
        field_id: id.into(),
    };
    let res = c.soft_delete_field(authed(t, field_req(&old.id))).await;
    let op = r.ok("SoftDeleteField", res);
    check!(r, op.operation == "soft_delete_field", "{op:?}");
    let names = field_names(c, r, t, p, "articles").await;
    check!(r, !names.contains(&"old".to_owned()), "{names:?}");
    let res = c
        .restore_field(authed(
            t,
            RestoreFieldRequest {
                project_id: p.into(),
                collection_id: cid.clone(),
                field_id: old.id.clone(),
            },
        ))
        .await;
    let op = r.ok("RestoreField", res);
    check!(r, op.operation == "restore_field", "{op:?}");
    let names = field_names(c, r, t, p, "articles").await;
    check!(r, names.contains(&"old".to_owned()), "{names:?}");
    let res = c.soft_delete_field(authed(t, field_req(&old.id))).await;
    r.ok("SoftDeleteField", res);
    let res = c
        .hard_delete_field(authed(
            t,
            HardDeleteFieldRequest {
                project_id: p.into(),
                collection_id: cid.clone(),
                field_id: old.id.clone(),
                force: Some(false),
            },
        ))
        .await;
    let op = r.ok("HardDeleteField", res);
    check!(
        r,
        op.operation == "hard_delete_field" && op.schema_version > 0,
        "{op:?}"
    );
    let res = get_field(c, t, p, "articles", "old").await;
    r.fails("GetField after HardDeleteField", res, Code::NotFound);
}

pub(crate) fn stage(p: &str, change: Json) -> StagePendingChangeRequest {
    StagePendingChangeRequest {
        project_id: p.into(),
        change: Some(obj(change)),
    }
}

/// ListPendingChanges, StagePendingChange, PreviewPendingChanges, DiscardPendingChange,
/// ApplyPendingChanges, DiscardPendingChanges, ListSchemaHistory, DeleteCollection.
pub(crate) async fn pending_changes(c: &mut Client, r: &mut Report, t: &str, p: &str) {
    let list_req = ListPendingChangesRequest {
        project_id: p.into(),
        ..Default::default()
    };
    let res = c.list_pending_changes(authed(t, list_req.clone())).await;
    let list = r.ok("ListPendingChanges", res);
    check!(r, list.pending.is_empty(), "{list:?}");
    let mut ids = Vec::new();
    for change in [
        json!({"op": "create_collection", "name": "tags", "display_name": "Tags"}),
        json!({"op": "add_field", "collection": "tags", "name": "label", "display_name": "Label",
               "field_type": "string", "is_unique": true}),
        json!({"op": "create_collection", "name": "later", "display_name": "Later"}),
    ] {
        let res = c
            .stage_pending_change(authed(t, stage(p, change.clone())))
            .await;
        let staged = r.ok("StagePendingChange", res);
        // Stored as parsed: the keys sent, plus the defaults of those left out.
        let got = staged.change.as_ref().map(from_struct).unwrap_or_default();
        let sent = change.as_object().expect("an object");
        check!(
            r,
            sent.iter().all(|(k, v)| got.get(k) == Some(v)),
            "{staged:?}"
        );
        ids.push(staged.id);
    }
    let res = c.list_pending_changes(authed(t, list_req.clone())).await;
    let list = r.ok("ListPendingChanges", res);
    let listed: Vec<&str> = list.pending.iter().map(|x| x.id.as_str()).collect();
    check!(r, listed == ids, "in staging order: {list:?}");
    let res = c
        .preview_pending_changes(authed(
            t,
            PreviewPendingChangesRequest {
                project_id: p.into(),
            },
        ))
        .await;
    let preview = r.ok("PreviewPendingChanges", res);
    check!(
        r,
        preview.changes.len() == 3
            && preview.steps.iter().any(|s| s.starts_with("CREATE TABLE"))
            && !preview.destructive,
        "{preview:?}"
    );
    let res = c
        .discard_pending_change(authed(
            t,
            DiscardPendingChangeRequest {
                project_id: p.into(),
                change_id: ids[2].clone(),
            },
        ))
        .await;
    r.ok("DiscardPendingChange", res);
    let res = c.list_pending_changes(authed(t, list_req.clone())).await;
    let list = r.ok("ListPendingChanges", res);
    check!(r, list.pending.len() == 2, "{list:?}");
    let res = c
        .apply_pending_changes(authed(
            t,
            ApplyPendingChangesRequest {
                project_id: p.into(),
            },
        ))
        .await;
    let applied = r.ok("ApplyPendingChanges", res);
    check!(
        r,
        applied.success && applied.applied == 2 && applied.results.len() == 2,
        "{applied:?}"
    );
    let names = field_names(c, r, t, p, "tags").await;
    check!(r, names == ["label"], "{names:?}");

    let res = c
        .stage_pending_change(authed(
            t,
            stage(
                p,
                json!({"op": "create_collection", "name": "never", "display_name": "N"}),
            ),
        ))
        .await;
    r.ok("StagePendingChange", res);
    let res = c
        .discard_pending_changes(authed(
            t,
            DiscardPendingChangesRequest {
                project_id: p.into(),
            },
        ))
        .await;
    let discarded = r.ok("DiscardPendingChanges", res);
    check!(r, discarded.discarded == 1, "{discarded:?}");
    let res = c.list_pending_changes(authed(t, list_req)).await;
    let list = r.ok("ListPendingChanges", res);
    check!(r, list.pending.is_empty(), "{list:?}");

    let res = c
        .list_schema_history(authed(
            t,
            ListSchemaHistoryRequest {
                project_id: p.into(),
                limit: Some(10),
                ..Default::default()
            },
        ))
        .await;
    let history = r.ok("ListSchemaHistory", res);
    let newest = history.history.first();
    let changes = newest.and_then(|h| h.changes.as_ref()).map(from_value);
    check!(
        r,
        newest.is_some_and(|h| h.source == "pending" && h.schema_version == applied.schema_version)
            && changes.is_some_and(|c| c.as_array().is_some_and(|a| a.len() == 2))
            && history.schema_version == applied.schema_version,
        "{history:?}"
    );

    let res = c
        .delete_collection(authed(
            t,
            DeleteCollectionRequest {
                project_id: p.into(),
                collection_name: "tags".into(),
                force: Some(true),
            },
        ))
        .await;
    let op = r.ok("DeleteCollection", res);
    check!(
        r,
        op.success && op.operation == "delete_collection",
        "{op:?}"
    );
    let res = c
        .get_collection(authed(
            t,
            GetCollectionRequest {
                project_id: p.into(),
                collection_name: "tags".into(),
            },
        ))
        .await;
    r.fails("GetCollection after DeleteCollection", res, Code::NotFound);
}

/// ExportSchema, ImportSchema (a preview into a second project).
pub(crate) async fn schema_documents(c: &mut Client, r: &mut Report, t: &str, p: &str) {
    let res = c
        .export_schema(authed(
            t,
            ExportSchemaRequest {
                project_id: p.into(),
            },
        ))
        .await;
    let doc = r.ok("ExportSchema", res).document.unwrap_or_default();
    let exported = from_struct(&doc);
    check!(
        r,
        exported["collections"]
            .as_array()
            .is_some_and(|cs| cs.iter().any(|c| c["name"] == "posts")),
        "{exported}"
    );
    let res = c
        .create_project(authed(
            t,
            CreateProjectRequest {
                name: "Copy".into(),
            },
        ))
        .await;
    let other = r.ok("CreateProject", res).id;
    let res = c
        .import_schema(authed(
            t,
            ImportSchemaRequest {
                project_id: other,
                document: Some(doc),
                dry_run: true,
                force: false,
            },
        ))
        .await;
    let preview = r.ok("ImportSchema", res);
    check!(
        r,
        preview.dry_run && preview.applied == 0 && !preview.changes.is_empty(),
        "{preview:?}"
    );
}
