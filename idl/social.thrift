// Social domain: follow relations; friends are mutual follows.
include "base.thrift"

namespace rs social
namespace go social

enum RelationActionType {
    FOLLOW = 1,
    UNFOLLOW = 2,
}

struct RelationActionRequest {
    1: required i64 caller_id,
    2: required i64 to_user_id,
    3: required RelationActionType action,
}
struct RelationActionResponse {}

enum ListKind {
    FOLLOWING = 1,
    FOLLOWER = 2,
    FRIEND = 3,
}

struct ListRelationsRequest {
    1: required i64 user_id,
    2: required ListKind kind,
    3: required base.Page page,
}
struct ListRelationsResponse {
    // the gateway resolves them through UserService.MGetUsers
    1: required list<i64> user_ids,
    2: required i64 total,
}

struct IsFriendRequest {
    1: required i64 user_id,
    2: required i64 other_id,
}
struct IsFriendResponse {
    1: required bool is_friend,
}

service SocialService {
    RelationActionResponse RelationAction(1: RelationActionRequest req) throws (1: base.BizError err),
    ListRelationsResponse ListRelations(1: ListRelationsRequest req) throws (1: base.BizError err),
    IsFriendResponse IsFriend(1: IsFriendRequest req) throws (1: base.BizError err),
}
