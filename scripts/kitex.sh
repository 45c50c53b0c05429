#!/usr/bin/env bash
# Kitex (Go) code generation and the Go interop client.
#   scripts/kitex.sh install          -> builds the pinned kitex tool once, prints its path
#   scripts/kitex.sh gen MODDIR IDL.. -> MODDIR/kitex_gen from the IDL files (module path
#                                        from MODDIR/go.mod); never committed
#   scripts/kitex.sh build            -> generates tests/kitex/kitex_gen from idl/ and
#                                        builds the interop client, prints its path
#                                        (build/kitex/fanone-kitex-interop)
# The kitex tool (thriftgo built in) is built from the Go module proxy into
# ~/.cache/fanone/tools/kitex-$version (FANONE_TOOLS_DIR overrides the parent dir);
# `go install ...@version` is not used because it asks the proxy for the module's
# version list, which this machine's proxy refuses. Needs Go 1.24+ on PATH.
set -euo pipefail
orig=$PWD
cd "$(dirname "$0")/.."

version=v0.16.3
cmd=${1:-build}
tools=${FANONE_TOOLS_DIR:-${HOME:-/root}/.cache/fanone/tools}
root="$tools/kitex-$version"
bin="$root/bin/kitex"
out=build/kitex

need_go() {
  command -v go >/dev/null 2>&1 || { echo "go not found: install Go 1.24+ (https://go.dev/dl/)" >&2; exit 1; }
}

install() {
  if [ -x "$bin" ]; then
    echo "$bin"
    return 0
  fi
  need_go
  mkdir -p "$tools"
  # one build at a time: a second install waits for the first, then finds the binary
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$root.lock"
    flock 9
    if [ -x "$bin" ]; then
      echo "$bin"
      return 0
    fi
  fi
  rm -rf "$root.tmp"
  mkdir -p "$root.tmp/src"
  echo "building kitex $version from the Go module proxy..." >&2
  (
    cd "$root.tmp/src"
    go mod init fanone-kitex-tool >/dev/null 2>&1
    go get "github.com/cloudwego/kitex/tool/cmd/kitex@$version" >&2
    go build -buildvcs=false -trimpath -o "$root.tmp/bin/kitex" github.com/cloudwego/kitex/tool/cmd/kitex
  ) || { echo "building kitex $version failed" >&2; exit 1; }
  rm -rf "$root.tmp/src"
  rm -rf "$root"
  mv "$root.tmp" "$root"
  [ -x "$bin" ] || { echo "kitex $version built but $bin is missing" >&2; exit 1; }
  echo "$bin"
}

# gen MODDIR IDL...: kitex_gen of every IDL file (its includes come along)
gen() {
  local moddir=$1 module kitex f log
  shift
  moddir=$(cd "$moddir" && pwd)
  kitex=$(install)
  module=$(awk '$1 == "module" { print $2; exit }' "$moddir/go.mod")
  [ -n "$module" ] || { echo "no module line in $moddir/go.mod" >&2; exit 1; }
  rm -rf "$moddir/kitex_gen"
  for f in "$@"; do
    f=$(cd "$(dirname "$f")" && pwd)/$(basename "$f")
    # quiet unless it fails ("[INFO] Code Generation is Done!" per file otherwise)
    log=$(cd "$moddir" && "$kitex" -module "$module" "$f" 2>&1) \
      || { echo "$log" >&2; echo "kitex failed on $f" >&2; exit 1; }
  done
}

case "$cmd" in
  install)
    install
    ;;
  gen)
    [ $# -ge 3 ] || { echo "usage: $0 gen MODDIR IDL..." >&2; exit 2; }
    shift
    # paths as the caller gave them
    args=()
    for a in "$@"; do
      case "$a" in /*) args+=("$a") ;; *) args+=("$orig/$a") ;; esac
    done
    gen "${args[@]}"
    ;;
  build)
    need_go
    gen tests/kitex idl/*.thrift
    mkdir -p "$out"
    (cd tests/kitex && go build -buildvcs=false -mod=readonly -o "../../$out/fanone-kitex-interop" .) >&2 \
      || { echo "building the Kitex interop client failed" >&2; exit 1; }
    echo "$PWD/$out/fanone-kitex-interop"
    ;;
  *)
    echo "usage: $0 install|gen MODDIR IDL...|build" >&2
    exit 2
    ;;
esac
