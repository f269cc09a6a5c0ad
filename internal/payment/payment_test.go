// Tests of captures and refunds against a real PostgreSQL, counted in the
// sandbox provider's own books: idempotency keys, declines, and the fence
// that keeps a late step of a finished order from moving money.
package payment_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"orderflow.io/orderflow/internal/catalog"
	"orderflow.io/orderflow/internal/contract"
	"orderflow.io/orderflow/internal/db"
	"orderflow.io/orderflow/internal/failure"
	"orderflow.io/orderflow/internal/money"
	"orderflow.io/orderflow/internal/orders"
	"orderflow.io/orderflow/internal/payment"
	"orderflow.io/orderflow/internal/testenv"
)

var stack *testenv.Stack

func TestMain(m *testing.M) {
	testenv.Main(m, testenv.Options{Postgres: true, StripeMock: true}, &stack)
}

// sandbox opens a test database with the demo catalog and the sandbox
// provider's books on it.
func sandbox(t *testing.T) (*db.DB, *payment.Sandbox) {
	t.Helper()
	s := stack.TestDB(t, 60, catalog.DemoCatalog...)
	ledger, err := payment.OpenLedger(context.Background(), s.Pool)
	if err != nil {
		t.Fatal(err)
	}
	return s, &payment.Sandbox{Ledger: ledger}
}

// account reads what the provider's books hold for one order.
func account(t *testing.T, s *db.DB, key string) payment.Account {
	t.Helper()
	books, err := payment.ReadBooks(context.Background(), s.Pool)
	if err != nil {
		t.Fatal(err)
	}
	return books[key]
}

func TestAPaymentRetriedWithTheSameKeyChargesOnceAndARefundRefundsOnce(t *testing.T) {
	s, gw := sandbox(t)
	ctx := context.Background()
	testenv.PlaceOrder(t, s, "p", "PROD-002", 1)
	pay := &payment.Service{DB: s, Gateway: gw}
	var wg sync.WaitGroup
	ids := make([]string, 10)
	for i := range ids {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			id, err := pay.Capture(ctx, "p", money.Amount(4990), "USD", "pm_card_visa")
			if err != nil {
				t.Error(err)
			}
			ids[i] = id
		}(i)
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] || id == "" {
			t.Fatalf("capture ids differ: %v", ids)
		}
	}
	if a := account(t, s, "p"); len(a.Charges) != 1 || a.Captured() != 4990 || a.Charges[0].ID != ids[0] {
		t.Fatalf("the provider holds %+v; want one charge %s of 49.90", a, ids[0])
	}
	for i := 0; i < 3; i++ {
		if _, err := pay.Refund(ctx, "p"); err != nil {
			t.Fatal(err)
		}
	}
	if a := account(t, s, "p"); len(a.Charges) != 1 || a.Charges[0].Refunds != 1 || a.Refunded() != 4990 {
		t.Fatalf("the provider holds %+v; want one charge refunded once in full", a)
	}
}

func TestADeclinedCardIsABusinessFailure(t *testing.T) {
	s, gw := sandbox(t)
	ctx := context.Background()
	testenv.PlaceOrder(t, s, "d", "PROD-002", 1)
	pay := &payment.Service{DB: s, Gateway: gw}
	for _, pm := range []string{"pm_card_chargeDeclined", "pm_card_chargeDeclinedInsufficientFunds"} {
		_, err := pay.Capture(ctx, "d", 4990, "USD", pm)
		if f, ok := failure.As(err); !ok || f.Reason != "PaymentDeclined" {
			t.Fatalf("%s: %v; want PaymentDeclined", pm, err)
		}
	}
	if id, err := pay.Refund(ctx, "d"); id != "" || err != nil {
		t.Fatalf("refund of nothing: %q, %v", id, err)
	}
	if a := account(t, s, "d"); len(a.Charges) != 0 {
		t.Fatalf("a declined card left charges at the provider: %+v", a)
	}
}

// TestTheProviderKeepsItsOwnBooks checks the sandbox provider as a card
// provider behaves: a key seen before moves nothing new, a new key is a new
// charge, a key reused for another request is refused, and refunds never
// exceed what was captured.
func TestTheProviderKeepsItsOwnBooks(t *testing.T) {
	s, gw := sandbox(t)
	ctx := context.Background()
	charge := payment.ChargeRequest{IdempotencyKey: "k1", Reference: "ns/a", Amount: 1000, Currency: "USD", PaymentMethod: "pm_card_visa"}
	first, err := gw.Charge(ctx, charge)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := gw.Charge(ctx, charge); err != nil || again != first {
		t.Fatalf("the same key again: %q, %v; want %q", again, err, first)
	}
	other := charge
	other.IdempotencyKey = "k2"
	second, err := gw.Charge(ctx, other)
	if err != nil || second == first {
		t.Fatalf("a new key: %q, %v; want a new charge", second, err)
	}
	changed := charge
	changed.Amount = 2000
	var idem *payment.IdempotencyError
	if _, err := gw.Charge(ctx, changed); !errors.As(err, &idem) {
		t.Fatalf("a key reused for another amount: %v; want an idempotency error", err)
	}
	if a := account(t, s, "ns/a"); len(a.Charges) != 2 || a.Captured() != 2000 {
		t.Fatalf("the provider holds %+v; want two charges of 10.00", a)
	}
	if _, err := gw.Refund(ctx, payment.RefundRequest{IdempotencyKey: "r1", ChargeID: first, Amount: 600, Currency: "USD"}); err != nil {
		t.Fatal(err)
	}
	var refused *payment.RefusedError
	if _, err := gw.Refund(ctx, payment.RefundRequest{IdempotencyKey: "r2", ChargeID: first, Amount: 600, Currency: "USD"}); !errors.As(err, &refused) {
		t.Fatalf("refunds above the captured amount: %v; want them refused", err)
	}
	if _, err := gw.Refund(ctx, payment.RefundRequest{IdempotencyKey: "r3", ChargeID: "ch_none", Amount: 1, Currency: "USD"}); !errors.As(err, &refused) {
		t.Fatalf("a refund of no charge: %v; want it refused", err)
	}
	if a := account(t, s, "ns/a"); a.Refunded() != 600 {
		t.Fatalf("the provider refunded %s; want 6.00", a.Refunded())
	}
}

// blockingGateway holds each charge until release is closed, after the
// provider booked it: a worker stalled mid-charge.
type blockingGateway struct {
	*payment.Sandbox
	booked, release chan struct{}
}

func (g *blockingGateway) Charge(ctx context.Context, r payment.ChargeRequest) (string, error) {
	id, err := g.Sandbox.Charge(ctx, r)
	close(g.booked)
	<-g.release
	return id, err
}

func TestACaptureAfterTheOrderFinishedMovesNoMoney(t *testing.T) {
	s, gw := sandbox(t)
	ctx := context.Background()
	pay := &payment.Service{DB: s, Gateway: gw}
	record := &orders.Service{DB: s}
	for _, phase := range []contract.Phase{contract.PhaseCancelled, contract.PhaseFailed} {
		key := "late-" + string(phase)
		testenv.PlaceOrder(t, s, key, "PROD-002", 1)
		if err := record.Finish(ctx, key, phase, contract.ReasonCancelled, "test"); err != nil {
			t.Fatal(err)
		}
		_, err := pay.Capture(ctx, key, 4990, "USD", "pm_card_visa")
		if f, ok := failure.As(err); !ok || f.Reason != contract.ReasonWorkflowFailed {
			t.Fatalf("capture of a %s order: %v; want WorkflowFailed", phase, err)
		}
		if a := account(t, s, key); len(a.Charges) != 0 {
			t.Fatalf("a %s order was charged: %+v", phase, a)
		}
	}
}

func TestAChargeThatLandsAfterTheOrderWasCancelledIsRefundedAtOnce(t *testing.T) {
	s, sb := sandbox(t)
	ctx := context.Background()
	gw := &blockingGateway{Sandbox: sb, booked: make(chan struct{}), release: make(chan struct{})}
	pay := &payment.Service{DB: s, Gateway: gw}
	testenv.PlaceOrder(t, s, "stalled", "PROD-002", 1)
	errc := make(chan error, 1)
	go func() {
		_, err := pay.Capture(ctx, "stalled", 4990, "USD", "pm_card_visa")
		errc <- err
	}()
	<-gw.booked // the provider moved the money; the answer is late
	if err := (&orders.Service{DB: s}).Finish(ctx, "stalled", contract.PhaseCancelled, contract.ReasonCancelled, "test"); err != nil {
		t.Fatal(err)
	}
	close(gw.release)
	if f, ok := failure.As(<-errc); !ok || f.Reason != contract.ReasonWorkflowFailed {
		t.Fatalf("the late capture returned %v; want WorkflowFailed", f)
	}
	if a := account(t, s, "stalled"); len(a.Charges) != 1 || a.Refunded() != a.Captured() {
		t.Fatalf("the provider holds %+v; want the late charge refunded in full", a)
	}
}

func TestACompletedOrderIsNeverRefunded(t *testing.T) {
	s, gw := sandbox(t)
	ctx := context.Background()
	pay := &payment.Service{DB: s, Gateway: gw}
	testenv.PlaceOrder(t, s, "done", "PROD-002", 1)
	if _, err := pay.Capture(ctx, "done", 4990, "USD", "pm_card_visa"); err != nil {
		t.Fatal(err)
	}
	if err := (&orders.Service{DB: s}).Finish(ctx, "done", contract.PhaseCompleted, "", ""); err != nil {
		t.Fatal(err)
	}
	_, err := pay.Refund(ctx, "done")
	if f, ok := failure.As(err); !ok || f.Reason != contract.ReasonWorkflowFailed {
		t.Fatalf("refund of a completed order: %v; want WorkflowFailed", err)
	}
	// A late attempt of its capture answers with the capture on record.
	id, err := pay.Capture(ctx, "done", 4990, "USD", "pm_card_visa")
	if a := account(t, s, "done"); err != nil || len(a.Charges) != 1 || a.Charges[0].ID != id || a.Refunded() != 0 {
		t.Fatalf("the provider holds %+v after a late capture (%q, %v); want one charge, not refunded", a, id, err)
	}
}
