#!/usr/bin/env bash
# Python with matplotlib, for charts drawn from benchmark CSVs.
#   scripts/matplotlib.sh install   -> prints the venv's python (installs it once)
# PyPI `matplotlib` into a venv cached under ~/.cache/fanone/tools (FANONE_TOOLS_DIR
# overrides the parent dir); built in DIR.tmp, then moved (a moved venv's python still
# finds its packages: it locates pyvenv.cfg from its own path).
set -euo pipefail

version=3.11.2
cmd=${1:-install}
tools=${FANONE_TOOLS_DIR:-${HOME:-/root}/.cache/fanone/tools}
venv="$tools/matplotlib-$version"

install() {
  if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import matplotlib' 2>/dev/null; then
    echo "$venv/bin/python"
    return 0
  fi
  local py
  py=$(command -v python3) || { echo "python3 not found: apt-get install python3 python3-venv" >&2; exit 1; }
  mkdir -p "$tools"
  # one install at a time: a second one waits, then finds the venv
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$venv.lock"
    flock 9
    if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import matplotlib' 2>/dev/null; then
      echo "$venv/bin/python"
      return 0
    fi
  fi
  rm -rf "$venv.tmp"
  "$py" -m venv "$venv.tmp" >&2
  "$venv.tmp/bin/pip" install --quiet --disable-pip-version-check "matplotlib==$version" >&2 \
    || { echo "pip install matplotlib==$version failed" >&2; exit 1; }
  rm -rf "$venv"
  mv "$venv.tmp" "$venv"
  "$venv/bin/python" -c 'import matplotlib' || { echo "matplotlib $version installed but not importable" >&2; exit 1; }
  echo "$venv/bin/python"
}

case "$cmd" in
  install) install ;;
  *) echo "usage: $0 install" >&2; exit 2 ;;
esac
