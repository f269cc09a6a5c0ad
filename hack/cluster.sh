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
dir=${CLUSTER_DIR:-$root/.cluster}
case $dir in /*) ;; *) dir=$root/$dir ;; esac
node=orderflow-node
bridge=ofcbr0
node_ip=10.244.0.1
pod_cidr=10.244.0.0/24
service_cidr=10.96.0.0/24
dns_ip=10.96.0.10
etcd_port=${CLUSTER_ETCD_PORT:-32379}
api_port=${CLUSTER_API_PORT:-36443}
kubeconfig=$dir/kubeconfig
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

state_dir=$dir
port_hint=""
# shellcheck source=hack/lib/procs.sh
. "$root/hack/lib/procs.sh"

k() { "$bin/kubectl" --kubeconfig "$kubeconfig" "$@"; }

# put FILE: write stdin to FILE unless FILE already holds exactly that.
put() {
  local tmp
  tmp=$(mktemp "$1.XXXX")
  cat >"$tmp"
  if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else mv "$tmp" "$1"; fi
}

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

# cert NAME CN [O] [SAN] [EKU]: a key and certificate signed by the CA.
cert() {
  local name=$1 cn=$2 org=${3:-} san=${4:-} eku=${5:-clientAuth} subj
  [ -f "$dir/pki/$name.crt" ] && return 0
  subj="/CN=$cn"
  if [ -n "$org" ]; then subj="/O=$org$subj"; fi
  openssl req -newkey rsa:2048 -nodes -keyout "$dir/pki/$name.key" -out "$dir/pki/$name.csr" -subj "$subj" 2>/dev/null
  echo "extendedKeyUsage=$eku" >"$dir/pki/$name.ext"
  if [ -n "$san" ]; then echo "subjectAltName=$san" >>"$dir/pki/$name.ext"; fi
  openssl x509 -req -in "$dir/pki/$name.csr" -CA "$dir/pki/ca.crt" -CAkey "$dir/pki/ca.key" -CAcreateserial \
    -out "$dir/pki/$name.crt" -days 3650 -extfile "$dir/pki/$name.ext" 2>/dev/null
}

pki() {
  mkdir -p "$dir/pki"
  if [ ! -f "$dir/pki/ca.crt" ]; then
    say "creating the cluster's certificates"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/pki/ca.key" -out "$dir/pki/ca.crt" -days 3650 -subj "/CN=orderflow-cluster-ca" 2>/dev/null
    openssl genrsa -out "$dir/pki/sa.key" 2048 2>/dev/null
    openssl rsa -in "$dir/pki/sa.key" -pubout -out "$dir/pki/sa.pub" 2>/dev/null
  fi
  cert apiserver kube-apiserver "" "IP:$node_ip,IP:10.96.0.1,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local" serverAuth
  cert admin orderflow-cluster-admin system:masters
  cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters
  cert kubelet "system:node:$node" system:nodes
  cert kubelet-serving "$node" "" "IP:$node_ip,DNS:$node" serverAuth
  cert controller-manager system:kube-controller-manager
  cert scheduler system:kube-scheduler
  cert proxy system:kube-proxy
  local who
  for who in admin kubelet controller-manager scheduler proxy; do
    kubeconfig_for "$who" >"$dir/$who.kubeconfig"
    chmod 600 "$dir/$who.kubeconfig"
  done
  cp "$dir/admin.kubeconfig" "$kubeconfig"
}

kubeconfig_for() {
  cat <<EOF
apiVersion: v1
kind: Config
clusters:
- name: orderflow-cluster
  cluster:
    server: https://$node_ip:$api_port
    certificate-authority-data: $(base64 -w0 <"$dir/pki/ca.crt")
users:
- name: $1
  user:
    client-certificate-data: $(base64 -w0 <"$dir/pki/$1.crt")
    client-key-data: $(base64 -w0 <"$dir/pki/$1.key")
contexts:
- name: orderflow-cluster
  context: {cluster: orderflow-cluster, user: $1, namespace: default}
current-context: orderflow-cluster
EOF
}

control_plane() {
  mkdir -p "$dir/etcd"
  start etcd "$etcd_port" "$bin/etcd" --data-dir "$dir/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$((etcd_port + 1))" --initial-advertise-peer-urls "http://127.0.0.1:$((etcd_port + 1))" \
    --initial-cluster "default=http://127.0.0.1:$((etcd_port + 1))" --unsafe-no-fsync
  wait_for etcd 30 curl -fsS "http://127.0.0.1:$etcd_port/health"
  start kube-apiserver - "$bin/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$etcd_port" --bind-address "$node_ip" --advertise-address "$node_ip" \
    --secure-port "$api_port" --tls-cert-file "$dir/pki/apiserver.crt" --tls-private-key-file "$dir/pki/apiserver.key" \
    --client-ca-file "$dir/pki/ca.crt" --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$dir/pki/sa.pub" --service-account-signing-key-file "$dir/pki/sa.key" \
    --service-cluster-ip-range "$service_cidr" \
    --kubelet-client-certificate "$dir/pki/apiserver-kubelet-client.crt" --kubelet-client-key "$dir/pki/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority "$dir/pki/ca.crt" --kubelet-preferred-address-types InternalIP,Hostname
  wait_for kube-apiserver 90 k get --raw /readyz
  start kube-controller-manager - "$bin/kube-controller-manager" --kubeconfig "$dir/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port 30257 --leader-elect=false --use-service-account-credentials \
    --service-account-private-key-file "$dir/pki/sa.key" --root-ca-file "$dir/pki/ca.crt" \
    --cluster-signing-cert-file "$dir/pki/ca.crt" --cluster-signing-key-file "$dir/pki/ca.key" \
    --service-cluster-ip-range "$service_cidr"
  start kube-scheduler - "$bin/kube-scheduler" --kubeconfig "$dir/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port 30259 --leader-elect=false
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
  start containerd - containerd --config "$dir/containerd/config.toml"
  wait_for containerd 30 ctr --address "$dir/containerd/containerd.sock" version
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

node_agents() {
  mkdir -p "$dir/kubelet" "$dir/kube-proxy"
  : >"$dir/kubelet/resolv.conf"
  put "$dir/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $node_ip
port: 10250
healthzBindAddress: 127.0.0.1
readOnlyPort: 0
failCgroupV1: false
cgroupDriver: cgroupfs
failSwapOn: false
oomScoreAdj: 0
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
clusterDNS: [$dns_ip]
clusterDomain: cluster.local
resolvConf: $dir/kubelet/resolv.conf
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $dir/pki/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $dir/pki/kubelet-serving.crt
tlsPrivateKeyFile: $dir/pki/kubelet-serving.key
containerRuntimeEndpoint: unix://$dir/containerd/containerd.sock
serializeImagePulls: false
maxPods: 60
EOF
  start kubelet - "$bin/kubelet" --config "$dir/kubelet/config.yaml" --kubeconfig "$dir/kubelet.kubeconfig" \
    --root-dir "$dir/kubelet/root" --cert-dir "$dir/kubelet/pki" --node-ip "$node_ip" --hostname-override "$node"
  # kube-proxy exits when its configuration file changes: write it only
  # when its content does.
  put "$dir/kube-proxy/config.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: $dir/proxy.kubeconfig}
clusterCIDR: $pod_cidr
hostnameOverride: $node
oomScoreAdj: 0
metricsBindAddress: 127.0.0.1:30249
healthzBindAddress: 127.0.0.1:30256
nodePortAddresses: [$node_ip/32]
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
  start kube-proxy - "$bin/kube-proxy" --config "$dir/kube-proxy/config.yaml"
  wait_for kubelet 60 k get node "$node"
  k wait --for=condition=Ready "node/$node" --timeout=90s >/dev/null || die "the node is not Ready; see $dir/logs/kubelet.log"
}

# addons: CoreDNS and the local PersistentVolumes (no provisioner: a few
# pre-made volumes under $dir/pv, a default StorageClass that binds them).
addons() {
  local i m=$dir/addons.yaml
  sed "s/@DNS_IP@/$dns_ip/" "$root/hack/cluster/coredns.yaml" >"$m"
  cat >>"$m" <<EOF
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: local
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: WaitForFirstConsumer
EOF
  for i in 1 2 3 4; do
    mkdir -p "$dir/pv/pv$i"
    cat >>"$m" <<EOF
---
apiVersion: v1
kind: PersistentVolume
metadata:
  name: local-pv$i
spec:
  capacity: {storage: 20Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: local
  local: {path: $dir/pv/pv$i}
  nodeAffinity:
    required:
      nodeSelectorTerms:
      - matchExpressions: [{key: kubernetes.io/hostname, operator: In, values: [$node]}]
EOF
  done
  k apply --server-side -f "$m" >/dev/null
  k -n kube-system rollout status deployment/coredns --timeout=120s >/dev/null ||
    die "CoreDNS did not become ready; see bin/kubectl --kubeconfig $kubeconfig -n kube-system describe pods"
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
  local tls=$dir/temporal-tls gen=(go run ./hack/temporal-cluster -dir "$dir/temporal-tls" -release-namespace "$release_ns")
  say "the real Temporal server in namespace temporal: PostgreSQL, schemas, then the server (mTLS)"
  (cd "$root" && "${gen[@]}" -part base) | k apply --server-side -f - >/dev/null
  k -n temporal rollout status deployment/temporal-postgresql --timeout=180s >/dev/null ||
    die "Temporal's PostgreSQL did not become ready; see bin/kubectl --kubeconfig $kubeconfig -n temporal describe pods"
  k -n temporal wait --for=condition=complete job/temporal-schema --timeout=300s >/dev/null ||
    die "Temporal's schemas were not set up; see bin/kubectl --kubeconfig $kubeconfig -n temporal logs job/temporal-schema"
  (cd "$root" && "${gen[@]}" -part server) | k apply --server-side -f - >/dev/null
  k -n temporal rollout status deployment/temporal --timeout=300s >/dev/null ||
    die "the Temporal server did not become ready; see bin/kubectl --kubeconfig $kubeconfig -n temporal logs deployment/temporal"
  local ip
  ip=$(k -n temporal get service temporal-frontend -o jsonpath='{.spec.clusterIP}')
  temporal_cli=("$bin/temporal" --address "$ip:7233" --tls-cert-path "$tls/client.crt" --tls-key-path "$tls/client.key"
    --tls-ca-path "$tls/ca.crt" --tls-server-name temporal-frontend.temporal.svc)
  wait_for temporal-namespace 120 temporal_namespace_registered
  wait_for temporal-search-attribute 120 order_updated_at_known
}

temporal_namespace_registered() {
  "${temporal_cli[@]}" operator namespace describe --namespace default >/dev/null 2>&1 ||
    "${temporal_cli[@]}" operator namespace create --namespace default --retention 72h >/dev/null 2>&1
}

# order_updated_at_known makes the search attribute (retried while the
# namespace is new) and reports whether a query naming it is accepted: on a
# new namespace the services learn it on a timer.
order_updated_at_known() {
  "${temporal_cli[@]}" operator search-attribute list --namespace default 2>/dev/null | grep -q OrderUpdatedAt ||
    "${temporal_cli[@]}" operator search-attribute create --namespace default --name OrderUpdatedAt --type Datetime >/dev/null 2>&1 ||
    return 1
  "${temporal_cli[@]}" workflow count --namespace default --query "OrderUpdatedAt > '2000-01-01T00:00:00Z'" >/dev/null 2>&1
}

up() {
  local t0=$SECONDS
  mkdir -p "$dir/logs" "$dir/run"
  preflight
  network
  pki
  control_plane
  runtime
  images
  node_agents
  addons
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
  for name in kube-proxy kubelet kube-scheduler kube-controller-manager kube-apiserver etcd; do stop_pid "$name"; done
  # Containers left behind (containerd-shim and what it runs), then containerd.
  if running containerd; then
    local sock=$dir/containerd/containerd.sock c
    for c in $(ctr --address "$sock" -n k8s.io tasks ls -q 2>/dev/null); do
      ctr --address "$sock" -n k8s.io tasks kill -s SIGKILL "$c" >/dev/null 2>&1 || true
    done
    sleep 1
    stop_pid containerd
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

status() {
  local name
  for name in etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet kube-proxy; do
    if running "$name"; then say "$name runs (pid $(cat "$(pidfile "$name")"))"; else say "$name is stopped"; fi
  done
  if running kube-apiserver; then
    k get nodes 2>/dev/null || true
    k -n "$release_ns" get pods 2>/dev/null || true
  fi
}

case ${1:-} in
  up) cluster_up ;;
  node) mkdir -p "$dir/logs" "$dir/run"; up ;;
  chart) shift; install_chart "$@" ;;
  down) down ;;
  clean) down; rm -rf "$dir"; say "removed $dir" ;;
  status) status ;;
  *) echo "usage: hack/cluster.sh up|node|chart [helm args]|down|clean|status" >&2; exit 2 ;;
esac
