//! Persistence of likes and comments behind a small trait, so the domain logic does
//! not know SQL. Every change that moves a count appends its counter increments in
//! the same transaction (`fanone_counter`), so counts and rows never disagree.

mod entity;
mod group;
mod migration;
mod sea;
mod setwise;

use std::{collections::HashMap, collections::HashSet, future::Future};

pub use group::MAX_BATCH as MAX_LIKE_BATCH;
pub use migration::{Migrator, SHARDED};
pub use sea::SeaInteractionStore;

/// Counter kinds of the interaction service (`counters.kind`).
pub mod counter {
    /// Likes of a video (target = video id).
    pub const VIDEO_LIKES: i16 = 1;
    /// Live comments of a video, replies included (target = video id).
    pub const VIDEO_COMMENTS: i16 = 2;
    /// Likes of a comment (target = comment id).
    pub const COMMENT_LIKES: i16 = 3;
    /// Live direct replies of a comment (target = comment id).
    pub const COMMENT_REPLIES: i16 = 4;
}

/// What a like is on (`likes.kind`; the numbers of `interaction.TargetKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    Video(i64),
    Comment(i64),
}

impl Target {
    pub fn kind(self) -> i16 {
        match self {
            Target::Video(_) => 1,
            Target::Comment(_) => 2,
        }
    }

    pub fn id(self) -> i64 {
        match self {
            Target::Video(id) | Target::Comment(id) => id,
        }
    }

    /// The counter a like on this target moves.
    pub fn like_counter(self) -> i16 {
        match self {
            Target::Video(_) => counter::VIDEO_LIKES,
            Target::Comment(_) => counter::COMMENT_LIKES,
        }
    }
}

/// Where a new comment goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Thread {
    /// A top-level comment on a video.
    Video(i64),
    /// A reply to a comment; the reply takes the parent's video.
    Reply(i64),
}

/// A stored comment (live unless `deleted_at` is set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentRecord {
    pub id: i64,
    pub user_id: i64,
    pub video_id: i64,
    /// 0 for a top-level comment.
    pub parent_id: i64,
    pub content: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub deleted_at: Option<i64>,
}

/// A new comment; the store fills in `video_id` for replies.
#[derive(Debug, Clone)]
pub struct NewComment {
    pub id: i64,
    pub user_id: i64,
    pub thread: Thread,
    pub content: String,
    pub now: i64,
}

/// What deleting a comment removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removed {
    pub video_id: i64,
    /// The comment and its live descendants, all soft-deleted.
    pub comments: u64,
}

pub use fanone_db::Window;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Nothing to do: the like already exists (like) or does not (cancel).
    #[error("no change")]
    NoChange,
    /// The comment acted on (liked, replied to, listed, deleted) is unknown or deleted.
    #[error("comment not found")]
    NotFound,
    /// The comment belongs to someone else.
    #[error("not the author")]
    NotAuthor,
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
}

impl fanone_db::Transient for StoreError {
    fn is_transient(&self) -> bool {
        matches!(self, StoreError::Db(e) if e.is_transient())
    }
}

pub trait InteractionStore: Send + Sync + 'static {
    /// Add a like and count it, atomically. `NoChange` when already liked;
    /// `NotFound` for a comment that is unknown or deleted.
    fn like(
        &self,
        user_id: i64,
        target: Target,
        now: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Remove a like and uncount it, atomically. `NoChange` when not liked;
    /// `NotFound` for a comment that is unknown or deleted.
    fn unlike(
        &self,
        user_id: i64,
        target: Target,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Videos liked by `user_id`, newest like first, and how many there are.
    fn liked_videos(
        &self,
        user_id: i64,
        window: Window,
    ) -> impl Future<Output = Result<(Vec<i64>, i64), StoreError>> + Send;

    /// Which of `targets` (ids of one kind) `user_id` likes.
    fn liked_among(
        &self,
        user_id: i64,
        kind: i16,
        targets: &[i64],
    ) -> impl Future<Output = Result<HashSet<i64>, StoreError>> + Send;

    /// Insert a comment and count it, atomically. `NotFound` when replying to an
    /// unknown or deleted comment.
    fn insert_comment(
        &self,
        c: &NewComment,
    ) -> impl Future<Output = Result<CommentRecord, StoreError>> + Send;

    /// A live comment.
    fn comment(
        &self,
        id: i64,
    ) -> impl Future<Output = Result<Option<CommentRecord>, StoreError>> + Send;

    /// Live top-level comments of a video, newest first, and how many there are.
    fn top_level(
        &self,
        video_id: i64,
        window: Window,
    ) -> impl Future<Output = Result<(Vec<CommentRecord>, i64), StoreError>> + Send;

    /// Live direct replies of a comment, oldest first, and how many there are.
    fn replies(
        &self,
        parent_id: i64,
        window: Window,
    ) -> impl Future<Output = Result<(Vec<CommentRecord>, i64), StoreError>> + Send;

    /// Soft-delete a comment of `author` and all its live descendants, with their
    /// counter changes, atomically. `NotFound` for an unknown or deleted comment,
    /// `NotAuthor` for someone else's.
    fn delete_comment(
        &self,
        author: i64,
        id: i64,
        now: i64,
    ) -> impl Future<Output = Result<Removed, StoreError>> + Send;

    /// Exact values of counter `kind` for `ids` (absent = 0).
    fn counts(
        &self,
        kind: i16,
        ids: &[i64],
    ) -> impl Future<Output = Result<HashMap<i64, i64>, StoreError>> + Send;

    /// Fold pending counter increments now; returns how many were folded.
    fn settle(&self) -> impl Future<Output = Result<u64, StoreError>> + Send;
}
