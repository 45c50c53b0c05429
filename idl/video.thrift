// Video domain: published videos, feed, popularity ranking, search, visit counts.
include "base.thrift"

namespace rs video
namespace go video

struct PublishRequest {
    1: required i64 caller_id,
    2: required string title,
    3: required string description,
    // object keys already written by the gateway's streaming upload
    4: required string video_url,
    5: required string cover_url,
    // id chosen by the gateway so that object keys can carry it; generated if absent
    6: optional i64 video_id,
}
struct PublishResponse {
    1: required base.Video video,
}

struct ListByUserRequest {
    1: required i64 user_id,
    2: required base.Page page,
}
struct ListByUserResponse {
    1: required list<base.Video> videos,
    2: required i64 total,
}

struct FeedRequest {
    // Unix ms; when set, only videos created after it
    1: optional i64 latest_time,
    2: required base.Page page,
}
struct FeedResponse {
    1: required list<base.Video> videos,
}

struct PopularRequest {
    1: required base.Page page,
}
struct PopularResponse {
    1: required list<base.Video> videos,
    2: required i64 total,
}

// All given conditions are ANDed.
struct SearchRequest {
    1: required string keywords,
    2: optional i64 from_date,
    3: optional i64 to_date,
    // uploader filter resolved by the gateway (username substring -> ids)
    4: optional list<i64> user_ids,
    5: required base.Page page,
}
struct SearchResponse {
    1: required list<base.Video> videos,
    2: required i64 total,
}

// Batch read for composition: unknown ids are skipped, order follows `video_ids`.
struct MGetVideosRequest {
    1: required list<i64> video_ids,
}
struct MGetVideosResponse {
    1: required list<base.Video> videos,
}

struct VisitRequest {
    1: required i64 video_id,
}
struct VisitResponse {
    1: required i64 visit_count,
}

service VideoService {
    PublishResponse Publish(1: PublishRequest req) throws (1: base.BizError err),
    ListByUserResponse ListByUser(1: ListByUserRequest req) throws (1: base.BizError err),
    FeedResponse Feed(1: FeedRequest req) throws (1: base.BizError err),
    PopularResponse Popular(1: PopularRequest req) throws (1: base.BizError err),
    SearchResponse Search(1: SearchRequest req) throws (1: base.BizError err),
    MGetVideosResponse MGetVideos(1: MGetVideosRequest req) throws (1: base.BizError err),
    VisitResponse Visit(1: VisitRequest req) throws (1: base.BizError err),
}
