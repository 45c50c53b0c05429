#!/usr/bin/env bash
# FanOne in cluster mode on this machine: 2 replicas of every service and 2 gateways,
# found through a real registry, on the servers of scripts/stack.sh.
#   scripts/cluster.sh up [etcd|nacos]   start (after `scripts/stack.sh up`)
#   scripts/cluster.sh status            processes and what the registry lists
#   scripts/cluster.sh kill SERVICE      SIGKILL one replica of SERVICE (a crash)
#   scripts/cluster.sh down              stop everything this script started
# State (pids, logs, secrets, objects) lives in $FANONE_CLUSTER_DIR (default
# /tmp/fanone-cluster); the stack's addresses are read from $FANONE_STACK_DIR/env.
# The binary is target/release/fanone (built if missing; FANONE_BIN overrides).
# FANONE_CLUSTER_SHARDS=NxM splits the growing tables of interaction, social and chat
# over N databases (fanone_<svc>, fanone_<svc>_1, ...) x M tables (docs/data.md).
set -euo pipefail
cd "$(dirname "$0")/.."

cmd=${1:-up}
dir=${FANONE_CLUSTER_DIR:-/tmp/fanone-cluster}
stack=${FANONE_STACK_DIR:-/tmp/fanone-stack}
services=(user video interaction social chat image)
replicas=${FANONE_REPLICAS:-2}

load_stack() {
  [ -f "$stack/env" ] || { echo "no $stack/env: run scripts/stack.sh up first" >&2; exit 1; }
  # shellcheck disable=SC1091
  set -a; . "$stack/env"; set +a
}

mysql_host_port() { # mysql://root@127.0.0.1:3307/mysql -> 127.0.0.1 3307
  local hp=${FANONE_STACK_MYSQL_URL#*@}; hp=${hp%%/*}
  echo "${hp%:*} ${hp#*:}"
}

registry_list() { # service -> "addr worker_id" lines
  local svc=$1
  case "$(cat "$dir/backend")" in
    etcd)
      ETCDCTL_API=3 etcdctl --endpoints="$FANONE_STACK_ETCD_URL" get --prefix "/fanone/services/$svc/" --print-value-only 2>/dev/null \
        | python3 -c 'import sys,json; [print(j["addr"], j["meta"].get("worker_id","-")) for j in map(json.loads, filter(None, sys.stdin.read().split("\n")))]'
      ;;
    nacos)
      curl -sf "http://$FANONE_STACK_NACOS_ADDR/nacos/v1/ns/instance/list?serviceName=$svc&namespaceId=fanone&groupName=DEFAULT_GROUP" \
        | python3 -c 'import sys,json; [print(f"{h[\"ip\"]}:{h[\"port\"]}", h.get("metadata",{}).get("worker_id","-")) for h in json.load(sys.stdin).get("hosts",[])]'
      ;;
  esac
}

start_one() { # name subcommand
  local name=$1 sub=$2
  local log="$dir/logs/$name.log"
  "$bin" "$sub" >"$log.out" 2>"$log" &
  echo $! >"$dir/pids/$name"
  for _ in $(seq 1 600); do
    if grep -q '^FANONE_READY' "$log.out" 2>/dev/null; then
      echo "  $name: $(grep '^FANONE_READY' "$log.out" | cut -d' ' -f2-)"
      return 0
    fi
    kill -0 "$(cat "$dir/pids/$name")" 2>/dev/null || { echo "$name exited:" >&2; tail -20 "$log" >&2; exit 1; }
    sleep 0.1
  done
  echo "$name did not become ready" >&2; tail -20 "$log" >&2; exit 1
}

case "$cmd" in
  up)
    backend=${2:-etcd}
    load_stack
    bin=${FANONE_BIN:-target/release/fanone}
    [ -x "$bin" ] || cargo build --release --bin fanone
    mkdir -p "$dir/pids" "$dir/logs" "$dir/objects"
    chmod 700 "$dir"
    echo "$backend" >"$dir/backend"
    if [ ! -f "$dir/secrets.env" ]; then
      umask 077
      {
        echo "FANONE__AUTH__JWT_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
        echo "FANONE__RPC__INTERNAL_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
      } >"$dir/secrets.env"
    fi
    set -a; . "$dir/secrets.env"; set +a
    read -r host port < <(mysql_host_port)
    base=${FANONE_STACK_MYSQL_URL%/*}
    for db in "${services[@]}" events; do
      mariadb -h"$host" -P"$port" -uroot -e \
        "CREATE DATABASE IF NOT EXISTS fanone_$db CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
    done
    for s in "${services[@]}"; do
      export "FANONE__SERVICES__${s^^}__DATABASE_URL=$base/fanone_$s"
      export "FANONE__SERVICES__${s^^}__ADDR=127.0.0.1:0"
    done
    shards=${FANONE_CLUSTER_SHARDS:-1x1}
    [[ $shards =~ ^([1-9][0-9]*)x([1-9][0-9]*)$ ]] || { echo "FANONE_CLUSTER_SHARDS must be NxM" >&2; exit 2; }
    nd=${BASH_REMATCH[1]}
    export FANONE__SERVICES__INTERACTION__SHARD_TABLES=${BASH_REMATCH[2]}
    export FANONE__SERVICES__SOCIAL__SHARD_TABLES=${BASH_REMATCH[2]}
    export FANONE__SERVICES__CHAT__SHARD_TABLES=${BASH_REMATCH[2]}
    for s in interaction social chat; do
      list=""
      for i in $(seq 1 $((nd - 1))); do
        mariadb -h"$host" -P"$port" -uroot -e \
          "CREATE DATABASE IF NOT EXISTS fanone_${s}_$i CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
        list="$list${list:+, }\"$base/fanone_${s}_$i\""
      done
      export "FANONE__SERVICES__${s^^}__SHARD_DATABASE_URLS=[$list]"
    done
    export FANONE__EVENTS__DATABASE_URL="$base/fanone_events"
    export FANONE__STORAGE__DIR="$dir/objects"
    export FANONE__DATA_DIR="$dir"
    export FANONE__IMAGE__MILVUS_URL="${FANONE_STACK_MILVUS_URL:-}"
    # Redis: the services' read cache and the gateways' chat relay (none = both off)
    export FANONE__REDIS__URL="${FANONE_STACK_REDIS_URL:-}"
    export FANONE__REGISTRY__BACKEND="$backend"
    case "$backend" in
      etcd) export FANONE__REGISTRY__ENDPOINTS="$FANONE_STACK_ETCD_URL" ;;
      nacos) export FANONE__REGISTRY__ENDPOINTS="$FANONE_STACK_NACOS_ADDR" ;;
      *) echo "registry must be etcd or nacos" >&2; exit 2 ;;
    esac
    FANONE__TELEMETRY__LOG=warn "$bin" migrate >/dev/null
    echo "== FanOne cluster on $backend ($replicas replicas of each service, growing tables $shards)"
    for s in "${services[@]}"; do
      for r in $(seq 1 "$replicas"); do start_one "$s-$r" "$s"; done
    done
    for r in $(seq 1 "$replicas"); do
      FANONE__GATEWAY__ADDR="127.0.0.1:$((10000 + r))" start_one "gateway-$r" gateway
    done
    echo "gateways: http://127.0.0.1:10001 http://127.0.0.1:10002 (objects shared in $dir/objects)"
    ;;
  status)
    load_stack
    [ -d "$dir/pids" ] || { echo "not running"; exit 0; }
    for f in "$dir"/pids/*; do
      n=$(basename "$f")
      if kill -0 "$(cat "$f")" 2>/dev/null; then echo "  up    $n (pid $(cat "$f"))"; else echo "  down  $n"; fi
    done
    echo "== registry ($(cat "$dir/backend")): instances and worker ids"
    for s in "${services[@]}" gateway; do
      registry_list "$s" | sed "s/^/  $s /"
    done
    ;;
  kill)
    svc=${2:?service}
    f=$(ls "$dir"/pids/"$svc"-* 2>/dev/null | head -1)
    [ -n "$f" ] || { echo "no running $svc" >&2; exit 1; }
    kill -9 "$(cat "$f")" && echo "killed $(basename "$f")" && rm -f "$f"
    ;;
  down)
    for f in "$dir"/pids/*; do
      [ -f "$f" ] || continue
      kill -TERM "$(cat "$f")" 2>/dev/null || true
    done
    for f in "$dir"/pids/*; do
      [ -f "$f" ] || continue
      for _ in $(seq 1 80); do kill -0 "$(cat "$f")" 2>/dev/null || break; sleep 0.5; done
      rm -f "$f"
    done
    echo "stopped"
    ;;
  *)
    echo "usage: $0 up [etcd|nacos] | status | kill SERVICE | down" >&2
    exit 2
    ;;
esac
