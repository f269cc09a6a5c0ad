#!/usr/bin/env bash
# The local cluster: a real single-node Kubernetes on this machine, offline,
# for the chart path (DESIGN.md §4, CLUSTER.md). etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, containerd (Debian's) with runc
# and the CNI bridge plugin, the kubelet, kube-proxy and CoreDNS, on a
# host-only bridge whose traffic cannot leave the machine. The project's
# images are built without Docker or a registry and imported into
# containerd; then the chart is installed with Helm 4 as release orderflow
# in namespace orderflow-system. State and logs live under $CLUSTER_DIR
# (default .cluster/); it runs beside `make dev` without touching it.
#
#   hack/cluster.sh up       bring the node up, import the images, install the chart
#   hack/cluster.sh node     bring the node up and import the images only
#   hack/cluster.sh down     uninstall nothing, stop everything started (by pid),
#                            restore what was changed on the host, keep the data
#   hack/cluster.sh clean    down, then remove $CLUSTER_DIR
#   hack/cluster.sh status   say what runs
#
# CLUSTER_TEMPORAL=server runs the production shape: the real Temporal
# server in namespace temporal (hack/temporal-cluster: PostgreSQL, SQL
# visibility, default dynamic config, mTLS) and the chart at its default
# temporal.address with temporal.tls; CLUSTER_TEMPORAL=dev (the default)
# the chart's single-pod dev server.
#
# Needs root (containerd, mounts, iptables) and Debian's containerd, runc,
# containernetworking-plugins, iptables, conntrack, mmdebstrap and
# busybox-static (installed when missing).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/bin
# The Kubernetes components are hack/stack's (stack cluster STEP); so is the
# cluster's shape: dir, node, bridge, node_ip, pod_cidr, service_cidr,
# dns_ip, etcd_port, api_port, kubeconfig.
(cd "$root" && go build -o bin/stack ./hack/stack)
eval "$("$bin/stack" cluster env)"
# Image inputs and the PostgreSQL root filesystem, kept across clusters.
build=${CLUSTER_BUILD_DIR:-$root/.cache/cluster}
release=orderflow
release_ns=orderflow-system
chain=ORDERFLOW-CLUSTER-EGRESS
k8s_version=v1.37.2
temporal_mode=${CLUSTER_TEMPORAL:-dev}
case $temporal_mode in dev|server) ;; *) echo "cluster: error: CLUSTER_TEMPORAL=$temporal_mode: want dev or server" >&2; exit 1 ;; esac

say() { printf '%s\n' "cluster: $*"; }
die() { printf '%s\n' "cluster: error: $*" >&2; exit 1; }

# Processes are started, waited for and stopped by pid through hack/stack.
running() { "$bin/stack" cluster running "$1"; }

k() { "$bin/kubectl" --kubeconfig "$kubeconfig" "$@"; }

preflight() {
  [ "$(id -u)" = 0 ] || die "the local cluster needs root (containerd, mounts, iptables); run as root"
  local missing=()
  command -v containerd >/dev/null || missing+=(containerd)
  command -v runc >/dev/null || missing+=(runc)
  [ -x /usr/lib/cni/bridge ] || missing+=(containernetworking-plugins)
  command -v iptables >/dev/null || missing+=(iptables)
  command -v conntrack >/dev/null || missing+=(conntrack)
  command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
  [ -x /bin/busybox ] || missing+=(busybox-static)
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]} from Debian"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >"$dir/logs/apt.log" 2>&1 ||
      { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >"$dir/logs/apt.log" 2>&1; } ||
      die "apt-get install ${missing[*]} failed; see $dir/logs/apt.log"
  fi
  grep -q overlay /proc/filesystems || modprobe overlay 2>/dev/null || die "the kernel has no overlay filesystem (containerd's snapshotter needs it)"
  local t
  for t in kube-apiserver etcd kubectl kubelet kube-controller-manager kube-scheduler kube-proxy coredns helm4; do
    [ -x "$bin/$t" ] || die "bin/$t is missing: run make tools"
  done
}

# The host-only network: the bridge (node IP, pods' gateway, the API
# server's address), the Service range routed onto it, and a rule that drops
# whatever would be forwarded from it to any other interface. ip_forward's
# old value is kept to be restored.
network() {
  if ! ip link show "$bridge" >/dev/null 2>&1; then
    ip link add "$bridge" type bridge
    ip addr add "$node_ip/24" dev "$bridge"
  fi
  ip link set "$bridge" up
  ip route replace "$service_cidr" dev "$bridge" src "$node_ip"
  [ -f "$dir/run/ip_forward" ] || cat /proc/sys/net/ipv4/ip_forward >"$dir/run/ip_forward"
  echo 1 >/proc/sys/net/ipv4/ip_forward
  # In the mangle table's FORWARD chain, which the filter table's FORWARD
  # follows: kube-proxy and the kubelet put their own jumps (some of which
  # ACCEPT) first in the filter table's FORWARD, never in this one.
  iptables -t mangle -N "$chain" 2>/dev/null || true
  iptables -t mangle -F "$chain"
  iptables -t mangle -A "$chain" -i "$bridge" ! -o "$bridge" -j DROP
  iptables -t mangle -C FORWARD -j "$chain" 2>/dev/null || iptables -t mangle -I FORWARD 1 -j "$chain"
}

runtime() {
  mkdir -p "$dir/containerd" "$dir/cni/net.d" "$dir/cni/ipam"
  cat >"$dir/containerd/config.toml" <<EOF
version = 2
root = "$dir/containerd/root"
state = "$dir/containerd/state"
[grpc]
  address = "$dir/containerd/containerd.sock"
[ttrpc]
  address = "$dir/containerd/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.10"
  # Root here lacks CAP_SYS_RESOURCE: without this runc fails to set the
  # sandbox's oom_score_adj (CLUSTER.md).
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$dir/cni/net.d"
EOF
  cat >"$dir/cni/net.d/10-orderflow.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "orderflow",
  "plugins": [
    {"type": "bridge", "bridge": "$bridge", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "dataDir": "$dir/cni/ipam", "ranges": [[{"subnet": "$pod_cidr", "rangeStart": "10.244.0.10", "gateway": "$node_ip"}]],
              "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "loopback"}
  ]
}
EOF
  "$bin/stack" cluster start containerd -- ctr --address "$dir/containerd/containerd.sock" version -- \
    containerd --config "$dir/containerd/config.toml"
}

# images: the project's images (orderflow, the Temporal dev server,
# PostgreSQL, kubectl for the chart's test hook) and the node's own (pause,
# CoreDNS), built without Docker and imported into containerd. Rebuilt when
# an input changed.
images() {
  local b=$build
  mkdir -p "$b"
  # bin/orderflow and bin/temporal* are static builds (make build, make tools).
  [ -x "$bin/orderflow" ] || die "bin/orderflow is missing: run make build"
  [ -x "$bin/temporal-server" ] && [ -x "$bin/temporal-sql-tool" ] ||
    "$root/hack/tools/install.sh" temporal-server temporal-sql-tool
  (cd "$root" && CGO_ENABLED=0 go build -trimpath -o "$b/pause" ./hack/images/pause)
  postgres_rootfs
  cat >"$b/images.json" <<EOF
[
  {"name": "docker.io/library/orderflow:$(sed -n 's/^appVersion: "\(.*\)"$/\1/p' "$root/charts/orderflow/Chart.yaml")",
   "files": {"/orderflow": "$bin/orderflow", "/etc/ssl/certs/ca-certificates.crt": "/etc/ssl/certs/ca-certificates.crt"},
   "executables": ["/orderflow"], "entrypoint": ["/orderflow"], "user": "65532:65532"},
  {"name": "docker.io/temporalio/temporal:1.5.1",
   "files": {"/usr/local/bin/temporal": "$bin/temporal"}, "executables": ["/usr/local/bin/temporal"],
   "dirs": ["/tmp"], "entrypoint": ["temporal"], "user": "65532:65532",
   "env": ["USER=temporal", "HOME=/tmp"]},
  {"name": "docker.io/library/postgres:15", "rootfs": "$b/postgres-rootfs.tar",
   "files": {"/usr/local/bin/docker-entrypoint.sh": "$root/hack/images/postgres-entrypoint.sh"},
   "executables": ["/usr/local/bin/docker-entrypoint.sh"],
   "symlinks": {"/usr/local/bin/pg_isready": "/usr/lib/postgresql/15/bin/pg_isready"},
   "env": ["PGDATA=/var/lib/postgresql/data", "PG_MAJOR=15"],
   "entrypoint": ["docker-entrypoint.sh"], "cmd": ["postgres"], "user": "999:999"},
  {"name": "registry.k8s.io/kubectl:$k8s_version",
   "files": {"/usr/local/bin/kubectl": "$bin/kubectl", "/bin/busybox": "/bin/busybox"},
   "executables": ["/usr/local/bin/kubectl", "/bin/busybox"],
   "symlinks": {"/bin/sh": "busybox", "/bin/cat": "busybox", "/bin/date": "busybox", "/bin/sleep": "busybox", "/bin/echo": "busybox"},
   "dirs": ["/tmp"], "entrypoint": ["kubectl"], "user": "65532:65532"},
  {"name": "docker.io/temporalio/server:1.31.2",
   "files": {"/usr/local/bin/temporal-server": "$bin/temporal-server", "/usr/local/bin/temporal-sql-tool": "$bin/temporal-sql-tool",
             "/bin/busybox": "/bin/busybox"},
   "trees": {"/etc/temporal/schema": "$bin/temporal-schema"},
   "executables": ["/usr/local/bin/temporal-server", "/usr/local/bin/temporal-sql-tool", "/bin/busybox"],
   "symlinks": {"/bin/sh": "busybox", "/bin/echo": "busybox"},
   "dirs": ["/tmp"], "user": "65532:65532", "env": ["USER=temporal", "HOME=/tmp"]},
  {"name": "registry.k8s.io/pause:3.10", "files": {"/pause": "$b/pause"}, "executables": ["/pause"],
   "entrypoint": ["/pause"], "user": "65535:65535"},
  {"name": "registry.k8s.io/coredns/coredns:v1.15.0", "files": {"/coredns": "$bin/coredns"}, "executables": ["/coredns"],
   "entrypoint": ["/coredns"], "user": "65532:65532"}
]
EOF
  (cd "$root" && go run ./hack/images -spec "$b/images.json" -out "$b/images.tar")
  ctr --address "$dir/containerd/containerd.sock" -n k8s.io images import --no-unpack=false "$b/images.tar" >"$dir/logs/import.log" 2>&1 ||
    die "importing the images failed; see $dir/logs/import.log"
  say "imported the images: $(ctr --address "$dir/containerd/containerd.sock" -n k8s.io images ls -q | grep -v '^sha256:' | tr '\n' ' ')"
}

# postgres_rootfs: Debian's PostgreSQL 15 in a minimal root, the postgres
# user with uid/gid 999 as in the official image. Cached: it takes minutes.
postgres_rootfs() {
  local out=$build/postgres-rootfs.tar stamp=bookworm-postgresql-15-v1
  [ -s "$out" ] && [ "$(cat "$out.stamp" 2>/dev/null)" = "$stamp" ] && return 0
  say "building the PostgreSQL image's root filesystem from Debian (mmdebstrap, a few minutes)"
  mmdebstrap --variant=minbase --include=postgresql-15 \
    --customize-hook='chroot "$1" sh -c "groupmod -g 999 postgres && usermod -u 999 -g 999 postgres && mkdir -p /var/lib/postgresql/data /var/run/postgresql && chown -R 999:999 /var/lib/postgresql /var/run/postgresql"' \
    --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/usr/share/doc "$1"/usr/share/man' \
    bookworm "$out" >"$dir/logs/mmdebstrap.log" 2>&1 || die "mmdebstrap failed; see $dir/logs/mmdebstrap.log"
  echo "$stamp" >"$out.stamp"
}

install_chart() {
  # The release namespace enforces the restricted Pod Security Standard: a
  # Pod that breaks it is refused, not just flagged.
  k apply --server-side -f - >/dev/null <<EOF
apiVersion: v1
kind: Namespace
metadata:
  name: $release_ns
  labels:
    pod-security.kubernetes.io/enforce: restricted
    pod-security.kubernetes.io/enforce-version: latest
EOF
  local verb=install values=()
  if [ "$temporal_mode" = server ]; then
    temporal_server
    values=(--set temporal.dev.enabled=false --set temporal.tls.enabled=true
      --set temporal.tls.existingSecret=orderflow-temporal-tls --set temporal.tls.serverName=temporal-frontend.temporal.svc)
  fi
  "$bin/helm4" status "$release" -n "$release_ns" --kubeconfig "$kubeconfig" >/dev/null 2>&1 && verb=upgrade
  say "helm $verb --wait $release into $release_ns (Temporal: $temporal_mode)"
  "$bin/helm4" "$verb" "$release" "$root/charts/orderflow" -n "$release_ns" --kubeconfig "$kubeconfig" \
    --wait --timeout 10m -f "$root/hack/cluster/values.yaml" "${values[@]}" "$@"
  # On a first install the finalizer policy refuses Orders until the API
  # server's copy of the new schema reaches it: wait until one is admitted.
  local deadline=$((SECONDS + 90))
  until k create --dry-run=server -o name -f - >/dev/null 2>&1 <<'EOF'
apiVersion: orderflow.io/v1alpha1
kind: Order
metadata: {generateName: admission-check-, namespace: default}
spec: {customerID: CHECK, items: [{productID: PROD-001, quantity: 1}]}
EOF
  do
    [ $SECONDS -lt $deadline ] || die "Orders are still refused 90s after the install: bin/kubectl --kubeconfig $kubeconfig create --dry-run=server -f config/samples/order-completes.yaml says why"
    sleep 1
  done
}

# temporal_server runs the real Temporal server in namespace temporal
# (hack/temporal-cluster), registers the namespace default with a retention
# and the search attribute OrderUpdatedAt, from the host through the
# frontend Service with the client certificate: the cluster's operator
# does that once; OrderFlow's worker only checks the attribute (and adds it
# when it may).
temporal_server() {
  local gen=(go run ./hack/temporal-cluster -dir "$dir/temporal-tls" -release-namespace "$release_ns")
  say "the real Temporal server in namespace temporal: PostgreSQL, schemas, then the server (mTLS)"
  (cd "$root" && "${gen[@]}" -part base) | k apply --server-side -f - >/dev/null
  k -n temporal rollout status deployment/temporal-postgresql --timeout=180s >/dev/null ||
    die "Temporal's PostgreSQL did not become ready; see bin/kubectl --kubeconfig $kubeconfig -n temporal describe pods"
  k -n temporal wait --for=condition=complete job/temporal-schema --timeout=300s >/dev/null ||
    die "Temporal's schemas were not set up; see bin/kubectl --kubeconfig $kubeconfig -n temporal logs job/temporal-schema"
  (cd "$root" && "${gen[@]}" -part server) | k apply --server-side -f - >/dev/null
  k -n temporal rollout status deployment/temporal --timeout=300s >/dev/null ||
    die "the Temporal server did not become ready; see bin/kubectl --kubeconfig $kubeconfig -n temporal logs deployment/temporal"
  "$bin/stack" cluster temporal-namespace
}

up() {
  local t0=$SECONDS
  mkdir -p "$dir/logs" "$dir/run"
  preflight
  network
  "$bin/stack" cluster control-plane
  runtime
  images
  "$bin/stack" cluster node-agents
  "$bin/stack" cluster addons
  say "node $node Ready, CoreDNS ready in $((SECONDS - t0))s"
}

cluster_up() {
  local t0=$SECONDS
  up
  install_chart
  say "the cluster and the chart are ready in $((SECONDS - t0))s"
  cat <<EOF

OrderFlow runs on a local single-node Kubernetes ($k8s_version):
  kubeconfig      $kubeconfig
  release         $release in namespace $release_ns (helm4 status $release -n $release_ns --kubeconfig $kubeconfig)

Try:
  export KUBECONFIG=$kubeconfig
  bin/kubectl -n $release_ns get pods
  bin/kubectl -n $release_ns apply -f config/samples/
  bin/kubectl -n $release_ns get orders -w
  bin/helm4 test $release -n $release_ns

The page and REST API (Kubernetes auth: sign in with a token, e.g. bin/kubectl create token default):
  bin/kubectl -n $release_ns port-forward svc/$release-api 8090:80      # http://localhost:8090/
The Temporal UI:
  bin/kubectl -n $release_ns port-forward svc/$release-temporal 8234:8233   # http://localhost:8234/

Stop it with: make cluster-down   (data stays; CLUSTER_CLEAN=1 make cluster-down removes it)
EOF
}

down() {
  [ -d "$dir/run" ] || { say "nothing to stop"; return 0; }
  # Pods first, so the kubelet stops their containers.
  if running kubelet && running kube-apiserver; then
    k delete pods --all -A --grace-period=5 --timeout=60s --wait=true >/dev/null 2>&1 || true
  fi
  local name
  "$bin/stack" cluster stop kube-proxy kubelet kube-scheduler kube-controller-manager kube-apiserver etcd
  # Containers left behind (containerd-shim and what it runs), then containerd.
  if running containerd; then
    local sock=$dir/containerd/containerd.sock c
    for c in $(ctr --address "$sock" -n k8s.io tasks ls -q 2>/dev/null); do
      ctr --address "$sock" -n k8s.io tasks kill -s SIGKILL "$c" >/dev/null 2>&1 || true
    done
    sleep 1
    "$bin/stack" cluster stop containerd
  fi
  pkill -KILL -f "containerd-shim-runc-v2 -namespace k8s.io -id .* -address $dir/containerd/containerd.sock" >/dev/null 2>&1 || true
  # Mounts under the kubelet's and containerd's roots.
  local m
  for m in $(awk -v d="$dir/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r); do umount -l "$m" 2>/dev/null || true; done
  # The host's network as it was.
  if [ -x "$bin/kube-proxy" ]; then "$bin/kube-proxy" --cleanup >/dev/null 2>&1 || true; fi
  # Whatever kube-proxy's cleanup left of the KUBE-* chains (the kubelet
  # makes some too): each table saved without them and restored.
  local t
  for t in filter nat mangle; do
    if iptables-save -t "$t" 2>/dev/null | grep -q 'KUBE-'; then
      iptables-save -t "$t" | grep -v -e '^:KUBE-' -e 'KUBE-' | iptables-restore -T "$t" || say "could not remove the KUBE-* chains of the $t table"
    fi
  done
  iptables -t mangle -D FORWARD -j "$chain" 2>/dev/null || true
  iptables -t mangle -F "$chain" 2>/dev/null || true
  iptables -t mangle -X "$chain" 2>/dev/null || true
  ip route del "$service_cidr" dev "$bridge" 2>/dev/null || true
  ip link del "$bridge" 2>/dev/null || true
  if [ -f "$dir/run/ip_forward" ]; then cat "$dir/run/ip_forward" >/proc/sys/net/ipv4/ip_forward; rm -f "$dir/run/ip_forward"; fi
  # Host paths the kubelet and CNI write whatever the flags say.
  rm -rf /var/lib/kubelet/device-plugins /var/lib/kubelet/pod-resources /var/log/pods /var/log/containers /var/lib/cni/results 2>/dev/null || true
  rmdir /var/lib/kubelet 2>/dev/null || true
  say "stopped; the host's network is as it was"
}

case ${1:-} in
  up) cluster_up ;;
  node) mkdir -p "$dir/logs" "$dir/run"; up ;;
  chart) shift; install_chart "$@" ;;
  down) down ;;
  clean) down; rm -rf "$dir"; say "removed $dir" ;;
  status) "$bin/stack" cluster status ;;
  *) echo "usage: hack/cluster.sh up|node|chart [helm args]|down|clean|status" >&2; exit 2 ;;
esac
