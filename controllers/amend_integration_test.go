package controllers_test

import (
	"context"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/util/retry"
	crclient "sigs.k8s.io/controller-runtime/pkg/client"

	"orderflow.io/orderflow/api/v1alpha1"
	"orderflow.io/orderflow/internal/contract"
)

// editItems changes the Order's items, as `kubectl edit` would.
func editItems(t *testing.T, c crclient.Client, o *v1alpha1.Order, items ...v1alpha1.OrderItem) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur := &v1alpha1.Order{}
		if err := c.Get(context.Background(), crclient.ObjectKeyFromObject(o), cur); err != nil {
			return err
		}
		cur.Spec.Items = items
		return c.Update(context.Background(), cur)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// providerCharges reads, from the sandbox provider's own books, the
// charges made for the order: how many, and their cents in all.
func (s *system) providerCharges(t *testing.T, ns, name string) (n, cents int) {
	t.Helper()
	err := s.db.Pool.QueryRow(context.Background(), `SELECT count(*), coalesce(sum(amount_cents), 0)::int FROM payment_sandbox.charges WHERE reference = $1`,
		contract.Key(ns, name)).Scan(&n, &cents)
	if err != nil {
		t.Fatal(err)
	}
	return n, cents
}

func amended(reason string) func(*v1alpha1.Order) bool {
	return func(o *v1alpha1.Order) bool {
		c := meta.FindStatusCondition(o.Status.Conditions, v1alpha1.ConditionAmended)
		return o.Status.ObservedGeneration == o.Generation && c != nil && c.Reason == reason
	}
}

func (s *system) product(t *testing.T, id string, cents, stock int) {
	t.Helper()
	if _, err := s.db.Pool.Exec(context.Background(), `INSERT INTO products (id, name, price_cents, currency, stock) VALUES ($1, $1, $2, 'USD', $3)
		ON CONFLICT (id) DO UPDATE SET price_cents = $2, stock = $3`, id, cents, stock); err != nil {
		t.Fatal(err)
	}
}

// TestAnOrderAmendedBeforeItsPaymentIsChargedItsNewTotal edits a running
// Order's items in its edit window: the reservation follows (counted in
// PostgreSQL), the status shows the new total and items, and the provider
// is charged the new total, once. A change after the payment is refused
// visibly (Amended False TooLate, Stalled True, a Warning Event) and moves
// nothing; putting the spec back clears it.
func TestAnOrderAmendedBeforeItsPaymentIsChargedItsNewTotal(t *testing.T) {
	c := kube(t)
	s := running(t)
	ns := namespace(t, c)
	ctx := context.Background()
	s.product(t, "AMEND-1", 1000, 100)
	s.product(t, "AMEND-2", 500, 100)
	o := newOrder(ns, "amended").items(item("AMEND-1", 1, "")).build()
	o.Annotations = map[string]string{v1alpha1.EditWindowAnnotation: "6s"}
	if err := c.Create(ctx, o); err != nil {
		t.Fatal(err)
	}
	waitFor(t, c, o, "InventoryReserved", func(o *v1alpha1.Order) bool { return o.Status.Step == v1alpha1.StepInventoryReserved })
	if a1 := s.stock(t, "AMEND-1"); a1 != 99 {
		t.Fatalf("AMEND-1 stock %d after the reservation; want 99", a1)
	}

	editItems(t, c, o, item("AMEND-1", 2, ""), item("AMEND-2", 1, "5.00"))
	got := waitFor(t, c, o, "Amended", amended(v1alpha1.ReasonAmended))
	if got.Status.Total != "25.00" || len(got.Status.Items) != 2 || got.Status.Phase == v1alpha1.PhaseCompleted && got.Status.PaymentID == "" {
		t.Fatalf("amended status: total %s, items %+v", got.Status.Total, got.Status.Items)
	}
	if a1, a2 := s.stock(t, "AMEND-1"), s.stock(t, "AMEND-2"); a1 != 98 || a2 != 99 {
		t.Fatalf("stock AMEND-1 %d, AMEND-2 %d after the amendment; want 98 and 99", a1, a2)
	}
	waitForEvent(t, c, got, v1alpha1.ReasonAmended)
	done := waitFor(t, c, o, "Completed", phase(v1alpha1.PhaseCompleted))
	if n, cents := s.providerCharges(t, ns, "amended"); n != 1 || cents != 2500 {
		t.Fatalf("the provider holds %d charge(s) of %d cents; want one of 2500", n, cents)
	}

	editItems(t, c, o, item("AMEND-1", 5, ""))
	late := waitFor(t, c, o, "refused TooLate", amended(contract.ReasonTooLate))
	if st := meta.FindStatusCondition(late.Status.Conditions, v1alpha1.ConditionStalled); st == nil || st.Status != "True" || st.Reason != contract.ReasonTooLate {
		t.Fatalf("Stalled %+v; want True TooLate", st)
	}
	if late.Status.Total != "25.00" || late.Status.Phase != v1alpha1.PhaseCompleted {
		t.Fatalf("after the refused change: total %s, phase %s", late.Status.Total, late.Status.Phase)
	}
	waitForEvent(t, c, late, contract.ReasonTooLate)

	editItems(t, c, o, done.Spec.Items...)
	back := waitFor(t, c, o, "Reverted", amended(v1alpha1.ReasonReverted))
	if st := meta.FindStatusCondition(back.Status.Conditions, v1alpha1.ConditionStalled); st.Status != "False" {
		t.Fatalf("put back, yet Stalled %+v", st)
	}
	if n, cents := s.providerCharges(t, ns, "amended"); n != 1 || cents != 2500 {
		t.Fatalf("the provider holds %d charge(s) of %d cents; want still one of 2500", n, cents)
	}
	if a1, a2 := s.stock(t, "AMEND-1"), s.stock(t, "AMEND-2"); a1 != 98 || a2 != 99 {
		t.Fatalf("stock AMEND-1 %d, AMEND-2 %d at the end; want 98 and 99", a1, a2)
	}
}

// TestAChangeThatCannotBeReservedIsRefusedAndTheOldReservationStands asks
// for more than is in stock: the change is refused (OutOfStock), the old
// reservation stands, and the order is charged what it was.
func TestAChangeThatCannotBeReservedIsRefusedAndTheOldReservationStands(t *testing.T) {
	c := kube(t)
	s := running(t)
	ns := namespace(t, c)
	ctx := context.Background()
	s.product(t, "AMEND-3", 1000, 100)
	s.product(t, "AMEND-4", 500, 3)
	o := newOrder(ns, "short").items(item("AMEND-3", 1, "")).build()
	o.Annotations = map[string]string{v1alpha1.EditWindowAnnotation: "6s"}
	if err := c.Create(ctx, o); err != nil {
		t.Fatal(err)
	}
	waitFor(t, c, o, "InventoryReserved", func(o *v1alpha1.Order) bool { return o.Status.Step == v1alpha1.StepInventoryReserved })
	editItems(t, c, o, item("AMEND-3", 2, ""), item("AMEND-4", 4, ""))
	got := waitFor(t, c, o, "refused OutOfStock", amended(contract.ReasonOutOfStock))
	if st := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionStalled); st.Status != "True" {
		t.Fatalf("refused, yet Stalled %+v", st)
	}
	if a3, a4 := s.stock(t, "AMEND-3"), s.stock(t, "AMEND-4"); a3 != 99 || a4 != 3 {
		t.Fatalf("stock AMEND-3 %d, AMEND-4 %d after the refused change; want 99 and 3", a3, a4)
	}
	waitForEvent(t, c, got, contract.ReasonOutOfStock)
	done := waitFor(t, c, o, "Completed", phase(v1alpha1.PhaseCompleted))
	if done.Status.Total != "10.00" {
		t.Fatalf("total %s; want the old 10.00", done.Status.Total)
	}
	if n, cents := s.providerCharges(t, ns, "short"); n != 1 || cents != 1000 {
		t.Fatalf("the provider holds %d charge(s) of %d cents; want one of 1000", n, cents)
	}
}
