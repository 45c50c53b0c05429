# Sourced by the load scripts that measure cluster mode (bench/http/cache.sh,
# bench/ws/roundtrip.sh): the release binary ($FANONE_BIN, built when unset), a scratch
# directory ($work), and the servers of scripts/stack.sh — MariaDB, etcd, Redis and
# Milvus Lite (two image replicas share their vectors through it) — started now and
# stopped on exit with the cluster of scripts/cluster.sh, whose `up`/`down` the
# script calls itself (gateways on :10001 and :10002).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
if [ -z "${FANONE_BIN:-}" ]; then
  cargo build --release --quiet --bin fanone
  FANONE_BIN=$root/target/release/fanone
fi
export FANONE_BIN
work=$(mktemp -d /tmp/fanone-bench-cluster.XXXXXX)
export FANONE_STACK_DIR=$work/stack FANONE_CLUSTER_DIR=$work/cluster
export FANONE_STACK_COMPONENTS="mysql etcd redis milvus"
cluster_cleanup() {
  scripts/cluster.sh down >/dev/null 2>&1 || true
  scripts/stack.sh down "$FANONE_STACK_DIR" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cluster_cleanup EXIT
scripts/stack.sh up "$FANONE_STACK_DIR" >/dev/null
set -a; . "$FANONE_STACK_DIR/env"; set +a
gws=(http://127.0.0.1:10001 http://127.0.0.1:10002)
