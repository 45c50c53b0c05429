//! Persistence of follow relations behind a small trait, so the domain logic does
//! not know SQL.

mod entity;
mod migration;
mod sea;

use std::future::Future;

pub use migration::Migrator;
pub use sea::{SHARDED, SeaSocialStore};

/// Counter kinds of the social service (`fanone_counter`, per-service numbering).
pub mod counter_kind {
    /// How many users `target` follows.
    pub const FOLLOWING: i16 = 1;
    /// How many users follow `target`.
    pub const FOLLOWERS: i16 = 2;
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The relation already exists (follow) — decided by the primary key.
    #[error("relation already exists")]
    Duplicate,
    /// The relation does not exist (unfollow).
    #[error("relation does not exist")]
    Missing,
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
}

impl fanone_db::Transient for StoreError {
    fn is_transient(&self) -> bool {
        matches!(self, StoreError::Db(e) if e.is_transient())
    }
}

pub trait SocialStore: Send + Sync + 'static {
    /// Insert `follower → followee` and count it, in one transaction.
    /// `Duplicate` when it already exists.
    fn follow(
        &self,
        follower: i64,
        followee: i64,
        now: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Delete `follower → followee` and uncount it, in one transaction.
    /// `Missing` when it does not exist.
    fn unfollow(
        &self,
        follower: i64,
        followee: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Users `user` follows, newest follow first.
    fn following(
        &self,
        user: i64,
        offset: u64,
        limit: u64,
    ) -> impl Future<Output = Result<Vec<i64>, StoreError>> + Send;

    /// Users who follow `user`, newest follow first.
    fn followers(
        &self,
        user: i64,
        offset: u64,
        limit: u64,
    ) -> impl Future<Output = Result<Vec<i64>, StoreError>> + Send;

    /// Mutual follows of `user`, newest friendship first (the later of the two follows).
    fn friends(
        &self,
        user: i64,
        offset: u64,
        limit: u64,
    ) -> impl Future<Output = Result<Vec<i64>, StoreError>> + Send;

    /// Exact following / follower count (hot counter).
    fn count(&self, kind: i16, user: i64) -> impl Future<Output = Result<i64, StoreError>> + Send;

    /// Number of mutual follows of `user`.
    fn count_friends(&self, user: i64) -> impl Future<Output = Result<i64, StoreError>> + Send;

    /// Whether `a` follows `b` and `b` follows `a`.
    fn mutual(&self, a: i64, b: i64) -> impl Future<Output = Result<bool, StoreError>> + Send;
}
