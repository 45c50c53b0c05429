#!/usr/bin/env bash
# What observability costs on GET /user/info (release `fanone standalone`, one run,
# each configuration on a fresh instance, in turn):
#   off       metrics off, no span export (trace ids still flow)
#   metrics   the default: Prometheus metrics on, no span export
#   trace1    metrics + spans exported to Jaeger, 1 % of traces sampled
#   trace100  metrics + spans exported to Jaeger, every trace sampled
#   bench/http/telemetry_overhead.sh [DURATION] [CONNECTIONS]
# Needs Jaeger (scripts/jaeger.sh install); started and stopped here.
FANONE_BENCH_NO_START=1 source "$(dirname "$0")/lib.sh"
duration=${1:-15s}
conns=${2:-64}
jaeger_dir=$(mktemp -d)
read -r otlp _query < <(scripts/jaeger.sh start "$jaeger_dir")
trap 'bench_exit; scripts/jaeger.sh stop "$jaeger_dir"; rm -rf "$jaeger_dir"' EXIT
endpoint=FANONE__TELEMETRY__TRACE_ENDPOINT=http://127.0.0.1:$otlp
header "-t2 -c$conns -d$duration"
for config in off metrics trace1 trace100; do
  case $config in
    off) start_fanone FANONE__TELEMETRY__METRICS=false ;;
    metrics) start_fanone ;;
    trace1) start_fanone "$endpoint" FANONE__TELEMETRY__TRACE_SAMPLE_RATIO=0.01 ;;
    trace100) start_fanone "$endpoint" FANONE__TELEMETRY__TRACE_SAMPLE_RATIO=1 ;;
  esac
  token=$(login bench)
  expect_ok "$gw/user/info" -H "Access-Token: $token"
  # warm up, then measure
  wrk -t2 -c"$conns" -d3s -H "Access-Token: $token" "$gw/user/info" >/dev/null
  echo "## $config: GET /user/info with Access-Token"
  wrk -t2 -c"$conns" -d"$duration" --latency -H "Access-Token: $token" "$gw/user/info" \
    | grep -E "Requests/sec|Latency |  50%|  99%|Non-2xx|Socket errors"
done
