#!/usr/bin/env bash
# The project's test command: lint, every Rust test on SQLite and on a throw-away
# MariaDB, then the contract suite (Postman collection run by Newman, and the
# WebSocket script) against a standalone instance. Used as is by CI (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== fmt"
cargo fmt --all -- --check
echo "== clippy"
cargo clippy --workspace --all-targets -- -D warnings

dir=$(mktemp -d /tmp/fanone-test-mariadb.XXXXXX)
port=${FANONE_MARIADB_PORT:-$(( 33000 + RANDOM % 1000 ))}
cleanup() { scripts/mariadb.sh stop "$dir" >/dev/null 2>&1 || true; rm -rf "$dir"; }
trap cleanup EXIT
echo "== MariaDB on port $port"
url=$(scripts/mariadb.sh start "$dir" "$port")
export FANONE_TEST_MYSQL_URL="$url"
export FANONE_TEST_REQUIRE_MYSQL=1

echo "== tests"
cargo test --workspace --all-targets "$@"

echo "== contract suite (Newman + WebSocket) against target/debug/fanone"
scripts/contract.sh target/debug/fanone
