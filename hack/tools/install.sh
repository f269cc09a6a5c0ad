#!/usr/bin/env bash
# Builds the project's pinned tools into ./bin from the Go module proxy only:
# the Kubernetes and Temporal servers the tests run against (Temporal's
# dev server in its CLI, and the real server on PostgreSQL), helm,
# controller-gen, stripe-mock (Stripe's API) and mailpit (an SMTP server).
#
# Tools that `go install` accepts are pinned here by version. kube-apiserver,
# kubectl and etcd are pinned by the wrapper modules beside this script
# (hack/tools/kubernetes, hack/tools/etcd), Flux's controllers and the git
# server by hack/tools/flux: their own go.mod files carry `replace`
# directives, which `go install` refuses.
#
# A tool is rebuilt only when its pin changed: bin/.versions/<tool> records
# the pin each binary was built from.
#
# Usage: hack/tools/install.sh [tool ...]   (default: every tool)
set -euo pipefail

CONTROLLER_TOOLS_VERSION=v0.23.0
HELM_VERSION=v3.22.0
HELM4_VERSION=v4.3.1
TEMPORAL_CLI_VERSION=v1.5.1
STRIPE_MOCK_VERSION=v0.203.0
MAILPIT_VERSION=v1.33.1

root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$root/bin
stamps=$bin/.versions
mkdir -p "$stamps"

# pin_of NAME prints the pin a tool is built from: a version, or the hash of
# its wrapper module's go.mod and go.sum.
pin_of() {
  case $1 in
    controller-gen) echo "$CONTROLLER_TOOLS_VERSION" ;;
    helm) echo "$HELM_VERSION" ;;
    helm4) echo "$HELM4_VERSION" ;;
    temporal) echo "$TEMPORAL_CLI_VERSION-static" ;;
    stripe-mock) echo "$STRIPE_MOCK_VERSION" ;;
    mailpit) echo "$MAILPIT_VERSION" ;;
    kube-apiserver|kubectl|kubelet|kube-controller-manager|kube-scheduler|kube-proxy)
      { cat "$root/hack/tools/kubernetes/go."{mod,sum}; echo static; } | sha256sum | cut -c1-16 ;;
    coredns) cat "$root/hack/tools/coredns/"{go.mod,go.sum,main.go} | sha256sum | cut -c1-16 ;;
    etcd) cat "$root/hack/tools/etcd/go."{mod,sum} | sha256sum | cut -c1-16 ;;
    temporal-server) cat "$root/hack/tools/temporal-server/go."{mod,sum} | sha256sum | cut -c1-16 ;;
    temporal-sql-tool) { cat "$root/hack/tools/temporal-server/go."{mod,sum}; echo schema; } | sha256sum | cut -c1-16 ;;
    source-controller|kustomize-controller) { cat "$root/hack/tools/flux/go."{mod,sum}; echo crds; } | sha256sum | cut -c1-16 ;;
    gitserver) cat "$root/hack/tools/flux/"{go.mod,go.sum,gitserver/main.go} | sha256sum | cut -c1-16 ;;
    *) echo "unknown tool: $1" >&2; return 1 ;;
  esac
}

k8s_ldflags() {
  local v minor
  v=$(sed -n 's/^\(require\)\{0,1\}[[:space:]]*k8s.io\/kubernetes \(v[0-9.]*\).*/\2/p' "$root/hack/tools/kubernetes/go.mod")
  minor=$(echo "$v" | cut -d. -f2)
  echo "-X k8s.io/component-base/version.gitVersion=$v -X k8s.io/component-base/version.gitMajor=1" \
    "-X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
}

build() {
  case $1 in
    controller-gen) GOBIN=$bin go install "sigs.k8s.io/controller-tools/cmd/controller-gen@$CONTROLLER_TOOLS_VERSION" ;;
    helm) GOBIN=$bin go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" ;;
    helm4)
      GOBIN=$bin/.helm4 go install "helm.sh/helm/v4/cmd/helm@$HELM4_VERSION"
      mv "$bin/.helm4/helm" "$bin/helm4" && rmdir "$bin/.helm4" ;;
    # Static (its SQLite is pure Go): the local cluster's image uses it as is.
    temporal) GOBIN=$bin CGO_ENABLED=0 go install "github.com/temporalio/cli/cmd/temporal@$TEMPORAL_CLI_VERSION" ;;
    # stripe-mock's fixtures (the response bodies it answers with) go beside
    # it: the tests adjust a copy rather than ship their own.
    stripe-mock)
      GOBIN=$bin go install "github.com/stripe/stripe-mock@$STRIPE_MOCK_VERSION"
      dir=$(go mod download -json "github.com/stripe/stripe-mock@$STRIPE_MOCK_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
      install -m 0644 "$dir/embedded/openapi/fixtures3.json" "$bin/stripe-mock-fixtures3.json" ;;
    mailpit) GOBIN=$bin go install "github.com/axllent/mailpit@$MAILPIT_VERSION" ;;
    # Static and stamped with the version, as release builds are: kubectl
    # goes into the image of the chart's test hook, which has no libc, and
    # unstamped components report v0.0.0-master, which Helm's kubeVersion
    # checks read.
    kube-apiserver|kubectl|kubelet|kube-controller-manager|kube-scheduler|kube-proxy)
      (cd "$root/hack/tools/kubernetes" && CGO_ENABLED=0 go build -ldflags "$(k8s_ldflags)" -o "$bin/$1" "k8s.io/kubernetes/cmd/$1") ;;
    coredns) (cd "$root/hack/tools/coredns" && CGO_ENABLED=0 go build -o "$bin/coredns" .) ;;
    etcd) (cd "$root/hack/tools/etcd" && go build -o "$bin/etcd" go.etcd.io/etcd/server/v3) ;;
    # The real Temporal server and its schema tool, static: the local
    # stack's DEV_TEMPORAL=server and the cluster's production path.
    temporal-server) (cd "$root/hack/tools/temporal-server" && CGO_ENABLED=0 go build -o "$bin/temporal-server" go.temporal.io/server/cmd/server) ;;
    # The server's PostgreSQL schemas go beside its schema tool, which reads
    # them from a directory.
    temporal-sql-tool)
      (cd "$root/hack/tools/temporal-server" && CGO_ENABLED=0 go build -o "$bin/temporal-sql-tool" go.temporal.io/server/cmd/tools/sql)
      dir=$(cd "$root/hack/tools/temporal-server" && go list -m -f '{{.Dir}}' go.temporal.io/server)
      rm -rf "$bin/temporal-schema" && mkdir -p "$bin/temporal-schema"
      cp -r "$dir/schema/postgresql/v12" "$bin/temporal-schema/" && chmod -R u+w "$bin/temporal-schema" ;;
    # Flux's controllers for the GitOps tier and make gitops; their CRDs,
    # from the same module versions, go to bin/flux-crds.
    source-controller|kustomize-controller)
      (cd "$root/hack/tools/flux" && CGO_ENABLED=0 go build -o "$bin/$1" "github.com/fluxcd/$1")
      dir=$(cd "$root/hack/tools/flux" && go list -m -f '{{.Dir}}' "github.com/fluxcd/$1")
      mkdir -p "$bin/flux-crds"
      for f in "$dir"/config/crd/bases/*.yaml; do install -m 0644 "$f" "$bin/flux-crds/"; done ;;
    gitserver) (cd "$root/hack/tools/flux" && CGO_ENABLED=0 go build -o "$bin/gitserver" ./gitserver) ;;
  esac
}

tools=("$@")
[ ${#tools[@]} -gt 0 ] || tools=(controller-gen kube-apiserver kubectl kubelet
  kube-controller-manager kube-scheduler kube-proxy etcd temporal temporal-server temporal-sql-tool helm helm4 coredns stripe-mock mailpit
  source-controller kustomize-controller gitserver)

# Two builds at a time: one Go build leaves a core idle while it links or
# compiles a large package alone. The Kubernetes binaries share most of
# their packages, so the first is built alone and the rest reuse its cache.
jobs=${TOOLS_JOBS:-2}
failed=0
build_one() {
  local t=$1 pin=$2 start=$SECONDS
  echo "tools: building $t $pin (the first build of the large ones takes minutes) ..."
  if build "$t"; then
    echo "$pin" >"$stamps/$t"
    echo "tools: built $t in $((SECONDS - start))s"
  else
    echo "tools: building $t failed" >&2
    return 1
  fi
}
running=0
for t in "${tools[@]}"; do
  pin=$(pin_of "$t")
  if [ -x "$bin/$t" ] && [ "$(cat "$stamps/$t" 2>/dev/null)" = "$pin" ]; then
    echo "tools: $t $pin is present"
    continue
  fi
  if [ "$t" = kube-apiserver ]; then
    build_one "$t" "$pin" || failed=1
    continue
  fi
  build_one "$t" "$pin" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n || failed=1
    running=$((running - 1))
  fi
done
while [ "$running" -gt 0 ]; do
  wait -n || failed=1
  running=$((running - 1))
done
[ "$failed" = 0 ] || { echo "tools: some builds failed (see above)" >&2; exit 1; }
