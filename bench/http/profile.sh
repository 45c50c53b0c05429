#!/usr/bin/env bash
# CPU profiles of the hottest routes under load: a release `fanone standalone` with
# `telemetry.profiling` on, wrk driving one route while the admin listener samples
# the whole process (every component, 99 Hz) — once as a flame graph, once as pprof.
#   bench/http/profile.sh [info|list|like|image|all] [SECONDS] [CONNECTIONS]
# Per route, in build/profiling/ (FANONE_PROFILE_OUT=dir to change):
#   <route>.svg      flame graph (open in a browser: click to zoom, Ctrl-F to search)
#   <route>.pb       pprof protobuf (`go tool pprof -http=: build/profiling/<route>.pb`)
#   <route>.top.txt  the hottest functions, flat and cumulative (needs Go)
#   <route>.wrk.txt  what wrk measured while the profiles were taken
#   <route>.sync.txt fsync/fdatasync calls of the server during the flame graph's
#                    window (off-CPU time a CPU profile cannot show; needs perf)
# The image route seeds 10k random vectors first (release `seed` example) and
# searches with pkg/embed/tests/data/chelsea.jpg.
FANONE_BENCH_NO_START=1 source "$(dirname "$0")/lib.sh"
which=${1:-all}
secs=${2:-10}
conns=${3:-64}
prof=${FANONE_PROFILE_OUT:-build/profiling}
mkdir -p "$prof"
profiling=(FANONE__TELEMETRY__PROFILING=true FANONE__TELEMETRY__PROFILE_MAX_SECS=60)

# profile NAME WRK_ARGS...: run wrk (both profiles' length + margins) and take the
# flame graph, then the pprof profile, while it runs
profile() {
  local name=$1 wpid
  shift
  echo "== profile $name: wrk $* (${secs}s flame graph, then ${secs}s pprof)"
  wrk -t1 -c"$conns" -d"$((2 * secs + 4))s" --latency "$@" >"$prof/$name.wrk.txt" &
  wpid=$!
  sleep 2
  local perf_pid=
  if command -v perf >/dev/null; then
    perf stat -x, -o "$prof/$name.sync.txt" -p "$pid" \
      -e syscalls:sys_enter_fsync,syscalls:sys_enter_fdatasync -- sleep "$secs" &
    perf_pid=$!
  fi
  curl -sf "$admin/debug/pprof/flamegraph?seconds=$secs" -o "$prof/$name.svg"
  [ -z "$perf_pid" ] || wait "$perf_pid" || true
  curl -sf "$admin/debug/pprof/profile?seconds=$secs" -o "$prof/$name.pb"
  wait "$wpid"
  grep -E "Requests/sec|Latency |  99%|Non-2xx|state changes" "$prof/$name.wrk.txt" || true
  [ ! -s "$prof/$name.sync.txt" ] || grep -E "^[0-9]" "$prof/$name.sync.txt" | cut -d, -f1,3 \
    | sed "s/^/$name: /; s/,/ in ${secs}s: /"
  if command -v go >/dev/null; then
    # the profile names its own binary; symbols are already in it (pprof-rs symbolises)
    go tool pprof -top -nodecount=40 "$prof/$name.pb" >"$prof/$name.top.txt" 2>/dev/null || true
    go tool pprof -top -cum -nodecount=60 "$prof/$name.pb" >>"$prof/$name.top.txt" 2>/dev/null || true
  fi
}

run() {
  case $1 in
    info)
      start_fanone "${profiling[@]}"
      local token
      token=$(login bench)
      expect_ok "$gw/user/info" -H "Access-Token: $token"
      profile info -H "Access-Token: $token" "$gw/user/info"
      ;;
    list)
      start_fanone "${profiling[@]}"
      local token uid
      token=$(login author)
      publish "$token" 200
      uid=$(curl -sf "$gw/user/info" -H "Access-Token: $token" | sed 's/.*"id":"\([0-9]*\)".*/\1/')
      expect_ok "$gw/video/list?user_id=$uid&page_num=3&page_size=20" -H "Access-Token: $token"
      profile list -H "Access-Token: $token" "$gw/video/list?user_id=$uid&page_num=3&page_size=20"
      ;;
    like)
      start_fanone "${profiling[@]}"
      like_setup "$conns"
      profile like -s "$lua" "$gw"
      ;;
    image)
      cargo build --release --quiet -p fanone-image --example seed
      local seeded=$bench_dir/image img=pkg/embed/tests/data/chelsea.jpg
      mkdir -p "$seeded"
      target/release/examples/seed "sqlite://$seeded/image.db?mode=rwc" "$seeded/image.vectors" 10000 >/dev/null
      FANONE_BENCH_DATA=$seeded start_fanone "${profiling[@]}"
      curl -sf -X POST "$gw/user/image/search" -F "data=@$img" | grep -q '"code":10000' \
        || { echo "bench: image search failed" >&2; exit 1; }
      # embedding is CPU-bound (one per core at a time): a few clients keep it busy
      local conns=4
      FANONE_SEARCH_IMAGE=$img profile image -s bench/image/search.lua "$gw/user/image/search"
      ;;
    *) echo "usage: $0 [info|list|like|image|all] [SECONDS] [CONNECTIONS]" >&2; exit 2 ;;
  esac
}

header "-t1 -c$conns, profiles of ${secs}s"
if [ "$which" = all ]; then
  for r in info list like image; do run "$r"; done
else
  run "$which"
fi
echo "== profiles in $prof/"
