#!/usr/bin/env bash
# End-to-end latency of POST /user/image/search (release `fanone standalone`) with
# 10k images in the index: multipart upload → gateway → image service (decode +
# EfficientNet-Lite0 embedding + vector search + image table) → URL.
#   bench/image/e2e.sh [flat|milvus] [N] [DURATION]
# milvus: starts Milvus Lite with scripts/milvus.sh (installed from PyPI on first use).
set -euo pipefail
cd "$(dirname "$0")/../.."
store=${1:-flat}
n=${2:-10000}
duration=${3:-20s}
command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk" >&2; exit 1; }
cargo build --release --quiet
cargo build --release --quiet -p fanone-image --example seed
data=$(mktemp -d)
out=$(mktemp)
mdir=$(mktemp -d)
cleanup() {
  [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  [ "$store" = milvus ] && scripts/milvus.sh stop "$mdir" >/dev/null 2>&1
  rm -rf "$data" "$out" "$mdir"
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
export FANONE_SEARCH_IMAGE=$img
echo "# $(date -u +%FT%TZ) $(nproc) cores, release, store=$store, $n vectors, query $(basename $img) ($(stat -c %s $img) bytes)"
for c in 1 8; do
  echo "## $c concurrent client(s): wrk -t1 -c$c -d$duration --latency"
  wrk -t1 -c"$c" -d"$duration" --latency -s bench/image/search.lua "$gw/user/image/search"
done
