#!/usr/bin/env bash
# A throw-away Milvus server for tests, benchmarks and local cluster runs.
#   scripts/milvus.sh install                -> prints the milvus_lite package dir
#   scripts/milvus.sh start [DIR] [PORT]     -> prints the server URL on stdout
#   scripts/milvus.sh stop  [DIR]
# The server is PyPI `milvus-lite` 2.5.1: its wheel ships the real Milvus C++ engine as
# one binary (`milvus_lite/lib/milvus`) with its shared libraries beside it. We run that
# binary directly on a TCP address; Python is only needed to install the wheel, into a
# venv cached under ~/.cache/fanone/tools (FANONE_TOOLS_DIR overrides the parent dir).
set -euo pipefail

version=2.5.1
cmd=${1:-start}
dir=${2:-${FANONE_MILVUS_DIR:-/tmp/fanone-milvus}}
port=${3:-${FANONE_MILVUS_PORT:-19530}}
tools=${FANONE_TOOLS_DIR:-${HOME:-/root}/.cache/fanone/tools}
venv="$tools/milvus-lite-$version"

# The installed package directory (the one holding lib/milvus), or nothing.
pkg_dir() {
  local d
  for d in "$venv"/lib/python3*/site-packages/milvus_lite; do
    [ -x "$d/lib/milvus" ] && { echo "$d"; return 0; }
  done
  return 1
}

install() {
  pkg_dir && return 0
  local py
  py=$(command -v python3) || { echo "python3 not found: apt-get install python3 python3-venv" >&2; exit 1; }
  mkdir -p "$tools"
  rm -rf "$venv.tmp"
  "$py" -m venv "$venv.tmp" >&2
  "$venv.tmp/bin/pip" install --quiet --disable-pip-version-check "milvus-lite==$version" >&2
  rm -rf "$venv"
  # venvs hard-code their path in scripts; we only use the package's files, so a move is fine
  mv "$venv.tmp" "$venv"
  pkg_dir || { echo "milvus-lite $version installed but lib/milvus is missing" >&2; exit 1; }
}

port_open() { (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; }

case "$cmd" in
  install)
    install
    ;;
  start)
    pkg=$(install)
    if [ -f "$dir/milvus.pid" ] && kill -0 "$(cat "$dir/milvus.pid")" 2>/dev/null; then
      echo "http://127.0.0.1:$(cat "$dir/milvus.port")"
      exit 0
    fi
    # Milvus Lite does not fail when the port is taken (several instances bind it): check.
    if port_open "$port"; then
      echo "port $port is already in use" >&2
      exit 1
    fi
    mkdir -p "$dir"
    echo "$port" >"$dir/milvus.port"
    (
      cd "$dir"
      LD_LIBRARY_PATH="$pkg/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
        exec "$pkg/lib/milvus" "$dir/milvus.db" "127.0.0.1:$port" ERROR
    ) >"$dir/server.log" 2>&1 &
    echo $! >"$dir/milvus.pid"
    for _ in $(seq 1 120); do
      if port_open "$port"; then
        echo "http://127.0.0.1:$port"
        exit 0
      fi
      kill -0 "$(cat "$dir/milvus.pid")" 2>/dev/null || break
      sleep 0.25
    done
    echo "Milvus Lite did not start; log:" >&2
    tail -20 "$dir/server.log" >&2
    exit 1
    ;;
  stop)
    if [ -f "$dir/milvus.pid" ]; then
      pid=$(cat "$dir/milvus.pid")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      kill -9 "$pid" 2>/dev/null || true
      rm -f "$dir/milvus.pid"
    fi
    ;;
  *)
    echo "usage: $0 install | start [DIR] [PORT] | stop [DIR]" >&2
    exit 2
    ;;
esac
