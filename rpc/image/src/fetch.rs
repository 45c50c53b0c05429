//! Getting the bytes of a stored image (and deleting a removed one): from our own
//! object store, by object key.
//!
//! The image service never fetches a URL. An image URL names an object of ours as
//! `<public url>/static/<key>`; the key is taken from it (percent-decoded once) and
//! read from the object store, which refuses keys that could leave its root. A URL
//! that names no object of ours is refused, so a caller cannot make the service
//! send requests anywhere (server-side request forgery).

use fanone_storage::{LocalStore, StorageError};
use tokio::io::AsyncReadExt;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The image is gone or was never one of our objects: do not retry.
    #[error("image unavailable: {0}")]
    Gone(String),
    /// Storage trouble: worth retrying.
    #[error("reading image failed: {0}")]
    Transient(String),
    #[error("image larger than {0} bytes")]
    TooLarge(u64),
}

pub struct Fetcher {
    store: LocalStore,
    max_bytes: u64,
}

/// The object key an image URL of ours names (`.../static/<key>`), decoded.
pub fn object_key(url: &str) -> Option<String> {
    let (_, raw) = url.split_once("/static/")?;
    let raw = raw.split(['?', '#']).next().unwrap_or_default();
    let key = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .ok()?;
    (!key.is_empty()).then(|| key.into_owned())
}

impl Fetcher {
    pub fn new(store: LocalStore, max_bytes: u64) -> Self {
        Self { store, max_bytes }
    }

    /// Delete the object an image URL of ours names. Nothing to delete (a missing
    /// object, a URL that names none) is not an error; storage trouble is transient.
    pub async fn delete(&self, url: &str) -> Result<(), FetchError> {
        let Some(key) = object_key(url) else {
            return Ok(());
        };
        match self.store.delete(&key).await {
            Ok(()) | Err(StorageError::BadKey(_) | StorageError::NotFound) => Ok(()),
            Err(other) => Err(FetchError::Transient(other.to_string())),
        }
    }

    pub async fn fetch(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        let key = object_key(url)
            .ok_or_else(|| FetchError::Gone(format!("{url}: not an object of this site")))?;
        let (file, len) = self.store.open_object(&key).await.map_err(|e| match e {
            StorageError::NotFound | StorageError::BadKey(_) => {
                FetchError::Gone(format!("{url}: no such object"))
            }
            other => FetchError::Transient(other.to_string()),
        })?;
        if len > self.max_bytes {
            return Err(FetchError::TooLarge(self.max_bytes));
        }
        let mut body = Vec::with_capacity(len as usize);
        file.take(self.max_bytes + 1)
            .read_to_end(&mut body)
            .await
            .map_err(|e| FetchError::Transient(e.to_string()))?;
        if body.len() as u64 > self.max_bytes {
            return Err(FetchError::TooLarge(self.max_bytes));
        }
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_from_our_static_urls_only() {
        assert_eq!(
            object_key("http://127.0.0.1:10001/static/avatars/1/2.png").as_deref(),
            Some("avatars/1/2.png")
        );
        assert_eq!(
            object_key("https://cdn.example.com/static/covers/1/a%20b.jpg?x=1").as_deref(),
            Some("covers/1/a b.jpg")
        );
        for url in [
            "http://169.254.169.254/latest/meta-data/",
            "http://127.0.0.1:10011/",
            "http://example.com/static/",
            "http://example.com/static/%ff",
        ] {
            assert_eq!(object_key(url), None, "{url}");
        }
    }

    #[tokio::test]
    async fn reads_only_objects_of_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path()).await.unwrap();
        store
            .put("avatars/1/a.png", bytes::Bytes::from_static(b"png!"))
            .await
            .unwrap();
        std::fs::write(dir.path().join("secret.txt"), b"no").unwrap();
        let f = Fetcher::new(LocalStore::open(dir.path()).await.unwrap(), 3);
        assert!(matches!(
            f.fetch("http://x/static/avatars/1/a.png").await,
            Err(FetchError::TooLarge(3))
        ));
        let f = Fetcher::new(store, 100);
        assert_eq!(
            f.fetch("http://anything/static/avatars/1/a.png")
                .await
                .unwrap(),
            b"png!"
        );
        for url in [
            "http://x/static/../secret.txt",
            "http://x/static/%2e%2e/secret.txt",
            "http://x/static/.tmp/upload-1-0",
            "http://127.0.0.1:1/internal",
        ] {
            assert!(
                matches!(f.fetch(url).await, Err(FetchError::Gone(_))),
                "{url}"
            );
            // nothing outside the store is ever deleted
            f.delete(url).await.unwrap();
        }
        assert!(dir.path().join("secret.txt").exists());
        f.delete("http://anything/static/avatars/1/a.png")
            .await
            .unwrap();
        assert!(matches!(
            f.fetch("http://anything/static/avatars/1/a.png").await,
            Err(FetchError::Gone(_))
        ));
        f.delete("http://anything/static/avatars/1/a.png")
            .await
            .unwrap();
    }
}
