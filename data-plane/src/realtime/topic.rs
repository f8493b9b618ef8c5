//! Topics: what a stream subscribes to. `posts` (every record), `posts/42` (one record) or
//! `posts?status=published&views__gt=10` (records the list endpoint's filters match, same
//! parameters and operators; parameters that name no field are ignored as there).

use crate::db::RecordId;
use crate::http::error::ApiError;
use crate::http::records::record_id;
use crate::query::filter::{Filters, Pred};
use crate::registry::{Collection, Project};
use std::sync::Arc;
use uuid::Uuid;

/// A parsed topic, kept by collection id (a rename does not end it) with its filters as given
/// (planned again for each config version).
#[derive(Debug, Clone)]
pub struct Topic {
    /// The collection.
    pub collection: Uuid,
    /// One record only (its id as text).
    pub record: Option<String>,
    /// Filter parameters.
    pub params: Vec<(String, String)>,
}

/// A topic planned against one config version.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The collection.
    pub collection: Arc<Collection>,
    /// One record only (its id as text, as events carry it).
    pub record: Option<String>,
    /// The topic's filters.
    pub matches: Pred,
}

impl Topic {
    /// Parses `raw` against the project: 404 for an unknown collection or record id that cannot
    /// be one, 400 for a bad filter.
    pub fn parse(project: &Project, raw: &str) -> Result<(Self, Planned), ApiError> {
        let raw = raw.trim();
        let (head, query) = match raw.split_once('?') {
            Some((h, q)) => (h, Some(q)),
            None => (raw, None),
        };
        let (name, record) = match head.split_once('/') {
            Some((n, r)) if !r.is_empty() && !r.contains('/') => (n, Some(r.to_owned())),
            Some(_) => {
                return Err(ApiError::BadRequest(format!(
                    "Invalid topic '{raw}': use <collection>, <collection>/<record id> or <collection>?<filters>"
                )))
            }
            None => (head, None),
        };
        if name.is_empty() {
            return Err(ApiError::BadRequest(
                "Invalid topic: it names no collection".into(),
            ));
        }
        let c = project
            .collections
            .get(name)
            .ok_or(ApiError::NotFound("Collection not found"))?;
        // Ids compare as events carry them (`42`, not `042`).
        let record = match record {
            Some(r) => Some(match record_id(c, &r)? {
                RecordId::Int(n) => n.to_string(),
                RecordId::Text(t) => t,
            }),
            None => None,
        };
        let params = query
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default();
        let topic = Topic {
            collection: c.config.id,
            record,
            params,
        };
        let planned = topic.plan(project)?;
        Ok((topic, planned))
    }

    /// Plans the topic against `project` (a newer config, say): 404 when its collection is gone.
    pub fn plan(&self, project: &Project) -> Result<Planned, ApiError> {
        let c = project
            .by_id
            .get(&self.collection)
            .ok_or(ApiError::NotFound("Collection not found"))?;
        let mut filters = Filters::default();
        for (k, v) in &self.params {
            filters.add(c, k, v)?;
        }
        let all: Vec<Pred> = filters.finish().into_iter().map(Pred::Leaf).collect();
        Ok(Planned {
            collection: c.clone(),
            record: self.record.clone(),
            matches: Pred::all(all),
        })
    }
}
