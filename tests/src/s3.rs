//! A private S3-compatible server for tests of the `s3` file backend: `s3s-fs` (from crates.io,
//! installed by `scripts/deps.sh`), serving a temporary folder on a free loopback port with its
//! own credentials, killed and removed when dropped. Buckets are folders of that root.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running S3-compatible server with one bucket.
pub struct S3 {
    /// `http://127.0.0.1:<port>`
    pub endpoint: String,
    /// The bucket.
    pub bucket: String,
    /// Its credentials.
    pub access_key: String,
    /// Its credentials.
    pub secret_key: String,
    /// The folder it serves (a bucket's objects live under `<root>/<bucket>/`).
    pub root: PathBuf,
    child: Child,
}

/// The `s3s-fs` binary: on `PATH`, or where `cargo install` puts it.
pub fn binary() -> PathBuf {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain(cargo_home.map(|h| h.join("bin")))
        .map(|d| d.join("s3s-fs"))
        .find(|p| p.is_file());
    on_path.unwrap_or_else(|| {
        panic!("s3s-fs not found: run scripts/deps.sh (it runs `cargo install s3s-fs`)")
    })
}

impl S3 {
    /// Starts one with a bucket `backendify` and waits until it accepts connections.
    pub fn start() -> Self {
        let port = crate::pg::free_port();
        let root = std::env::temp_dir().join(format!("backendify-s3-{}", uuid::Uuid::new_v4()));
        let bucket = "backendify".to_owned();
        std::fs::create_dir_all(root.join(&bucket)).expect("create the S3 root");
        let (access_key, secret_key) = (
            "test-access-key".to_owned(),
            "test-secret-key-0123".to_owned(),
        );
        let child = Command::new(binary())
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", &access_key, "--secret-key", &secret_key])
            .arg(&root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start s3s-fs");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "s3s-fs did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            bucket,
            access_key,
            secret_key,
            root,
            child,
        }
    }

    /// Worker settings that store files here.
    pub fn settings(&self) -> data_plane::files::Settings {
        let mut s = data_plane::files::Settings::local("unused");
        s.files_backend = data_plane::files::Backend::S3;
        s.s3_endpoint = Some(self.endpoint.clone());
        s.s3_bucket = self.bucket.clone();
        s.s3_access_key_id = Some(self.access_key.clone());
        s.s3_secret_access_key = Some(self.secret_key.clone());
        s
    }

    /// The objects stored under a prefix (`<project>/`), as paths relative to the bucket.
    pub fn objects(&self, prefix: &str) -> Vec<String> {
        crate::files_under(&self.root.join(&self.bucket), prefix)
    }
}

impl Drop for S3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
