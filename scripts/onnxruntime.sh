#!/usr/bin/env bash
# ONNX Runtime's C library, for image embeddings on `image.runtime = "onnxruntime"`.
#   scripts/onnxruntime.sh install   -> prints the path of libonnxruntime.so (installs it once)
#   scripts/onnxruntime.sh path      -> prints it if installed, else exits 1
# The library comes from the PyPI wheel `onnxruntime` (CPU, manylinux x86_64), which
# ships it as onnxruntime/capi/libonnxruntime.so.<version>: the wheel is downloaded
# with pip (no install, no dependencies) and only that file is kept, under
# ~/.cache/fanone/tools (FANONE_TOOLS_DIR overrides the parent dir). The Rust side
# (`ort`, feature load-dynamic) opens it at start-up; nothing links against it.
set -euo pipefail

version=1.23.2
cmd=${1:-install}
tools=${FANONE_TOOLS_DIR:-${HOME:-/root}/.cache/fanone/tools}
dir="$tools/onnxruntime-$version"
lib="$dir/libonnxruntime.so.$version"

installed() { [ -s "$lib" ] && echo "$lib"; }

install() {
  installed && return 0
  local py
  py=$(command -v python3) || { echo "python3 not found: apt-get install python3 python3-pip" >&2; exit 1; }
  mkdir -p "$tools"
  # one install at a time: a second one waits, then finds the library
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$dir.lock"
    flock 9
    installed && return 0
  fi
  rm -rf "$dir.tmp"
  mkdir -p "$dir.tmp"
  # pip may be missing from the system python; a throw-away venv brings its own
  if ! "$py" -m pip --version >/dev/null 2>&1; then
    "$py" -m venv "$dir.tmp/venv" >&2
    py="$dir.tmp/venv/bin/python"
  fi
  "$py" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --platform manylinux_2_27_x86_64 --python-version 3.11 \
    -d "$dir.tmp" "onnxruntime==$version" >&2 \
    || { echo "pip download onnxruntime==$version failed" >&2; exit 1; }
  local whl
  whl=$(ls "$dir.tmp"/onnxruntime-"$version"-*.whl)
  "$py" - "$whl" "$dir.tmp" "$version" <<'EOF'
import sys, zipfile
whl, out, version = sys.argv[1:]
name = f"onnxruntime/capi/libonnxruntime.so.{version}"
with zipfile.ZipFile(whl) as z, open(f"{out}/libonnxruntime.so.{version}", "wb") as f:
    f.write(z.read(name))
EOF
  rm -rf "$dir"
  mkdir -p "$dir"
  mv "$dir.tmp/libonnxruntime.so.$version" "$lib"
  rm -rf "$dir.tmp"
  installed || { echo "onnxruntime $version: library missing after install" >&2; exit 1; }
}

case "$cmd" in
  install) install ;;
  path) installed || { echo "onnxruntime $version is not installed: $0 install" >&2; exit 1; } ;;
  *) echo "usage: $0 install | path" >&2; exit 2 ;;
esac
