//go:build faults

package faults

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	crclient "sigs.k8s.io/controller-runtime/pkg/client"

	"orderflow.io/orderflow/api/v1alpha1"
	"orderflow.io/orderflow/internal/testenv"
	"orderflow.io/orderflow/test/audit"
)

// The suite runs its own stack under .faults/ on ports of its own.
var stackEnv = map[string]string{
	"DEV_DIR": ".faults", "DEV_PG_PORT": "25432", "DEV_TEMPORAL_PORT": "27233", "DEV_TEMPORAL_UI_PORT": "28233",
	"DEV_API_PORT": "28080", "DEV_ETCD_PORT": "22379", "DEV_KUBE_PORT": "26443", "DEV_MANAGER_PORT": "29090",
	"DEV_WORKER_PORT":      "29092",
	"DEV_MAILPIT_PORT":     "28025",
	"DEV_SMTP_PORT":        "21025",
	"DEV_STRIPE_MOCK_PORT": "22111",
	// Charges take a moment, so faults land while payments are in flight.
	"SANDBOX_LATENCY": "300ms",
}

const (
	// ordersPerScenario is "a few hundred": enough that every fault lands
	// on orders at every step.
	ordersPerScenario = 300
	product           = "FAULT-1"
	initialStock      = 1_000_000
	pgDSN             = "postgres://orderflow:orderflow@127.0.0.1:25432/orderflow?sslmode=disable"
)

var (
	root    string
	summary []string
	// temporalServer is the Temporal the stack runs (FAULTS_TEMPORAL): dev,
	// the CLI's dev server, or server, the real server on PostgreSQL with
	// default dynamic config (make test-faults runs both).
	temporalServer = cmp.Or(os.Getenv("FAULTS_TEMPORAL"), "dev")
)

func TestMain(m *testing.M) {
	ctrl.SetLogger(logr.Discard())
	var err error
	if root, err = testenv.Root(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	stackEnv["DEV_TEMPORAL"] = temporalServer
	_ = dev(nil, "clean")
	code := 1
	if err := dev(nil, "up"); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: the local stack did not come up: %v\n", err)
	} else {
		code = m.Run()
	}
	fmt.Printf("\nTemporal: %s\n", map[string]string{"dev": "the dev server", "server": "the real server (PostgreSQL, default dynamic config)"}[temporalServer])
	fmt.Println("\n| scenario | orders | faults injected | orders in flight at the fault | charges (refunds) in flight at the fault | captures at the provider | double charges at the provider | unrefunded cents | partial refunds at the provider | double refunds | audit | time to drain |")
	fmt.Println("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |")
	for _, row := range summary {
		fmt.Println(row)
	}
	if err := dev(nil, "clean"); err != nil {
		fmt.Fprintf(os.Stderr, "tearing the stack down: %v\n", err)
	}
	os.Exit(code)
}

// dev runs hack/dev.sh with the suite's environment plus extra variables.
func dev(extra map[string]string, args ...string) error {
	c := exec.Command(filepath.Join(root, "hack", "dev.sh"), args...)
	c.Dir = root
	c.Env = os.Environ()
	for k, v := range stackEnv {
		c.Env = append(c.Env, k+"="+v)
	}
	for k, v := range extra {
		c.Env = append(c.Env, k+"="+v)
	}
	out, err := c.CombinedOutput()
	if err != nil {
		return fmt.Errorf("hack/dev.sh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

func pid(name string) string {
	b, _ := os.ReadFile(filepath.Join(root, ".faults", "run", name+".pid"))
	return strings.TrimSpace(string(b))
}

// signal sends a component of the stack a signal (kill's name for it).
func signal(name, sig string) error {
	if out, err := exec.Command("kill", "-"+sig, pid(name)).CombinedOutput(); err != nil {
		return fmt.Errorf("kill -%s %s: %v %s", sig, name, err, out)
	}
	return nil
}

func connect(t *testing.T) *audit.Env {
	t.Helper()
	rc, err := clientcmd.BuildConfigFromFlags("", filepath.Join(root, ".faults", "kubeconfig"))
	if err != nil {
		t.Fatal(err)
	}
	rc.QPS, rc.Burst = 200, 400
	kube, err := crclient.New(rc, crclient.Options{Scheme: v1alpha1.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	tc, err := client.Dial(client.Options{HostPort: "127.0.0.1:27233"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	db, err := pgxpool.New(context.Background(), pgDSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	if _, err := db.Exec(context.Background(), `
		INSERT INTO products (id, name, price_cents, currency, stock) VALUES ($1, 'Fault item', 100, 'USD', $2)
		ON CONFLICT (id) DO NOTHING`, product, initialStock); err != nil {
		t.Fatal(err)
	}
	return &audit.Env{Kube: kube, Temporal: tc, DB: db, Product: product}
}

// scenario is one fault scenario's run: its namespace, its orders and what
// each of its faults hit.
type scenario struct {
	t    *testing.T
	e    *audit.Env
	ns   string
	hits []audit.Hit
	// env is what the scenario runs the stack with (hack/dev.sh's
	// variables beyond the suite's): a killed component comes back so.
	env map[string]string
}

// strike waits (up to 10 s) until a charge is in flight at the provider,
// records what is in flight at that instant, and runs the fault. It runs
// off the test's goroutine: it reports with t.Error.
func (s *scenario) strike(what string, fault func() error) {
	waited := time.Now()
	h, err := s.e.AwaitCharges(context.Background(), s.ns, strikeWait)
	if err != nil {
		s.t.Errorf("%s: counting what is in flight: %v", what, err)
	}
	if d := time.Since(waited); d > 10*time.Second {
		s.t.Logf("%s: waited %s for orders and charges in flight", what, d.Round(100*time.Millisecond))
	}
	s.hits = append(s.hits, h)
	if err := fault(); err != nil {
		s.t.Errorf("%s: %v", what, err)
	}
}

// run places n orders in a fresh namespace (a mix of every outcome,
// audit.Place), calls inject while they are in flight, waits until every
// order is finished and audits the result, counting money at the provider.
// A scenario whose faults struck no order in flight, or no charge in
// flight, fails: it proved nothing. With reapply, every Order not meant to
// be deleted is, once all are placed, deleted and applied again from its
// manifest, as a GitOps tool's replace does, while the faults go on.
func run(t *testing.T, name string, n int, faults string, reapply bool, inject func(s *scenario)) {
	runOn(t, nil, nil, name, n, faults, reapply, inject)
}

// runOn is run with the stack's environment env and the audit's Env made
// ready by setup (both may be nil).
func runOn(t *testing.T, env map[string]string, setup func(*audit.Env), name string, n int, faults string, reapply bool, inject func(s *scenario)) {
	e := connect(t)
	if setup != nil {
		setup(e)
	}
	ctx := context.Background()
	ns := fmt.Sprintf("faults-%s-%d", name, time.Now().Unix())
	if err := e.Kube.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	s := &scenario{t: t, e: e, ns: ns, env: env}
	stockBefore := e.Stock(t)
	start := time.Now()
	orders := e.Place(t, ns, n, reapply, func() { inject(s) })
	if reapply {
		e.ApplyAgain(t, orders)
	}
	drained := e.WaitFinished(t, ns, orders)
	result := e.Audit(t, ns, orders, stockBefore)
	s.report(name, n, faults, result, drained.Sub(start))
}

// report checks that the scenario's faults struck work in flight and adds
// its row to the suite's table.
func (s *scenario) report(name string, n int, faults string, result audit.Result, took time.Duration) {
	t := s.t
	var inFlight, charges []string
	for _, h := range s.hits {
		inFlight = append(inFlight, fmt.Sprint(h.Orders))
		charges = append(charges, fmt.Sprint(h.Charges))
		if h.Orders == 0 || h.Charges == 0 {
			t.Errorf("a fault struck %d orders and %d charges in flight: it proved nothing", h.Orders, h.Charges)
			showLogs(t)
		}
	}
	if len(s.hits) == 0 {
		t.Errorf("no fault struck")
	}
	summary = append(summary, fmt.Sprintf("| %s | %d | %s | %s | %s | %d | %d | %d | %d | %d | %s | %s |", name, n, faults,
		strings.Join(inFlight, ", "), strings.Join(charges, ", "), result.Captures, result.DoubleCharges, int64(result.Unrefunded),
		result.Refunds, result.DoubleRefunds, result, took.Round(100*time.Millisecond)))
}

// strikeWait bounds how long a fault waits for orders and charges in
// flight. Work flows within a second on a healthy stack; a stack that is
// still recovering from the scenario before gets time, and one where
// nothing flows for this long fails the scenario with its logs.
const strikeWait = time.Minute

// showLogs prints the end of the workers' and managers' logs: what a
// scenario that proved nothing was running on.
func showLogs(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(root, ".faults", "logs", "*.log"))
	for _, f := range files {
		base := filepath.Base(f)
		if !strings.HasPrefix(base, "worker") && !strings.HasPrefix(base, "manager") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var lines []string
		for _, l := range strings.Split(string(b), "\n") {
			if l != "" && !strings.Contains(l, `"level":"debug"`) {
				lines = append(lines, l)
			}
		}
		t.Logf("the last lines of %s:\n%s", base, strings.Join(lines[max(0, len(lines)-20):], "\n"))
	}
}

// killed is a fault: SIGKILL a component, start it again.
func (s *scenario) killed(name string) func() error {
	return func() error {
		if err := signal(name, "KILL"); err != nil {
			return err
		}
		time.Sleep(500 * time.Millisecond)
		return dev(s.env, "up")
	}
}

func TestWorkerKilledSeveralTimes(t *testing.T) {
	run(t, "worker-sigkill", ordersPerScenario, "worker SIGKILL ×3", false, func(s *scenario) {
		for range 3 {
			s.strike("kill the worker", s.killed("worker"))
			time.Sleep(time.Second)
		}
	})
}

// TestWorkerKilledOnTheStripeGateway runs the worker on the Stripe gateway,
// against stripe-mock behind a recording layer that keeps the books Stripe
// would (one PaymentIntent per idempotency key, its refunds), kills it
// mid-charge and audits the money in those books.
func TestWorkerKilledOnTheStripeGateway(t *testing.T) {
	rec, err := audit.NewStripeRecorder("http://127.0.0.1:" + stackEnv["DEV_STRIPE_MOCK_PORT"])
	if err != nil {
		t.Fatal(err)
	}
	rec.Latency = 300 * time.Millisecond
	srv := httptest.NewServer(rec)
	defer srv.Close()
	stripe := map[string]string{"DEV_PAYMENT_GATEWAY": "stripe", "DEV_STRIPE_API_URL": srv.URL}
	if err := dev(stripe, "restart", "worker"); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := dev(nil, "restart", "worker"); err != nil {
			t.Error(err)
		}
	}()
	setup := func(e *audit.Env) { e.Provider, e.NoDeclines = rec, true }
	runOn(t, stripe, setup, "stripe-worker-sigkill", ordersPerScenario, "Stripe gateway (stripe-mock, recorded); worker SIGKILL ×2", false, func(s *scenario) {
		for range 2 {
			s.strike("kill the worker", s.killed("worker"))
			time.Sleep(time.Second)
		}
	})
}

func TestManagerKilled(t *testing.T) {
	run(t, "manager-sigkill", ordersPerScenario, "manager SIGKILL ×2", false, func(s *scenario) {
		for range 2 {
			s.strike("kill the manager", s.killed("manager"))
			time.Sleep(time.Second)
		}
	})
}

func TestPostgresRestarted(t *testing.T) {
	run(t, "postgres-restart", ordersPerScenario, "PostgreSQL restart", false, func(s *scenario) {
		s.strike("restart PostgreSQL", func() error { return dev(nil, "restart", "postgres") })
	})
}

func TestTemporalRestarted(t *testing.T) {
	what := map[string]string{"dev": "Temporal dev server restart (file-backed)", "server": "Temporal server restart (PostgreSQL)"}[temporalServer]
	run(t, "temporal-restart", ordersPerScenario, what, false, func(s *scenario) {
		s.strike("restart Temporal", func() error { return dev(nil, "restart", "temporal") })
	})
}

func TestFlakyGateway(t *testing.T) {
	// The worker charges through a gateway failing 30% of the time.
	if err := dev(map[string]string{"SANDBOX_FAILURE_RATE": "0.3"}, "restart", "worker"); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := dev(nil, "restart", "worker"); err != nil {
			t.Error(err)
		}
	}()
	run(t, "gateway-30pct", ordersPerScenario, "gateway fails 30% of requests", false, func(s *scenario) {
		// The fault is on all along: count what it meets a third of the way.
		s.strike("count the orders meeting the failing gateway", func() error { return nil })
	})
}

// TestOrdersAppliedAgainWhileTheWorkerIsKilled deletes every Order and
// applies it again, as Argo CD's replace does, while the worker is killed:
// the audit finds each order charged at most once at the provider across
// its incarnations and the stock moved once for each completed order.
func TestOrdersAppliedAgainWhileTheWorkerIsKilled(t *testing.T) {
	run(t, "reapplied", ordersPerScenario, "every Order deleted and applied again; worker SIGKILL ×2", true, func(s *scenario) {
		for range 2 {
			s.strike("kill the worker", s.killed("worker"))
			time.Sleep(2 * time.Second)
		}
	})
}

func TestAPIServerDownForTenSeconds(t *testing.T) {
	run(t, "apiserver-down", ordersPerScenario, "kube-apiserver stopped 10 s", false, func(s *scenario) {
		s.strike("stop the API server for 10 s", func() error {
			if err := dev(nil, "stop", "kube-apiserver"); err != nil {
				return err
			}
			time.Sleep(10 * time.Second)
			return dev(nil, "up")
		})
	})
}

// TestWorkerStalledMidCharge stops the stack's worker with SIGSTOP while
// charges are in flight, with a second worker running: the stalled
// worker's activities time out and the second one takes them over, while
// orders in flight are cancelled. The stalled worker is let go (SIGCONT)
// after that: its late charges and steps must move no money and no stock.
func TestWorkerStalledMidCharge(t *testing.T) {
	second := startProcess(t, "worker-b", "worker", "--bind-address", "127.0.0.1:29392")
	defer second.stop()
	var cancelled []string
	orders := func(s *scenario) {
		s.strike("stop the worker (SIGSTOP)", func() error { return signal("worker", "STOP") })
		defer func() {
			if err := signal("worker", "CONT"); err != nil {
				t.Error(err)
			}
		}()
		cancelled = cancelInFlight(t, s, 30)
		// Activities time out after 30 s (StartToClose); let the second
		// worker retry them, then let the stalled one go on.
		time.Sleep(40 * time.Second)
	}
	run(t, "worker-stalled", ordersPerScenario, fmt.Sprintf("worker SIGSTOP 40 s mid-charge, a second worker takes over, orders cancelled meanwhile; SIGCONT"), false, orders)
	t.Logf("cancelled in flight: %d", len(cancelled))
}

// cancelInFlight cancels up to n orders meant to complete that are in
// flight, and marks them Cancelled in the audit's plan (a cancel that comes
// after the payment is refused and the order completes; the audit takes
// either).
func cancelInFlight(t *testing.T, s *scenario, n int) []string {
	ctx := context.Background()
	var list v1alpha1.OrderList
	if err := s.e.Kube.List(ctx, &list, crclient.InNamespace(s.ns)); err != nil {
		t.Errorf("list orders to cancel: %v", err)
		return nil
	}
	var names []string
	for _, o := range list.Items {
		if len(names) == n {
			break
		}
		var i int
		if _, err := fmt.Sscanf(o.Name, "o-%d", &i); err != nil || audit.KindOf(i) != audit.Completes || o.Status.Phase.Terminal() {
			continue
		}
		patch := crclient.RawPatch("application/merge-patch+json", []byte(`{"spec":{"cancel":true}}`))
		if err := audit.Retry(func() error { return s.e.Kube.Patch(ctx, &o, patch) }); err != nil {
			t.Errorf("cancel %s: %v", o.Name, err)
			continue
		}
		s.e.Replan(o.Name, audit.Cancelled)
		names = append(names, o.Name)
	}
	return names
}

// TestRefundsWhileTheWorkerIsKilled places orders, and once they finished
// appends two partial refunds to every Completed one (an item back in
// stock, then 0.50, which orders of one unit have no room left for) while
// the worker is killed twice with refunds in flight at the provider. The
// audit counts the refunds at the provider: each made once, the sum what
// OrderFlow shows, the stock put back once.
func TestRefundsWhileTheWorkerIsKilled(t *testing.T) {
	e := connect(t)
	ctx := context.Background()
	ns := fmt.Sprintf("faults-refunds-%d", time.Now().Unix())
	if err := e.Kube.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	s := &scenario{t: t, e: e, ns: ns}
	stockBefore := e.Stock(t)
	orders := e.Place(t, ns, ordersPerScenario, false, func() {})
	e.WaitFinished(t, ns, orders)
	start := time.Now()
	e.AppendRefunds(t, ns, func() {
		for range 2 {
			h, err := e.AwaitRefunds(ctx, ns, strikeWait)
			if err != nil {
				t.Errorf("counting refunds in flight: %v", err)
			}
			s.hits = append(s.hits, h)
			if err := s.killed("worker")(); err != nil {
				t.Error(err)
			}
			time.Sleep(time.Second)
		}
	})
	drained := e.WaitRefunded(t, ns)
	result := e.Audit(t, ns, orders, stockBefore)
	if result.Refunds == 0 {
		t.Error("no refund was made: the scenario proved nothing")
	}
	s.report("refunds-worker-sigkill", ordersPerScenario, "2 partial refunds appended to each Completed order; worker SIGKILL ×2 with refunds in flight", result, drained.Sub(start))
}

// TestLeaderHandover runs two managers with leader election in place of the
// stack's one, kills the leader with SIGKILL while orders are in flight and
// lets the standby take over once the lease runs out.
func TestLeaderHandover(t *testing.T) {
	if err := dev(nil, "stop", "manager"); err != nil {
		t.Fatal(err)
	}
	managers := []*process{startManager(t, "a", 29190), startManager(t, "b", 29290)}
	defer func() {
		for _, m := range managers {
			m.stop()
		}
		if err := dev(nil, "up"); err != nil {
			t.Error(err)
		}
	}()
	if _, err := leader(managers, nil, time.Minute); err != nil {
		t.Fatal(err)
	}
	run(t, "leader-handover", ordersPerScenario, "leader SIGKILL, standby takes over", false, func(s *scenario) {
		old, err := leader(managers, nil, time.Minute)
		if err != nil {
			t.Error(err)
			return
		}
		var killed time.Time
		s.strike("kill the leader", func() error { killed = time.Now(); return old.cmd.Process.Kill() })
		next, err := leader(managers, old, time.Minute)
		if err != nil {
			t.Error(err)
			return
		}
		t.Logf("manager %s was killed; manager %s leads %s later", old.name, next.name, time.Since(killed).Round(100*time.Millisecond))
	})
}

// process is an OrderFlow process the suite runs itself, beside the stack's.
type process struct {
	name    string
	metrics string
	cmd     *exec.Cmd
	done    chan struct{}
}

// startProcess runs bin/orderflow with args, configured for the suite's
// stack (its API server, Temporal, PostgreSQL, payload key and sandbox).
func startProcess(t *testing.T, name string, args ...string) *process {
	t.Helper()
	logf, err := os.Create(filepath.Join(root, ".faults", "logs", name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	c := exec.Command(filepath.Join(root, "bin", "orderflow"), args...)
	c.Env = append(os.Environ(), "KUBECONFIG="+filepath.Join(root, ".faults", "kubeconfig"),
		"TEMPORAL_HOST_PORT=127.0.0.1:27233", "TEMPORAL_NAMESPACE=default",
		"POSTGRES_HOST=127.0.0.1", "POSTGRES_PORT=25432", "POSTGRES_USER=orderflow", "POSTGRES_PASSWORD=orderflow",
		"POSTGRES_DB=orderflow", "POSTGRES_SSLMODE=disable",
		"PAYMENT_GATEWAY=sandbox", "SANDBOX_LATENCY="+stackEnv["SANDBOX_LATENCY"],
		// The stack's payload key: payloads and the progress memo are encrypted.
		"CODEC_KEYS_FILE="+filepath.Join(root, ".faults", "codec-keys"))
	c.Stdout, c.Stderr = logf, logf
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{name: name, cmd: c, done: make(chan struct{})}
	go func() { _ = c.Wait(); close(p.done) }()
	return p
}

// startManager starts a manager with leader election and short lease
// timings, so a handover takes seconds.
func startManager(t *testing.T, name string, port int) *process {
	t.Helper()
	p := startProcess(t, "manager-"+name, "manager",
		"--leader-elect", "--leader-election-namespace", "default",
		"--leader-election-lease-duration", "4s", "--leader-election-renew-deadline", "3s", "--leader-election-retry-period", "500ms",
		"--metrics-bind-address", fmt.Sprintf("127.0.0.1:%d", port),
		"--health-probe-bind-address", fmt.Sprintf("127.0.0.1:%d", port+1))
	p.name, p.metrics = name, fmt.Sprintf("http://127.0.0.1:%d/metrics", port)
	return p
}

func (m *process) stop() {
	_ = m.cmd.Process.Signal(os.Interrupt)
	select {
	case <-m.done:
	case <-time.After(15 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.done
	}
}

// leads reports whether the manager says, in its metrics, that it leads.
func (m *process) leads() bool {
	resp, err := http.Get(m.metrics)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.Contains(string(b), `leader_election_master_status{name="orderflow-manager.orderflow.io"} 1`)
}

// leader waits until exactly one manager other than not leads, and returns it.
func leader(managers []*process, not *process, timeout time.Duration) (*process, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		var leading []*process
		for _, m := range managers {
			if m != not && m.leads() {
				leading = append(leading, m)
			}
		}
		if len(leading) > 1 {
			return nil, fmt.Errorf("%d managers lead at once", len(leading))
		}
		if len(leading) == 1 {
			return leading[0], nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil, fmt.Errorf("no manager leads after %s", timeout)
}
