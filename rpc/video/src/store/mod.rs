//! Persistence of videos and their visit counters behind a small trait, so the
//! domain logic does not know SQL.

mod entity;
mod migration;
mod sea;
mod upload_entity;

use std::{collections::HashMap, future::Future};

pub use migration::Migrator;
pub use sea::SeaVideoStore;

/// A stored video (immutable once published, until deleted; cached as
/// `video:meta:<id>`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VideoRecord {
    pub id: i64,
    pub user_id: i64,
    pub title: String,
    pub description: String,
    pub video_url: String,
    pub cover_url: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Conditions of a search; every one that is set must hold (AND).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchFilter {
    /// Substring of the title or the description, case-insensitive.
    pub keywords: Option<String>,
    /// `created_at >= from`.
    pub from: Option<i64>,
    /// `created_at <= to`.
    pub to: Option<i64>,
    /// Uploader among these ids (an empty list matches nothing).
    pub user_ids: Option<Vec<i64>>,
}

pub use fanone_db::Window;

/// Where a chunked upload stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i16)]
pub enum UploadState {
    Open = 1,
    Completed = 2,
    Cancelled = 3,
}

impl UploadState {
    pub fn from_i16(n: i16) -> Option<Self> {
        [Self::Open, Self::Completed, Self::Cancelled]
            .into_iter()
            .find(|s| *s as i16 == n)
    }
}

/// A chunked upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRecord {
    pub id: i64,
    pub user_id: i64,
    pub title: String,
    pub description: String,
    pub total_size: i64,
    pub chunk_count: i32,
    /// 32 lower-case hex digits.
    pub file_md5: String,
    pub state: UploadState,
    /// The published video, once completed.
    pub video_id: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Unix ms. An open upload with no new chunk by then is abandoned; a closed one
    /// is kept until then (its status stays readable), then purged.
    pub expires_at: i64,
}

/// A received chunk of an upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkRecord {
    /// 1-based.
    pub number: i32,
    pub size: i64,
    pub md5: String,
}

/// What recording a chunk did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkAdded {
    /// Recorded; the upload's expiry moved on.
    Added,
    /// That number was already received: this is what it holds.
    Existing(ChunkRecord),
    /// The upload is not open (closed, expired or gone): nothing recorded.
    NotOpen,
}

/// What deleting a video did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deletion {
    /// Deleted now (`updated_at` = the deletion time).
    Deleted(VideoRecord),
    /// The author's video was deleted before (`updated_at` = that time).
    AlreadyDeleted(VideoRecord),
    /// A live video of another user: nothing changed.
    NotAuthor,
    /// No such video (or another user's deleted one).
    NotFound,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("primary key already taken")]
    Duplicate,
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
}

impl fanone_db::Transient for StoreError {
    fn is_transient(&self) -> bool {
        matches!(self, StoreError::Db(e) if e.is_transient())
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

pub trait VideoStore: Send + Sync + 'static {
    /// Insert a new video; `Duplicate` when the id is taken.
    fn insert(&self, video: &VideoRecord) -> impl Future<Output = StoreResult<()>> + Send;

    /// The live videos among `ids`, in no particular order.
    fn by_ids(&self, ids: &[i64]) -> impl Future<Output = StoreResult<Vec<VideoRecord>>> + Send;

    /// A user's videos, newest first, and how many the user has.
    fn list_by_user(
        &self,
        user_id: i64,
        window: Window,
    ) -> impl Future<Output = StoreResult<(Vec<VideoRecord>, u64)>> + Send;

    /// The ids of a user's newest `limit` videos, newest first, and how many the
    /// user has.
    fn ids_by_user(
        &self,
        user_id: i64,
        limit: u64,
    ) -> impl Future<Output = StoreResult<(Vec<i64>, u64)>> + Send;

    /// Videos created strictly after `after` (all when `None`), newest first.
    fn feed(
        &self,
        after: Option<i64>,
        window: Window,
    ) -> impl Future<Output = StoreResult<Vec<VideoRecord>>> + Send;

    /// Videos matching every condition of `filter`, newest first, and how many match.
    fn search(
        &self,
        filter: &SearchFilter,
        window: Window,
    ) -> impl Future<Output = StoreResult<(Vec<VideoRecord>, u64)>> + Send;

    /// `(id, created_at)` of the newest `limit` videos, newest first.
    fn newest(&self, limit: u64) -> impl Future<Output = StoreResult<Vec<(i64, i64)>>> + Send;

    /// `(id, created_at)` of the live videos among `ids`, in no particular order.
    fn created_at_of(
        &self,
        ids: &[i64],
    ) -> impl Future<Output = StoreResult<Vec<(i64, i64)>>> + Send;

    /// Soft-delete video `id` of `author` at `now` (`deleted_at` set): it leaves every
    /// read of live videos.
    fn soft_delete(
        &self,
        id: i64,
        author: i64,
        now: i64,
    ) -> impl Future<Output = StoreResult<Deletion>> + Send;

    /// Count one visit of a live video. `false` (nothing counted) if it does not exist.
    fn add_visit(&self, id: i64) -> impl Future<Output = StoreResult<bool>> + Send;

    /// Exact visit counts of `ids` (ids without visits are absent), one statement per
    /// 500 ids.
    fn visit_counts(
        &self,
        ids: &[i64],
    ) -> impl Future<Output = StoreResult<HashMap<i64, i64>>> + Send;

    /// The `limit` most visited videos by settled count, best first.
    fn top_visited(&self, limit: u64) -> impl Future<Output = StoreResult<Vec<(i64, i64)>>> + Send;

    /// Insert a new upload if `user_id` has fewer than `max_open` open uploads that
    /// have not expired at `now`; `false` (nothing inserted) otherwise.
    fn insert_upload(
        &self,
        upload: &UploadRecord,
        max_open: u64,
        now: i64,
    ) -> impl Future<Output = StoreResult<bool>> + Send;

    /// An upload and its received chunks (by number), whatever its state.
    fn upload(
        &self,
        id: i64,
    ) -> impl Future<Output = StoreResult<Option<(UploadRecord, Vec<ChunkRecord>)>>> + Send;

    /// Record a chunk of an open upload that has not expired at `now`, and move the
    /// upload's expiry to `expires_at`. The chunk's key decides a number sent twice.
    fn add_chunk(
        &self,
        upload_id: i64,
        chunk: &ChunkRecord,
        now: i64,
        expires_at: i64,
    ) -> impl Future<Output = StoreResult<ChunkAdded>> + Send;

    /// Close an open upload that has not expired at `now` as `state` (kept until
    /// `expires_at`), and publish `video` in the same transaction. `false` (nothing
    /// changed) when it was not open; `Duplicate` when the video id is taken.
    fn close_upload(
        &self,
        id: i64,
        state: UploadState,
        video: Option<&VideoRecord>,
        now: i64,
        expires_at: i64,
    ) -> impl Future<Output = StoreResult<bool>> + Send;

    /// Ids of uploads whose expiry is at or before `now`, the oldest first.
    fn expired_uploads(
        &self,
        now: i64,
        limit: u64,
    ) -> impl Future<Output = StoreResult<Vec<i64>>> + Send;

    /// Delete the uploads among `ids` whose expiry is at or before `now`, with
    /// their chunks; how many were deleted.
    fn purge_uploads(&self, ids: &[i64], now: i64)
    -> impl Future<Output = StoreResult<u64>> + Send;
}
