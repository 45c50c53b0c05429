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
