#!/usr/bin/env bash
# Offline checks of the Kubernetes manifests (k8s/): every overlay renders with
# `kubectl kustomize`, the output passes `kubernetes-validate --strict` for the
# Kubernetes versions below, and the rules of docs/deploy.md hold (k8s-rules.py).
#   scripts/k8s-check.sh install   -> kubernetes-validate (PyPI) into a cached venv
#   scripts/k8s-check.sh [OUT_DIR] -> the checks; OUT_DIR keeps the rendered YAML
# Overlays are rendered from a copy of k8s/ with each secrets.env.example as the
# Secret's values, so a developer's real secrets.env is never read or printed.
# A few seconds; the venv is cached under ${FANONE_TOOLS_DIR:-~/.cache/fanone/tools}.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=ports.sh source-path=SCRIPTDIR
. scripts/ports.sh

version=1.37.0
# the cluster scripts/k8s-local.sh runs, and the newest schemas of the validator
k8s_versions=${FANONE_K8S_VALIDATE_VERSIONS:-1.34.0 1.37.0}
tools=${FANONE_TOOLS_DIR:-${HOME:-/root}/.cache/fanone/tools}
venv="$tools/kubernetes-validate-$version"

install() {
  if [ -x "$venv/bin/python3" ] && "$venv/bin/python3" -c 'import kubernetes_validate' 2>/dev/null; then
    return 0
  fi
  local py
  py=$(command -v python3) || { echo "python3 not found: apt-get install python3 python3-venv" >&2; exit 1; }
  mkdir -p "$tools"
  rm -rf "$venv.tmp"
  "$py" -m venv "$venv.tmp" >&2
  "$venv.tmp/bin/pip" install --quiet --disable-pip-version-check "kubernetes-validate==$version" >&2
  # console scripts hard-code the venv's path: the checks run the module instead
  rm -rf "$venv"
  mv "$venv.tmp" "$venv"
}

kubectl_bin() {
  command -v kubectl 2>/dev/null && return 0
  local d
  d=$(scripts/k8s-tools.sh bin-dir 2>/dev/null) && [ -x "$d/kubectl" ] && { echo "$d/kubectl"; return 0; }
  echo "kubectl not found (apt kubectl, or scripts/k8s-tools.sh install)" >&2
  exit 1
}

case "${1:-}" in
  install)
    install
    exit 0
    ;;
esac

[ -x "$venv/bin/python3" ] || { echo "kubernetes-validate not installed: scripts/k8s-check.sh install" >&2; exit 1; }
kubectl=$(kubectl_bin)
out=${1:-}
work=$(mktemp -d /tmp/fanone-k8s-check.XXXXXX)
trap 'rm -rf "$work"' EXIT
[ -n "$out" ] || out="$work/out"
mkdir -p "$out"
cp -r k8s "$work/k8s"
status=0
for overlay in "$work"/k8s/overlays/*/; do
  name=$(basename "$overlay")
  cp "$overlay/secrets.env.example" "$overlay/secrets.env"
  "$kubectl" kustomize "$overlay" >"$out/$name.yaml" \
    || { echo "overlay $name: kubectl kustomize failed" >&2; status=1; continue; }
  for v in $k8s_versions; do
    if "$venv/bin/python3" -m kubernetes_validate --strict --quiet -k "$v" "$out/$name.yaml"; then
      echo "overlay $name: $(grep -c '^kind:' "$out/$name.yaml") objects valid for Kubernetes $v (strict)"
    else
      echo "overlay $name: kubernetes-validate --strict -k $v failed" >&2
      status=1
    fi
  done
  "$venv/bin/python3" scripts/k8s-rules.py "$name" "$out/$name.yaml" || status=1
done
# the local overlay's Prometheus configuration, where promtool is installed (apt prometheus)
if promtool=$(find_bin promtool); then
  "$promtool" check config k8s/overlays/local/prometheus.yml >/dev/null \
    || { echo "promtool check config k8s/overlays/local/prometheus.yml failed" >&2; status=1; }
fi
exit "$status"
