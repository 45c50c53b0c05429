//! The image table behind a small trait.

mod entity;
mod migration;
mod sea;

use std::future::Future;

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
    pub created_at: i64,
    /// When its vector was written; `None` = not (yet) in the vector index.
    pub indexed_at: Option<i64>,
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

    fn mark_indexed(&self, id: i64, at: i64)
    -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Rows among `ids`, any order.
    fn by_ids(
        &self,
        ids: &[i64],
    ) -> impl Future<Output = Result<Vec<ImageRecord>, StoreError>> + Send;

    /// Up to `limit` rows with id > `after`, by id (for reindexing).
    fn page_after(
        &self,
        after: i64,
        limit: u64,
    ) -> impl Future<Output = Result<Vec<ImageRecord>, StoreError>> + Send;

    fn count(&self) -> impl Future<Output = Result<u64, StoreError>> + Send;
}
