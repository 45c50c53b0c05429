#!/usr/bin/env bash
# Contract tests of the HTTP + WebSocket API (docs/contract-tests.md).
#
#   scripts/contract.sh [path/to/fanone]          (default: target/debug/fanone)
#
# Builds nothing. Starts `fanone standalone` on free loopback ports with a throw-away
# data dir, runs the Newman collection (tests/contract/fanone.postman_collection.json)
# and the WebSocket script (tests/contract/ws.test.mjs) against it, stops the server.
# Reports land in build/contract/: newman.json, newman.xml (JUnit), newman.html
# (htmlextra), ws.xml (JUnit), server.log. Exit status is non-zero if anything failed.
#
# Environment:
#   FANONE_CONTRACT_URL=http://host:port  test that running server instead (no start)
#   FANONE_CONTRACT_OUT=dir               report directory (default build/contract)
#   NEWMAN_EXTRA_ARGS="..."               extra newman arguments (e.g. --folder User)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
# shellcheck source=scripts/standalone.sh
. scripts/standalone.sh

bin=${1:-target/debug/fanone}
out=${FANONE_CONTRACT_OUT:-build/contract}
suite=tests/contract
mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -f "$out"/newman.json "$out"/newman.xml "$out"/newman.html "$out"/ws.xml

command -v node >/dev/null || { echo "contract: node (>= 18) is required" >&2; exit 2; }
command -v npm >/dev/null || { echo "contract: npm is required" >&2; exit 2; }

pid=""
data=""
trap stop_standalone EXIT
trap 'exit 130' INT TERM

if [ -n "${FANONE_CONTRACT_URL:-}" ]; then
  gateway=${FANONE_CONTRACT_URL%/}
  echo "== contract: testing the running server at $gateway"
else
  [ -x "$bin" ] || { echo "contract: no executable fanone binary at '$bin' (build it first, e.g. cargo build)" >&2; exit 2; }
  data=$(mktemp -d "${TMPDIR:-/tmp}/fanone-contract.XXXXXX")
  log="$out/server.log"
  echo "== contract: starting $bin standalone (data $data, log $log)"
  start_standalone "$bin" "$data" "$log"
  echo "== contract: gateway $gateway"
fi

if [ ! -d "$suite/node_modules" ]; then
  echo "== contract: npm ci ($suite)"
  (cd "$suite" && npm ci --no-audit --no-fund --loglevel=error)
fi

status=0

echo "== contract: newman"
# shellcheck disable=SC2086
(cd "$suite" && ./node_modules/.bin/newman run fanone.postman_collection.json \
    --working-dir . \
    --env-var "baseUrl=$gateway" \
    --timeout-request 30000 \
    -r cli,json,junit,htmlextra \
    --reporter-json-export "$out/newman.json" \
    --reporter-junit-export "$out/newman.xml" \
    --reporter-htmlextra-export "$out/newman.html" \
    --reporter-htmlextra-title "FanOne contract tests" \
    --reporter-htmlextra-browserTitle "FanOne contract" \
    ${NEWMAN_EXTRA_ARGS:-}) || status=1

echo "== contract: websocket"
(cd "$suite" && node ws.test.mjs --base "$gateway" --junit "$out/ws.xml") || status=1

if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
  echo "contract: the server died during the run; see $out/server.log" >&2
  status=1
fi

echo "== contract: reports in ${out#"$root"/}/ (newman.html, newman.xml, newman.json, ws.xml)"
if [ "$status" -ne 0 ]; then
  echo "== contract: FAILED" >&2
else
  echo "== contract: passed"
fi
exit "$status"
