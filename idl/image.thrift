// Image domain: stored images and their feature vectors for reverse image search.
include "base.thrift"

namespace rs image
namespace go image

enum ImageKind {
    AVATAR = 1,
    COVER = 2,
    UPLOADED = 3,
}

// Idempotent: indexing the same url twice keeps one vector. A removed url (event
// image.removed) is never indexed again: not found (10007).
struct IndexImageRequest {
    1: required string url,
    2: required ImageKind kind,
    3: required i64 owner_id,
}
struct IndexImageResponse {
    1: required i64 image_id,
}

struct SearchImageRequest {
    1: required binary data,
    2: required i32 top_k,
}
// One distinct picture: images with the same bytes share one hit, answered by the
// newest live one (`image_id`, `url`).
struct ImageHit {
    1: required i64 image_id,
    2: required string url,
    3: required double score,
    // every live URL holding the same bytes, newest first (`url` first)
    4: optional list<string> urls,
}
struct SearchImageResponse {
    // best first, each picture once; empty when nothing is indexed
    1: required list<ImageHit> hits,
}

service ImageService {
    IndexImageResponse IndexImage(1: IndexImageRequest req) throws (1: base.BizError err),
    SearchImageResponse SearchImage(1: SearchImageRequest req) throws (1: base.BizError err),
}
