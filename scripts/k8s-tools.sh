#!/usr/bin/env bash
# The tools a local one-node Kubernetes needs on a machine with no container registry.
#   scripts/k8s-tools.sh apt        -> apt-get installs containerd, runc, CNI plugins,
#                                      iptables, conntrack, etcd, debootstrap, buildah
#   scripts/k8s-tools.sh install    -> builds the Kubernetes binaries once, prints their dir
#   scripts/k8s-tools.sh bin-dir    -> prints the dir (exit 1 when not built yet)
# The binaries (kube-apiserver, kube-controller-manager, kube-scheduler, kubelet,
# kube-proxy, kubectl, coredns) come from the Go module proxy: `go install` of
# k8s.io/kubernetes/cmd/... is refused because upstream's go.mod has replace
# directives, so this writes a module of its own that requires k8s.io/kubernetes and
# pins every k8s.io/* staging module to the matching v0.Y.Z, with one small main per
# command. CoreDNS is built with only the plugins a cluster's DNS needs (no cloud SDKs).
# Cached under ${FANONE_TOOLS_DIR:-~/.cache/fanone/tools}/kubernetes-VERSION (the Go
# build cache beside it): 35-55 min wall cold on 2 busy cores (~19 min CPU), ~1 min
# with a warm Go build cache, nothing once built.
set -euo pipefail

version=${FANONE_K8S_VERSION:-v1.34.4}
coredns_version=${FANONE_COREDNS_VERSION:-v1.13.2}
cmd=${1:-install}
tools=${FANONE_TOOLS_DIR:-${HOME:-/root}/.cache/fanone/tools}
root="$tools/kubernetes-$version"
bin="$root/bin"
components="kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl"
nice_cmd=(nice -n 19 ionice -c3)

apt_install() {
  local pkgs=(containerd runc containernetworking-plugins iptables conntrack
              etcd-server etcd-client debootstrap buildah openssl gcc libc6-dev curl)
  local missing=() p
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  [ "$(id -u)" = 0 ] || { echo "missing packages (${missing[*]}): run as root" >&2; exit 1; }
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  # --no-install-recommends keeps podman/slirp out; containerd's postinst may start
  # the system service on a systemd host: the local cluster runs its own containerd
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# main.go of one Kubernetes command: upstream's cmd/NAME/NAME.go, as a module of its own
write_main() {
  local name=$1 dir=$2 import ctor
  mkdir -p "$dir"
  case "$name" in
    kube-apiserver) ctor='app.NewAPIServerCommand()' ;;
    kube-controller-manager) ctor='app.NewControllerManagerCommand()' ;;
    kube-scheduler) ctor='app.NewSchedulerCommand()' ;;
    kubelet) ctor='app.NewKubeletCommand(context.Background())' ;;
    kube-proxy) ctor='app.NewProxyCommand()' ;;
    kubectl)
      cat >"$dir/main.go" <<'EOF'
package main

import (
	"os"

	_ "k8s.io/client-go/plugin/pkg/client/auth"
	"k8s.io/component-base/cli"
	"k8s.io/component-base/logs"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"
)

func main() {
	logs.GlogSetter(cmd.GetLogVerbosity(os.Args)) // nolint:errcheck
	if err := cli.RunNoErrOutput(cmd.NewDefaultKubectlCommand()); err != nil {
		util.CheckErr(err)
	}
}
EOF
      return 0 ;;
    *) echo "unknown component $name" >&2; exit 1 ;;
  esac
  import="k8s.io/kubernetes/cmd/$name/app"
  {
    echo 'package main'
    echo
    echo 'import ('
    [ "$name" = kubelet ] && printf '\t"context"\n'
    printf '\t"os"\n\n'
    printf '\t"k8s.io/component-base/cli"\n'
    printf '\t_ "k8s.io/component-base/logs/json/register"\n'
    printf '\t_ "k8s.io/component-base/metrics/prometheus/clientgo"\n'
    printf '\t_ "k8s.io/component-base/metrics/prometheus/version"\n'
    printf '\t"%s"\n' "$import"
    echo ')'
    echo
    printf 'func main() {\n\tos.Exit(cli.Run(%s))\n}\n' "$ctor"
  } >"$dir/main.go"
}

build_kubernetes() {
  local work=$1 staging upstream gover minor
  staging="v0.${version#v1.}"
  minor=$(echo "$version" | cut -d. -f2)
  mkdir -p "$work"
  for c in $components; do write_main "$c" "$work/cmd/$c"; done
  (
    cd "$work"
    upstream=$(go mod download -json "k8s.io/kubernetes@$version" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
    [ -f "$upstream" ] || { echo "go mod download k8s.io/kubernetes@$version failed" >&2; exit 1; }
    gover=$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$upstream")
    {
      printf 'module fanone.local/k8sbin\n\ngo %s\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n' "$gover" "$version"
      # upstream's `k8s.io/x => ./staging/src/k8s.io/x` becomes `k8s.io/x => k8s.io/x v0.Y.Z`
      sed -n 's#^\s*\(k8s.io/[^ ]*\) => ./staging/src/.*#\t\1 => \1 '"$staging"'#p' "$upstream"
      echo ')'
    } >go.mod
    "${nice_cmd[@]}" go mod tidy >&2
    CGO_ENABLED=0 "${nice_cmd[@]}" go build -trimpath -o "$root.tmp/bin/" \
      -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor" \
      ./cmd/... >&2
  )
}

build_coredns() {
  local work=$1
  mkdir -p "$work"
  cat >"$work/main.go" <<'EOF'
package main

import (
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

func main() { coremain.Run() }
EOF
  (
    cd "$work"
    printf 'module fanone.local/coredns\n\ngo 1.24.0\n\nrequire github.com/coredns/coredns %s\n' "$coredns_version" >go.mod
    "${nice_cmd[@]}" go mod tidy >&2
    CGO_ENABLED=0 "${nice_cmd[@]}" go build -trimpath -ldflags "-s -w" -o "$root.tmp/bin/coredns" . >&2
  )
}

install() {
  if [ -x "$bin/kube-apiserver" ] && [ -x "$bin/coredns" ]; then
    echo "$bin"
    return 0
  fi
  command -v go >/dev/null || { echo "go not found: the Kubernetes binaries are built with Go (1.24+)" >&2; exit 1; }
  mkdir -p "$tools"
  # one build at a time: a second install waits for the first, then finds the binaries
  exec 9>"$root.lock"
  flock 9
  if [ -x "$bin/kube-apiserver" ] && [ -x "$bin/coredns" ]; then
    echo "$bin"
    return 0
  fi
  rm -rf "$root.tmp"
  mkdir -p "$root.tmp/bin"
  local start work
  start=$(date +%s)
  work=$(mktemp -d /tmp/fanone-k8s-build.XXXXXX)
  # the Go build cache is kept with the tools: a rebuild (other version, lost binaries)
  # then takes about a minute instead of half an hour
  export GOCACHE=${FANONE_GOCACHE:-$tools/go-build}
  echo "building Kubernetes $version and CoreDNS $coredns_version from the Go module proxy (35-55 min cold on 2 busy cores)..." >&2
  build_kubernetes "$work/k8s"
  build_coredns "$work/coredns"
  rm -rf "$work" "$root"
  mv "$root.tmp" "$root"
  echo "built in $(( $(date +%s) - start ))s" >&2
  echo "$bin"
}

case "$cmd" in
  apt) apt_install ;;
  install) install ;;
  bin-dir)
    [ -x "$bin/kube-apiserver" ] || { echo "Kubernetes $version not built: scripts/k8s-tools.sh install" >&2; exit 1; }
    echo "$bin"
    ;;
  *)
    echo "usage: $0 apt | install | bin-dir" >&2
    exit 2
    ;;
esac
