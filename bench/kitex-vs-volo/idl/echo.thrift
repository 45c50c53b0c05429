// The benchmark's service, served the same way by a Kitex server (Go) and a Volo
// server (Rust): an echo of a payload of a given size, and one realistic FanOne read,
// MGetUsers of 20 users (FanOne's own base.User) from memory.
include "../../../idl/base.thrift"

namespace go echo
namespace rs echo

struct EchoRequest {
    1: required string msg,
}
struct EchoResponse {
    1: required string msg,
}

struct MGetUsersRequest {
    1: required list<i64> user_ids,
}
struct MGetUsersResponse {
    1: required list<base.User> users,
}

service EchoService {
    EchoResponse Echo(1: EchoRequest req),
    MGetUsersResponse MGetUsers(1: MGetUsersRequest req),
}
