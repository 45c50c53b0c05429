#!/usr/bin/env bash
# Container images of FanOne built on this machine, with no container registry.
#   scripts/image.sh base              -> Debian bookworm minbase image (debootstrap, cached)
#   scripts/image.sh toolchain         -> build-stage image: base + gcc/protoc + the host's Rust
#   scripts/image.sh fanone [BIN]      -> the FanOne image from docker/Dockerfile; with BIN
#                                         (a host-built release `fanone`) the `prebuilt`
#                                         target, else the release build inside (`runtime`)
#   scripts/image.sh infra             -> the local overlay's servers in one image: MariaDB,
#                                         Redis, etcd, Prometheus (apt), Milvus Lite's engine
#   scripts/image.sh jaeger            -> Jaeger v2 (scripts/jaeger.sh builds it) on the base
#   scripts/image.sh archive NAME...   -> docker-archive tarballs for `ctr images import`,
#                                         prints their paths
# Images live in buildah's local storage as localhost/fanone/<name>:<tag>. The debootstrap
# root file system (~5 min) and the archives are cached under
# ${FANONE_TOOLS_DIR:-~/.cache/fanone/tools}/images. Builds run with buildah's chroot
# isolation (host network for apt and crates.io, no runc, no CNI) and niced.
# FANONE_DEBIAN_MIRROR overrides the apt mirror (default: the one this machine uses).
set -euo pipefail
cd "$(dirname "$0")/.."

cmd=${1:-}
suite=bookworm
tools=${FANONE_TOOLS_DIR:-${HOME:-/root}/.cache/fanone/tools}
cache="$tools/images"
base_image="localhost/fanone/debian:$suite"
toolchain_image="localhost/fanone/rust:$suite"
fanone_image=${FANONE_IMAGE:-localhost/fanone/fanone:local}
infra_image="localhost/fanone/infra:$suite"
jaeger_image="localhost/fanone/jaeger:local"
ctx=""
nice_cmd=(nice -n 19 ionice -c3)

need() {
  command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] \
    || { echo "$1 not found: scripts/k8s-tools.sh apt (apt $2)" >&2; exit 1; }
}

exists() { buildah inspect --type image "$1" >/dev/null 2>&1; }

mirror() {
  local m=${FANONE_DEBIAN_MIRROR:-}
  [ -n "$m" ] || m=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
  [ -n "$m" ] || m=$(awk '$1 == "deb" && $3 ~ /^bookworm$/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null)
  [ -n "$m" ] || { echo "no Debian mirror in the apt sources: set FANONE_DEBIAN_MIRROR" >&2; exit 1; }
  echo "$m"
}

# Debian minbase root file system as a tarball (the slow part: cached)
rootfs_tar() {
  local tar="$cache/debian-$suite-minbase.tar" dir
  if [ -s "$tar" ]; then echo "$tar"; return 0; fi
  need debootstrap debootstrap
  mkdir -p "$cache"
  dir=$(mktemp -d /tmp/fanone-rootfs.XXXXXX)
  echo "debootstrap $suite minbase from $(mirror) (~5 min)..." >&2
  "${nice_cmd[@]}" debootstrap --variant=minbase "$suite" "$dir" "$(mirror)" >"$cache/debootstrap.log" 2>&1 \
    || { tail -20 "$cache/debootstrap.log" >&2; rm -rf "$dir"; exit 1; }
  rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
  "${nice_cmd[@]}" tar -C "$dir" --numeric-owner --exclude='./proc/*' --exclude='./sys/*' \
    --exclude='./dev/*' -cf "$tar.tmp" .
  rm -rf "$dir"
  mv "$tar.tmp" "$tar"
  echo "$tar"
}

build_base() {
  need buildah buildah
  exists "$base_image" && return 0
  local tar c
  tar=$(rootfs_tar)
  c=$(buildah from scratch)
  buildah add "$c" "$tar" / >/dev/null
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env LANG=C.UTF-8 --cmd '["/bin/bash"]' "$c"
  buildah commit -q "$c" "$base_image" >/dev/null
  buildah rm "$c" >/dev/null
  echo "built $base_image" >&2
}

# bud with the local base images, no registry: chroot isolation uses the host network
bud() {
  "${nice_cmd[@]}" buildah bud --isolation chroot --layers --pull=never "$@"
}

build_toolchain() {
  build_base
  exists "$toolchain_image" && return 0
  local sysroot c
  sysroot=$(rustc --print sysroot) || { echo "rustc not found: the build stage reuses the host's Rust toolchain" >&2; exit 1; }
  c=$(buildah from --pull=never "$base_image")
  buildah run --isolation chroot "$c" -- sh -c \
    'apt-get update -qq && apt-get install -y -qq --no-install-recommends gcc libc6-dev binutils protobuf-compiler libprotobuf-dev pkg-config ca-certificates >/dev/null && rm -rf /var/lib/apt/lists/*'
  # rustc, cargo and the std library of the host's toolchain (no docs, no rust-src)
  buildah copy "$c" "$sysroot/bin" /usr/local/rust/bin >/dev/null
  buildah copy "$c" "$sysroot/lib" /usr/local/rust/lib >/dev/null
  buildah config --env PATH=/usr/local/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env CARGO_HOME=/usr/local/cargo "$c"
  buildah commit -q "$c" "$toolchain_image" >/dev/null
  buildah rm "$c" >/dev/null
  echo "built $toolchain_image ($(rustc --version))" >&2
}

build_fanone() {
  local bin=${1:-}
  build_base
  if [ -n "$bin" ]; then
    [ -x "$bin" ] || { echo "$bin: not an executable" >&2; exit 1; }
    mkdir -p .docker-bin
    # debug line tables are not needed in the image (a third of the size)
    objcopy --strip-debug "$bin" .docker-bin/fanone
    trap 'rm -rf .docker-bin' EXIT
    bud --target prebuilt --build-arg RUNTIME="$base_image" -f docker/Dockerfile -t "$fanone_image" . >&2
  else
    build_toolchain
    bud --target runtime --build-arg BUILDER="$toolchain_image" --build-arg RUNTIME="$base_image" \
      -f docker/Dockerfile -t "$fanone_image" . >&2
  fi
  echo "built $fanone_image" >&2
}

build_infra() {
  build_base
  local milvus
  milvus=$(scripts/milvus.sh install)
  ctx=$(mktemp -d /tmp/fanone-infra-ctx.XXXXXX)
  trap 'rm -rf "$ctx"' EXIT
  cp -a "$milvus/lib" "$ctx/milvus-lib"
  cp docker/infra.Dockerfile "$ctx/Dockerfile"
  bud --build-arg BASE="$base_image" -t "$infra_image" "$ctx" >&2
  echo "built $infra_image" >&2
}

build_jaeger() {
  build_base
  local bin c
  bin=$(scripts/jaeger.sh install) || { echo "no jaeger binary: scripts/jaeger.sh install" >&2; exit 1; }
  # rebuilt when the binary changed
  if exists "$jaeger_image" \
    && [ "$(buildah inspect --type image --format '{{index .ImageAnnotations "fanone.binary"}}' "$jaeger_image")" = "$(sha256sum <"$bin" | cut -c1-64)" ]; then
    return 0
  fi
  c=$(buildah from --pull=never "$base_image")
  buildah copy --chmod 0755 "$c" "$bin" /usr/local/bin/jaeger >/dev/null
  buildah config --entrypoint '["/usr/local/bin/jaeger"]' --cmd '[]' --user 65534:65534 \
    --annotation "fanone.binary=$(sha256sum <"$bin" | cut -c1-64)" "$c"
  buildah commit -q "$c" "$jaeger_image" >/dev/null
  buildah rm "$c" >/dev/null
  echo "built $jaeger_image" >&2
}

# docker-archive tarball of an image for `ctr images import`, rebuilt when the image changed
archive() {
  local name=$1 id out
  id=$(buildah inspect --type image --format '{{.FromImageID}}' "$name")
  out="$cache/archives/$(echo "$name" | tr '/:' '__').tar"
  mkdir -p "$cache/archives"
  if [ "$(cat "$out.id" 2>/dev/null)" != "$id" ] || [ ! -s "$out" ]; then
    rm -f "$out"
    "${nice_cmd[@]}" buildah push -q "$name" "docker-archive:$out:$name" >/dev/null
    echo "$id" >"$out.id"
  fi
  echo "$out"
}

case "$cmd" in
  base) build_base; echo "$base_image" ;;
  toolchain) build_toolchain; echo "$toolchain_image" ;;
  fanone) build_fanone "${2:-}"; echo "$fanone_image" ;;
  infra) build_infra; echo "$infra_image" ;;
  jaeger) build_jaeger; echo "$jaeger_image" ;;
  archive)
    shift
    for n in "$@"; do archive "$n"; done
    ;;
  *)
    echo "usage: $0 base | toolchain | fanone [HOST_BUILT_BINARY] | infra | jaeger | archive IMAGE..." >&2
    exit 2
    ;;
esac
