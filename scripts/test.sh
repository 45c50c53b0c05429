#!/usr/bin/env bash
# The project's test command: lint, every Rust test on SQLite and on a throw-away
# MariaDB (vector store tests on a throw-away Milvus Lite; registry tests start their
# own etcd and rnacos; cache tests use a throw-away Redis), then the contract suite
# (Postman collection run by Newman, and the WebSocket script) against a standalone
# instance, the web page in headless Chromium (scripts/web.sh), then a Schemathesis
# fuzz run from docs/openapi.yaml (no 5xx allowed).
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
redis_dir=$(mktemp -d /tmp/fanone-test-redis.XXXXXX)
cleanup() {
  scripts/mariadb.sh stop "$dir" >/dev/null 2>&1 || true
  rm -rf "$dir"
  scripts/milvus.sh stop "$milvus_dir" >/dev/null 2>&1 || true
  rm -rf "$milvus_dir"
  scripts/redis.sh stop "$redis_dir" >/dev/null 2>&1 || true
  rm -rf "$redis_dir"
}
trap cleanup EXIT
port=${FANONE_MARIADB_PORT:-}; [ -n "$port" ] || pick_port port
milvus_port=${FANONE_MILVUS_PORT:-}; [ -n "$milvus_port" ] || pick_port milvus_port
redis_port=${FANONE_REDIS_PORT:-}; [ -n "$redis_port" ] || pick_port redis_port

echo "== MariaDB on port $port"
url=$(scripts/mariadb.sh start "$dir" "$port")
export FANONE_TEST_MYSQL_URL="$url"
export FANONE_TEST_REQUIRE_MYSQL=1
echo "== Milvus Lite on port $milvus_port"
milvus_url=$(scripts/milvus.sh start "$milvus_dir" "$milvus_port")
export FANONE_TEST_MILVUS_URL="$milvus_url"
export FANONE_TEST_REQUIRE_MILVUS=1
# registry tests start their own etcd and rnacos (they restart them): only say
# where the binaries are and that the tests must not be skipped
export FANONE_TEST_RNACOS
FANONE_TEST_RNACOS=$(scripts/nacos.sh install)
export FANONE_TEST_REQUIRE_ETCD=1 FANONE_TEST_REQUIRE_NACOS=1
echo "== Redis on port $redis_port"
FANONE_TEST_REDIS_URL=$(scripts/redis.sh start "$redis_dir" "$redis_port")
export FANONE_TEST_REDIS_URL
export FANONE_TEST_REQUIRE_REDIS=1

echo "== tests"
cargo test --workspace --all-targets "$@"

bin=${CARGO_TARGET_DIR:-target}/debug/fanone
echo "== contract suite (Newman + WebSocket) against $bin"
scripts/contract.sh "$bin"

echo "== web page in headless Chromium (Playwright) against $bin"
scripts/web.sh "$bin"

echo "== fuzz (Schemathesis from docs/openapi.yaml) against $bin"
scripts/fuzz.sh "$bin"
