//! Types both planes share and nothing else: the compiled project config that travels from the
//! control plane to workers, JWT signing and claims, SQL identifier quoting, and the contract's
//! error-body builders. No I/O lives here.

pub mod config;
pub mod error_body;
pub mod jwt;
pub mod sql;
pub mod value;

pub use config::{
    CollectionConfig, FieldConfig, FieldType, IdKind, ProjectConfig, RelationConfig, ViewConfig,
    ViewFilter, ViewOperator, ViewSort,
};
