//! Object storage for uploaded files.
//!
//! Uploads are streamed chunk by chunk into a temporary file under the store (never
//! held whole in memory), checked, then committed under their final key with a
//! rename. The gateway serves committed objects with HTTP Range support.
//!
//! [`ObjectStore`] is what chunked uploads need of a store (commit a staged part,
//! read one back, remove one or a whole prefix); [`LocalStore`] implements it over a
//! directory, an S3-compatible store can implement it later.

mod range;
mod sniff;

use std::{
    future::Future,
    io,
    path::{Component, Path, PathBuf},
    sync::atomic::{AtomicU64, Ordering},
};

use bytes::Bytes;
use md5::{Digest, Md5};
use tokio::{fs, io::AsyncWriteExt};

pub use range::{ByteRange, RangeError, parse_range};
pub use sniff::{ImageType, VideoType, sniff_image, sniff_video};

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("object key is not valid: {0:?}")]
    BadKey(String),
    #[error("upload is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("object not found")]
    NotFound,
    #[error("storage i/o: {0}")]
    Io(#[from] io::Error),
}

/// A directory of objects addressed by slash-separated keys (`avatars/1/2.png`).
#[derive(Debug)]
pub struct LocalStore {
    root: PathBuf,
    tmp: PathBuf,
    counter: AtomicU64,
}

/// A file being uploaded. Deleted on drop unless committed.
#[derive(Debug)]
pub struct TempObject {
    path: PathBuf,
    file: Option<fs::File>,
    size: u64,
    limit: u64,
    head: Vec<u8>,
    /// MD5 of every byte written so far.
    md5: Md5,
    committed: bool,
}

/// How many leading bytes of an upload are kept in memory for sniffing.
pub const HEAD_LEN: usize = 64;
/// Longest object key.
pub const MAX_KEY_LEN: usize = 512;
/// Longest segment of a key (a file name on common file systems).
pub const MAX_SEGMENT_LEN: usize = 255;

impl LocalStore {
    /// Open (and create) a store rooted at `root`.
    pub async fn open(root: impl Into<PathBuf>) -> Result<Self, StorageError> {
        let root = root.into();
        let tmp = root.join(".tmp");
        fs::create_dir_all(&tmp).await?;
        Ok(Self {
            root,
            tmp,
            counter: AtomicU64::new(0),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A store in the hidden directory `.<name>` of this one: its objects can never
    /// be named through this store's keys (hidden segments are refused), so `/static`
    /// does not serve them. Uploads are staged in this store's temp directory, so a
    /// commit is still a rename on one file system.
    pub fn hidden(&self, name: &str) -> Self {
        Self {
            root: self.root.join(format!(".{name}")),
            tmp: self.tmp.clone(),
            counter: AtomicU64::new(0),
        }
    }

    /// Start an upload that may grow to `limit` bytes.
    pub async fn begin(&self, limit: u64) -> Result<TempObject, StorageError> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let path = self.tmp.join(format!("upload-{}-{n}", std::process::id()));
        let file = fs::File::create(&path).await?;
        Ok(TempObject {
            path,
            file: Some(file),
            size: 0,
            limit,
            head: Vec::with_capacity(HEAD_LEN),
            md5: Md5::new(),
            committed: false,
        })
    }

    /// Move a finished upload to `key`.
    pub async fn commit(&self, mut obj: TempObject, key: &str) -> Result<(), StorageError> {
        let dest = self.path_of(key)?;
        if let Some(mut file) = obj.file.take() {
            file.flush().await?;
            file.sync_all().await?;
        }
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).await?;
        }
        fs::rename(&obj.path, &dest).await?;
        obj.committed = true;
        tracing::debug!(key, size = obj.size, "object committed");
        Ok(())
    }

    /// Store a small object given whole.
    pub async fn put(&self, key: &str, data: Bytes) -> Result<(), StorageError> {
        let mut obj = self.begin(data.len() as u64).await?;
        obj.write(&data).await?;
        self.commit(obj, key).await
    }

    /// Remove a committed object; a missing one is not an error (e.g. to undo the
    /// objects of an upload whose request then failed).
    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        match fs::remove_file(self.path_of(key)?).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// Remove every object under `prefix` (a key naming a directory); a missing one is
    /// not an error.
    pub async fn delete_prefix(&self, prefix: &str) -> Result<(), StorageError> {
        match fs::remove_dir_all(self.path_of(prefix)?).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// The file of a committed object, if the key is valid and it exists.
    pub async fn open_object(&self, key: &str) -> Result<(fs::File, u64), StorageError> {
        let path = self.path_of(key)?;
        match fs::File::open(&path).await {
            Ok(f) => {
                let meta = f.metadata().await?;
                if !meta.is_file() {
                    return Err(StorageError::NotFound);
                }
                Ok((f, meta.len()))
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound
                        | io::ErrorKind::NotADirectory
                        | io::ErrorKind::InvalidFilename
                ) =>
            {
                Err(StorageError::NotFound)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Map a key to a path inside the root, refusing anything that could escape it
    /// or that the file system cannot name (a segment over 255 bytes, NUL, control
    /// characters): such keys never name an object.
    pub fn path_of(&self, key: &str) -> Result<PathBuf, StorageError> {
        let bad = || StorageError::BadKey(key.to_owned());
        if key.is_empty()
            || key.len() > MAX_KEY_LEN
            || key.starts_with('.')
            || key.contains('\\')
            || key.chars().any(char::is_control)
        {
            return Err(bad());
        }
        let rel = Path::new(key);
        for c in rel.components() {
            match c {
                Component::Normal(s)
                    if !s.to_string_lossy().starts_with('.') && s.len() <= MAX_SEGMENT_LEN => {}
                _ => return Err(bad()),
            }
        }
        Ok(self.root.join(rel))
    }

    /// Remove upload temp files not modified for `max_age` (left behind by a crash
    /// or a kill). An upload in progress writes continuously, so it stays young and
    /// is never removed; age, not the process id, decides, because several gateways
    /// may share the store. Returns how many files were removed.
    pub async fn sweep_tmp(&self, max_age: std::time::Duration) -> Result<usize, StorageError> {
        let mut removed = 0;
        let mut dir = fs::read_dir(&self.tmp).await?;
        let now = std::time::SystemTime::now();
        while let Some(entry) = dir.next_entry().await? {
            let Ok(meta) = entry.metadata().await else {
                continue;
            };
            let age = meta
                .modified()
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .unwrap_or_default();
            if meta.is_file() && age >= max_age {
                match fs::remove_file(entry.path()).await {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        if removed > 0 {
            tracing::info!(removed, "stale upload temp files removed");
        }
        Ok(removed)
    }
}

impl TempObject {
    /// Append a chunk; fails once the total passes the limit.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), StorageError> {
        let new_size = self.size + chunk.len() as u64;
        if new_size > self.limit {
            return Err(StorageError::TooLarge { limit: self.limit });
        }
        if self.head.len() < HEAD_LEN {
            let take = (HEAD_LEN - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..take]);
        }
        self.md5.update(chunk);
        match self.file.as_mut() {
            Some(f) => f.write_all(chunk).await?,
            None => return Err(io::Error::other("upload already closed").into()),
        }
        self.size = new_size;
        Ok(())
    }

    /// The whole upload, read back (for small files such as a search image).
    pub async fn read_all(&mut self) -> Result<Vec<u8>, StorageError> {
        if let Some(f) = self.file.as_mut() {
            f.flush().await?;
        }
        Ok(fs::read(&self.path).await?)
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The MD5 of the bytes written so far, as 32 lower-case hex digits.
    pub fn md5_hex(&self) -> String {
        hex::encode(self.md5.clone().finalize())
    }

    /// The first bytes of the upload, for type sniffing.
    pub fn head(&self) -> &[u8] {
        &self.head
    }
}

/// What chunked uploads need of an object store: commit a staged upload under a key,
/// read an object back as a stream, delete one object or every object under a prefix.
/// Staging ([`TempObject`]) stays local: a remote store uploads it on commit.
pub trait ObjectStore: Send + Sync + 'static {
    type Reader: tokio::io::AsyncRead + Send + Unpin;

    fn commit(
        &self,
        obj: TempObject,
        key: &str,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// The object and its size; `NotFound` if there is none.
    fn read(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<(Self::Reader, u64), StorageError>> + Send;

    fn delete(&self, key: &str) -> impl Future<Output = Result<(), StorageError>> + Send;

    fn delete_prefix(&self, prefix: &str) -> impl Future<Output = Result<(), StorageError>> + Send;
}

impl ObjectStore for LocalStore {
    type Reader = fs::File;

    async fn commit(&self, obj: TempObject, key: &str) -> Result<(), StorageError> {
        LocalStore::commit(self, obj, key).await
    }

    async fn read(&self, key: &str) -> Result<(fs::File, u64), StorageError> {
        self.open_object(key).await
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        LocalStore::delete(self, key).await
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<(), StorageError> {
        LocalStore::delete_prefix(self, prefix).await
    }
}

impl Drop for TempObject {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn upload_commit_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path()).await.unwrap();
        let mut up = store.begin(100).await.unwrap();
        up.write(b"hello ").await.unwrap();
        up.write(b"world").await.unwrap();
        assert_eq!(up.size(), 11);
        assert_eq!(up.head(), b"hello world");
        // md5 -n "hello world"
        assert_eq!(up.md5_hex(), "5eb63bbbe01eeed093cb22bb8f5acdc3");
        store.commit(up, "a/b/c.txt").await.unwrap();
        let (_, len) = store.open_object("a/b/c.txt").await.unwrap();
        assert_eq!(len, 11);
        assert_eq!(
            std::fs::read(dir.path().join("a/b/c.txt")).unwrap(),
            b"hello world"
        );
        store.delete("a/b/c.txt").await.unwrap();
        assert!(matches!(
            store.open_object("a/b/c.txt").await,
            Err(StorageError::NotFound)
        ));
        store.delete("a/b/c.txt").await.unwrap();
        assert!(store.delete("../x").await.is_err());
    }

    #[tokio::test]
    async fn oversize_upload_is_refused_and_cleaned() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path()).await.unwrap();
        let mut up = store.begin(4).await.unwrap();
        assert!(matches!(
            up.write(b"12345").await,
            Err(StorageError::TooLarge { limit: 4 })
        ));
        drop(up);
        let left = std::fs::read_dir(dir.path().join(".tmp")).unwrap().count();
        assert_eq!(left, 0, "temporary file must be removed");
    }

    #[tokio::test]
    async fn keys_cannot_escape_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path()).await.unwrap();
        for key in [
            "../etc/passwd",
            "/etc/passwd",
            "a/../../x",
            "",
            ".tmp/x",
            "a/.hidden",
            "a\\b",
            "a\0b",
            "a\nb",
        ] {
            assert!(store.path_of(key).is_err(), "{key}");
        }
        assert!(matches!(
            store.open_object("missing.png").await,
            Err(StorageError::NotFound)
        ));
        assert!(matches!(
            store.open_object("a").await,
            Err(StorageError::NotFound)
        ));
        // a segment longer than a file name can be is not a key (was an i/o error)
        let long = "x".repeat(256);
        assert!(store.path_of(&long).is_err());
        assert!(store.path_of(&"x".repeat(255)).is_ok());
        assert!(store.path_of(&format!("avatars/{long}.png")).is_err());
        // a file used as a directory is simply not found
        store.put("file", Bytes::from_static(b"x")).await.unwrap();
        assert!(matches!(
            store.open_object("file/inside").await,
            Err(StorageError::NotFound)
        ));
    }

    #[tokio::test]
    async fn hidden_store_is_out_of_reach_and_removable_by_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path()).await.unwrap();
        let parts = store.hidden("uploads");
        for (n, body) in [(0, &b"abc"[..]), (1, b"de")] {
            let mut t = store.begin(10).await.unwrap();
            t.write(body).await.unwrap();
            ObjectStore::commit(&parts, t, &format!("7/{n}"))
                .await
                .unwrap();
        }
        let (mut r, len) = ObjectStore::read(&parts, "7/0").await.unwrap();
        let mut got = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut r, &mut got)
            .await
            .unwrap();
        assert_eq!((got.as_slice(), len), (&b"abc"[..], 3));
        assert!(
            store.path_of(".uploads/7/0").is_err(),
            "not a key of the store"
        );
        ObjectStore::delete_prefix(&parts, "7").await.unwrap();
        assert!(matches!(
            ObjectStore::read(&parts, "7/1").await,
            Err(StorageError::NotFound)
        ));
        ObjectStore::delete_prefix(&parts, "7").await.unwrap();
        assert!(ObjectStore::delete_prefix(&parts, "../x").await.is_err());
    }

    #[tokio::test]
    async fn sweep_removes_only_old_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path()).await.unwrap();
        let tmp = dir.path().join(".tmp");
        let old = tmp.join("upload-1-0");
        std::fs::write(&old, b"left by a crash").unwrap();
        let f = std::fs::File::options().write(true).open(&old).unwrap();
        f.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(7200))
            .unwrap();
        drop(f);
        let mut live = store.begin(100).await.unwrap();
        live.write(b"being written").await.unwrap();
        let removed = store
            .sweep_tmp(std::time::Duration::from_secs(3600))
            .await
            .unwrap();
        assert_eq!(removed, 1);
        assert!(!old.exists(), "stale temp file removed");
        live.write(b" still").await.unwrap();
        store.commit(live, "kept.txt").await.unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("kept.txt")).unwrap(),
            b"being written still"
        );
    }
}
