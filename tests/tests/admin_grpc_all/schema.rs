//! A project's schema as built and read: collections and fields, relations, views; and the
//! helpers the other parts create and read fields with.

use super::*;

pub(crate) async fn create_field(
    c: &mut Client,
    r: &mut Report,
    t: &str,
    p: &str,
    collection: &str,
    name: &str,
    ty: &str,
) -> Field {
    let res = c
        .create_field(authed(
            t,
            CreateFieldRequest {
                project_id: p.into(),
                collection_name: collection.into(),
                name: name.into(),
                display_name: name.into(),
                field_type: ty.into(),
                ..Default::default()
            },
        ))
        .await;
    let f = r.ok("CreateField", res);
    check!(r, f.name == name && f.field_type == ty, "{f:?}");
    f
}

pub(crate) async fn create_collection(
    c: &mut Client,
    r: &mut Report,
    t: &str,
    p: &str,
    name: &str,
) -> Collection {
    let res = c
        .create_collection(authed(
            t,
            CreateCollectionRequest {
                project_id: p.into(),
                name: name.into(),
                display_name: name.into(),
            },
        ))
        .await;
    let col = r.ok("CreateCollection", res);
    check!(r, col.name == name && col.is_active, "{col:?}");
    col
}

pub(crate) async fn field_names(
    c: &mut Client,
    r: &mut Report,
    t: &str,
    p: &str,
    coll: &str,
) -> Vec<String> {
    let res = c
        .list_fields(authed(
            t,
            ListFieldsRequest {
                project_id: p.into(),
                collection_name: coll.into(),
                ..Default::default()
            },
        ))
        .await;
    r.ok("ListFields", res)
        .fields
        .into_iter()
        .map(|f| f.name)
        .collect()
}

pub(crate) async fn get_field(
    c: &mut Client,
    t: &str,
    p: &str,
    coll: &str,
    name: &str,
) -> Result<Response<Field>, Status> {
    c.get_field(authed(
        t,
        GetFieldRequest {
            project_id: p.into(),
            collection_name: coll.into(),
            field_name: name.into(),
        },
    ))
    .await
}

/// CreateCollection, CreateField, GetCollection, ListCollections, UpdateCollection, ListFields,
/// GetField, UpdateField, ListSchemaOps; answers the `posts` collection.
pub(crate) async fn collections_and_fields(
    c: &mut Client,
    r: &mut Report,
    t: &str,
    p: &str,
) -> Collection {
    let posts = create_collection(c, r, t, p, "posts").await;
    create_field(c, r, t, p, "posts", "title", "text").await;
    create_field(c, r, t, p, "posts", "views", "int").await;
    let res = c
        .get_collection(authed(
            t,
            GetCollectionRequest {
                project_id: p.into(),
                collection_name: "posts".into(),
            },
        ))
        .await;
    let got = r.ok("GetCollection", res);
    check!(r, got.id == posts.id, "{got:?}");
    let res = c
        .list_collections(authed(
            t,
            ListCollectionsRequest {
                project_id: p.into(),
                ..Default::default()
            },
        ))
        .await;
    let list = r.ok("ListCollections", res);
    check!(
        r,
        list.collections.iter().any(|x| x.id == posts.id),
        "{list:?}"
    );
    let res = c
        .update_collection(authed(
            t,
            UpdateCollectionRequest {
                project_id: p.into(),
                collection_name: "posts".into(),
                collection: Some(Collection {
                    display_name: Some("Blog posts".into()),
                    ..Default::default()
                }),
                update_mask: mask(&["display_name"]),
            },
        ))
        .await;
    let updated = r.ok("UpdateCollection", res);
    check!(
        r,
        updated.display_name.as_deref() == Some("Blog posts"),
        "{updated:?}"
    );
    let names = field_names(c, r, t, p, "posts").await;
    check!(
        r,
        names.contains(&"title".to_owned()) && names.contains(&"views".to_owned()),
        "{names:?}"
    );
    let res = c
        .get_field(authed(
            t,
            GetFieldRequest {
                project_id: p.into(),
                collection_name: "posts".into(),
                field_name: "title".into(),
            },
        ))
        .await;
    let title = r.ok("GetField", res);
    check!(
        r,
        title.field_type == "text" && !title.is_indexed,
        "{title:?}"
    );
    let res = c
        .update_field(authed(
            t,
            UpdateFieldRequest {
                project_id: p.into(),
                collection_name: "posts".into(),
                field_name: "title".into(),
                field: Some(FieldUpdate {
                    display_name: Some("Headline".into()),
                    is_indexed: Some(true),
                    ..Default::default()
                }),
                update_mask: mask(&["display_name", "is_indexed"]),
            },
        ))
        .await;
    let f = r.ok("UpdateField", res);
    check!(
        r,
        f.id == title.id && f.display_name == "Headline" && f.is_indexed,
        "{f:?}"
    );
    let res = c
        .list_schema_ops(authed(
            t,
            ListSchemaOpsRequest {
                project_id: p.into(),
                collection_id: Some(posts.id.clone()),
                ..Default::default()
            },
        ))
        .await;
    let ops = r.ok("ListSchemaOps", res);
    check!(
        r,
        ops.schema_ops.iter().any(|o| o.op_type == "create_table")
            && ops.schema_ops.iter().any(|o| o.op_type == "add_column")
            && ops
                .schema_ops
                .iter()
                .all(|o| o.project_id == p && o.collection_id.as_deref() == Some(&posts.id)),
        "{ops:?}"
    );
    posts
}

/// CreateRelation, ListRelations, ListReverseRelations, GetRelationOptions, DeleteRelation.
pub(crate) async fn relations(
    c: &mut Client,
    r: &mut Report,
    t: &str,
    p: &str,
    posts: &Collection,
) {
    let authors = create_collection(c, r, t, p, "authors").await;
    create_field(c, r, t, p, "authors", "name", "string").await;
    let res = c
        .create_relation(authed(
            t,
            CreateRelationRequest {
                project_id: p.into(),
                collection_id: posts.id.clone(),
                name: "author".into(),
                display_name: "Author".into(),
                target_collection_id: authors.id.clone(),
                on_delete: Some("SET NULL".into()),
                display_field: Some("name".into()),
                ..Default::default()
            },
        ))
        .await;
    let rel = r.ok("CreateRelation", res);
    check!(
        r,
        rel.target_collection_name == "authors"
            && rel.relation_on_delete == "SET NULL"
            && rel.relation_target_collection_id.as_deref() == Some(&authors.id),
        "{rel:?}"
    );
    let list_req = ListRelationsRequest {
        project_id: p.into(),
        collection_id: posts.id.clone(),
        ..Default::default()
    };
    let res = c.list_relations(authed(t, list_req.clone())).await;
    let list = r.ok("ListRelations", res);
    check!(r, list.relations.iter().any(|x| x.id == rel.id), "{list:?}");
    let res = c
        .list_reverse_relations(authed(
            t,
            ListReverseRelationsRequest {
                project_id: p.into(),
                collection_id: authors.id.clone(),
                ..Default::default()
            },
        ))
        .await;
    let rev = r.ok("ListReverseRelations", res);
    check!(
        r,
        rev.reverse_relations
            .iter()
            .any(|x| x.id == rel.id && x.source_collection_name == "posts"),
        "{rev:?}"
    );
    let res = c
        .get_relation_options(authed(
            t,
            GetRelationOptionsRequest {
                project_id: p.into(),
            },
        ))
        .await;
    let opts = r.ok("GetRelationOptions", res);
    check!(
        r,
        opts.on_delete_actions.iter().any(|o| o.value == "CASCADE")
            && opts.relation_types.iter().any(|o| o.value == "many_to_one"),
        "{opts:?}"
    );
    let res = c
        .delete_relation(authed(
            t,
            DeleteRelationRequest {
                project_id: p.into(),
                collection_id: posts.id.clone(),
                field_id: rel.id.clone(),
            },
        ))
        .await;
    let del = r.ok("DeleteRelation", res);
    check!(r, del.success, "{del:?}");
    let res = c.list_relations(authed(t, list_req)).await;
    let list = r.ok("ListRelations", res);
    check!(r, list.relations.is_empty(), "{list:?}");
}

/// CreateView, ListViews, GetViewOperators, GetView, UpdateView (also with a join), ListViewVersions,
/// GetViewMeta, DeleteView.
pub(crate) async fn views(c: &mut Client, r: &mut Report, t: &str, p: &str, posts: &Collection) {
    let res = c
        .create_view(authed(
            t,
            CreateViewRequest {
                project_id: p.into(),
                name: "recent_posts".into(),
                display_name: "Recent posts".into(),
                base_collection_id: posts.id.clone(),
                projection: vec!["id".into(), "title".into()],
                filters: vec![ViewFilter {
                    field: "title".into(),
                    operator: "=".into(),
                    value: Some(to_value(&json!("hello"))),
                    ..Default::default()
                }],
                sorts: vec![ViewSort {
                    field: "created_at".into(),
                    desc: true,
                    ..Default::default()
                }],
                default_limit: Some(10),
                ..Default::default()
            },
        ))
        .await;
    let view = r.ok("CreateView", res);
    check!(
        r,
        view.version == 1 && view.default_limit == 10 && view.base_collection_id == posts.id,
        "{view:?}"
    );
    let res = c
        .list_views(authed(
            t,
            ListViewsRequest {
                project_id: p.into(),
                ..Default::default()
            },
        ))
        .await;
    let list = r.ok("ListViews", res);
    check!(r, list.views.iter().any(|v| v.id == view.id), "{list:?}");
    let res = c
        .get_view_operators(authed(
            t,
            GetViewOperatorsRequest {
                project_id: p.into(),
            },
        ))
        .await;
    let ops = r.ok("GetViewOperators", res);
    check!(r, ops.operators.iter().any(|o| o.value == "="), "{ops:?}");
    let get = GetViewRequest {
        project_id: p.into(),
        view_name: "recent_posts".into(),
    };
    let res = c.get_view(authed(t, get.clone())).await;
    let got = r.ok("GetView", res);
    let value = got
        .filters
        .first()
        .and_then(|f| f.value.as_ref())
        .map(from_value);
    check!(
        r,
        got.id == view.id
            && value == Some(json!("hello"))
            && got.sorts.first().is_some_and(|s| s.desc),
        "{got:?}"
    );
    let res = c
        .update_view(authed(
            t,
            UpdateViewRequest {
                project_id: p.into(),
                view_name: "recent_posts".into(),
                view: Some(View {
                    display_name: Some("Newest posts".into()),
                    description: Some("The latest first".into()),
                    ..Default::default()
                }),
                update_mask: mask(&["display_name", "description"]),
            },
        ))
        .await;
    let updated = r.ok("UpdateView", res);
    check!(
        r,
        updated.version == 2
            && updated.display_name.as_deref() == Some("Newest posts")
            && updated.description.as_deref() == Some("The latest first")
            && updated.filters.len() == 1,
        "{updated:?}"
    );
    let res = c
        .list_view_versions(authed(
            t,
            ListViewVersionsRequest {
                project_id: p.into(),
                view_name: "recent_posts".into(),
                ..Default::default()
            },
        ))
        .await;
    let versions = r.ok("ListViewVersions", res);
    let numbers: Vec<i64> = versions.versions.iter().map(|v| v.version).collect();
    check!(
        r,
        numbers == [2, 1] && versions.versions.iter().all(|v| v.view_id == view.id),
        "{versions:?}"
    );
    let res = c
        .get_view_meta(authed(
            t,
            GetViewMetaRequest {
                project_id: p.into(),
                view_name: "recent_posts".into(),
            },
        ))
        .await;
    let meta = r.ok("GetViewMeta", res).meta.as_ref().map(from_struct);
    check!(
        r,
        meta.as_ref()
            .is_some_and(|m| m["view_name"] == "recent_posts" && m["base_collection"] == "posts"),
        "{meta:?}"
    );
    view_join_defaults(c, r, t, p, posts).await;
    let res = c
        .delete_view(authed(
            t,
            DeleteViewRequest {
                project_id: p.into(),
                view_name: "recent_posts".into(),
            },
        ))
        .await;
    r.ok("DeleteView", res);
    let res = c.get_view(authed(t, get)).await;
    r.fails("GetView after DeleteView", res, Code::NotFound);
}

/// UpdateView of `recent_posts` with a join that sets only `collection_id` and `on_field`, masked
/// as `joins`: the join's unset fields stay out of the REST body, so REST's defaults (`target_field`
/// "id", `type` "left") apply; fields not masked keep their values.
async fn view_join_defaults(c: &mut Client, r: &mut Report, t: &str, p: &str, posts: &Collection) {
    let res = c
        .update_view(authed(
            t,
            UpdateViewRequest {
                project_id: p.into(),
                view_name: "recent_posts".into(),
                view: Some(View {
                    joins: vec![ViewJoin {
                        collection_id: posts.id.clone(),
                        on_field: "views".into(),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
                update_mask: mask(&["joins"]),
            },
        ))
        .await;
    let joined = r.ok("UpdateView (joins)", res);
    let join = joined.joins.first();
    check!(
        r,
        joined.joins.len() == 1
            && join.is_some_and(|j| j.collection_id == posts.id
                && j.on_field == "views"
                && j.target_field == "id"
                && j.r#type == "left")
            && joined.version == 3
            && joined.display_name.as_deref() == Some("Newest posts")
            && joined.filters.len() == 1,
        "{joined:?}"
    );
}
