// Tests of reservations against a real PostgreSQL: concurrency, all or
// none, idempotency.
package inventory_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"orderflow.io/orderflow/internal/catalog"
	"orderflow.io/orderflow/internal/contract"
	"orderflow.io/orderflow/internal/db"
	"orderflow.io/orderflow/internal/failure"
	"orderflow.io/orderflow/internal/inventory"
	"orderflow.io/orderflow/internal/orders"
	"orderflow.io/orderflow/internal/testenv"
)

var stack *testenv.Stack

func TestMain(m *testing.M) {
	testenv.Main(m, testenv.Options{Postgres: true}, &stack)
}

func stock(t *testing.T, s *db.DB, product string) int64 {
	t.Helper()
	var n int64
	if err := s.Pool.QueryRow(context.Background(), `SELECT stock FROM products WHERE id = $1`, product).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestConcurrentReservationsNeverOversell(t *testing.T) {
	s := stack.TestDB(t, 60)
	ctx := context.Background()
	if err := catalog.Upsert(ctx, s, []catalog.Product{{ID: "SCARCE", Name: "Scarce", Price: 100, Currency: "USD", Stock: 20}}); err != nil {
		t.Fatal(err)
	}
	inv := &inventory.Service{DB: s}
	const orders = 50
	for i := 0; i < orders; i++ {
		testenv.PlaceOrder(t, s, fmt.Sprintf("o%d", i), "SCARCE", 1)
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
	s := stack.TestDB(t, 60)
	ctx := context.Background()
	if err := catalog.Upsert(ctx, s, []catalog.Product{
		{ID: "A", Name: "A", Price: 100, Currency: "USD", Stock: 10},
		{ID: "B", Name: "B", Price: 100, Currency: "USD", Stock: 1},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := (&orders.Service{DB: s}).Create(ctx, orders.NewOrder{Key: "ab", Namespace: "ns", Name: "ab", CustomerID: "C",
		Items: []contract.Item{{ProductID: "A", Quantity: 5}, {ProductID: "B", Quantity: 2}}}); err != nil {
		t.Fatal(err)
	}
	err := (&inventory.Service{DB: s}).Reserve(ctx, "ab")
	if f, ok := failure.As(err); !ok || f.Reason != "OutOfStock" {
		t.Fatalf("reserve: %v; want OutOfStock", err)
	}
	if stock(t, s, "A") != 10 || stock(t, s, "B") != 1 {
		t.Fatalf("stock moved: A=%d B=%d", stock(t, s, "A"), stock(t, s, "B"))
	}
}

func TestAReservationRetriedOrReleasedTwiceMovesStockOnce(t *testing.T) {
	s := stack.TestDB(t, 60)
	ctx := context.Background()
	if err := catalog.Upsert(ctx, s, []catalog.Product{{ID: "P", Name: "P", Price: 100, Currency: "USD", Stock: 10}}); err != nil {
		t.Fatal(err)
	}
	testenv.PlaceOrder(t, s, "r", "P", 3)
	inv := &inventory.Service{DB: s}
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

// TestAReservationThatArrivesLateTakesNothing runs a stalled worker's
// reservation after the order was released and after it was cancelled: it
// takes no stock, and nothing is left held.
func TestAReservationThatArrivesLateTakesNothing(t *testing.T) {
	s := stack.TestDB(t, 60)
	ctx := context.Background()
	if err := catalog.Upsert(ctx, s, []catalog.Product{{ID: "P", Name: "P", Price: 100, Currency: "USD", Stock: 10}}); err != nil {
		t.Fatal(err)
	}
	inv := &inventory.Service{DB: s}
	ords := &orders.Service{DB: s}
	held := func(key string) int64 {
		var n int64
		if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM inventory_reservations WHERE order_key = $1 AND status = 'held'`, key).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// Released (cancel unwinding) before the stale reservation ran.
	testenv.PlaceOrder(t, s, "released-first", "P", 3)
	if err := inv.Release(ctx, "released-first"); err != nil {
		t.Fatal(err)
	}
	if err := inv.Reserve(ctx, "released-first"); err != nil {
		t.Fatal(err)
	}
	if got := stock(t, s, "P"); got != 10 || held("released-first") != 0 {
		t.Fatalf("a reservation after the release took stock: stock %d, %d held", got, held("released-first"))
	}

	// Recorded cancelled (the order's end) before the stale reservation ran.
	testenv.PlaceOrder(t, s, "cancelled-first", "P", 3)
	if err := ords.Finish(ctx, "cancelled-first", contract.PhaseCancelled, "Cancelled", "cancelled"); err != nil {
		t.Fatal(err)
	}
	err := inv.Reserve(ctx, "cancelled-first")
	if f, ok := failure.As(err); !ok || f.Reason != "WorkflowFailed" {
		t.Fatalf("a reservation for a cancelled order: %v", err)
	}
	if got := stock(t, s, "P"); got != 10 || held("cancelled-first") != 0 {
		t.Fatalf("a reservation for a cancelled order took stock: stock %d, %d held", got, held("cancelled-first"))
	}

	// And a finished order's outcome stands: a late status write of
	// another outcome is refused and changes nothing; the same one again
	// is a repeat.
	if err := ords.Finish(ctx, "cancelled-first", contract.PhaseCompleted, "", ""); err == nil {
		t.Fatal("a cancelled order was finished as completed without an error")
	}
	if err := ords.Finish(ctx, "cancelled-first", contract.PhaseCancelled, "Cancelled", "cancelled"); err != nil {
		t.Fatalf("finishing a cancelled order as cancelled again: %v", err)
	}
	if st, _ := ords.Phase(ctx, "cancelled-first"); st != contract.PhaseCancelled {
		t.Fatalf("a finished order's status changed to %s", st)
	}
}

// TestAReleaseThatArrivesAfterCompletionPutsNothingBack runs a stalled
// worker's release after the order completed: the stock the completed
// order took stays taken, its reservations stay committed, and a late
// reservation takes nothing more.
func TestAReleaseThatArrivesAfterCompletionPutsNothingBack(t *testing.T) {
	s := stack.TestDB(t, 60)
	ctx := context.Background()
	if err := catalog.Upsert(ctx, s, []catalog.Product{{ID: "P", Name: "P", Price: 100, Currency: "USD", Stock: 10}}); err != nil {
		t.Fatal(err)
	}
	inv := &inventory.Service{DB: s}
	testenv.PlaceOrder(t, s, "done", "P", 3)
	if err := inv.Reserve(ctx, "done"); err != nil {
		t.Fatal(err)
	}
	if err := (&orders.Service{DB: s}).Finish(ctx, "done", contract.PhaseCompleted, "", ""); err != nil {
		t.Fatal(err)
	}
	if err := inv.Release(ctx, "done"); err != nil {
		t.Fatal(err)
	}
	err := inv.Reserve(ctx, "done")
	if f, ok := failure.As(err); !ok || f.Reason != contract.ReasonWorkflowFailed {
		t.Fatalf("a reservation for a completed order: %v; want WorkflowFailed", err)
	}
	var committed int
	if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM inventory_reservations WHERE order_key = 'done' AND status = 'committed'`).Scan(&committed); err != nil {
		t.Fatal(err)
	}
	if got := stock(t, s, "P"); got != 7 || committed != 1 {
		t.Fatalf("after a late release and reservation: stock %d (want 7), %d committed reservations (want 1)", got, committed)
	}
}

// TestReleasingAnOrderNeverRecordedFencesItsFirstStep: an order cancelled
// before its first step ran (its first workflow task lost with a killed or
// stalled worker, the cancel in before the retry) has no record. The
// release the cancel runs must not fail the order, and a stalled worker
// that later runs the first steps of its old task must record and reserve
// nothing.
func TestReleasingAnOrderNeverRecordedFencesItsFirstStep(t *testing.T) {
	s := stack.TestDB(t, 10)
	ctx := context.Background()
	if err := catalog.Upsert(ctx, s, []catalog.Product{{ID: "P", Name: "P", Price: 100, Currency: "USD", Stock: 10}}); err != nil {
		t.Fatal(err)
	}
	inv := &inventory.Service{DB: s}
	if err := inv.Release(ctx, "ns/late"); err != nil {
		t.Fatalf("releasing an order with no record: %v", err)
	}
	if err := inv.Release(ctx, "ns/late"); err != nil {
		t.Fatalf("releasing it again: %v", err)
	}
	// The stalled worker's old task goes on: CreateOrder, then ReserveInventory.
	p, err := (&orders.Service{DB: s}).Create(ctx, orders.NewOrder{Key: "ns/late", ObjectUID: "u1", Namespace: "ns", Name: "late",
		CustomerID: "C", Items: []contract.Item{{ProductID: "P", Quantity: 3}}})
	if err != nil || p.Finished == nil || p.Finished.Phase != contract.PhaseCancelled {
		t.Fatalf("a late CreateOrder: %+v, %v; want the order found Cancelled", p, err)
	}
	if err := inv.Reserve(ctx, "ns/late"); err == nil {
		t.Fatal("a late reservation of a cancelled order was taken")
	}
	if got := stock(t, s, "P"); got != 10 {
		t.Fatalf("stock %d after the late steps; want 10", got)
	}
	if err := (&orders.Service{DB: s}).Finish(ctx, "ns/late", contract.PhaseCancelled, contract.ReasonCancelled, "cancelled"); err != nil {
		t.Fatalf("finishing it cancelled: %v", err)
	}
}
