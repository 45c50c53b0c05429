#!/usr/bin/env bash
# Fuzz the HTTP API from its OpenAPI description (docs/openapi.yaml) with Schemathesis
# against a fresh standalone instance; fails on any server error (HTTP 5xx).
#
#   scripts/fuzz.sh [path/to/fanone]        (default: target/debug/fanone)
#
# Fixed example count and seed, so a run is repeatable and short (about a minute
# with the debug binary). Schemathesis is installed with pip into a venv cached under
# ~/.cache/fanone/tools (FANONE_TOOLS_DIR overrides the parent dir).
#
# Environment: FANONE_FUZZ_EXAMPLES (default 20 per operation), FANONE_FUZZ_SEED
# (default 8), FANONE_FUZZ_OUT (report dir, default build/fuzz).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/standalone.sh
. scripts/standalone.sh

bin=${1:-target/debug/fanone}
examples=${FANONE_FUZZ_EXAMPLES:-20}
seed=${FANONE_FUZZ_SEED:-8}
out=${FANONE_FUZZ_OUT:-build/fuzz}
version=4.32.5
tools=${FANONE_TOOLS_DIR:-${HOME:-/root}/.cache/fanone/tools}
venv="$tools/schemathesis-$version"

[ -x "$bin" ] || { echo "fuzz: no executable fanone binary at '$bin' (build it first)" >&2; exit 2; }
if [ ! -x "$venv/bin/schemathesis" ]; then
  echo "== fuzz: installing schemathesis $version into $venv"
  py=$(command -v python3) || { echo "fuzz: python3 (with venv) is required" >&2; exit 2; }
  mkdir -p "$tools"
  rm -rf "$venv.tmp"
  "$py" -m venv "$venv.tmp" >&2
  "$venv.tmp/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version" >&2
  rm -rf "$venv"
  mv "$venv.tmp" "$venv"
fi
# a moved venv keeps its old path in script shebangs: run the module with its python
st=("$venv/bin/python" -m schemathesis.cli)

mkdir -p "$out"
data=$(mktemp -d "${TMPDIR:-/tmp}/fanone-fuzz.XXXXXX")
pid=""
trap stop_standalone EXIT
log="$out/server.log"
start_standalone "$bin" "$data" "$log" \
    FANONE__TELEMETRY__LOG=warn,fanone_gateway=info FANONE__TELEMETRY__JSON=true

echo "== fuzz: schemathesis $version, $examples examples per operation, seed $seed, against $gateway"
status=0
"${st[@]}" run docs/openapi.yaml \
    --url "$gateway" \
    --checks not_a_server_error \
    --max-examples "$examples" \
    --seed "$seed" \
    --workers 2 \
    --request-timeout 30 \
    --suppress-health-check all \
    --generation-database none \
    --report junit --report-dir "$out" || status=$?

if ! kill -0 "$pid" 2>/dev/null; then
  echo "fuzz: the server died during the run; see $log" >&2
  status=1
fi
# the gateway's access log (JSON lines): every answer's status, 5xx included
answers=$(grep -cE '"status":[0-9]{3}[,}]' "$log" || true)
fives=$(grep -cE '"status":5[0-9]{2}[,}]' "$log" || true)
echo "== fuzz: $answers answers in the server's access log, $fives with status 5xx"
[ "$answers" -gt 0 ] || { echo "fuzz: no access log lines in $log" >&2; status=1; }
[ "$fives" -eq 0 ] || status=1
if [ "$status" -ne 0 ]; then echo "== fuzz: FAILED (reports in $out)" >&2; else echo "== fuzz: passed, 0 server errors"; fi
exit "$status"
