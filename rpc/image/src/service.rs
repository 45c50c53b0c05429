//! The rules of the image domain: index a stored image once, search by example.

use std::{sync::Arc, time::Duration};
use tracing::Instrument as _;

use fanone_embed::{EmbedError, Embedder, Limits};
use fanone_errno::{Code, Error};
use fanone_id::{Snowflake, now_ms};
use fanone_vector::{VectorError, VectorStore};
use tokio::sync::Semaphore;

use crate::{
    fetch::{FetchError, Fetcher},
    store::{ImageRecord, ImageStore, StoreError},
};

/// Largest `top_k` of a search.
pub const MAX_TOP_K: i32 = 100;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{0}")]
    InvalidInput(&'static str),
    #[error(transparent)]
    Embed(#[from] EmbedError),
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Vector(#[from] VectorError),
    #[error("embedding task failed: {0}")]
    Task(String),
    #[error("every decoding slot stayed busy for {0:?}")]
    Busy(Duration),
}

impl ImageError {
    /// Whether trying again later cannot help (bad image, image gone).
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            ImageError::InvalidInput(_)
                | ImageError::Fetch(FetchError::Gone(_) | FetchError::TooLarge(_))
                | ImageError::Embed(
                    EmbedError::NotAnImage | EmbedError::TooLarge(_) | EmbedError::Decode(_)
                )
        )
    }
}

/// The one mapping of image errors to contract codes.
impl From<ImageError> for Error {
    fn from(e: ImageError) -> Self {
        match e {
            ImageError::InvalidInput(msg) => Error::param(msg),
            ImageError::Embed(EmbedError::NotAnImage) => {
                Error::param("data must be a JPEG, PNG, GIF or WebP image")
            }
            ImageError::Embed(EmbedError::TooLarge(what)) => {
                Error::param(format!("image too large: {what}"))
            }
            ImageError::Embed(EmbedError::Decode(_)) => Error::param("image could not be decoded"),
            ImageError::Fetch(FetchError::Gone(what)) => {
                Error::new(Code::NotFound, format!("image not found: {what}"))
            }
            ImageError::Fetch(FetchError::TooLarge(n)) => {
                Error::param(format!("image larger than {n} bytes"))
            }
            ImageError::Busy(_) => Error::busy("image search", 2),
            other => Error::internal(other),
        }
    }
}

pub type Result<T> = std::result::Result<T, ImageError>;

/// One search result.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub image_id: i64,
    pub url: String,
    pub score: f32,
}

pub struct ImageService<S, V> {
    store: S,
    vectors: V,
    embedder: Arc<dyn Embedder>,
    limits: Limits,
    fetcher: Fetcher,
    ids: Snowflake,
    /// Decoding and embedding are CPU- and memory-bound: a few at a time (one
    /// per core by default); the rest queue for at most `decode_wait`.
    cpu: Semaphore,
    decode_wait: Duration,
}

impl<S: ImageStore, V: VectorStore> ImageService<S, V> {
    pub fn new(
        store: S,
        vectors: V,
        embedder: Arc<dyn Embedder>,
        limits: Limits,
        fetcher: Fetcher,
        node_id: u16,
    ) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            store,
            vectors,
            embedder,
            limits,
            fetcher,
            ids: Snowflake::new(node_id),
            cpu: Semaphore::new(cores),
            decode_wait: Duration::from_secs(10),
        }
    }

    /// At most `slots` decodes at once (0 = one per core); a request waits at most
    /// `wait` for a slot, then fails with "busy".
    pub fn with_decode_slots(mut self, slots: usize, wait: Duration) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        self.cpu = Semaphore::new(if slots == 0 { cores } else { slots });
        self.decode_wait = wait;
        self
    }

    /// Make the stored image at `url` searchable. Idempotent: a second call (a
    /// re-delivered event) finds the row already indexed and writes nothing. The
    /// bytes are read from our object store by the key the URL names; a URL that
    /// names no object of ours is refused before anything is stored.
    pub async fn index(&self, url: &str, kind: i16, owner_id: i64) -> Result<i64> {
        if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() > 760 {
            return Err(ImageError::InvalidInput(
                "url must be an http(s) URL of at most 760 bytes",
            ));
        }
        if crate::fetch::object_key(url).is_none() {
            return Err(ImageError::InvalidInput(
                "url must name a stored object (<public url>/static/<key>)",
            ));
        }
        if !(1..=3).contains(&kind) {
            return Err(ImageError::InvalidInput(
                "kind must be 1 (avatar), 2 (cover) or 3 (uploaded)",
            ));
        }
        let rec = self
            .store
            .get_or_insert(&ImageRecord {
                id: self.ids.next_id(),
                url: url.to_owned(),
                kind,
                owner_id,
                created_at: now_ms(),
                indexed_at: None,
            })
            .await?;
        if rec.indexed_at.is_some() {
            return Ok(rec.id);
        }
        let bytes = self.fetcher.fetch(url).await?;
        let vector = self.embed(bytes).await?;
        // vector first, then the mark: a crash in between re-embeds, never loses
        self.vectors.upsert(rec.id, &vector).await?;
        self.store.mark_indexed(rec.id, now_ms()).await?;
        tracing::info!(image_id = rec.id, kind, "image indexed");
        Ok(rec.id)
    }

    /// The stored images most similar to `data`, best first.
    pub async fn search(&self, data: Vec<u8>, top_k: i32) -> Result<Vec<Found>> {
        if data.is_empty() {
            return Err(ImageError::InvalidInput("data is empty"));
        }
        let k = top_k.clamp(1, MAX_TOP_K) as usize;
        let vector = self.embed(data).await?;
        let started = std::time::Instant::now();
        let hits = self
            .vectors
            .search(&vector, k)
            .instrument(tracing::info_span!("vector.search", k))
            .await?;
        metrics::histogram!("fanone_image_vector_search_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        let ids: Vec<i64> = hits.iter().map(|h| h.id).collect();
        let rows = self.store.by_ids(&ids).await?;
        Ok(hits
            .into_iter()
            .filter_map(|h| {
                rows.iter().find(|r| r.id == h.id).map(|r| Found {
                    image_id: r.id,
                    url: r.url.clone(),
                    score: h.score,
                })
            })
            .collect())
    }

    /// Rebuild every vector from the image table. `progress(done, total)` after each
    /// image. Returns (indexed, failed).
    pub async fn reindex(&self, progress: impl Fn(u64, u64)) -> Result<(u64, u64)> {
        let total = self.store.count().await?;
        let (mut done, mut ok, mut failed, mut after) = (0u64, 0u64, 0u64, 0i64);
        loop {
            let page = self.store.page_after(after, 100).await?;
            let Some(last) = page.last() else { break };
            after = last.id;
            let mut batch = Vec::with_capacity(page.len());
            for rec in &page {
                match self.embed_url(&rec.url).await {
                    Ok(v) => batch.push((rec.id, v)),
                    Err(e) => {
                        failed += 1;
                        tracing::warn!(image_id = rec.id, url = rec.url, error = %e, "reindex: skipped");
                    }
                }
                done += 1;
                progress(done, total);
            }
            self.vectors.upsert_many(&batch).await?;
            let now = now_ms();
            for (id, _) in &batch {
                self.store.mark_indexed(*id, now).await?;
            }
            ok += batch.len() as u64;
        }
        Ok((ok, failed))
    }

    pub async fn indexed_count(&self) -> Result<u64> {
        Ok(self.vectors.len().await?)
    }

    async fn embed_url(&self, url: &str) -> Result<Vec<f32>> {
        let bytes = self.fetcher.fetch(url).await?;
        self.embed(bytes).await
    }

    /// Decode (with limits) and embed on a blocking thread, one per core at a time.
    async fn embed(&self, bytes: Vec<u8>) -> Result<Vec<f32>> {
        let _permit = tokio::time::timeout(self.decode_wait, self.cpu.acquire())
            .await
            .map_err(|_| ImageError::Busy(self.decode_wait))?
            .map_err(|e| ImageError::Task(e.to_string()))?;
        let embedder = self.embedder.clone();
        let limits = self.limits;
        let span = tracing::info_span!("image.embed", bytes = bytes.len());
        tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            let started = std::time::Instant::now();
            let img = fanone_embed::decode(&bytes, &limits)?;
            let decoded = started.elapsed();
            let vector = embedder.embed(&img)?;
            metrics::histogram!("fanone_image_embed_duration_seconds", "stage" => "decode")
                .record(decoded.as_secs_f64());
            metrics::histogram!("fanone_image_embed_duration_seconds", "stage" => "infer")
                .record((started.elapsed() - decoded).as_secs_f64());
            Ok(vector)
        })
        .await
        .map_err(|e| ImageError::Task(e.to_string()))?
    }
}
