//! The gRPC admin API (`backendify.admin.v1.AdminService`) through the router's public port: each
//! resource's happy path, the errors REST gives mapped to gRPC codes, admin API tokens and their
//! limits (also on the routes workers serve), paging, health and reflection.

use e2e::TestEnv;
use proto::admin::*;
use proto::json::{from_struct, to_struct};
use proto::AdminServiceClient;
use serde_json::json;
use tonic::transport::Channel;
use tonic::{Code, Request};
use tonic_types::StatusExt;

type Client = AdminServiceClient<Channel>;

async fn client(env: &TestEnv) -> Client {
    let url = format!("http://{}", env.router_addr());
    AdminServiceClient::new(
        proto::connect(&url)
            .await
            .expect("the router speaks HTTP/2"),
    )
}

/// `msg` with `authorization: Bearer <token>`.
fn authed<T>(token: &str, msg: T) -> Request<T> {
    let mut req = Request::new(msg);
    req.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    req
}

async fn login(c: &mut Client, email: &str) -> String {
    c.register(Request::new(RegisterRequest {
        email: email.into(),
        password: "password123".into(),
    }))
    .await
    .expect("register");
    let pair = c
        .login(Request::new(LoginRequest {
            email: email.into(),
            password: "password123".into(),
        }))
        .await
        .expect("login")
        .into_inner();
    assert_eq!(pair.token_type, "bearer");
    pair.access_token
}

async fn project(c: &mut Client, t: &str, name: &str) -> String {
    c.create_project(authed(t, CreateProjectRequest { name: name.into() }))
        .await
        .expect("create project")
        .into_inner()
        .id
}

async fn collection(c: &mut Client, t: &str, p: &str, name: &str) {
    c.create_collection(authed(
        t,
        CreateCollectionRequest {
            project_id: p.into(),
            name: name.into(),
            display_name: name.into(),
        },
    ))
    .await
    .expect("create collection");
    c.create_field(authed(
        t,
        CreateFieldRequest {
            project_id: p.into(),
            collection_name: name.into(),
            name: "title".into(),
            display_name: "Title".into(),
            field_type: "text".into(),
            ..Default::default()
        },
    ))
    .await
    .expect("create field");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_resource_over_grpc_through_the_router() {
    let env = TestEnv::start().await;
    let mut c = client(&env).await;
    let t = login(&mut c, "grpc@example.com").await;
    let me = c
        .get_me(authed(&t, GetMeRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(me.email, "grpc@example.com");

    // Projects, with paging.
    let p = project(&mut c, &t, "Shop").await;
    project(&mut c, &t, "Two").await;
    project(&mut c, &t, "Three").await;
    let got = c
        .get_project(authed(
            &t,
            GetProjectRequest {
                project_id: p.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((got.id.as_str(), got.name.as_str()), (p.as_str(), "Shop"));
    let first = c
        .list_projects(authed(
            &t,
            ListProjectsRequest {
                page_size: 2,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.projects.len(), 2);
    assert!(!first.next_page_token.is_empty());
    let second = c
        .list_projects(authed(
            &t,
            ListProjectsRequest {
                page_size: 2,
                page_token: first.next_page_token.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.projects.len(), 1);
    assert!(second.next_page_token.is_empty());
    let mut names: Vec<String> = first
        .projects
        .iter()
        .chain(&second.projects)
        .map(|p| p.name.clone())
        .collect();
    names.sort();
    assert_eq!(names, ["Shop", "Three", "Two"]);

    // Collections and fields; an update sends only what its mask names.
    collection(&mut c, &t, &p, "posts").await;
    // Read-your-writes across protocols: the field exists on every worker at once.
    let rec = env
        .call(
            "POST",
            &format!("/api/projects/{p}/data/posts"),
            Some(&t),
            Some(json!({"title": "hello"})),
        )
        .await;
    assert_eq!(rec.status, 201, "{rec:?}");
    let list = c
        .list_collections(authed(
            &t,
            ListCollectionsRequest {
                project_id: p.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let names: Vec<&str> = list
        .collections
        .iter()
        .filter(|c| !c.is_system)
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names, ["posts"]);
    let updated = c
        .update_collection(authed(
            &t,
            UpdateCollectionRequest {
                project_id: p.clone(),
                collection_name: "posts".into(),
                collection: Some(Collection {
                    display_name: Some("Blog posts".into()),
                    name: "ignored-without-mask".into(),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["display_name".into()],
                }),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.display_name.as_deref(), Some("Blog posts"));
    assert_eq!(updated.name, "posts");
    let fields = c
        .list_fields(authed(
            &t,
            ListFieldsRequest {
                project_id: p.clone(),
                collection_name: "posts".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(
        fields
            .fields
            .iter()
            .any(|f| f.name == "title" && f.field_type == "text"),
        "{fields:?}"
    );

    // Validation rules, policies, roles.
    let rule = c
        .create_validation_rule(authed(
            &t,
            CreateValidationRuleRequest {
                project_id: p.clone(),
                collection_name: "posts".into(),
                field_name: "title".into(),
                rule_type: "min_length".into(),
                config: Some(to_struct(json!({"min": 3}).as_object().unwrap())),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rule.rule_type, "min_length");
    let short = env
        .call(
            "POST",
            &format!("/api/projects/{p}/data/posts"),
            Some(&t),
            Some(json!({"title": "hi"})),
        )
        .await;
    assert_eq!(
        short.status, 400,
        "the rule made over gRPC holds on REST: {short:?}"
    );
    assert_eq!(
        short.body["detail"]["validation_errors"]["title"][0], "Must be at least 3 characters",
        "numbers in a Struct stay integers"
    );
    let policy = c
        .create_policy(authed(
            &t,
            CreatePolicyRequest {
                project_id: p.clone(),
                collection_name: "posts".into(),
                name: "public read".into(),
                action: "read".into(),
                allowed_principals: Some("anonymous".into()),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(policy.action, "read");
    let rest = env
        .call(
            "GET",
            &format!(
                "/api/projects/{p}/schema/collections/posts/policies/{}",
                policy.id
            ),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(rest.body["allowed_principals"], "anonymous", "{rest:?}");
    let role = c
        .create_role(authed(
            &t,
            CreateRoleRequest {
                project_id: p.clone(),
                name: "editor".into(),
                display_name: "Editor".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let roles = c
        .list_roles(authed(
            &t,
            ListRolesRequest {
                project_id: p.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(roles.roles.iter().any(|r| r.id == role.id));

    // API keys: shown once, listed without the secret, revoked.
    let key = c
        .create_api_key(authed(
            &t,
            CreateApiKeyRequest {
                project_id: p.clone(),
                name: "app".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let secret = key.api_key.clone().expect("shown once");
    let keys = c
        .list_api_keys(authed(
            &t,
            ListApiKeysRequest {
                project_id: p.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(keys.api_keys.iter().all(|k| k.api_key.is_none()));
    c.revoke_api_key(authed(
        &t,
        RevokeApiKeyRequest {
            project_id: p.clone(),
            api_key_id: key.id.clone(),
        },
    ))
    .await
    .unwrap();
    let with_key = env
        .request("GET", &format!("/api/projects/{p}/data/posts"))
        .header("x-api-key", secret);
    assert_eq!(env.send(with_key).await.status, 401);

    // Webhooks and workflows.
    let hook = c
        .create_webhook(authed(
            &t,
            CreateWebhookRequest {
                project_id: p.clone(),
                name: "Posts".into(),
                url: "https://example.com/hook".into(),
                events: vec!["record.created".into()],
                is_active: Some(false),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let hooks = c
        .list_webhooks(authed(
            &t,
            ListWebhooksRequest {
                project_id: p.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(hooks.webhooks.iter().any(|h| h.id == hook.id));
    let steps = json!({"action": "transform", "name": "t", "output": {"n": 1}});
    let flow = c
        .create_workflow(authed(
            &t,
            CreateWorkflowRequest {
                project_id: p.clone(),
                name: "manual".into(),
                trigger_type: "manual".into(),
                steps: vec![to_struct(steps.as_object().unwrap())],
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(flow.trigger_type.as_deref(), Some("manual"));

    // Routes that workers serve: app users and the audit log.
    let user = c
        .create_app_user(authed(
            &t,
            CreateAppUserRequest {
                project_id: p.clone(),
                email: "reader@example.com".into(),
                password: Some("password123".into()),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let users = c
        .list_app_users(authed(
            &t,
            ListAppUsersRequest {
                project_id: p.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        users
            .users
            .iter()
            .map(|u| u.id.as_str())
            .collect::<Vec<_>>(),
        [user.id.as_str()]
    );
    let audit = c
        .list_audit_events(authed(
            &t,
            ListAuditEventsRequest {
                project_id: p.clone(),
                collection: Some("posts".into()),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(
        audit.events.iter().any(|e| e.action == "create"),
        "{audit:?}"
    );

    // Schema as code: export one project, import into another; a second preview finds nothing.
    let doc = c
        .export_schema(authed(
            &t,
            ExportSchemaRequest {
                project_id: p.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .document
        .expect("a document");
    let exported = from_struct(&doc);
    assert!(
        exported["collections"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "posts"),
        "{exported}"
    );
    let other = project(&mut c, &t, "Copy").await;
    let import = |dry_run: bool| ImportSchemaRequest {
        project_id: other.clone(),
        document: Some(doc.clone()),
        dry_run,
        force: false,
    };
    let preview = c
        .import_schema(authed(&t, import(true)))
        .await
        .unwrap()
        .into_inner();
    assert!(
        preview.dry_run && !preview.changes.is_empty(),
        "{preview:?}"
    );
    c.import_schema(authed(&t, import(false))).await.unwrap();
    let again = c
        .import_schema(authed(&t, import(true)))
        .await
        .unwrap()
        .into_inner();
    assert!(again.changes.is_empty(), "{again:?}");

    // Health and reflection on the same port.
    let channel = proto::connect(&format!("http://{}", env.router_addr()))
        .await
        .unwrap();
    let health = tonic_health::pb::health_client::HealthClient::new(channel.clone())
        .check(tonic_health::pb::HealthCheckRequest {
            service: "backendify.admin.v1.AdminService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        health.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    use tonic_reflection::pb::v1::{
        server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
        ServerReflectionRequest,
    };
    let ask = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = ServerReflectionClient::new(channel)
        .server_reflection_info(tokio_stream::iter([ask]))
        .await
        .unwrap()
        .into_inner();
    let answer = answers.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else {
        panic!("{answer:?}")
    };
    assert!(
        list.service
            .iter()
            .any(|s| s.name == "backendify.admin.v1.AdminService"),
        "{list:?}"
    );
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_map_to_grpc_codes_and_tokens_keep_their_limits() {
    let env = TestEnv::start().await;
    let mut c = client(&env).await;
    let t = login(&mut c, "owner@example.com").await;
    let stranger = login(&mut c, "stranger@example.com").await;
    let p = project(&mut c, &t, "Mine").await;
    let q = project(&mut c, &t, "Other").await;
    collection(&mut c, &t, &p, "posts").await;

    // Credentials.
    let err = c
        .list_projects(Request::new(ListProjectsRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
    let err = c
        .list_projects(authed("not-a-token", ListProjectsRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
    let err = c
        .login(Request::new(LoginRequest {
            email: "owner@example.com".into(),
            password: "wrong-password".into(),
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");

    // Not a member, or no such project: NOT_FOUND, as on REST.
    for (who, id) in [
        (&stranger, p.clone()),
        (&t, uuid::Uuid::new_v4().to_string()),
    ] {
        let err = c
            .get_project(authed(
                who,
                GetProjectRequest {
                    project_id: id.clone(),
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::NotFound, "{err:?}");
        let err = c
            .list_app_users(authed(
                who,
                ListAppUsersRequest {
                    project_id: id,
                    ..Default::default()
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::NotFound, "{err:?}");
    }

    // A request REST refuses with 422: INVALID_ARGUMENT, one field violation per problem.
    let err = c
        .create_collection(authed(
            &t,
            CreateCollectionRequest {
                project_id: p.clone(),
                name: "1 bad name".into(),
                display_name: "x".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    let bad = err.get_details_bad_request().expect("field violations");
    assert!(
        bad.field_violations.iter().any(|v| v.field == "name"),
        "{bad:?}"
    );
    // A missing path field, a mask that names nothing, a page token we never gave.
    let err = c
        .get_collection(authed(
            &t,
            GetCollectionRequest {
                project_id: p.clone(),
                collection_name: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    let err = c
        .update_collection(authed(
            &t,
            UpdateCollectionRequest {
                project_id: p.clone(),
                collection_name: "posts".into(),
                collection: Some(Collection::default()),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["colour".into()],
                }),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    let err = c
        .list_projects(authed(
            &t,
            ListProjectsRequest {
                page_size: 1,
                page_token: "forged".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    // A name that is taken.
    let err = c
        .create_role(authed(
            &t,
            CreateRoleRequest {
                project_id: p.clone(),
                name: "editor".into(),
                display_name: "E".into(),
                ..Default::default()
            },
        ))
        .await
        .and(
            c.create_role(authed(
                &t,
                CreateRoleRequest {
                    project_id: p.clone(),
                    name: "editor".into(),
                    display_name: "E".into(),
                    ..Default::default()
                },
            ))
            .await,
        )
        .unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists, "{err:?}");
    // Hostile names travel as one path segment and are refused, never spliced.
    let err = c
        .get_collection(authed(
            &t,
            GetCollectionRequest {
                project_id: p.clone(),
                collection_name: "../../x'; drop".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err:?}");

    // Admin API tokens over gRPC: read-only, and limited to one project.
    let ro = c
        .create_api_token(authed(
            &t,
            CreateApiTokenRequest {
                name: "dash".into(),
                project_ids: vec![p.clone()],
                read_only: Some(true),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let ro = ro.token.expect("shown once");
    let listed = c
        .list_collections(authed(
            &ro,
            ListCollectionsRequest {
                project_id: p.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(listed.collections.iter().any(|c| c.name == "posts"));
    let err = c
        .create_collection(authed(
            &ro,
            CreateCollectionRequest {
                project_id: p.clone(),
                name: "more".into(),
                display_name: "More".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    // The same limits on a route a worker serves.
    let users = c
        .list_app_users(authed(
            &ro,
            ListAppUsersRequest {
                project_id: p.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(users.users.is_empty());
    let err = c
        .create_app_user(authed(
            &ro,
            CreateAppUserRequest {
                project_id: p.clone(),
                email: "x@example.com".into(),
                password: Some("password123".into()),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    for call in [
        c.get_project(authed(
            &ro,
            GetProjectRequest {
                project_id: q.clone(),
            },
        ))
        .await
        .map(|_| ()),
        c.list_app_users(authed(
            &ro,
            ListAppUsersRequest {
                project_id: q.clone(),
                ..Default::default()
            },
        ))
        .await
        .map(|_| ()),
    ] {
        assert_eq!(call.unwrap_err().code(), Code::NotFound);
    }
    let tokens = c
        .list_api_tokens(authed(&t, ListApiTokensRequest::default()))
        .await
        .unwrap()
        .into_inner();
    let id = tokens.api_tokens[0].id.clone();
    c.revoke_api_token(authed(&t, RevokeApiTokenRequest { token_id: id }))
        .await
        .unwrap();
    let err = c
        .list_collections(authed(
            &ro,
            ListCollectionsRequest {
                project_id: p.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
    env.shutdown().await;
}
