//! The compiled `ProjectConfig`: everything a worker needs to serve one project without reading
//! the control schema. The control plane builds it once per change; workers only read it.

use crate::access::{PolicyConfig, RoleConfig, RuleConfig};
use crate::sql::Ident;
use crate::webhooks::WebhookConfig;
use crate::workflows::WorkflowConfig;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One project, compiled. Versions are monotonic across the platform.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProjectConfig {
    /// The project id.
    pub project_id: Uuid,
    /// Config version; a newer one replaces an older one atomically.
    pub version: u64,
    /// The project's display name.
    pub name: String,
    /// The Postgres schema holding the project's tables (`p_<id>`).
    pub db_schema: String,
    /// The login-less Postgres role every data transaction switches to.
    pub db_role: String,
    /// The cell whose database holds the schema; only that cell's workers serve the project.
    #[serde(default = "default_cell")]
    pub cell: String,
    /// The HS256 key that verifies admin access tokens.
    pub admin_token_key: String,
    /// Admin users who are members of the project.
    pub members: Vec<Uuid>,
    /// Active collections, `_users` first.
    pub collections: Vec<CollectionConfig>,
    /// Active views (saved queries), by name.
    #[serde(default)]
    pub views: Vec<ViewConfig>,
    /// App-user authentication: settings, signing keys, API keys, OAuth providers.
    #[serde(default)]
    pub auth: AuthConfig,
    /// The project's roles (spec/rbac.md).
    #[serde(default)]
    pub roles: Vec<RoleConfig>,
    /// Active webhooks with their signing keys (spec/webhooks.md).
    #[serde(default)]
    pub webhooks: Vec<WebhookConfig>,
    /// Active policies of the files pseudo-collection (`model::files`), in evaluation order.
    #[serde(default)]
    pub files_policies: Vec<PolicyConfig>,
    /// Workflows, inactive ones too (spec/workflows.md).
    #[serde(default)]
    pub workflows: Vec<WorkflowConfig>,
}

impl ProjectConfig {
    /// The project's schema, quoted.
    pub fn schema_ident(&self) -> Ident {
        Ident::new(&self.db_schema)
    }

    /// The project's role, quoted.
    pub fn role_ident(&self) -> Ident {
        Ident::new(&self.db_role)
    }

    /// The active collection with this current name.
    pub fn collection(&self, name: &str) -> Option<&CollectionConfig> {
        self.collections.iter().find(|c| c.name == name)
    }

    /// The active view with this name.
    pub fn view(&self, name: &str) -> Option<&ViewConfig> {
        self.views.iter().find(|v| v.name == name)
    }
}

/// A project's app-user authentication, compiled (`spec/app-auth.md`, `spec/api-keys.md`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AuthConfig {
    /// The project's auth settings.
    pub settings: AuthSettings,
    /// Keys of app-user tokens: the first signs, every one verifies (rotation keeps old tokens
    /// valid until they expire).
    pub signing_keys: Vec<SigningKey>,
    /// Live (not revoked) API keys.
    pub api_keys: Vec<ApiKeyConfig>,
    /// OAuth providers with client credentials, by name.
    pub oauth_providers: Vec<OAuthProviderConfig>,
}

/// `AuthSettingsOut` of the contract; `Default` is its documented defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthSettings {
    /// Email and password sign-up and login.
    pub enable_email_password: bool,
    /// Passwordless login by emailed code, creating the user when signup is public.
    pub enable_magic_link: bool,
    /// One-time codes for existing users.
    pub enable_otp: bool,
    /// Google sign-in.
    pub enable_oauth_google: bool,
    /// GitHub sign-in.
    pub enable_oauth_github: bool,
    /// Access-token lifetime (1–1440).
    pub access_ttl_minutes: i32,
    /// Refresh-token lifetime (1–365).
    pub refresh_ttl_days: i32,
    /// `header` or `cookie` (stored and reported only).
    pub session_mode: String,
    /// Anyone may register.
    pub allow_public_signup: bool,
    /// Unverified users cannot log in.
    pub require_email_verification: bool,
    /// Days audit events are kept; older ones are purged (the audit chain keeps its anchor).
    #[serde(default = "default_audit_retention_days")]
    pub audit_retention_days: i32,
}

fn default_audit_retention_days() -> i32 {
    90
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            enable_email_password: true,
            enable_magic_link: false,
            enable_otp: false,
            enable_oauth_google: false,
            enable_oauth_github: false,
            access_ttl_minutes: 15,
            refresh_ttl_days: 7,
            session_mode: "header".into(),
            allow_public_signup: true,
            require_email_verification: false,
            audit_retention_days: default_audit_retention_days(),
        }
    }
}

/// An HS256 key of app-user tokens, named by its key id (the token header's `kid`).
#[derive(Clone, Serialize, Deserialize)]
pub struct SigningKey {
    /// Key id.
    pub kid: String,
    /// The secret.
    pub secret: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// A live API key: only its prefix and SHA-256 hex digest travel.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiKeyConfig {
    /// Key id.
    pub id: Uuid,
    /// The first 8 characters of the key.
    pub prefix: String,
    /// SHA-256 hex of the whole key.
    pub hash: String,
}

/// An OAuth provider of a project: `google`, `github`, or any OpenID Connect issuer.
#[derive(Clone, Serialize, Deserialize)]
pub struct OAuthProviderConfig {
    /// The name in URLs (`google`, `github`, or the admin's name for an OIDC provider).
    pub name: String,
    /// `google`, `github` or `oidc`.
    pub kind: String,
    /// OAuth client id.
    pub client_id: String,
    /// OAuth client secret.
    pub client_secret: String,
    /// OIDC issuer URL.
    #[serde(default)]
    pub issuer: Option<String>,
    /// Endpoint overrides (GitHub Enterprise, private deployments).
    #[serde(default)]
    pub authorize_url: Option<String>,
    /// Token endpoint override.
    #[serde(default)]
    pub token_url: Option<String>,
    /// User-info endpoint override.
    #[serde(default)]
    pub userinfo_url: Option<String>,
    /// Scopes; the provider's default when absent.
    #[serde(default)]
    pub scopes: Option<String>,
}

impl std::fmt::Debug for OAuthProviderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthProviderConfig")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("client_id", &self.client_id)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// How a collection's record ids look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdKind {
    /// `bigserial` ids (every user-defined collection).
    Int,
    /// UUID strings generated by the server (`_users`).
    Uuid,
}

/// A collection and its physical table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CollectionConfig {
    /// Catalog id.
    pub id: Uuid,
    /// Current name (the URL segment).
    pub name: String,
    /// Physical table name inside the project schema.
    pub table: String,
    /// True for `_users`.
    pub is_system: bool,
    /// Record id type.
    pub id_kind: IdKind,
    /// Fields in creation order, soft-deleted ones included (their columns still exist).
    pub fields: Vec<FieldConfig>,
    /// Former names that still resolve to this collection (until the alias expires).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Active access policies in evaluation order (spec/policies.md).
    #[serde(default)]
    pub policies: Vec<PolicyConfig>,
}

impl CollectionConfig {
    /// The collection's table, quoted (unqualified).
    pub fn table_ident(&self) -> Ident {
        Ident::new(&self.table)
    }

    /// The key under which a record of `target` lists the records of this collection whose
    /// relation field `field` points at it (`<collection>_via_<field>`), and its quoted form.
    pub fn reverse_key(&self, field: &FieldConfig) -> (String, Ident) {
        let key = format!("{}_via_{}", self.name, field.name);
        let ident = Ident::new(&key);
        (key, ident)
    }
}

/// A field and its column.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FieldConfig {
    /// Catalog id.
    pub id: Uuid,
    /// Field name.
    pub name: String,
    /// Physical column name.
    pub column: String,
    /// Declared type.
    pub field_type: FieldType,
    /// The Postgres type of the column, e.g. `bigint` (compiled: relations depend on the target).
    pub sql_type: String,
    /// NOT NULL column.
    pub is_required: bool,
    /// Never returned by the data API (`_users.password_hash`).
    pub is_hidden: bool,
    /// Soft-deleted: the column stays but writes and filters ignore the field.
    pub is_deleted: bool,
    /// A system field (of `_users`).
    pub is_system: bool,
    /// Former names that still resolve to this field (until the alias expires).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// For relation fields: what the key points at.
    #[serde(default)]
    pub relation: Option<RelationConfig>,
    /// Active validation rules in evaluation order (spec/validations.md).
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
}

impl FieldConfig {
    /// The field's column, quoted.
    pub fn column_ident(&self) -> Ident {
        Ident::new(&self.column)
    }

    /// The field's name, quoted (the key of a relation's expansion in a record).
    pub fn name_ident(&self) -> Ident {
        Ident::new(&self.name)
    }
}

/// The target of a many-to-one relation field.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RelationConfig {
    /// The target collection's id.
    pub target_collection_id: Uuid,
    /// `RESTRICT`, `CASCADE` or `SET NULL`.
    pub on_delete: String,
    /// The field the console shows as the related record's label.
    pub display_field: Option<String>,
}

/// Field types of the schema contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// `text`
    String,
    /// `bigint`
    Int,
    /// `double precision`
    Float,
    /// `boolean`
    Bool,
    /// `date`
    Date,
    /// `timestamptz`
    Datetime,
    /// `uuid`
    Uuid,
    /// A foreign key column.
    Relation,
    /// `text`: a string without a length limit (creatable, and reachable from `string` by
    /// schema evolution).
    Text,
    /// `jsonb`: any JSON value (object, array, string, number, boolean); a `null` value is SQL
    /// NULL (a `null` nested in an object or array is kept).
    Json,
}

impl FieldType {
    /// The types a field may be created with, in the contract's order.
    pub const CREATABLE: [FieldType; 9] = [
        FieldType::String,
        FieldType::Text,
        FieldType::Int,
        FieldType::Float,
        FieldType::Bool,
        FieldType::Date,
        FieldType::Datetime,
        FieldType::Uuid,
        FieldType::Json,
    ];

    /// `Invalid field type. Must be one of: …` (field creation with a type not in
    /// [`Self::CREATABLE`]).
    pub fn invalid_type_detail() -> String {
        let names: Vec<&str> = Self::CREATABLE.iter().map(|t| t.as_str()).collect();
        format!("Invalid field type. Must be one of: {}", names.join(", "))
    }

    /// Parses a contract name (`"string"`, `"int"`, …); `"boolean"` is another name for
    /// `"bool"` (the type keeps the canonical name).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "string" => Self::String,
            "int" => Self::Int,
            "float" => Self::Float,
            "bool" | "boolean" => Self::Bool,
            "date" => Self::Date,
            "datetime" => Self::Datetime,
            "uuid" => Self::Uuid,
            "relation" => Self::Relation,
            "text" => Self::Text,
            "json" => Self::Json,
            _ => return None,
        })
    }

    /// The contract name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Int => "int",
            Self::Float => "float",
            Self::Bool => "bool",
            Self::Date => "date",
            Self::Datetime => "datetime",
            Self::Uuid => "uuid",
            Self::Relation => "relation",
            Self::Text => "text",
            Self::Json => "json",
        }
    }

    /// The Postgres column type for a non-relation field.
    pub fn sql_type(self) -> &'static str {
        match self {
            Self::String | Self::Text => "text",
            Self::Int | Self::Relation => "bigint",
            Self::Float => "double precision",
            Self::Bool => "boolean",
            Self::Date => "date",
            Self::Datetime => "timestamptz",
            Self::Uuid => "uuid",
            Self::Json => "jsonb",
        }
    }
}

/// A view (saved query) over one base collection (`spec/views.md`). Joins are stored by the control
/// plane but never executed, so they are not compiled.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ViewConfig {
    /// Catalog id.
    pub id: Uuid,
    /// View name (the URL segment).
    pub name: String,
    /// The view's own version (1 on creation, +1 per update).
    pub version: i64,
    /// The collection the view reads.
    pub base_collection_id: Uuid,
    /// Selected columns; `None` means every column.
    pub projection: Option<Vec<String>>,
    /// Conditions, ANDed.
    pub filters: Vec<ViewFilter>,
    /// Sort keys in order; empty means `id` ascending.
    pub sorts: Vec<ViewSort>,
    /// Declared parameters: `{"<name>": {"type", "required", "description", "example"}}`.
    pub params_schema: Option<serde_json::Value>,
    /// Limit when the request gives none (at most 1000).
    pub default_limit: i64,
    /// Largest limit a request may use (at most 1000).
    pub max_limit: i64,
}

/// One condition of a view.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ViewFilter {
    /// Column name.
    pub field: String,
    /// Comparison.
    pub operator: ViewOperator,
    /// The fixed value (or the fallback of a parameter).
    pub value: serde_json::Value,
    /// The value comes from a request parameter.
    pub is_param: bool,
    /// The parameter's name.
    pub param_name: Option<String>,
}

/// One sort key of a view.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ViewSort {
    /// Column name (or the fallback of a parameter).
    pub field: String,
    /// Descending.
    pub desc: bool,
    /// The column comes from a request parameter.
    pub is_param: bool,
    /// The column parameter's name.
    pub param_name: Option<String>,
    /// The direction comes from a request parameter.
    pub desc_is_param: bool,
    /// The direction parameter's name.
    pub desc_param_name: Option<String>,
}

/// Filter operators of views, serialized as their contract names (`=`, `not_in`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ViewOperator {
    /// `=`
    #[serde(rename = "=")]
    Eq,
    /// `!=`
    #[serde(rename = "!=")]
    Ne,
    /// `>`
    #[serde(rename = ">")]
    Gt,
    /// `<`
    #[serde(rename = "<")]
    Lt,
    /// `>=`
    #[serde(rename = ">=")]
    Ge,
    /// `<=`
    #[serde(rename = "<=")]
    Le,
    /// `in`
    #[serde(rename = "in")]
    In,
    /// `not_in`
    #[serde(rename = "not_in")]
    NotIn,
    /// `contains`
    #[serde(rename = "contains")]
    Contains,
    /// `starts_with`
    #[serde(rename = "starts_with")]
    StartsWith,
    /// `ends_with`
    #[serde(rename = "ends_with")]
    EndsWith,
    /// `is_null`
    #[serde(rename = "is_null")]
    IsNull,
    /// `is_not_null`
    #[serde(rename = "is_not_null")]
    IsNotNull,
}

impl ViewOperator {
    /// Every operator, in the contract's order.
    pub const ALL: [ViewOperator; 13] = [
        Self::Eq,
        Self::Ne,
        Self::Gt,
        Self::Lt,
        Self::Ge,
        Self::Le,
        Self::In,
        Self::NotIn,
        Self::Contains,
        Self::StartsWith,
        Self::EndsWith,
        Self::IsNull,
        Self::IsNotNull,
    ];

    /// Parses a contract name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|op| op.as_str() == s)
    }

    /// The contract name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "=",
            Self::Ne => "!=",
            Self::Gt => ">",
            Self::Lt => "<",
            Self::Ge => ">=",
            Self::Le => "<=",
            Self::In => "in",
            Self::NotIn => "not_in",
            Self::Contains => "contains",
            Self::StartsWith => "starts_with",
            Self::EndsWith => "ends_with",
            Self::IsNull => "is_null",
            Self::IsNotNull => "is_not_null",
        }
    }

    /// The console label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Eq => "Equals",
            Self::Ne => "Not Equals",
            Self::Gt => "Greater Than",
            Self::Lt => "Less Than",
            Self::Ge => "Greater or Equal",
            Self::Le => "Less or Equal",
            Self::In => "In List",
            Self::NotIn => "Not In List",
            Self::Contains => "Contains",
            Self::StartsWith => "Starts With",
            Self::EndsWith => "Ends With",
            Self::IsNull => "Is Null",
            Self::IsNotNull => "Is Not Null",
        }
    }

    /// The field types the operator applies to (`["all"]` for every type).
    pub fn types(self) -> &'static [&'static str] {
        match self {
            Self::Gt | Self::Lt | Self::Ge | Self::Le => &["int", "float", "date", "datetime"],
            Self::Contains | Self::StartsWith | Self::EndsWith => &["string"],
            _ => &["all"],
        }
    }
}

/// The cell of a config that names none.
fn default_cell() -> String {
    "default".to_owned()
}

/// The Postgres schema (and role) name of a project: `p_<id with '-' replaced by '_'>`.
pub fn project_db_name(project_id: Uuid) -> String {
    format!("p_{}", project_id.to_string().replace('-', "_"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_operators_round_trip() {
        for op in ViewOperator::ALL {
            assert_eq!(ViewOperator::parse(op.as_str()), Some(op));
            let json = serde_json::to_value(op).unwrap();
            assert_eq!(json, op.as_str());
            assert_eq!(serde_json::from_value::<ViewOperator>(json).unwrap(), op);
        }
        assert_eq!(ViewOperator::parse("like"), None);
        assert_eq!(ViewOperator::parse("EQ"), None);
    }

    #[test]
    fn configs_without_views_still_decode() {
        let old = serde_json::json!({
            "project_id": Uuid::nil(), "version": 3, "name": "p", "db_schema": "s", "db_role": "r",
            "admin_token_key": "k", "members": [], "collections": []
        });
        let c: ProjectConfig = serde_json::from_value(old).unwrap();
        assert!(c.views.is_empty());
    }
}
