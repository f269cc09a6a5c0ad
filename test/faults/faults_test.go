//go:build faults

package faults

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
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

// run places n orders in a fresh namespace (a mix of every outcome,
// audit.Place), calls inject while they are in flight, waits until every
// order is finished and audits the result. With reapply, every Order not
// meant to be deleted is, once all are placed, deleted and applied again
// from its manifest, as a GitOps tool's replace does, while the faults go on.
func run(t *testing.T, scenario string, n int, faults string, reapply bool, inject func(t *testing.T)) {
	e := connect(t)
	ctx := context.Background()
	ns := fmt.Sprintf("faults-%s-%d", scenario, time.Now().Unix())
	if err := e.Kube.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	stockBefore := e.Stock(t)
	start := time.Now()
	orders := e.Place(t, ns, n, reapply, func() { inject(t) })
	if reapply {
		e.ApplyAgain(t, orders)
	}
	drained := e.WaitFinished(t, ns, orders)
	result := e.Audit(t, ns, orders, stockBefore)
	summary = append(summary, fmt.Sprintf("| %s | %d | %s | %s | %s |", scenario, n, faults, result, drained.Sub(start).Round(100*time.Millisecond)))
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
	what := map[string]string{"dev": "Temporal dev server restart (file-backed)", "server": "Temporal server restart (PostgreSQL)"}[temporalServer]
	run(t, "temporal-restart", ordersPerScenario, what, false, func(t *testing.T) {
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
