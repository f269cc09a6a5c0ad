#!/usr/bin/env bash
# The local stack: etcd + kube-apiserver, the Temporal dev server (with UI;
# DEV_TEMPORAL=server runs the real Temporal server on the stack's
# PostgreSQL instead, with default dynamic config and no UI),
# PostgreSQL, mailpit (SMTP, for customer email), and the orderflow manager,
# worker and API, as local processes with their state and logs under
# $DEV_DIR (default .dev/). Payloads in Temporal are encrypted with a key
# made on first start ($DEV_DIR/codec-keys); the worker serves the codec
# server the Temporal UI decrypts them with. DEV_PAYMENT_GATEWAY=stripe
# runs the worker on the Stripe gateway against a local stripe-mock.
#
#   hack/dev.sh up      start whatever is not running, wait until ready
#   hack/dev.sh down    stop what `up` started (by pid), keep the data
#   hack/dev.sh clean   down, then remove $DEV_DIR
#   hack/dev.sh status  say what runs
#   hack/dev.sh stop NAME      stop one component (up starts it again)
#   hack/dev.sh restart NAME   stop one component (postgres, etcd, kube-apiserver,
#                       temporal, worker, manager, api) and start it again
#
# Ports default to the fixed points the README lists (Quick start) and can be moved (the e2e suite does):
# DEV_PG_PORT 5432, DEV_TEMPORAL_PORT 7233, DEV_TEMPORAL_UI_PORT 8233,
# DEV_API_PORT 8080, DEV_ETCD_PORT 2379, DEV_KUBE_PORT 6443,
# DEV_MANAGER_PORT 9090 (metrics; probes on +1, pprof on +3), DEV_WORKER_PORT 9092
# (probes, metrics, the codec server and /debug/pprof), DEV_MAILPIT_PORT 8025
# (mailpit's web UI and API), DEV_SMTP_PORT 1025, DEV_STRIPE_MOCK_PORT 12111.
#
# Fulfillment: Orders with spec.fulfillment ship with the worker's
# carriers (the built-in sandbox; DEV_FULFILLMENT_WEBHOOK_URL adds the
# webhook carrier); DEV_FULFILLMENT_CARRIER ships every other Order too.
# The secret shared with a fulfillment service is made on first start
# ($DEV_DIR/fulfillment-secret): the API verifies carrier events with it.
#
# DEV_GITOPS=1 (make gitops) adds Flux: a git server on loopback
# (DEV_GIT_PORT 3000, repositories under $DEV_DIR/git), Flux's
# source-controller (artifacts on DEV_FLUX_PORT 9790, metrics and probes on
# +1 and +2) and kustomize-controller (+3 and +4; a new commit cancels the
# health check of the one before, so a change reaches an order that still
# runs), with their CRDs, and a
# repository orders.git holding the samples that a Kustomization applies to
# namespace default (DEV_GITOPS_SAMPLES=0: no repository; the GitOps suite
# makes its own).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/bin
dev=${DEV_DIR:-$root/.dev}
case $dev in /*) ;; *) dev=$root/$dev ;; esac
pg_port=${DEV_PG_PORT:-5432}
temporal_port=${DEV_TEMPORAL_PORT:-7233}
temporal_ui_port=${DEV_TEMPORAL_UI_PORT:-8233}
api_port=${DEV_API_PORT:-8080}
etcd_port=${DEV_ETCD_PORT:-2379}
kube_port=${DEV_KUBE_PORT:-6443}
manager_port=${DEV_MANAGER_PORT:-9090}
worker_port=${DEV_WORKER_PORT:-9092}
mailpit_port=${DEV_MAILPIT_PORT:-8025}
smtp_port=${DEV_SMTP_PORT:-1025}
stripe_mock_port=${DEV_STRIPE_MOCK_PORT:-12111}
gitops=${DEV_GITOPS:-0}
git_port=${DEV_GIT_PORT:-3000}
flux_port=${DEV_FLUX_PORT:-9790}
payment_gateway=${DEV_PAYMENT_GATEWAY:-sandbox}
# dev: the Temporal CLI's dev server; server: the real server (bin/temporal-server).
temporal_mode=${DEV_TEMPORAL:-dev}
kubeconfig=$dev/kubeconfig
# The Go garbage collector's target for etcd, kube-apiserver and the Temporal
# dev server (docs/performance.md says what it buys).
server_gogc=${DEV_SERVER_GOGC:-100}

say() { printf '%s\n' "dev: $*"; }
die() { printf '%s\n' "dev: error: $*" >&2; exit 1; }

state_dir=$dev
port_hint="move it with the DEV_*_PORT variables"
# shellcheck source=hack/lib/procs.sh
. "$root/hack/lib/procs.sh"

pg_bin() {
  if command -v pg_ctl >/dev/null 2>&1; then dirname "$(readlink -f "$(command -v pg_ctl)")"; return; fi
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [ -n "$d" ] || die "PostgreSQL server binaries not found: apt-get install postgresql"
  echo "$d"
}

# as_pg CMD...: PostgreSQL's tools refuse root; run them as postgres then.
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

certs() {
  local d=$dev/pki
  [ -f "$d/admin.crt" ] && return 0
  mkdir -p "$d"
  say "creating the control plane's certificates"
  (
    cd "$d"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 -subj "/CN=orderflow-dev-ca" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr -subj "/CN=kube-apiserver" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n' >apiserver.ext
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out apiserver.crt -days 3650 -extfile apiserver.ext 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout admin.key -out admin.csr -subj "/O=system:masters/CN=orderflow-dev-admin" 2>/dev/null
    printf 'extendedKeyUsage=clientAuth\n' >admin.ext
    openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out admin.crt -days 3650 -extfile admin.ext 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  )
}

write_kubeconfig() {
  local d=$dev/pki
  cat >"$kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: orderflow-dev
  cluster:
    server: https://127.0.0.1:$kube_port
    certificate-authority-data: $(base64 -w0 <"$d/ca.crt")
users:
- name: orderflow-dev-admin
  user:
    client-certificate-data: $(base64 -w0 <"$d/admin.crt")
    client-key-data: $(base64 -w0 <"$d/admin.key")
contexts:
- name: orderflow-dev
  context:
    cluster: orderflow-dev
    user: orderflow-dev-admin
    namespace: default
current-context: orderflow-dev
EOF
  chmod 600 "$kubeconfig"
}

kubectl_dev() { "$bin/kubectl" --kubeconfig "$kubeconfig" "$@"; }

order_admitted() {
  kubectl_dev create --dry-run=server -o name -f - <<'EOF'
apiVersion: orderflow.io/v1alpha1
kind: Order
metadata: {generateName: admission-check-, namespace: default}
spec: {customerID: CHECK, items: [{productID: PROD-001, quantity: 1}]}
EOF
}

# order_admitted_steadily: admitted ten times over five seconds. Right after
# the first admission the policy's type converter can lose the kind again
# for a moment (seen: the e2e suite's first creates refused with "Resource
# kind ... not found" after a single dry run had passed).
order_admitted_steadily() {
  local i
  for i in 1 2 3 4 5 6 7 8 9 10; do
    order_admitted >/dev/null 2>&1 || return 1
    sleep 0.5
  done
}

# temporal_server runs the real Temporal server on the stack's PostgreSQL
# (its own databases temporal and temporal_visibility, schemas set up and
# updated with its sql tool), with an empty dynamic config, as a production
# server runs by default; the namespace default is registered once. The
# worker registers the search attribute it publishes with.
temporal_server() {
  local pgb d=$dev/temporal-server db
  pgb=$(pg_bin)
  as_pg "$pgb/psql" -h "$dev/postgres" -p "$pg_port" -U postgres -d postgres -tAq -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
SELECT 'CREATE DATABASE temporal OWNER orderflow'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'temporal') \gexec
SELECT 'CREATE DATABASE temporal_visibility OWNER orderflow'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'temporal_visibility') \gexec
SQL
  mkdir -p "$d"
  for db in temporal temporal_visibility; do
    local sql=("$bin/temporal-sql-tool" --plugin postgres12 --ep 127.0.0.1 -p "$pg_port" -u orderflow --pw orderflow --db "$db")
    local schema=temporal
    [ "$db" = temporal ] || schema=visibility
    if ! "${sql[@]}" update-schema -d "$bin/temporal-schema/v12/$schema/versioned" >>"$dev/logs/temporal-schema.log" 2>&1; then
      { "${sql[@]}" setup-schema -v 0.0 && "${sql[@]}" update-schema -d "$bin/temporal-schema/v12/$schema/versioned"; } \
        >>"$dev/logs/temporal-schema.log" 2>&1 || die "Temporal's $db schema could not be set up; see $dev/logs/temporal-schema.log"
    fi
  done
  # The same configuration the tests' server runs with (testenv), ports from
  # the frontend's; an empty dynamic config: every setting at its default.
  (cd "$root" && go run ./hack/temporal-server-config -port "$temporal_port" -postgres-port "$pg_port" -dir "$d") ||
    die "cannot write Temporal's configuration"
  start temporal "$temporal_port" env GOGC="$server_gogc" "$bin/temporal-server" --config-file "$d/config.yaml" --allow-no-auth start
  wait_for temporal 90 "$bin/temporal" operator cluster health --address "127.0.0.1:$temporal_port"
  "$bin/temporal" operator namespace describe --namespace default --address "127.0.0.1:$temporal_port" >/dev/null 2>&1 ||
    "$bin/temporal" operator namespace create --namespace default --retention 72h --address "127.0.0.1:$temporal_port" >/dev/null
  wait_for temporal 60 "$bin/temporal" operator namespace describe --namespace default --address "127.0.0.1:$temporal_port"
  # The search attribute the workflow publishes with, made here rather than
  # by the worker at its start: the server's services learn a namespace's
  # attributes on a timer (10 s), and until they do every workflow task
  # that sets it fails. Ready when a query naming it is accepted.
  wait_for temporal 60 order_updated_at_known
}

# order_updated_at_known makes the search attribute OrderUpdatedAt (while
# the namespace is new its creation can fail: it is retried) and reports
# whether a query naming it is accepted.
order_updated_at_known() {
  local addr=127.0.0.1:$temporal_port
  "$bin/temporal" operator search-attribute list --namespace default --address "$addr" 2>/dev/null | grep -q OrderUpdatedAt ||
    "$bin/temporal" operator search-attribute create --namespace default --name OrderUpdatedAt --type Datetime --address "$addr" >/dev/null 2>&1 ||
    return 1
  "$bin/temporal" workflow count --namespace default --address "$addr" --query "OrderUpdatedAt > '2000-01-01T00:00:00Z'" >/dev/null 2>&1
}

up() {
  local t0=$SECONDS
  started=()
  mkdir -p "$dev/logs" "$dev/run"
  [ -x "$bin/kube-apiserver" ] && [ -x "$bin/etcd" ] && [ -x "$bin/kubectl" ] && [ -x "$bin/temporal" ] &&
    [ -x "$bin/mailpit" ] && [ -x "$bin/stripe-mock" ] ||
    "$root/hack/tools/install.sh" kube-apiserver etcd kubectl temporal mailpit stripe-mock
  case $temporal_mode in
    dev) ;;
    server) [ -x "$bin/temporal-server" ] && [ -x "$bin/temporal-sql-tool" ] ||
      "$root/hack/tools/install.sh" temporal-server temporal-sql-tool ;;
    *) die "DEV_TEMPORAL=$temporal_mode: want dev or server" ;;
  esac
  case $payment_gateway in sandbox|stripe) ;; *) die "DEV_PAYMENT_GATEWAY=$payment_gateway: want sandbox or stripe" ;; esac
  [ -x "$bin/orderflow" ] || die "bin/orderflow is missing: run make build (make dev does)"

  # PostgreSQL, with its data under $dev/postgres owned by the server's user.
  local pgb pgdata=$dev/postgres/data
  pgb=$(pg_bin)
  if [ ! -f "$pgdata/PG_VERSION" ]; then
    say "initialising PostgreSQL in $pgdata"
    rm -rf "$dev/postgres"
    mkdir -p "$dev/postgres"
    [ "$(id -u)" = 0 ] && chown postgres: "$dev/postgres"
    as_pg "$pgb/initdb" -D "$pgdata" -U postgres -A trust -E UTF8 >"$dev/logs/initdb.log" 2>&1 ||
      die "initdb failed; see $dev/logs/initdb.log"
  fi
  if as_pg "$pgb/pg_ctl" -D "$pgdata" status >/dev/null 2>&1; then
    say "postgres is already running"
  else
    rm -f "$pgdata/postmaster.pid" # left by a killed server
    port_free "$pg_port" postgres
    touch "$dev/logs/postgres.log"
    [ "$(id -u)" = 0 ] && chown postgres: "$dev/logs/postgres.log"
    # 300 connections: the real Temporal server runs four services, each
    # with its own pools (up to 30 connections apiece), beside two workers'
    # pools of 20 (the fault suite's) and the manager's and API's; at the
    # default 100, a stalled worker holding its pool exhausted them.
    as_pg "$pgb/pg_ctl" -D "$pgdata" -l "$dev/logs/postgres.log" -w -t 60 \
      -o "-p $pg_port -k $dev/postgres -c listen_addresses=127.0.0.1 -c max_connections=300" start >/dev/null ||
      die "PostgreSQL did not start; see $dev/logs/postgres.log"
    started+=(postgres)
    say "started postgres on 127.0.0.1:$pg_port (log $dev/logs/postgres.log)"
  fi
  as_pg "$pgb/psql" -h "$dev/postgres" -p "$pg_port" -U postgres -d postgres -tAq -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
SELECT 'CREATE ROLE orderflow LOGIN PASSWORD ''orderflow'''
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'orderflow') \gexec
SELECT 'CREATE DATABASE orderflow OWNER orderflow'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'orderflow') \gexec
SQL

  # etcd and kube-apiserver. The watch cache's consistency checker (a beta
  # diagnostic) re-reads and decodes every object of every resource from etcd
  # every 5 to 7.5 minutes: with 10 000 Orders, 6 CPU-seconds each time.
  certs
  write_kubeconfig
  mkdir -p "$dev/etcd"
  start etcd "$etcd_port" env GOGC="$server_gogc" "$bin/etcd" --data-dir "$dev/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$((etcd_port + 1))" --initial-advertise-peer-urls "http://127.0.0.1:$((etcd_port + 1))" \
    --initial-cluster "default=http://127.0.0.1:$((etcd_port + 1))" --unsafe-no-fsync
  wait_for etcd 30 curl -fsS "http://127.0.0.1:$etcd_port/health"
  start kube-apiserver "$kube_port" env GOGC="$server_gogc" "$bin/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$etcd_port" --bind-address 127.0.0.1 --advertise-address 127.0.0.1 \
    --secure-port "$kube_port" --tls-cert-file "$dev/pki/apiserver.crt" --tls-private-key-file "$dev/pki/apiserver.key" \
    --client-ca-file "$dev/pki/ca.crt" --authorization-mode RBAC \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$dev/pki/sa.pub" --service-account-signing-key-file "$dev/pki/sa.key" \
    --service-cluster-ip-range 10.96.0.0/24 --disable-admission-plugins ServiceAccount --allow-privileged=true \
    --endpoint-reconciler-type none --feature-gates DetectCacheInconsistency=false
  wait_for kube-apiserver 90 kubectl_dev get --raw /readyz

  # The payload encryption key, made once and kept with the stack's data.
  if [ ! -s "$dev/codec-keys" ]; then
    (umask 077 && echo "dev-1=$(openssl rand -base64 32)" >"$dev/codec-keys")
    say "made the payload encryption key ($dev/codec-keys)"
  fi
  # The secret shared with a fulfillment service: bookings are signed and
  # its events (POST /api/fulfillment/events) verified with it.
  if [ ! -s "$dev/fulfillment-secret" ]; then
    (umask 077 && openssl rand -hex 32 >"$dev/fulfillment-secret")
  fi

  if [ "$temporal_mode" = server ]; then
    temporal_server
  else
    # Temporal dev server, its state in a file so orders survive a restart.
    # Its UI decrypts payloads through the worker's codec server.
    mkdir -p "$dev/temporal"
    # shellcheck disable=SC2046 # the shared flags split into words on purpose
    start temporal "$temporal_port" env GOGC="$server_gogc" "$bin/temporal" server start-dev --ip 127.0.0.1 \
      --port "$temporal_port" --ui-port "$temporal_ui_port" --db-filename "$dev/temporal/temporal.db" \
      --namespace default --sqlite-pragma journal_mode=wal --sqlite-pragma synchronous=normal \
      --ui-codec-endpoint "http://localhost:$worker_port/codec" \
      $(grep -v '^[[:space:]]*\(#\|$\)' "$root/charts/orderflow/files/temporal-dev-server.flags")
    wait_for temporal 60 "$bin/temporal" operator namespace describe --namespace default --address "127.0.0.1:$temporal_port"
  fi

  # Schema, demo catalog, CRD.
  export POSTGRES_HOST=127.0.0.1 POSTGRES_PORT=$pg_port POSTGRES_USER=orderflow POSTGRES_PASSWORD=orderflow \
    POSTGRES_DB=orderflow POSTGRES_SSLMODE=disable TEMPORAL_HOST_PORT=127.0.0.1:$temporal_port
  "$bin/orderflow" migrate --demo-catalog >"$dev/logs/migrate.log" 2>&1 || die "migrations failed; see $dev/logs/migrate.log"
  kubectl_dev apply --server-side -f "$root/config/crd/bases" >/dev/null
  # The finalizer on at creation; without the policy the controller adds it.
  # The policy needs the Order's schema, which the API server publishes a
  # little after the CRD is established: until then it would fail creates.
  wait_for kube-apiserver 60 kubectl_dev get --raw /openapi/v3/apis/orderflow.io/v1alpha1
  kubectl_dev apply --server-side -f "$root/config/admission/finalizer.yaml" >/dev/null ||
    echo "dev: the admission policy was not installed; the controller adds finalizers itself"
  kubectl_dev wait --for condition=Established crd/orders.orderflow.io --timeout 60s >/dev/null
  # The policy's own copy of the schema arrives later still (its type
  # converter refreshes on a timer): until then creates fail with "Resource
  # kind ... not found". A dry-run create goes through the policy: ready when
  # it passes.
  wait_for kube-apiserver 90 order_admitted_steadily

  # mailpit: the SMTP server customer email goes to, and a web UI to read it.
  mkdir -p "$dev/mailpit"
  start mailpit "$smtp_port" "$bin/mailpit" --listen "127.0.0.1:$mailpit_port" --smtp "127.0.0.1:$smtp_port" \
    --database "$dev/mailpit/mailpit.db" --smtp-auth-accept-any --smtp-auth-allow-insecure --disable-version-check
  wait_for mailpit 30 curl -fsS "http://127.0.0.1:$mailpit_port/readyz"

  # stripe-mock, when the worker is to use the Stripe gateway.
  local gateway_env=(PAYMENT_GATEWAY=sandbox)
  if [ "$payment_gateway" = stripe ]; then
    [ -s "$dev/stripe-mock/fixtures.json" ] || {
      mkdir -p "$dev/stripe-mock"
      (cd "$root" && go run ./hack/stripe-mock-fixtures "$bin/stripe-mock-fixtures3.json" "$dev/stripe-mock/fixtures.json")
    }
    start stripe-mock "$stripe_mock_port" "$bin/stripe-mock" -http-addr "127.0.0.1:$stripe_mock_port" \
      -https-addr "127.0.0.1:$((stripe_mock_port + 1))" -fixtures "$dev/stripe-mock/fixtures.json"
    wait_for stripe-mock 30 curl -sS -o /dev/null "http://127.0.0.1:$stripe_mock_port/v1/balance"
    # stripe-mock takes any test key; a real key belongs in a Secret or STRIPE_API_KEY, never here.
    # DEV_STRIPE_API_URL puts something in front of stripe-mock (the fault
    # suite's recording layer, which counts the money at the provider).
    gateway_env=(PAYMENT_GATEWAY=stripe STRIPE_API_URL="${DEV_STRIPE_API_URL:-http://127.0.0.1:$stripe_mock_port}" STRIPE_API_KEY=sk_test_localstripemock)
  fi

  # OrderFlow itself.
  export CODEC_KEYS_FILE=$dev/codec-keys FULFILLMENT_WEBHOOK_SECRET_FILE=$dev/fulfillment-secret
  start worker "$worker_port" env "${gateway_env[@]}" FULFILLMENT_WEBHOOK_URL="${DEV_FULFILLMENT_WEBHOOK_URL:-}" SMTP_HOST=127.0.0.1 SMTP_PORT="$smtp_port" SMTP_TLS=none \
    SMTP_USERNAME=orderflow SMTP_PASSWORD="${DEV_SMTP_PASSWORD:-orderflow}" \
    SMTP_FROM="OrderFlow <orders@orderflow.localhost>" "$bin/orderflow" worker --bind-address "127.0.0.1:$worker_port" --pprof \
    --codec-server --codec-server-auth none \
    --codec-server-origins "http://localhost:$temporal_ui_port,http://127.0.0.1:$temporal_ui_port"
  wait_for worker 60 curl -fsS "http://127.0.0.1:$worker_port/readyz"
  start manager "$manager_port" env KUBECONFIG="$kubeconfig" FULFILLMENT_CARRIER="${DEV_FULFILLMENT_CARRIER:-}" "$bin/orderflow" manager \
    --metrics-bind-address "127.0.0.1:$manager_port" --health-probe-bind-address "127.0.0.1:$((manager_port + 1))" \
    --pprof-bind-address "127.0.0.1:$((manager_port + 3))" \
    --temporal-ui "http://localhost:$temporal_ui_port"
  wait_for manager 60 curl -fsS "http://127.0.0.1:$((manager_port + 1))/readyz"
  start api "$api_port" env KUBECONFIG="$kubeconfig" "$bin/orderflow" api --auth none --port "$api_port" \
    --bind 127.0.0.1 --namespace default --namespaces '*' --temporal-ui "http://localhost:$temporal_ui_port"
  wait_for api 60 curl -fsS "http://127.0.0.1:$api_port/readyz"
  [ "$gitops" = 1 ] && flux_up

  if [ ${#started[@]} -eq 0 ]; then
    say "everything was already running"
  else
    say "started ${started[*]} in $((SECONDS - t0))s"
  fi
  cat <<EOF

OrderFlow is running:
  Kubernetes API  https://127.0.0.1:$kube_port   (kubeconfig $kubeconfig)
  Temporal        127.0.0.1:$temporal_port, UI http://localhost:$temporal_ui_port
                  (payloads encrypted; the UI decrypts through http://localhost:$worker_port/codec)
  PostgreSQL      127.0.0.1:$pg_port (user, password and database: orderflow)
  manager         metrics http://127.0.0.1:$manager_port/metrics
  worker          metrics http://127.0.0.1:$worker_port/metrics, payment gateway $payment_gateway
  mailpit         customer email at http://localhost:$mailpit_port/   (SMTP 127.0.0.1:$smtp_port)
  REST API + page http://localhost:$api_port/   (no authentication: local use)
  logs            $dev/logs/

Try:
  export KUBECONFIG=$kubeconfig
  bin/kubectl apply -f config/samples/
  bin/kubectl get orders -w

Stop it with: make dev-down   (data stays; make dev-clean removes it)
EOF
}

# flux_up starts the git server and Flux's two controllers against the
# stack's API server, installs Flux's CRDs, and the first time pushes the
# samples to orders.git and has a Kustomization apply them.
flux_up() {
  [ -x "$bin/source-controller" ] && [ -x "$bin/kustomize-controller" ] && [ -x "$bin/gitserver" ] ||
    "$root/hack/tools/install.sh" source-controller kustomize-controller gitserver
  command -v git >/dev/null || die "git is missing: apt-get install git"
  mkdir -p "$dev/git" "$dev/flux/storage"
  start gitserver "$git_port" "$bin/gitserver" -root "$dev/git" -port "$git_port"
  wait_for gitserver 30 bash -c "exec 3<>/dev/tcp/127.0.0.1/$git_port"
  KUBECONFIG=$kubeconfig "$bin/kubectl" apply --server-side -f "$bin/flux-crds/" >/dev/null
  KUBECONFIG=$kubeconfig "$bin/kubectl" create namespace flux-system --dry-run=client -o yaml |
    KUBECONFIG=$kubeconfig "$bin/kubectl" apply -f - >/dev/null
  start source-controller "$flux_port" env KUBECONFIG="$kubeconfig" RUNTIME_NAMESPACE=flux-system \
    "$bin/source-controller" --storage-path "$dev/flux/storage" --storage-addr "127.0.0.1:$flux_port" \
    --storage-adv-addr "127.0.0.1:$flux_port" --metrics-addr "127.0.0.1:$((flux_port + 1))" \
    --health-addr "127.0.0.1:$((flux_port + 2))" --log-level info
  start kustomize-controller "$((flux_port + 3))" env KUBECONFIG="$kubeconfig" RUNTIME_NAMESPACE=flux-system \
    "$bin/kustomize-controller" --metrics-addr "127.0.0.1:$((flux_port + 3))" \
    --health-addr "127.0.0.1:$((flux_port + 4))" --log-level info \
    --feature-gates CancelHealthCheckOnNewRevision=true
  wait_for source-controller 60 curl -fsS "http://127.0.0.1:$((flux_port + 2))/readyz"
  wait_for kustomize-controller 60 curl -fsS "http://127.0.0.1:$((flux_port + 4))/readyz"
  if [ "${DEV_GITOPS_SAMPLES:-1}" = 1 ] && [ ! -d "$dev/git/orders.git" ]; then
    say "pushing config/samples to http://127.0.0.1:$git_port/orders.git"
    local work
    work=$(mktemp -d)
    mkdir -p "$work/orders" && cp "$root"/config/samples/*.yaml "$work/orders/"
    git -C "$work" init -q -b main && git -C "$work" add -A &&
      git -C "$work" -c user.name=orderflow -c user.email=dev@orderflow.localhost commit -qm "The samples" &&
      git -C "$work" push -q "http://127.0.0.1:$git_port/orders.git" main
    rm -rf "$work"
    KUBECONFIG=$kubeconfig "$bin/kubectl" apply -f - >/dev/null <<EOF
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: orders, namespace: flux-system}
spec:
  interval: 10s
  url: http://127.0.0.1:$git_port/orders.git
  ref: {branch: main}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: orders, namespace: flux-system}
spec:
  interval: 1m
  sourceRef: {kind: GitRepository, name: orders}
  path: ./orders
  targetNamespace: default
  prune: true
  wait: true
  timeout: 2m
EOF
  fi
  cat <<EOF

Flux is running:
  git             http://127.0.0.1:$git_port/orders.git   (the Orders, applied to namespace default)
  source-controller, kustomize-controller   logs under $dev/logs/
Try:
  git clone http://127.0.0.1:$git_port/orders.git && cd orders   # edit, commit, git push
  bin/kubectl get kustomization -n flux-system orders -w
EOF
}

down() {
  [ -d "$dev" ] || { say "nothing to stop"; return 0; }
  for name in kustomize-controller source-controller gitserver; do
    stop_pid "$name"
  done
  for name in api manager worker stripe-mock mailpit temporal kube-apiserver etcd; do
    stop_pid "$name"
  done
  if [ -f "$dev/postgres/data/PG_VERSION" ] && as_pg "$(pg_bin)/pg_ctl" -D "$dev/postgres/data" status >/dev/null 2>&1; then
    as_pg "$(pg_bin)/pg_ctl" -D "$dev/postgres/data" -m fast -w stop >/dev/null && say "stopped postgres"
  fi
}

status() {
  for name in etcd kube-apiserver temporal mailpit stripe-mock worker manager api gitserver source-controller kustomize-controller; do
    [ "$gitops" = 1 ] || case $name in gitserver|source-controller|kustomize-controller) running "$name" || continue ;; esac
    if running "$name"; then say "$name runs (pid $(cat "$(pidfile "$name")"))"; else say "$name is stopped"; fi
  done
  if [ -f "$dev/postgres/data/PG_VERSION" ] && as_pg "$(pg_bin)/pg_ctl" -D "$dev/postgres/data" status >/dev/null 2>&1; then
    say "postgres runs"
  else
    say "postgres is stopped"
  fi
}

restart() {
  local name=${1:-}
  case $name in
    postgres)
      as_pg "$(pg_bin)/pg_ctl" -D "$dev/postgres/data" -m fast -w restart >/dev/null && say "restarted postgres" ;;
    etcd|kube-apiserver|temporal|mailpit|stripe-mock|worker|manager|api)
      stop_pid "$name"
      up >/dev/null && say "restarted $name" ;;
    *) die "restart what? postgres, etcd, kube-apiserver, temporal, worker, manager or api" ;;
  esac
}

case ${1:-} in
  up) up ;;
  restart) restart "${2:-}" ;;
  stop)
    case ${2:-} in
      etcd|kube-apiserver|temporal|mailpit|stripe-mock|worker|manager|api) stop_pid "$2" ;;
      *) die "stop what? etcd, kube-apiserver, temporal, worker, manager or api" ;;
    esac ;;
  down) down ;;
  clean) down; rm -rf "$dev"; say "removed $dev" ;;
  status) status ;;
  *) echo "usage: hack/dev.sh up|down|clean|status|stop NAME|restart NAME" >&2; exit 2 ;;
esac
