#!/usr/bin/env bash
# Before/after figures from the same command in one run: runs a load script of this
# directory against two release binaries in turn (before, after, before, after, ...),
# each on a fresh instance; builds nothing.
#   bench/http/compare.sh BEFORE_BIN AFTER_BIN ROUNDS SCRIPT [SCRIPT_ARGS...]
# e.g. git worktree add /tmp/before <commit> && (cd /tmp/before && cargo build --release)
#      bench/http/compare.sh /tmp/before/target/release/fanone target/release/fanone 2 user_info.sh 15s 64
# FANONE_COMPARE_CSV=file.csv also collects the result lines the cluster scripts print
# ("  ROUTE  N req/s  p99  X ms  not-ok E", e.g. shards.sh) as mode,round,route,rps,
# p99_ms,errors rows (mode: FANONE_COMPARE_LABELS, default "before after") and draws
# file.png from them (plot_modes.py; title FANONE_COMPARE_TITLE).
set -euo pipefail
[ $# -ge 4 ] || { echo "usage: $0 BEFORE_BIN AFTER_BIN ROUNDS SCRIPT [ARGS...]" >&2; exit 2; }
# relative paths (binaries, CSV) are relative to where the command was run
before=$(realpath -m "$1")
after=$(realpath -m "$2")
csv=${FANONE_COMPARE_CSV:+$(realpath -m "$FANONE_COMPARE_CSV")}
cd "$(dirname "$0")"
rounds=$3
script=$4
shift 4
for bin in "$before" "$after"; do
  [ -x "$bin" ] || { echo "compare: no executable $bin" >&2; exit 2; }
done
read -r -a labels <<<"${FANONE_COMPARE_LABELS:-before after}"
[ -z "$csv" ] || { mkdir -p "$(dirname "$csv")"; echo "mode,round,route,rps,p99_ms,errors" >"$csv"; }
echo "# compare: before $before ($(stat -c %y "$before" | cut -d. -f1))"
echo "#          after  $after ($(stat -c %y "$after" | cut -d. -f1))"
for r in $(seq 1 "$rounds"); do
  for side in before after; do
    if [ "$side" = before ]; then bin=$before; else bin=$after; fi
    echo "### round $r: $side"
    if [ "$side" = before ]; then label=${labels[0]}; else label=${labels[1]:-after}; fi
    FANONE_BIN=$bin "./$script" "$@" | while IFS= read -r line; do
      echo "$line"
      if [ -n "$csv" ] && [[ $line =~ ^\ \ ([a-z_]+)\ +([0-9]+)\ req/s\ +p99\ +([0-9.]+)\ ms\ +not-ok\ ([0-9]+) ]]; then
        echo "$label,$r,${BASH_REMATCH[1]},${BASH_REMATCH[2]},${BASH_REMATCH[3]},${BASH_REMATCH[4]}" >>"$csv"
      fi
    done
  done
done
if [ -n "$csv" ]; then
  py=$(../../scripts/matplotlib.sh install)
  "$py" plot_modes.py "$csv" "${csv%.csv}.png" "${FANONE_COMPARE_TITLE:-${labels[0]} vs ${labels[1]:-after}}"
  echo "csv: $csv  chart: ${csv%.csv}.png"
fi
