// Tests of partial refunds against a real PostgreSQL and the sandbox
// provider's books: refunds asked at once never add up to more than was
// captured, and each is made once.
package refunds_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"orderflow.io/orderflow/internal/catalog"
	"orderflow.io/orderflow/internal/contract"
	"orderflow.io/orderflow/internal/db"
	"orderflow.io/orderflow/internal/inventory"
	"orderflow.io/orderflow/internal/money"
	"orderflow.io/orderflow/internal/orders"
	"orderflow.io/orderflow/internal/payment"
	"orderflow.io/orderflow/internal/refunds"
	"orderflow.io/orderflow/internal/testenv"
)

var stack *testenv.Stack

func TestMain(m *testing.M) {
	testenv.Main(m, testenv.Options{Postgres: true}, &stack)
}

// completed records order name (qty units of product R at 1.00), reserves,
// captures and completes it.
func completed(t *testing.T, s *db.DB, svc *refunds.Service, name string, qty int32) {
	t.Helper()
	ctx := context.Background()
	key := contract.Key("ns", name)
	if _, err := (&orders.Service{DB: s}).Create(ctx, orders.NewOrder{Key: key, ObjectUID: name, Namespace: "ns", Name: name,
		CustomerID: "C", Items: []contract.Item{{ProductID: "R", Quantity: qty}}}); err != nil {
		t.Fatal(err)
	}
	if err := svc.Inventory.Reserve(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Payments.Capture(ctx, key, money.Amount(100*int64(qty)), "USD", "pm_card_visa"); err != nil {
		t.Fatal(err)
	}
	if err := (&orders.Service{DB: s}).Finish(ctx, key, contract.PhaseCompleted, "", ""); err != nil {
		t.Fatal(err)
	}
}

func setup(t *testing.T) (*db.DB, *refunds.Service) {
	s := stack.TestDB(t, 60)
	ctx := context.Background()
	if err := catalog.Upsert(ctx, s, []catalog.Product{{ID: "R", Name: "R", Price: 100, Currency: "USD", Stock: 1000}}); err != nil {
		t.Fatal(err)
	}
	ledger, err := payment.OpenLedger(ctx, s.Pool)
	if err != nil {
		t.Fatal(err)
	}
	inv := &inventory.Service{DB: s}
	return s, &refunds.Service{DB: s, Payments: &payment.Service{DB: s, Gateway: &payment.Sandbox{Ledger: ledger}}, Inventory: inv}
}

// TestRefundsAskedAtOnceNeverExceedTheCapture asks 20 refunds of 1.00 of a
// 10.00 order at once, each twice: exactly 10 are accepted and made, the
// provider's books hold 10 refunds of 10.00, and every second ask gets the
// first answer.
func TestRefundsAskedAtOnceNeverExceedTheCapture(t *testing.T) {
	s, svc := setup(t)
	ctx := context.Background()
	completed(t, s, svc, "o1", 10)
	var wg sync.WaitGroup
	var mu sync.Mutex
	answers := map[string][]string{}
	accepted := map[string]bool{}
	start := make(chan struct{})
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			id := fmt.Sprintf("r%d", i%20)
			d, err := svc.Accept(ctx, contract.RefundInput{Namespace: "ns", Name: "o1", ID: id, Amount: "1.00"})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			accepted[id] = accepted[id] || d.State == contract.RefundPending
			mu.Unlock()
			if d.State == contract.RefundPending {
				if d, err = svc.Make(ctx, "ns", "o1", id); err != nil {
					t.Error(err)
					return
				}
			}
			mu.Lock()
			answers[id] = append(answers[id], d.State)
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	// OrderFlow's own rule, before the provider's: it accepted no more than
	// the capture holds.
	n := 0
	for _, ok := range accepted {
		if ok {
			n++
		}
	}
	if n != 10 {
		t.Errorf("%d refunds of 1.00 accepted against a 10.00 capture, want 10", n)
	}
	made := 0
	for id, a := range answers {
		if len(a) != 2 || a[0] != a[1] {
			t.Errorf("refund %s answered %v: asked twice, it must answer the same", id, a)
		}
		if a[0] == contract.RefundRefunded {
			made++
		}
	}
	if made != 10 {
		t.Errorf("%d refunds of 1.00 made of a 10.00 capture, want 10", made)
	}
	books, err := payment.ReadBooks(ctx, s.Pool)
	if err != nil {
		t.Fatal(err)
	}
	a := books[contract.Key("ns", "o1")]
	if len(a.Charges) != 1 || a.Charges[0].Refunds != 10 || a.Refunded() != 1000 {
		t.Fatalf("the provider's books: %+v, want one charge with 10 refunds of 10.00", a)
	}
}

// TestRestockPutsBackOnce restocks the same refund three times: the stock
// comes back once.
func TestRestockPutsBackOnce(t *testing.T) {
	s, svc := setup(t)
	ctx := context.Background()
	completed(t, s, svc, "o2", 5)
	stock := func() int64 {
		var n int64
		if err := s.Pool.QueryRow(ctx, `SELECT stock FROM products WHERE id = 'R'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := stock()
	in := contract.RefundInput{Namespace: "ns", Name: "o2", ID: "back", Items: []contract.RefundItem{{ProductID: "R", Quantity: 3}}, Restock: true}
	d, err := svc.Accept(ctx, in)
	if err != nil || d.State != contract.RefundPending || d.Amount != 300 || !d.Restock {
		t.Fatalf("%+v %v", d, err)
	}
	if _, err := svc.Make(ctx, "ns", "o2", "back"); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := svc.Restock(ctx, d.OrderKey, "back"); err != nil {
			t.Fatal(err)
		}
	}
	if after := stock(); after != before+3 {
		t.Fatalf("stock %d -> %d, want +3", before, after)
	}
	// 2 units are left to refund: 3 more is refused, naming what is left.
	d, err = svc.Accept(ctx, contract.RefundInput{Namespace: "ns", Name: "o2", ID: "more", Items: []contract.RefundItem{{ProductID: "R", Quantity: 3}}})
	if err != nil || d.State != contract.RefundRefused {
		t.Fatalf("%+v %v", d, err)
	}
}
