//! Access control: collections' policies (`…/schema/collections/{c}/policies/**`) and the
//! project's RBAC roles (`…/rbac/roles/**`, `…/rbac/initialize`). Role assignments of app users
//! are the data API's (`…/rbac/users/**`, in the project's own document).

use super::{flag, list_of, object, op, sref, text, Op, UUID};
use serde_json::{json, Value};

const P: &str = "/api/projects/{project_id}";

const CONDITION: &str = "A JSON object as a string, echoed byte for byte. Typed forms \
    (`{\"type\": \"owner\"}`, `authenticated`, `app_user_owner`, `field_equals`, `and`, `or`, `not`) \
    or, without `type`, the console's form (`{\"created_by_app_user_id\": \"$current_user_id\", \
    \"n\": {\"$gt\": \"5\"}}`). Anything that is not a JSON object answers 400.";

pub(super) fn ops() -> Vec<Op> {
    let pol = format!("{P}/schema/collections/{{collection_name}}/policies");
    let one_pol = format!("{pol}/{{policy_id}}");
    let roles = format!("{P}/rbac/roles");
    let one_role = format!("{roles}/{{role_id}}");
    vec![
        op("post", pol.clone(), "policies", "Create a policy")
            .about("Checked in this order: action, effect, principals, condition (400 each). Enforced by every worker when the call returns.")
            .body(policy_body(true))
            .ok(201, "The policy (active).", sref("Policy"))
            .errors(&[400, 422])
            .pushed(),
        op("get", pol, "policies", "The collection's active policies")
            .about("In evaluation order: priority descending, then creation order.")
            .ok(200, "Active policies.", list_of("Policy")),
        op("get", one_pol.clone(), "policies", "A policy")
            .about("Inactive policies too.")
            .ok(200, "The policy.", sref("Policy")),
        op("patch", one_pol.clone(), "policies", "Update a policy")
            .about("Absent or null keys keep their value; `action` cannot change. An empty `allowed_principals` means the default principals.")
            .body(policy_body(false))
            .ok(200, "The policy.", sref("Policy"))
            .errors(&[400, 422])
            .pushed(),
        op("delete", one_pol, "policies", "Delete a policy")
            .ok(204, "Deleted.", Value::Null)
            .pushed(),
        op("post", roles.clone(), "rbac", "Create a role")
            .about("`is_default: true` takes the default from every other role of the project.")
            .body(object(
                &[
                    ("name", json!({ "type": "string", "minLength": 1, "maxLength": 63, "description": "Unique in the project; what policies' `allowed_roles` name." })),
                    ("display_name", json!({ "type": "string", "maxLength": 127 })),
                    ("description", json!({ "type": ["string", "null"] })),
                    ("is_default", flag()),
                ],
                &["name", "display_name"],
            ))
            .ok(201, "The role.", sref("Role"))
            .errors(&[409, 422])
            .pushed(),
        op("get", roles, "rbac", "The project's roles")
            .ok(200, "System roles first, then by name.", list_of("Role")),
        op("get", one_role.clone(), "rbac", "A role").ok(200, "The role.", sref("Role")),
        op("patch", one_role.clone(), "rbac", "Update a role")
            .about("Absent or null keys keep their value; `name` cannot change. `is_default: true` takes the default from every other role. System roles answer 403.")
            .body(object(
                &[
                    ("display_name", json!({ "type": ["string", "null"], "maxLength": 127 })),
                    ("description", json!({ "type": ["string", "null"] })),
                    ("is_default", json!({ "type": ["boolean", "null"] })),
                ],
                &[],
            ))
            .ok(200, "The role.", sref("Role"))
            .errors(&[403, 422])
            .pushed(),
        op("delete", one_role, "rbac", "Delete a role")
            .about("Its assignments to app users go with it. System roles answer 403.")
            .ok(204, "Deleted.", Value::Null)
            .errors(&[403])
            .pushed(),
        op("post", format!("{P}/rbac/initialize"), "rbac", "Create the system roles")
            .about("Creates whichever of `admin`, `member` and `viewer` does not exist by name. `member` becomes the default role unless the project already has one.")
            .ok(201, "How many roles were created now (0 on a second call).", object(&[("roles_created", json!({ "type": "integer" }))], &["roles_created"]))
            .pushed(),
    ]
}

fn policy_body(create: bool) -> Value {
    let nullable = |t: &str| json!({ "type": [t, "null"] });
    let mut props = vec![(
        "name",
        json!({ "type": "string", "minLength": 1, "maxLength": 63 }),
    )];
    if create {
        props.push((
            "action",
            json!({ "type": "string", "enum": ["create", "read", "update", "delete", "list"] }),
        ));
    }
    props.extend([
        (
            "effect",
            json!({ "type": "string", "enum": ["allow", "deny"], "default": "allow" }),
        ),
        ("condition_json", {
            let mut s = nullable("string");
            s["description"] = json!(CONDITION);
            s
        }),
        ("priority", json!({ "type": "integer", "default": 0, "description": "Higher first." })),
        (
            "allowed_principals",
            json!({ "type": ["string", "null"], "description": "Comma list of `admin_user`, `app_user`, `api_key`, `anonymous`; null or empty means `admin_user,api_key`." }),
        ),
        ("require_email_verified", flag()),
        (
            "allowed_roles",
            json!({ "type": ["string", "null"], "description": "Comma list of role names; an app user must hold one of them. Null or empty: no restriction; a list of only commas (`\",\"`) admits no app user." }),
        ),
    ]);
    if create {
        object(&props, &["name", "action"])
    } else {
        props.push(("is_active", nullable("boolean")));
        object(&props, &[])
    }
}

pub(super) fn schemas() -> Vec<(&'static str, Value)> {
    let uuid = json!({ "type": "string", "format": UUID });
    let time = json!({ "type": "string", "format": "date-time" });
    let string = json!({ "type": "string" });
    let nullable = json!({ "type": ["string", "null"] });
    let boolean = json!({ "type": "boolean" });
    vec![
        (
            "Policy",
            object(
                &[
                    ("id", uuid.clone()),
                    ("collection_id", uuid.clone()),
                    ("name", string.clone()),
                    ("action", string.clone()),
                    ("effect", string.clone()),
                    ("condition_json", text("As sent, or null.")),
                    ("is_active", boolean.clone()),
                    ("priority", json!({ "type": "integer" })),
                    ("allowed_principals", nullable.clone()),
                    ("require_email_verified", boolean.clone()),
                    ("allowed_roles", nullable.clone()),
                    ("created_at", time.clone()),
                    ("updated_at", time.clone()),
                ],
                &[
                    "id",
                    "collection_id",
                    "name",
                    "action",
                    "effect",
                    "is_active",
                    "priority",
                    "require_email_verified",
                    "created_at",
                    "updated_at",
                ],
            ),
        ),
        (
            "Role",
            object(
                &[
                    ("id", uuid.clone()),
                    ("project_id", uuid),
                    ("name", string.clone()),
                    ("display_name", string),
                    ("description", nullable),
                    ("is_default", boolean.clone()),
                    ("is_system", boolean),
                    ("created_at", time.clone()),
                    ("updated_at", time),
                ],
                &[
                    "id",
                    "project_id",
                    "name",
                    "display_name",
                    "is_default",
                    "is_system",
                    "created_at",
                    "updated_at",
                ],
            ),
        ),
    ]
}
