//! What policies need to know about a signed-in app user (email, verified flag, roles), as this
//! worker last read it, per session. A read request of a known session builds its rule from this
//! and its one statement reports the user as they are now; when that differs (disabled, signed
//! out, new roles…) the worker corrects the entry and runs the read again. So a read costs one
//! round trip, and no change to a user is ever missed.

use std::collections::HashMap;
use std::sync::Mutex;
use uuid::Uuid;

/// Most sessions remembered; past it the memory starts over (each session then costs one more
/// read on its next request).
pub const MAX_SESSIONS: usize = 10_000;

/// A live app user as the database last showed them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// Email (lower-cased).
    pub email: String,
    /// Email verified.
    pub verified: bool,
    /// Ids of the roles held, sorted.
    pub roles: Vec<Uuid>,
}

impl Seen {
    /// Parses the JSON the principal column answers (`None` for a user no longer live).
    pub fn parse(json: Option<&str>) -> Option<Seen> {
        let v: serde_json::Value = serde_json::from_str(json?).ok()?;
        let mut roles: Vec<Uuid> = v["roles"]
            .as_array()?
            .iter()
            .filter_map(|r| r.as_str()?.parse().ok())
            .collect();
        roles.sort();
        Some(Seen {
            email: v["email"].as_str()?.to_owned(),
            verified: v["verified"].as_bool()?,
            roles,
        })
    }
}

/// The worker's memory of sessions: `(project, session)` → the user and what was seen.
#[derive(Default)]
pub struct Principals {
    seen: Mutex<HashMap<(Uuid, Uuid), (String, Seen)>>,
}

impl Principals {
    /// What was last seen of this session's user.
    pub fn get(&self, project: Uuid, session: Uuid, user: &str) -> Option<Seen> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        match seen.get(&(project, session)) {
            Some((u, s)) if u == user => Some(s.clone()),
            _ => None,
        }
    }

    /// Remembers what was just read; `None` forgets the session.
    pub fn put(&self, project: Uuid, session: Uuid, user: &str, now: Option<&Seen>) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let key = (project, session);
        match now {
            Some(s) => {
                if seen.len() >= MAX_SESSIONS && !seen.contains_key(&key) {
                    seen.clear();
                }
                seen.insert(key, (user.to_owned(), s.clone()));
            }
            None => {
                seen.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_principal_column_and_forgets_ended_sessions() {
        let r = Uuid::new_v4();
        let json = format!(r#"{{"email":"a@b.co","verified":true,"roles":["{r}"]}}"#);
        let seen = Seen::parse(Some(&json)).unwrap();
        assert_eq!(seen.roles, vec![r]);
        assert_eq!(Seen::parse(None), None);
        assert_eq!(Seen::parse(Some("{}")), None);

        let p = Principals::default();
        let (project, session) = (Uuid::new_v4(), Uuid::new_v4());
        p.put(project, session, "u", Some(&seen));
        assert_eq!(p.get(project, session, "u"), Some(seen));
        assert_eq!(p.get(project, session, "other"), None);
        p.put(project, session, "u", None);
        assert_eq!(p.get(project, session, "u"), None);
    }
}
