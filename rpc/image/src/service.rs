//! The rules of the image domain: index a stored image once, drop a removed one,
//! answer a search with the newest live image of each matching picture.
//!
//! Rows with the same bytes (SHA-256) share a content id, the key of their one
//! vector: duplicates take one top-k slot, and a hit answers with the newest live
//! row holding that picture (every live URL of it in `urls`). A picture's vector is
//! kept exactly while some live row holds it; see [`ImageService::settle`].

use std::{collections::HashMap, sync::Arc, time::Duration};
use tracing::Instrument as _;

use fanone_embed::{
    DynamicImage, EmbedError, Embedder, Layout, Limits, Prepared, QueryLayout, RgbImage, ViewMeans,
};
use fanone_errno::{Code, Error};
use fanone_id::{Snowflake, now_ms};
use fanone_vector::{Hit, VectorError, VectorStore};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::{
    fetch::{FetchError, Fetcher},
    store::{ImageRecord, ImageStore, StoreError},
};

/// Largest `top_k` of a search.
pub const MAX_TOP_K: i32 = 100;
/// How many candidates of a search that needed its extra views are re-ranked by
/// colour layout (the right picture was within the first 100 best-of candidates for
/// 97 % of the sticker queries of the study, within 20 for 90 %).
pub const RERANK_DEPTH: usize = 100;
/// How often one settling re-checks a picture against concurrent changes before
/// it gives up (and the event that asked is retried).
const SETTLE_ROUNDS: usize = 8;
/// Rows per page of a reindex or a reaper pass.
const PAGE: u64 = 100;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{0}")]
    InvalidInput(&'static str),
    #[error("image was removed: {0}")]
    Removed(String),
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
    #[error("the vector of picture {0} kept changing under concurrent updates")]
    Unsettled(i64),
}

impl ImageError {
    /// Whether trying again later cannot help (bad image, image gone or removed).
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            ImageError::InvalidInput(_)
                | ImageError::Removed(_)
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
            ImageError::Removed(_) => Error::new(Code::NotFound, "image was removed"),
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

/// One search result: a distinct picture.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// The newest live image holding the picture.
    pub image_id: i64,
    /// Its URL.
    pub url: String,
    /// Every live URL holding the same bytes, newest first (`url` first).
    pub urls: Vec<String>,
    pub score: f32,
}

/// What a reindex did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reindexed {
    /// Live images read and embedded.
    pub images: u64,
    /// Distinct pictures among them (vectors written).
    pub pictures: u64,
    /// Live images that could not be read or embedded (logged).
    pub failed: u64,
    /// Vectors of removed images (or of superseded keys) removed.
    pub stale: u64,
}

/// The last vector write one settling made for a picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wrote {
    Nothing,
    Upsert,
    Remove,
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
    /// A query whose whole picture matches at least this well is answered from the
    /// whole picture alone (see [`ImageService::search`]).
    multi_view_below: f32,
    /// A query whose first other view matches at least this well is answered
    /// without its remaining views.
    multi_view_enough: f32,
}

/// Default of [`ImageService::with_multi_view_below`]: on the evaluation set, a best
/// whole-picture score of 0.7 or more was the right answer 99.8 % of the time.
pub const MULTI_VIEW_BELOW: f32 = 0.7;
/// Default of [`ImageService::with_multi_view_enough`].
pub const MULTI_VIEW_ENOUGH: f32 = 0.75;

/// `url` must name an object of ours (`<public url>/static/<key>`).
fn check_url(url: &str) -> Result<()> {
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
    Ok(())
}

/// SHA-256 of `bytes` as 64 lower-case hex digits, on a blocking thread (up to the
/// size limit of an image); the bytes are handed back.
async fn content_hash(bytes: Vec<u8>) -> Result<(Vec<u8>, String)> {
    tokio::task::spawn_blocking(move || {
        let hash = hex::encode(Sha256::digest(&bytes));
        (bytes, hash)
    })
    .await
    .map_err(|e| ImageError::Task(e.to_string()))
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
        Self {
            store,
            vectors,
            embedder,
            limits,
            fetcher,
            ids: Snowflake::new(node_id),
            cpu: Semaphore::new(cpu_slots(0)),
            decode_wait: Duration::from_secs(10),
            multi_view_below: MULTI_VIEW_BELOW,
            multi_view_enough: MULTI_VIEW_ENOUGH,
        }
    }

    /// At most `slots` decodes at once (0 = one per core); a request waits at most
    /// `wait` for a slot, then fails with "busy".
    pub fn with_decode_slots(mut self, slots: usize, wait: Duration) -> Self {
        self.cpu = Semaphore::new(cpu_slots(slots));
        self.decode_wait = wait;
        self
    }

    /// Embed a query's other views when the whole picture's best score is below
    /// `score` (0 = never, above 1 = always).
    pub fn with_multi_view_below(mut self, score: f32) -> Self {
        self.multi_view_below = score;
        self
    }

    /// When a query embeds its other views, stop after the first of them (the
    /// picture found in a frame, or the larger centre crop) if it matches a stored
    /// picture at least this well (above 1 = always every view).
    pub fn with_multi_view_enough(mut self, score: f32) -> Self {
        self.multi_view_enough = score;
        self
    }

    /// Make the stored image at `url` searchable. Idempotent: a second call (a
    /// re-delivered event) finds the row already indexed and writes nothing. A URL
    /// that was removed is never indexed (`Removed`), whenever its event arrives.
    /// The bytes are read from our object store by the key the URL names; a URL that
    /// names no object of ours is refused before anything is stored. `stored_at`
    /// (when the object was stored) orders duplicates; absent = now.
    pub async fn index(
        &self,
        url: &str,
        kind: i16,
        owner_id: i64,
        stored_at: Option<i64>,
    ) -> Result<i64> {
        check_url(url)?;
        if !(1..=3).contains(&kind) {
            return Err(ImageError::InvalidInput(
                "kind must be 1 (avatar), 2 (cover) or 3 (uploaded)",
            ));
        }
        let created_at = stored_at.filter(|t| *t > 0).unwrap_or_else(now_ms);
        let rec = self
            .store
            .get_or_insert(&ImageRecord::new(
                self.ids.next_id(),
                url,
                kind,
                owner_id,
                created_at,
            ))
            .await?;
        if !rec.is_live() {
            return Err(ImageError::Removed(url.to_owned()));
        }
        if rec.indexed_at.is_some() {
            return Ok(rec.id);
        }
        let (bytes, hash) = content_hash(self.fetcher.fetch(url).await?).await?;
        let (vector, layout) = self.embed(bytes).await?;
        let content = self.store.content_id(&hash, rec.id, now_ms()).await?;
        self.store.set_layout(content, layout.as_bytes()).await?;
        // the row names its picture before the vector is written, so a removal
        // running meanwhile sees it (see `settle`)
        self.store.set_content(rec.id, &hash, content).await?;
        self.vectors.upsert(content, &vector).await?;
        self.settle(content, Wrote::Upsert, Some(vector)).await?;
        self.store.mark_indexed(rec.id, now_ms()).await?;
        tracing::info!(
            image_id = rec.id,
            content_id = content,
            kind,
            "image indexed"
        );
        Ok(rec.id)
    }

    /// Take the image at `url` down: it leaves the index (its picture's vector goes
    /// with the last live image holding it) and is never indexed again, even by a
    /// late `image.stored`; its object is deleted after the grace period ([`reap`]).
    /// Idempotent; a URL never seen gets a tombstone row (of `kind`).
    ///
    /// [`reap`]: Self::reap
    pub async fn remove(&self, url: &str, kind: i16) -> Result<i64> {
        check_url(url)?;
        let now = now_ms();
        let rec = self
            .store
            .tombstone(
                &ImageRecord::new(self.ids.next_id(), url, kind, 0, now),
                now,
            )
            .await?;
        if let Some(content) = rec.content_id {
            self.settle(content, Wrote::Nothing, None).await?;
        }
        metrics::counter!("fanone_image_removed_total").increment(1);
        tracing::info!(
            image_id = rec.id,
            content_id = rec.content_id,
            "image removed"
        );
        Ok(rec.id)
    }

    /// Make the vector of picture `content` agree with the table after this caller
    /// changed it (`wrote` = its last vector write): present while some live row
    /// holds the picture, absent otherwise.
    ///
    /// Indexers and removals of the same picture may run at once (two consumers, or
    /// several replicas). Each writes the table first, then the vector, then reads
    /// the table again and repeats until its last vector write agrees with what it
    /// read. The last vector write of all is then followed by a read that sees every
    /// table write before it, so it agrees with the final table; a removal that
    /// still sees a live holder writes nothing, as the holder's indexer (or a
    /// settling that removed the vector) writes after it. `vector` is the picture's
    /// embedding when the caller has it; otherwise a live holder is read again.
    async fn settle(
        &self,
        content: i64,
        mut wrote: Wrote,
        mut vector: Option<Vec<f32>>,
    ) -> Result<()> {
        for _ in 0..SETTLE_ROUNDS {
            let holders = self.store.live_by_contents(&[content]).await?;
            match (holders.first(), wrote) {
                (Some(_), Wrote::Upsert | Wrote::Nothing) | (None, Wrote::Remove) => return Ok(()),
                (None, _) => {
                    self.vectors.remove(content).await?;
                    wrote = Wrote::Remove;
                }
                (Some(holder), Wrote::Remove) => {
                    let v = match vector.take() {
                        Some(v) => v,
                        None => self.embed_url(&holder.url).await?,
                    };
                    self.vectors.upsert(content, &v).await?;
                    vector = Some(v);
                    wrote = Wrote::Upsert;
                }
            }
        }
        Err(ImageError::Unsettled(content))
    }

    /// The stored pictures most similar to `data`, best first: each once, answered by
    /// its newest live image. When the whole picture's best match scores below
    /// `multi_view_below`, the query's other views (the picture found in a frame,
    /// centre crops: `fanone_embed::query_views`) are embedded too — the first of
    /// them alone, the rest only when it matches no stored picture at least
    /// `multi_view_enough` — and a picture scores its best view, so a picture
    /// framed by a page or photographed on a screen is found; and the best
    /// [`RERANK_DEPTH`] candidates are re-ranked by colour layout (stickers or
    /// captions over the picture). Scores are cosines, blended with the layout
    /// agreement on that path (`QueryLayout::rescore`, ≤ 1).
    pub async fn search(&self, data: Vec<u8>, top_k: i32) -> Result<Vec<Found>> {
        if data.is_empty() {
            return Err(ImageError::InvalidInput("data is empty"));
        }
        let k = top_k.clamp(1, MAX_TOP_K) as usize;
        // the whole picture first: most queries (copies, crops, re-encodings) match
        // a stored picture closely and need nothing more. It is searched as deep as
        // a multi-view search re-ranks (the scan costs the same), so that its list
        // can be merged with the other views' instead of searched again.
        let mut query = self.embed_first(data).await?;
        let mut hits = self
            .nearest(&query.vectors[..1], k.max(RERANK_DEPTH))
            .await?;
        let mut used = "whole";
        let mut layout = None;
        if hits
            .first()
            .is_some_and(|h| h.score < self.multi_view_below)
        {
            let merged;
            (used, merged) = self.embed_views_until_enough(&mut query, hits, k).await?;
            let query_layout = QueryLayout::from_means(&query.means);
            hits = self.rerank(merged, &query_layout).await?;
            layout = Some(query_layout);
        } else {
            hits.truncate(k);
        }
        metrics::counter!("fanone_image_queries_total", "views" => used).increment(1);
        let views = query.vectors;
        let mut ask = k;
        loop {
            let mut found = self.resolve(&hits).await?;
            // a vector whose last image was removed a moment ago has no live row: ask
            // once for more, so such a vector does not shorten the answer
            if found.len() >= k || hits.len() < depth(layout.as_ref(), ask) || ask > k {
                found.truncate(k);
                return Ok(found);
            }
            ask = 2 * k + (hits.len() - found.len());
            hits = self.ranked(&views, layout.as_ref(), ask).await?;
        }
    }

    /// Embed the query's other views in two steps — the first, then the rest — and
    /// skip the rest when the first matches a stored picture at least
    /// `multi_view_enough`. Each view (or the rest, together) is searched once, and
    /// the lists are merged with `whole` (the whole picture's, [`RERANK_DEPTH`] deep):
    /// the same candidates as one best-of search of all the views
    /// ([`fanone_vector::best_of`]). Returns which views were used (a metric label):
    /// `first` (the whole picture and the first other view) or `several` (all of
    /// them), and the merged candidates.
    async fn embed_views_until_enough(
        &self,
        query: &mut Query,
        whole: Vec<Hit>,
        k: usize,
    ) -> Result<(&'static str, Vec<Hit>)> {
        let depth = k.max(RERANK_DEPTH);
        self.embed_more(query, 1).await?;
        let mut lists = vec![whole];
        if query.vectors.len() > 1 {
            lists.push(self.nearest(&query.vectors[1..], depth).await?);
        }
        // with one other view or none, there is no rest to skip
        let stop = query.views.len() > 1
            && lists[lists.len() - 1]
                .first()
                .is_some_and(|h| h.score >= self.multi_view_enough);
        if stop {
            return Ok(("first", fanone_vector::best_of(lists, depth)));
        }
        self.embed_more(query, query.views.len()).await?;
        if query.vectors.len() > 2 {
            lists.push(self.nearest(&query.vectors[2..], depth).await?);
        }
        Ok(("several", fanone_vector::best_of(lists, depth)))
    }

    /// The `k` best pictures for the query's views, each by its best view; with the
    /// query's colour layout, the best [`RERANK_DEPTH`] (at least `k`) re-ranked by
    /// how well their stored layouts agree with it (`fanone_embed::QueryLayout`).
    async fn ranked(
        &self,
        views: &[Vec<f32>],
        layout: Option<&QueryLayout>,
        k: usize,
    ) -> Result<Vec<Hit>> {
        let hits = self.nearest(views, depth(layout, k)).await?;
        match layout {
            Some(layout) => self.rerank(hits, layout).await,
            None => Ok(hits),
        }
    }

    /// `hits` re-scored by how well their stored colour layouts agree with the
    /// query's, best first.
    async fn rerank(&self, mut hits: Vec<Hit>, layout: &QueryLayout) -> Result<Vec<Hit>> {
        let ids: Vec<i64> = hits.iter().map(|h| h.id).collect();
        let stored = self.store.layouts(&ids).await?;
        for h in &mut hits {
            let l = stored.get(&h.id).and_then(|b| Layout::from_bytes(b));
            h.score = layout.rescore(h.score, l.as_ref());
        }
        hits.sort_by(|a, b| b.score.total_cmp(&a.score));
        Ok(hits)
    }

    /// The `k` pictures nearest to any of the query's views, each by its best view.
    async fn nearest(&self, views: &[Vec<f32>], k: usize) -> Result<Vec<Hit>> {
        let started = std::time::Instant::now();
        let hits = self
            .vectors
            .search_best_of(views, k)
            .instrument(tracing::info_span!("vector.search", k, views = views.len()))
            .await?;
        metrics::histogram!("fanone_image_vector_search_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        Ok(hits)
    }

    /// Hits (picture ids) to their live images, in hit order; pictures no live image
    /// holds are left out.
    async fn resolve(&self, hits: &[Hit]) -> Result<Vec<Found>> {
        let ids: Vec<i64> = hits.iter().map(|h| h.id).collect();
        let rows = self.store.live_by_contents(&ids).await?;
        let mut by_content: HashMap<i64, Vec<&ImageRecord>> = HashMap::new();
        for r in &rows {
            if let Some(c) = r.content_id {
                // rows come newest first, so each list does too
                by_content.entry(c).or_default().push(r);
            }
        }
        Ok(hits
            .iter()
            .filter_map(|h| {
                let holders = by_content.get(&h.id)?;
                let newest = holders.first()?;
                Some(Found {
                    image_id: newest.id,
                    url: newest.url.clone(),
                    urls: holders.iter().map(|r| r.url.clone()).collect(),
                    score: h.score,
                })
            })
            .collect())
    }

    /// Rebuild the index to hold exactly the live pictures: every live image is read
    /// again, hashed (duplicates found among images indexed before hashes were kept)
    /// and its picture embedded once; then the vector of every key no live image
    /// holds (removed images, superseded keys) is removed. `progress(done, total)`
    /// after each live image.
    pub async fn reindex(&self, progress: impl Fn(u64, u64)) -> Result<Reindexed> {
        let total = self.store.count(true).await?;
        let mut out = Reindexed::default();
        let mut pictures = std::collections::HashSet::new();
        let (mut done, mut after) = (0u64, 0i64);
        loop {
            let page = self.store.page_after(after, PAGE, true).await?;
            let Some(last) = page.last() else { break };
            after = last.id;
            let mut batch = Vec::new();
            let mut rows = Vec::with_capacity(page.len());
            for rec in &page {
                match self.reread(rec, &pictures).await {
                    Ok((content, vector)) => {
                        if let Some(v) = vector {
                            pictures.insert(content);
                            batch.push((content, v));
                        }
                        rows.push(rec.id);
                    }
                    Err(e) => {
                        out.failed += 1;
                        tracing::warn!(image_id = rec.id, url = rec.url, error = %e, "reindex: skipped");
                    }
                }
                done += 1;
                progress(done, total);
            }
            self.vectors.upsert_many(&batch).await?;
            let now = now_ms();
            for id in &rows {
                self.store.mark_indexed(*id, now).await?;
            }
            out.images += rows.len() as u64;
        }
        out.pictures = pictures.len() as u64;
        out.stale = self.drop_stale().await?;
        Ok(out)
    }

    /// Hash a live image again and record its picture; the picture's vector unless
    /// `embedded` already has it.
    async fn reread(
        &self,
        rec: &ImageRecord,
        embedded: &std::collections::HashSet<i64>,
    ) -> Result<(i64, Option<Vec<f32>>)> {
        let (bytes, hash) = content_hash(self.fetcher.fetch(&rec.url).await?).await?;
        let content = self.store.content_id(&hash, rec.id, now_ms()).await?;
        if rec.content_id != Some(content) || rec.content_hash.as_deref() != Some(hash.as_str()) {
            self.store.set_content(rec.id, &hash, content).await?;
        }
        if embedded.contains(&content) {
            return Ok((content, None));
        }
        let (vector, layout) = self.embed(bytes).await?;
        self.store.set_layout(content, layout.as_bytes()).await?;
        Ok((content, Some(vector)))
    }

    /// Remove the vector of every key any row ever had (its id, its content id)
    /// that no live row holds now. Returns how many keys were dropped.
    async fn drop_stale(&self) -> Result<u64> {
        let (mut after, mut dropped) = (0i64, 0u64);
        loop {
            let page = self.store.page_after(after, PAGE * 5, false).await?;
            let Some(last) = page.last() else { break };
            after = last.id;
            let mut keys: Vec<i64> = page
                .iter()
                .flat_map(|r| std::iter::once(r.id).chain(r.content_id))
                .collect();
            keys.sort_unstable();
            keys.dedup();
            let live = self.store.live_contents(&keys).await?;
            let dead: Vec<i64> = keys
                .into_iter()
                .filter(|k| live.binary_search(k).is_err())
                .collect();
            if dead.is_empty() {
                continue;
            }
            self.vectors.remove_many(&dead).await?;
            dropped += dead.len() as u64;
            // an image indexed meanwhile may hold one of them now
            for content in self.store.live_contents(&dead).await? {
                self.settle(content, Wrote::Remove, None).await?;
            }
        }
        Ok(dropped)
    }

    /// Delete the objects of images removed at least `grace` ago (once each).
    /// Returns how many were deleted.
    pub async fn reap(&self, grace: Duration) -> Result<u64> {
        let before = now_ms().saturating_sub(i64::try_from(grace.as_millis()).unwrap_or(i64::MAX));
        let mut purged = 0;
        loop {
            let rows = self.store.reapable(before, PAGE).await?;
            for r in &rows {
                self.fetcher.delete(&r.url).await?;
                self.store.mark_purged(r.id, now_ms()).await?;
                tracing::debug!(
                    image_id = r.id,
                    url = r.url,
                    "object of a removed image deleted"
                );
            }
            purged += rows.len() as u64;
            if (rows.len() as u64) < PAGE {
                break;
            }
        }
        if purged > 0 {
            metrics::counter!("fanone_image_objects_purged_total").increment(purged);
            tracing::info!(purged, "objects of removed images deleted");
        }
        Ok(purged)
    }

    pub async fn indexed_count(&self) -> Result<u64> {
        Ok(self.vectors.len().await?)
    }

    async fn embed_url(&self, url: &str) -> Result<Vec<f32>> {
        let bytes = self.fetcher.fetch(url).await?;
        Ok(self.embed(bytes).await?.0)
    }

    /// The embedding and the colour layout of a stored image (the whole picture).
    async fn embed(&self, bytes: Vec<u8>) -> Result<(Vec<f32>, Layout)> {
        let limits = self.limits;
        self.on_cpu("index", move |e| {
            let work = working_copy(bytes, &limits)?;
            let whole = fanone_embed::prepare(&work, &[whole_rect(&work)])?;
            let vector = infer_timed(e, &whole)?
                .pop()
                .ok_or_else(|| EmbedError::Model("no embedding".into()))?;
            Ok((vector, whole.means[0].layout()))
        })
        .await
    }

    /// The working copy of a query (small: the decoded pixels are dropped here), the
    /// embedding of the whole picture, and the query's other views
    /// (`fanone_embed::query_views`). When the engine has a second idle session, the
    /// first other view is embedded alongside the whole picture: on an idle core it
    /// costs no time, and a query that needs its other views then waits for one
    /// round of inferences fewer. Busy engines embed the whole picture alone.
    async fn embed_first(&self, bytes: Vec<u8>) -> Result<Query> {
        let limits = self.limits;
        self.on_cpu("query", move |e| {
            let work = working_copy(bytes, &limits)?;
            let views = fanone_embed::query_views(&work);
            let mut rects = vec![whole_rect(&work)];
            if e.idle_parallelism() >= 2 {
                rects.extend(views.first().copied());
            }
            let prepared = fanone_embed::prepare(&work, &rects)?;
            let vectors = infer_timed(e, &prepared)?;
            if vectors.len() != rects.len() {
                return Err(EmbedError::Model("no embedding".into()));
            }
            Ok(Query {
                work: Arc::new(work),
                views,
                vectors,
                means: prepared.means,
            })
        })
        .await
    }

    /// Embed the query's other views up to (not including) `upto` that are not
    /// embedded yet.
    async fn embed_more(&self, query: &mut Query, upto: usize) -> Result<()> {
        let from = query.vectors.len() - 1;
        let Some(rects) = query.views.get(from..upto).filter(|r| !r.is_empty()) else {
            return Ok(());
        };
        let (work, rects) = (query.work.clone(), rects.to_vec());
        let (vectors, means) = self
            .on_cpu("query", move |e| {
                let prepared = fanone_embed::prepare(&work, &rects)?;
                Ok((infer_timed(e, &prepared)?, prepared.means))
            })
            .await?;
        query.vectors.extend(vectors);
        query.means.extend(means);
        Ok(())
    }

    /// Run `f` on a blocking thread while holding a CPU slot: at most one per slot at
    /// a time, so the decoded pixels (up to `Limits::max_decode_bytes` each) and the
    /// inferences are bounded; a request waits at most `decode_wait` for a slot.
    async fn on_cpu<T: Send + 'static>(
        &self,
        purpose: &'static str,
        f: impl FnOnce(&dyn Embedder) -> std::result::Result<T, EmbedError> + Send + 'static,
    ) -> Result<T> {
        let _permit = tokio::time::timeout(self.decode_wait, self.cpu.acquire())
            .await
            .map_err(|_| ImageError::Busy(self.decode_wait))?
            .map_err(|e| ImageError::Task(e.to_string()))?;
        let embedder = self.embedder.clone();
        let span = tracing::info_span!("image.embed", purpose);
        tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            Ok(f(embedder.as_ref())?)
        })
        .await
        .map_err(|e| ImageError::Task(e.to_string()))?
    }
}

/// A query being embedded: its working copy, its other views
/// (`fanone_embed::query_views`), the embeddings made so far (the whole picture's
/// first, then its other views in order) and their colour cell means (the layouts
/// of a query that needs its views cost no resize).
struct Query {
    work: Arc<RgbImage>,
    views: Vec<fanone_embed::Rect>,
    vectors: Vec<Vec<f32>>,
    means: Vec<ViewMeans>,
}

/// How many candidates a search asks the vector store for, to answer `k`.
fn depth(layout: Option<&QueryLayout>, k: usize) -> usize {
    if layout.is_some() {
        k.max(RERANK_DEPTH)
    } else {
        k
    }
}

/// Decode `bytes` (timed) and make the working copy; the decoded pixels and the bytes
/// are dropped as soon as it exists.
fn working_copy(bytes: Vec<u8>, limits: &Limits) -> std::result::Result<RgbImage, EmbedError> {
    let img = decode_timed(&bytes, limits)?;
    drop(bytes);
    fanone_embed::working(&img)
}

fn whole_rect(work: &RgbImage) -> fanone_embed::Rect {
    fanone_embed::Rect::whole(work.width(), work.height())
}

/// How many decodes and inferences run at once: `configured`, or one per core for 0.
pub fn cpu_slots(configured: usize) -> usize {
    if configured == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        configured
    }
}

/// Decode with limits, no larger than the working copy needs (a large JPEG is scaled
/// while decoding), timed (`fanone_image_embed_duration_seconds{stage="decode"}`).
fn decode_timed(bytes: &[u8], limits: &Limits) -> std::result::Result<DynamicImage, EmbedError> {
    let started = std::time::Instant::now();
    let img = fanone_embed::decode_reduced(bytes, limits, fanone_embed::WORK_SIDE)?;
    metrics::histogram!("fanone_image_embed_duration_seconds", "stage" => "decode")
        .record(started.elapsed().as_secs_f64());
    Ok(img)
}

/// Run the model on prepared views, timed
/// (`fanone_image_embed_duration_seconds{stage="infer"}`).
fn infer_timed(
    e: &dyn Embedder,
    prepared: &Prepared,
) -> std::result::Result<Vec<Vec<f32>>, EmbedError> {
    if prepared.is_empty() {
        return Ok(Vec::new()); // no sample of nothing
    }
    let started = std::time::Instant::now();
    let out = e.embed_prepared(prepared)?;
    metrics::histogram!("fanone_image_embed_duration_seconds", "stage" => "infer")
        .record(started.elapsed().as_secs_f64());
    Ok(out)
}
