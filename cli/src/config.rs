//! The saved session: which server `login` signed in to and the token it got, in one JSON file
//! only its owner can read (`$XDG_CONFIG_HOME/backendify/config.json` unless told otherwise).

use serde::{Deserialize, Serialize};
use std::fs;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Where the config file is when `--config` is not given: `$XDG_CONFIG_HOME/backendify/config.json`,
/// else `$HOME/.config/backendify/config.json`.
pub fn default_path() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").filter(|v| !v.is_empty())?).join(".config"),
    };
    Some(base.join("backendify").join("config.json"))
}

/// What `login` keeps between runs.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Saved {
    /// The server the token belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The admin API token `login` made for this CLI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Its id, which `logout` revokes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_id: Option<String>,
    /// The sign-in's refresh token: `tokens create` needs a signed-in admin's access token (API
    /// tokens do not make tokens), and gets one with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// Why the config file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading, writing or removing failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not the JSON we write.
    #[error("read {path}: not a backendify config file ({source})")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_owned();
    move |source| Error::Io {
        action,
        path,
        source,
    }
}

/// Reads the saved session; a missing file is an empty one.
pub fn load(path: &Path) -> Result<Saved, Error> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| Error::Parse {
            path: path.to_owned(),
            source,
        }),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(Saved::default()),
        Err(e) => Err(io("read", path)(e)),
    }
}

/// Writes the session with mode 0600 (also when the file existed with looser rights), creating
/// its folder.
pub fn save(path: &Path, saved: &Saved) -> Result<(), Error> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(io("create", dir))?;
    }
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io("write", path))?;
    file.set_permissions(fs::Permissions::from_mode(0o600))
        .map_err(io("protect", path))?;
    let mut body = serde_json::to_vec_pretty(saved).expect("a session serializes");
    body.push(b'\n');
    file.write_all(&body).map_err(io("write", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_session_reads_back_and_only_its_owner_can_read_it() {
        let dir = std::env::temp_dir().join(format!("backendify-cli-{}", std::process::id()));
        let path = dir.join("nested").join("config.json");
        assert_eq!(load(&path).unwrap(), Saved::default());
        let saved = Saved {
            url: Some("http://127.0.0.1:8000".into()),
            token: Some("bfy_t".into()),
            token_id: Some("id".into()),
            refresh_token: Some("r".into()),
        };
        save(&path, &saved).unwrap();
        assert_eq!(load(&path).unwrap(), saved);
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        fs::remove_dir_all(&dir).unwrap();
    }
}
