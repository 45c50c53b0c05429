//! JSON shapes of the contract (CONTRACT.md §1.7): string ids, `YYYY-MM-DD HH:MM:SS`
//! times in UTC+8, `deleted_at` = "" for live rows.

use chrono::{DateTime, FixedOffset};
use serde::Serialize;
use volo_gen::base;

/// China Standard Time, the contract's zone.
fn cst() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| FixedOffset::east_opt(0).expect("UTC"))
}

/// Unix milliseconds as `YYYY-MM-DD HH:MM:SS` in UTC+8.
pub fn format_time(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|t| {
            t.with_timezone(&cst())
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_default()
}

fn format_deleted(ms: Option<i64>) -> String {
    ms.map(format_time).unwrap_or_default()
}

#[derive(Debug, Serialize)]
pub struct UserView {
    pub id: String,
    pub username: String,
    pub avatar_url: String,
    pub created_at: String,
    pub updated_at: String,
    pub deleted_at: String,
}

impl From<base::User> for UserView {
    fn from(u: base::User) -> Self {
        Self {
            id: u.id.to_string(),
            username: u.username.to_string(),
            avatar_url: u.avatar_url.to_string(),
            created_at: format_time(u.created_at),
            updated_at: format_time(u.updated_at),
            deleted_at: format_deleted(u.deleted_at),
        }
    }
}

/// A video with its counters (CONTRACT.md §1.7, 12 fields).
#[derive(Debug, Serialize)]
pub struct VideoView {
    pub id: String,
    pub user_id: String,
    pub video_url: String,
    pub cover_url: String,
    pub title: String,
    pub description: String,
    pub visit_count: i64,
    pub like_count: i64,
    pub comment_count: i64,
    pub created_at: String,
    pub updated_at: String,
    pub deleted_at: String,
}

impl VideoView {
    /// `stats` = the interaction service's counters for this video, if any.
    pub fn new(v: base::Video, stats: Option<&base::VideoStats>) -> Self {
        Self {
            id: v.id.to_string(),
            user_id: v.user_id.to_string(),
            video_url: v.video_url.to_string(),
            cover_url: v.cover_url.to_string(),
            title: v.title.to_string(),
            description: v.description.to_string(),
            visit_count: v.visit_count,
            like_count: stats.map_or(0, |s| s.like_count),
            comment_count: stats.map_or(0, |s| s.comment_count),
            created_at: format_time(v.created_at),
            updated_at: format_time(v.updated_at),
            deleted_at: format_deleted(v.deleted_at),
        }
    }
}

/// Where a chunked upload stands (`/video/publish/start`, `/video/publish/status`):
/// what a client needs to resume it.
#[derive(Debug, Serialize)]
pub struct UploadView {
    pub upload_id: String,
    pub title: String,
    pub description: String,
    pub total_size: i64,
    pub chunk_count: i32,
    pub file_md5: String,
    /// `open`, `completed` or `cancelled`.
    pub state: &'static str,
    /// Numbers (1-based) of the chunks received, ascending.
    pub received: Vec<i32>,
    /// Numbers of the chunks still to send, ascending.
    pub missing: Vec<i32>,
    pub received_bytes: i64,
    /// The largest chunk the gateway takes.
    pub max_chunk_bytes: u64,
    /// The video, once completed; "" before.
    pub video_id: String,
    pub created_at: String,
    /// An open upload with no new chunk by then is removed.
    pub expires_at: String,
}

impl UploadView {
    pub fn new(u: volo_gen::video::Upload, max_chunk_bytes: u64) -> Self {
        let received: Vec<i32> = u.chunks.iter().map(|c| c.number).collect();
        let missing = (1..=u.chunk_count)
            .filter(|n| received.binary_search(n).is_err())
            .collect();
        Self {
            upload_id: u.upload_id.to_string(),
            title: u.title.to_string(),
            description: u.description.to_string(),
            total_size: u.total_size,
            chunk_count: u.chunk_count,
            file_md5: u.file_md5.to_string(),
            state: match u.state {
                1 => "open",
                2 => "completed",
                _ => "cancelled",
            },
            received_bytes: u.chunks.iter().map(|c| c.size).sum(),
            received,
            missing,
            max_chunk_bytes,
            video_id: u.video_id.map(|v| v.to_string()).unwrap_or_default(),
            created_at: format_time(u.created_at),
            expires_at: format_time(u.expires_at),
        }
    }
}

/// A comment (CONTRACT.md §1.7, 10 fields); `parent_id` is "0" at top level.
#[derive(Debug, Serialize)]
pub struct CommentView {
    pub id: String,
    pub user_id: String,
    pub video_id: String,
    pub parent_id: String,
    pub like_count: i64,
    pub child_count: i64,
    pub content: String,
    pub created_at: String,
    pub updated_at: String,
    pub deleted_at: String,
}

impl From<base::Comment> for CommentView {
    fn from(c: base::Comment) -> Self {
        Self {
            id: c.id.to_string(),
            user_id: c.user_id.to_string(),
            video_id: c.video_id.to_string(),
            parent_id: c.parent_id.to_string(),
            like_count: c.like_count,
            child_count: c.child_count,
            content: c.content.to_string(),
            created_at: format_time(c.created_at),
            updated_at: format_time(c.updated_at),
            deleted_at: format_deleted(c.deleted_at),
        }
    }
}

/// An entry of the following / follower / friends lists.
#[derive(Debug, Serialize)]
pub struct SocialUserView {
    pub id: String,
    pub username: String,
    pub avatar_url: String,
}

impl From<base::User> for SocialUserView {
    fn from(u: base::User) -> Self {
        Self {
            id: u.id.to_string(),
            username: u.username.to_string(),
            avatar_url: u.avatar_url.to_string(),
        }
    }
}

/// `data` of a list route: `items` always (never null), `total` on paged lists.
#[derive(Debug, Serialize)]
pub struct ListView<T: Serialize> {
    pub items: Vec<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
}

impl<T: Serialize> ListView<T> {
    pub fn paged(items: Vec<T>, total: i64) -> Self {
        Self {
            items,
            total: Some(total),
        }
    }

    pub fn items(items: Vec<T>) -> Self {
        Self { items, total: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc_plus_8() {
        assert_eq!(format_time(0), "1970-01-01 08:00:00");
        // 2024-07-28 00:00:00 UTC
        assert_eq!(format_time(1_722_124_800_000), "2024-07-28 08:00:00");
        assert_eq!(format_deleted(None), "");
    }
}
