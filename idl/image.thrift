// Image domain: stored images and their feature vectors for reverse image search.
include "base.thrift"

namespace rs image
namespace go image

enum ImageKind {
    AVATAR = 1,
    COVER = 2,
    UPLOADED = 3,
}

// Idempotent: indexing the same url twice keeps one vector.
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
struct ImageHit {
    1: required i64 image_id,
    2: required string url,
    3: required double score,
}
struct SearchImageResponse {
    // best first; empty when nothing is indexed
    1: required list<ImageHit> hits,
}

service ImageService {
    IndexImageResponse IndexImage(1: IndexImageRequest req) throws (1: base.BizError err),
    SearchImageResponse SearchImage(1: SearchImageRequest req) throws (1: base.BizError err),
}
