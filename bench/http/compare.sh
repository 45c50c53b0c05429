#!/usr/bin/env bash
# Before/after figures from the same command in one run: runs a load script of this
# directory against two release binaries in turn (before, after, before, after, ...),
# each on a fresh instance; builds nothing.
#   bench/http/compare.sh BEFORE_BIN AFTER_BIN ROUNDS SCRIPT [SCRIPT_ARGS...]
# e.g. git worktree add /tmp/before <commit> && (cd /tmp/before && cargo build --release)
#      bench/http/compare.sh /tmp/before/target/release/fanone target/release/fanone 2 user_info.sh 15s 64
set -euo pipefail
cd "$(dirname "$0")"
[ $# -ge 4 ] || { echo "usage: $0 BEFORE_BIN AFTER_BIN ROUNDS SCRIPT [ARGS...]" >&2; exit 2; }
before=$(realpath "$1")
after=$(realpath "$2")
rounds=$3
script=$4
shift 4
for bin in "$before" "$after"; do
  [ -x "$bin" ] || { echo "compare: no executable $bin" >&2; exit 2; }
done
echo "# compare: before $before ($(stat -c %y "$before" | cut -d. -f1))"
echo "#          after  $after ($(stat -c %y "$after" | cut -d. -f1))"
for r in $(seq 1 "$rounds"); do
  for side in before after; do
    if [ "$side" = before ]; then bin=$before; else bin=$after; fi
    echo "### round $r: $side"
    FANONE_BIN=$bin "./$script" "$@"
  done
done
