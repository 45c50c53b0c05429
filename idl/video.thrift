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

// Extension (DELETE /video/delete): soft delete of one's own video; it leaves every
// list, the feed, popular, search and MGetVideos. Unknown: 10007; another user's:
// 10008. The author deleting it again gets the video with `already_deleted`, so a
// gateway can announce its cover's removal again (the gateway then answers 10007).
struct DeleteVideoRequest {
    1: required i64 caller_id,
    2: required i64 video_id,
}
struct DeleteVideoResponse {
    // the deleted video (deleted_at set)
    1: required base.Video video,
    2: required bool already_deleted,
}

struct VisitRequest {
    1: required i64 video_id,
}
struct VisitResponse {
    1: required i64 visit_count,
}

// Chunked, resumable uploads (POST /video/publish/start, /uploading, /complete,
// /cancel, GET /video/publish/status). The state lives here, so any gateway takes
// the next chunk; the gateway stores the parts in the object store.
struct UploadChunk {
    // 1-based
    1: required i32 number,
    2: required i64 size,
    // 32 lower-case hex digits
    3: required string md5,
}

struct Upload {
    1: required i64 upload_id,
    2: required i64 user_id,
    3: required string title,
    4: required string description,
    5: required i64 total_size,
    6: required i32 chunk_count,
    7: required string file_md5,
    // 1 open, 2 completed, 3 cancelled
    8: required i16 state,
    9: required i64 created_at,
    // Unix ms: no new chunk by then and the upload expires (its parts are removed)
    10: required i64 expires_at,
    // the chunks received so far, by number
    11: required list<UploadChunk> chunks,
    // once completed
    12: optional i64 video_id,
}

struct StartUploadRequest {
    1: required i64 caller_id,
    2: required string title,
    3: required string description,
    4: required i64 total_size,
    5: required i32 chunk_count,
    6: required string file_md5,
}
struct StartUploadResponse {
    1: required Upload upload,
}

// Only the uploader may read, add to, complete or cancel an upload (else 10008).
struct GetUploadRequest {
    1: required i64 caller_id,
    2: required i64 upload_id,
}
struct GetUploadResponse {
    1: required Upload upload,
}

// A chunk the gateway has stored: recorded once; the same chunk again is accepted
// without change, other content under a received number is refused (10009).
struct RecordChunkRequest {
    1: required i64 caller_id,
    2: required i64 upload_id,
    3: required UploadChunk chunk,
}
struct RecordChunkResponse {
    // true when this number was already received with the same content
    1: required bool already_received,
    2: required i32 received_count,
}

// The gateway assembled and checked the file and stored the video and its cover:
// publish the video and close the upload, in one transaction.
struct CompleteUploadRequest {
    1: required i64 caller_id,
    2: required i64 upload_id,
    3: required i64 video_id,
    4: required string video_url,
    5: required string cover_url,
}
struct CompleteUploadResponse {
    1: required base.Video video,
}

struct CancelUploadRequest {
    1: required i64 caller_id,
    2: required i64 upload_id,
}
struct CancelUploadResponse {}

// Uploads past their expiry (open ones abandoned, closed ones done): the gateway
// removes their parts, then purges them.
struct ExpiredUploadsRequest {
    1: required i32 limit,
}
struct ExpiredUploadsResponse {
    1: required list<i64> upload_ids,
}
struct PurgeUploadsRequest {
    1: required list<i64> upload_ids,
}
struct PurgeUploadsResponse {
    1: required i64 purged,
}

service VideoService {
    PublishResponse Publish(1: PublishRequest req) throws (1: base.BizError err),
    ListByUserResponse ListByUser(1: ListByUserRequest req) throws (1: base.BizError err),
    FeedResponse Feed(1: FeedRequest req) throws (1: base.BizError err),
    PopularResponse Popular(1: PopularRequest req) throws (1: base.BizError err),
    SearchResponse Search(1: SearchRequest req) throws (1: base.BizError err),
    MGetVideosResponse MGetVideos(1: MGetVideosRequest req) throws (1: base.BizError err),
    VisitResponse Visit(1: VisitRequest req) throws (1: base.BizError err),
    DeleteVideoResponse DeleteVideo(1: DeleteVideoRequest req) throws (1: base.BizError err),
    StartUploadResponse StartUpload(1: StartUploadRequest req) throws (1: base.BizError err),
    GetUploadResponse GetUpload(1: GetUploadRequest req) throws (1: base.BizError err),
    RecordChunkResponse RecordChunk(1: RecordChunkRequest req) throws (1: base.BizError err),
    CompleteUploadResponse CompleteUpload(1: CompleteUploadRequest req) throws (1: base.BizError err),
    CancelUploadResponse CancelUpload(1: CancelUploadRequest req) throws (1: base.BizError err),
    ExpiredUploadsResponse ExpiredUploads(1: ExpiredUploadsRequest req) throws (1: base.BizError err),
    PurgeUploadsResponse PurgeUploads(1: PurgeUploadsRequest req) throws (1: base.BizError err),
}
