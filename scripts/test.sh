#!/usr/bin/env bash
# The project's test command: lint, every Rust test on SQLite and on a throw-away
# MariaDB (vector store tests on a throw-away Milvus Lite; registry tests start their
# own etcd and rnacos; cache tests use a throw-away Redis; trace tests a throw-away
# Jaeger; the image model also runs on ONNX Runtime; the Prometheus rules are
# unit-tested with promtool), then the contract suite
# (Postman collection run by Newman, and the WebSocket script) against a standalone
# instance, the web page in headless Chromium (scripts/web.sh), then a Schemathesis
# fuzz run from docs/openapi.yaml (no 5xx allowed).
# The Kubernetes manifests are rendered and validated offline after the lint.
# With Go installed: a Kitex (Go) client calls every service (tests/kitex_interop.rs)
# and the Kitex-vs-Volo benchmark harness runs a smoke pass (bench/kitex-vs-volo).
# Every server gets a free loopback port (FANONE_<NAME>_PORT forces one) and is stopped
# on exit. Used as is by CI (.ci/run), which installs the servers first.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== fmt"
cargo fmt --all -- --check
echo "== clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "== Kubernetes manifests (kustomize render, kubernetes-validate --strict, rules)"
scripts/k8s-check.sh

# shellcheck source=ports.sh source-path=SCRIPTDIR
. scripts/ports.sh
dir=$(mktemp -d /tmp/fanone-test-mariadb.XXXXXX)
milvus_dir=$(mktemp -d /tmp/fanone-test-milvus.XXXXXX)
redis_dir=$(mktemp -d /tmp/fanone-test-redis.XXXXXX)
jaeger_dir=$(mktemp -d /tmp/fanone-test-jaeger.XXXXXX)
cleanup() {
  scripts/jaeger.sh stop "$jaeger_dir" >/dev/null 2>&1 || true
  rm -rf "$jaeger_dir"
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
echo "== Jaeger"
scripts/jaeger.sh install >/dev/null
read -r jaeger_otlp jaeger_query < <(scripts/jaeger.sh start "$jaeger_dir")
export FANONE_TEST_JAEGER_OTLP="http://127.0.0.1:$jaeger_otlp"
export FANONE_TEST_JAEGER_QUERY="http://127.0.0.1:$jaeger_query"
export FANONE_TEST_REQUIRE_JAEGER=1
echo "== ONNX Runtime (image model on image.runtime = \"onnxruntime\")"
FANONE_TEST_ONNXRUNTIME_LIB=$(scripts/onnxruntime.sh install)
export FANONE_TEST_ONNXRUNTIME_LIB FANONE_TEST_REQUIRE_ONNXRUNTIME=1
echo "== Prometheus rules (promtool)"
scripts/prometheus.sh check
export FANONE_TEST_REQUIRE_PROMTOOL=1
# the Kitex interop client (Go, code generated from idl/ by scripts/kitex.sh)
have_go=0
if command -v go >/dev/null 2>&1; then
  have_go=1
  echo "== Kitex interop client (Go): gofmt, vet, build"
  FANONE_TEST_KITEX_CLIENT=$(scripts/kitex.sh build)
  export FANONE_TEST_KITEX_CLIENT FANONE_TEST_REQUIRE_KITEX=1
  (cd tests/kitex && go vet .)
elif [ "${FANONE_TEST_REQUIRE_KITEX:-}" = 1 ]; then
  echo "FANONE_TEST_REQUIRE_KITEX=1 but Go is not installed" >&2
  exit 1
else
  echo "!! Go is not installed: the Kitex interop test and the Kitex-vs-Volo smoke run are SKIPPED" >&2
fi

echo "== tests"
cargo test --workspace --all-targets "$@"

bin=${CARGO_TARGET_DIR:-target}/debug/fanone
echo "== contract suite (Newman + WebSocket) against $bin"
scripts/contract.sh "$bin"

echo "== web page in headless Chromium (Playwright) against $bin"
scripts/web.sh "$bin"

echo "== fuzz (Schemathesis from docs/openapi.yaml) against $bin"
scripts/fuzz.sh "$bin"

if [ "$have_go" = 1 ]; then
  echo "== Kitex vs Volo harness: lint, unit tests, smoke run (bench/kitex-vs-volo)"
  bench=bench/kitex-vs-volo
  unformatted=$(gofmt -l tests/kitex "$bench/go" | grep -v /kitex_gen/ || true)
  [ -z "$unformatted" ] || { echo "gofmt: $unformatted" >&2; exit 1; }
  cargo fmt --manifest-path "$bench/rust/Cargo.toml" -- --check
  # its own cargo workspace, built in the main target dir (reuses the main build's deps)
  bench_target=${CARGO_TARGET_DIR:-$PWD/target}
  CARGO_TARGET_DIR=$bench_target cargo clippy --manifest-path "$bench/rust/Cargo.toml" --all-targets -- -D warnings
  CARGO_TARGET_DIR=$bench_target cargo test --quiet --manifest-path "$bench/rust/Cargo.toml"
  "$bench/run.sh" --smoke
  (cd "$bench/go" && go vet ./kitex-server ./kitex-client ./procstat)
fi
