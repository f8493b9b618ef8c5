//! Connections the worker opens to the outside world on behalf of a project: mail to app users
//! and OAuth code exchanges (later webhooks). All of them go through the egress allow-list, so
//! a project's settings cannot point the worker at the cell's internal network.

pub mod egress;
pub mod mail;
pub mod oauth;

pub use egress::Egress;
pub use mail::{Mail, Mailer};
pub use oauth::{Identity, OAuthClient, Pkce, Provider, ProviderKind};
