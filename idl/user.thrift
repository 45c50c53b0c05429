// User domain: accounts, passwords, avatars, TOTP MFA.
include "base.thrift"

namespace rs user
namespace go user

struct RegisterRequest {
    1: required string username,
    2: required string password,
}
struct RegisterResponse {
    1: required i64 user_id,
}

struct LoginRequest {
    1: required string username,
    2: required string password,
    // TOTP code; required iff the user has bound MFA
    3: optional string code,
}
struct LoginResponse {
    1: required base.User user,
}

struct GetUserRequest {
    1: required i64 user_id,
}
struct GetUserResponse {
    1: required base.User user,
}

// Batch read for composition: unknown ids are skipped, order follows `user_ids`.
struct MGetUsersRequest {
    1: required list<i64> user_ids,
}
struct MGetUsersResponse {
    1: required list<base.User> users,
}

// Ids of users whose username contains `fragment` (for video search by uploader).
struct SearchUserIdsRequest {
    1: required string fragment,
    2: required i32 limit,
}
struct SearchUserIdsResponse {
    1: required list<i64> user_ids,
}

struct UpdateAvatarRequest {
    1: required i64 caller_id,
    2: required string avatar_url,
}
struct UpdateAvatarResponse {
    1: required base.User user,
    // the avatar it replaced, when there was one (the gateway takes it down)
    2: optional string previous_avatar_url,
}

struct MfaQrcodeRequest {
    1: required i64 caller_id,
}
struct MfaQrcodeResponse {
    1: required string secret,
    // data:image/png;base64,... of the otpauth:// URI
    2: required string qrcode,
}

struct MfaBindRequest {
    1: required i64 caller_id,
    2: required string secret,
    3: required string code,
    // Re-binding over a bound factor needs proof: a current code of the bound
    // factor, or the account password (both throttled like login).
    4: optional string current_code,
    5: optional string password,
}
struct MfaBindResponse {}

// Refresh-token sessions (families): one per login, rotated on refresh, revoked on
// logout or when an old refresh token is used again (reuse detection).
struct StartSessionRequest {
    1: required i64 user_id,
    // when the session's refresh tokens stop being valid (Unix ms)
    2: required i64 expires_at,
}
struct SessionResponse {
    1: required i64 session_id,
    // the generation the refresh token to hand out carries
    2: required i64 generation,
}

// Use a refresh token of (session_id, generation). `rotate` = move the session to a
// new generation (explicit refresh); otherwise only check it is live (silent refresh).
struct RefreshSessionRequest {
    1: required i64 user_id,
    2: required i64 session_id,
    3: required i64 generation,
    4: required bool rotate,
}

struct EndSessionRequest {
    1: required i64 user_id,
    2: required i64 session_id,
}
struct EndSessionResponse {}

service UserService {
    RegisterResponse Register(1: RegisterRequest req) throws (1: base.BizError err),
    LoginResponse Login(1: LoginRequest req) throws (1: base.BizError err),
    GetUserResponse GetUser(1: GetUserRequest req) throws (1: base.BizError err),
    MGetUsersResponse MGetUsers(1: MGetUsersRequest req) throws (1: base.BizError err),
    SearchUserIdsResponse SearchUserIds(1: SearchUserIdsRequest req) throws (1: base.BizError err),
    UpdateAvatarResponse UpdateAvatar(1: UpdateAvatarRequest req) throws (1: base.BizError err),
    MfaQrcodeResponse MfaQrcode(1: MfaQrcodeRequest req) throws (1: base.BizError err),
    MfaBindResponse MfaBind(1: MfaBindRequest req) throws (1: base.BizError err),
    SessionResponse StartSession(1: StartSessionRequest req) throws (1: base.BizError err),
    SessionResponse RefreshSession(1: RefreshSessionRequest req) throws (1: base.BizError err),
    EndSessionResponse EndSession(1: EndSessionRequest req) throws (1: base.BizError err),
}
