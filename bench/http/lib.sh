# Shared by the load scripts: start a release `fanone standalone` on free ports
# with a fresh data dir (FANONE_BENCH_NO_START=1: only define start_fanone), and
# helpers to register/login users. Source it.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk" >&2; exit 1; }
cargo build --release --quiet

# start_fanone [ENV=VALUE ...]: a fresh release standalone on free ports (extra
# environment for it as arguments); sets $gw and $admin, stopped on exit or by the
# next start_fanone
pid=
data=
out=
stop_fanone() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$data" "$out"
  pid=
}
start_fanone() {
  stop_fanone
  data=$(mktemp -d)
  out=$(mktemp)
  env FANONE__DATA_DIR="$data" FANONE__GATEWAY__ADDR=127.0.0.1:0 FANONE__TELEMETRY__LOG=warn \
    FANONE__SERVICES__USER__ADDR=127.0.0.1:0 FANONE__SERVICES__VIDEO__ADDR=127.0.0.1:0 \
    FANONE__SERVICES__INTERACTION__ADDR=127.0.0.1:0 FANONE__SERVICES__SOCIAL__ADDR=127.0.0.1:0 \
    FANONE__SERVICES__CHAT__ADDR=127.0.0.1:0 FANONE__SERVICES__IMAGE__ADDR=127.0.0.1:0 \
    "$@" target/release/fanone standalone >"$out" &
  pid=$!
  for _ in $(seq 1 100); do grep -q FANONE_READY "$out" && break; sleep 0.1; done
  gw=$(grep -o 'gateway=[^ ]*' "$out" | cut -d= -f2)
  admin=$(grep -o 'admin=[^ ]*' "$out" | cut -d= -f2 || true)
}
trap stop_fanone EXIT
[ "${FANONE_BENCH_NO_START:-}" = 1 ] || start_fanone

# register + login; prints the access token
login() {
  curl -sf -X POST "$gw/user/register" -d "username=$1&password=secret12" >/dev/null || true
  curl -sf -D - -o /dev/null -X POST "$gw/user/login" -d "username=$1&password=secret12" \
    | tr -d '\r' | awk -F': ' 'tolower($1)=="access-token"{print $2}'
}

# publish N tiny videos as the user of token $1; prints nothing
publish() {
  local token=$1 n=$2 f
  f=$(mktemp)
  printf '\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2mp41' >"$f"
  head -c 4096 /dev/zero >>"$f"
  for i in $(seq 1 "$n"); do
    curl -sf -X POST "$gw/video/publish" -H "Access-Token: $token" \
      -F "data=@$f;filename=v.mp4" -F "title=bench video $i" -F "description=load test" >/dev/null
  done
  rm -f "$f"
}

header() {
  echo "# $(date -u +%FT%TZ) $(nproc) cores, $(uname -m), release build, wrk $*"
}

# fail unless GET $1 (extra curl args after it) answers base.code 10000
expect_ok() {
  local url=$1; shift
  local body
  body=$(curl -sf "$@" "$url")
  case "$body" in
    *'"code":10000'*) ;;
    *) echo "bench: $url did not succeed: $body" >&2; exit 1 ;;
  esac
}
