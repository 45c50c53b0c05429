#!/usr/bin/env bash
# The read cache in cluster mode, before/after from one command: the real cluster of
# scripts/cluster.sh (2 replicas of every service, 2 gateways, etcd) on MariaDB, Redis
# and Milvus Lite (scripts/stack.sh), the same release binary and the same seeded databases,
# with the cache off (cache.enabled=false) and on, alternating ROUNDS times. Each
# route is driven through both gateways at once (wrk, CONNS/2 connections each); the
# figures are their sum (req/s) and the worse p99.
#   bench/http/cache.sh [DURATION] [CONNS] [ROUNDS]
# Output: build/bench/cache.csv (mode,round,route,rps,p99_ms,errors) and the chart
# build/bench/cache.png (bench/http/plot_modes.py); FANONE_BIN picks the binary.
set -euo pipefail
duration=${1:-10s}
conns=${2:-64}
rounds=${3:-2}
command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk" >&2; exit 1; }
# shellcheck source=../cluster_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../cluster_lib.sh"
out=build/bench
mkdir -p "$out"
csv=$out/cache.csv
echo "mode,round,route,rps,p99_ms,errors" >"$csv"

# counts answers that are not code 10000 (wrk counts every HTTP 200 as a success)
lua=$work/count.lua
cat >"$lua" <<'LUA'
local threads = {}
function setup(thread) table.insert(threads, thread) end
other = 0
response = function(status, headers, body)
  if not string.find(body, '"code":10000', 1, true) then other = other + 1 end
end
function done(summary, latency, requests)
  local b = 0
  for _, t in ipairs(threads) do b = b + t:get("other") end
  io.write(string.format("not-ok answers: %d\n", b))
end
LUA

login() { # gateway username -> access token
  curl -sf -X POST "$1/user/register" -d "username=$2&password=secret12" >/dev/null || true
  curl -sf -D - -o /dev/null -X POST "$1/user/login" -d "username=$2&password=secret12" \
    | tr -d '\r' | awk -F': ' 'tolower($1)=="access-token"{print $2}'
}

seed() { # an author with 200 videos, 50 likes and 20 comments spread over them
  local gw=${gws[0]} token f i ids
  token=$(login "$gw" author)
  f=$work/v.mp4
  printf '\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2mp41' >"$f"
  head -c 4096 /dev/zero >>"$f"
  for i in $(seq 1 200); do
    curl -sf -X POST "$gw/video/publish" -H "Access-Token: $token" \
      -F "data=@$f;filename=v.mp4" -F "title=bench video $i" -F "description=cache bench" >/dev/null
  done
  author=$(curl -sf "$gw/user/info" -H "Access-Token: $token" | sed 's/.*"id":"\([0-9]*\)".*/\1/')
  ids=$(curl -sf "$gw/video/list?user_id=$author&page_size=50&page_num=0" | grep -o '"id":"[0-9]*","user_id"' | cut -d'"' -f4)
  local fan
  fan=$(login "$gw" fan)
  for i in $ids; do
    curl -sf -X POST "$gw/like/action" -H "Access-Token: $fan" -d "video_id=$i&action_type=1" >/dev/null
  done
  for i in $(echo "$ids" | head -20); do
    curl -sf -X POST "$gw/comment/publish" -H "Access-Token: $fan" -d "video_id=$i&content=nice" >/dev/null
  done
  echo "$author" >"$work/author"
}

# run ROUTE-NAME PATH: wrk on both gateways at once; appends a CSV row
run() {
  local name=$1 path=$2 i rps=0 p99=0 errs=0 r p e
  for i in 0 1; do
    wrk -t1 -c$((conns / 2)) -d"$duration" --latency -s "$lua" "${gws[$i]}$path" >"$work/wrk$i.txt" &
  done
  wait
  for i in 0 1; do
    r=$(awk '/^Requests\/sec/{print $2}' "$work/wrk$i.txt")
    p=$(awk '$1=="99%"{v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v*=1000}; print v}' "$work/wrk$i.txt")
    e=$(awk '/^not-ok answers/{print $3}' "$work/wrk$i.txt")
    e=$((e + $(awk '/Non-2xx|Socket errors/{n++} END{print n+0}' "$work/wrk$i.txt")))
    rps=$(awk -v a="$rps" -v b="$r" 'BEGIN{printf "%.0f", a + b}')
    p99=$(awk -v a="$p99" -v b="$p" 'BEGIN{print (b > a) ? b : a}')
    errs=$((errs + e))
  done
  echo "$mode,$round,$name,$rps,$p99,$errs" >>"$csv"
  printf '  %-14s %8s req/s  p99 %8s ms  not-ok %s\n' "$name" "$rps" "$p99" "$errs"
}

echo "# $(date -u +%FT%TZ) $(nproc) cores, release build, cluster (2 replicas, 2 gateways, etcd, MariaDB, Redis), wrk 2x$((conns / 2)) connections, $duration per route"
seeded=0
for round in $(seq 1 "$rounds"); do
  for mode in off on; do
    redis-cli -u "$FANONE_STACK_REDIS_URL" flushall >/dev/null
    if [ "$mode" = on ]; then enabled=true; else enabled=false; fi
    FANONE__CACHE__ENABLED=$enabled scripts/cluster.sh up etcd >/dev/null
    if [ "$seeded" = 0 ]; then seed; seeded=1; fi
    author=$(cat "$work/author")
    echo "== cache $mode, round $round"
    for path in "/user/info?user_id=$author" "/video/list?user_id=$author&page_num=0&page_size=20" \
                "/video/popular?page_num=0&page_size=20" "/video/feed"; do
      curl -sf "${gws[0]}$path" | grep -q '"code":10000' || { echo "bench: $path failed" >&2; exit 1; }
    done
    run user_info "/user/info?user_id=$author"
    run video_list "/video/list?user_id=$author&page_num=0&page_size=20"
    run video_popular "/video/popular?page_num=0&page_size=20"
    run video_feed "/video/feed"
    scripts/cluster.sh down >/dev/null
  done
done
py=$(scripts/matplotlib.sh install)
"$py" bench/http/plot_modes.py "$csv" "$out/cache.png" "Read cache in cluster mode (off vs on)"
echo "csv: $csv  chart: $out/cache.png"
