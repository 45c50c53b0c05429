//! Getting the bytes of a stored image: from the local object store when the URL is
//! one of ours and the file is on this host (standalone), else over HTTP.

use std::time::Duration;

use fanone_storage::LocalStore;
use futures::StreamExt;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The image is gone or was never an image we can read: do not retry.
    #[error("image unavailable: {0}")]
    Gone(String),
    /// Network or server trouble: worth retrying.
    #[error("fetching image failed: {0}")]
    Transient(String),
    #[error("image larger than {0} bytes")]
    TooLarge(u64),
}

pub struct Fetcher {
    http: reqwest::Client,
    local: Option<LocalStore>,
    max_bytes: u64,
}

impl Fetcher {
    pub fn new(local: Option<LocalStore>, max_bytes: u64) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .unwrap_or_default();
        Self {
            http,
            local,
            max_bytes,
        }
    }

    pub async fn fetch(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        if let (Some(store), Some((_, key))) = (&self.local, url.split_once("/static/"))
            && let Ok(path) = store.path_of(key)
            && let Ok(meta) = tokio::fs::metadata(&path).await
        {
            if meta.len() > self.max_bytes {
                return Err(FetchError::TooLarge(self.max_bytes));
            }
            return tokio::fs::read(&path)
                .await
                .map_err(|e| FetchError::Transient(e.to_string()));
        }
        let resp = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| FetchError::Transient(e.to_string()))?;
        let status = resp.status();
        if status.is_client_error() {
            return Err(FetchError::Gone(format!("{url}: HTTP {status}")));
        }
        if !status.is_success() {
            return Err(FetchError::Transient(format!("{url}: HTTP {status}")));
        }
        let mut body = Vec::new();
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| FetchError::Transient(e.to_string()))?;
            if body.len() as u64 + chunk.len() as u64 > self.max_bytes {
                return Err(FetchError::TooLarge(self.max_bytes));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}
