#!/usr/bin/env bash
# The project's test command: lint, every Rust test on SQLite and on a throw-away
# MariaDB (vector store tests on a throw-away Milvus Lite), then the contract suite
# (Postman collection run by Newman, and the WebSocket script) against a standalone
# instance, then a Schemathesis fuzz run from docs/openapi.yaml (no 5xx allowed).
# Used as is by CI (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== fmt"
cargo fmt --all -- --check
echo "== clippy"
cargo clippy --workspace --all-targets -- -D warnings

dir=$(mktemp -d /tmp/fanone-test-mariadb.XXXXXX)
port=${FANONE_MARIADB_PORT:-$(( 33000 + RANDOM % 1000 ))}
milvus_dir=$(mktemp -d /tmp/fanone-test-milvus.XXXXXX)
milvus_port=${FANONE_MILVUS_PORT:-$(( 34000 + RANDOM % 1000 ))}
cleanup() {
  scripts/mariadb.sh stop "$dir" >/dev/null 2>&1 || true
  rm -rf "$dir"
  scripts/milvus.sh stop "$milvus_dir" >/dev/null 2>&1 || true
  rm -rf "$milvus_dir"
}
trap cleanup EXIT
echo "== MariaDB on port $port"
url=$(scripts/mariadb.sh start "$dir" "$port")
export FANONE_TEST_MYSQL_URL="$url"
export FANONE_TEST_REQUIRE_MYSQL=1
echo "== Milvus Lite on port $milvus_port"
milvus_url=$(scripts/milvus.sh start "$milvus_dir" "$milvus_port")
export FANONE_TEST_MILVUS_URL="$milvus_url"
export FANONE_TEST_REQUIRE_MILVUS=1

echo "== tests"
cargo test --workspace --all-targets "$@"

echo "== contract suite (Newman + WebSocket) against target/debug/fanone"
scripts/contract.sh target/debug/fanone

echo "== fuzz (Schemathesis from docs/openapi.yaml) against target/debug/fanone"
scripts/fuzz.sh target/debug/fanone
