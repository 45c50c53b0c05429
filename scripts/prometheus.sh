#!/usr/bin/env bash
# Prometheus (Debian package) scraping a FanOne run, with the project's rules.
#   scripts/prometheus.sh check                  -> promtool: config, rules and rule tests
#   scripts/prometheus.sh start SD_URL [DIR]     -> prints http://127.0.0.1:PORT
#   scripts/prometheus.sh stop [DIR]
# SD_URL is any FanOne admin listener's /sd/prometheus (HTTP service discovery of
# every instance in the registry), e.g. http://127.0.0.1:PORT/sd/prometheus.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cmd=${1:-}
# shellcheck source=ports.sh source-path=SCRIPTDIR
. "$here/ports.sh"

config() { # SD_URL OUT
  sed -e "s|@RULES@|$here/prometheus/rules.yml|" -e "s|@SD_URL@|$1|" \
    "$here/prometheus/prometheus.yml.in" >"$2"
}

case "$cmd" in
  check)
    promtool=$(find_bin promtool) || { echo "promtool not found: apt-get install prometheus" >&2; exit 1; }
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    config "http://127.0.0.1:1/sd/prometheus" "$tmp/prometheus.yml"
    "$promtool" check config "$tmp/prometheus.yml"
    "$promtool" check rules "$here/prometheus/rules.yml"
    (cd "$here/prometheus" && "$promtool" test rules rules.test.yml)
    ;;
  start)
    sd=${2:?usage: $0 start SD_URL [DIR]}
    dir=${3:-${FANONE_PROMETHEUS_DIR:-/tmp/fanone-prometheus}}
    bin=$(find_bin prometheus) || { echo "prometheus not found: apt-get install prometheus" >&2; exit 1; }
    if [ -f "$dir/prometheus.pid" ] && kill -0 "$(cat "$dir/prometheus.pid")" 2>/dev/null; then
      cat "$dir/url"
      exit 0
    fi
    mkdir -p "$dir/data"
    pick_port port
    config "$sd" "$dir/prometheus.yml"
    "$bin" --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
      --web.listen-address="127.0.0.1:$port" --log.level=warn </dev/null >"$dir/server.log" 2>&1 &
    echo $! >"$dir/prometheus.pid"
    echo "http://127.0.0.1:$port" >"$dir/url"
    for _ in $(seq 1 80); do
      if curl -sf --max-time 2 "http://127.0.0.1:$port/-/ready" >/dev/null 2>&1; then
        cat "$dir/url"
        exit 0
      fi
      sleep 0.25
    done
    echo "prometheus did not start on 127.0.0.1:$port; log:" >&2
    tail -20 "$dir/server.log" >&2
    exit 1
    ;;
  stop)
    dir=${2:-${FANONE_PROMETHEUS_DIR:-/tmp/fanone-prometheus}}
    stop_pidfile "$dir/prometheus.pid" prometheus
    ;;
  *)
    echo "usage: $0 check | start SD_URL [DIR] | stop [DIR]" >&2
    exit 2
    ;;
esac
