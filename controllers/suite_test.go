package controllers_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	crclient "sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"orderflow.io/orderflow/api/v1alpha1"
	"orderflow.io/orderflow/controllers"
	"orderflow.io/orderflow/internal/db"
	"orderflow.io/orderflow/internal/notification"
	"orderflow.io/orderflow/internal/payment"
	"orderflow.io/orderflow/internal/testenv"
	"orderflow.io/orderflow/workflows"
)

var stack *testenv.Stack

func TestMain(m *testing.M) {
	ctrl.SetLogger(logr.Discard())
	testenv.Main(m, testenv.Options{Kube: true, Temporal: true, Postgres: true, CRDDirs: []string{"config/crd/bases"},
		Manifests: []string{"config/admission/finalizer.yaml"}}, &stack)
}

var nsSeq atomic.Int64

// kube returns a direct (uncached) client of the test API server.
func kube(t *testing.T) crclient.Client {
	t.Helper()
	testenv.Integration(t)
	c, err := crclient.New(stack.Kube.Config, crclient.Options{Scheme: v1alpha1.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// namespace creates a fresh namespace for one test.
func namespace(t *testing.T, c crclient.Client) string {
	t.Helper()
	ns := fmt.Sprintf("t%d", nsSeq.Add(1))
	if err := c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	return ns
}

// slowGateway delays charges made with the pm_slow method, so tests can act
// while a payment is in flight; pm_slow otherwise approves like pm_card_visa.
type slowGateway struct{ payment.Sandbox }

const slowMethod = "pm_slow"

func (g *slowGateway) Charge(ctx context.Context, r payment.ChargeRequest) (string, error) {
	if r.PaymentMethod == slowMethod {
		select {
		case <-time.After(1500 * time.Millisecond):
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	return g.Sandbox.Charge(ctx, r)
}

// system is the worker, the database and a running manager.
type system struct {
	db *db.DB
	tc client.Client

	mu         sync.Mutex
	stopMgr    context.CancelFunc
	mgrDone    chan struct{}
	reconciler *controllers.OrderReconciler
}

var (
	sysOnce sync.Once
	sys     *system
	sysErr  error
)

// running returns the shared system, starting the worker and a manager the
// first time.
func running(t *testing.T) *system {
	t.Helper()
	testenv.Integration(t)
	sysOnce.Do(func() { sys, sysErr = startSystem() })
	if sysErr != nil {
		t.Fatal(sysErr)
	}
	return sys
}

func startSystem() (*system, error) {
	db, err := stack.Postgres.NewDB(context.Background(), "controllers", 40, testenv.Catalog()...)
	if err != nil {
		return nil, err
	}
	tc, err := stack.Temporal.Dial()
	if err != nil {
		return nil, err
	}
	ledger, err := payment.OpenLedger(context.Background(), db.Pool)
	if err != nil {
		return nil, err
	}
	acts := workflows.NewActivities(db, &slowGateway{payment.Sandbox{Ledger: ledger}}, &notification.Notifier{Log: logr.Discard()})
	w := workflows.NewWorker(tc, acts, worker.Options{})
	if err := w.Start(); err != nil {
		return nil, err
	}
	s := &system{db: db, tc: tc}
	return s, s.startManager()
}

// startManager starts a manager with the Order controller, as
// `orderflow manager` does.
func (s *system) startManager() error {
	mgr, err := ctrl.NewManager(stack.Kube.Config, ctrl.Options{
		Scheme:                 v1alpha1.NewScheme(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  controllers.CacheOptions(""),
		Controller:             config.Controller{SkipNameValidation: ptr(true)},
	})
	if err != nil {
		return err
	}
	opts := controllers.DefaultOptions()
	opts.TemporalUI = "http://localhost:8233"
	// Visibility listing off: every status in these tests arrives through
	// the history followers, so a status path that waits on Temporal's
	// visibility fails them (the one-minute resync is too slow for their
	// deadlines).
	opts.ProgressInterval, opts.ProgressIdleInterval = time.Hour, time.Hour
	r, err := controllers.Setup(mgr, s.tc, opts)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			fmt.Println("manager:", err)
		}
	}()
	s.mu.Lock()
	s.stopMgr, s.mgrDone, s.reconciler = cancel, done, r
	s.mu.Unlock()
	return nil
}

// restartManager stops the manager and starts a new one.
func (s *system) restartManager() error {
	s.mu.Lock()
	stop, done := s.stopMgr, s.mgrDone
	s.mu.Unlock()
	stop()
	<-done
	return s.startManager()
}

func ptr[T any](v T) *T { return &v }

// order builds an Order.
type orderBuilder struct{ o v1alpha1.Order }

func newOrder(ns, name string) *orderBuilder {
	b := &orderBuilder{}
	b.o.Namespace, b.o.Name = ns, name
	b.o.Spec = v1alpha1.OrderSpec{CustomerID: "CUST-001", CustomerEmail: "a@example.com",
		Items: []v1alpha1.OrderItem{{ProductID: "PROD-001", Quantity: 1, UnitPrice: "1299.99"}}}
	return b
}

func (b *orderBuilder) items(items ...v1alpha1.OrderItem) *orderBuilder {
	b.o.Spec.Items = items
	return b
}
func (b *orderBuilder) pay(method string) *orderBuilder { b.o.Spec.PaymentMethod = method; return b }
func (b *orderBuilder) cancelled() *orderBuilder        { b.o.Spec.Cancel = true; return b }
func (b *orderBuilder) build() *v1alpha1.Order          { return b.o.DeepCopy() }

func item(product string, qty int32, price string) v1alpha1.OrderItem {
	return v1alpha1.OrderItem{ProductID: product, Quantity: qty, UnitPrice: price}
}

// waitFor polls the Order until cond holds, and returns it.
func waitFor(t *testing.T, c crclient.Client, o *v1alpha1.Order, what string, cond func(*v1alpha1.Order) bool) *v1alpha1.Order {
	t.Helper()
	got := &v1alpha1.Order{}
	err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, types.NamespacedName{Namespace: o.Namespace, Name: o.Name}, got); err != nil {
			return false, crclient.IgnoreNotFound(err)
		}
		return cond(got), nil
	})
	if err != nil {
		t.Fatalf("order %s/%s never became %s: last status %+v", o.Namespace, o.Name, what, got.Status)
	}
	return got
}

func phase(p v1alpha1.OrderPhase) func(*v1alpha1.Order) bool {
	return func(o *v1alpha1.Order) bool { return o.Status.Phase == p }
}

func gone(t *testing.T, c crclient.Client, o *v1alpha1.Order) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		err := c.Get(ctx, crclient.ObjectKeyFromObject(o), &v1alpha1.Order{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		t.Fatalf("order %s/%s was never deleted", o.Namespace, o.Name)
	}
}

func (s *system) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := s.db.Pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func stackConfig() *rest.Config { return stack.Kube.Config }

func listRuns(workflowID string) *workflowservice.ListWorkflowExecutionsRequest {
	return &workflowservice.ListWorkflowExecutionsRequest{Namespace: "default", Query: fmt.Sprintf("WorkflowId = '%s'", workflowID)}
}
