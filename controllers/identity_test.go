package controllers_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"go.temporal.io/sdk/client"
	crclient "sigs.k8s.io/controller-runtime/pkg/client"

	"orderflow.io/orderflow/api/v1alpha1"
	"orderflow.io/orderflow/controllers"
	"orderflow.io/orderflow/internal/contract"
	"orderflow.io/orderflow/workflows"
)

// money is what an order moved: its captures and refunds, and the stock of
// every product.
type money struct{ captures, refunds, stock int }

func (s *system) money(t *testing.T, o *v1alpha1.Order) money {
	t.Helper()
	key := contract.Key(o.Namespace, o.Name)
	return money{
		captures: s.count(t, `SELECT count(*) FROM payments WHERE order_key = $1 AND kind = 'capture'`, key),
		refunds:  s.count(t, `SELECT count(*) FROM payments WHERE order_key = $1 AND kind = 'refund'`, key),
		stock:    s.count(t, `SELECT sum(stock)::int FROM products`),
	}
}

// applyAgain deletes o, waits until it is gone and applies the same
// manifest again, as Argo CD's replace or a restore from git does; it
// returns the new Order once it shows a terminal phase.
func applyAgain(t *testing.T, c crclient.Client, o *v1alpha1.Order) *v1alpha1.Order {
	t.Helper()
	if err := c.Delete(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	gone(t, c, o)
	again := manifest(o)
	if err := c.Create(context.Background(), again); err != nil {
		t.Fatal(err)
	}
	return waitFor(t, c, again, "terminal", func(o *v1alpha1.Order) bool { return o.Status.Phase.Terminal() })
}

// manifest is what was applied of o: its name and spec, nothing the API
// server or the controller wrote.
func manifest(o *v1alpha1.Order) *v1alpha1.Order {
	m := &v1alpha1.Order{Spec: *o.Spec.DeepCopy()}
	m.Namespace, m.Name, m.Labels, m.Annotations = o.Namespace, o.Name, o.Labels, o.Annotations
	return m
}

func sameOutcome(t *testing.T, first, again *v1alpha1.Order) {
	t.Helper()
	a, b := first.Status, again.Status
	if a.Phase != b.Phase || a.Total != b.Total || a.PaymentID != b.PaymentID || a.RefundID != b.RefundID || a.Reason != b.Reason ||
		a.CompletionTime == nil || b.CompletionTime == nil || !a.CompletionTime.Equal(b.CompletionTime) {
		t.Fatalf("applied again it shows\n%+v\nfirst it showed\n%+v", b, a)
	}
}

// TestAnOrderDeletedAndAppliedAgainIsTheSameOrder deletes finished Orders
// and applies them again: each shows its recorded outcome and nothing is
// charged, refunded or reserved again.
func TestAnOrderDeletedAndAppliedAgainIsTheSameOrder(t *testing.T) {
	c := kube(t)
	s := running(t)
	ns := namespace(t, c)
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		order  *v1alpha1.Order
		phase  v1alpha1.OrderPhase
		cancel bool
	}{
		{"completed", newOrder(ns, "again-completed").items(item("BULK", 2, "")).build(), v1alpha1.PhaseCompleted, false},
		{"failed", newOrder(ns, "again-failed").items(item("PROD-003", 1, "")).build(), v1alpha1.PhaseFailed, false},
		{"cancelled", newOrder(ns, "again-cancelled").items(item("BULK", 1, "")).pay(slowMethod).build(), v1alpha1.PhaseCancelled, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.order
			if err := c.Create(ctx, o); err != nil {
				t.Fatal(err)
			}
			if tc.cancel {
				waitFor(t, c, o, "InventoryReserved", func(o *v1alpha1.Order) bool { return o.Status.Step == v1alpha1.StepInventoryReserved })
				patchCancel(t, c, o)
			}
			first := waitFor(t, c, o, string(tc.phase), func(o *v1alpha1.Order) bool { return o.Status.Phase == tc.phase && len(o.Finalizers) == 0 })
			before := s.money(t, first)
			again := applyAgain(t, c, first)
			sameOutcome(t, first, again)
			if after := s.money(t, again); after != before {
				t.Fatalf("applied again, it moved money or stock: %+v, was %+v", after, before)
			}
			waitForEvent(t, c, again, v1alpha1.ReasonReattached)
		})
	}
}

// TestAnotherOrderUnderAUsedNameIsRefused applies an Order with other
// items under the name of one that completed: it fails NameReused, nothing
// moves, and the first order's record stays as it was.
func TestAnotherOrderUnderAUsedNameIsRefused(t *testing.T) {
	c := kube(t)
	s := running(t)
	ns := namespace(t, c)
	ctx := context.Background()
	o := newOrder(ns, "reused").items(item("BULK", 1, "")).build()
	if err := c.Create(ctx, o); err != nil {
		t.Fatal(err)
	}
	first := waitFor(t, c, o, "Completed", func(o *v1alpha1.Order) bool {
		return o.Status.Phase == v1alpha1.PhaseCompleted && len(o.Finalizers) == 0
	})
	before := s.money(t, first)
	if err := c.Delete(ctx, first); err != nil {
		t.Fatal(err)
	}
	gone(t, c, o)
	other := newOrder(ns, "reused").items(item("BULK", 3, "")).build()
	if err := c.Create(ctx, other); err != nil {
		t.Fatal(err)
	}
	got := waitFor(t, c, other, "Failed", phase(v1alpha1.PhaseFailed))
	if got.Status.Reason != contract.ReasonNameReused || !strings.Contains(got.Status.Message, "placed ") || got.Status.PaymentID != "" {
		t.Fatalf("status %+v", got.Status)
	}
	if after := s.money(t, got); after != before {
		t.Fatalf("the refused order moved money or stock: %+v, was %+v", after, before)
	}
	if n := s.count(t, `SELECT count(*) FROM order_items WHERE order_key = $1 AND quantity = 1`, contract.Key(ns, "reused")); n != 1 {
		t.Fatal("the first order's record changed")
	}
	waitForEvent(t, c, got, contract.ReasonNameReused)
}

// TestPostgreSQLRemembersWhatTemporalDoesNotKnow applies Orders whose
// orders were processed by workflows Temporal no longer has under their
// ids (gone with its retention, or a Temporal started afresh): the same
// spec shows the recorded outcome, another one is refused; PostgreSQL is
// the memory. (The records are made by running the order's workflow under
// another id: the dev server does not delete finished executions on
// request.)
func TestPostgreSQLRemembersWhatTemporalDoesNotKnow(t *testing.T) {
	c := kube(t)
	s := running(t)
	ns := namespace(t, c)
	ctx := context.Background()
	processed := func(o *v1alpha1.Order) contract.Progress {
		in := controllers.OrderInput(o) // as the controller would start it, from an earlier incarnation
		in.UID = "earlier"
		run, err := s.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "earlier/" + in.Key, TaskQueue: contract.TaskQueue}, workflows.OrderWorkflow, in)
		if err != nil {
			t.Fatal(err)
		}
		var p contract.Progress
		if err := run.Get(ctx, &p); err != nil {
			t.Fatal(err)
		}
		return p
	}

	same := newOrder(ns, "remembered").items(item("BULK", 1, "")).build()
	first := processed(same)
	before := s.money(t, same)
	if err := c.Create(ctx, same); err != nil {
		t.Fatal(err)
	}
	got := waitFor(t, c, same, "Completed", phase(v1alpha1.PhaseCompleted))
	if got.Status.PaymentID != first.PaymentID || got.Status.Total != first.Total || got.Status.CompletionTime == nil ||
		got.Status.CompletionTime.Unix() != first.CompletionTime.Unix() {
		t.Fatalf("status %+v; the order was %+v", got.Status, first)
	}
	if after := s.money(t, got); after != before {
		t.Fatalf("it moved money or stock: %+v, was %+v", after, before)
	}
	waitForEvent(t, c, got, v1alpha1.ReasonReattached)

	taken := newOrder(ns, "taken").items(item("BULK", 1, "")).build()
	processed(taken)
	before = s.money(t, taken)
	other := newOrder(ns, "taken").items(item("BULK", 4, "")).build()
	if err := c.Create(ctx, other); err != nil {
		t.Fatal(err)
	}
	got = waitFor(t, c, other, "Failed", phase(v1alpha1.PhaseFailed))
	if got.Status.Reason != contract.ReasonNameReused {
		t.Fatalf("status %+v", got.Status)
	}
	if after := s.money(t, got); after != before {
		t.Fatalf("the refused order moved money or stock: %+v, was %+v", after, before)
	}
}

// TestAnOrphanedOrderIsPickedUpWhereItIs deletes a running Order with
// deletionPolicy Orphan and applies it again: its workflow ran on and the
// new Order shows it complete, charged once.
func TestAnOrphanedOrderIsPickedUpWhereItIs(t *testing.T) {
	c := kube(t)
	s := running(t)
	ns := namespace(t, c)
	ctx := context.Background()
	o := newOrder(ns, "orphan").items(item("BULK", 1, "")).pay(slowMethod).build()
	o.Spec.DeletionPolicy = v1alpha1.DeletionOrphan
	if err := c.Create(ctx, o); err != nil {
		t.Fatal(err)
	}
	running := waitFor(t, c, o, "InventoryReserved", func(o *v1alpha1.Order) bool { return o.Status.Step == v1alpha1.StepInventoryReserved })
	if err := c.Delete(ctx, running); err != nil {
		t.Fatal(err)
	}
	gone(t, c, o) // at once, while the payment is in flight
	again := newOrder(ns, "orphan").items(item("BULK", 1, "")).pay(slowMethod).build()
	again.Spec.DeletionPolicy = v1alpha1.DeletionOrphan
	if err := c.Create(ctx, again); err != nil {
		t.Fatal(err)
	}
	got := waitFor(t, c, again, "Completed", phase(v1alpha1.PhaseCompleted))
	if m := s.money(t, got); m.captures != 1 || m.refunds != 0 {
		t.Fatalf("%+v", m)
	}
}

// TestATTLDeletesAFinishedOrderAndApplyingItAgainAdoptsTheRecord sets a
// one-second TTL: the Order goes a second after it completed, its record
// stays, and applying it again shows that record.
func TestATTLDeletesAFinishedOrderAndApplyingItAgainAdoptsTheRecord(t *testing.T) {
	c := kube(t)
	s := running(t)
	ns := namespace(t, c)
	ctx := context.Background()
	o := newOrder(ns, "ttl").items(item("BULK", 1, "")).build()
	ttl := int32(1)
	o.Spec.TTLSecondsAfterFinished = &ttl
	if err := c.Create(ctx, o); err != nil {
		t.Fatal(err)
	}
	first := waitFor(t, c, o, "Completed", phase(v1alpha1.PhaseCompleted))
	before := s.money(t, first)
	gone(t, c, o)
	if n := s.count(t, `SELECT count(*) FROM orders WHERE key = $1 AND status = 'completed'`, contract.Key(ns, "ttl")); n != 1 {
		t.Fatal("the record went with the Order")
	}
	again := newOrder(ns, "ttl").items(item("BULK", 1, "")).build()
	if err := c.Create(ctx, again); err != nil {
		t.Fatal(err)
	}
	got := waitFor(t, c, again, "Completed", phase(v1alpha1.PhaseCompleted))
	if got.Status.PaymentID != first.Status.PaymentID || s.money(t, got) != before {
		t.Fatalf("applied again: %+v, first %+v", got.Status, first.Status)
	}
}

// TestEveryOrderOfANamespaceAppliedAgainMovesNothing deletes every Order
// of a namespace, finished with mixed outcomes, and applies them all again
// from their manifests, as a restore from git does: zero new captures or
// refunds, stock unchanged, every outcome as it was. (The test API server
// runs no namespace controller, so the Orders are deleted, not the
// namespace.)
func TestEveryOrderOfANamespaceAppliedAgainMovesNothing(t *testing.T) {
	c := kube(t)
	s := running(t)
	ns := namespace(t, c)
	ctx := context.Background()
	var placed []*v1alpha1.Order
	for i := range 20 {
		b := newOrder(ns, fmt.Sprintf("restore-%02d", i)).items(item("BULK", int32(1+i%3), ""))
		switch i % 4 {
		case 1:
			b = b.items(item("PROD-003", 1, ""))
		case 2:
			b = b.pay("pm_card_chargeDeclined")
		case 3:
			b = b.cancelled()
		}
		o := b.build()
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
		placed = append(placed, o)
	}
	var first []*v1alpha1.Order
	for _, o := range placed {
		first = append(first, waitFor(t, c, o, "finished", func(o *v1alpha1.Order) bool { return o.Status.Phase.Terminal() && len(o.Finalizers) == 0 }))
	}
	totals := func() money {
		return money{
			captures: s.count(t, `SELECT count(*) FROM payments WHERE kind = 'capture' AND order_key LIKE $1`, ns+"/%"),
			refunds:  s.count(t, `SELECT count(*) FROM payments WHERE kind = 'refund' AND order_key LIKE $1`, ns+"/%"),
			stock:    s.count(t, `SELECT sum(stock)::int FROM products`),
		}
	}
	before := totals()
	for _, o := range first {
		if err := c.Delete(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range first {
		gone(t, c, o)
	}
	for _, o := range placed {
		if err := c.Create(ctx, manifest(o)); err != nil {
			t.Fatal(err)
		}
	}
	for i, o := range placed {
		again := waitFor(t, c, o, "finished", func(o *v1alpha1.Order) bool { return o.Status.Phase.Terminal() })
		sameOutcome(t, first[i], again)
	}
	if after := totals(); after != before {
		t.Fatalf("applied again, the namespace moved money or stock: %+v, was %+v", after, before)
	}
}
