#!/usr/bin/env bash
# End-to-end latency of POST /user/image/search (release `fanone standalone`) with
# 10k images in the index: multipart upload → gateway → image service (decode +
# views + EfficientNet-Lite0 embedding + vector search + image table) → URL.
#   bench/image/e2e.sh [flat|milvus] [N] [DURATION] [QUERY_DIR] [CLIENTS]
# milvus: starts Milvus Lite with scripts/milvus.sh (installed from PyPI on first use).
# QUERY_DIR: query every picture under it in turn (e.g. bench/image/hard/query, the
# real-size queries of prepare_hard.py, up to 1 MB); default one 11 KB JPEG.
# CLIENTS: the wrk connection counts (default "1 4").
set -euo pipefail
cd "$(dirname "$0")/../.."
store=${1:-flat}
n=${2:-10000}
duration=${3:-20s}
queries=${4:-}
clients=${5:-1 4}
command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk" >&2; exit 1; }
cargo build --release --quiet
cargo build --release --quiet -p fanone-image --example seed
data=$(mktemp -d)
out=$(mktemp)
mdir=$(mktemp -d)
cleanup() {
  [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  [ "$store" = milvus ] && scripts/milvus.sh stop "$mdir" >/dev/null 2>&1
  rm -rf "$data" "$out" "$mdir" "${list:-}"
}
trap cleanup EXIT
extra=()
if [ "$store" = milvus ]; then
  murl=$(scripts/milvus.sh start "$mdir" $(( 19600 + RANDOM % 300 )))
  coll="bench_$$"
  target/release/examples/seed "sqlite://$data/image.db?mode=rwc" "$murl" "$n" "$coll"
  extra=(FANONE__IMAGE__MILVUS_URL="$murl" FANONE__IMAGE__MILVUS_COLLECTION="$coll")
else
  target/release/examples/seed "sqlite://$data/image.db?mode=rwc" "$data/image.vectors" "$n"
fi
env FANONE__DATA_DIR="$data" FANONE__GATEWAY__ADDR=127.0.0.1:0 FANONE__TELEMETRY__LOG=warn \
  FANONE__SERVICES__USER__ADDR=127.0.0.1:0 FANONE__SERVICES__VIDEO__ADDR=127.0.0.1:0 \
  FANONE__SERVICES__INTERACTION__ADDR=127.0.0.1:0 FANONE__SERVICES__SOCIAL__ADDR=127.0.0.1:0 \
  FANONE__SERVICES__CHAT__ADDR=127.0.0.1:0 FANONE__SERVICES__IMAGE__ADDR=127.0.0.1:0 \
  "${extra[@]}" target/release/fanone standalone >"$out" &
pid=$!
for _ in $(seq 1 300); do grep -q FANONE_READY "$out" && break; sleep 0.1; done
gw=$(grep -o 'gateway=[^ ]*' "$out" | cut -d= -f2)
img=pkg/embed/tests/data/chelsea.jpg
check=$(curl -sf -X POST "$gw/user/image/search" -F "data=@$img" -F top_k=1)
case "$check" in *'"code":10000'*) ;; *) echo "search failed: $check" >&2; exit 1 ;; esac
if [ -n "$queries" ]; then
  list=$(mktemp)
  find "$queries" -type f \( -name '*.jpg' -o -name '*.png' \) | sort >"$list"
  export FANONE_SEARCH_LIST=$list
  script=bench/image/search_many.lua
  what="$(wc -l <"$list") queries under $queries ($(xargs stat -c %s <"$list" | sort -n | awk '{a[NR]=$1} END {print "median " a[int((NR+1)/2)] " bytes, max " a[NR]}'))"
else
  export FANONE_SEARCH_IMAGE=$img
  script=bench/image/search.lua
  what="query $(basename $img) ($(stat -c %s $img) bytes)"
fi
echo "# $(date -u +%FT%TZ) $(nproc) cores, release, store=$store, $n vectors, $what"
for c in $clients; do
  echo "## $c concurrent client(s): wrk -t1 -c$c -d$duration --latency"
  wrk -t1 -c"$c" -d"$duration" --latency -s "$script" "$gw/user/image/search"
done
