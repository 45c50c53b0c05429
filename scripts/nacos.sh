#!/usr/bin/env bash
# A throw-away Nacos-compatible server (rnacos, loopback only) for tests and local
# cluster runs.
#   scripts/nacos.sh install                 -> builds rnacos once, prints the binary path
#   scripts/nacos.sh start [DIR] [PORT]      -> prints 127.0.0.1:PORT (nacos-sdk server_addr)
#   scripts/nacos.sh stop  [DIR]
# The official Nacos server is not installable here; rnacos (crates.io, a Nacos server
# re-implemented in Rust) speaks the Nacos v1 HTTP open API and the gRPC protocol of the
# 2.x SDKs. It is built with `cargo install --locked` into a cache under
# ~/.cache/fanone/tools (FANONE_TOOLS_DIR overrides the parent dir) the first time:
# 15-25 minutes on 2 idle cores, 50 on 2 busy ones; one 45 MB binary afterwards.
# Ports: PORT = HTTP open API (/nacos/v1/...); PORT+1000 = gRPC, fixed because the
# nacos-sdk clients derive it from server_addr as port+1000; the console is
# PORT+2000 when free, else the next free port above it (FANONE_NACOS_CONSOLE_PORT
# forces one; the console login is admin/admin). Data (sled + raft log), log and pid
# file live in DIR; the data is kept across a restart on the same ports and wiped
# otherwise.
set -euo pipefail

version=0.8.8
cmd=${1:-start}
dir=${2:-${FANONE_NACOS_DIR:-/tmp/fanone-nacos}}
port=${3:-${FANONE_NACOS_PORT:-28848}}
tools=${FANONE_TOOLS_DIR:-${HOME:-/root}/.cache/fanone/tools}
root="$tools/rnacos-$version"
bin="$root/bin/rnacos"
# shellcheck source=ports.sh source-path=SCRIPTDIR
. "$(dirname "$0")/ports.sh"

install() {
  if [ -x "$bin" ]; then
    echo "$bin"
    return 0
  fi
  local cargo
  cargo=$(command -v cargo) || { echo "cargo not found: rnacos is built from crates.io with cargo (rustup)" >&2; exit 1; }
  mkdir -p "$tools"
  # one build at a time: a second install waits for the first, then finds the binary
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$root.lock"
    flock 9
    if [ -x "$bin" ]; then
      echo "$bin"
      return 0
    fi
  fi
  rm -rf "$root.tmp"
  echo "building rnacos $version with cargo install (15-50 min on 2 cores)..." >&2
  # a development and test server: opt-level 1 compiles faster than the
  # default 3 and serves a test suite's load easily (FANONE_RNACOS_OPT_LEVEL overrides)
  CARGO_PROFILE_RELEASE_OPT_LEVEL=${FANONE_RNACOS_OPT_LEVEL:-1} \
    "$cargo" install rnacos --locked --version "$version" --root "$root.tmp" >&2 \
    || { echo "cargo install rnacos $version failed" >&2; exit 1; }
  rm -rf "$root"
  mv "$root.tmp" "$root"
  [ -x "$bin" ] || { echo "rnacos $version installed but $bin is missing" >&2; exit 1; }
  echo "$bin"
}

running() { [ -f "$dir/rnacos.pid" ] && kill -0 "$(cat "$dir/rnacos.pid")" 2>/dev/null; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

launch() {
  (
    cd "$dir"
    set -a
    # shellcheck disable=SC1091
    . "$dir/rnacos.env"
    set +a
    RUST_LOG=${FANONE_NACOS_LOG:-warn} exec "$bin" -e "$dir/rnacos.env"
  ) </dev/null >>"$dir/server.log" 2>&1 &
  echo $! >"$dir/rnacos.pid"
}

# HTTP, gRPC and console ports answer (60 s at most)
ready() {
  for _ in $(seq 1 240); do
    if curl -sf --max-time 2 "http://127.0.0.1:$port/nacos/v1/ns/service/list?pageNo=1&pageSize=10" >/dev/null 2>&1 \
      && port_open "$grpc" && port_open "$console"; then
      return 0
    fi
    running || return 1
    sleep 0.25
  done
  return 1
}

# a config document written over the HTTP API is served back within 5 s
probe_write() {
  local api="http://127.0.0.1:$port/nacos/v1/cs/configs" value
  value="started $(date +%s%N)"
  curl -sf --max-time 2 -X POST "$api" --data-urlencode "dataId=fanone-start-probe" \
    --data-urlencode "group=DEFAULT_GROUP" --data-urlencode "content=$value" >/dev/null 2>&1 || return 1
  for _ in $(seq 1 20); do
    [ "$(curl -sf --max-time 2 "$api?dataId=fanone-start-probe&group=DEFAULT_GROUP" 2>/dev/null)" = "$value" ] && return 0
    sleep 0.25
  done
  return 1
}

case "$cmd" in
  install)
    install
    ;;
  start)
    [ -x "$bin" ] || { echo "rnacos $version not built: scripts/nacos.sh install (cargo, 15-50 min)" >&2; exit 1; }
    if running; then
      echo "127.0.0.1:$(cut -d' ' -f1 "$dir/rnacos.ports")"
      exit 0
    fi
    grpc=$(( port + 1000 ))
    port_free "$port" || { echo "nacos: HTTP port $port is already in use" >&2; exit 1; }
    port_free "$grpc" || { echo "nacos: gRPC port $grpc (HTTP port + 1000, what nacos-sdk clients use) is already in use" >&2; exit 1; }
    console=${FANONE_NACOS_CONSOLE_PORT:-}
    if [ -z "$console" ]; then
      for p in $(seq $(( port + 2000 )) $(( port + 2100 ))); do
        if port_free "$p"; then console=$p; break; fi
      done
      [ -n "$console" ] || { echo "nacos: no free console port in $(( port + 2000 ))-$(( port + 2100 ))" >&2; exit 1; }
    elif ! port_free "$console"; then
      echo "nacos: console port $console is already in use" >&2
      exit 1
    fi
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if [ "$(cat "$dir/rnacos.ports" 2>/dev/null)" != "$port $grpc $console" ]; then
      rm -rf "$dir/data"
    fi
    echo "$port $grpc $console" >"$dir/rnacos.ports"
    # rnacos reads a dotenv file (by default .env in its working directory and the ones
    # above it): give it ours, and the same settings in its environment (which wins).
    cat >"$dir/rnacos.env" <<EOF
RNACOS_HTTP_PORT=$port
RNACOS_GRPC_PORT=$grpc
RNACOS_HTTP_CONSOLE_PORT=$console
RNACOS_SDK_HOST=127.0.0.1
RNACOS_CONSOLE_HOST=127.0.0.1
RNACOS_RAFT_NODE_ADDR=127.0.0.1:$grpc
RNACOS_DATA_DIR=$dir/data
EOF
    # rnacos 0.8.8 has a start-up race: now and then (under load) its raft apply actor
    # panics on a message that arrives before it is wired, and from then on it
    # acknowledges every config publish and stores none. A start counts only when a
    # probe document can be written and read back; otherwise start again, empty.
    for attempt in 1 2 3; do
      launch
      if ready && probe_write; then
        echo "127.0.0.1:$port"
        exit 0
      fi
      echo "rnacos start $attempt on 127.0.0.1:$port (gRPC $grpc, console $console) failed; log:" >&2
      tail -20 "$dir/server.log" >&2
      stop_pidfile "$dir/rnacos.pid" rnacos >/dev/null
      rm -rf "$dir/data"
    done
    exit 1
    ;;
  stop)
    stop_pidfile "$dir/rnacos.pid" rnacos
    ;;
  *)
    echo "usage: $0 install | start [DIR] [PORT] | stop [DIR]" >&2
    exit 2
    ;;
esac
