# OrderFlow: a Kubernetes operator that processes e-commerce orders with
# Temporal. `make help` lists the targets.

BIN := $(CURDIR)/bin
export PATH := $(BIN):$(PATH)
CONTROLLER_GEN := $(BIN)/controller-gen
IMG ?= orderflow:dev
# Integration tests find kube-apiserver and etcd here (controller-runtime envtest).
export KUBEBUILDER_ASSETS := $(BIN)
GO_TEST_FLAGS ?=

.DEFAULT_GOAL := help

##@ General

.PHONY: help
help: ## Show the targets and what they do.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate the CRD and RBAC from the controller-gen markers.
	$(CONTROLLER_GEN) rbac:roleName=orderflow-manager crd paths="./api/..." paths="./controllers/..." output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac/manager
	$(CONTROLLER_GEN) rbac:roleName=orderflow-api paths="./internal/httpapi/..." output:rbac:artifacts:config=config/rbac/api
	cp config/crd/bases/orderflow.io_orders.yaml charts/orderflow/files/crds/
	cp config/rbac/manager/role.yaml charts/orderflow/files/rbac/manager-role.yaml
	cp config/rbac/api/role.yaml charts/orderflow/files/rbac/api-role.yaml
	cp config/admission/finalizer.yaml charts/orderflow/files/admission/

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate the deepcopy code of the API types.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: fmt
fmt: ## Format the Go code.
	go fmt ./...

.PHONY: vet
vet: ## Run go vet, on the untagged code and on the e2e, fault, GitOps and cluster suites (build tags).
	go vet ./...
	go vet -tags e2e,faults,gitops,cluster ./...

.PHONY: lint
lint: vet ## Lint: go vet plus gofmt (golangci-lint is not installable offline here).
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

GENERATED := config/crd/bases config/rbac config/admission charts/orderflow/files api/v1alpha1/zz_generated.deepcopy.go go.mod go.sum

.PHONY: verify
verify: $(CONTROLLER_GEN) ## Regenerate CRD, RBAC, deepcopy and go.sum; fail if that changed anything.
	@before=$$(find $(GENERATED) -type f | sort | xargs cat | sha256sum); \
	$(MAKE) --no-print-directory manifests generate >/dev/null && go mod tidy && \
	after=$$(find $(GENERATED) -type f | sort | xargs cat | sha256sum); \
	if [ "$$before" != "$$after" ]; then echo "verify: generated files were out of date (now regenerated):"; git status --short $(GENERATED); exit 1; fi; \
	echo "verify: generated files are up to date"

.PHONY: test
test: tools verify lint ## Run every test: generation check, lint, then the tiers below one after another.
	$(MAKE) --no-print-directory test-integration
	$(MAKE) --no-print-directory test-e2e
	$(MAKE) --no-print-directory test-gitops
	$(MAKE) --no-print-directory test-faults
	$(MAKE) --no-print-directory test-cluster

.PHONY: test-unit
test-unit: ## Tier 1: the unit tests only (-short: no servers started), in seconds.
	go test $(GO_TEST_FLAGS) -short ./...

.PHONY: test-integration
test-integration: tools ## Tier 2: every package's tests, the integration ones against a real kube-apiserver, Temporal and PostgreSQL started per package (one package at a time).
	go test $(GO_TEST_FLAGS) -p 1 -count=1 -timeout 40m ./...

.PHONY: fuzz
fuzz: ## Fuzz the money parser and the REST request decoder, FUZZTIME each (default 60s).
	go test ./internal/money -run '^$$' -fuzz FuzzParse -fuzztime $(or $(FUZZTIME),60s)
	go test ./internal/httpapi -run '^$$' -fuzz FuzzDecodeCreate -fuzztime $(or $(FUZZTIME),60s)

##@ Build

.PHONY: build
build: ## Build the orderflow binary into bin/: static, as the Dockerfile builds it (the local cluster's image takes it as is).
	CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o $(BIN)/orderflow .

.PHONY: run
run: ## Run the manager against the current kubeconfig.
	go run . manager

.PHONY: docker-build
docker-build: ## Build the container image (needs a Docker engine).
	docker build -t $(IMG) .

##@ Cluster

.PHONY: install
install: manifests ## Install the CRD into the current cluster.
	kubectl apply --server-side -f config/crd/bases

.PHONY: uninstall
uninstall: ## Remove the CRD from the current cluster.
	kubectl delete --ignore-not-found -f config/crd/bases

.PHONY: deploy
deploy: ## Install or upgrade the Helm chart into the current cluster (IMG sets the image).
	$(BIN)/helm upgrade --install orderflow charts/orderflow --namespace $(or $(NAMESPACE),orderflow) --create-namespace \
		--set image.repository=$(word 1,$(subst :, ,$(IMG))) --set image.tag=$(word 2,$(subst :, ,$(IMG))) $(HELM_ARGS)

.PHONY: undeploy
undeploy: ## Uninstall the Helm release (the CRD and the Orders stay).
	$(BIN)/helm uninstall orderflow --namespace $(or $(NAMESPACE),orderflow)

##@ Local stack

.PHONY: dev
dev: tools build ## Bring up the whole system locally (etcd, kube-apiserver, Temporal, PostgreSQL, manager, worker) under .dev/.
	hack/dev.sh up

.PHONY: gitops
gitops: tools build ## The local stack with Flux (source-controller, kustomize-controller) and a git server on loopback: Orders follow a git repository holding the samples.
	DEV_GITOPS=1 hack/dev.sh up

.PHONY: dev-down
dev-down: ## Stop the local stack; data under .dev/ stays.
	hack/dev.sh down

.PHONY: dev-clean
dev-clean: ## Stop the local stack and remove .dev/.
	hack/dev.sh clean

.PHONY: dev-status
dev-status: ## Say which parts of the local stack run.
	hack/dev.sh status

##@ Local cluster

.PHONY: cluster
cluster: tools build ## A real single-node Kubernetes under .cluster/ (containerd, kubelet, CoreDNS), the images imported, the chart installed with helm4 --wait. Needs root.
	hack/cluster.sh up

.PHONY: cluster-down
cluster-down: ## Stop the local cluster by pid and restore the host (iptables, ip_forward, mounts); data under .cluster/ stays (CLUSTER_CLEAN=1 removes it).
	hack/cluster.sh $(if $(CLUSTER_CLEAN),clean,down)

.PHONY: cluster-status
cluster-status: ## Say which parts of the local cluster run, its node and the release's Pods.
	hack/cluster.sh status

.PHONY: test-cluster
test-cluster: tools build ## Tier 6: the cluster suite: the chart on a fresh local cluster (.cluster-test/) against the real Temporal server (mTLS) with two replicas of each component, used as chart users do; prints a table of its steps. Then a smoke pass on the chart's dev server.
	go test -tags cluster -count=1 -v -timeout 45m ./test/cluster
	CLUSTER_TEMPORAL=dev CLUSTER_SMOKE=1 go test -tags cluster -count=1 -v -timeout 30m ./test/cluster

.PHONY: test-e2e e2e
test-e2e e2e: tools build ## Tier 3: the end-to-end suite: its own local stack (under .e2e/, other ports), driven with bin/kubectl, curl and Chromium.
	go test -tags e2e -count=1 -timeout 20m ./test/e2e

.PHONY: test-gitops
test-gitops: tools build ## Tier 4: the GitOps suite: its own local stack with Flux (.gitops/): Orders applied, health-checked, pruned, re-applied, changed and refunded by commits.
	go test -tags gitops -count=1 -v -timeout 20m ./test/gitops

.PHONY: test-faults
test-faults: tools build ## Tier 5: the fault suite: orders through its own local stack (.faults/) while components are killed, restarted or made flaky; audits money, stock and workflows. Then the real-server tier: worker and manager kills, a Temporal restart, a leader handover and a stalled worker against the real Temporal server.
	go test -tags faults -count=1 -v -timeout 30m ./test/faults
	FAULTS_TEMPORAL=server go test -tags faults -count=1 -v -timeout 30m \
		-run '^(TestWorkerKilledSeveralTimes|TestManagerKilled|TestTemporalRestarted|TestLeaderHandover|TestWorkerStalledMidCharge)$$' ./test/faults

.PHONY: screenshots
screenshots: tools build ## Refresh docs/web.png and docs/web-phone.png from the e2e browser test.
	E2E_SCREENSHOTS=docs go test -tags e2e -count=1 -run TestThePage ./test/e2e

.PHONY: bench
bench: build ## Benchmark against `make dev` (dev server, or the real one under DEV_TEMPORAL=server): burst, steady and direct-Temporal (BENCH_ARGS, e.g. -n 500 -mode burst).
	go run ./test/bench -mode all $(BENCH_ARGS)

.PHONY: bench-scale
bench-scale: build ## Benchmark manager memory with 10 000 Orders and its restart catch-up, against `make dev`.
	go run ./test/bench -mode scale -n 10000 -out bench-scale.json $(BENCH_ARGS)

.PHONY: bench-api
bench-api: build ## Benchmark the REST API against `make dev` under --auth=none and --auth=kubernetes side by side (BENCH_API_ARGS, e.g. -n 5000 -c 16).
	go run ./test/benchapi -root $(CURDIR) $(BENCH_API_ARGS)

##@ Tools

.PHONY: tools
tools: ## Build the pinned tools into bin/ (Kubernetes' servers, node components and kubectl, etcd, CoreDNS, temporal, helm 3 and 4, controller-gen, stripe-mock, mailpit).
	hack/tools/install.sh

$(CONTROLLER_GEN):
	hack/tools/install.sh controller-gen
