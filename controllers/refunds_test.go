package controllers_test

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/util/retry"
	crclient "sigs.k8s.io/controller-runtime/pkg/client"

	"orderflow.io/orderflow/api/v1alpha1"
	"orderflow.io/orderflow/internal/contract"
	"orderflow.io/orderflow/internal/payment"
)

// providerRefunds reads, from the sandbox provider's own books, the refunds
// of the order's capture: their idempotency keys and cents.
func (s *system) providerRefunds(t *testing.T, ns, name string) map[string]int64 {
	t.Helper()
	rows, err := s.db.Pool.Query(context.Background(), `
		SELECT r.idempotency_key, r.amount_cents FROM payment_sandbox.refunds r
		JOIN payment_sandbox.charges c ON c.id = r.charge_id WHERE c.idempotency_key = $1`,
		payment.CaptureKey(contract.Key(ns, name)))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]int64{}
	for rows.Next() {
		var key string
		var cents int64
		if err := rows.Scan(&key, &cents); err != nil {
			t.Fatal(err)
		}
		if _, twice := got[key]; twice {
			t.Errorf("the provider holds two refunds under %s", key)
		}
		got[key] = cents
	}
	return got
}

func (s *system) stock(t *testing.T, product string) int {
	t.Helper()
	return s.count(t, `SELECT stock FROM products WHERE id = $1`, product)
}

// refunded waits until every refund of the Order shows a final state.
func refunded(t *testing.T, c crclient.Client, o *v1alpha1.Order, n int) *v1alpha1.Order {
	t.Helper()
	return waitFor(t, c, o, "shown with its refunds", func(o *v1alpha1.Order) bool {
		if len(o.Status.Refunds) != n || o.Status.ObservedGeneration != o.Generation {
			return false
		}
		for _, r := range o.Status.Refunds {
			if r.State == v1alpha1.RefundPending {
				return false
			}
		}
		return true
	})
}

func appendRefunds(t *testing.T, c crclient.Client, o *v1alpha1.Order, refunds ...v1alpha1.RefundRequest) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur := &v1alpha1.Order{}
		if err := c.Get(context.Background(), crclient.ObjectKeyFromObject(o), cur); err != nil {
			return err
		}
		cur.Spec.Refunds = append(cur.Spec.Refunds, refunds...)
		return c.Update(context.Background(), cur)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestPartialRefundsAreMadeOnceCountedAtTheProvider appends refunds to a
// Completed Order by items (with restock) and by amount, one that would
// take back more than is left, and then deletes the Order and applies it
// again: each refund is made once at the provider, the stock comes back
// once, the refusal is visible, and the Order applied again shows the same
// refunds.
func TestPartialRefundsAreMadeOnceCountedAtTheProvider(t *testing.T) {
	c := kube(t)
	s := running(t)
	ns := namespace(t, c)
	ctx := context.Background()
	if _, err := s.db.Pool.Exec(ctx, `INSERT INTO products (id, name, price_cents, currency, stock) VALUES ('REFUND-1', 'Refundable', 1000, 'USD', 100)
		ON CONFLICT (id) DO NOTHING`); err != nil {
		t.Fatal(err)
	}
	before := s.stock(t, "REFUND-1")
	o := newOrder(ns, "partly").items(item("REFUND-1", 3, "10.00"), item("BULK", 2, "")).build() // 32.00 USD
	if err := c.Create(ctx, o); err != nil {
		t.Fatal(err)
	}
	waitFor(t, c, o, "Completed", phase(v1alpha1.PhaseCompleted))

	r1 := v1alpha1.RefundRequest{ID: "damaged", Items: []v1alpha1.RefundItem{{ProductID: "REFUND-1", Quantity: 2}}, Reason: "damaged in transit", Restock: true}
	r2 := v1alpha1.RefundRequest{ID: "goodwill", Amount: "5.50", Reason: "late delivery"}
	appendRefunds(t, c, o, r1, r2)
	got := refunded(t, c, o, 2)
	for _, r := range got.Status.Refunds {
		if r.State != v1alpha1.RefundRefunded || r.ProviderID == "" || r.Time == nil {
			t.Fatalf("refund %+v, want Refunded with the provider's id and time", r)
		}
	}
	if got.Status.Refunded != "25.50" || got.Status.Phase != v1alpha1.PhaseCompleted {
		t.Fatalf("refunded %s, phase %s; want 25.50 (2 × 10.00 + 5.50), still Completed", got.Status.Refunded, got.Status.Phase)
	}
	if c := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionRefunded); c == nil || c.Status != "False" || c.Reason != v1alpha1.ReasonPartiallyRefunded {
		t.Fatalf("condition Refunded %+v, want False PartiallyRefunded", c)
	}
	want := map[string]int64{
		payment.RefundKey(contract.RefundKey(ns, "partly", "damaged")):  2000,
		payment.RefundKey(contract.RefundKey(ns, "partly", "goodwill")): 550,
	}
	if books := s.providerRefunds(t, ns, "partly"); len(books) != 2 || books[payment.RefundKey(contract.RefundKey(ns, "partly", "damaged"))] != 2000 ||
		books[payment.RefundKey(contract.RefundKey(ns, "partly", "goodwill"))] != 550 {
		t.Fatalf("the provider's refunds %v, want %v", books, want)
	}
	// 3 reserved and sold, 2 of them put back.
	if after := s.stock(t, "REFUND-1"); after != before-1 {
		t.Fatalf("stock %d, want %d", after, before-1)
	}
	waitForEvent(t, c, got, v1alpha1.ReasonRefunded)
	// One Event per refund, each naming its own.
	for _, id := range []string{"damaged", "goodwill"} {
		waitForEventSaying(t, c, got, v1alpha1.ReasonRefunded, "Refund "+id+" of")
	}

	// 6.50 is left of 32.00: 7.00 is refused, visibly, and moves nothing.
	appendRefunds(t, c, o, v1alpha1.RefundRequest{ID: "too-much", Amount: "7.00"})
	got = refunded(t, c, o, 3)
	var refusal *v1alpha1.RefundStatus
	for i := range got.Status.Refunds {
		if got.Status.Refunds[i].ID == "too-much" {
			refusal = &got.Status.Refunds[i]
		}
	}
	if refusal == nil || refusal.State != v1alpha1.RefundRefused || !strings.Contains(refusal.Message, "6.50") {
		t.Fatalf("refund too-much %+v, want Refused naming the 6.50 left", refusal)
	}
	if cond := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionRefunded); cond == nil || cond.Reason != v1alpha1.ReasonRefundRefused {
		t.Fatalf("condition Refunded %+v, want RefundRefused", cond)
	}
	waitForEvent(t, c, got, v1alpha1.ReasonRefundRefused)
	if books := s.providerRefunds(t, ns, "partly"); len(books) != 2 {
		t.Fatalf("the provider's refunds %v after a refused refund, want the 2 made", books)
	}

	// Deleted and applied again from its manifest, refunds and all: the
	// same refunds show, and nothing moves again.
	if err := c.Delete(ctx, got); err != nil {
		t.Fatal(err)
	}
	gone(t, c, o)
	again := newOrder(ns, "partly").items(item("REFUND-1", 3, "10.00"), item("BULK", 2, "")).build()
	again.Spec.Refunds = []v1alpha1.RefundRequest{r1, r2, {ID: "too-much", Amount: "7.00"}}
	if err := c.Create(ctx, again); err != nil {
		t.Fatal(err)
	}
	reapplied := refunded(t, c, again, 3)
	for _, r := range got.Status.Refunds {
		var now *v1alpha1.RefundStatus
		for i := range reapplied.Status.Refunds {
			if reapplied.Status.Refunds[i].ID == r.ID {
				now = &reapplied.Status.Refunds[i]
			}
		}
		if now == nil || now.State != r.State || now.ProviderID != r.ProviderID || now.Amount != r.Amount {
			t.Errorf("refund %s applied again shows %+v, first %+v", r.ID, now, r)
		}
	}
	if books := s.providerRefunds(t, ns, "partly"); len(books) != 2 {
		t.Fatalf("the provider's refunds %v after the Order was applied again, want the 2 made", books)
	}
	if after := s.stock(t, "REFUND-1"); after != before-1 {
		t.Fatalf("stock %d after the Order was applied again, want %d", after, before-1)
	}
	if n := s.count(t, `SELECT count(*) FROM notifications WHERE order_key = $1 AND kind LIKE 'refund-%'`, contract.Key(ns, "partly")); n != 2 {
		t.Fatalf("%d refund notifications, want 2", n)
	}
}

// TestAnOrderRefundedInFullShowsRefunded refunds a Completed order's whole
// total in two parts, and a refund of a Failed order is refused.
func TestAnOrderRefundedInFullShowsRefunded(t *testing.T) {
	c := kube(t)
	s := running(t)
	ns := namespace(t, c)
	ctx := context.Background()
	o := newOrder(ns, "whole").items(item("BULK", 3, "")).build() // 3.00 USD
	if err := c.Create(ctx, o); err != nil {
		t.Fatal(err)
	}
	waitFor(t, c, o, "Completed", phase(v1alpha1.PhaseCompleted))
	appendRefunds(t, c, o, v1alpha1.RefundRequest{ID: "a", Amount: "1.00"}, v1alpha1.RefundRequest{ID: "b", Items: []v1alpha1.RefundItem{{ProductID: "BULK", Quantity: 2}}})
	got := refunded(t, c, o, 2)
	if cond := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionRefunded); cond == nil || cond.Status != "True" || got.Status.Refunded != "3.00" {
		t.Fatalf("refunded %s, condition %+v; want 3.00 and Refunded True", got.Status.Refunded, cond)
	}
	if books := s.providerRefunds(t, ns, "whole"); len(books) != 2 {
		t.Fatalf("the provider's refunds %v, want 2", books)
	}

	failed := newOrder(ns, "declined").items(item("BULK", 1, "")).pay("pm_card_chargeDeclined").build()
	if err := c.Create(ctx, failed); err != nil {
		t.Fatal(err)
	}
	waitFor(t, c, failed, "Failed", phase(v1alpha1.PhaseFailed))
	appendRefunds(t, c, failed, v1alpha1.RefundRequest{ID: "a", Amount: "1.00"})
	got = refunded(t, c, failed, 1)
	if r := got.Status.Refunds[0]; r.State != v1alpha1.RefundRefused || !strings.Contains(r.Message, "failed") {
		t.Fatalf("refund of a failed order %+v, want Refused saying it failed", r)
	}
}
