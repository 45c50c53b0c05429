#!/usr/bin/env bash
# WebSocket chat round trips (send → stored → pushed to the receiver), release build:
#   bench/ws/roundtrip.sh standalone [PAIRS] [SECS]   one process, one gateway
#   bench/ws/roundtrip.sh cluster    [PAIRS] [SECS]   scripts/cluster.sh (2 replicas, 2
#       gateways) on MariaDB, Redis, etcd, Milvus Lite: senders on gateway 1, receivers on
#       gateway 2, so every push crosses the Redis relay
# Prints `mode,pairs,secs,messages,msgs_per_s,p50_ms,p90_ms,p99_ms,lost` per run
# (bench/ws/roundtrip.mjs; Node 20 and the `ws` package of tests/contract).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
mode=${1:-standalone}
pairs=${2:-16}
secs=${3:-10}
command -v node >/dev/null || { echo "node is required" >&2; exit 2; }
[ -d tests/contract/node_modules/ws ] || (cd tests/contract && npm ci --no-audit --no-fund --loglevel=error)
case "$mode" in
  standalone)
    # shellcheck source=../http/lib.sh
    source bench/http/lib.sh
    send=$gw recv=$gw
    ;;
  cluster)
    # shellcheck source=../cluster_lib.sh
    source bench/cluster_lib.sh
    scripts/cluster.sh up etcd >/dev/null
    send=http://127.0.0.1:10001 recv=http://127.0.0.1:10002
    ;;
  *) echo "usage: $0 standalone|cluster [PAIRS] [SECS]" >&2; exit 2 ;;
esac
echo "# $(date -u +%FT%TZ) $(nproc) cores, release build, $mode, $pairs pairs, ${secs}s"
echo "mode,pairs,secs,messages,msgs_per_s,p50_ms,p90_ms,p99_ms,lost"
printf '%s,' "$mode"
node bench/ws/roundtrip.mjs --send "$send" --recv "$recv" --pairs "$pairs" --secs "$secs"
