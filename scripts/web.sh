#!/usr/bin/env bash
# Browser test of the web page served at `/` (tests/web/web.test.mjs).
#
#   scripts/web.sh [path/to/fanone]          (default: target/debug/fanone)
#
# Builds nothing. Starts `fanone standalone` on free loopback ports with a throw-away
# data dir, drives headless Chromium from the system (apt `chromium`; playwright-core
# never downloads a browser) through two users' sessions, stops the server. Reports
# land in build/web/: web.xml (JUnit), *.png screenshots, server.log. Exit status is
# non-zero if anything failed.
#
# Environment:
#   FANONE_WEB_URL=http://host:port   test that running server instead (no start)
#   FANONE_WEB_OUT=dir                report directory (default build/web)
#   CHROMIUM=/path/to/chromium        the browser (default /usr/bin/chromium)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
# shellcheck source=scripts/standalone.sh
. scripts/standalone.sh

bin=${1:-target/debug/fanone}
out=${FANONE_WEB_OUT:-build/web}
suite=tests/web
mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -f "$out"/*.png "$out"/web.xml

command -v node >/dev/null || { echo "web: node (>= 18) is required" >&2; exit 2; }
command -v npm >/dev/null || { echo "web: npm is required" >&2; exit 2; }
export CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] || { echo "web: no browser at $CHROMIUM (apt-get install chromium)" >&2; exit 2; }

pid=""
data=""
trap stop_standalone EXIT
trap 'exit 130' INT TERM

if [ -n "${FANONE_WEB_URL:-}" ]; then
  gateway=${FANONE_WEB_URL%/}
  echo "== web: testing the running server at $gateway"
else
  [ -x "$bin" ] || { echo "web: no executable fanone binary at '$bin' (build it first, e.g. cargo build)" >&2; exit 2; }
  data=$(mktemp -d "${TMPDIR:-/tmp}/fanone-web.XXXXXX")
  log="$out/server.log"
  echo "== web: starting $bin standalone (data $data, log $log)"
  start_standalone "$bin" "$data" "$log"
  echo "== web: gateway $gateway"
fi

if [ ! -d "$suite/node_modules" ]; then
  echo "== web: npm ci ($suite)"
  (cd "$suite" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
fi

status=0
(cd "$suite" && node web.test.mjs --base "$gateway" --out "$out") || status=1

if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
  echo "web: the server died during the run; see $out/server.log" >&2
  status=1
fi
echo "== web: reports in ${out#"$root"/}/ (web.xml, screenshots *.png)"
[ "$status" -eq 0 ] && echo "== web: passed" || echo "== web: FAILED" >&2
exit "$status"
