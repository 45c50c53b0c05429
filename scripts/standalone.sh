# Sourced by scripts that test a fresh `fanone standalone` (contract.sh, web.sh,
# fuzz.sh).
#
#   start_standalone BIN DATA_DIR LOG [NAME=VALUE ...]
#   trap stop_standalone EXIT
#
# Starts BIN standalone in the background on free loopback ports with DATA_DIR, its
# output in LOG, extra environment from the arguments; waits (up to 60 s) for its
# FANONE_READY line. Sets `pid` and `gateway` (http://127.0.0.1:<port>); exits the
# calling script with the log's tail if the server dies or never gets ready.
start_standalone() {
  local bin=$1 data=$2 log=$3
  shift 3
  env FANONE__DATA_DIR="$data" \
      FANONE__GATEWAY__ADDR=127.0.0.1:0 \
      FANONE__SERVICES__USER__ADDR=127.0.0.1:0 \
      FANONE__SERVICES__VIDEO__ADDR=127.0.0.1:0 \
      FANONE__SERVICES__INTERACTION__ADDR=127.0.0.1:0 \
      FANONE__SERVICES__SOCIAL__ADDR=127.0.0.1:0 \
      FANONE__SERVICES__CHAT__ADDR=127.0.0.1:0 \
      FANONE__SERVICES__IMAGE__ADDR=127.0.0.1:0 \
      "$@" "$bin" standalone >"$log" 2>&1 &
  pid=$!
  gateway=""
  for _ in $(seq 1 600); do   # up to 60 s
    gateway=$(sed -n 's/^FANONE_READY .*gateway=\([^ ]*\).*$/\1/p' "$log" | head -n1)
    [ -n "$gateway" ] && return 0
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "the server exited before it was ready; log:" >&2
      tail -n 50 "$log" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo "no FANONE_READY line within 60 s; log:" >&2
  tail -n 50 "$log" >&2
  exit 1
}

# Stop the server `start_standalone` started (TERM, then KILL after 5 s) and remove
# the data dir `$data` if set. Meant for `trap stop_standalone EXIT`.
# shellcheck disable=SC2317  # invoked by the EXIT trap
stop_standalone() {
  if [ -n "${pid:-}" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  [ -n "${data:-}" ] && rm -rf "$data"
  return 0
}
