#!/usr/bin/env bash
# Kitex vs Volo: the same Thrift service (idl/echo.thrift) served by a Kitex server
# (Go) and a Volo server (Rust), loaded by a Go client (Kitex) and a Rust client
# (Volo) over long connections: the connection pool, and multiplexed connections
# (mux) where both ends support it. Server on one CPU, client on another (taskset),
# warm-up, then a fixed measured window. Results: CSV, then PNG charts drawn from it.
#
#   bench/kitex-vs-volo/run.sh            # the whole matrix (~20 min), into docs/kitex-vs-volo/
#   bench/kitex-vs-volo/run.sh --quick    # 1 KB echo + MGetUsers at 16 and 256 callers (< 5 min)
#   bench/kitex-vs-volo/run.sh --smoke    # a few seconds of everything: the harness's test
#   options: --out DIR (results.csv and the PNGs), --no-charts
#   environment: FANONE_BENCH_SERVER_CPU (0), FANONE_BENCH_CLIENT_CPU (1),
#                FANONE_BENCH_PROFILE (release; the smoke run uses debug),
#                FANONE_BENCH_WARMUP / FANONE_BENCH_DURATION (seconds per point)
#
# Builds: the Go side with scripts/kitex.sh gen + go build, the Rust side (its own
# cargo workspace, bench/kitex-vs-volo/rust) in the main target dir
# (${CARGO_TARGET_DIR:-target}, where it reuses the main build's dependencies);
# charts with matplotlib in a venv cached under ~/.cache/fanone/tools.
# Every row must have calls > 0 and no errors, or the run fails.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"

mode=full out="" charts=1
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) mode=quick ;;
    --smoke) mode=smoke ;;
    --out) out=$2; shift ;;
    --no-charts) charts=0 ;;
    *) echo "usage: $0 [--quick|--smoke] [--out DIR] [--no-charts]" >&2; exit 2 ;;
  esac
  shift
done

case "$mode" in
  full)
    workloads="echo:128 echo:1024 echo:16384 mget:0"
    concurrency="16 64 256 1000"
    warmup=2 duration=8
    out=${out:-docs/kitex-vs-volo}
    profile=${FANONE_BENCH_PROFILE:-release}
    ;;
  quick)
    workloads="echo:1024 mget:0"
    concurrency="16 256"
    warmup=1 duration=3
    out=${out:-build/kitex-vs-volo/quick}
    profile=${FANONE_BENCH_PROFILE:-release}
    ;;
  smoke)
    workloads="echo:128 mget:0"
    concurrency="4"
    warmup=0.5 duration=1
    out=${out:-build/kitex-vs-volo/smoke}
    profile=${FANONE_BENCH_PROFILE:-debug}
    ;;
esac
warmup=${FANONE_BENCH_WARMUP:-$warmup}
duration=${FANONE_BENCH_DURATION:-$duration}
# server, client, transport mode: every pair, over the pool and multiplexed
pairs="kitex:go:pool kitex:rust:pool volo:go:pool volo:rust:pool kitex:go:mux kitex:rust:mux volo:go:mux volo:rust:mux"

bin=build/kitex-vs-volo/bin
target=${CARGO_TARGET_DIR:-$repo/target}
mkdir -p "$bin" "$out"

echo "== build: Go (Kitex server and client)" >&2
"$repo/scripts/kitex.sh" gen "$here/go" "$here/idl/echo.thrift"
(cd "$here/go" && go build -buildvcs=false -mod=readonly -o "$repo/$bin/" ./kitex-server ./kitex-client)
echo "== build: Rust (Volo server and client, $profile)" >&2
cargo_flags=()
[ "$profile" = release ] && cargo_flags+=(--release)
CARGO_TARGET_DIR=$target cargo build --quiet "${cargo_flags[@]}" \
  --manifest-path "$here/rust/Cargo.toml" --bins
cp "$target/$profile/volo-server" "$target/$profile/volo-client" "$bin/"

# pinning: server and client each on their own CPU when the machine has two
server_cpu=${FANONE_BENCH_SERVER_CPU:-0}
client_cpu=${FANONE_BENCH_CLIENT_CPU:-1}
pin_server=() pin_client=()
if command -v taskset >/dev/null 2>&1 && [ "$(nproc --all)" -ge 2 ]; then
  pin_server=(taskset -c "$server_cpu")
  pin_client=(taskset -c "$client_cpu")
else
  echo "!! no taskset or fewer than 2 CPUs: server and client are not pinned" >&2
fi

server_pid=""
stop_server() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
}
trap stop_server EXIT

# start_server kitex|volo pool|mux -> sets server_pid and server_addr
start_server() {
  local log="$out/.server.log" flag=()
  : >"$log"
  case "$1" in
    kitex)
      [ "$2" = mux ] && flag=(-mux)
      "${pin_server[@]}" "$bin/kitex-server" -addr 127.0.0.1:0 "${flag[@]}" >"$log" 2>&1 &
      ;;
    volo)
      [ "$2" = mux ] && flag=(--mux)
      "${pin_server[@]}" "$bin/volo-server" --addr 127.0.0.1:0 "${flag[@]}" >"$log" 2>&1 &
      ;;
  esac
  server_pid=$!
  server_addr=""
  for _ in $(seq 1 100); do
    server_addr=$(awk '/^READY /{print $2; exit}' "$log")
    [ -n "$server_addr" ] && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "$1 server did not start:" >&2
  cat "$log" >&2
  exit 1
}

# run_client go|rust pool|mux METHOD SIZE C -> the CSV fragment
run_client() {
  local lang=$1 tmode=$2 method=$3 size=$4 c=$5
  case "$lang" in
    go)
      local m=()
      [ "$tmode" = mux ] && m=(-mux)
      "${pin_client[@]}" "$bin/kitex-client" -addr "$server_addr" -method "$method" -size "$size" -c "$c" \
        -warmup "${warmup}s" -duration "${duration}s" -server-pid "$server_pid" "${m[@]}"
      ;;
    rust)
      local m=()
      [ "$tmode" = mux ] && m=(--mux)
      "${pin_client[@]}" "$bin/volo-client" --addr "$server_addr" --method "$method" --size "$size" --c "$c" \
        --warmup "$warmup" --duration "$duration" --server-pid "$server_pid" "${m[@]}"
      ;;
  esac
}

csv="$out/results.csv"
echo "server,client,mode,method,payload_bytes,concurrency,duration_s,calls,errors,qps,p50_us,p99_us,p999_us,server_cpu_pct,server_rss_mb,client_cpu_pct" >"$csv"
started=$(date +%s)
failed=0
for pair in $pairs; do
  IFS=: read -r server client tmode <<<"$pair"
  start_server "$server" "$tmode"
  for w in $workloads; do
    IFS=: read -r method size <<<"$w"
    for c in $concurrency; do
      if ! line=$(run_client "$client" "$tmode" "$method" "$size" "$c" 2>"$out/.client.err"); then
        echo "!! $server/$client/$tmode $method $size c=$c: client failed: $(tail -3 "$out/.client.err")" >&2
        failed=1
        continue
      fi
      row="$server,$client,$tmode,$method,$size,$c,$duration,$line"
      echo "$row" >>"$csv"
      echo "   $row" >&2
      IFS=, read -r calls errors _ <<<"$line"
      if [ "$calls" -le 0 ] || [ "$errors" -ne 0 ]; then
        echo "!! $server/$client/$tmode $method $size c=$c: $calls calls, $errors errors" >&2
        failed=1
      fi
    done
  done
  stop_server
done
rm -f "$out/.server.log" "$out/.client.err"
echo "== $(($(wc -l <"$csv") - 1)) rows in $csv ($(( $(date +%s) - started ))s)" >&2
[ "$failed" = 0 ] || { echo "benchmark run had failures (see above)" >&2; exit 1; }

if [ "$charts" = 1 ]; then
  py=$("$repo/scripts/matplotlib.sh" install)
  "$py" "$here/plot.py" "$csv" "$out"
fi
