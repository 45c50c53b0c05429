#!/usr/bin/env bash
# Sharding before/after in cluster mode, from one command: the real cluster of
# scripts/cluster.sh (2 replicas of every service, 2 gateways, etcd) on MariaDB, Redis
# and Milvus Lite (scripts/stack.sh), the same release binary, with the growing tables
# of interaction, social and chat unsharded (1x1) and split over 2 databases x 2 tables
# (2x2; both databases on the one local MariaDB server). Each mode starts on empty
# databases and is seeded the same way (an author with 200 videos, CONNS users).
# Routes, driven through both gateways at once (wrk, CONNS/2 connections each):
#   like_action     POST /like/action, like/unlike in turn (every request a change)
#   comment_publish POST /comment/publish
#   comment_list    GET /comment/list of one video (one slot)
#   like_list       GET /like/list of a user who liked 200 videos (spans every slot)
#   bench/http/shards.sh [DURATION] [CONNS] [ROUNDS]
# Output: build/bench/shards.csv (mode,round,route,rps,p99_ms,errors) and the chart
# build/bench/shards.png; FANONE_BIN picks the binary (bench/http/compare.sh sets it,
# for before/after in cluster mode), FANONE_SHARDS_MODES the modes (default "1x1 2x2")
# and FANONE_SHARDS_ROUTES the routes (default: all four, in the order above).
set -euo pipefail
duration=${1:-10s}
conns=${2:-64}
rounds=${3:-1}
modes=${FANONE_SHARDS_MODES:-1x1 2x2}
routes=" ${FANONE_SHARDS_ROUTES:-like_action comment_publish comment_list like_list} "
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FANONE_BENCH_NO_START=1 source "$here/lib.sh"
# shellcheck source=../cluster_lib.sh
source "$here/../cluster_lib.sh"
trap 'bench_exit; cluster_cleanup' EXIT
outdir=build/bench
mkdir -p "$outdir"
csv=$outdir/shards.csv
echo "mode,round,route,rps,p99_ms,errors" >"$csv"
gw=${gws[0]}
read -r host port < <(hp=${FANONE_STACK_MYSQL_URL#*@}; hp=${hp%%/*}; echo "${hp%:*} ${hp#*:}")

# wrk on both gateways at once with script $2 and path $3; appends a CSV row
run() {
  local name=$1 script=$2 path=$3 i rps=0 p99=0 errs=0 r p e s
  [[ $routes == *" $name "* ]] || return 0
  wait_quiet
  for i in 0 1; do
    # a script per gateway ($script.0, $script.1) when it writes: disjoint users
    s=$script; [ -f "$script.$i" ] && s=$script.$i
    wrk -t1 -c$((conns / 2)) -d"$duration" --latency -s "$s" "${gws[$i]}$path" >"$work/wrk$i.txt" &
  done
  wait
  for i in 0 1; do
    r=$(awk '/^Requests\/sec/{print $2}' "$work/wrk$i.txt")
    p=$(awk '$1=="99%"{v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v*=1000}; print v}' "$work/wrk$i.txt")
    e=$(awk '/other answers:/{print $NF}' "$work/wrk$i.txt")
    e=$((${e:-0} + $(awk '/Non-2xx|Socket errors/{n++} END{print n+0}' "$work/wrk$i.txt")))
    rps=$(awk -v a="$rps" -v b="$r" 'BEGIN{printf "%.0f", a + b}')
    p99=$(awk -v a="$p99" -v b="$p" 'BEGIN{print (b > a) ? b : a}')
    errs=$((errs + e))
  done
  echo "$mode,$round,$name,$rps,$p99,$errs" >>"$csv"
  printf '  %-16s %8s req/s  p99 %8s ms  not-ok %s\n' "$name" "$rps" "$p99" "$errs"
}

fresh_databases() {
  local s
  for s in user video interaction social chat image events interaction_1 social_1 chat_1; do
    mariadb -h"$host" -P"$port" -uroot -e "DROP DATABASE IF EXISTS fanone_$s"
  done
  redis-cli -u "$FANONE_STACK_REDIS_URL" flushall >/dev/null
}

echo "# $(date -u +%FT%TZ) $(nproc) cores, release build, cluster (2 replicas, 2 gateways, etcd, MariaDB, Redis), wrk 2x$((conns / 2)) connections, $duration per route"
for round in $(seq 1 "$rounds"); do
  for mode in $modes; do
    fresh_databases
    FANONE_CLUSTER_SHARDS=$mode scripts/cluster.sh up etcd >/dev/null
    echo "== growing tables $mode, round $round"
    like_setup "$conns" # author + 200 videos + CONNS users; writes $lua (likes)
    cp "$lua" "$work/like.lua"
    sed -e 's|"/like/action"|"/comment/publish"|' \
        -e 's|"video_id=" .. vid .. "&action_type=" .. action|"video_id=" .. vid .. "\&content=load+test+comment+" .. n|' \
        "$work/like.lua" >"$work/comment.lua"
    grep -q '/comment/publish' "$work/comment.lua" || { echo "bench: no comment script" >&2; exit 1; }
    # each gateway's wrk drives half of the users (odd / even), so the two never
    # race on one user's like of one video
    for f in like comment; do
      for part in 0 1; do
        sed "s/^for t in string.gmatch(\(.*\)) do tokens\[#tokens + 1\] = t end$/local k = 0\nfor t in string.gmatch(\1) do k = k + 1; if k % 2 == $part then tokens[#tokens + 1] = t end end/" \
          "$work/$f.lua" >"$work/$f.lua.$part"
        grep -q "k % 2 == $part" "$work/$f.lua.$part" || { echo "bench: could not split $f.lua" >&2; exit 1; }
      done
    done
    # a fan who liked every video, for the list that spans slots
    fan=$(login fan)
    vids=$(sed -n 's/.*string.gmatch("\([0-9 ]*\)", "%d+").*/\1/p' "$work/like.lua")
    for v in $vids; do
      curl -sf -X POST "$gw/like/action" -H "Access-Token: $fan" -d "video_id=$v&action_type=1" >/dev/null
    done
    fan_id=$(curl -sf "$gw/user/info" -H "Access-Token: $fan" | sed 's/.*"id":"\([0-9]*\)".*/\1/')
    first=${vids%% *}
    for i in $(seq 1 20); do
      curl -sf -X POST "$gw/comment/publish" -H "Access-Token: $fan" -d "video_id=$first&content=c$i" >/dev/null
    done
    cat >"$work/get.lua" <<'LUA'
local threads = {}
function setup(thread) table.insert(threads, thread) end
other = 0
response = function(status, headers, body)
  if not string.find(body, '"code":10000', 1, true) then other = other + 1 end
end
function done(summary, latency, requests)
  local b = 0
  for _, t in ipairs(threads) do b = b + t:get("other") end
  io.write(string.format("other answers: %d\n", b))
end
LUA
    expect_ok "$gw/like/list?user_id=$fan_id&page_num=0&page_size=20"
    expect_ok "$gw/comment/list?video_id=$first&page_num=0&page_size=20"
    run like_action "$work/like.lua" ""
    run comment_publish "$work/comment.lua" ""
    run comment_list "$work/get.lua" "/comment/list?video_id=$first&page_num=0&page_size=20"
    run like_list "$work/get.lua" "/like/list?user_id=$fan_id&page_num=0&page_size=20"
    scripts/cluster.sh down >/dev/null
  done
done
py=$(scripts/matplotlib.sh install)
"$py" bench/http/plot_modes.py "$csv" "$outdir/shards.png" "Growing tables unsharded (1x1) vs 2 databases x 2 tables (2x2), cluster mode"
echo "csv: $csv  chart: $outdir/shards.png"
