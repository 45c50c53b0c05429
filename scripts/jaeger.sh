#!/usr/bin/env bash
# A throw-away Jaeger (v2 all-in-one: OTLP receiver, in-memory storage, query API)
# on loopback, for the trace test and local cluster runs.
#   scripts/jaeger.sh install              -> builds jaeger once, prints the binary path
#   scripts/jaeger.sh start [DIR] [PORT]   -> prints "OTLP_PORT QUERY_PORT": OTLP/gRPC
#                                             on 127.0.0.1:PORT, query API + UI on
#                                             127.0.0.1:QUERY_PORT (/api/traces ...)
#   scripts/jaeger.sh stop  [DIR]
# Jaeger comes from the Go module proxy: a small module under the tools cache
# (~/.cache/fanone/tools, FANONE_TOOLS_DIR overrides) requires
# github.com/jaegertracing/jaeger as a tool at a pinned version and `go build`s it
# (10-25 min and ~480 modules the first time on 2 cores; nothing afterwards). A
# `go install` build serves a placeholder UI page; the JSON API the tests read works.
set -euo pipefail

version=v1.76.0 # the module's v1 tags ship the v2 binary (cmd/jaeger)
cmd=${1:-start}
dir=${2:-${FANONE_JAEGER_DIR:-/tmp/fanone-jaeger}}
port=${3:-${FANONE_JAEGER_PORT:-}}
tools=${FANONE_TOOLS_DIR:-${HOME:-/root}/.cache/fanone/tools}
root="$tools/jaeger-$version"
bin="$root/bin/jaeger"
# shellcheck source=ports.sh source-path=SCRIPTDIR
. "$(dirname "$0")/ports.sh"

install() {
  if [ -x "$bin" ]; then
    echo "$bin"
    return 0
  fi
  local go
  go=$(command -v go) || { echo "go not found: jaeger is built from the Go module proxy" >&2; exit 1; }
  mkdir -p "$tools"
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$root.lock"
    flock 9
    if [ -x "$bin" ]; then
      echo "$bin"
      return 0
    fi
  fi
  rm -rf "$root.tmp"
  mkdir -p "$root.tmp/src" "$root.tmp/bin"
  echo "building jaeger $version from the Go module proxy (10-25 min the first time)..." >&2
  (
    cd "$root.tmp/src"
    "$go" mod init fanone.local/jaeger >/dev/null 2>&1
    "$go" get -tool "github.com/jaegertracing/jaeger/cmd/jaeger@$version" >&2
    "$go" build -o "$root.tmp/bin/jaeger" github.com/jaegertracing/jaeger/cmd/jaeger >&2
  ) || { echo "building jaeger $version failed" >&2; exit 1; }
  rm -rf "$root"
  mv "$root.tmp" "$root"
  echo "$bin"
}

running() { [ -f "$dir/jaeger.pid" ] && kill -0 "$(cat "$dir/jaeger.pid")" 2>/dev/null; }

case "$cmd" in
  install)
    install
    ;;
  start)
    [ -x "$bin" ] || { echo "jaeger not built: scripts/jaeger.sh install" >&2; exit 1; }
    if running; then
      cat "$dir/jaeger.ports"
      exit 0
    fi
    # OTLP/gRPC = PORT, OTLP/HTTP = +1, query HTTP = +2, query gRPC = +3
    if [ -z "$port" ]; then
      pick_port port 1 2 3
    fi
    for p in "$port" $(( port + 1 )) $(( port + 2 )) $(( port + 3 )); do
      port_free "$p" || { echo "jaeger: port $p is already in use" >&2; exit 1; }
    done
    mkdir -p "$dir"
    cat >"$dir/jaeger.yaml" <<EOF
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
extensions:
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:$(( port + 2 ))
    grpc:
      endpoint: 127.0.0.1:$(( port + 3 ))
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 100000
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:$port
      http:
        endpoint: 127.0.0.1:$(( port + 1 ))
processors:
  batch:
    timeout: 200ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
EOF
    "$bin" --config "$dir/jaeger.yaml" </dev/null >"$dir/server.log" 2>&1 &
    echo $! >"$dir/jaeger.pid"
    echo "$port $(( port + 2 ))" >"$dir/jaeger.ports"
    for _ in $(seq 1 120); do
      if curl -sf --max-time 2 "http://127.0.0.1:$(( port + 2 ))/api/services" >/dev/null 2>&1 \
        && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        cat "$dir/jaeger.ports"
        exit 0
      fi
      running || break
      sleep 0.25
    done
    echo "jaeger did not start (OTLP 127.0.0.1:$port, query $(( port + 2 ))); log:" >&2
    tail -20 "$dir/server.log" >&2
    exit 1
    ;;
  stop)
    stop_pidfile "$dir/jaeger.pid" jaeger
    ;;
  *)
    echo "usage: $0 install | start [DIR] [PORT] | stop [DIR]" >&2
    exit 2
    ;;
esac
