//! Persistence of videos and their visit counters behind a small trait, so the
//! domain logic does not know SQL.

mod entity;
mod migration;
mod sea;

use std::{collections::HashMap, future::Future};

pub use migration::Migrator;
pub use sea::SeaVideoStore;

/// A stored video.
#[derive(Debug, Clone, PartialEq, Eq)]
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

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("primary key already taken")]
    Duplicate,
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
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
}
