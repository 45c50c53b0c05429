//! The rules of the video domain, over the `VideoStore` trait.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, RwLock},
};

use fanone_errno::{Code, Error};
use fanone_id::{Snowflake, now_ms};

use crate::{
    store::{Deletion, SearchFilter, StoreError, VideoRecord, VideoStore, Window},
    upload::UploadLimits,
};

pub const TITLE_MAX_CHARS: usize = 100;
pub const DESCRIPTION_MAX_CHARS: usize = 1000;
pub const URL_MAX_BYTES: usize = 1024;
/// Largest batch accepted by `MGetVideos`.
pub const MGET_MAX: usize = 500;
/// Largest page of any list (the gateway applies its own, smaller caps).
pub const PAGE_MAX: i64 = 100;

#[derive(Debug, thiserror::Error)]
pub enum VideoError {
    #[error("{0}")]
    InvalidInput(&'static str),
    #[error("video not found")]
    NotFound,
    #[error("video id already used")]
    IdTaken,
    #[error("{0}")]
    Rejected(String),
    #[error("only the author may delete a video")]
    NotAuthor,
    #[error("upload not found, cancelled or expired")]
    UploadNotFound,
    #[error("only the uploader may use an upload")]
    NotUploader,
    #[error("upload already completed")]
    UploadCompleted,
    #[error("chunk {0} was already received with other content")]
    ChunkConflict(i32),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The one mapping of video errors to contract codes.
impl From<VideoError> for Error {
    fn from(e: VideoError) -> Self {
        match e {
            VideoError::InvalidInput(msg) => Error::param(msg),
            VideoError::NotFound => Error::not_found("video"),
            VideoError::Rejected(msg) => Error::param(msg),
            VideoError::UploadNotFound => Error::new(Code::NotFound, e.to_string()),
            VideoError::NotUploader | VideoError::NotAuthor => {
                Error::new(Code::Forbidden, e.to_string())
            }
            VideoError::IdTaken | VideoError::UploadCompleted | VideoError::ChunkConflict(_) => {
                Error::new(Code::Duplicate, e.to_string())
            }
            VideoError::Store(_) => Error::internal(e),
        }
    }
}

pub type Result<T> = std::result::Result<T, VideoError>;

/// A video with its exact visit count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoItem {
    pub video: VideoRecord,
    pub visit_count: i64,
}

/// What `publish` needs; the urls point at objects the gateway already stored.
#[derive(Debug, Clone, Copy)]
pub struct NewVideo<'a> {
    pub caller_id: i64,
    pub title: &'a str,
    pub description: &'a str,
    pub video_url: &'a str,
    pub cover_url: &'a str,
    /// Chosen by the gateway (so object keys can carry it); generated when absent.
    pub video_id: Option<i64>,
}

pub struct VideoService<S> {
    store: S,
    ids: Snowflake,
    /// The popular ranking (video ids, best first), rebuilt by a background task.
    popular: RwLock<Arc<Vec<i64>>>,
    popular_size: u64,
    uploads: UploadLimits,
    /// Videos by id (`video:meta`): rows never change after publishing but for a
    /// deletion, so entries are invalidated by publishing that id (a cached "no such
    /// id") and by deleting it.
    records: fanone_cache::Cache<VideoRecord>,
    /// Visit counts by id (`video:visits`), invalidated by every visit and kept at
    /// most the settle interval.
    visits: fanone_cache::Cache<i64>,
    /// Each author's newest video ids (`video:by_author`), invalidated when the author
    /// publishes or deletes: `/video/list` pages are cut from it.
    by_author: fanone_cache::Cache<AuthorVideos>,
    /// Where the popular ranking is shared in a cluster (see [`POPULAR_KEY`]).
    ranking_store: Option<fanone_redis::Redis>,
}

/// The popular ranking in Redis: a sorted set of video ids scored by position (0 =
/// best), replaced whole by every refresh of any replica (`MULTI`: build a copy,
/// `RENAME` it over), read a page at a time (`ZRANGE` + `ZCARD`) by every replica.
pub const POPULAR_KEY: &str = "video:popular";

const RECORD_CACHE: &str = "video:meta";
const VISIT_CACHE: &str = "video:visits";
const AUTHOR_CACHE: &str = "video:by_author";
/// Newest videos of an author kept in `video:by_author`; pages beyond them are read
/// from the database.
pub const AUTHOR_LIST_CAP: u64 = 1000;

/// An author's newest video ids (at most [`AUTHOR_LIST_CAP`]) and how many there are.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuthorVideos {
    pub ids: Vec<i64>,
    pub total: u64,
}

impl<S: VideoStore> VideoService<S> {
    pub fn new(store: S, node_id: u16, popular_size: u64) -> Self {
        Self {
            store,
            ids: Snowflake::new(node_id),
            popular: RwLock::new(Arc::new(Vec::new())),
            popular_size,
            uploads: UploadLimits::default(),
            records: fanone_cache::Caches::off().cache(RECORD_CACHE),
            visits: fanone_cache::Caches::off().cache(VISIT_CACHE),
            by_author: fanone_cache::Caches::off().cache(AUTHOR_CACHE),
            ranking_store: None,
        }
    }

    /// Share the popular ranking through Redis (cluster mode): every replica serves
    /// the same ranking; this replica's own copy answers while Redis is away.
    pub fn with_ranking_store(mut self, redis: Option<fanone_redis::Redis>) -> Self {
        self.ranking_store = redis;
        self
    }

    /// Read videos and visit counts through `caches`; a cached count is at most
    /// `count_lag` old (the counters' settle interval).
    pub fn with_cache(
        mut self,
        caches: &fanone_cache::Caches,
        count_lag: std::time::Duration,
    ) -> Self {
        self.records = caches.cache(RECORD_CACHE);
        self.visits = caches.cache_with_ttl(VISIT_CACHE, count_lag);
        self.by_author = caches.cache(AUTHOR_CACHE);
        self
    }

    /// The same service with these limits of chunked uploads.
    pub fn with_upload_limits(mut self, limits: UploadLimits) -> Self {
        self.uploads = limits;
        self
    }

    pub(crate) fn upload_limits(&self) -> UploadLimits {
        self.uploads
    }

    pub(crate) fn store(&self) -> &S {
        &self.store
    }

    pub(crate) fn next_id(&self) -> i64 {
        self.ids.next_id()
    }

    /// A new video checked by the rules of publishing (id generated when absent).
    pub(crate) fn new_video_record(
        &self,
        caller_id: i64,
        video_id: Option<i64>,
        title: &str,
        description: &str,
        video_url: &str,
        cover_url: &str,
    ) -> Result<VideoRecord> {
        if caller_id <= 0 {
            return Err(VideoError::InvalidInput("a publisher is required"));
        }
        let title = validate_title(title)?;
        let description = validate_description(description)?;
        validate_url(video_url, "video_url must be 1..=1024 bytes")?;
        validate_url(cover_url, "cover_url must be 1..=1024 bytes")?;
        let id = match video_id {
            Some(id) if id <= 0 => {
                return Err(VideoError::InvalidInput("video_id must be positive"));
            }
            Some(id) => id,
            None => self.ids.next_id(),
        };
        let now = now_ms();
        Ok(VideoRecord {
            id,
            user_id: caller_id,
            title: title.to_owned(),
            description: description.to_owned(),
            video_url: video_url.to_owned(),
            cover_url: cover_url.to_owned(),
            created_at: now,
            updated_at: now,
        })
    }

    /// A store error of inserting a video: a taken id is the caller's problem.
    pub(crate) fn map_insert(&self, e: StoreError) -> VideoError {
        match e {
            StoreError::Duplicate => VideoError::IdTaken,
            e => e.into(),
        }
    }

    pub async fn publish(&self, new: NewVideo<'_>) -> Result<VideoItem> {
        let video = self.new_video_record(
            new.caller_id,
            new.video_id,
            new.title,
            new.description,
            new.video_url,
            new.cover_url,
        )?;
        self.store
            .insert(&video)
            .await
            .map_err(|e| self.map_insert(e))?;
        // the id may be cached as "no such video" (a chosen id, looked up before),
        // and the author's list gains it
        self.records.invalidate(&[video.id]).await;
        self.by_author.invalidate(&[video.user_id]).await;
        tracing::info!(
            video_id = video.id,
            user_id = video.user_id,
            "video published"
        );
        Ok(VideoItem {
            video,
            visit_count: 0,
        })
    }

    /// A user's videos, newest first, and how many there are.
    pub async fn list_by_user(
        &self,
        user_id: i64,
        page_num: i64,
        page_size: i64,
    ) -> Result<(Vec<VideoItem>, i64)> {
        let w = window(page_num, page_size)?;
        if self.by_author.is_on() {
            let list = self
                .by_author
                .get(user_id, |authors| async move {
                    let mut out = HashMap::with_capacity(authors.len());
                    for author in authors {
                        let (ids, total) = self.store.ids_by_user(author, AUTHOR_LIST_CAP).await?;
                        out.insert(author, AuthorVideos { ids, total });
                    }
                    Ok::<_, StoreError>(out)
                })
                .await?
                .unwrap_or(AuthorVideos {
                    ids: Vec::new(),
                    total: 0,
                });
            let end = w.offset.saturating_add(w.limit);
            // a page within the cached ids, or past the end of a complete list
            if end <= list.ids.len() as u64 || list.total <= list.ids.len() as u64 {
                let start = usize::try_from(w.offset)
                    .unwrap_or(usize::MAX)
                    .min(list.ids.len());
                let stop = usize::try_from(end)
                    .unwrap_or(usize::MAX)
                    .min(list.ids.len());
                let items = self.in_order(&list.ids[start..stop]).await?;
                return Ok((items, to_i64(list.total)));
            }
        }
        let (videos, total) = self.store.list_by_user(user_id, w).await?;
        Ok((self.with_counts(videos).await?, to_i64(total)))
    }

    /// Videos created strictly after `latest_time` (all when `None`), newest first.
    pub async fn feed(
        &self,
        latest_time: Option<i64>,
        page_num: i64,
        page_size: i64,
    ) -> Result<Vec<VideoItem>> {
        let w = window(page_num, page_size)?;
        let videos = self.store.feed(latest_time, w).await?;
        self.with_counts(videos).await
    }

    /// Every given condition ANDed; newest first, with the number of matches.
    pub async fn search(
        &self,
        mut filter: SearchFilter,
        page_num: i64,
        page_size: i64,
    ) -> Result<(Vec<VideoItem>, i64)> {
        let w = window(page_num, page_size)?;
        filter.keywords = filter
            .keywords
            .map(|k| k.trim().to_owned())
            .filter(|k| !k.is_empty());
        if let Some(ids) = &mut filter.user_ids {
            if ids.len() > 10_000 {
                return Err(VideoError::InvalidInput("too many uploader ids"));
            }
            ids.sort_unstable();
            ids.dedup();
        }
        if let (Some(from), Some(to)) = (filter.from, filter.to)
            && from > to
        {
            return Ok((Vec::new(), 0));
        }
        let (videos, total) = self.store.search(&filter, w).await?;
        Ok((self.with_counts(videos).await?, to_i64(total)))
    }

    /// Videos for `ids`, in the order asked, skipping unknown ids and repeats.
    pub async fn mget(&self, ids: &[i64]) -> Result<Vec<VideoItem>> {
        if ids.len() > MGET_MAX {
            return Err(VideoError::InvalidInput("too many ids in one batch"));
        }
        self.in_order(ids).await
    }

    /// Soft-delete the caller's video: from now on no list, feed, popular page,
    /// search or batch read shows it (its cached row, the author's cached list and
    /// its place in the ranking are dropped). Returns the video and whether it was
    /// deleted before (the author again: answered, so the caller can finish what
    /// follows a deletion, such as taking its cover down).
    pub async fn delete(&self, caller: i64, id: i64) -> Result<(VideoRecord, bool)> {
        if caller <= 0 {
            return Err(VideoError::InvalidInput("a caller is required"));
        }
        if id <= 0 {
            return Err(VideoError::InvalidInput("video_id must be positive"));
        }
        let (video, before) = match self.store.soft_delete(id, caller, now_ms()).await? {
            Deletion::Deleted(v) => (v, false),
            Deletion::AlreadyDeleted(v) => (v, true),
            Deletion::NotAuthor => return Err(VideoError::NotAuthor),
            Deletion::NotFound => return Err(VideoError::NotFound),
        };
        self.records.invalidate(&[id]).await;
        self.by_author.invalidate(&[video.user_id]).await;
        self.drop_from_ranking(id).await;
        if !before {
            tracing::info!(video_id = id, user_id = video.user_id, "video deleted");
        }
        Ok((video, before))
    }

    /// Take a deleted video out of the popular ranking now (the next rebuild leaves
    /// it out anyway: it reads live videos only).
    async fn drop_from_ranking(&self, id: i64) {
        {
            let mut popular = self.popular.write().unwrap_or_else(|p| p.into_inner());
            if popular.contains(&id) {
                *popular = Arc::new(popular.iter().copied().filter(|v| *v != id).collect());
            }
        }
        if let Some(client) = self.ranking_store.as_ref().and_then(|r| r.client()) {
            use fanone_redis::fred::interfaces::SortedSetsInterface;
            let removed: std::result::Result<i64, _> = client.zrem(POPULAR_KEY, id).await;
            if let Err(e) = removed {
                tracing::warn!(error = %e, video_id = id, "deleted video not removed from the shared ranking; the next refresh drops it");
            }
        }
    }

    /// Count one visit; the new count.
    pub async fn visit(&self, id: i64) -> Result<i64> {
        if !self.store.add_visit(id).await? {
            return Err(VideoError::NotFound);
        }
        self.visits.invalidate(&[id]).await;
        let counts = self.store.visit_counts(&[id]).await?;
        Ok(counts.get(&id).copied().unwrap_or(0))
    }

    /// A page of the cached popular ranking, with fresh rows and counts.
    pub async fn popular(&self, page_num: i64, page_size: i64) -> Result<(Vec<VideoItem>, i64)> {
        let w = window(page_num, page_size)?;
        let (ids, total) = match self.shared_ranking_page(w).await {
            Some(page) => page,
            None => {
                let ranking = self.ranking();
                let total = ranking.len();
                let start = usize::try_from(w.offset).unwrap_or(usize::MAX).min(total);
                let end = start
                    .saturating_add(usize::try_from(w.limit).unwrap_or(usize::MAX))
                    .min(total);
                (ranking[start..end].to_vec(), total as u64)
            }
        };
        // the ranking is precomputed: every read is a hit (the Redis caches of the
        // data layer record misses under the same metric)
        metrics::counter!("fanone_cache_requests_total", "cache" => "video_popular", "result" => "hit")
            .increment(1);
        let items = self.in_order(&ids).await?;
        Ok((items, to_i64(total)))
    }

    /// A page of the ranking shared in Redis, or `None` (no Redis, or unreadable:
    /// the caller serves this replica's copy).
    async fn shared_ranking_page(&self, w: Window) -> Option<(Vec<i64>, u64)> {
        let client = self.ranking_store.as_ref()?.client()?;
        match read_ranking_page(client, w).await {
            Ok(page) => Some(page),
            Err(e) => {
                metrics::counter!("fanone_cache_requests_total", "cache" => "video_popular", "result" => "error")
                    .increment(1);
                tracing::warn!(error = %e, "popular ranking unreadable in redis; serving this replica's copy");
                None
            }
        }
    }

    /// The current popular ranking (video ids, best first).
    pub fn ranking(&self) -> Arc<Vec<i64>> {
        self.popular
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Rebuild the popular ranking: the most visited videos (settled counts) and the
    /// newest ones are the candidates; they are ranked by exact visit count, ties
    /// newest first, and the best `popular_size` kept. Videos with no visits are
    /// included, so the ranking covers every video while there are fewer than
    /// `popular_size`. Returns the ranking's length.
    pub async fn refresh_popular(&self) -> Result<usize> {
        let n = self.popular_size;
        let top = self.store.top_visited(n).await?;
        let newest = self.store.newest(n).await?;
        let mut created: HashMap<i64, i64> = newest.into_iter().collect();
        let missing: Vec<i64> = top
            .iter()
            .map(|&(id, _)| id)
            .filter(|id| !created.contains_key(id))
            .collect();
        // settled counters may name videos that are gone: keep live ones only
        created.extend(self.store.created_at_of(&missing).await?);
        let ids: Vec<i64> = created.keys().copied().collect();
        let counts = self.store.visit_counts(&ids).await?;
        let mut ranked: Vec<(i64, i64, i64)> = created
            .into_iter()
            .map(|(id, at)| (counts.get(&id).copied().unwrap_or(0), at, id))
            .collect();
        ranked.sort_unstable_by(|a, b| b.cmp(a));
        ranked.truncate(usize::try_from(n).unwrap_or(usize::MAX));
        let ranking: Vec<i64> = ranked.into_iter().map(|(_, _, id)| id).collect();
        metrics::gauge!("fanone_video_popular_size").set(ranking.len() as f64);
        let len = ranking.len();
        if let Some(client) = self.ranking_store.as_ref().and_then(|r| r.client())
            && let Err(e) = publish_ranking(client, &ranking).await
        {
            tracing::warn!(error = %e, "popular ranking not published to redis");
        }
        *self.popular.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(ranking);
        Ok(len)
    }

    /// Rows for `ids` in that order (unknown ids and repeats skipped), with counts.
    async fn in_order(&self, ids: &[i64]) -> Result<Vec<VideoItem>> {
        let mut unique = ids.to_vec();
        unique.sort_unstable();
        unique.dedup();
        let found: HashMap<i64, VideoRecord> = self
            .records
            .get_many(&unique, |ids| async move {
                let rows = self.store.by_ids(&ids).await?;
                Ok::<_, StoreError>(rows.into_iter().map(|v| (v.id, v)).collect())
            })
            .await?;
        let mut seen = HashSet::with_capacity(ids.len());
        let ordered: Vec<VideoRecord> = ids
            .iter()
            .filter(|id| seen.insert(**id))
            .filter_map(|id| found.get(id).cloned())
            .collect();
        self.with_counts(ordered).await
    }

    /// Attach exact visit counts: one counter read for the whole batch.
    async fn with_counts(&self, videos: Vec<VideoRecord>) -> Result<Vec<VideoItem>> {
        let ids: Vec<i64> = videos.iter().map(|v| v.id).collect();
        let counts = self
            .visits
            .get_many(&ids, |ids| async move {
                let mut counts = self.store.visit_counts(&ids).await?;
                // every id has a count (0 is a value, not "no such id")
                for id in ids {
                    counts.entry(id).or_insert(0);
                }
                Ok::<_, StoreError>(counts)
            })
            .await?;
        Ok(videos
            .into_iter()
            .map(|video| VideoItem {
                visit_count: counts.get(&video.id).copied().unwrap_or(0),
                video,
            })
            .collect())
    }
}

/// Replace [`POPULAR_KEY`] by `ranking` in one transaction.
async fn publish_ranking(
    c: &fanone_redis::fred::clients::Client,
    ranking: &[i64],
) -> std::result::Result<(), fanone_redis::fred::error::Error> {
    use fanone_redis::fred::{
        interfaces::{KeysInterface, SortedSetsInterface, TransactionInterface},
        types::Value,
    };
    let next = format!("{POPULAR_KEY}:next");
    let tx = c.multi();
    let _: Value = tx.del(next.as_str()).await?;
    if ranking.is_empty() {
        let _: Value = tx.del(POPULAR_KEY).await?;
    } else {
        let scored: Vec<(f64, i64)> = ranking
            .iter()
            .enumerate()
            .map(|(i, id)| (i as f64, *id))
            .collect();
        let _: Value = tx
            .zadd(next.as_str(), None, None, false, false, scored)
            .await?;
        let _: Value = tx.rename(next.as_str(), POPULAR_KEY).await?;
    }
    let _: Value = tx.exec(true).await?;
    Ok(())
}

/// One page of [`POPULAR_KEY`] and the ranking's length.
async fn read_ranking_page(
    c: &fanone_redis::fred::clients::Client,
    w: Window,
) -> std::result::Result<(Vec<i64>, u64), fanone_redis::fred::error::Error> {
    use fanone_redis::fred::interfaces::SortedSetsInterface;
    let total: u64 = c.zcard(POPULAR_KEY).await?;
    if w.offset >= total || w.limit == 0 {
        return Ok((Vec::new(), total));
    }
    let first = i64::try_from(w.offset).unwrap_or(i64::MAX);
    let last = i64::try_from(w.offset.saturating_add(w.limit) - 1).unwrap_or(i64::MAX);
    let ids: Vec<i64> = c
        .zrange(POPULAR_KEY, first, last, None, false, None, false)
        .await?;
    Ok((ids, total))
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A page (0-based `page_num`, `page_size` capped at `PAGE_MAX`) as a row window.
fn window(page_num: i64, page_size: i64) -> Result<Window> {
    Window::of_page(page_num, page_size, PAGE_MAX).map_err(VideoError::InvalidInput)
}

pub(crate) fn validate_title(title: &str) -> Result<&str> {
    let title = title.trim();
    if title.is_empty() {
        return Err(VideoError::InvalidInput("title is required"));
    }
    if title.chars().count() > TITLE_MAX_CHARS {
        return Err(VideoError::InvalidInput(
            "title must be at most 100 characters",
        ));
    }
    if title.chars().any(char::is_control) {
        return Err(VideoError::InvalidInput(
            "title must not contain control characters",
        ));
    }
    Ok(title)
}

pub(crate) fn validate_description(description: &str) -> Result<&str> {
    let description = description.trim();
    if description.chars().count() > DESCRIPTION_MAX_CHARS {
        return Err(VideoError::InvalidInput(
            "description must be at most 1000 characters",
        ));
    }
    if description
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(VideoError::InvalidInput(
            "description must not contain control characters",
        ));
    }
    Ok(description)
}

fn validate_url(url: &str, msg: &'static str) -> Result<()> {
    if url.is_empty() || url.len() > URL_MAX_BYTES {
        return Err(VideoError::InvalidInput(msg));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles() {
        assert_eq!(validate_title("  Hello  ").unwrap(), "Hello");
        assert!(validate_title(&"标".repeat(100)).is_ok());
        for bad in ["", "   ", "\t\n", &"x".repeat(101), "two\nlines"] {
            assert!(validate_title(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn descriptions() {
        assert_eq!(validate_description("").unwrap(), "");
        assert_eq!(validate_description(" a\nb ").unwrap(), "a\nb");
        assert!(validate_description(&"d".repeat(1000)).is_ok());
        assert!(validate_description(&"d".repeat(1001)).is_err());
        assert!(validate_description("nul\0").is_err());
    }

    #[test]
    fn windows() {
        assert_eq!(
            window(0, 10).unwrap(),
            Window {
                offset: 0,
                limit: 10
            }
        );
        assert_eq!(
            window(3, 1000).unwrap(),
            Window {
                offset: 300,
                limit: 100
            }
        );
        assert!(window(-1, 10).is_err());
        assert!(window(0, 0).is_err());
        assert!(window(i64::MAX, 100).is_err());
    }
}
