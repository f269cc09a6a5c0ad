package workflows_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"orderflow.io/orderflow/internal/contract"
	"orderflow.io/orderflow/internal/payment"
	oftemporal "orderflow.io/orderflow/internal/temporal"
	"orderflow.io/orderflow/workflows"
)

// amendOrder sends the amend Update through the controller's adapter and
// waits for its answer: a validator's rejection is a refused answer, an
// order that ended is ErrClosed.
func (e *env) amendOrder(t *testing.T, in contract.OrderInput, req contract.AmendRequest) contract.AmendResult {
	t.Helper()
	wf := &oftemporal.OrderWorkflows{Client: e.tc}
	res, done, err := wf.Amend(context.Background(), in.WorkflowID(), req, time.Minute)
	if errors.Is(err, oftemporal.ErrClosed) {
		return contract.AmendResult{Generation: req.Generation, Reason: contract.ReasonTooLate, Message: err.Error()}
	}
	if err != nil || !done {
		t.Fatalf("amend %s: done %v, %v", in.Name, done, err)
	}
	return res
}

// startReserved starts the order's workflow and waits until its stock is reserved.
func (e *env) startReserved(t *testing.T, in contract.OrderInput) client.WorkflowRun {
	t.Helper()
	run, err := e.tc.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: in.WorkflowID(), TaskQueue: contract.TaskQueue}, workflows.OrderWorkflow, in)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for e.count(t, `SELECT count(*) FROM inventory_reservations WHERE order_key = $1 AND status = 'held'`, in.RecordKey()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("nothing reserved within a minute")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return run
}

// charged reads the provider's books: the cents of each charge of the order.
func (e *env) charged(t *testing.T, in contract.OrderInput) []int {
	t.Helper()
	rows, err := e.db.Pool.Query(context.Background(), `SELECT amount_cents::int FROM payment_sandbox.charges WHERE idempotency_key = $1`, payment.CaptureKey(in.RecordKey()))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var c int
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

// TestAmendmentsOnTheRealStack amends orders in their edit window on the
// real server and PostgreSQL: an accepted change moves the reservation and
// the record and is charged at its new total; one that cannot be reserved
// is refused and the old reservation stands; one sent after the payment is
// rejected as too late. Money is counted at the provider, stock in
// PostgreSQL.
func TestAmendmentsOnTheRealStack(t *testing.T) {
	e := realWorker(t)
	stock := func(id string) int { return e.count(t, `SELECT stock FROM products WHERE id = $1`, id) }

	// Accepted: 1 mouse becomes 2 mice and a laptop.
	in := newOrder("PROD-002", 1, "")
	in.EditWindow = 3 * time.Second
	run := e.startReserved(t, in)
	mice, laptops := stock("PROD-002"), stock("PROD-001")
	res := e.amendOrder(t, in, contract.AmendRequest{Generation: 2, Fingerprint: "v1:amended", Items: []contract.Item{{ProductID: "PROD-002", Quantity: 2}, {ProductID: "PROD-001", Quantity: 1}}})
	if !res.Accepted || res.Total != "1399.79" {
		t.Fatalf("amendment answered %+v; want accepted at 1399.79", res)
	}
	if m, l := stock("PROD-002"), stock("PROD-001"); m != mice-1 || l != laptops-1 {
		t.Fatalf("stock mice %d -> %d, laptops %d -> %d; want one more of each held", mice, m, laptops, l)
	}
	if n := e.count(t, `SELECT count(*) FROM orders WHERE key = $1 AND total_cents = 139979 AND fingerprint = 'v1:amended'`, in.RecordKey()); n != 1 {
		t.Fatal("the order's record does not hold the new total and fingerprint")
	}
	var p contract.Progress
	if err := run.Get(context.Background(), &p); err != nil {
		t.Fatal(err)
	}
	if p.Phase != contract.PhaseCompleted || p.Total != "1399.79" || p.Fingerprint != "v1:amended" {
		t.Fatalf("%+v", p)
	}
	if c := e.charged(t, in); len(c) != 1 || c[0] != 139979 {
		t.Fatalf("the provider charged %v; want 139979 once", c)
	}
	e.saveHistory(t, in.WorkflowID(), "amended")
	// After the payment: too late, nothing moves.
	if late := e.amendOrder(t, in, contract.AmendRequest{Generation: 3, Fingerprint: "v1:late", Items: []contract.Item{{ProductID: "PROD-002", Quantity: 9}}}); late.Accepted {
		t.Fatalf("an amendment of a completed order was accepted: %+v", late)
	}

	// Refused: more monitors than there are (none).
	in = newOrder("PROD-002", 1, "")
	in.EditWindow = 2 * time.Second
	run = e.startReserved(t, in)
	mice = stock("PROD-002")
	res = e.amendOrder(t, in, contract.AmendRequest{Generation: 2, Fingerprint: "v1:monitor", Items: []contract.Item{{ProductID: "PROD-002", Quantity: 3}, {ProductID: "PROD-003", Quantity: 1}}})
	if res.Accepted || res.Reason != contract.ReasonOutOfStock {
		t.Fatalf("amendment answered %+v; want refused OutOfStock", res)
	}
	if m := stock("PROD-002"); m != mice {
		t.Fatalf("mice stock %d -> %d after a refused change; want the old reservation to stand", mice, m)
	}
	if err := run.Get(context.Background(), &p); err != nil {
		t.Fatal(err)
	}
	if p.Total != "49.90" || p.Amendment == nil || p.Amendment.Accepted {
		t.Fatalf("%+v", p)
	}
	if c := e.charged(t, in); len(c) != 1 || c[0] != 4990 {
		t.Fatalf("the provider charged %v; want 4990 once", c)
	}
	e.saveHistory(t, in.WorkflowID(), "amend-refused")
}

// TestAnAmendmentRacingTheCaptureHasOneOutcome sends amendments at orders
// with no edit window, as they start: each is either accepted before the
// payment (charged the new total) or refused (charged the old one), never
// both and never lost; the provider's books and the order's reservation
// say the same as the answer.
func TestAnAmendmentRacingTheCaptureHasOneOutcome(t *testing.T) {
	e := realWorker(t)
	const n = 30
	var wg sync.WaitGroup
	var mu sync.Mutex
	outcomes := map[bool]int{}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in := newOrder("BULK", 1, "")
			run, err := e.tc.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: in.WorkflowID(), TaskQueue: contract.TaskQueue}, workflows.OrderWorkflow, in)
			if err != nil {
				t.Error(err)
				return
			}
			// From the reservation on, a little later each: before, during
			// and after the payment.
			for e.count(t, `SELECT count(*) FROM inventory_reservations WHERE order_key = $1`, in.RecordKey()) == 0 {
				time.Sleep(time.Millisecond)
			}
			time.Sleep(time.Duration(i%10) * time.Millisecond)
			res := e.amendOrder(t, in, contract.AmendRequest{Generation: 2, Fingerprint: "v1:bulk-3", Items: []contract.Item{{ProductID: "BULK", Quantity: 3}}})
			var p contract.Progress
			if err := run.Get(context.Background(), &p); err != nil {
				t.Error(err)
				return
			}
			want, total, qty := 100, "1.00", 1
			if res.Accepted {
				want, total, qty = 300, "3.00", 3
			}
			if p.Phase != contract.PhaseCompleted || p.Total != total {
				t.Errorf("%s: answered %+v, yet ended %s at %s", in.Name, res, p.Phase, p.Total)
			}
			if c := e.charged(t, in); len(c) != 1 || c[0] != want {
				t.Errorf("%s: answered accepted=%v, the provider charged %v; want %d once", in.Name, res.Accepted, c, want)
			}
			if got := e.count(t, `SELECT coalesce(sum(quantity), 0)::int FROM inventory_reservations WHERE order_key = $1`, in.RecordKey()); got != qty {
				t.Errorf("%s: answered accepted=%v, %d reserved; want %d", in.Name, res.Accepted, got, qty)
			}
			mu.Lock()
			outcomes[res.Accepted]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	t.Logf("accepted %d, refused %d of %d", outcomes[true], outcomes[false], n)
}
