// Shared types of every FanOne service.
//
// Conventions (all services):
// - ids are i64 snowflakes; the gateway renders them as decimal strings.
// - times are i64 Unix milliseconds; the gateway renders them per the contract.
// - every request that acts for a user carries `caller_id` explicitly: identity is
//   checked once, at the gateway, and passed down (0 = anonymous).
// - business failures are thrown as `BizError` with a code from pkg/errno
//   (CONTRACT.md §3); transport failures stay transport errors.
namespace rs base
namespace go base

exception BizError {
    1: required i32 code,
    2: required string msg,
    // with code 10011 (too many attempts): seconds until a new attempt is taken
    3: optional i64 retry_after_secs,
}

// A page request, already normalised by the gateway: 0-based page_num, page_size > 0.
struct Page {
    1: required i64 page_num,
    2: required i64 page_size,
}

struct User {
    1: required i64 id,
    2: required string username,
    3: required string avatar_url,
    4: required i64 created_at,
    5: required i64 updated_at,
    6: optional i64 deleted_at,
    7: required bool mfa_enabled,
}

struct Video {
    1: required i64 id,
    2: required i64 user_id,
    3: required string video_url,
    4: required string cover_url,
    5: required string title,
    6: required string description,
    7: required i64 visit_count,
    8: required i64 created_at,
    9: required i64 updated_at,
    10: optional i64 deleted_at,
}

// Counters of one video owned by the interaction service.
struct VideoStats {
    1: required i64 video_id,
    2: required i64 like_count,
    3: required i64 comment_count,
    // whether the caller of the batch call liked the video
    4: required bool is_liked,
}

struct Comment {
    1: required i64 id,
    2: required i64 user_id,
    3: required i64 video_id,
    // 0 for a top-level comment
    4: required i64 parent_id,
    5: required i64 like_count,
    6: required i64 child_count,
    7: required string content,
    8: required i64 created_at,
    9: required i64 updated_at,
    10: optional i64 deleted_at,
}

struct Message {
    1: required i64 id,
    2: required i64 from_user_id,
    3: required i64 to_user_id,
    4: required string content,
    5: required i64 created_at,
    6: required bool read,
}
