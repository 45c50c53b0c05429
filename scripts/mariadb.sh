#!/usr/bin/env bash
# A throw-away MariaDB server for tests and local cluster runs (no system service).
#   scripts/mariadb.sh start [DIR] [PORT]   -> prints the server URL on stdout
#   scripts/mariadb.sh stop  [DIR]
# Needs apt package mariadb-server (binaries only; the system instance is not used).
set -euo pipefail

cmd=${1:-start}
dir=${2:-${FANONE_MARIADB_DIR:-/tmp/fanone-mariadb}}
port=${3:-${FANONE_MARIADB_PORT:-3307}}

find_bin() {
  for b in "$@"; do
    command -v "$b" 2>/dev/null && return 0
    [ -x "/usr/sbin/$b" ] && { echo "/usr/sbin/$b"; return 0; }
  done
  return 1
}

case "$cmd" in
  start)
    server=$(find_bin mariadbd mysqld) || { echo "mariadbd not found: apt-get install mariadb-server" >&2; exit 1; }
    installer=$(find_bin mariadb-install-db mysql_install_db) || { echo "mariadb-install-db not found" >&2; exit 1; }
    if [ -f "$dir/mariadbd.pid" ] && kill -0 "$(cat "$dir/mariadbd.pid")" 2>/dev/null; then
      echo "mysql://root@127.0.0.1:$port/mysql"
      exit 0
    fi
    if (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null; then
      echo "port $port is already in use" >&2
      exit 1
    fi
    rm -rf "$dir"
    mkdir -p "$dir/data"
    "$installer" --no-defaults --user=root --datadir="$dir/data" \
      --auth-root-authentication-method=normal --skip-test-db >"$dir/install.log" 2>&1 \
      || { cat "$dir/install.log" >&2; exit 1; }
    "$server" --no-defaults --user=root --datadir="$dir/data" --socket="$dir/sock" \
      --port="$port" --bind-address=127.0.0.1 --skip-log-bin --pid-file="$dir/mariadbd.pid" \
      --character-set-server=utf8mb4 --collation-server=utf8mb4_bin \
      --innodb-flush-log-at-trx-commit=2 --max-connections=500 \
      >"$dir/server.log" 2>&1 &
    for _ in $(seq 1 120); do
      if (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null; then
        echo "mysql://root@127.0.0.1:$port/mysql"
        exit 0
      fi
      sleep 0.5
    done
    echo "MariaDB did not start; log:" >&2
    tail -20 "$dir/server.log" >&2
    exit 1
    ;;
  stop)
    if [ -f "$dir/mariadbd.pid" ]; then
      pid=$(cat "$dir/mariadbd.pid")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    fi
    ;;
  *)
    echo "usage: $0 start|stop [DIR] [PORT]" >&2
    exit 2
    ;;
esac
