//! The image table behind a small trait.
//!
//! One row per image URL ever seen, live or taken down: a removed row stays as a
//! tombstone (`removed_at`), so a late or re-delivered `image.stored` of that URL
//! never indexes it again. Rows with the same bytes share a content id (the key
//! of their one vector), kept unique per SHA-256 in `image_contents`.

mod content_entity;
mod entity;
mod migration;
mod sea;

use std::{collections::HashMap, future::Future};

pub use migration::Migrator;
pub use sea::SeaImageStore;

/// A stored image that can be searched for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRecord {
    pub id: i64,
    pub url: String,
    /// 1 avatar, 2 cover, 3 uploaded (`image.ImageKind`)
    pub kind: i16,
    pub owner_id: i64,
    /// When the object was stored (Unix ms); of rows with the same bytes the newest
    /// (then the greatest id) answers.
    pub created_at: i64,
    /// When the row was last made searchable; `None` = not (yet) indexed.
    pub indexed_at: Option<i64>,
    /// SHA-256 of the object's bytes (64 lower-case hex digits); `None` until read
    /// (rows indexed before hashes were kept: until `fanone image reindex`).
    pub content_hash: Option<String>,
    /// The key of the vector of this row's picture, shared by every row with the same
    /// bytes; `None` until read.
    pub content_id: Option<i64>,
    /// When the image was taken down (Unix ms): never indexed again, its object
    /// deleted after the grace period.
    pub removed_at: Option<i64>,
    /// When the object of a removed image was deleted.
    pub purged_at: Option<i64>,
}

impl ImageRecord {
    /// A row not stored yet: nothing read, indexed or removed.
    pub fn new(id: i64, url: &str, kind: i16, owner_id: i64, created_at: i64) -> Self {
        Self {
            id,
            url: url.to_owned(),
            kind,
            owner_id,
            created_at,
            indexed_at: None,
            content_hash: None,
            content_id: None,
            removed_at: None,
            purged_at: None,
        }
    }

    pub fn is_live(&self) -> bool {
        self.removed_at.is_none()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
}

pub trait ImageStore: Send + Sync + 'static {
    /// The row of `url`, creating it (with `fresh`'s id and fields) if missing.
    fn get_or_insert(
        &self,
        fresh: &ImageRecord,
    ) -> impl Future<Output = Result<ImageRecord, StoreError>> + Send;

    /// The row of `fresh.url` taken down at `at` (created as a tombstone if missing;
    /// an earlier removal time is kept). Returns the row as it now is.
    fn tombstone(
        &self,
        fresh: &ImageRecord,
        at: i64,
    ) -> impl Future<Output = Result<ImageRecord, StoreError>> + Send;

    fn by_url(
        &self,
        url: &str,
    ) -> impl Future<Output = Result<Option<ImageRecord>, StoreError>> + Send;

    /// The content id of the bytes hashed `sha256`: the existing one, or `fresh_id`
    /// recorded now (one id per hash, also under concurrent calls).
    fn content_id(
        &self,
        sha256: &str,
        fresh_id: i64,
        at: i64,
    ) -> impl Future<Output = Result<i64, StoreError>> + Send;

    /// Record the colour layout of picture `content_id`.
    fn set_layout(
        &self,
        content_id: i64,
        layout: &[u8],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The recorded layouts of those of `content_ids` that have one.
    fn layouts(
        &self,
        content_ids: &[i64],
    ) -> impl Future<Output = Result<HashMap<i64, Vec<u8>>, StoreError>> + Send;

    /// Record the hash and content id of row `id`.
    fn set_content(
        &self,
        id: i64,
        sha256: &str,
        content_id: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn mark_indexed(&self, id: i64, at: i64)
    -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Rows among `ids`, any order.
    fn by_ids(
        &self,
        ids: &[i64],
    ) -> impl Future<Output = Result<Vec<ImageRecord>, StoreError>> + Send;

    /// The live rows holding any of `content_ids`, newest first (`created_at`, then
    /// id, descending).
    fn live_by_contents(
        &self,
        content_ids: &[i64],
    ) -> impl Future<Output = Result<Vec<ImageRecord>, StoreError>> + Send;

    /// Which of `content_ids` some live row holds (each once, any order).
    fn live_contents(
        &self,
        content_ids: &[i64],
    ) -> impl Future<Output = Result<Vec<i64>, StoreError>> + Send;

    /// Up to `limit` rows with id > `after`, by id (for reindexing); only live ones
    /// when `live_only`.
    fn page_after(
        &self,
        after: i64,
        limit: u64,
        live_only: bool,
    ) -> impl Future<Output = Result<Vec<ImageRecord>, StoreError>> + Send;

    /// How many rows (only live ones when `live_only`).
    fn count(&self, live_only: bool) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Up to `limit` removed rows whose object is not deleted yet, removed at or
    /// before `before`, the oldest removal first.
    fn reapable(
        &self,
        before: i64,
        limit: u64,
    ) -> impl Future<Output = Result<Vec<ImageRecord>, StoreError>> + Send;

    /// The object of removed row `id` was deleted at `at`.
    fn mark_purged(&self, id: i64, at: i64) -> impl Future<Output = Result<(), StoreError>> + Send;
}
