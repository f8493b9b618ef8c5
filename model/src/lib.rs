//! Types both planes share and nothing else: the compiled project config that travels from the
//! control plane to workers, JWT signing and claims, password and token hashing, request-field
//! checks, which side serves a route, SQL identifier quoting, validation-rule patterns and date formats, and the contract's
//! error-body builders. No I/O lives here.

pub mod access;
pub mod config;
pub mod error_body;
pub mod fields;
pub mod files;
pub mod jwt;
pub mod routes;
pub mod rule_syntax;
pub mod secret;
pub mod sql;
pub mod value;
pub mod webhooks;
pub mod workflows;

pub use access::{Action, Cond, PolicyConfig, PrincipalKind, RoleConfig, RuleConfig};
pub use config::{
    ApiKeyConfig, AuthConfig, AuthSettings, CollectionConfig, FieldConfig, FieldType, IdKind,
    OAuthProviderConfig, ProjectConfig, RelationConfig, SigningKey, ViewConfig, ViewFilter,
    ViewOperator, ViewSort,
};
pub use webhooks::WebhookConfig;
pub use workflows::WorkflowConfig;
