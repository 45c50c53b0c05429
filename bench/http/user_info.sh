#!/usr/bin/env bash
# Load figure for GET /user/info on a release build of `fanone standalone`.
#   bench/http/user_info.sh [DURATION] [CONNECTIONS]
# Needs wrk (apt install wrk). Prints wrk's report for two variants:
#   own info by token (JWT verify + Thrift call + SQLite read) and info by user_id.
set -euo pipefail
cd "$(dirname "$0")/../.."
duration=${1:-20s}
conns=${2:-64}

cargo build --release --quiet
data=$(mktemp -d)
out=$(mktemp)
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data" "$out"' EXIT
FANONE__DATA_DIR=$data FANONE__GATEWAY__ADDR=127.0.0.1:0 FANONE__SERVICES__USER__ADDR=127.0.0.1:0 \
  FANONE__TELEMETRY__LOG=warn target/release/fanone standalone >"$out" &
pid=$!
for _ in $(seq 1 100); do grep -q FANONE_READY "$out" && break; sleep 0.1; done
gw=$(grep -o 'gateway=[^ ]*' "$out" | cut -d= -f2)

curl -sf -X POST "$gw/user/register" -d 'username=bench&password=secret12' >/dev/null
token=$(curl -sf -D - -o /dev/null -X POST "$gw/user/login" -d 'username=bench&password=secret12' \
  | tr -d '\r' | awk -F': ' 'tolower($1)=="access-token"{print $2}')
uid=$(curl -sf "$gw/user/info" -H "Access-Token: $token" | sed 's/.*"id":"\([0-9]*\)".*/\1/')

echo "# $(date -u +%FT%TZ) $(nproc) cores, wrk -t2 -c$conns -d$duration, release build"
echo "## GET /user/info with Access-Token"
wrk -t2 -c"$conns" -d"$duration" --latency -H "Access-Token: $token" "$gw/user/info"
echo "## GET /user/info?user_id=$uid (no token)"
wrk -t2 -c"$conns" -d"$duration" --latency "$gw/user/info?user_id=$uid"
