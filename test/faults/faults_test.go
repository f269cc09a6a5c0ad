//go:build faults

package faults

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/clientcmd"
	clientretry "k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	crclient "sigs.k8s.io/controller-runtime/pkg/client"

	"orderflow.io/orderflow/api/v1alpha1"
	"orderflow.io/orderflow/internal/testenv"
	"orderflow.io/orderflow/workflows"
)

// The suite runs its own stack under .faults/ on ports of its own.
var stackEnv = map[string]string{
	"DEV_DIR": ".faults", "DEV_PG_PORT": "25432", "DEV_TEMPORAL_PORT": "27233", "DEV_TEMPORAL_UI_PORT": "28233",
	"DEV_API_PORT": "28080", "DEV_ETCD_PORT": "22379", "DEV_KUBE_PORT": "26443", "DEV_MANAGER_PORT": "29090",
	"DEV_WORKER_PORT":  "29092",
	"DEV_MAILPIT_PORT": "28025",
	"DEV_SMTP_PORT":    "21025",
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
)

func TestMain(m *testing.M) {
	ctrl.SetLogger(logr.Discard())
	var err error
	if root, err = testenv.Root(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	_ = dev(nil, "clean")
	code := 1
	if err := dev(nil, "up"); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: the local stack did not come up: %v\n", err)
	} else {
		code = m.Run()
	}
	fmt.Println("\n| scenario | orders | faults injected | audit | time to drain |\n| --- | ---: | --- | --- | ---: |")
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

// kill9 kills a component with SIGKILL.
func kill9(t *testing.T, name string) {
	t.Helper()
	if err := exec.Command("kill", "-9", pid(name)).Run(); err != nil {
		t.Fatalf("kill -9 %s: %v", name, err)
	}
}

type env struct {
	kube crclient.Client
	tc   client.Client
	db   *pgxpool.Pool
}

func connect(t *testing.T) *env {
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
	return &env{kube: kube, tc: tc, db: db}
}

// kind is what an order is meant to do; the mix covers every outcome.
type kind int

const (
	completes kind = iota
	outOfStock
	declined
	cancelled
	deleted
)

func kindOf(i int) kind {
	switch i % 10 {
	case 6:
		return outOfStock
	case 7:
		return declined
	case 8:
		return cancelled
	case 9:
		return deleted
	}
	return completes
}

type placed struct {
	name     string
	key      string // the order's identity: its record's key
	kind     kind
	manifest *v1alpha1.Order
}

// run places n orders in a fresh namespace, cancels and deletes some of
// them mid-flight, calls inject while they are in flight, waits until every
// order is finished and audits the result. With reapply, every Order not
// meant to be deleted is placed with deletionPolicy Orphan and, once all are
// placed, deleted and applied again from its manifest, as a GitOps tool's
// replace does, while the faults go on.
func run(t *testing.T, scenario string, n int, faults string, reapply bool, inject func(t *testing.T)) {
	e := connect(t)
	ctx := context.Background()
	ns := fmt.Sprintf("faults-%s-%d", scenario, time.Now().Unix())
	if err := e.kube.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	stockBefore := e.stock(t)
	start := time.Now()
	var mu sync.Mutex
	var orders []placed
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			k := kindOf(i)
			o := &v1alpha1.Order{}
			o.Namespace, o.Name = ns, fmt.Sprintf("o-%04d", i)
			o.Spec = v1alpha1.OrderSpec{CustomerID: "FAULTS", Items: []v1alpha1.OrderItem{{ProductID: product, Quantity: int32(1 + i%3)}}}
			switch k {
			case outOfStock:
				o.Spec.Items = []v1alpha1.OrderItem{{ProductID: "PROD-003", Quantity: 1}}
			case declined:
				o.Spec.PaymentMethod = "pm_card_chargeDeclined"
			}
			if reapply && k != deleted {
				o.Spec.DeletionPolicy = v1alpha1.DeletionOrphan
			}
			manifest := o.DeepCopy()
			if err := retry(func() error { return e.kube.Create(ctx, o) }); err != nil {
				t.Errorf("create %s: %v", o.Name, err)
				return
			}
			mu.Lock()
			orders = append(orders, placed{name: o.Name, key: workflows.Key(o.Namespace, o.Name), kind: k, manifest: manifest})
			mu.Unlock()
			switch k {
			case cancelled:
				time.Sleep(200 * time.Millisecond)
				patch := crclient.RawPatch("application/merge-patch+json", []byte(`{"spec":{"cancel":true}}`))
				if err := retry(func() error { return e.kube.Patch(ctx, o, patch) }); err != nil {
					t.Errorf("cancel %s: %v", o.Name, err)
				}
			case deleted:
				time.Sleep(200 * time.Millisecond)
				if err := retry(func() error { return crclient.IgnoreNotFound(e.kube.Delete(ctx, o)) }); err != nil {
					t.Errorf("delete %s: %v", o.Name, err)
				}
			}
		}(i)
		if i == n/3 {
			go inject(t)
		}
	}
	wg.Wait()
	if reapply {
		e.applyAgain(t, orders)
	}
	drained := e.waitFinished(t, ns, orders)
	audit := e.audit(t, ns, orders, stockBefore)
	summary = append(summary, fmt.Sprintf("| %s | %d | %s | %s | %s |", scenario, n, faults, audit, drained.Sub(start).Round(100*time.Millisecond)))
}

// applyAgain deletes every Order not meant to be deleted and applies its
// manifest again once it is gone, 16 at a time.
func (e *env) applyAgain(t *testing.T, orders []placed) {
	ctx := context.Background()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for _, p := range orders {
		if p.kind == deleted {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func(p placed) {
			defer wg.Done()
			defer func() { <-sem }()
			o := p.manifest.DeepCopy()
			if err := retry(func() error { return crclient.IgnoreNotFound(e.kube.Delete(ctx, o)) }); err != nil {
				t.Errorf("delete %s: %v", p.name, err)
				return
			}
			err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
				err := e.kube.Get(ctx, crclient.ObjectKeyFromObject(o), &v1alpha1.Order{})
				return apierrors.IsNotFound(err), nil
			})
			if err != nil {
				t.Errorf("%s was not deleted", p.name)
				return
			}
			if err := retry(func() error { return e.kube.Create(ctx, p.manifest.DeepCopy()) }); err != nil {
				t.Errorf("apply %s again: %v", p.name, err)
			}
		}(p)
	}
	wg.Wait()
}

// retry calls f until it succeeds or fails for good (invalid, already
// there), for 30 s: the API server may be down on purpose.
func retry(f func() error) error {
	return clientretry.OnError(wait.Backoff{Duration: 250 * time.Millisecond, Steps: 120}, func(err error) bool {
		return !apierrors.IsInvalid(err) && !apierrors.IsAlreadyExists(err)
	}, f)
}

// waitFinished waits until every Order is terminal or gone.
func (e *env) waitFinished(t *testing.T, ns string, orders []placed) time.Time {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 500*time.Millisecond, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
		var list v1alpha1.OrderList
		if err := e.kube.List(ctx, &list, crclient.InNamespace(ns)); err != nil {
			return false, nil // the API server may be down on purpose
		}
		for _, o := range list.Items {
			if !o.Status.Phase.Terminal() || !o.DeletionTimestamp.IsZero() {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		var list v1alpha1.OrderList
		_ = e.kube.List(context.Background(), &list, crclient.InNamespace(ns))
		stuck := 0
		for _, o := range list.Items {
			if !o.Status.Phase.Terminal() {
				stuck++
			}
		}
		t.Fatalf("%d orders not finished after 5 minutes", stuck)
	}
	return time.Now()
}

func (e *env) stock(t *testing.T) int64 {
	var n int64
	if err := e.db.QueryRow(context.Background(), `SELECT stock FROM products WHERE id = $1`, product).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// audit checks what the money and the stock say against what each order
// was meant to do, and returns "ok" or fails the test.
func (e *env) audit(t *testing.T, ns string, orders []placed, stockBefore int64) string {
	t.Helper()
	ctx := context.Background()
	var reserved int64
	failures := 0
	fail := func(format string, args ...any) {
		failures++
		if failures <= 20 {
			t.Errorf(format, args...)
		}
	}
	for _, p := range orders {
		o := &v1alpha1.Order{}
		err := e.kube.Get(ctx, crclient.ObjectKey{Namespace: ns, Name: p.name}, o)
		gone := apierrors.IsNotFound(err)
		if err != nil && !gone {
			t.Fatal(err)
		}
		var status, reason string
		var qty int64
		err = e.db.QueryRow(ctx, `SELECT o.status, o.reason, coalesce(sum(i.quantity), 0) FROM orders o
			LEFT JOIN order_items i ON i.order_uid = o.uid WHERE o.uid = $1 GROUP BY o.status, o.reason`, p.key).Scan(&status, &reason, &qty)
		if errors.Is(err, pgx.ErrNoRows) {
			status = "" // cancelled or deleted before anything was recorded
		} else if err != nil {
			t.Fatal(err)
		}
		var captures, refunds, held int
		if err := e.db.QueryRow(ctx, `SELECT count(*) FILTER (WHERE kind = 'capture'), count(*) FILTER (WHERE kind = 'refund') FROM payments WHERE order_uid = $1`, p.key).
			Scan(&captures, &refunds); err != nil {
			t.Fatal(err)
		}
		if err := e.db.QueryRow(ctx, `SELECT count(*) FROM inventory_reservations WHERE order_uid = $1 AND status = 'held'`, p.key).Scan(&held); err != nil {
			t.Fatal(err)
		}
		if held != 0 {
			fail("%s: %d reservations still held by a finished order", p.name, held)
		}
		if captures > 1 || refunds > 1 {
			// One record and one idempotency key per namespace/name: this
			// counts across every incarnation of the Order.
			fail("%s: %d captures, %d refunds", p.name, captures, refunds)
		}
		phase := o.Status.Phase
		switch {
		case gone:
			if p.kind != deleted {
				fail("%s disappeared", p.name)
			}
		case phase == v1alpha1.PhaseCompleted:
			if p.kind != completes && !(p.kind == cancelled || p.kind == deleted) {
				fail("%s (%d) completed", p.name, p.kind)
			}
		case phase == v1alpha1.PhaseFailed:
			want := map[kind]string{outOfStock: v1alpha1.ReasonOutOfStock, declined: v1alpha1.ReasonPaymentDeclined}[p.kind]
			if want == "" || o.Status.Reason != want {
				fail("%s (%d) failed with %s: %s", p.name, p.kind, o.Status.Reason, o.Status.Message)
			}
		case phase == v1alpha1.PhaseCancelled:
			if p.kind != cancelled {
				fail("%s (%d) cancelled", p.name, p.kind)
			}
		default:
			fail("%s ended %q", p.name, phase)
		}
		if !gone && phase.Terminal() && status != "" && status != strings.ToLower(string(phase)) {
			fail("%s: status %s but PostgreSQL says %s", p.name, phase, status)
		}
		if status == "completed" {
			if captures != 1 || refunds != 0 {
				fail("%s completed with %d captures, %d refunds", p.name, captures, refunds)
			}
			reserved += qty
		} else if captures != refunds {
			fail("%s %s with %d captures and %d refunds", p.name, status, captures, refunds)
		}
		resp, err := e.tc.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: "default",
			Query: fmt.Sprintf("WorkflowId = '%s'", workflows.WorkflowID(ns, p.name))})
		if err != nil {
			t.Fatal(err)
		}
		if n := len(resp.GetExecutions()); n > 1 {
			fail("%s has %d workflow runs", p.name, n)
		}
	}
	if after := e.stock(t); stockBefore-after != reserved {
		fail("stock %d -> %d, but completed orders reserved %d", stockBefore, after, reserved)
	}
	if failures > 0 {
		return fmt.Sprintf("FAILED (%d findings)", failures)
	}
	return "ok"
}

func TestWorkerKilledSeveralTimes(t *testing.T) {
	run(t, "worker-sigkill", ordersPerScenario, "worker SIGKILL ×3", false, func(t *testing.T) {
		for i := 0; i < 3; i++ {
			kill9(t, "worker")
			time.Sleep(500 * time.Millisecond)
			if err := dev(nil, "up"); err != nil {
				t.Error(err)
			}
			time.Sleep(time.Second)
		}
	})
}

func TestManagerKilled(t *testing.T) {
	run(t, "manager-sigkill", ordersPerScenario, "manager SIGKILL ×2", false, func(t *testing.T) {
		for i := 0; i < 2; i++ {
			kill9(t, "manager")
			time.Sleep(500 * time.Millisecond)
			if err := dev(nil, "up"); err != nil {
				t.Error(err)
			}
			time.Sleep(time.Second)
		}
	})
}

func TestPostgresRestarted(t *testing.T) {
	run(t, "postgres-restart", ordersPerScenario, "PostgreSQL restart", false, func(t *testing.T) {
		if err := dev(nil, "restart", "postgres"); err != nil {
			t.Error(err)
		}
	})
}

func TestTemporalRestarted(t *testing.T) {
	run(t, "temporal-restart", ordersPerScenario, "Temporal dev server restart (file-backed)", false, func(t *testing.T) {
		if err := dev(nil, "restart", "temporal"); err != nil {
			t.Error(err)
		}
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
	run(t, "gateway-30pct", ordersPerScenario, "gateway fails 30% of charges", false, func(*testing.T) {})
}

// TestOrdersAppliedAgainWhileTheWorkerIsKilled deletes every Order and
// applies it again, as Argo CD's replace does, while the worker is killed:
// the audit finds each order charged at most once across its incarnations
// (one record, one idempotency key per namespace/name) and the stock moved
// once for each completed order.
func TestOrdersAppliedAgainWhileTheWorkerIsKilled(t *testing.T) {
	run(t, "reapplied", ordersPerScenario, "every Order deleted and applied again; worker SIGKILL ×2", true, func(t *testing.T) {
		for range 2 {
			kill9(t, "worker")
			time.Sleep(500 * time.Millisecond)
			if err := dev(nil, "up"); err != nil {
				t.Error(err)
			}
			time.Sleep(2 * time.Second)
		}
	})
}

func TestAPIServerDownForTenSeconds(t *testing.T) {
	run(t, "apiserver-down", ordersPerScenario, "kube-apiserver stopped 10 s", false, func(t *testing.T) {
		if err := dev(nil, "stop", "kube-apiserver"); err != nil {
			t.Error(err)
		}
		time.Sleep(10 * time.Second)
		if err := dev(nil, "up"); err != nil {
			t.Error(err)
		}
	})
}

// TestLeaderHandover runs two managers with leader election in place of the
// stack's one, kills the leader with SIGKILL while orders are in flight and
// lets the standby take over once the lease runs out.
func TestLeaderHandover(t *testing.T) {
	if err := dev(nil, "stop", "manager"); err != nil {
		t.Fatal(err)
	}
	managers := []*manager{startManager(t, "a", 29190), startManager(t, "b", 29290)}
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
	run(t, "leader-handover", ordersPerScenario, "leader SIGKILL, standby takes over", false, func(t *testing.T) {
		old, err := leader(managers, nil, time.Minute)
		if err != nil {
			t.Error(err)
			return
		}
		killed := time.Now()
		_ = old.cmd.Process.Kill()
		next, err := leader(managers, old, time.Minute)
		if err != nil {
			t.Error(err)
			return
		}
		t.Logf("manager %s was killed; manager %s leads %s later", old.name, next.name, time.Since(killed).Round(100*time.Millisecond))
	})
}

// manager is a manager process the suite runs itself.
type manager struct {
	name    string
	metrics string
	cmd     *exec.Cmd
	done    chan struct{}
}

// startManager starts a manager with leader election and short lease
// timings, so a handover takes seconds.
func startManager(t *testing.T, name string, port int) *manager {
	t.Helper()
	logf, err := os.Create(filepath.Join(root, ".faults", "logs", "manager-"+name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	c := exec.Command(filepath.Join(root, "bin", "orderflow"), "manager",
		"--leader-elect", "--leader-election-namespace", "default",
		"--leader-election-lease-duration", "4s", "--leader-election-renew-deadline", "3s", "--leader-election-retry-period", "500ms",
		"--metrics-bind-address", fmt.Sprintf("127.0.0.1:%d", port),
		"--health-probe-bind-address", fmt.Sprintf("127.0.0.1:%d", port+1))
	c.Env = append(os.Environ(), "KUBECONFIG="+filepath.Join(root, ".faults", "kubeconfig"),
		"TEMPORAL_HOST_PORT=127.0.0.1:27233", "TEMPORAL_NAMESPACE=default",
		// The stack's payload key: the progress memo it reads is encrypted.
		"CODEC_KEYS_FILE="+filepath.Join(root, ".faults", "codec-keys"))
	c.Stdout, c.Stderr = logf, logf
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	m := &manager{name: name, metrics: fmt.Sprintf("http://127.0.0.1:%d/metrics", port), cmd: c, done: make(chan struct{})}
	go func() { _ = c.Wait(); close(m.done) }()
	return m
}

func (m *manager) stop() {
	_ = m.cmd.Process.Signal(os.Interrupt)
	select {
	case <-m.done:
	case <-time.After(15 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.done
	}
}

// leads reports whether the manager says, in its metrics, that it leads.
func (m *manager) leads() bool {
	resp, err := http.Get(m.metrics)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.Contains(string(b), `leader_election_master_status{name="orderflow-manager.orderflow.io"} 1`)
}

// leader waits until exactly one manager other than not leads, and returns it.
func leader(managers []*manager, not *manager, timeout time.Duration) (*manager, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		var leading []*manager
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
