// Chat domain: private messages, history, unread (offline) delivery.
// The WebSocket hub lives in the gateway; this service stores and reads messages.
include "base.thrift"

namespace rs chat
namespace go chat

struct SendRequest {
    1: required i64 caller_id,
    2: required i64 to_user_id,
    3: required string content,
}
struct SendResponse {
    1: required base.Message message,
}

struct HistoryRequest {
    1: required i64 caller_id,
    2: required i64 peer_id,
    3: required base.Page page,
}
struct HistoryResponse {
    1: required list<base.Message> messages,
    2: required i64 total,
}

// Unread messages sent to the caller (from `peer_id` when set); marks them read.
struct UnreadRequest {
    1: required i64 caller_id,
    2: optional i64 peer_id,
}
struct UnreadResponse {
    1: required list<base.Message> messages,
}

// Mark messages delivered live to the caller as read (only the caller's own inbox).
struct MarkReadRequest {
    1: required i64 caller_id,
    2: required list<i64> message_ids,
}
struct MarkReadResponse {}

service ChatService {
    SendResponse Send(1: SendRequest req) throws (1: base.BizError err),
    HistoryResponse History(1: HistoryRequest req) throws (1: base.BizError err),
    UnreadResponse Unread(1: UnreadRequest req) throws (1: base.BizError err),
    MarkReadResponse MarkRead(1: MarkReadRequest req) throws (1: base.BizError err),
}
