//! App-user authentication on a worker (`spec/app-auth.md`): everything runs from the compiled
//! config and the project's own schema (`_users` and the `_auth_*` tables), as the project's role.
//!
//! - [`tokens`]: access tokens (HS256 with the project's key id, the project as audience, the
//!   session id) and the token-pair body;
//! - [`password`]: argon2id off the async threads, with bounded concurrency;
//! - [`store`]: the SQL of users, sessions (refresh-token families with reuse detection),
//!   one-time tokens, codes, OAuth identities and auth audit events;
//! - [`roles`]: the RBAC roles app users hold, and the default role of new users;
//! - [`principals`]: what policies need of a signed-in user, as last read, per session.

pub mod password;
pub mod principals;
pub mod roles;
pub mod store;
pub mod tokens;
