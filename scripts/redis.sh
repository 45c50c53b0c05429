#!/usr/bin/env bash
# A throw-away Redis server (loopback only) for tests and local cluster runs.
#   scripts/redis.sh install                     -> installs apt redis-server if missing
#   scripts/redis.sh start [DIR] [PORT] [--aof]  -> prints the server URL on stdout
#   scripts/redis.sh stop  [DIR]
# Debian's redis-server 7.0, daemonized with its pid file, log and (with --aof) its
# append-only files in DIR. Without --aof nothing is persisted (--save "" --appendonly
# no); with --aof every write goes to DIR/appendonlydir and survives a restart on DIR.
# The package's own system instance (6379) is never used.
set -euo pipefail

cmd=${1:-start}
dir=${2:-${FANONE_REDIS_DIR:-/tmp/fanone-redis}}
port=${3:-${FANONE_REDIS_PORT:-26379}}
aof=no
if [ "${4:-}" = --aof ]; then
  aof=yes
elif [ -n "${4:-}" ]; then
  echo "redis: unknown option ${4}" >&2
  exit 2
fi
# shellcheck source=ports.sh source-path=SCRIPTDIR
. "$(dirname "$0")/ports.sh"


install() {
  if find_bin redis-server >/dev/null && find_bin redis-cli >/dev/null; then
    return 0
  fi
  if [ "$(id -u)" != 0 ]; then
    echo "redis-server not found: run as root or apt-get install redis-server" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends redis-server redis-tools >&2
  find_bin redis-server >/dev/null || { echo "redis-server installed but missing" >&2; exit 1; }
}

running() { [ -f "$dir/redis.pid" ] && kill -0 "$(cat "$dir/redis.pid")" 2>/dev/null; }

ping() {
  if command -v redis-cli >/dev/null 2>&1; then
    [ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ]
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
  fi
}

case "$cmd" in
  install)
    install
    ;;
  start)
    server=$(find_bin redis-server) || { echo "redis-server not found: scripts/redis.sh install (apt redis-server)" >&2; exit 1; }
    if running; then
      echo "redis://127.0.0.1:$(cat "$dir/redis.port")"
      exit 0
    fi
    port_free "$port" || { echo "redis: port $port is already in use" >&2; exit 1; }
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    rm -f "$dir/redis.pid"
    echo "$port" >"$dir/redis.port"
    "$server" --daemonize yes --bind 127.0.0.1 --port "$port" --dir "$dir" \
      --pidfile "$dir/redis.pid" --logfile "$dir/server.log" \
      --save "" --appendonly "$aof" </dev/null >/dev/null
    for _ in $(seq 1 80); do
      if running && ping "$port"; then
        echo "redis://127.0.0.1:$port"
        exit 0
      fi
      sleep 0.25
    done
    echo "Redis did not start on port $port; log:" >&2
    tail -20 "$dir/server.log" >&2
    exit 1
    ;;
  stop)
    stop_pidfile "$dir/redis.pid" redis-server
    ;;
  *)
    echo "usage: $0 install | start [DIR] [PORT] [--aof] | stop [DIR]" >&2
    exit 2
    ;;
esac
