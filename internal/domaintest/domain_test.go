// Package domaintest tests the inventory and payment services together
// against a real PostgreSQL: concurrency and idempotency.
package domaintest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"orderflow.io/orderflow/internal/failure"
	"orderflow.io/orderflow/internal/inventory"
	"orderflow.io/orderflow/internal/money"
	"orderflow.io/orderflow/internal/payment"
	"orderflow.io/orderflow/internal/store"
	"orderflow.io/orderflow/internal/testenv"
)

var stack *testenv.Stack

func TestMain(m *testing.M) {
	testenv.Main(m, testenv.Options{Postgres: true}, &stack)
}

func newStore(t *testing.T) *store.Store {
	testenv.Integration(t)
	return stack.Postgres.TestStore(t, 60)
}

func createOrder(t *testing.T, s *store.Store, uid, product string, qty int32) {
	t.Helper()
	if _, err := s.CreateOrder(context.Background(), store.NewOrder{UID: uid, Namespace: "ns", Name: uid, CustomerID: "C",
		Items: []store.NewItem{{ProductID: product, Quantity: qty}}}); err != nil {
		t.Fatal(err)
	}
}

func stock(t *testing.T, s *store.Store, product string) int64 {
	t.Helper()
	var n int64
	if err := s.Pool.QueryRow(context.Background(), `SELECT stock FROM products WHERE id = $1`, product).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestConcurrentReservationsNeverOversell(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if err := s.UpsertProducts(ctx, []store.Product{{ID: "SCARCE", Name: "Scarce", Price: 100, Currency: "USD", Stock: 20}}); err != nil {
		t.Fatal(err)
	}
	inv := &inventory.Service{Store: s}
	const orders = 50
	for i := 0; i < orders; i++ {
		createOrder(t, s, fmt.Sprintf("o%d", i), "SCARCE", 1)
	}
	var wg sync.WaitGroup
	var reserved, outOfStock atomic.Int64
	for i := 0; i < orders; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			err := inv.Reserve(ctx, fmt.Sprintf("o%d", i))
			if f, ok := failure.As(err); ok && f.Reason == "OutOfStock" {
				outOfStock.Add(1)
				return
			}
			if err != nil {
				t.Error(err)
				return
			}
			reserved.Add(1)
		}(i)
	}
	wg.Wait()
	if reserved.Load() != 20 || outOfStock.Load() != 30 || stock(t, s, "SCARCE") != 0 {
		t.Fatalf("reserved %d, out of stock %d, stock left %d; want 20, 30, 0", reserved.Load(), outOfStock.Load(), stock(t, s, "SCARCE"))
	}
	var held int
	if err := s.Pool.QueryRow(ctx, `SELECT coalesce(sum(quantity), 0) FROM inventory_reservations WHERE status = 'held'`).Scan(&held); err != nil || held != 20 {
		t.Fatalf("held %d, %v", held, err)
	}
}

func TestAReservationIsAllItemsOrNone(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if err := s.UpsertProducts(ctx, []store.Product{
		{ID: "A", Name: "A", Price: 100, Currency: "USD", Stock: 10},
		{ID: "B", Name: "B", Price: 100, Currency: "USD", Stock: 1},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateOrder(ctx, store.NewOrder{UID: "ab", Namespace: "ns", Name: "ab", CustomerID: "C",
		Items: []store.NewItem{{ProductID: "A", Quantity: 5}, {ProductID: "B", Quantity: 2}}}); err != nil {
		t.Fatal(err)
	}
	err := (&inventory.Service{Store: s}).Reserve(ctx, "ab")
	if f, ok := failure.As(err); !ok || f.Reason != "OutOfStock" {
		t.Fatalf("reserve: %v; want OutOfStock", err)
	}
	if stock(t, s, "A") != 10 || stock(t, s, "B") != 1 {
		t.Fatalf("stock moved: A=%d B=%d", stock(t, s, "A"), stock(t, s, "B"))
	}
}

func TestAReservationRetriedOrReleasedTwiceMovesStockOnce(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if err := s.UpsertProducts(ctx, []store.Product{{ID: "P", Name: "P", Price: 100, Currency: "USD", Stock: 10}}); err != nil {
		t.Fatal(err)
	}
	createOrder(t, s, "r", "P", 3)
	inv := &inventory.Service{Store: s}
	for i := 0; i < 3; i++ {
		if err := inv.Reserve(ctx, "r"); err != nil {
			t.Fatal(err)
		}
	}
	if got := stock(t, s, "P"); got != 7 {
		t.Fatalf("stock after repeated reserve %d; want 7", got)
	}
	for i := 0; i < 3; i++ {
		if err := inv.Release(ctx, "r"); err != nil {
			t.Fatal(err)
		}
	}
	if got := stock(t, s, "P"); got != 10 {
		t.Fatalf("stock after repeated release %d; want 10", got)
	}
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
	s := newStore(t)
	ctx := context.Background()
	if err := s.UpsertProducts(ctx, store.DemoCatalog); err != nil {
		t.Fatal(err)
	}
	createOrder(t, s, "p", "PROD-002", 1)
	gw := &countingGateway{}
	pay := &payment.Service{Store: s, Gateway: gw}
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
	s := newStore(t)
	ctx := context.Background()
	if err := s.UpsertProducts(ctx, store.DemoCatalog); err != nil {
		t.Fatal(err)
	}
	createOrder(t, s, "d", "PROD-002", 1)
	pay := &payment.Service{Store: s, Gateway: &payment.Sandbox{}}
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
