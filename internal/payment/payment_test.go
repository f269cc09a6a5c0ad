// Tests of captures and refunds against a real PostgreSQL: idempotency
// keys and declines.
package payment_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"orderflow.io/orderflow/internal/catalog"
	"orderflow.io/orderflow/internal/failure"
	"orderflow.io/orderflow/internal/money"
	"orderflow.io/orderflow/internal/payment"
	"orderflow.io/orderflow/internal/testenv"
)

var stack *testenv.Stack

func TestMain(m *testing.M) {
	testenv.Main(m, testenv.Options{Postgres: true, StripeMock: true}, &stack)
}

// countingGateway counts the charges and refunds that reach the gateway.
type countingGateway struct {
	payment.Sandbox
	charges, refunds atomic.Int64
}

func (g *countingGateway) Charge(ctx context.Context, r payment.ChargeRequest) (string, error) {
	g.charges.Add(1)
	return g.Sandbox.Charge(ctx, r)
}

func (g *countingGateway) Refund(ctx context.Context, r payment.RefundRequest) (string, error) {
	g.refunds.Add(1)
	return g.Sandbox.Refund(ctx, r)
}

func TestAPaymentRetriedWithTheSameKeyChargesOnceAndARefundRefundsOnce(t *testing.T) {
	s := stack.TestDB(t, 60)
	ctx := context.Background()
	if err := catalog.Upsert(ctx, s, catalog.DemoCatalog); err != nil {
		t.Fatal(err)
	}
	testenv.PlaceOrder(t, s, "p", "PROD-002", 1)
	gw := &countingGateway{}
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
	for i := 0; i < 3; i++ {
		if _, err := pay.Refund(ctx, "p"); err != nil {
			t.Fatal(err)
		}
	}
	var captures, refunds int
	if err := s.Pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE kind = 'capture'), count(*) FILTER (WHERE kind = 'refund') FROM payments WHERE order_uid = 'p'`).
		Scan(&captures, &refunds); err != nil {
		t.Fatal(err)
	}
	if captures != 1 || refunds != 1 {
		t.Fatalf("payments rows: %d captures, %d refunds; want 1 and 1", captures, refunds)
	}
	if gw.refunds.Load() != 1 {
		t.Fatalf("the gateway saw %d refunds; want 1", gw.refunds.Load())
	}
}

func TestADeclinedCardIsABusinessFailure(t *testing.T) {
	s := stack.TestDB(t, 60)
	ctx := context.Background()
	if err := catalog.Upsert(ctx, s, catalog.DemoCatalog); err != nil {
		t.Fatal(err)
	}
	testenv.PlaceOrder(t, s, "d", "PROD-002", 1)
	pay := &payment.Service{DB: s, Gateway: &payment.Sandbox{}}
	for _, pm := range []string{"pm_card_chargeDeclined", "pm_card_chargeDeclinedInsufficientFunds"} {
		_, err := pay.Capture(ctx, "d", 4990, "USD", pm)
		if f, ok := failure.As(err); !ok || f.Reason != "PaymentDeclined" {
			t.Fatalf("%s: %v; want PaymentDeclined", pm, err)
		}
	}
	if id, err := pay.Refund(ctx, "d"); id != "" || err != nil {
		t.Fatalf("refund of nothing: %q, %v", id, err)
	}
}
