#!/usr/bin/env bash
# A throw-away etcd (single member, loopback only) for tests and local cluster runs.
#   scripts/etcd.sh install                  -> installs apt etcd-server etcd-client if missing
#   scripts/etcd.sh start [DIR] [PORT]       -> prints the client URL on stdout
#   scripts/etcd.sh stop  [DIR]
# The server is Debian's etcd-server 3.4 (v3 gRPC API: leases, watch, txn). The peer
# port is PORT+1 when free, else the next free port above it (FANONE_ETCD_PEER_PORT
# forces one). Data, log and pid file live in DIR; the data is kept across a restart
# on the same ports and wiped otherwise. The package's own system instance (2379) is
# never used: if its postinst started one, it is left alone.
set -euo pipefail

cmd=${1:-start}
dir=${2:-${FANONE_ETCD_DIR:-/tmp/fanone-etcd}}
port=${3:-${FANONE_ETCD_PORT:-23790}}
# shellcheck source=ports.sh source-path=SCRIPTDIR
. "$(dirname "$0")/ports.sh"


install() {
  if find_bin etcd >/dev/null && find_bin etcdctl >/dev/null; then
    return 0
  fi
  if [ "$(id -u)" != 0 ]; then
    echo "etcd not found: run as root or apt-get install etcd-server etcd-client" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends etcd-server etcd-client >&2
  find_bin etcd >/dev/null || { echo "etcd-server installed but etcd is missing" >&2; exit 1; }
}

running() { [ -f "$dir/etcd.pid" ] && kill -0 "$(cat "$dir/etcd.pid")" 2>/dev/null; }

case "$cmd" in
  install)
    install
    ;;
  start)
    server=$(find_bin etcd) || { echo "etcd not found: scripts/etcd.sh install (apt etcd-server)" >&2; exit 1; }
    if running; then
      echo "http://127.0.0.1:$(cut -d' ' -f1 "$dir/etcd.ports")"
      exit 0
    fi
    port_free "$port" || { echo "etcd: port $port is already in use" >&2; exit 1; }
    peer=${FANONE_ETCD_PEER_PORT:-}
    if [ -z "$peer" ]; then
      for p in $(seq $(( port + 1 )) $(( port + 100 ))); do
        if port_free "$p"; then peer=$p; break; fi
      done
      [ -n "$peer" ] || { echo "etcd: no free peer port in $(( port + 1 ))-$(( port + 100 ))" >&2; exit 1; }
    elif ! port_free "$peer"; then
      echo "etcd: peer port $peer is already in use" >&2
      exit 1
    fi
    mkdir -p "$dir"
    if [ "$(cat "$dir/etcd.ports" 2>/dev/null)" != "$port $peer" ]; then
      rm -rf "$dir/data"
    fi
    echo "$port $peer" >"$dir/etcd.ports"
    client_url="http://127.0.0.1:$port"
    peer_url="http://127.0.0.1:$peer"
    "$server" --name fanone --data-dir "$dir/data" \
      --listen-client-urls "$client_url" --advertise-client-urls "$client_url" \
      --listen-peer-urls "$peer_url" --initial-advertise-peer-urls "$peer_url" \
      --initial-cluster "fanone=$peer_url" --initial-cluster-state new \
      --initial-cluster-token "fanone-$port" \
      --logger zap --log-outputs stderr \
      </dev/null >"$dir/server.log" 2>&1 &
    echo $! >"$dir/etcd.pid"
    for _ in $(seq 1 120); do
      if curl -sf --max-time 2 "$client_url/health" 2>/dev/null | grep -q '"health":"true"'; then
        echo "$client_url"
        exit 0
      fi
      running || break
      sleep 0.25
    done
    echo "etcd did not start on $client_url; log:" >&2
    tail -20 "$dir/server.log" >&2
    exit 1
    ;;
  stop)
    stop_pidfile "$dir/etcd.pid" etcd
    ;;
  *)
    echo "usage: $0 install | start [DIR] [PORT] | stop [DIR]" >&2
    exit 2
    ;;
esac
