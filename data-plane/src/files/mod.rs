//! Stored files (`spec/files.md`): contents in an object store (a local folder by default, any
//! S3-compatible store with `FILES_BACKEND=s3`), keyed `<project>/<file id>`, never by the
//! uploaded name; metadata rows in the project's `_files` table ([`rows`]). Uploads stream into
//! the store part by part ([`Sink`]) and downloads stream out of it, so a worker's memory does
//! not grow with a file's size.

pub mod names;
pub mod range;
pub mod rows;
pub mod signed;

use anyhow::Context;
use bytes::{Bytes, BytesMut};
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use object_store::path::Path as Key;
use object_store::{GetOptions, GetRange, ObjectStore, PutPayload, WriteMultipart};
use std::path::PathBuf;
use std::sync::Arc;
use uuid::Uuid;

/// Where file contents live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// A folder of this machine (`FILES_DIR`).
    Local,
    /// An S3-compatible object store (`S3_*` settings).
    S3,
}

/// File storage settings of a worker.
#[derive(Debug, Clone, clap::Args)]
pub struct Settings {
    /// Where file contents live: `local` (the `FILES_DIR` folder) or `s3` (any S3-compatible
    /// store, set up by the `S3_*` settings).
    #[arg(long, env = "FILES_BACKEND", value_enum, default_value = "local")]
    pub files_backend: Backend,
    /// Folder of the local backend (created when missing). Every worker of a cell must see the
    /// same folder, so more than one machine needs `s3`.
    #[arg(long, env = "FILES_DIR", default_value = "data/files")]
    pub files_dir: PathBuf,
    /// S3 endpoint URL, e.g. `http://127.0.0.1:9000` (empty: AWS itself).
    #[arg(long, env = "S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    /// S3 region.
    #[arg(long, env = "S3_REGION", default_value = "us-east-1")]
    pub s3_region: String,
    /// S3 bucket (must exist).
    #[arg(long, env = "S3_BUCKET", default_value = "backendify")]
    pub s3_bucket: String,
    /// S3 access key id.
    #[arg(long, env = "S3_ACCESS_KEY_ID", hide_env_values = true)]
    pub s3_access_key_id: Option<String>,
    /// S3 secret access key.
    #[arg(long, env = "S3_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub s3_secret_access_key: Option<String>,
    /// Largest file an upload may carry, in bytes (checked while it streams).
    #[arg(long, env = "MAX_FILE_SIZE", default_value_t = 10 * 1024 * 1024)]
    pub max_file_size: u64,
}

impl Settings {
    /// The local backend in `dir`, with the default size limit.
    pub fn local(dir: impl Into<PathBuf>) -> Self {
        Self {
            files_backend: Backend::Local,
            files_dir: dir.into(),
            s3_endpoint: None,
            s3_region: "us-east-1".into(),
            s3_bucket: "backendify".into(),
            s3_access_key_id: None,
            s3_secret_access_key: None,
            max_file_size: 10 * 1024 * 1024,
        }
    }
}

/// The file store of a worker.
pub struct Files {
    store: Arc<dyn ObjectStore>,
    /// Size of the parts an upload is sent in (S3 wants at least 5 MiB but the last).
    part_size: usize,
    /// Largest file, in bytes.
    pub max_size: u64,
    kind: &'static str,
    /// The local backend's folder: objects there are flushed to disk before their row commits.
    local_dir: Option<PathBuf>,
}

impl Files {
    /// Opens the configured backend.
    pub fn open(s: &Settings) -> anyhow::Result<Self> {
        let (store, part_size, kind): (Arc<dyn ObjectStore>, usize, _) = match s.files_backend {
            Backend::Local => {
                std::fs::create_dir_all(&s.files_dir)
                    .with_context(|| format!("create FILES_DIR {}", s.files_dir.display()))?;
                let store = object_store::local::LocalFileSystem::new_with_prefix(&s.files_dir)
                    .context("FILES_DIR")?
                    .with_automatic_cleanup(true);
                (Arc::new(store), 1024 * 1024, "local")
            }
            Backend::S3 => {
                let mut b = object_store::aws::AmazonS3Builder::new()
                    .with_region(&s.s3_region)
                    .with_bucket_name(&s.s3_bucket);
                if let Some(endpoint) = &s.s3_endpoint {
                    b = b
                        .with_endpoint(endpoint)
                        .with_allow_http(endpoint.starts_with("http://"))
                        .with_virtual_hosted_style_request(false);
                }
                if let (Some(id), Some(secret)) = (&s.s3_access_key_id, &s.s3_secret_access_key) {
                    b = b.with_access_key_id(id).with_secret_access_key(secret);
                }
                (
                    Arc::new(b.build().context("S3 settings")?),
                    5 * 1024 * 1024,
                    "s3",
                )
            }
        };
        Ok(Self {
            store,
            part_size,
            max_size: s.max_file_size,
            kind,
            local_dir: (s.files_backend == Backend::Local).then(|| s.files_dir.clone()),
        })
    }

    /// `local` or `s3`.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// The object key of a file: generated ids only.
    pub fn key(project: Uuid, file: Uuid) -> Key {
        Key::from(format!("{project}/{file}"))
    }

    /// A new upload into `key`.
    pub fn sink(&self, key: Key) -> Sink<'_> {
        Sink {
            files: self,
            key,
            buf: BytesMut::new(),
            upload: None,
            written: 0,
        }
    }

    /// Bytes `range` (inclusive ends) of an object, or all of it; `Ok(None)` when it is missing.
    pub async fn read(
        &self,
        key: &Key,
        range: Option<(u64, u64)>,
    ) -> Result<Option<BoxStream<'static, object_store::Result<Bytes>>>, object_store::Error> {
        let opts = GetOptions {
            range: range.map(|(a, b)| GetRange::Bounded(a..b + 1)),
            ..Default::default()
        };
        match self.store.get_opts(key, opts).await {
            Ok(got) => Ok(Some(match got.payload {
                // A local file: read in large pieces (the store's own stream reads 8 KiB at a
                // time, each on the blocking pool).
                object_store::GetResultPayload::File(file, _) => file_stream(file, got.range),
                object_store::GetResultPayload::Stream(s) => s,
            })),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Removes an object (a missing one is no error).
    pub async fn delete(&self, key: &Key) -> Result<(), object_store::Error> {
        match self.store.delete(key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Makes a stored object durable before anything points at it: on the local backend, the
    /// file and its folder are flushed to disk (an S3 store has it durable once it answered).
    async fn flush(&self, key: &Key) -> Result<(), object_store::Error> {
        let Some(dir) = &self.local_dir else {
            return Ok(());
        };
        let path = dir.join(key.as_ref());
        let synced = tokio::task::spawn_blocking(move || {
            std::fs::File::open(&path)?.sync_all()?;
            match path.parent() {
                Some(folder) => std::fs::File::open(folder)?.sync_all(),
                None => Ok(()),
            }
        })
        .await
        .map_err(std::io::Error::other)
        .and_then(|r| r);
        synced.map_err(io_error)
    }

    /// Removes an object after a failure, logging (not returning) a failure of its own.
    pub async fn discard(&self, key: &Key) {
        if let Err(e) = self.delete(key).await {
            tracing::warn!(object.key = %key, "could not remove the object of a failed upload: {e}");
        }
    }
}

/// An upload in progress: bytes are gathered up to one part; a file that fits in one part is
/// stored with a single write, a longer one as a multipart upload with at most two parts in
/// flight. Memory stays within about three parts whatever the file's size.
pub struct Sink<'a> {
    files: &'a Files,
    key: Key,
    buf: BytesMut,
    upload: Option<WriteMultipart>,
    written: u64,
}

/// Why a chunk was not taken.
#[derive(Debug)]
pub enum SinkError {
    /// The file is longer than the limit.
    TooLarge,
    /// The store failed.
    Store(object_store::Error),
}

impl Sink<'_> {
    /// Bytes taken so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Takes the next chunk of the file. Chunks are copied into whole parts: a chunk is a slice
    /// of the request parser's buffer, and holding on to it would keep that whole buffer alive
    /// for as long as its part waits.
    pub async fn push(&mut self, chunk: Bytes) -> Result<(), SinkError> {
        self.written += chunk.len() as u64;
        if self.written > self.files.max_size {
            return Err(SinkError::TooLarge);
        }
        let part = self.files.part_size;
        let mut rest = &chunk[..];
        while !rest.is_empty() {
            if self.buf.capacity() == 0 {
                self.buf = BytesMut::with_capacity(part);
            }
            let take = rest.len().min(part - self.buf.len());
            self.buf.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.buf.len() == part {
                let full = std::mem::take(&mut self.buf).freeze();
                self.send_part(full).await.map_err(SinkError::Store)?;
            }
        }
        Ok(())
    }

    /// Sends one whole part, starting the multipart upload with the first one; at most two
    /// parts are in flight.
    async fn send_part(&mut self, part: Bytes) -> Result<(), object_store::Error> {
        let upload = match &mut self.upload {
            Some(upload) => upload,
            None => {
                let started = self.files.store.put_multipart(&self.key).await?;
                let upload = WriteMultipart::new_with_chunk_size(started, self.files.part_size);
                self.upload.insert(upload)
            }
        };
        upload.wait_for_capacity(IN_FLIGHT).await?;
        upload.put(part);
        Ok(())
    }

    /// Completes the object; its size.
    pub async fn finish(self) -> Result<u64, object_store::Error> {
        let done = match self.upload {
            Some(mut upload) => {
                // The last, shorter part.
                if !self.buf.is_empty() {
                    upload.put(self.buf.freeze());
                }
                upload.finish().await
            }
            None => {
                let payload = PutPayload::from(self.buf.freeze());
                self.files.store.put(&self.key, payload).await
            }
        };
        let done = match done {
            Ok(_) => self.files.flush(&self.key).await,
            Err(e) => Err(e),
        };
        if let Err(e) = done {
            self.files.discard(&self.key).await;
            return Err(e);
        }
        Ok(self.written)
    }

    /// Gives the upload up: nothing of it stays in the store.
    pub async fn abort(self) {
        if let Some(upload) = self.upload {
            if let Err(e) = upload.abort().await {
                tracing::warn!(object.key = %self.key, "could not abort an upload: {e}");
            }
        }
    }
}

/// Parts of one upload being written at the same time.
const IN_FLIGHT: usize = 4;

/// Size of one read of a local file.
const READ_PIECE: u64 = 256 * 1024;

/// Bytes `range` of a local file, read piece by piece on the blocking pool (positional reads:
/// nothing is shared between pieces but the file).
fn file_stream(
    file: std::fs::File,
    range: std::ops::Range<u64>,
) -> BoxStream<'static, object_store::Result<Bytes>> {
    let file = Arc::new(file);
    futures_util::stream::unfold((file, range), |(file, range)| async move {
        if range.start >= range.end {
            return None;
        }
        let len = (range.end - range.start).min(READ_PIECE) as usize;
        let (f, at) = (file.clone(), range.start);
        let read = tokio::task::spawn_blocking(move || {
            use std::os::unix::fs::FileExt;
            let mut buf = BytesMut::zeroed(len);
            f.read_exact_at(&mut buf, at).map(|()| buf.freeze())
        })
        .await;
        let piece = match read {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(e)) => return Some((Err(io_error(e)), (file, range.end..range.end))),
            Err(e) => return Some((Err(io_error(e.into())), (file, range.end..range.end))),
        };
        let next = range.start + piece.len() as u64..range.end;
        Some((Ok(piece), (file, next)))
    })
    .boxed()
}

fn io_error(e: std::io::Error) -> object_store::Error {
    object_store::Error::Generic {
        store: "LocalFileSystem",
        source: Box::new(e),
    }
}

/// A download body: the object's bytes as they are read.
pub fn body(stream: BoxStream<'static, object_store::Result<Bytes>>) -> axum::body::Body {
    axum::body::Body::from_stream(stream.map(|r| r.map_err(std::io::Error::other)))
}
