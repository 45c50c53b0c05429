#!/usr/bin/env bash
# FanOne on a real one-node Kubernetes on this machine, with no container registry.
#   scripts/k8s-local.sh up       start the cluster: etcd, containerd, kube-apiserver,
#                                 controller-manager, scheduler, kubelet, kube-proxy, CoreDNS
#   scripts/k8s-local.sh deploy   build and import the images, apply k8s/overlays/local,
#                                 wait until every pod is ready
#   scripts/k8s-local.sh smoke    register, login, avatar, publish, list, like, chat, image
#                                 search through the gateway Service (NodePort 30080)
#   scripts/k8s-local.sh chaos    writes under load while a gateway pod is deleted and an
#                                 interaction pod is SIGKILLed: no acknowledged write lost
#   scripts/k8s-local.sh status | env   processes and pods | `export KUBECONFIG=...`
#   scripts/k8s-local.sh down     stop exactly what `up` started, restore the machine
# Needs root (network, mounts), the apt packages and the Kubernetes binaries of
# scripts/k8s-tools.sh (built once, 35-55 min cold). Images: scripts/image.sh. The binary
# in the FanOne image is FANONE_BIN (default: target/release/fanone of
# $CARGO_TARGET_DIR, built with cargo when missing); FANONE_IMAGE_BUILD=container
# builds it inside the image's build stage instead (docs/deploy.md).
# Layout: state (PKI, etcd data, containerd root, logs) in $FANONE_K8S_STATE
# (/var/lib/fanone-k8s); pid files, sockets and saved sysctls in /run/fanone-k8s; the
# persistent volumes of the local overlay in /var/lib/fanone-k8s/volumes (fixed: the
# manifests name it). The node address is 10.200.0.1/32 on lo; pods get 10.244.0.0/24
# on the bridge cni0, Services 10.96.0.0/16; pod traffic may not leave the machine.
# Control-plane ports are free loopback ports (scripts/ports.sh), kept across runs.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
# shellcheck source=ports.sh source-path=SCRIPTDIR
. scripts/ports.sh

cmd=${1:-}
state=${FANONE_K8S_STATE:-/var/lib/fanone-k8s}
run=/run/fanone-k8s
volumes=/var/lib/fanone-k8s/volumes
node=fanone-node
node_ip=10.200.0.1
pod_cidr=10.244.0.0/16
node_pod_cidr=10.244.0.0/24
service_cidr=10.96.0.0/16
service_ip=10.96.0.1
dns_ip=10.96.0.10
pause_image=registry.k8s.io/pause:3.10
coredns_image=localhost/fanone/coredns:local
cni_bin=/usr/lib/cni
egress_tag="fanone-k8s: pod traffic stays on this machine"
gateway_url=http://127.0.0.1:30080
pki="$state/pki"
logs="$state/logs"
export KUBECONFIG="$state/admin.kubeconfig"
# what `up` changes: saved before, restored by `down` (the kubelet sets the vm/kernel
# ones at start, kube-proxy route_localnet, we ip_forward)
sysctls="vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys kernel.keys.root_maxbytes net.ipv4.conf.all.route_localnet net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables"
components="etcd containerd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy"

log() { echo "[$(date +%H:%M:%S)] $*"; }
die() { echo "k8s-local: $*" >&2; exit 1; }
need_root() { [ "$(id -u)" = 0 ] || die "run as root (network interfaces, iptables, mounts)"; }

bin_dir() { scripts/k8s-tools.sh bin-dir; }
kubectl() { "$(bin_dir)/kubectl" "$@"; }
ctr_() { ctr --address "$run/containerd.sock" -n k8s.io "$@"; }
# (the list is read whole: `ctr ... | grep -q` would fail on SIGPIPE under pipefail)
has_image() { grep -qx "$1" <<<"$(ctr_ images ls -q)"; }

running() { [ -f "$run/$1.pid" ] && kill -0 "$(cat "$run/$1.pid")" 2>/dev/null; }

start() { # NAME CMD... : in its own session, pid file in $run, log in $logs
  local name=$1
  shift
  running "$name" && return 0
  setsid "$@" >"$logs/$name.log" 2>&1 </dev/null &
  echo $! >"$run/$name.pid"
}

wait_for() { # WHAT SECONDS CMD...
  local what=$1 secs=$2
  shift 2
  for _ in $(seq "$secs"); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 1
  done
  die "$what not ready after ${secs}s (logs: $logs)"
}

# write stdin to FILE only when it changed (kube-proxy exits when its config is touched)
put() {
  local tmp
  tmp=$(mktemp)
  cat >"$tmp"
  if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else mv "$tmp" "$1"; chmod 0600 "$1"; fi
}

# control-plane ports: the ones of the last run while they are free, else new ones
# (etcd's data names its peer URL: it is started afresh then)
ports() {
  local p
  if [ -f "$state/ports" ]; then
    read -r p <"$state/ports"
    # a second `up` while the cluster runs: its own processes hold them
    if running etcd; then port=$p; return 0; fi
    local ok=1 i
    for i in 0 1 2 3 4 5 6 7 8; do port_free $((p + i)) || ok=0; done
    if [ "$ok" = 1 ]; then port=$p; return 0; fi
    log "ports of the last run are taken: new ports, fresh cluster state"
    rm -rf "$state/etcd"
  fi
  pick_port port 1 2 3 4 5 6 7 8
  echo "$port" >"$state/ports"
}

gen_pki() {
  mkdir -p "$pki"
  (
    cd "$pki"
    umask 077
    [ -f ca.key ] || {
      openssl genrsa -out ca.key 2048 2>/dev/null
      openssl req -x509 -new -nodes -key ca.key -sha256 -days 3650 -subj "/CN=fanone-local-ca" -out ca.crt
    }
    cert() { # NAME CN O [SANS]
      local name=$1 cn=$2 o=$3 sans=${4:-} subj
      [ -f "$name.crt" ] && return 0
      subj="/CN=$cn"
      [ -n "$o" ] && subj="/O=$o/CN=$cn"
      openssl genrsa -out "$name.key" 2048 2>/dev/null
      openssl req -new -key "$name.key" -subj "$subj" -out "$name.csr"
      {
        echo "basicConstraints=CA:FALSE"
        echo "keyUsage=critical,digitalSignature,keyEncipherment"
        if [ -n "$sans" ]; then
          echo "extendedKeyUsage=serverAuth,clientAuth"
          echo "subjectAltName=$sans"
        else
          echo "extendedKeyUsage=clientAuth"
        fi
      } >"$name.ext"
      openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -sha256 \
        -extfile "$name.ext" -out "$name.crt" 2>/dev/null
      rm -f "$name.csr" "$name.ext"
    }
    cert apiserver kube-apiserver "" \
      "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:$node,IP:$node_ip,IP:$service_ip"
    cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters
    cert admin kubernetes-admin system:masters
    cert controller-manager system:kube-controller-manager ""
    cert scheduler system:kube-scheduler ""
    cert kube-proxy system:kube-proxy ""
    cert kubelet "system:node:$node" system:nodes
    cert kubelet-serving "$node" "" "DNS:$node,IP:$node_ip"
    [ -f sa.key ] || { openssl genrsa -out sa.key 2048 2>/dev/null; openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null; }
  )
  local n
  for n in admin controller-manager scheduler kube-proxy kubelet; do
    put "$state/$n.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://$node_ip:$((port + 2))
    certificate-authority-data: $(base64 -w0 <"$pki/ca.crt")
users:
- name: $n
  user:
    client-certificate-data: $(base64 -w0 <"$pki/$n.crt")
    client-key-data: $(base64 -w0 <"$pki/$n.key")
contexts:
- name: local
  context: {cluster: local, user: $n}
current-context: local
EOF
  done
}

write_configs() {
  local driver=cgroupfs
  [ "$(ps -p 1 -o comm= 2>/dev/null)" = systemd ] && driver=systemd
  mkdir -p "$state/cni" "$state/containerd"
  put "$state/cni/10-fanone.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "fanone-pods",
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$node_pod_cidr"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "loopback"}
  ]
}
EOF
  put "$state/containerd/config.toml" <<EOF
version = 2
root = "$state/containerd/root"
state = "$run/containerd-state"
[grpc]
  address = "$run/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$pause_image"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  # pod sandboxes ask for oom_score_adj -998: root here lacks CAP_SYS_RESOURCE and runc
  # fails ("can't get final child's PID from pipe: EOF") unless containerd clamps it
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$cni_bin"
    conf_dir = "$state/cni"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = $([ "$driver" = systemd ] && echo true || echo false)
        Root = "$run/runc"
EOF
  put "$state/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $node_ip
port: $((port + 3))
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $((port + 4))
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: "$pki/ca.crt"}
authorization: {mode: Webhook}
cgroupDriver: $driver
failCgroupV1: false
containerRuntimeEndpoint: "unix://$run/containerd.sock"
failSwapOn: false
tlsCertFile: "$pki/kubelet-serving.crt"
tlsPrivateKeyFile: "$pki/kubelet-serving.key"
clusterDomain: cluster.local
clusterDNS: ["$dns_ip"]
resolvConf: /etc/resolv.conf
# nothing can be pulled again: never collect the imported images; evict only when the
# shared disk is really full (512 MiB left), not at a percentage of it
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "512Mi", imagefs.available: "512Mi"}
EOF
  put "$state/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: "$state/kube-proxy.kubeconfig"}
mode: iptables
clusterCIDR: "$pod_cidr"
hostnameOverride: "$node"
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:$((port + 5))
metricsBindAddress: 127.0.0.1:$((port + 6))
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
}

host_setup() {
  # the node address: a /32 on lo (the kernel here has no `dummy` links, and the
  # kubelet refuses a 127/8 node IP)
  ip -4 addr show dev lo | grep -q " $node_ip/32 " || ip addr add "$node_ip/32" dev lo
  if [ ! -f "$run/sysctl.orig" ]; then
    local k
    for k in $sysctls; do echo "$k=$(sysctl -n "$k" 2>/dev/null || echo -)"; done >"$run/sysctl.orig"
  fi
  # pod -> ClusterIP -> pod is routed back out of cni0 ...
  sysctl -qw net.ipv4.ip_forward=1
  sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null || true
  # ... but nothing from a pod leaves the machine
  iptables -C FORWARD -s "$pod_cidr" ! -o cni0 -m comment --comment "$egress_tag" -j DROP 2>/dev/null \
    || iptables -I FORWARD 1 -s "$pod_cidr" ! -o cni0 -m comment --comment "$egress_tag" -j DROP
}

restore_sysctls() { # all | panic (kernel.panic* only: the kubelet sets them once at start)
  [ -f "$run/sysctl.orig" ] || return 0
  local pat=.
  [ "$1" = panic ] && pat='^kernel\.panic'
  grep -E "$pat" "$run/sysctl.orig" | while IFS='=' read -r k v; do
    [ "$v" = - ] || sysctl -qw "$k=$v" 2>/dev/null || true
  done
  if [ "$1" = all ]; then rm -f "$run/sysctl.orig"; fi
}

# a docker-archive of a one-file image made from scratch
scratch_image() { # NAME FILE ENTRYPOINT_PATH OUT
  local c
  c=$(buildah from scratch)
  buildah copy "$c" "$2" "$3" >/dev/null
  buildah config --entrypoint "[\"$3\"]" "$c"
  buildah commit -q "$c" "$1" >/dev/null
  buildah rm "$c" >/dev/null
  rm -f "$4"
  buildah push -q "$1" "docker-archive:$4:$1" >/dev/null
}

# the pod sandbox process (what registry.k8s.io/pause does), under the name containerd expects
load_pause() {
  has_image "$pause_image" && return 0
  local dir="$state/images"
  mkdir -p "$dir"
  cat >"$dir/pause.c" <<'EOF'
/* pod sandbox: PID 1 of the pod, reaps zombies, exits on INT/TERM */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
static void down(int s) { (void)s; _exit(0); }
static void reap(int s) { (void)s; while (waitpid(-1, 0, WNOHANG) > 0) {} }
int main(void) {
  struct sigaction d = {.sa_handler = down}, r = {.sa_handler = reap, .sa_flags = SA_NOCLDSTOP};
  if (sigaction(SIGINT, &d, 0) || sigaction(SIGTERM, &d, 0) || sigaction(SIGCHLD, &r, 0)) return 1;
  for (;;) pause();
}
EOF
  gcc -static -O2 -o "$dir/pause" "$dir/pause.c"
  scratch_image "$pause_image" "$dir/pause" /pause "$dir/pause.tar"
  ctr_ images import "$dir/pause.tar" >/dev/null
}

deploy_coredns() {
  local bin dir="$state/images"
  bin=$(bin_dir)
  if ! has_image "$coredns_image"; then
    mkdir -p "$dir"
    scratch_image "$coredns_image" "$bin/coredns" /coredns "$dir/coredns.tar"
    ctr_ images import "$dir/coredns.tar" >/dev/null
  fi
  kubectl apply -f k8s/local-cluster/coredns.yaml >/dev/null
  kubectl -n kube-system rollout status deploy/coredns --timeout=180s >/dev/null
}

up() {
  need_root
  local t0 bin
  t0=$(date +%s)
  bin=$(bin_dir) || die "no Kubernetes binaries: scripts/k8s-tools.sh apt && scripts/k8s-tools.sh install"
  mkdir -p "$state" "$run" "$logs"
  chmod 0700 "$state"
  ports
  log "ports: etcd $port, apiserver $((port + 2)), kubelet $((port + 3))"
  host_setup
  gen_pki
  write_configs
  start etcd "$(find_bin etcd)" --name fanone-k8s --data-dir "$state/etcd" \
    --listen-client-urls "http://127.0.0.1:$port" --advertise-client-urls "http://127.0.0.1:$port" \
    --listen-peer-urls "http://127.0.0.1:$((port + 1))" --initial-advertise-peer-urls "http://127.0.0.1:$((port + 1))" \
    --initial-cluster "fanone-k8s=http://127.0.0.1:$((port + 1))" --logger zap
  start containerd "$(find_bin containerd)" --config "$state/containerd/config.toml"
  wait_for etcd 60 curl -fsS "http://127.0.0.1:$port/health"
  start kube-apiserver "$bin/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:$port" \
    --advertise-address="$node_ip" --bind-address="$node_ip" --secure-port=$((port + 2)) \
    --service-cluster-ip-range="$service_cidr" --service-node-port-range=30000-32767 \
    --client-ca-file="$pki/ca.crt" --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
    --kubelet-client-certificate="$pki/apiserver-kubelet-client.crt" --kubelet-client-key="$pki/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority="$pki/ca.crt" --kubelet-preferred-address-types=InternalIP \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction
  wait_for kube-apiserver 180 curl -fsS --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" \
    "https://$node_ip:$((port + 2))/readyz"
  start kube-controller-manager "$bin/kube-controller-manager" \
    --kubeconfig="$state/controller-manager.kubeconfig" \
    --authentication-kubeconfig="$state/controller-manager.kubeconfig" \
    --authorization-kubeconfig="$state/controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port=$((port + 7)) --leader-elect=false \
    --use-service-account-credentials=true \
    --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
    --cluster-signing-cert-file="$pki/ca.crt" --cluster-signing-key-file="$pki/ca.key" \
    --allocate-node-cidrs=true --cluster-cidr="$pod_cidr" --node-cidr-mask-size=24 \
    --service-cluster-ip-range="$service_cidr"
  start kube-scheduler "$bin/kube-scheduler" \
    --kubeconfig="$state/scheduler.kubeconfig" \
    --authentication-kubeconfig="$state/scheduler.kubeconfig" \
    --authorization-kubeconfig="$state/scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port=$((port + 8)) --leader-elect=false
  wait_for containerd 30 test -S "$run/containerd.sock"
  load_pause
  start kubelet "$bin/kubelet" --config="$state/kubelet.yaml" --kubeconfig="$state/kubelet.kubeconfig" \
    --hostname-override="$node" --node-ip="$node_ip" --root-dir="$state/kubelet"
  start kube-proxy "$bin/kube-proxy" --config="$state/kube-proxy.yaml"
  wait_for "node Ready" 180 sh -c "'$bin/kubectl' get node $node -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' | grep -qx True"
  restore_sysctls panic
  log "node Ready after $(($(date +%s) - t0))s"
  deploy_coredns
  log "cluster up in $(($(date +%s) - t0))s; export KUBECONFIG=$KUBECONFIG"
  kubectl get nodes -o wide
}

# images into the node: buildah storage -> docker-archive -> containerd, when changed
load_images() {
  local bin=${FANONE_BIN:-${CARGO_TARGET_DIR:-target}/release/fanone} name tar id
  scripts/image.sh base >/dev/null
  if [ "${FANONE_IMAGE_BUILD:-}" = container ]; then
    scripts/image.sh fanone >/dev/null
  else
    if [ ! -x "$bin" ]; then
      log "building $bin (cargo build --release, niced)"
      nice -n 19 ionice -c3 cargo build --release --bin fanone
    fi
    scripts/image.sh fanone "$bin" >/dev/null
  fi
  scripts/image.sh infra >/dev/null
  scripts/image.sh jaeger >/dev/null
  for name in localhost/fanone/fanone:local localhost/fanone/infra:bookworm localhost/fanone/jaeger:local; do
    tar=$(scripts/image.sh archive "$name")
    id=$(cat "$tar.id")
    # imported before and still there (disk-pressure eviction removes unused images)
    if [ "$(cat "$state/images/$(basename "$tar").imported" 2>/dev/null)" != "$id" ] \
      || ! has_image "$name"; then
      ctr_ images import "$tar" >/dev/null
      mkdir -p "$state/images"
      echo "$id" >"$state/images/$(basename "$tar").imported"
      log "imported $name"
      [ "$name" = localhost/fanone/fanone:local ] && touch "$state/images/fanone.changed"
    fi
  done
  return 0
}

# the overlay as applied: a copy of k8s/ with this cluster's secrets.env (random, kept)
render() {
  local out="$state/render"
  if [ ! -f "$state/secrets.env" ]; then
    local pw
    pw=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
    (
      umask 077
      echo "jwt-secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
      echo "internal-secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
      echo "mariadb-password=$pw"
      for db in user video interaction social chat image events; do
        echo "$db-database-url=mysql://fanone:$pw@mariadb:3306/fanone_$db"
      done
    ) >"$state/secrets.env"
  fi
  # added after the first clusters were made: kept secrets may lack it
  grep -q '^redis-url=' "$state/secrets.env" || echo "redis-url=redis://redis:6379" >>"$state/secrets.env"
  rm -rf "$out"
  mkdir -p "$out"
  cp -r k8s "$out/k8s"
  install -m 0600 "$state/secrets.env" "$out/k8s/overlays/local/secrets.env"
  kubectl kustomize "$out/k8s/overlays/local" >"$out/local.yaml"
  chmod 0600 "$out/local.yaml"
  echo "$out/local.yaml"
}

deploy() {
  need_root
  running kube-apiserver || die "the cluster is not up: scripts/k8s-local.sh up"
  local t0 rendered
  t0=$(date +%s)
  load_pause
  deploy_coredns
  load_images
  log "images in the node after $(($(date +%s) - t0))s"
  mkdir -p "$volumes"
  rendered=$(render)
  # first everything but the FanOne Deployments: namespace, config, secrets, volumes,
  # the servers; then the migration Job once the database answers; then FanOne
  kubectl -n fanone delete job fanone-migrate --ignore-not-found >/dev/null 2>&1 || true
  kubectl apply -f "$rendered" -l 'app.kubernetes.io/name!=fanone,app.kubernetes.io/name!=fanone-migrate' >/dev/null
  for s in statefulset/mariadb statefulset/etcd statefulset/redis statefulset/milvus statefulset/prometheus deployment/jaeger; do
    kubectl -n fanone rollout status "$s" --timeout=300s >/dev/null
  done
  log "servers ready after $(($(date +%s) - t0))s"
  kubectl apply -f "$rendered" -l app.kubernetes.io/name=fanone-migrate >/dev/null
  kubectl -n fanone wait --for=condition=complete job/fanone-migrate --timeout=300s >/dev/null
  log "migrations applied after $(($(date +%s) - t0))s"
  kubectl apply -f "$rendered" >/dev/null
  if [ -f "$state/images/fanone.changed" ]; then
    # same tag, new image: roll the pods
    kubectl -n fanone rollout restart deployment -l app.kubernetes.io/name=fanone >/dev/null
    rm -f "$state/images/fanone.changed"
  fi
  for d in gateway user video interaction social chat image; do
    kubectl -n fanone rollout status "deployment/$d" --timeout=600s >/dev/null
  done
  wait_for "every pod" 300 all_ready
  log "FanOne deployed in $(($(date +%s) - t0))s"
  kubectl -n fanone get deploy,statefulset,pods -o wide
}

# every pod of the namespace Running with all containers ready, or Completed (the Job)
all_ready() {
  kubectl -n fanone get pods --no-headers | awk '
    { split($2, r, "/"); if (!(($3 == "Running" && r[1] == r[2]) || $3 == "Completed")) bad = 1 }
    END { exit bad }'
}

kill_pods() { # a graceful delete of a gateway pod, a SIGKILL of an interaction pod
  local gw ia cid
  gw=$(kubectl -n fanone get pod -l app.kubernetes.io/component=gateway -o jsonpath='{.items[0].metadata.name}')
  ia=$(kubectl -n fanone get pod -l app.kubernetes.io/component=interaction -o jsonpath='{.items[0].metadata.name}')
  cid=$(kubectl -n fanone get pod "$ia" -o jsonpath='{.status.containerStatuses[0].containerID}')
  cid=${cid#containerd://}
  log "SIGKILL the fanone process of pod $ia (a crash: the kubelet restarts it)"
  ctr_ tasks kill -s SIGKILL "$cid"
  log "delete pod $gw (graceful: endpoints drop it, preStop, SIGTERM, drain)"
  kubectl -n fanone delete pod "$gw" --wait=false
}

chaos() {
  running kube-apiserver || die "the cluster is not up"
  python3 scripts/k8s-smoke.py chaos "$gateway_url" 40 10 -- "$root/scripts/k8s-local.sh" kill-pods
  kubectl -n fanone get pods -l app.kubernetes.io/name=fanone
}

stop_component() {
  local f="$run/$1.pid" pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

# delete the rules that jump to KUBE-*/CNI-* chains, then those chains (kubelet,
# kube-proxy and the CNI plugins made them; nothing else here uses these names)
clean_chains() {
  local ipt=$1 t ch
  command -v "$ipt" >/dev/null || return 0
  for t in filter nat mangle; do
    "$ipt" -t "$t" -S 2>/dev/null | grep -E '^-A (PREROUTING|INPUT|FORWARD|OUTPUT|POSTROUTING) .*-j (KUBE-|CNI-)' \
      | sed 's/^-A/-D/' | while read -r rule; do
        # shellcheck disable=SC2086  # the rule is a list of arguments
        "$ipt" -t "$t" $rule 2>/dev/null || true
      done
    for ch in $("$ipt" -t "$t" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^(KUBE-|CNI-)/ { print $2 }'); do
      "$ipt" -t "$t" -F "$ch" 2>/dev/null || true
    done
    for ch in $("$ipt" -t "$t" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^(KUBE-|CNI-)/ { print $2 }'); do
      "$ipt" -t "$t" -X "$ch" 2>/dev/null || true
    done
  done
}

down() {
  need_root
  set +e
  local c t pid m ns
  for c in kube-proxy kubelet kube-scheduler kube-controller-manager kube-apiserver; do stop_component "$c"; done
  # the pods' containers, then their shims (children of this containerd only)
  if [ -S "$run/containerd.sock" ]; then
    for t in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks kill -s SIGKILL "$t" >/dev/null 2>&1; done
    sleep 2
    for t in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks delete -f "$t" >/dev/null 2>&1; done
    for c in $(ctr_ containers ls -q 2>/dev/null); do ctr_ containers delete "$c" >/dev/null 2>&1; done
  fi
  stop_component containerd
  stop_component etcd
  for pid in $(pgrep -f "containerd-shim-runc-v2 .*-address $run/containerd.sock"); do kill "$pid" 2>/dev/null; done
  # mounts under our dirs, deepest first
  awk '{ print $2 }' /proc/mounts | grep -E "^($state|$run)/" | sort -r | while read -r m; do umount -l "$m"; done
  # network: pod namespaces, the bridge, the node address, iptables, CNI state
  for ns in $(ip netns list 2>/dev/null | awk '/^cni-/ { print $1 }'); do ip netns delete "$ns"; done
  ip link delete cni0 2>/dev/null
  ip addr del "$node_ip/32" dev lo 2>/dev/null
  "$(bin_dir 2>/dev/null)/kube-proxy" --cleanup >/dev/null 2>&1
  clean_chains iptables
  clean_chains ip6tables
  while iptables -D FORWARD -s "$pod_cidr" ! -o cni0 -m comment --comment "$egress_tag" -j DROP 2>/dev/null; do :; done
  rm -rf /var/lib/cni/networks/fanone-pods
  rm -f /var/lib/cni/results/fanone-pods-* /var/lib/cni/results/cni-loopback-*
  rmdir /var/lib/cni/results /var/lib/cni/networks /var/lib/cni 2>/dev/null
  # containerd 1.6 puts shim sockets and fifos under /run/containerd whatever its config
  for m in /run/containerd/s /run/containerd/fifo /run/containerd/runc/k8s.io /run/containerd/runc /run/containerd; do
    rmdir "$m" 2>/dev/null
  done
  restore_sysctls all
  rm -rf "$run"
  log "down (state and volumes kept in $state; remove it for a fresh cluster)"
}

status() {
  local c
  for c in $components; do
    if running "$c"; then echo "  up    $c (pid $(cat "$run/$c.pid"))"; else echo "  down  $c"; fi
  done
  if running kube-apiserver; then
    kubectl get nodes -o wide
    kubectl -n fanone get pods -o wide 2>/dev/null
  fi
}

case "$cmd" in
  up) up ;;
  deploy) deploy ;;
  smoke)
    running kube-apiserver || die "the cluster is not up"
    python3 scripts/k8s-smoke.py smoke "$gateway_url"
    ;;
  chaos) chaos ;;
  kill-pods) kill_pods ;;
  down) down ;;
  status) status ;;
  env) echo "export KUBECONFIG=$KUBECONFIG PATH=$(bin_dir):\$PATH" ;;
  *)
    echo "usage: $0 up | deploy | smoke | chaos | status | env | down" >&2
    exit 2
    ;;
esac
