//! The rules of the interaction domain (likes, comments, their counts), over the
//! `InteractionStore` trait.

use std::collections::HashMap;

use fanone_errno::{Code, Error};
use fanone_id::{Snowflake, now_ms};

use crate::store::{
    CommentRecord, InteractionStore, NewComment, Removed, StoreError, Target, Thread, Window,
    counter,
};

/// Longest comment, in characters (after trimming).
pub const CONTENT_MAX_CHARS: usize = 1000;
/// Largest batch accepted by `MGetVideoStats`.
pub const MGET_MAX: usize = 500;
/// Most likes in one `LikeActions` call.
pub const LIKE_BATCH_MAX: usize = 500;
/// Largest page of any list; larger requests are capped.
pub const PAGE_MAX: i64 = 100;

#[derive(Debug, thiserror::Error)]
pub enum InteractionError {
    #[error("{0}")]
    InvalidInput(&'static str),
    #[error("comment not found")]
    CommentNotFound,
    #[error("only the author may delete a comment")]
    NotAuthor,
    #[error("already liked")]
    AlreadyLiked,
    #[error("not liked")]
    NotLiked,
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for InteractionError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => InteractionError::CommentNotFound,
            StoreError::NotAuthor => InteractionError::NotAuthor,
            other => InteractionError::Store(other),
        }
    }
}

/// The one mapping of interaction errors to contract codes.
impl From<InteractionError> for Error {
    fn from(e: InteractionError) -> Self {
        match e {
            InteractionError::InvalidInput(msg) => Error::param(msg),
            InteractionError::CommentNotFound => Error::not_found("comment"),
            InteractionError::NotAuthor => Error::new(Code::Forbidden, e.to_string()),
            InteractionError::AlreadyLiked | InteractionError::NotLiked => {
                Error::new(Code::Duplicate, e.to_string())
            }
            InteractionError::Store(_) => Error::internal(e),
        }
    }
}

pub type Result<T> = std::result::Result<T, InteractionError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LikeAction {
    Like,
    Cancel,
}

/// A comment with its exact counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    pub record: CommentRecord,
    pub like_count: i64,
    pub child_count: i64,
}

/// Counts of one video and whether the caller liked it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoStats {
    pub video_id: i64,
    pub like_count: i64,
    pub comment_count: i64,
    pub is_liked: bool,
}

pub struct InteractionService<S> {
    store: S,
    ids: Snowflake,
    /// (likes, comments) of videos (`interaction:video_counts`), invalidated by every
    /// like, comment and deletion here and kept at most the settle interval.
    video_counts: fanone_cache::Cache<(i64, i64)>,
}

const VIDEO_COUNTS_CACHE: &str = "interaction:video_counts";

impl<S: InteractionStore> InteractionService<S> {
    pub fn new(store: S, node_id: u16) -> Self {
        Self {
            store,
            ids: Snowflake::new(node_id),
            video_counts: fanone_cache::Caches::off().cache(VIDEO_COUNTS_CACHE),
        }
    }

    /// Read video counts through `caches`, each entry kept at most `count_lag`.
    pub fn with_cache(
        mut self,
        caches: &fanone_cache::Caches,
        count_lag: std::time::Duration,
    ) -> Self {
        self.video_counts = caches.cache_with_ttl(VIDEO_COUNTS_CACHE, count_lag);
        self
    }

    /// Like or cancel a like. A second like, or cancelling a like that does not
    /// exist, changes nothing and answers `AlreadyLiked` / `NotLiked`.
    pub async fn like(&self, caller: i64, target: Target, action: LikeAction) -> Result<()> {
        require_caller(caller)?;
        if target.id() <= 0 {
            return Err(InteractionError::InvalidInput("target id must be positive"));
        }
        let r = match action {
            LikeAction::Like => self.store.like(caller, target, now_ms()).await,
            LikeAction::Cancel => self.store.unlike(caller, target).await,
        };
        match r {
            Ok(()) => {
                if let Target::Video(v) = target {
                    self.video_counts.invalidate(&[v]).await;
                }
                Ok(())
            }
            Err(StoreError::NoChange) => Err(match action {
                LikeAction::Like => InteractionError::AlreadyLiked,
                LikeAction::Cancel => InteractionError::NotLiked,
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// Many likes at once: each item done as [`Self::like`] would do it alone, all
    /// concurrently (so they share the like writer's transactions), each answered on
    /// its own, in order. An item that could not be read is answered with its error.
    pub async fn like_many(
        &self,
        items: Vec<Result<(i64, Target, LikeAction)>>,
    ) -> Result<Vec<Result<()>>> {
        if items.len() > LIKE_BATCH_MAX {
            return Err(InteractionError::InvalidInput(
                "too many likes in one batch",
            ));
        }
        let likes = items.into_iter().map(|item| async move {
            let (caller, target, action) = item?;
            self.like(caller, target, action).await
        });
        Ok(futures::future::join_all(likes).await)
    }

    /// Videos `user_id` liked, newest like first, and how many.
    pub async fn like_list(
        &self,
        user_id: i64,
        page_num: i64,
        page_size: i64,
    ) -> Result<(Vec<i64>, i64)> {
        if user_id <= 0 {
            return Err(InteractionError::InvalidInput("user_id must be positive"));
        }
        let w = window(page_num, page_size)?;
        Ok(self.store.liked_videos(user_id, w).await?)
    }

    /// Comment on a video (`video_id`) or reply to a comment (`parent_id`): exactly
    /// one of them. A reply belongs to its parent's video.
    pub async fn publish(
        &self,
        caller: i64,
        video_id: Option<i64>,
        parent_id: Option<i64>,
        content: &str,
    ) -> Result<Comment> {
        require_caller(caller)?;
        let thread = match one_of(video_id, parent_id)? {
            Either::Video(v) => Thread::Video(v),
            Either::Comment(p) => Thread::Reply(p),
        };
        let content = validate_content(content)?;
        let new = NewComment {
            id: self.ids.next_id(),
            user_id: caller,
            thread,
            content: content.to_owned(),
            now: now_ms(),
        };
        let record = self.store.insert_comment(&new).await?;
        self.video_counts.invalidate(&[record.video_id]).await;
        tracing::debug!(
            comment_id = record.id,
            video_id = record.video_id,
            "comment published"
        );
        Ok(Comment {
            record,
            like_count: 0,
            child_count: 0,
        })
    }

    /// Top-level comments of a video (newest first), or direct replies of a live
    /// comment (oldest first), with exact counts, and how many there are.
    pub async fn list(
        &self,
        video_id: Option<i64>,
        parent_id: Option<i64>,
        page_num: i64,
        page_size: i64,
    ) -> Result<(Vec<Comment>, i64)> {
        let w = window(page_num, page_size)?;
        let (records, total) = match one_of(video_id, parent_id)? {
            Either::Video(v) => self.store.top_level(v, w).await?,
            Either::Comment(p) => {
                if self.store.comment(p).await?.is_none() {
                    return Err(InteractionError::CommentNotFound);
                }
                self.store.replies(p, w).await?
            }
        };
        if records.is_empty() {
            return Ok((Vec::new(), total));
        }
        let ids: Vec<i64> = records.iter().map(|c| c.id).collect();
        let (likes, replies) = tokio::try_join!(
            self.store.counts(counter::COMMENT_LIKES, &ids),
            self.store.counts(counter::COMMENT_REPLIES, &ids),
        )?;
        let comments = records
            .into_iter()
            .map(|record| Comment {
                like_count: count(&likes, record.id),
                child_count: count(&replies, record.id),
                record,
            })
            .collect();
        Ok((comments, total))
    }

    /// Delete one's own comment with all its replies (soft delete, one transaction).
    pub async fn delete(&self, caller: i64, comment_id: i64) -> Result<Removed> {
        require_caller(caller)?;
        if comment_id <= 0 {
            return Err(InteractionError::InvalidInput(
                "comment_id must be positive",
            ));
        }
        let removed = self
            .store
            .delete_comment(caller, comment_id, now_ms())
            .await?;
        self.video_counts.invalidate(&[removed.video_id]).await;
        tracing::debug!(comment_id, removed = removed.comments, "comment deleted");
        Ok(removed)
    }

    /// One entry per requested id, in the order asked (zeros for unknown videos).
    pub async fn video_stats(&self, caller: i64, video_ids: &[i64]) -> Result<Vec<VideoStats>> {
        if video_ids.len() > MGET_MAX {
            return Err(InteractionError::InvalidInput("too many ids in one batch"));
        }
        let mut unique = video_ids.to_vec();
        unique.sort_unstable();
        unique.dedup();
        if unique.is_empty() {
            return Ok(Vec::new());
        }
        let liked = async {
            if caller > 0 {
                self.store
                    .liked_among(caller, Target::Video(0).kind(), &unique)
                    .await
            } else {
                Ok(Default::default())
            }
        };
        let counts = self.video_counts.get_many(&unique, |ids| async move {
            let (likes, comments) = tokio::try_join!(
                self.store.counts(counter::VIDEO_LIKES, &ids),
                self.store.counts(counter::VIDEO_COMMENTS, &ids),
            )?;
            // every id has counts (zeros are values, not "no such video")
            Ok::<_, StoreError>(
                ids.iter()
                    .map(|&id| (id, (count(&likes, id), count(&comments, id))))
                    .collect::<HashMap<_, _>>(),
            )
        });
        let (counts, liked) = tokio::try_join!(counts, liked)?;
        Ok(video_ids
            .iter()
            .map(|&id| {
                let (like_count, comment_count) = counts.get(&id).copied().unwrap_or_default();
                VideoStats {
                    video_id: id,
                    like_count,
                    comment_count,
                    is_liked: liked.contains(&id),
                }
            })
            .collect())
    }

    /// Fold pending counter increments now (the background settler does it
    /// periodically; reads are exact either way).
    pub async fn settle(&self) -> Result<u64> {
        Ok(self.store.settle().await?)
    }
}

fn count(m: &HashMap<i64, i64>, id: i64) -> i64 {
    m.get(&id).copied().unwrap_or(0)
}

fn require_caller(caller: i64) -> Result<()> {
    if caller <= 0 {
        return Err(InteractionError::InvalidInput("caller_id is required"));
    }
    Ok(())
}

enum Either {
    Video(i64),
    Comment(i64),
}

/// Exactly one of a video id and a comment id (0 = absent).
fn one_of(video_id: Option<i64>, comment_id: Option<i64>) -> Result<Either> {
    match (video_id.filter(|&v| v != 0), comment_id.filter(|&c| c != 0)) {
        (Some(v), None) if v > 0 => Ok(Either::Video(v)),
        (None, Some(c)) if c > 0 => Ok(Either::Comment(c)),
        (None, None) => Err(InteractionError::InvalidInput(
            "video_id or comment_id is required",
        )),
        (Some(_), Some(_)) => Err(InteractionError::InvalidInput(
            "give either video_id or comment_id, not both",
        )),
        _ => Err(InteractionError::InvalidInput("ids must be positive")),
    }
}

/// Trimmed, non-empty, at most `CONTENT_MAX_CHARS` characters.
fn validate_content(content: &str) -> Result<&str> {
    let content = content.trim();
    if content.is_empty() {
        return Err(InteractionError::InvalidInput("content is required"));
    }
    if content.chars().count() > CONTENT_MAX_CHARS {
        return Err(InteractionError::InvalidInput(
            "content must be at most 1000 characters",
        ));
    }
    Ok(content)
}

/// A validated page: 0-based `page_num`, `page_size` > 0 capped at `PAGE_MAX`.
fn window(page_num: i64, page_size: i64) -> Result<Window> {
    Window::of_page(page_num, page_size, PAGE_MAX).map_err(InteractionError::InvalidInput)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_rules() {
        assert_eq!(validate_content("  hi \n").unwrap(), "hi");
        assert!(validate_content("").is_err());
        assert!(validate_content(" \t\n ").is_err());
        let max = "字".repeat(CONTENT_MAX_CHARS);
        assert_eq!(validate_content(&format!(" {max} ")).unwrap(), max);
        assert!(validate_content(&"a".repeat(CONTENT_MAX_CHARS + 1)).is_err());
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

    #[test]
    fn exactly_one_target() {
        assert!(matches!(one_of(Some(5), None), Ok(Either::Video(5))));
        assert!(matches!(one_of(Some(0), Some(7)), Ok(Either::Comment(7))));
        assert!(one_of(None, None).is_err());
        assert!(one_of(Some(0), Some(0)).is_err());
        assert!(one_of(Some(1), Some(2)).is_err());
        assert!(one_of(Some(-1), None).is_err());
    }

    #[test]
    fn codes() {
        let code = |e: InteractionError| Error::from(e).code;
        assert_eq!(code(InteractionError::InvalidInput("x")), Code::Param);
        assert_eq!(code(InteractionError::CommentNotFound), Code::NotFound);
        assert_eq!(code(InteractionError::NotAuthor), Code::Forbidden);
        assert_eq!(code(InteractionError::AlreadyLiked), Code::Duplicate);
        assert_eq!(code(InteractionError::NotLiked), Code::Duplicate);
    }
}
