//! `Member`: the admin caller plus the project of the path, which they must be a member of.
//! Order (spec/README.md): 401 (no/invalid token) before 404 (`Project not found`).

use super::auth::Admin;
use super::error::ApiError;
use crate::db::projects::{self, Project};
use crate::state::AppState;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use uuid::Uuid;

/// A member admin and their project.
pub struct Member {
    /// The caller.
    pub admin: Admin,
    /// The project of the path.
    pub project: Project,
}

impl FromRequestParts<AppState> for Member {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let admin = Admin::from_request_parts(parts, state).await?;
        let not_found = ApiError::NotFound("Project not found".into());
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound("Project not found".into()))?;
        let id = params
            .get("project_id")
            .and_then(|p| Uuid::parse_str(p).ok())
            .ok_or(not_found)?;
        if !admin.reaches(id) {
            // A token limited to other projects sees this one as a non-member would.
            return Err(ApiError::NotFound("Project not found".into()));
        }
        let project = projects::get_for(&state.db, id, admin.id)
            .await?
            .ok_or(ApiError::NotFound("Project not found".into()))?;
        Ok(Member { admin, project })
    }
}

impl Member {
    /// Locks the project row for a change to its config (serializes concurrent changes).
    pub async fn lock(&self, tx: &mut sqlx::PgConnection) -> Result<(), ApiError> {
        projects::lock_for(&mut *tx, self.project.id, self.admin.id)
            .await?
            .ok_or(ApiError::NotFound("Project not found".into()))?;
        Ok(())
    }

    /// Ends a config change made under [`Member::lock`] (a control transaction, or a
    /// [`crate::cells::Unit`] that also wrote the project's cell): bumps the config version,
    /// commits and pushes the new config. Returns the workers that had not applied it in time.
    pub async fn publish(
        &self,
        state: &AppState,
        change: impl Into<crate::cells::Unit>,
    ) -> Result<Vec<String>, ApiError> {
        let mut unit = change.into();
        projects::bump_version(unit.control(), self.project.id).await?;
        unit.commit().await?;
        Ok(state.push_project(self.project.id).await?)
    }
}

/// A response to a config change, with the workers that had not applied it when the bounded
/// wait ended (header `X-Config-Lagging-Workers`; absent when every worker caught up).
pub struct Pushed<T>(pub T, pub Vec<String>);

impl<T: IntoResponse> IntoResponse for Pushed<T> {
    fn into_response(self) -> Response {
        let mut res = self.0.into_response();
        if !self.1.is_empty() {
            if let Ok(v) = HeaderValue::from_str(&self.1.join(",")) {
                res.headers_mut().insert("x-config-lagging-workers", v);
            }
        }
        res
    }
}
