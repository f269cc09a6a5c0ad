package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"orderflow.io/orderflow/internal/testenv"
)

// up starts whatever is not running and waits until it is ready.
func (s *stack) up(ctx context.Context) error {
	start := time.Now()
	if err := s.tools(); err != nil {
		return err
	}
	steps := []func(context.Context) error{
		s.startPostgres, s.startKube, s.secrets, s.startTemporal, s.install,
		s.startMailpit, s.startStripeMock, s.startWorker, s.startManager, s.startAPI,
	}
	if s.gitops {
		steps = append(steps, s.startFlux)
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return err
		}
	}
	if len(s.procs.Started) == 0 {
		s.say("everything was already running")
	} else {
		s.say("started %s in %ds", strings.Join(s.procs.Started, " "), int(time.Since(start).Seconds()))
	}
	s.banner()
	return nil
}

// tools builds the tools the stack needs when they are missing.
func (s *stack) tools() error {
	need := []string{"kube-apiserver", "etcd", "kubectl", "temporal", "mailpit", "stripe-mock"}
	if s.temporalMode == "server" {
		need = append(need, "temporal-server", "temporal-sql-tool")
	}
	if s.gitops {
		need = append(need, "source-controller", "kustomize-controller", "gitserver")
	}
	var missing []string
	for _, t := range need {
		if _, err := os.Stat(filepath.Join(s.bin, t)); err != nil {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		cmd := exec.Command(filepath.Join(s.root, "hack", "tools", "install.sh"), missing...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("installing %s: %w", strings.Join(missing, " "), err)
		}
	}
	if _, err := os.Stat(filepath.Join(s.bin, "orderflow")); err != nil {
		return fmt.Errorf("bin/orderflow is missing: run make build (make dev does)")
	}
	return nil
}

// startPostgres initialises PostgreSQL under dir/postgres the first time,
// starts it and makes the orderflow role and database.
func (s *stack) startPostgres(ctx context.Context) error {
	pg, err := s.postgres()
	if err != nil {
		return err
	}
	if !pg.Initialised() {
		s.say("initialising PostgreSQL in %s", filepath.Join(s.dir, "postgres", "data"))
		if err := pg.Init(ctx); err != nil {
			return err
		}
	}
	if pg.Running(ctx) {
		s.say("postgres is already running")
	} else {
		_ = os.Remove(filepath.Join(s.dir, "postgres", "data", "postmaster.pid")) // left by a killed server
		if err := s.procs.PortFree(s.ports.pg, "postgres"); err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(s.dir, "logs"), 0o755); err != nil {
			return err
		}
		// 300 connections: the real Temporal server runs four services,
		// each with its own pools (up to 30 connections apiece), beside two
		// workers' pools of 20 (the fault suite's) and the manager's and
		// API's; at the default 100, a stalled worker holding its pool
		// exhausted them.
		if err := pg.StartServer(ctx, s.procs.LogFile("postgres"), "max_connections=300"); err != nil {
			return err
		}
		s.procs.Started = append(s.procs.Started, "postgres")
		s.say("started postgres on 127.0.0.1:%d (log %s)", s.ports.pg, s.procs.LogFile("postgres"))
	}
	if err := pg.EnsureRole(ctx, "orderflow", "orderflow"); err != nil {
		return err
	}
	return pg.EnsureDatabase(ctx, "orderflow", "orderflow")
}

// startKube writes the control plane's certificates and the kubeconfig
// (once), and starts etcd and kube-apiserver. The watch cache's
// consistency checker (a beta diagnostic) re-reads and decodes every
// object of every resource from etcd every 5 to 7.5 minutes: with 10 000
// Orders, 6 CPU-seconds each time; it is off.
func (s *stack) startKube(ctx context.Context) error {
	pki := filepath.Join(s.dir, "pki")
	ca, err := testenv.LoadOrMakeCA(pki, "orderflow-dev-ca")
	if err != nil {
		return err
	}
	for _, c := range []testenv.Cert{
		{Name: "apiserver", CommonName: "kube-apiserver", IPs: []net.IP{net.ParseIP("127.0.0.1")},
			DNSNames: []string{"localhost", "kubernetes.default.svc"}, Server: true},
		{Name: "admin", CommonName: "orderflow-dev-admin", Organizations: []string{"system:masters"}, Client: true},
	} {
		if err := ca.Ensure(c); err != nil {
			return err
		}
	}
	if err := ca.EnsureServiceAccountKey(); err != nil {
		return err
	}
	if err := ca.WriteKubeconfig(s.kubeconfig(), "orderflow-dev", fmt.Sprintf("https://127.0.0.1:%d", s.ports.kube), "admin"); err != nil {
		return err
	}
	etcd := s.ports.etcd
	if err := s.procs.Start("etcd", etcd, s.gogcEnv(), etcdArgs(s.bin, filepath.Join(s.dir, "etcd"), etcd)...); err != nil {
		return err
	}
	if err := s.procs.WaitFor(ctx, "etcd", 30*time.Second, httpOK(fmt.Sprintf("http://127.0.0.1:%d/health", etcd))); err != nil {
		return err
	}
	if err := s.procs.Start("kube-apiserver", s.ports.kube, s.gogcEnv(), filepath.Join(s.bin, "kube-apiserver"),
		"--etcd-servers", fmt.Sprintf("http://127.0.0.1:%d", etcd), "--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
		"--secure-port", strconv.Itoa(s.ports.kube), "--tls-cert-file", ca.CertFile("apiserver"), "--tls-private-key-file", ca.KeyFile("apiserver"),
		"--client-ca-file", ca.CertFile("ca"), "--authorization-mode", "RBAC",
		"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file", filepath.Join(pki, "sa.pub"), "--service-account-signing-key-file", filepath.Join(pki, "sa.key"),
		"--service-cluster-ip-range", "10.96.0.0/24", "--disable-admission-plugins", "ServiceAccount", "--allow-privileged=true",
		"--endpoint-reconciler-type", "none", "--feature-gates", "DetectCacheInconsistency=false"); err != nil {
		return err
	}
	return s.procs.WaitFor(ctx, "kube-apiserver", 90*time.Second, s.kubectlOK("get", "--raw", "/readyz"))
}

// secrets makes, once and kept with the stack's data, the payload
// encryption key and the secret shared with a fulfillment service
// (bookings are signed and its events verified with it).
func (s *stack) secrets(context.Context) error {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	made, err := writeOnce(filepath.Join(s.dir, "codec-keys"), "dev-1="+base64.StdEncoding.EncodeToString(key)+"\n")
	if made {
		s.say("made the payload encryption key (%s)", filepath.Join(s.dir, "codec-keys"))
	}
	if err != nil {
		return err
	}
	if _, err := rand.Read(key); err != nil {
		return err
	}
	_, err = writeOnce(filepath.Join(s.dir, "fulfillment-secret"), hex.EncodeToString(key)+"\n")
	return err
}

// writeOnce writes content to path, readable by its owner only, unless
// path holds something already.
func writeOnce(path, content string) (bool, error) {
	if fi, err := os.Stat(path); err == nil && fi.Size() > 0 {
		return false, nil
	}
	return true, os.WriteFile(path, []byte(content), 0o600)
}

// startTemporal starts the dev server (its state in a file, so orders
// survive a restart; its UI decrypts payloads through the worker's codec
// server) or, with DEV_TEMPORAL=server, the real server.
func (s *stack) startTemporal(ctx context.Context) error {
	if s.temporalMode == "server" {
		return s.startTemporalServer(ctx)
	}
	if err := os.MkdirAll(filepath.Join(s.dir, "temporal"), 0o755); err != nil {
		return err
	}
	args, err := testenv.DevServerArgs(s.ports.temporal, "default")
	if err != nil {
		return err
	}
	args = append(args, "--ui-port", strconv.Itoa(s.ports.temporalUI), "--db-filename", filepath.Join(s.dir, "temporal", "temporal.db"),
		"--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal",
		"--ui-codec-endpoint", fmt.Sprintf("http://localhost:%d/codec", s.ports.worker))
	if err := s.procs.Start("temporal", s.ports.temporal, s.gogcEnv(), append([]string{filepath.Join(s.bin, "temporal")}, args...)...); err != nil {
		return err
	}
	return s.procs.WaitFor(ctx, "temporal", 60*time.Second, s.namespaceServed)
}

// startTemporalServer runs the real Temporal server on the stack's
// PostgreSQL (its own databases temporal and temporal_visibility, schemas
// set up and updated with its sql tool), with an empty dynamic config, as a
// production server runs by default, in the configuration the tests' server
// runs with; the namespace default is registered once.
func (s *stack) startTemporalServer(ctx context.Context) error {
	dbs := testenv.TemporalDatabases{Store: "temporal", Visibility: "temporal_visibility"}
	for _, db := range []string{dbs.Store, dbs.Visibility} {
		pg, err := s.postgres()
		if err != nil {
			return err
		}
		if err := pg.EnsureDatabase(ctx, db, "orderflow"); err != nil {
			return err
		}
	}
	if err := testenv.SetupTemporalSchemas(ctx, s.ports.pg, "orderflow", "orderflow", dbs); err != nil {
		return err
	}
	dir := filepath.Join(s.dir, "temporal-server")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "dynamicconfig.yaml"), nil, 0o644); err != nil {
		return err
	}
	// Ports from the frontend's: history +1, matching +2, worker +6, HTTP
	// +10; membership 300 below each.
	p, m := s.ports.temporal, s.ports.temporal-300
	cfg := testenv.TemporalServerConfig{
		Database: dbs.Store, VisibilityDatabase: dbs.Visibility, PostgresPort: s.ports.pg,
		User: "orderflow", Password: "orderflow", Frontend: p, FrontendMembership: m, FrontendHTTP: p + 10,
		History: p + 1, HistoryMembership: m + 1, Matching: p + 2, MatchingMembership: m + 2,
		Worker: p + 6, WorkerMembership: m + 6, DynamicConfigDir: dir,
	}
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(cfg.YAML()), 0o600); err != nil {
		return err
	}
	if err := s.procs.Start("temporal", s.ports.temporal, s.gogcEnv(), filepath.Join(s.bin, "temporal-server"),
		"--config-file", filepath.Join(dir, "config.yaml"), "--allow-no-auth", "start"); err != nil {
		return err
	}
	hostPort := fmt.Sprintf("127.0.0.1:%d", s.ports.temporal)
	if err := s.procs.WaitFor(ctx, "temporal", 90*time.Second, func(ctx context.Context) error {
		return testenv.RegisterNamespace(ctx, client.Options{HostPort: hostPort, Namespace: "default", Logger: quiet{}}, 5*time.Second)
	}); err != nil {
		return err
	}
	// The search attribute the workflow publishes with, made here rather
	// than by the worker at its start: the server's services learn a
	// namespace's attributes on a timer (10 s), and until they do every
	// workflow task that sets it fails. Ready when a query naming it is
	// accepted.
	return s.procs.WaitFor(ctx, "temporal", 60*time.Second, func(ctx context.Context) error {
		return searchAttributeKnown(ctx, client.Options{HostPort: hostPort, Namespace: "default", Logger: quiet{}})
	})
}

// namespaceServed reports whether the dev server serves namespace default.
func (s *stack) namespaceServed(ctx context.Context) error {
	c, err := client.Dial(client.Options{HostPort: fmt.Sprintf("127.0.0.1:%d", s.ports.temporal), Namespace: "default", Logger: quiet{}})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: "default"})
	return err
}

// install applies the schema and the demo catalog, the CRD and the
// admission policy that puts the finalizer on at creation (without it the
// controller adds it).
func (s *stack) install(ctx context.Context) error {
	migrate := exec.CommandContext(ctx, filepath.Join(s.bin, "orderflow"), "migrate", "--demo-catalog")
	migrate.Env = append(os.Environ(), s.orderflowEnv()...)
	if out, err := migrate.CombinedOutput(); err != nil {
		_ = os.WriteFile(s.procs.LogFile("migrate"), out, 0o644)
		return fmt.Errorf("migrations failed; see %s", s.procs.LogFile("migrate"))
	}
	if err := s.kubectl(ctx, "apply", "--server-side", "-f", filepath.Join(s.root, "config", "crd", "bases")); err != nil {
		return err
	}
	// The policy needs the Order's schema, which the API server publishes
	// a little after the CRD is established: until then it would fail
	// creates.
	if err := s.procs.WaitFor(ctx, "kube-apiserver", 60*time.Second, s.kubectlOK("get", "--raw", "/openapi/v3/apis/orderflow.io/v1alpha1")); err != nil {
		return err
	}
	if err := s.kubectl(ctx, "apply", "--server-side", "-f", filepath.Join(s.root, "config", "admission", "finalizer.yaml")); err != nil {
		s.say("the admission policy was not installed; the controller adds finalizers itself (%v)", err)
	}
	if err := s.kubectl(ctx, "wait", "--for", "condition=Established", "crd/orders.orderflow.io", "--timeout", "60s"); err != nil {
		return err
	}
	// The policy's own copy of the schema arrives later still (its type
	// converter refreshes on a timer): until then creates fail with
	// "Resource kind ... not found". Right after the first admission it can
	// lose the kind again for a moment (seen: the e2e suite's first creates
	// refused after a single dry run had passed): ready when ten dry-run
	// creates over five seconds pass.
	return s.procs.WaitFor(ctx, "kube-apiserver", 90*time.Second, func(ctx context.Context) error {
		for range 10 {
			if err := s.kubectlIn(ctx, admissionCheck, "create", "--dry-run=server", "-o", "name", "-f", "-"); err != nil {
				return err
			}
			time.Sleep(500 * time.Millisecond)
		}
		return nil
	})
}

const admissionCheck = `apiVersion: orderflow.io/v1alpha1
kind: Order
metadata: {generateName: admission-check-, namespace: default}
spec: {customerID: CHECK, items: [{productID: PROD-001, quantity: 1}]}
`

// startMailpit starts mailpit: the SMTP server customer email goes to,
// and a web UI to read it.
func (s *stack) startMailpit(ctx context.Context) error {
	if err := os.MkdirAll(filepath.Join(s.dir, "mailpit"), 0o755); err != nil {
		return err
	}
	args := testenv.MailpitArgs(s.ports.mailpit, s.ports.smtp, filepath.Join(s.dir, "mailpit", "mailpit.db"))
	if err := s.procs.Start("mailpit", s.ports.smtp, nil, append([]string{filepath.Join(s.bin, "mailpit")}, args...)...); err != nil {
		return err
	}
	return s.procs.WaitFor(ctx, "mailpit", 30*time.Second, httpOK(fmt.Sprintf("http://127.0.0.1:%d/readyz", s.ports.mailpit)))
}

// startStripeMock starts stripe-mock when the worker is to use the Stripe
// gateway.
func (s *stack) startStripeMock(ctx context.Context) error {
	if s.gateway != "stripe" {
		return nil
	}
	fixtures := filepath.Join(s.dir, "stripe-mock", "fixtures.json")
	if _, err := os.Stat(fixtures); err != nil {
		if err := os.MkdirAll(filepath.Dir(fixtures), 0o755); err != nil {
			return err
		}
		if err := testenv.StripeMockFixtures(filepath.Join(s.bin, "stripe-mock-fixtures3.json"), fixtures); err != nil {
			return err
		}
	}
	args := testenv.StripeMockArgs(s.ports.stripeMock, s.ports.stripeMock+1, fixtures)
	if err := s.procs.Start("stripe-mock", s.ports.stripeMock, nil, append([]string{filepath.Join(s.bin, "stripe-mock")}, args...)...); err != nil {
		return err
	}
	url := fmt.Sprintf("http://127.0.0.1:%d", s.ports.stripeMock)
	return s.procs.WaitFor(ctx, "stripe-mock", 30*time.Second, func(context.Context) error {
		return testenv.StripeMockReady(&http.Client{Timeout: time.Second}, url)
	})
}

// orderflowEnv is what every OrderFlow process is given: PostgreSQL,
// Temporal, the codec keys and the fulfillment secret.
func (s *stack) orderflowEnv() []string {
	return []string{"POSTGRES_HOST=127.0.0.1", "POSTGRES_PORT=" + strconv.Itoa(s.ports.pg), "POSTGRES_USER=orderflow",
		"POSTGRES_PASSWORD=orderflow", "POSTGRES_DB=orderflow", "POSTGRES_SSLMODE=disable",
		fmt.Sprintf("TEMPORAL_HOST_PORT=127.0.0.1:%d", s.ports.temporal),
		"CODEC_KEYS_FILE=" + filepath.Join(s.dir, "codec-keys"), "FULFILLMENT_WEBHOOK_SECRET_FILE=" + filepath.Join(s.dir, "fulfillment-secret")}
}

func (s *stack) startWorker(ctx context.Context) error {
	vars := append(s.orderflowEnv(), "PAYMENT_GATEWAY="+s.gateway, "FULFILLMENT_WEBHOOK_URL="+os.Getenv("DEV_FULFILLMENT_WEBHOOK_URL"),
		"SMTP_HOST=127.0.0.1", "SMTP_PORT="+strconv.Itoa(s.ports.smtp), "SMTP_TLS=none", "SMTP_USERNAME=orderflow",
		"SMTP_PASSWORD="+env("DEV_SMTP_PASSWORD", "orderflow"), "SMTP_FROM=OrderFlow <orders@orderflow.localhost>")
	if s.gateway == "stripe" {
		// stripe-mock takes any test key; a real key belongs in a Secret or
		// STRIPE_API_KEY, never here.
		vars = append(vars, "STRIPE_API_URL="+env("DEV_STRIPE_API_URL", fmt.Sprintf("http://127.0.0.1:%d", s.ports.stripeMock)),
			"STRIPE_API_KEY=sk_test_localstripemock")
	}
	ui := fmt.Sprintf("http://localhost:%d,http://127.0.0.1:%d", s.ports.temporalUI, s.ports.temporalUI)
	if err := s.procs.Start("worker", s.ports.worker, vars, filepath.Join(s.bin, "orderflow"), "worker",
		"--bind-address", fmt.Sprintf("127.0.0.1:%d", s.ports.worker), "--pprof",
		"--codec-server", "--codec-server-auth", "none", "--codec-server-origins", ui); err != nil {
		return err
	}
	return s.procs.WaitFor(ctx, "worker", 60*time.Second, httpOK(fmt.Sprintf("http://127.0.0.1:%d/readyz", s.ports.worker)))
}

func (s *stack) startManager(ctx context.Context) error {
	p := s.ports.manager
	env := append(s.orderflowEnv(), "KUBECONFIG="+s.kubeconfig(), "FULFILLMENT_CARRIER="+os.Getenv("DEV_FULFILLMENT_CARRIER"))
	if err := s.procs.Start("manager", p, env, filepath.Join(s.bin, "orderflow"), "manager",
		"--metrics-bind-address", fmt.Sprintf("127.0.0.1:%d", p), "--health-probe-bind-address", fmt.Sprintf("127.0.0.1:%d", p+1),
		"--pprof-bind-address", fmt.Sprintf("127.0.0.1:%d", p+3), "--temporal-ui", fmt.Sprintf("http://localhost:%d", s.ports.temporalUI)); err != nil {
		return err
	}
	return s.procs.WaitFor(ctx, "manager", 60*time.Second, httpOK(fmt.Sprintf("http://127.0.0.1:%d/readyz", p+1)))
}

func (s *stack) startAPI(ctx context.Context) error {
	env := append(s.orderflowEnv(), "KUBECONFIG="+s.kubeconfig())
	if err := s.procs.Start("api", s.ports.api, env, filepath.Join(s.bin, "orderflow"), "api", "--auth", "none",
		"--port", strconv.Itoa(s.ports.api), "--bind", "127.0.0.1", "--namespace", "default", "--namespaces", "*",
		"--temporal-ui", fmt.Sprintf("http://localhost:%d", s.ports.temporalUI)); err != nil {
		return err
	}
	return s.procs.WaitFor(ctx, "api", 60*time.Second, httpOK(fmt.Sprintf("http://127.0.0.1:%d/readyz", s.ports.api)))
}

func (s *stack) gogcEnv() []string { return []string{"GOGC=" + s.gogc} }

// kubectl runs kubectl against the stack's API server.
func (s *stack) kubectl(ctx context.Context, args ...string) error {
	return kubectl(ctx, s.bin, s.kubeconfig(), "", args...)
}

// kubectlIn runs kubectl with stdin.
func (s *stack) kubectlIn(ctx context.Context, stdin string, args ...string) error {
	return kubectl(ctx, s.bin, s.kubeconfig(), stdin, args...)
}

func (s *stack) kubectlOK(args ...string) func(context.Context) error {
	return func(ctx context.Context) error { return s.kubectl(ctx, args...) }
}

// kubectl runs bin/kubectl with kubeconfig and stdin; an error carries
// its output.
func kubectl(ctx context.Context, bin, kubeconfig, stdin string, args ...string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "kubectl"), append([]string{"--kubeconfig", kubeconfig}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

// etcdArgs run a single-member etcd with its data in dir, clients on port
// and its peer on port+1 of 127.0.0.1, without fsync (local state only).
func etcdArgs(bin, dir string, port int) []string {
	client, peer := fmt.Sprintf("http://127.0.0.1:%d", port), fmt.Sprintf("http://127.0.0.1:%d", port+1)
	return []string{filepath.Join(bin, "etcd"), "--data-dir", dir, "--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", "default=" + peer, "--unsafe-no-fsync"}
}

func httpOK(url string) func(context.Context) error {
	c := &http.Client{Timeout: 2 * time.Second}
	return func(context.Context) error { return testenv.HTTPReady(c, url) }
}

// quiet drops the Temporal SDK's logs.
type quiet struct{}

func (quiet) Debug(string, ...any) {}
func (quiet) Info(string, ...any)  {}
func (quiet) Warn(string, ...any)  {}
func (quiet) Error(string, ...any) {}

func (s *stack) banner() {
	fmt.Printf(`
OrderFlow is running:
  Kubernetes API  https://127.0.0.1:%[1]d   (kubeconfig %[2]s)
  Temporal        127.0.0.1:%[3]d, UI http://localhost:%[4]d
                  (payloads encrypted; the UI decrypts through http://localhost:%[5]d/codec)
  PostgreSQL      127.0.0.1:%[6]d (user, password and database: orderflow)
  manager         metrics http://127.0.0.1:%[7]d/metrics
  worker          metrics http://127.0.0.1:%[5]d/metrics, payment gateway %[8]s
  mailpit         customer email at http://localhost:%[9]d/   (SMTP 127.0.0.1:%[10]d)
  REST API + page http://localhost:%[11]d/   (no authentication: local use)
  logs            %[12]s/logs/

Try:
  export KUBECONFIG=%[2]s
  bin/kubectl apply -f config/samples/
  bin/kubectl get orders -w

Stop it with: make dev-down   (data stays; make dev-clean removes it)
`, s.ports.kube, s.kubeconfig(), s.ports.temporal, s.ports.temporalUI, s.ports.worker, s.ports.pg, s.ports.manager,
		s.gateway, s.ports.mailpit, s.ports.smtp, s.ports.api, s.dir)
}
