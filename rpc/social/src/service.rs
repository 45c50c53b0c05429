//! The rules of the social domain, over the `SocialStore` trait.
//!
//! User existence is not checked here: services never call each other, so the
//! gateway asks the user service before acting on a target.

use fanone_errno::{Code, Error};
use fanone_id::now_ms;

use crate::store::{SocialStore, StoreError, counter_kind};

/// Largest page a caller may ask for (the gateway caps lower).
pub const PAGE_SIZE_MAX: i64 = 1000;
/// Largest page number (keeps `page_num * page_size` far from overflow).
pub const PAGE_NUM_MAX: i64 = 1_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Follow,
    Unfollow,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    Following,
    Followers,
    Friends,
}

#[derive(Debug, thiserror::Error)]
pub enum SocialError {
    #[error("{0}")]
    InvalidInput(&'static str),
    #[error("cannot follow yourself")]
    FollowSelf,
    #[error("already following this user")]
    AlreadyFollowing,
    #[error("not following this user")]
    NotFollowing,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The one mapping of social errors to contract codes.
impl From<SocialError> for Error {
    fn from(e: SocialError) -> Self {
        match e {
            SocialError::InvalidInput(msg) => Error::param(msg),
            SocialError::FollowSelf | SocialError::AlreadyFollowing | SocialError::NotFollowing => {
                Error::new(Code::Duplicate, e.to_string())
            }
            SocialError::Store(_) => Error::internal(e),
        }
    }
}

pub type Result<T> = std::result::Result<T, SocialError>;

pub struct SocialService<S> {
    store: S,
}

impl<S: SocialStore> SocialService<S> {
    pub fn new(store: S) -> Self {
        Self { store }
    }

    pub async fn relation_action(&self, caller: i64, target: i64, action: Action) -> Result<()> {
        if caller <= 0 || target <= 0 {
            return Err(SocialError::InvalidInput("user ids must be positive"));
        }
        match action {
            Action::Follow if caller == target => Err(SocialError::FollowSelf),
            Action::Follow => match self.store.follow(caller, target, now_ms()).await {
                Ok(()) => {
                    tracing::debug!(caller, target, "followed");
                    Ok(())
                }
                Err(StoreError::Duplicate) => Err(SocialError::AlreadyFollowing),
                Err(e) => Err(e.into()),
            },
            Action::Unfollow => match self.store.unfollow(caller, target).await {
                Ok(()) => {
                    tracing::debug!(caller, target, "unfollowed");
                    Ok(())
                }
                Err(StoreError::Missing) => Err(SocialError::NotFollowing),
                Err(e) => Err(e.into()),
            },
        }
    }

    /// One page of a user's relations (newest first) and the total count.
    pub async fn list(
        &self,
        user: i64,
        kind: ListKind,
        page_num: i64,
        page_size: i64,
    ) -> Result<(Vec<i64>, i64)> {
        let (offset, limit) = page(page_num, page_size)?;
        if user <= 0 {
            return Ok((Vec::new(), 0));
        }
        let (ids, total) = match kind {
            ListKind::Following => (
                self.store.following(user, offset, limit).await?,
                self.store.count(counter_kind::FOLLOWING, user).await?,
            ),
            ListKind::Followers => (
                self.store.followers(user, offset, limit).await?,
                self.store.count(counter_kind::FOLLOWERS, user).await?,
            ),
            ListKind::Friends => (
                self.store.friends(user, offset, limit).await?,
                self.store.count_friends(user).await?,
            ),
        };
        Ok((ids, total))
    }

    /// Whether `a` and `b` follow each other (never true for `a == b`).
    pub async fn is_friend(&self, a: i64, b: i64) -> Result<bool> {
        if a <= 0 || b <= 0 || a == b {
            return Ok(false);
        }
        Ok(self.store.mutual(a, b).await?)
    }
}

/// Offset and limit of a 0-based page.
fn page(page_num: i64, page_size: i64) -> Result<(u64, u64)> {
    if !(0..=PAGE_NUM_MAX).contains(&page_num) {
        return Err(SocialError::InvalidInput("page_num out of range"));
    }
    if !(1..=PAGE_SIZE_MAX).contains(&page_size) {
        return Err(SocialError::InvalidInput("page_size out of range"));
    }
    Ok(((page_num * page_size) as u64, page_size as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages() {
        assert_eq!(page(0, 10).unwrap(), (0, 10));
        assert_eq!(page(3, 20).unwrap(), (60, 20));
        assert!(page(-1, 10).is_err());
        assert!(page(0, 0).is_err());
        assert!(page(0, PAGE_SIZE_MAX + 1).is_err());
        assert!(page(PAGE_NUM_MAX + 1, 10).is_err());
    }

    #[test]
    fn codes() {
        let code = |e: SocialError| Error::from(e).code;
        assert_eq!(code(SocialError::FollowSelf), Code::Duplicate);
        assert_eq!(code(SocialError::AlreadyFollowing), Code::Duplicate);
        assert_eq!(code(SocialError::NotFollowing), Code::Duplicate);
        assert_eq!(code(SocialError::InvalidInput("x")), Code::Param);
    }
}
