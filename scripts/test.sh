#!/usr/bin/env bash
# The project's test command: lint, every Rust test on SQLite and on a throw-away
# MariaDB (vector store tests on a throw-away Milvus Lite; registry, config and cache
# tests on a throw-away etcd, rnacos and Redis), then the contract suite (Postman
# collection run by Newman, and the WebSocket script) against a standalone instance.
# Every server gets a free loopback port (FANONE_<NAME>_PORT forces one) and is stopped
# on exit. Used as is by CI (.ci/run), which installs the servers first.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== fmt"
cargo fmt --all -- --check
echo "== clippy"
cargo clippy --workspace --all-targets -- -D warnings

# shellcheck source=ports.sh source-path=SCRIPTDIR
. scripts/ports.sh
dir=$(mktemp -d /tmp/fanone-test-mariadb.XXXXXX)
milvus_dir=$(mktemp -d /tmp/fanone-test-milvus.XXXXXX)
etcd_dir=$(mktemp -d /tmp/fanone-test-etcd.XXXXXX)
nacos_dir=$(mktemp -d /tmp/fanone-test-nacos.XXXXXX)
redis_dir=$(mktemp -d /tmp/fanone-test-redis.XXXXXX)
cleanup() {
  scripts/mariadb.sh stop "$dir" >/dev/null 2>&1 || true
  rm -rf "$dir"
  scripts/milvus.sh stop "$milvus_dir" >/dev/null 2>&1 || true
  rm -rf "$milvus_dir"
  scripts/etcd.sh stop "$etcd_dir" >/dev/null 2>&1 || true
  rm -rf "$etcd_dir"
  scripts/nacos.sh stop "$nacos_dir" >/dev/null 2>&1 || true
  rm -rf "$nacos_dir"
  scripts/redis.sh stop "$redis_dir" >/dev/null 2>&1 || true
  rm -rf "$redis_dir"
}
trap cleanup EXIT
port=${FANONE_MARIADB_PORT:-}; [ -n "$port" ] || pick_port port
milvus_port=${FANONE_MILVUS_PORT:-}; [ -n "$milvus_port" ] || pick_port milvus_port
# etcd's peer port is the next free one above; rnacos's gRPC port is always +1000
etcd_port=${FANONE_ETCD_PORT:-}; [ -n "$etcd_port" ] || pick_port etcd_port 1
nacos_port=${FANONE_NACOS_PORT:-}; [ -n "$nacos_port" ] || pick_port nacos_port 1000 2000
redis_port=${FANONE_REDIS_PORT:-}; [ -n "$redis_port" ] || pick_port redis_port

echo "== MariaDB on port $port"
url=$(scripts/mariadb.sh start "$dir" "$port")
export FANONE_TEST_MYSQL_URL="$url"
export FANONE_TEST_REQUIRE_MYSQL=1
echo "== Milvus Lite on port $milvus_port"
milvus_url=$(scripts/milvus.sh start "$milvus_dir" "$milvus_port")
export FANONE_TEST_MILVUS_URL="$milvus_url"
export FANONE_TEST_REQUIRE_MILVUS=1
echo "== etcd on port $etcd_port"
FANONE_TEST_ETCD_URL=$(scripts/etcd.sh start "$etcd_dir" "$etcd_port")
export FANONE_TEST_ETCD_URL
export FANONE_TEST_REQUIRE_ETCD=1
echo "== rnacos on port $nacos_port (gRPC $(( nacos_port + 1000 )))"
FANONE_TEST_NACOS_ADDR=$(scripts/nacos.sh start "$nacos_dir" "$nacos_port")
export FANONE_TEST_NACOS_ADDR
export FANONE_TEST_REQUIRE_NACOS=1
echo "== Redis on port $redis_port"
FANONE_TEST_REDIS_URL=$(scripts/redis.sh start "$redis_dir" "$redis_port")
export FANONE_TEST_REDIS_URL
export FANONE_TEST_REQUIRE_REDIS=1

echo "== tests"
cargo test --workspace --all-targets "$@"

echo "== contract suite (Newman + WebSocket) against target/debug/fanone"
scripts/contract.sh target/debug/fanone
