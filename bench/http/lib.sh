# Shared by the load scripts: start a release `fanone standalone` on free ports
# with a fresh data dir (FANONE_BENCH_NO_START=1: only define start_fanone), and
# helpers to register/login users and seed data. Source it.
#   FANONE_BIN=path   measure that binary (nothing is built); default: build and use
#                     target/release/fanone (bench/http/compare.sh sets it)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk" >&2; exit 1; }
if [ -z "${FANONE_BIN:-}" ]; then
  cargo build --release --quiet --bin fanone
  FANONE_BIN=target/release/fanone
fi
[ -x "$FANONE_BIN" ] || { echo "bench: no executable at FANONE_BIN=$FANONE_BIN" >&2; exit 1; }

# start_fanone [ENV=VALUE ...]: a fresh release standalone on free ports (extra
# environment for it as arguments); sets $gw and $admin, stopped on exit or by the
# next start_fanone. FANONE_BENCH_DATA=dir: start on that (seeded) data dir instead
# of an empty one (it is not removed).
pid=
data=
out=
stop_fanone() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$data" "$out"
  pid=
  data=
}
start_fanone() {
  stop_fanone
  if [ -n "${FANONE_BENCH_DATA:-}" ]; then data=; else data=$(mktemp -d); fi
  out=$(mktemp)
  env FANONE__DATA_DIR="${FANONE_BENCH_DATA:-$data}" FANONE__GATEWAY__ADDR=127.0.0.1:0 FANONE__TELEMETRY__LOG=warn \
    FANONE__SERVICES__USER__ADDR=127.0.0.1:0 FANONE__SERVICES__VIDEO__ADDR=127.0.0.1:0 \
    FANONE__SERVICES__INTERACTION__ADDR=127.0.0.1:0 FANONE__SERVICES__SOCIAL__ADDR=127.0.0.1:0 \
    FANONE__SERVICES__CHAT__ADDR=127.0.0.1:0 FANONE__SERVICES__IMAGE__ADDR=127.0.0.1:0 \
    "$@" "$FANONE_BIN" standalone >"$out" &
  pid=$!
  for _ in $(seq 1 300); do grep -q FANONE_READY "$out" && break; sleep 0.1; done
  grep -q FANONE_READY "$out" || { echo "bench: $FANONE_BIN did not start:" >&2; cat "$out" >&2; exit 1; }
  gw=$(grep -o 'gateway=[^ ]*' "$out" | cut -d= -f2)
  admin=$(grep -o 'admin=[^ ]*' "$out" | cut -d= -f2 || true)
}
# scratch files of the helpers below; removed with the server on exit
bench_dir=$(mktemp -d)
bench_exit() {
  stop_fanone
  rm -rf "$bench_dir"
}
trap bench_exit EXIT
[ "${FANONE_BENCH_NO_START:-}" = 1 ] || start_fanone

# register + login; prints the access token
login() {
  curl -sf -X POST "$gw/user/register" -d "username=$1&password=secret12" >/dev/null || true
  curl -sf -D - -o /dev/null -X POST "$gw/user/login" -d "username=$1&password=secret12" \
    | tr -d '\r' | awk -F': ' 'tolower($1)=="access-token"{print $2}'
}

# publish N tiny videos as the user of token $1, then wait until the work the uploads
# set off in the background (cover extraction, image indexing) is done; prints nothing
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
  wait_quiet
}

# wait_quiet [SECONDS]: until the CPUs are at least 85 % idle over one second, twice
# in a row, so that background work (a cluster's image replicas indexing the covers
# of just-published videos took a quarter of a core for half a minute) does not run
# during a measurement; after SECONDS (default 180) it warns and returns
wait_quiet() {
  local limit=${1:-180} calm=0 t idle
  for ((t = 0; t < limit; t++)); do
    idle=$({ head -1 /proc/stat; sleep 1; head -1 /proc/stat; } | awk '
      { busy = $2 + $3 + $4 + $7 + $8 + $9; idle = $5 + $6 }
      NR == 1 { b0 = busy; i0 = idle }
      NR == 2 { d = busy - b0 + idle - i0; print (d > 0) ? int(100 * (idle - i0) / d) : 100 }')
    if [ "$idle" -ge 85 ]; then
      calm=$((calm + 1))
      [ "$calm" -lt 2 ] || return 0
    else
      calm=0
    fi
  done
  echo "bench: the CPUs did not quiet down within ${limit}s; measuring anyway" >&2
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

# like_setup CONNS: an author publishes 200 videos, CONNS users log in; writes the wrk
# script $lua in which each request likes or unlikes (in turn, round by round) one of
# the 200 videos as one of the users: every request is a real state change
like_setup() {
  local conns=$1 token uid ids tokens="" i
  token=$(login author)
  publish "$token" 200
  uid=$(curl -sf "$gw/user/info" -H "Access-Token: $token" | sed 's/.*"id":"\([0-9]*\)".*/\1/')
  ids=$(curl -sf "$gw/video/list?user_id=$uid&page_size=100&page_num=0"; curl -sf "$gw/video/list?user_id=$uid&page_size=100&page_num=1")
  ids=$(echo "$ids" | grep -o '"id":"[0-9]*","user_id"' | cut -d'"' -f4 | tr '\n' ' ')
  [ -n "${ids// /}" ] || { echo "bench: no videos" >&2; exit 1; }
  for i in $(seq 1 "$conns"); do tokens="$tokens $(login "liker$i")"; done
  lua=$bench_dir/like.lua
  cat >"$lua" <<LUA
local ids = {}
for id in string.gmatch("$ids", "%d+") do ids[#ids + 1] = id end
local tokens = {}
for t in string.gmatch("$tokens", "%S+") do tokens[#tokens + 1] = t end
local threads = {}
function setup(thread) table.insert(threads, thread) end
ok, other = 0, 0
-- n counts from 0, so every (user, video) pair is liked before it is cancelled
local n = -1
request = function()
  n = n + 1
  local tok = tokens[(n % #tokens) + 1]
  local round = math.floor(n / (#tokens * #ids))
  local vid = ids[(math.floor(n / #tokens) % #ids) + 1]
  local action = (round % 2 == 0) and "1" or "2"
  return wrk.format("POST", "/like/action",
    {["Access-Token"] = tok, ["Content-Type"] = "application/x-www-form-urlencoded"},
    "video_id=" .. vid .. "&action_type=" .. action)
end
response = function(status, headers, body)
  if string.find(body, '"code":10000', 1, true) then ok = ok + 1 else other = other + 1 end
end
function done(summary, latency, requests)
  local a, b = 0, 0
  for _, t in ipairs(threads) do a = a + t:get("ok"); b = b + t:get("other") end
  io.write(string.format("state changes (code 10000): %d, other answers: %d\n", a, b))
end
LUA
}
