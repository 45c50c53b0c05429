// Interaction domain: likes (videos and comments) and comments with replies.
include "base.thrift"

namespace rs interaction
namespace go interaction

enum TargetKind {
    VIDEO = 1,
    COMMENT = 2,
}

enum LikeActionType {
    LIKE = 1,
    CANCEL = 2,
}

struct LikeActionRequest {
    1: required i64 caller_id,
    2: required TargetKind kind,
    3: required i64 target_id,
    4: required LikeActionType action,
}
struct LikeActionResponse {}

// Many likes in one call (the gateway sends the likes of concurrent requests
// together). Each item is done and answered as LikeAction would do it alone; the
// items are independent, as concurrent LikeAction calls are. At most 500 items
// (LIKE_BATCH_MAX); more fail the whole call with 10001; none get an empty answer.
struct LikeActionsRequest {
    1: required list<LikeActionRequest> items,
}
struct LikeActionsResponse {
    // one per item, in the items' order
    1: required list<LikeActionResult> results,
}
// What LikeAction would have answered: no error, or the BizError it would throw.
struct LikeActionResult {
    1: optional base.BizError err,
}

struct LikeListRequest {
    1: required i64 user_id,
    2: required base.Page page,
}
struct LikeListResponse {
    // newest like first; the gateway resolves them through VideoService.MGetVideos
    1: required list<i64> video_ids,
    2: required i64 total,
}

struct CommentPublishRequest {
    1: required i64 caller_id,
    // exactly one of video_id / parent_id; a reply inherits its parent's video
    2: optional i64 video_id,
    3: optional i64 parent_id,
    4: required string content,
}
struct CommentPublishResponse {
    1: required base.Comment comment,
}

struct CommentListRequest {
    // top-level comments of a video, or direct replies of a comment
    1: optional i64 video_id,
    2: optional i64 parent_id,
    3: required base.Page page,
}
struct CommentListResponse {
    1: required list<base.Comment> comments,
    2: required i64 total,
}

struct CommentDeleteRequest {
    1: required i64 caller_id,
    2: required i64 comment_id,
}
struct CommentDeleteResponse {}

// Counts and the caller's like flag for many videos in one call.
struct MGetVideoStatsRequest {
    1: required i64 caller_id,
    2: required list<i64> video_ids,
}
struct MGetVideoStatsResponse {
    1: required list<base.VideoStats> stats,
}

service InteractionService {
    LikeActionResponse LikeAction(1: LikeActionRequest req) throws (1: base.BizError err),
    LikeActionsResponse LikeActions(1: LikeActionsRequest req) throws (1: base.BizError err),
    LikeListResponse LikeList(1: LikeListRequest req) throws (1: base.BizError err),
    CommentPublishResponse CommentPublish(1: CommentPublishRequest req) throws (1: base.BizError err),
    CommentListResponse CommentList(1: CommentListRequest req) throws (1: base.BizError err),
    CommentDeleteResponse CommentDelete(1: CommentDeleteRequest req) throws (1: base.BizError err),
    MGetVideoStatsResponse MGetVideoStats(1: MGetVideoStatsRequest req) throws (1: base.BizError err),
}
