#!/usr/bin/env bash
# What the cluster client stack costs: the gateway and every service as separate
# release processes (SQLite), measured three ways in one run:
#   direct    Volo's plain client to the configured address (rpc.direct = true)
#   static    discovery (static registry) + round robin + retry + breaker + credential
#   etcd      the same through a real etcd (registered, watched)
# on GET /user/info (one RPC) and GET /video/list (20 items: two batch RPCs).
#   bench/http/rpc_overhead.sh [DURATION] [CONNECTIONS]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
duration=${1:-10s}
conns=${2:-64}
command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk" >&2; exit 1; }
cargo build --release --quiet --bin fanone
# shellcheck source=../../scripts/ports.sh
. scripts/ports.sh
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  scripts/etcd.sh stop "$work/etcd" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
pick_port etcd_port 1
etcd_url=$(scripts/etcd.sh start "$work/etcd" "$etcd_port")

services=(user video interaction social chat image)
# start every component with the env of mode $1; sets gw to the gateway URL
start() {
  local mode=$1 data="$work/$1" i=0 c p
  mkdir -p "$data"
  local -a env=(FANONE__DATA_DIR="$data" FANONE__TELEMETRY__LOG=warn
    FANONE__AUTH__JWT_SECRET=bench-secret-bench-secret-bench-secret
    FANONE__RPC__INTERNAL_SECRET=bench-internal-bench-internal-bench-int)
  for s in "${services[@]}"; do
    pick_port p
    env+=("FANONE__SERVICES__${s^^}__ADDR=127.0.0.1:$p")
  done
  case "$mode" in
    direct) env+=(FANONE__RPC__DIRECT=true) ;;
    etcd) env+=(FANONE__REGISTRY__BACKEND=etcd "FANONE__REGISTRY__ENDPOINTS=$etcd_url"
                "FANONE__REGISTRY__NAMESPACE=bench$$") ;;
  esac
  pick_port gwp
  for c in "${services[@]}" gateway; do
    env "${env[@]}" FANONE__GATEWAY__ADDR="127.0.0.1:$gwp" \
      target/release/fanone "$c" >"$data/$c.out" 2>"$data/$c.err" &
    pids+=($!)
    for _ in $(seq 1 300); do grep -q FANONE_READY "$data/$c.out" && break; sleep 0.1; done
    grep -q FANONE_READY "$data/$c.out" || { echo "$c ($mode) did not start" >&2; cat "$data/$c.err" >&2; exit 1; }
    i=$((i + 1))
  done
  gw="http://127.0.0.1:$gwp"
}

login() { # gateway user -> access token
  curl -sf -X POST "$1/user/register" -d "username=$2&password=secret12" >/dev/null || true
  curl -sf -D - -o /dev/null -X POST "$1/user/login" -d "username=$2&password=secret12" \
    | tr -d '\r' | awk -F': ' 'tolower($1)=="access-token"{print $2}'
}

publish() { # gateway token n
  local f; f=$(mktemp)
  printf '\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2mp41' >"$f"; head -c 4096 /dev/zero >>"$f"
  for i in $(seq 1 "$3"); do
    curl -sf -X POST "$1/video/publish" -H "Access-Token: $2" \
      -F "data=@$f;filename=v.mp4" -F "title=bench $i" >/dev/null
  done
  rm -f "$f"
}

echo "# $(date -u +%FT%TZ) $(nproc) cores, release, every component its own process, wrk -t2 -c$conns -d$duration"
printf '%-8s %-12s %10s %10s %10s\n' mode route req/s p50 p99
for mode in direct static etcd; do
  start "$mode"
  token=$(login "$gw" author)
  publish "$gw" "$token" 40
  uid=$(curl -sf "$gw/user/info" -H "Access-Token: $token" | sed 's/.*"id":"\([0-9]*\)".*/\1/')
  body=$(curl -sf "$gw/video/list?user_id=$uid&page_num=1&page_size=20")
  case "$body" in *'"total":40'*) ;; *) echo "bench: $mode list failed: $body" >&2; exit 1 ;; esac
  for route in info list; do
    if [ "$route" = info ]; then url="$gw/user/info?user_id=$uid"; else url="$gw/video/list?user_id=$uid&page_num=1&page_size=20"; fi
    out=$(wrk -t2 -c"$conns" -d"$duration" --latency "$url")
    errs=$(echo "$out" | grep -E "Non-2xx|Socket errors" || true)
    [ -z "$errs" ] || { echo "bench: $mode $route had errors: $errs" >&2; exit 1; }
    rps=$(echo "$out" | awk '/Requests\/sec/{print $2}')
    p50=$(echo "$out" | awk '$1=="50%"{print $2}')
    p99=$(echo "$out" | awk '$1=="99%"{print $2}')
    printf '%-8s %-12s %10s %10s %10s\n' "$mode" "/$route" "$rps" "$p50" "$p99"
  done
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=()
done
