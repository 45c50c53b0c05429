#!/usr/bin/env bash
# Load figure for GET /user/info (release `fanone standalone`).
#   bench/http/user_info.sh [DURATION] [CONNECTIONS]
# Own info by token (JWT verify + Thrift call + SQLite read) and info by user_id.
source "$(dirname "$0")/lib.sh"
duration=${1:-20s}
conns=${2:-64}
token=$(login bench)
uid=$(curl -sf "$gw/user/info" -H "Access-Token: $token" | sed 's/.*"id":"\([0-9]*\)".*/\1/')
expect_ok "$gw/user/info" -H "Access-Token: $token"
expect_ok "$gw/user/info?user_id=$uid"
header "-t2 -c$conns -d$duration"
echo "## GET /user/info with Access-Token"
wrk -t2 -c"$conns" -d"$duration" --latency -H "Access-Token: $token" "$gw/user/info"
echo "## GET /user/info?user_id=<id> (no token)"
wrk -t2 -c"$conns" -d"$duration" --latency "$gw/user/info?user_id=$uid"
