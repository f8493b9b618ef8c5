//! Who may do what: admin sign-in and API tokens, projects and their API keys, a project's auth
//! settings, and its app users and roles.

use super::*;

/// Register, Login, Refresh, Logout, GetMe; answers a working access token.
pub(crate) async fn admin_auth(c: &mut Client, r: &mut Report) -> String {
    let email = "all@example.com";
    let reg = c
        .register(Request::new(RegisterRequest {
            email: email.into(),
            password: "password123".into(),
        }))
        .await;
    let reg = r.ok("Register", reg);
    check!(r, !reg.access_token.is_empty(), "{reg:?}");
    let login = c
        .login(Request::new(LoginRequest {
            email: email.into(),
            password: "password123".into(),
        }))
        .await;
    let pair = r.ok("Login", login);
    check!(r, pair.token_type == "bearer", "{pair:?}");
    let res = c
        .refresh(Request::new(RefreshRequest {
            refresh_token: pair.refresh_token.clone(),
        }))
        .await;
    let fresh = r.ok("Refresh", res);
    check!(
        r,
        !fresh.access_token.is_empty() && fresh.refresh_token != pair.refresh_token,
        "the refresh token rotates: {fresh:?}"
    );
    let res = c
        .logout(Request::new(LogoutRequest {
            refresh_token: fresh.refresh_token.clone(),
        }))
        .await;
    r.ok("Logout", res);
    let res = c
        .refresh(Request::new(RefreshRequest {
            refresh_token: fresh.refresh_token.clone(),
        }))
        .await;
    r.fails("Refresh after Logout", res, Code::Unauthenticated);
    let t = fresh.access_token;
    let res = c.get_me(authed(&t, GetMeRequest {})).await;
    let me = r.ok("GetMe", res);
    check!(r, me.email == email, "{me:?}");
    t
}

/// CreateApiToken, ListApiTokens, RevokeApiToken.
pub(crate) async fn api_tokens(c: &mut Client, r: &mut Report, t: &str) {
    let res = c
        .create_api_token(authed(
            t,
            CreateApiTokenRequest {
                name: "ci".into(),
                read_only: Some(true),
                expires_in_days: Some(30),
                ..Default::default()
            },
        ))
        .await;
    let token = r.ok("CreateApiToken", res);
    check!(r, token.token.is_some() && token.read_only, "{token:?}");
    let res = c
        .revoke_api_token(authed(
            t,
            RevokeApiTokenRequest {
                token_id: token.id.clone(),
            },
        ))
        .await;
    r.ok("RevokeApiToken", res);
    let res = c
        .list_api_tokens(authed(t, ListApiTokensRequest::default()))
        .await;
    let list = r.ok("ListApiTokens", res);
    check!(
        r,
        list.api_tokens
            .iter()
            .any(|k| k.id == token.id && k.status == "revoked" && k.token.is_none()),
        "{list:?}"
    );
}

/// CreateProject, GetProject, ListProjects; answers the project's id.
pub(crate) async fn projects(c: &mut Client, r: &mut Report, t: &str) -> String {
    let res = c
        .create_project(authed(
            t,
            CreateProjectRequest {
                name: "Everything".into(),
            },
        ))
        .await;
    let p = r.ok("CreateProject", res).id;
    let res = c
        .get_project(authed(
            t,
            GetProjectRequest {
                project_id: p.clone(),
            },
        ))
        .await;
    let got = r.ok("GetProject", res);
    check!(r, got.id == p && got.name == "Everything", "{got:?}");
    let res = c
        .list_projects(authed(t, ListProjectsRequest::default()))
        .await;
    let list = r.ok("ListProjects", res);
    check!(r, list.projects.iter().any(|x| x.id == p), "{list:?}");
    p
}

/// CreateApiKey, ListApiKeys, RevokeApiKey.
pub(crate) async fn api_keys(c: &mut Client, r: &mut Report, t: &str, p: &str) {
    let res = c
        .create_api_key(authed(
            t,
            CreateApiKeyRequest {
                project_id: p.into(),
                name: "app".into(),
            },
        ))
        .await;
    let key = r.ok("CreateApiKey", res);
    check!(r, key.api_key.is_some(), "shown once: {key:?}");
    let res = c
        .revoke_api_key(authed(
            t,
            RevokeApiKeyRequest {
                project_id: p.into(),
                api_key_id: key.id.clone(),
            },
        ))
        .await;
    r.ok("RevokeApiKey", res);
    let res = c
        .list_api_keys(authed(
            t,
            ListApiKeysRequest {
                project_id: p.into(),
                ..Default::default()
            },
        ))
        .await;
    let list = r.ok("ListApiKeys", res);
    check!(
        r,
        list.api_keys
            .iter()
            .any(|k| k.id == key.id && k.revoked && k.api_key.is_none()),
        "{list:?}"
    );
}

/// GetAuthSettings, UpdateAuthSettings, UpdateOAuthProvider, ListOAuthProviders,
/// DeleteOAuthProvider, RotateSigningKey, ListSigningKeys.
pub(crate) async fn auth_settings(c: &mut Client, r: &mut Report, t: &str, p: &str) {
    let get = GetAuthSettingsRequest {
        project_id: p.into(),
    };
    let res = c.get_auth_settings(authed(t, get.clone())).await;
    let settings = r.ok("GetAuthSettings", res);
    check!(
        r,
        settings.enable_email_password == Some(true)
            && settings.session_mode.as_deref() == Some("header"),
        "{settings:?}"
    );
    let res = c
        .update_auth_settings(authed(
            t,
            UpdateAuthSettingsRequest {
                project_id: p.into(),
                auth_settings: Some(AuthSettings {
                    access_ttl_minutes: Some(30),
                    allow_public_signup: Some(false),
                    ..Default::default()
                }),
                update_mask: mask(&["access_ttl_minutes", "allow_public_signup"]),
            },
        ))
        .await;
    let updated = r.ok("UpdateAuthSettings", res);
    check!(
        r,
        updated.access_ttl_minutes == Some(30)
            && updated.allow_public_signup == Some(false)
            && updated.enable_email_password == Some(true),
        "{updated:?}"
    );
    let res = c.get_auth_settings(authed(t, get)).await;
    let again = r.ok("GetAuthSettings", res);
    check!(r, again.access_ttl_minutes == Some(30), "{again:?}");

    let res = c
        .update_o_auth_provider(authed(
            t,
            UpdateOAuthProviderRequest {
                project_id: p.into(),
                provider: "google".into(),
                oauth_provider: Some(OAuthProviderUpdate {
                    client_id: Some("client-1".into()),
                    client_secret: Some("s3cret".into()),
                    scopes: Some("openid email".into()),
                    ..Default::default()
                }),
                update_mask: None,
            },
        ))
        .await;
    let provider = r.ok("UpdateOAuthProvider", res);
    check!(
        r,
        provider.name == "google"
            && provider.kind == "google"
            && provider.client_id == "client-1"
            && provider.has_client_secret
            && provider.scopes.as_deref() == Some("openid email"),
        "{provider:?}"
    );
    let list_req = ListOAuthProvidersRequest {
        project_id: p.into(),
        ..Default::default()
    };
    let res = c.list_o_auth_providers(authed(t, list_req.clone())).await;
    let list = r.ok("ListOAuthProviders", res);
    check!(
        r,
        list.providers.iter().any(|x| x.name == "google"),
        "{list:?}"
    );
    let res = c
        .delete_o_auth_provider(authed(
            t,
            DeleteOAuthProviderRequest {
                project_id: p.into(),
                provider: "google".into(),
            },
        ))
        .await;
    r.ok("DeleteOAuthProvider", res);
    let res = c.list_o_auth_providers(authed(t, list_req)).await;
    let list = r.ok("ListOAuthProviders", res);
    check!(r, list.providers.is_empty(), "{list:?}");

    let res = c
        .rotate_signing_key(authed(
            t,
            RotateSigningKeyRequest {
                project_id: p.into(),
            },
        ))
        .await;
    let rotated = r.ok("RotateSigningKey", res);
    check!(r, !rotated.kid.is_empty(), "{rotated:?}");
    let res = c
        .list_signing_keys(authed(
            t,
            ListSigningKeysRequest {
                project_id: p.into(),
                ..Default::default()
            },
        ))
        .await;
    let keys = r.ok("ListSigningKeys", res);
    check!(
        r,
        keys.signing_keys
            .iter()
            .any(|k| k.kid == rotated.kid && k.current && k.retired_at.is_none()),
        "{keys:?}"
    );
}

/// CreateAppUser, ListAppUsers, GetAppUser, UpdateAppUser, RevokeAppUserSessions, CreateRole,
/// GetRole, UpdateRole, ListRoles, InitializeRoles, AssignUserRoles, ListUserRoles,
/// RemoveUserRole, DeleteRole, DeleteAppUser.
pub(crate) async fn app_users_and_roles(c: &mut Client, r: &mut Report, t: &str, p: &str) {
    let res = c
        .create_app_user(authed(
            t,
            CreateAppUserRequest {
                project_id: p.into(),
                email: "reader@example.com".into(),
                password: Some("password123".into()),
                ..Default::default()
            },
        ))
        .await;
    let user = r.ok("CreateAppUser", res);
    check!(
        r,
        user.email == "reader@example.com" && !user.is_email_verified,
        "{user:?}"
    );
    let res = c
        .list_app_users(authed(
            t,
            ListAppUsersRequest {
                project_id: p.into(),
                ..Default::default()
            },
        ))
        .await;
    let users = r.ok("ListAppUsers", res);
    check!(r, users.users.iter().any(|u| u.id == user.id), "{users:?}");
    let get = GetAppUserRequest {
        project_id: p.into(),
        app_user_id: user.id.clone(),
    };
    let res = c.get_app_user(authed(t, get.clone())).await;
    let got = r.ok("GetAppUser", res);
    check!(r, got.id == user.id && got.email == user.email, "{got:?}");
    let res = c
        .update_app_user(authed(
            t,
            UpdateAppUserRequest {
                project_id: p.into(),
                app_user_id: user.id.clone(),
                app_user: Some(AppUserUpdate {
                    email: Some("editor@example.com".into()),
                    is_email_verified: Some(true),
                    ..Default::default()
                }),
                update_mask: mask(&["email", "is_email_verified"]),
            },
        ))
        .await;
    let updated = r.ok("UpdateAppUser", res);
    check!(
        r,
        updated.email == "editor@example.com" && updated.is_email_verified && !updated.is_disabled,
        "{updated:?}"
    );
    let res = c
        .revoke_app_user_sessions(authed(
            t,
            RevokeAppUserSessionsRequest {
                project_id: p.into(),
                app_user_id: user.id.clone(),
            },
        ))
        .await;
    r.ok("RevokeAppUserSessions", res);

    let res = c
        .create_role(authed(
            t,
            CreateRoleRequest {
                project_id: p.into(),
                name: "editor".into(),
                display_name: "Editor".into(),
                ..Default::default()
            },
        ))
        .await;
    let role = r.ok("CreateRole", res);
    let get_role = GetRoleRequest {
        project_id: p.into(),
        role_id: role.id.clone(),
    };
    let res = c.get_role(authed(t, get_role.clone())).await;
    let got = r.ok("GetRole", res);
    check!(r, got.id == role.id && got.name == "editor", "{got:?}");
    let res = c
        .update_role(authed(
            t,
            UpdateRoleRequest {
                project_id: p.into(),
                role_id: role.id.clone(),
                role: Some(Role {
                    description: Some("Can edit".into()),
                    ..Default::default()
                }),
                update_mask: mask(&["description"]),
            },
        ))
        .await;
    let updated = r.ok("UpdateRole", res);
    check!(
        r,
        updated.description.as_deref() == Some("Can edit")
            && updated.display_name.as_deref() == Some("Editor"),
        "{updated:?}"
    );
    let res = c
        .initialize_roles(authed(
            t,
            InitializeRolesRequest {
                project_id: p.into(),
            },
        ))
        .await;
    let init = r.ok("InitializeRoles", res);
    check!(r, init.roles_created == 3, "{init:?}");
    let list_req = ListRolesRequest {
        project_id: p.into(),
        ..Default::default()
    };
    let res = c.list_roles(authed(t, list_req.clone())).await;
    let roles = r.ok("ListRoles", res);
    check!(
        r,
        roles.roles.iter().any(|x| x.id == role.id)
            && roles.roles.iter().any(|x| x.name == "admin" && x.is_system),
        "{roles:?}"
    );

    let res = c
        .assign_user_roles(authed(
            t,
            AssignUserRolesRequest {
                project_id: p.into(),
                user_id: user.id.clone(),
                role_ids: vec![role.id.clone()],
            },
        ))
        .await;
    let held = r.ok("AssignUserRoles", res);
    check!(
        r,
        held.app_user_id == user.id && held.roles.iter().any(|x| x.id == role.id),
        "{held:?}"
    );
    let list_user = ListUserRolesRequest {
        project_id: p.into(),
        user_id: user.id.clone(),
        ..Default::default()
    };
    let res = c.list_user_roles(authed(t, list_user.clone())).await;
    let held = r.ok("ListUserRoles", res);
    check!(
        r,
        held.roles
            .iter()
            .any(|x| x.id == role.id && x.name == "editor"),
        "{held:?}"
    );
    let res = c
        .remove_user_role(authed(
            t,
            RemoveUserRoleRequest {
                project_id: p.into(),
                user_id: user.id.clone(),
                role_id: role.id.clone(),
            },
        ))
        .await;
    r.ok("RemoveUserRole", res);
    let res = c.list_user_roles(authed(t, list_user)).await;
    let held = r.ok("ListUserRoles", res);
    check!(r, !held.roles.iter().any(|x| x.id == role.id), "{held:?}");
    let res = c
        .delete_role(authed(
            t,
            DeleteRoleRequest {
                project_id: p.into(),
                role_id: role.id.clone(),
            },
        ))
        .await;
    r.ok("DeleteRole", res);
    let res = c.get_role(authed(t, get_role)).await;
    r.fails("GetRole after DeleteRole", res, Code::NotFound);

    let res = c
        .delete_app_user(authed(
            t,
            DeleteAppUserRequest {
                project_id: p.into(),
                app_user_id: user.id.clone(),
            },
        ))
        .await;
    r.ok("DeleteAppUser", res);
    let res = c.get_app_user(authed(t, get)).await;
    r.fails("GetAppUser after DeleteAppUser", res, Code::NotFound);
}
