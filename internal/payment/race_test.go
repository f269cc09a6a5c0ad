package payment_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"orderflow.io/orderflow/internal/contract"
	"orderflow.io/orderflow/internal/failure"
	"orderflow.io/orderflow/internal/inventory"
	"orderflow.io/orderflow/internal/orders"
	"orderflow.io/orderflow/internal/payment"
	"orderflow.io/orderflow/internal/testenv"
)

// TestLateStepsRacingTheWorkflowMoveNothing races, on real PostgreSQL, each
// order's own run of its steps (as its workflow runs them: complete, cancel
// after the payment, or cancel before it) against late attempts of the same
// steps from stalled workers, some landing before and some after the order
// finished. Whatever the interleaving, the provider's books and the stock
// must say what the outcome says: a completed order captured once and never
// refunded, a cancelled one with every captured cent refunded, and stock
// moved once per completed order.
func TestLateStepsRacingTheWorkflowMoveNothing(t *testing.T) {
	s, gw := sandbox(t)
	gw.Latency = 2 * time.Millisecond
	ctx := context.Background()
	pay := &payment.Service{DB: s, Gateway: gw}
	stock := &inventory.Service{DB: s}
	record := &orders.Service{DB: s}
	const n, price = 60, 4990
	stockOf := func() (v int64) {
		if err := s.Pool.QueryRow(ctx, `SELECT stock FROM products WHERE id = 'PROD-002'`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	before := stockOf()
	type plan int
	const (
		completes plan = iota
		cancelledAfterPayment
		cancelledBeforePayment
	)
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("race-%02d", i)
		testenv.PlaceOrder(t, s, keys[i], "PROD-002", 1)
	}
	// unexpected reports errors other than the fences' WorkflowFailed.
	unexpected := func(step string, err error) {
		if f, ok := failure.As(err); err == nil || ok && f.Reason == contract.ReasonWorkflowFailed {
			return
		}
		t.Errorf("%s: %v", step, err)
	}
	var wg sync.WaitGroup
	// stale runs a stalled worker's attempt of a step after a moment.
	stale := func(what string, step func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(rand.IntN(40)) * time.Millisecond)
			unexpected(what, step())
		}()
	}
	for i, key := range keys {
		p := plan(i % 3)
		wg.Add(1)
		go func() { // the workflow
			defer wg.Done()
			must := func(step string, err error) {
				if err != nil {
					t.Errorf("%s %s: %v", key, step, err)
				}
				// The next step is a task of its own, a moment later.
				time.Sleep(time.Duration(rand.IntN(10)) * time.Millisecond)
			}
			must("reserve", stock.Reserve(ctx, key))
			// Late attempts of the capture, from before the order's own
			// to after it finished. (An order cancelled before its
			// payment never schedules one; its late captures test the
			// fence alone.)
			for range 2 {
				stale(key+" late capture", func() error { _, err := pay.Capture(ctx, key, price, "USD", "pm_card_visa"); return err })
			}
			phase := contract.PhaseCancelled
			if p != cancelledBeforePayment {
				_, err := pay.Capture(ctx, key, price, "USD", "pm_card_visa")
				must("capture", err)
			}
			if p == completes {
				phase = contract.PhaseCompleted
			} else {
				_, err := pay.Refund(ctx, key)
				must("refund", err)
				must("release", stock.Release(ctx, key))
				if p == cancelledAfterPayment {
					// Only a cancelling workflow schedules these: late
					// attempts of them come after its own. (None for
					// the others, whose late captures only the fence
					// may stop: a late refund would mend them.)
					stale(key+" late release", func() error { return stock.Release(ctx, key) })
					stale(key+" late refund", func() error { _, err := pay.Refund(ctx, key); return err })
				}
			}
			must("finish", record.Finish(ctx, key, phase, contract.ReasonCancelled, "race"))
		}()
		// Late attempts of the reservation, from before the order's own to
		// after it finished.
		stale(key+" late reserve", func() error { return stock.Reserve(ctx, key) })
	}
	wg.Wait()

	books, err := payment.ReadBooks(ctx, s.Pool)
	if err != nil {
		t.Fatal(err)
	}
	completed := 0
	for i, key := range keys {
		a := books[key]
		switch plan(i % 3) {
		case completes:
			completed++
			if len(a.Charges) != 1 || a.Captured() != price || a.Refunded() != 0 {
				t.Errorf("%s completed; the provider holds %d charges, %s captured, %s refunded", key, len(a.Charges), a.Captured(), a.Refunded())
			}
		default:
			if len(a.Charges) > 1 || a.Refunded() != a.Captured() {
				t.Errorf("%s cancelled; the provider holds %d charges, %s captured, %s refunded", key, len(a.Charges), a.Captured(), a.Refunded())
			}
		}
		var held int
		if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM inventory_reservations WHERE order_key = $1 AND status = 'held'`, key).Scan(&held); err != nil {
			t.Fatal(err)
		}
		if held != 0 {
			t.Errorf("%s finished with %d reservations held", key, held)
		}
	}
	if moved := before - stockOf(); moved != int64(completed) {
		t.Errorf("stock moved by %d; %d orders completed with one item each", moved, completed)
	}
}
