#!/usr/bin/env bash
# The whole local stack on free loopback ports, under one state dir.
#   scripts/stack.sh up     [DIR]  -> installs what is missing, starts MariaDB, etcd,
#                                     Nacos (rnacos), Redis and Milvus Lite, writes
#                                     DIR/env and prints it as `export ...` lines
#   scripts/stack.sh status [DIR]  -> each component up/down with its address
#   scripts/stack.sh down   [DIR]  -> stops what `up` started (by the pid files in DIR)
# FANONE_STACK_COMPONENTS="mysql etcd ..." limits `up` to some of them.
# DIR defaults to /tmp/fanone-stack (FANONE_STACK_DIR). Use it with
#   eval "$(scripts/stack.sh up)"    or    set -a; . /tmp/fanone-stack/env; set +a
# `up` is idempotent: a component already running is reused, not started twice. Ports
# are remembered in DIR/ports and reused by the next `up` while they are free.
# The servers: scripts/mariadb.sh, etcd.sh, nacos.sh, redis.sh, milvus.sh (one
# sub-directory of DIR each). The first `up` on a machine builds rnacos with cargo
# (15-50 minutes on 2 cores); apt packages need root.
set -euo pipefail

cmd=${1:-status}
dir=${2:-${FANONE_STACK_DIR:-/tmp/fanone-stack}}
scripts=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=ports.sh source-path=SCRIPTDIR
. "$scripts/ports.sh"

all_components="mysql etcd nacos redis milvus"
# FANONE_STACK_COMPONENTS picks a subset for `up` (status and down cover all)
components=${FANONE_STACK_COMPONENTS:-$all_components}
for c in $components; do
  case $c in
    mysql | etcd | nacos | redis | milvus) ;;
    *) echo "stack: unknown component $c (mysql etcd nacos redis milvus)" >&2; exit 2 ;;
  esac
done
want() { case " $components " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

# script, sub-directory, pid file, env name, URL form, port offsets that must be free too
script_of() { case $1 in mysql) echo mariadb.sh ;; *) echo "$1.sh" ;; esac; }
pidfile_of() {
  case $1 in
    mysql) echo "$dir/mysql/mariadbd.pid" ;;
    etcd) echo "$dir/etcd/etcd.pid" ;;
    nacos) echo "$dir/nacos/rnacos.pid" ;;
    redis) echo "$dir/redis/redis.pid" ;;
    milvus) echo "$dir/milvus/milvus.pid" ;;
  esac
}
var_of() {
  case $1 in
    mysql) echo FANONE_STACK_MYSQL_URL ;;
    etcd) echo FANONE_STACK_ETCD_URL ;;
    nacos) echo FANONE_STACK_NACOS_ADDR ;;
    redis) echo FANONE_STACK_REDIS_URL ;;
    milvus) echo FANONE_STACK_MILVUS_URL ;;
  esac
}
addr_of() {
  case $1 in
    mysql) echo "mysql://root@127.0.0.1:$2/mysql" ;;
    etcd) echo "http://127.0.0.1:$2" ;;
    nacos) echo "127.0.0.1:$2" ;;
    redis) echo "redis://127.0.0.1:$2" ;;
    milvus) echo "http://127.0.0.1:$2" ;;
  esac
}
# etcd's peer port is PORT+1 (or the next free one); rnacos needs PORT+1000 (gRPC, fixed)
# and its console goes to PORT+2000 (or the next free one)
offsets_of() { case $1 in etcd) echo 1 ;; nacos) echo "1000 2000" ;; *) echo ;; esac; }

saved_port() {
  if [ -f "$dir/ports" ]; then sed -n "s/^$1=//p" "$dir/ports" | tail -1; fi
}
running() {
  local f
  f=$(pidfile_of "$1")
  [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null
}

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }

install_missing() {
  local need=()
  if want mysql && ! have mariadbd; then need+=(mariadb-server); fi
  if want etcd && ! { have etcd && have etcdctl; }; then need+=(etcd-server etcd-client); fi
  if want redis && ! { have redis-server && have redis-cli; }; then need+=(redis-server redis-tools); fi
  if want milvus && { ! have python3 || ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; }; then
    need+=(python3 python3-venv)
  fi
  if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
      echo "stack: missing ${need[*]}: install them with apt-get as root" >&2
      exit 1
    fi
    echo "stack: apt-get install ${need[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
    # a package's postinst may start its system instance on the default port: ours
    # use other ports, so it is left alone
  fi
  if want nacos; then "$scripts/nacos.sh" install >/dev/null; fi
  if want milvus; then "$scripts/milvus.sh" install >/dev/null; fi
}

up() {
  install_missing
  mkdir -p "$dir"
  local c port offs off ok addr lines=() ports=()
  local -A port_of=() addr_of_c=()
  # what an earlier `up` with other components left running stays in env and ports
  for c in $all_components; do
    want "$c" && continue
    port=$(saved_port "$c")
    if [ -n "$port" ] && running "$c"; then
      port_of[$c]=$port
      addr_of_c[$c]=$(addr_of "$c" "$port")
    fi
  done
  for c in $components; do
    port=$(saved_port "$c")
    offs=$(offsets_of "$c")
    if ! running "$c"; then
      # reuse the last port when it (and its companions) are still free
      ok=0
      if [ -n "$port" ] && _port_pickable "$port"; then
        ok=1
        for off in $offs; do _port_pickable $(( port + off )) || ok=0; done
      fi
      if [ "$ok" = 1 ]; then
        FANONE_PORTS_TAKEN="$FANONE_PORTS_TAKEN $port"
        for off in $offs; do FANONE_PORTS_TAKEN="$FANONE_PORTS_TAKEN $(( port + off ))"; done
      else
        # shellcheck disable=SC2086 # offsets are separate words
        pick_port port $offs
      fi
      echo "stack: starting $c on 127.0.0.1:$port" >&2
    fi
    port_of[$c]=$port
    addr=$("$scripts/$(script_of "$c")" start "$dir/$c" "$port") || {
      echo "stack: $c did not start (log in $dir/$c/server.log); stopping the rest" >&2
      local k
      for k in $all_components; do
        [ -z "${port_of[$k]:-}" ] || ports+=("$k=${port_of[$k]}")
      done
      printf '%s\n' "${ports[@]}" >"$dir/ports"
      down
      exit 1
    }
    addr_of_c[$c]=$addr
  done
  for c in $all_components; do
    [ -n "${port_of[$c]:-}" ] || continue
    ports+=("$c=${port_of[$c]}")
    lines+=("$(var_of "$c")=${addr_of_c[$c]}")
  done
  printf '%s\n' "${ports[@]}" >"$dir/ports"
  printf '%s\n' "${lines[@]}" >"$dir/env.tmp"
  mv "$dir/env.tmp" "$dir/env"
  printf 'export %s\n' "${lines[@]}"
}

# exit status 0 when every component of the last `up` answers
status() {
  local c port state all=0
  for c in $all_components; do
    port=$(saved_port "$c")
    if running "$c" && [ -n "$port" ] && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      state=up
    else
      state=down
      [ -z "$port" ] || all=1
    fi
    printf '%-7s %-5s %s\n' "$c" "$state" "${port:+$(addr_of "$c" "$port")}"
  done
  return "$all"
}

down() {
  local c
  for c in $all_components; do
    if [ -d "$dir/$c" ]; then
      "$scripts/$(script_of "$c")" stop "$dir/$c" >/dev/null 2>&1 || true
      if running "$c"; then
        echo "stack: $c (pid $(cat "$(pidfile_of "$c")")) is still running" >&2
      fi
    fi
  done
  rm -f "$dir/env"
}

case "$cmd" in
  up) up ;;
  down) down ;;
  status) status ;;
  *)
    echo "usage: $0 up|down|status [DIR]" >&2
    exit 2
    ;;
esac
