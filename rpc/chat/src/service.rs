//! The rules of the chat domain, over the `ChatStore` trait.
//!
//! Who may talk to whom (friends only) is decided by the gateway, which asks the
//! social service: services never call each other.

use fanone_errno::{Code, Error};
use fanone_id::{Snowflake, now_ms, timestamp_ms};

use crate::store::{ChatStore, MessageRecord, StoreError};

/// Longest message, in characters (after trimming).
pub const CONTENT_MAX_CHARS: usize = 2000;
/// Most unread messages handed out by one `Unread` call; the client asks again
/// while it gets full batches.
pub const UNREAD_BATCH: u64 = 200;
/// Most ids in one `MarkRead` call.
pub const MARK_READ_MAX: usize = 500;
/// Largest history page a caller may ask for (the gateway caps lower).
pub const PAGE_SIZE_MAX: i64 = 1000;
/// Largest page number (keeps `page_num * page_size` far from overflow).
pub const PAGE_NUM_MAX: i64 = 1_000_000;

#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error("{0}")]
    InvalidInput(&'static str),
    /// A message that cannot be sent (empty, too long, to oneself).
    #[error("{0}")]
    BadMessage(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The one mapping of chat errors to contract codes.
impl From<ChatError> for Error {
    fn from(e: ChatError) -> Self {
        match e {
            ChatError::InvalidInput(msg) => Error::param(msg),
            ChatError::BadMessage(msg) => Error::new(Code::ChatNotAllowed, msg),
            ChatError::Store(_) => Error::internal(e),
        }
    }
}

pub type Result<T> = std::result::Result<T, ChatError>;

pub struct ChatService<S> {
    store: S,
    ids: Snowflake,
}

impl<S: ChatStore> ChatService<S> {
    pub fn new(store: S, node_id: u16) -> Self {
        Self {
            store,
            ids: Snowflake::new(node_id),
        }
    }

    /// Store a message from `caller` to `to`; it is unread until delivered or fetched.
    pub async fn send(&self, caller: i64, to: i64, content: &str) -> Result<MessageRecord> {
        if caller <= 0 || to <= 0 {
            return Err(ChatError::InvalidInput("user ids must be positive"));
        }
        if caller == to {
            return Err(ChatError::BadMessage("cannot send a message to yourself"));
        }
        let content = content.trim();
        if content.is_empty() {
            return Err(ChatError::BadMessage("message content is empty"));
        }
        if content.chars().count() > CONTENT_MAX_CHARS {
            return Err(ChatError::BadMessage(
                "message content exceeds 2000 characters",
            ));
        }
        let id = self.ids.next_id();
        let msg = MessageRecord {
            id,
            from_user_id: caller,
            to_user_id: to,
            content: content.to_owned(),
            created_at: timestamp_ms(id),
            read_at: None,
        };
        self.store.insert(&msg).await?;
        Ok(msg)
    }

    /// One page of the conversation of `caller` and `peer`, newest first, and its size.
    pub async fn history(
        &self,
        caller: i64,
        peer: i64,
        page_num: i64,
        page_size: i64,
    ) -> Result<(Vec<MessageRecord>, i64)> {
        if !(0..=PAGE_NUM_MAX).contains(&page_num) {
            return Err(ChatError::InvalidInput("page_num out of range"));
        }
        if !(1..=PAGE_SIZE_MAX).contains(&page_size) {
            return Err(ChatError::InvalidInput("page_size out of range"));
        }
        if caller <= 0 || peer <= 0 {
            return Err(ChatError::InvalidInput("user ids must be positive"));
        }
        let offset = (page_num * page_size) as u64;
        let items = self
            .store
            .history(caller, peer, offset, page_size as u64)
            .await?;
        let total = self.store.count_between(caller, peer).await?;
        Ok((items, total))
    }

    /// Unread messages to `caller` (from `peer` when given), oldest first; they are
    /// marked read in the same transaction, so each is handed out once.
    pub async fn unread(&self, caller: i64, peer: Option<i64>) -> Result<Vec<MessageRecord>> {
        if caller <= 0 || peer.is_some_and(|p| p <= 0) {
            return Err(ChatError::InvalidInput("user ids must be positive"));
        }
        Ok(self
            .store
            .take_unread(caller, peer, UNREAD_BATCH, now_ms())
            .await?)
    }

    /// Mark messages read; only messages to `caller` are touched.
    pub async fn mark_read(&self, caller: i64, ids: &[i64]) -> Result<u64> {
        if ids.len() > MARK_READ_MAX {
            return Err(ChatError::InvalidInput("too many ids in one batch"));
        }
        if caller <= 0 {
            return Err(ChatError::InvalidInput("user ids must be positive"));
        }
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        Ok(self.store.mark_read(caller, &ids, now_ms()).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        let code = |e: ChatError| Error::from(e).code;
        assert_eq!(code(ChatError::BadMessage("x")), Code::ChatNotAllowed);
        assert_eq!(code(ChatError::InvalidInput("x")), Code::Param);
    }
}
