//! Persistence of private messages behind a small trait, so the domain logic does
//! not know SQL.

mod entity;
mod migration;
mod sea;

use std::future::Future;

pub use migration::Migrator;
pub use sea::{SHARDED, SeaChatStore};

/// A stored private message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRecord {
    pub id: i64,
    pub from_user_id: i64,
    pub to_user_id: i64,
    pub content: String,
    /// Unix ms; equal to the time part of the snowflake `id`, so id order is time order.
    pub created_at: i64,
    /// When the recipient received or fetched it; `None` = unread.
    pub read_at: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
}

pub trait ChatStore: Send + Sync + 'static {
    fn insert(&self, m: &MessageRecord) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Messages between `a` and `b` (both directions), newest first.
    fn history(
        &self,
        a: i64,
        b: i64,
        offset: u64,
        limit: u64,
    ) -> impl Future<Output = Result<Vec<MessageRecord>, StoreError>> + Send;

    /// Number of messages between `a` and `b`.
    fn count_between(&self, a: i64, b: i64)
    -> impl Future<Output = Result<i64, StoreError>> + Send;

    /// Up to `limit` unread messages to `to` (from `from` when given), oldest first,
    /// marked read at `now` in the same transaction: each is handed out once.
    fn take_unread(
        &self,
        to: i64,
        from: Option<i64>,
        limit: u64,
        now: i64,
    ) -> impl Future<Output = Result<Vec<MessageRecord>, StoreError>> + Send;

    /// Mark `ids` read if they are unread messages to `to`; others are ignored.
    /// Returns how many changed.
    fn mark_read(
        &self,
        to: i64,
        ids: &[i64],
        now: i64,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}
