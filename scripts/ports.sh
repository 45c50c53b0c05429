#!/usr/bin/env bash
# Free loopback TCP ports for throw-away servers (sourced, not run).
#   . scripts/ports.sh
#   port_free PORT                 -> status 0 when nothing listens on PORT
#   find_bin NAME...               -> path of the first NAME found (PATH or /usr/sbin)
#   stop_pidfile FILE COMM         -> stop the process in FILE if its name starts
#                                     with COMM (pids are reused after a crash)
#   pick_port VAR [OFFSET...]      -> sets VAR to a port P such that P and every
#                                     P+OFFSET are free and not handed out before
#                                     by this shell (FANONE_PORTS_TAKEN)
# Ports are drawn from 20000-30999, below Linux's default ephemeral range
# (32768-60999) so outgoing connections do not race us for them; offsets up to
# +1000 (Nacos gRPC) stay below it too.

# Ports this shell already handed out (space separated), so that two picks made
# before either server starts never collide. Not exported: port_free ignores it.
FANONE_PORTS_TAKEN=${FANONE_PORTS_TAKEN:-}

port_free() {
  local p=$1
  [ "$p" -ge 1 ] && [ "$p" -le 65535 ] || return 1
  # something accepting connections on loopback (this also covers 0.0.0.0 listeners)
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    return 1
  fi
  # a listener bound to another address only
  if command -v ss >/dev/null 2>&1 && [ -n "$(ss -Htln "sport = :$p" 2>/dev/null)" ]; then
    return 1
  fi
  return 0
}

_port_pickable() {
  case " $FANONE_PORTS_TAKEN " in *" $1 "*) return 1 ;; esac
  port_free "$1"
}

pick_port() {
  local _var=$1 _p _off _ok _i
  shift
  for _i in $(seq 1 200); do
    _p=$(( 20000 + (RANDOM * 32768 + RANDOM) % 11000 ))
    _ok=1
    _port_pickable "$_p" || _ok=0
    for _off in "$@"; do
      [ "$_ok" = 1 ] || break
      _port_pickable $(( _p + _off )) || _ok=0
    done
    if [ "$_ok" = 1 ]; then
      FANONE_PORTS_TAKEN="$FANONE_PORTS_TAKEN $_p"
      for _off in "$@"; do FANONE_PORTS_TAKEN="$FANONE_PORTS_TAKEN $(( _p + _off ))"; done
      printf -v "$_var" '%s' "$_p"
      return 0
    fi
  done
  echo "no free port found in 20000-30999 after $_i tries" >&2
  return 1
}

find_bin() {
  local b
  for b in "$@"; do
    command -v "$b" 2>/dev/null && return 0
    [ -x "/usr/sbin/$b" ] && { echo "/usr/sbin/$b"; return 0; }
  done
  return 1
}

stop_pidfile() {
  local file=$1 comm=$2 pid
  [ -f "$file" ] || return 0
  pid=$(cat "$file")
  case "$(cat "/proc/$pid/comm" 2>/dev/null)" in
    "$comm"*)
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      kill -9 "$pid" 2>/dev/null || true
      ;;
  esac
  rm -f "$file"
}
