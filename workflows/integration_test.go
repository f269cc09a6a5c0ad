package workflows_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"orderflow.io/orderflow/internal/contract"
	"orderflow.io/orderflow/internal/db"
	"orderflow.io/orderflow/internal/fulfillment"
	"orderflow.io/orderflow/internal/notification"
	"orderflow.io/orderflow/internal/orders"
	"orderflow.io/orderflow/internal/payment"
	"orderflow.io/orderflow/internal/testenv"
	"orderflow.io/orderflow/workflows"
)

var updateHistories = flag.Bool("update-histories", false, "rewrite the recorded histories under testdata/ from runs on the real server")

var stack *testenv.Stack

func TestMain(m *testing.M) {
	testenv.Main(m, testenv.Options{Temporal: true, Postgres: true}, &stack)
}

// flakyGateway is the sandbox gateway with a failure rate tests can change
// while the worker runs, and counters of what reached it.
type flakyGateway struct {
	rate    atomic.Uint64 // math.Float64bits
	charges atomic.Int64
	ledger  *payment.Ledger
}

func (g *flakyGateway) sandbox() *payment.Sandbox {
	return &payment.Sandbox{Ledger: g.ledger, FailureRate: math.Float64frombits(g.rate.Load())}
}

func (g *flakyGateway) Charge(ctx context.Context, r payment.ChargeRequest) (string, error) {
	g.charges.Add(1)
	return g.sandbox().Charge(ctx, r)
}

func (g *flakyGateway) Refund(ctx context.Context, r payment.RefundRequest) (string, error) {
	return g.sandbox().Refund(ctx, r)
}

type env struct {
	tc      client.Client
	db      *db.DB
	gateway *flakyGateway
}

var (
	setupOnce sync.Once
	shared    *env
	setupErr  error
)

// realWorker starts, once per package, a worker on the real Temporal server
// with activities on a real PostgreSQL database holding the demo catalog.
func realWorker(t *testing.T) *env {
	t.Helper()
	testenv.Integration(t)
	setupOnce.Do(func() {
		db, err := stack.Postgres.NewDB(context.Background(), "workflows", 40, testenv.Catalog()...)
		if err != nil {
			setupErr = err
			return
		}
		tc, err := stack.Temporal.Dial()
		if err != nil {
			setupErr = err
			return
		}
		ledger, err := payment.OpenLedger(context.Background(), db.Pool)
		if err != nil {
			setupErr = err
			return
		}
		gw := &flakyGateway{ledger: ledger}
		acts := workflows.NewActivities(db, gw, &notification.Notifier{Log: logr.Discard()})
		acts.Carriers = fulfillment.Carriers{"sandbox": &fulfillment.Sandbox{Start: workflows.SandboxStarter(tc),
			ShipAfter: 200 * time.Millisecond, DeliverAfter: 300 * time.Millisecond}}
		w := workflows.NewWorker(tc, acts, worker.Options{})
		if err := w.Start(); err != nil {
			setupErr = err
			return
		}
		shared = &env{tc: tc, db: db, gateway: gw}
	})
	if setupErr != nil {
		t.Fatal(setupErr)
	}
	return shared
}

var orderSeq atomic.Int64

func newOrder(product string, qty int32, method string) contract.OrderInput {
	n := orderSeq.Add(1)
	name := fmt.Sprintf("order-%d", n)
	return contract.OrderInput{
		Key: contract.Key("it", name), Fingerprint: fmt.Sprintf("v1:%s-%d", product, qty),
		UID: fmt.Sprintf("it-%d-%d", time.Now().UnixNano(), n), Namespace: "it", Name: name,
		CustomerID: "CUST-001", CustomerEmail: "a@example.com", PaymentMethod: method,
		Items: []contract.Item{{ProductID: product, Quantity: qty}},
	}
}

func (e *env) run(t *testing.T, in contract.OrderInput) contract.Progress {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run, err := e.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: in.WorkflowID(), TaskQueue: contract.TaskQueue}, workflows.OrderWorkflow, in)
	if err != nil {
		t.Fatal(err)
	}
	var p contract.Progress
	if err := run.Get(ctx, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func (e *env) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := e.db.Pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestOrdersRunEndToEndThroughARealWorker(t *testing.T) {
	e := realWorker(t)
	const orders, parallel = 100, 5
	took := make([]time.Duration, orders)
	var wg sync.WaitGroup
	sem := make(chan struct{}, parallel)
	for i := 0; i < orders; i++ {
		in := newOrder("BULK", 2, "")
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			p := e.run(t, in)
			if p.Phase != contract.PhaseCompleted || p.Total != "2.00" || p.PaymentID == "" {
				t.Errorf("order %d: %+v", i, p)
				return
			}
			took[i] = p.CompletionTime.Sub(p.StartTime)
			if i == 0 {
				e.saveHistory(t, in.WorkflowID(), "completed")
			}
		}(i)
	}
	wg.Wait()
	slices.Sort(took)
	t.Logf("one order end to end on the real stack (%d orders, %d at a time), workflow start to completion: median %s, p90 %s, max %s",
		orders, parallel, took[orders/2].Round(time.Millisecond), took[orders*9/10].Round(time.Millisecond), took[orders-1].Round(time.Millisecond))
}

func TestBusinessFailuresOnTheRealStackEndWithTheirReasonAndMoveNoStock(t *testing.T) {
	e := realWorker(t)
	before := e.count(t, `SELECT stock FROM products WHERE id = 'PROD-002'`)
	for _, tc := range []struct {
		in     contract.OrderInput
		reason string
		name   string
	}{
		{newOrder("PROD-003", 1, ""), contract.ReasonOutOfStock, "out-of-stock"},
		{newOrder("PROD-002", 1, "pm_card_chargeDeclined"), contract.ReasonPaymentDeclined, "declined"},
		{newOrder("NOPE", 1, ""), contract.ReasonUnknownProduct, ""},
	} {
		p := e.run(t, tc.in)
		if p.Phase != contract.PhaseFailed || p.Reason != tc.reason {
			t.Fatalf("%+v; want Failed/%s", p, tc.reason)
		}
		if st, _ := (&orders.Service{DB: e.db}).Phase(context.Background(), tc.in.RecordKey()); st != contract.PhaseFailed {
			t.Fatalf("recorded status %q", st)
		}
		if tc.name != "" {
			e.saveHistory(t, tc.in.WorkflowID(), tc.name)
		}
	}
	if after := e.count(t, `SELECT stock FROM products WHERE id = 'PROD-002'`); after != before {
		t.Fatalf("PROD-002 stock %d -> %d after a declined order", before, after)
	}
}

func TestAnOrderPlacedUnderItsUIDFinishesUnderItsUID(t *testing.T) {
	e := realWorker(t)
	in := newOrder("BULK", 1, "")
	in.Key, in.Fingerprint = "", "" // as placed before identity by name
	if p := e.run(t, in); p.Phase != contract.PhaseCompleted {
		t.Fatalf("%+v", p)
	}
	if n := e.count(t, `SELECT count(*) FROM payments WHERE order_key = $1 AND kind = 'capture'`, in.UID); n != 1 {
		t.Fatalf("%d captures under the UID", n)
	}
}

// TestAnOrderRunAgainShowsItsRecordOrIsRefused runs finished orders again
// in new workflows, as after Temporal forgot the first ones: the same order
// shows what it recorded and moves nothing; another order under its name
// is refused and leaves the record alone.
func TestAnOrderRunAgainShowsItsRecordOrIsRefused(t *testing.T) {
	e := realWorker(t)
	ctx := context.Background()
	for _, tc := range []struct {
		in    contract.OrderInput
		phase contract.Phase
	}{
		{newOrder("BULK", 1, ""), contract.PhaseCompleted},
		{newOrder("PROD-003", 1, ""), contract.PhaseFailed},
		{newOrder("PROD-002", 1, "pm_card_chargeDeclined"), contract.PhaseFailed},
	} {
		first := e.run(t, tc.in)
		if first.Phase != tc.phase {
			t.Fatalf("first run %+v", first)
		}
		stock := e.count(t, `SELECT sum(stock)::bigint FROM products`)
		again := func(in contract.OrderInput, id string) contract.Progress {
			run, err := e.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: contract.TaskQueue}, workflows.OrderWorkflow, in)
			if err != nil {
				t.Fatal(err)
			}
			var p contract.Progress
			if err := run.Get(ctx, &p); err != nil {
				t.Fatal(err)
			}
			return p
		}
		p := again(tc.in, tc.in.WorkflowID()+"-again")
		if p.Phase != first.Phase || p.Reason != first.Reason || p.PaymentID != first.PaymentID || p.Total != first.Total || !p.Restored ||
			p.CompletionTime == nil || len(p.Steps) != len(first.Steps) {
			t.Fatalf("run again: %+v\nfirst: %+v", p, first)
		}
		if tc.phase == contract.PhaseCompleted {
			e.saveHistory(t, tc.in.WorkflowID()+"-again", "restored")
		}
		other := tc.in
		other.Fingerprint, other.Items = "v1:another", []contract.Item{{ProductID: "BULK", Quantity: 7}}
		p = again(other, tc.in.WorkflowID()+"-other")
		if p.Phase != contract.PhaseFailed || p.Reason != contract.ReasonNameReused {
			t.Fatalf("another order under the name: %+v", p)
		}
		if tc.phase == contract.PhaseCompleted {
			e.saveHistory(t, tc.in.WorkflowID()+"-other", "name-reused")
		}
		if n := e.count(t, `SELECT sum(stock)::bigint FROM products`); n != stock {
			t.Fatalf("stock %d -> %d", stock, n)
		}
		if n := e.count(t, `SELECT count(*) FROM payments WHERE order_key = $1`, tc.in.Key); n != map[bool]int{true: 1}[tc.phase == contract.PhaseCompleted] {
			t.Fatalf("%d payments", n)
		}
		if st, _ := (&orders.Service{DB: e.db}).Phase(ctx, tc.in.Key); st != tc.phase {
			t.Fatalf("record says %s", st)
		}
	}
}

func TestCancellingARunningOrderRefundsAndReleases(t *testing.T) {
	e := realWorker(t)
	ctx := context.Background()
	in := newOrder("BULK", 5, "")
	// Cancel as soon as the payment is captured.
	run, err := e.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: in.WorkflowID(), TaskQueue: contract.TaskQueue}, workflows.OrderWorkflow, in)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for e.count(t, `SELECT count(*) FROM payments WHERE order_key = $1`, in.RecordKey()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no payment captured within a minute")
		}
		time.Sleep(time.Millisecond)
	}
	_ = e.tc.SignalWorkflow(ctx, run.GetID(), "", contract.CancelSignal, contract.CancelRequest{Reason: contract.ReasonCancelled})
	var p contract.Progress
	if err := run.Get(ctx, &p); err != nil {
		t.Fatal(err)
	}
	switch p.Phase {
	case contract.PhaseCancelled:
		if p.RefundID == "" || e.count(t, `SELECT count(*) FROM payments WHERE order_key = $1 AND kind = 'refund'`, in.RecordKey()) != 1 {
			t.Fatalf("cancelled after payment without one refund: %+v", p)
		}
		if e.count(t, `SELECT count(*) FROM inventory_reservations WHERE order_key = $1 AND status = 'released'`, in.RecordKey()) != 1 {
			t.Fatal("reservation not released")
		}
	case contract.PhaseCompleted:
		// The cancel raced the notification and lost: it must say so.
		if !p.CancelRefused {
			t.Fatalf("completed without reporting the refused cancel: %+v", p)
		}
	default:
		t.Fatalf("%+v", p)
	}
}

func TestWithAFlakyGatewayEveryOrderCompletesAndIsChargedOnce(t *testing.T) {
	e := realWorker(t)
	e.gateway.rate.Store(math.Float64bits(0.3))
	defer e.gateway.rate.Store(0)
	chargesBefore := e.gateway.charges.Load()
	const n = 100
	var wg sync.WaitGroup
	uids := make([]string, n) // the orders' record keys
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		in := newOrder("BULK", 1, "")
		uids[i] = in.RecordKey()
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			run, err := e.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: in.WorkflowID(), TaskQueue: contract.TaskQueue}, workflows.OrderWorkflow, in)
			if err != nil {
				errs <- err
				return
			}
			var p contract.Progress
			if err := run.Get(ctx, &p); err != nil {
				errs <- err
				return
			}
			if p.Phase != contract.PhaseCompleted {
				errs <- fmt.Errorf("order %s ended %s (%s)", in.UID, p.Phase, p.Message)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	captures := e.count(t, `SELECT count(*) FROM payments WHERE kind = 'capture' AND order_key = ANY($1)`, uids)
	distinct := e.count(t, `SELECT count(DISTINCT order_key) FROM payments WHERE kind = 'capture' AND order_key = ANY($1)`, uids)
	attempts := e.gateway.charges.Load() - chargesBefore
	t.Logf("%d orders, %d charge attempts reached the gateway, %d captures recorded", n, attempts, captures)
	if captures != n || distinct != n {
		t.Fatalf("%d captures for %d distinct orders; want exactly one each for %d", captures, distinct, n)
	}
	if attempts <= n {
		t.Fatalf("only %d charge attempts for %d orders: the gateway injected no fault", attempts, n)
	}
}

// saveHistory writes the history of a finished run under testdata/ when
// -update-histories is set; TestReplay replays them.
func (e *env) saveHistory(t *testing.T, workflowID, name string) {
	t.Helper()
	if !*updateHistories {
		return
	}
	ctx := context.Background()
	iter := e.tc.GetWorkflowHistory(ctx, workflowID, "", false, 0)
	var events []json.RawMessage
	for iter.HasNext() {
		ev, err := iter.Next()
		if err != nil {
			t.Fatal(err)
		}
		b, err := protoJSON(ev)
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, b)
	}
	out, err := json.MarshalIndent(map[string]any{"events": events}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("testdata", "history-"+name+".json"), out, 0o644); err != nil {
		t.Fatal(err)
	}
}

func (e *env) refund(t *testing.T, in contract.RefundInput, history string) contract.RefundResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id := contract.RefundWorkflowID(in.Namespace, in.Name, in.ID)
	run, err := e.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: contract.TaskQueue}, workflows.RefundWorkflow, in)
	if err != nil {
		t.Fatal(err)
	}
	var res contract.RefundResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	if history != "" {
		e.saveHistory(t, id, history)
	}
	return res
}

// TestPartialRefundsOnTheRealStack refunds a completed order in part on
// the real server while the gateway fails a third of its requests: each
// refund is made once at the provider however often it is asked, stock
// comes back once, a refund over what is left and a changed request are
// refused, and every answer is the same when asked again.
func TestPartialRefundsOnTheRealStack(t *testing.T) {
	e := realWorker(t)
	in := newOrder("PROD-002", 3, "") // 3 × 49.90
	if p := e.run(t, in); p.Phase != contract.PhaseCompleted || p.Total != "149.70" {
		t.Fatalf("%+v", p)
	}
	stock := func() int { return e.count(t, `SELECT stock FROM products WHERE id = 'PROD-002'`) }
	before := stock()
	e.gateway.rate.Store(math.Float64bits(0.3))
	defer e.gateway.rate.Store(0)

	ask := func(id string, items []contract.RefundItem, amount string, restock bool) contract.RefundInput {
		return contract.RefundInput{Namespace: in.Namespace, Name: in.Name, ID: id, Items: items, Amount: amount, Restock: restock, Reason: "test"}
	}
	damaged := ask("damaged", []contract.RefundItem{{ProductID: "PROD-002", Quantity: 2}}, "", true)
	goodwill := ask("goodwill", nil, "40.00", false)
	for _, tc := range []struct {
		in      contract.RefundInput
		state   string
		amount  string
		message string
		history string
	}{
		{damaged, contract.RefundRefunded, "99.80", "", "refund"},
		{goodwill, contract.RefundRefunded, "40.00", "", ""},
		// 9.90 is left of 149.70.
		{ask("more", nil, "10.00", false), contract.RefundRefused, "10.00", "9.90", "refund-refused"},
		{ask("items", []contract.RefundItem{{ProductID: "PROD-002", Quantity: 2}}, "", false), contract.RefundRefused, "0.00", "1 of the 3 ordered", ""},
		{ask("nothing", []contract.RefundItem{{ProductID: "PROD-001", Quantity: 1}}, "", false), contract.RefundRefused, "0.00", "holds no PROD-001", ""},
		// Asked again, from a new run (a re-applied Order, a workflow
		// Temporal forgot): the first answer, nothing moved.
		{damaged, contract.RefundRefunded, "99.80", "", ""},
		{goodwill, contract.RefundRefunded, "40.00", "", ""},
		{ask("goodwill", nil, "41.00", false), contract.RefundRefused, "40.00", "asked before", ""},
	} {
		res := e.refund(t, tc.in, tc.history)
		if res.State != tc.state || res.Amount != tc.amount || !strings.Contains(res.Message, tc.message) || (res.State == contract.RefundRefunded) != (res.ProviderID != "") {
			t.Errorf("refund %s: %+v; want %s of %s (message with %q)", tc.in.ID, res, tc.state, tc.amount, tc.message)
		}
	}
	// Counted at the provider: one refund per refund made, the sum of both.
	var n, cents int64
	if err := e.db.Pool.QueryRow(context.Background(), `
		SELECT count(*), coalesce(sum(r.amount_cents), 0) FROM payment_sandbox.refunds r
		JOIN payment_sandbox.charges c ON c.id = r.charge_id WHERE c.idempotency_key = $1`, payment.CaptureKey(in.RecordKey())).Scan(&n, &cents); err != nil {
		t.Fatal(err)
	}
	if n != 2 || cents != 13980 {
		t.Fatalf("the provider made %d refunds of %d cents, want 2 of 13980", n, cents)
	}
	if after := stock(); after != before+2 {
		t.Fatalf("PROD-002 stock %d -> %d, want the 2 refunded put back once", before, after)
	}
}
