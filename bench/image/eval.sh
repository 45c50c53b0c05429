#!/usr/bin/env bash
# Recall of reverse image search through the HTTP API on the hard evaluation set
# (bench/image/prepare_hard.py): a fresh `fanone standalone`, every base and
# distractor uploaded as an avatar, then every query searched (top 5).
#   bench/image/eval.sh [flat|milvus] [DATA] [extra NAME=VALUE env ...]
# DATA defaults to bench/image/hard; FANONE_BIN to target/release/fanone.
# milvus: starts Milvus Lite with scripts/milvus.sh (installed from PyPI on first use).
# Per-query results: DATA/results-<store>.csv; the table is printed as markdown; the
# service's stage histograms (fanone_image_*) at the end: DATA/metrics-<store>.txt.
# FANONE_EVAL_SEED=N first fills the index with N synthetic pictures (random unit
# vectors, rpc/image/examples/seed.rs), to measure at a given index size (e.g.
# 8632 + the 1,368 uploads = 10k); they never match a real picture.
# FANONE_EVAL_CLIENTS=N searches with N concurrent clients (default 1).
set -euo pipefail
cd "$(dirname "$0")/../.."
store=${1:-flat}
datadir=${2:-bench/image/hard}
shift $(( $# > 2 ? 2 : $# ))
bin=${FANONE_BIN:-target/release/fanone}
py=${FANONE_EVAL_PYTHON:-$HOME/.cache/fanone/tools/eval-venv/bin/python}
[ -f "$datadir/manifest.tsv" ] || { echo "no $datadir/manifest.tsv: run bench/image/prepare_hard.py $datadir" >&2; exit 1; }
[ -x "$py" ] || py=python3
# shellcheck source=scripts/standalone.sh
. scripts/standalone.sh
data=$(mktemp -d)
log=$(mktemp)
mdir=$(mktemp -d)
cleanup() {
  stop_standalone
  [ "$store" = milvus ] && scripts/milvus.sh stop "$mdir" >/dev/null 2>&1
  rm -rf "$mdir" "$log"
}
trap cleanup EXIT
extra=(FANONE__TELEMETRY__LOG=warn "$@")
seed=${FANONE_EVAL_SEED:-0}
if [ "$seed" -gt 0 ]; then
  cargo build --release --quiet -p fanone-image --example seed
fi
if [ "$store" = milvus ]; then
  murl=$(scripts/milvus.sh start "$mdir" $(( 19600 + RANDOM % 300 )))
  extra+=(FANONE__IMAGE__MILVUS_URL="$murl" FANONE__IMAGE__MILVUS_COLLECTION="eval_$$")
  [ "$seed" -gt 0 ] && target/release/examples/seed "sqlite://$data/image.db?mode=rwc" "$murl" "$seed" "eval_$$"
elif [ "$seed" -gt 0 ]; then
  target/release/examples/seed "sqlite://$data/image.db?mode=rwc" "$data/image.vectors" "$seed"
fi
start_standalone "$bin" "$data" "$log" "${extra[@]}"
echo "# $(date -u +%FT%TZ) $(nproc) cores, $bin, store=$store, $seed synthetic pictures first ${*:-}" >&2
"$py" bench/image/eval_http.py --gateway "$gateway" --data "$datadir" \
  --out "$datadir/results-$store.csv" --verify bases --markdown \
  --query-concurrency "${FANONE_EVAL_CLIENTS:-1}"
# the service's own stage histograms (decode, infer, vector search) of this run
admin=$(sed -n 's/^FANONE_READY .*admin=\([^ ]*\).*$/\1/p' "$log" | head -n1)
if [ -n "$admin" ] && curl -sf "$admin/metrics" | grep '^fanone_image_' >"$datadir/metrics-$store.txt"; then
  echo "stage histograms: $datadir/metrics-$store.txt" >&2
fi
