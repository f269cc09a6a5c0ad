package controllers_test

import (
	"context"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	crclient "sigs.k8s.io/controller-runtime/pkg/client"

	"orderflow.io/orderflow/api/v1alpha1"
	"orderflow.io/orderflow/controllers"
	"orderflow.io/orderflow/internal/contract"
	"orderflow.io/orderflow/internal/temporal"
)

func isTrue(o *v1alpha1.Order, typ string) bool {
	return meta.IsStatusConditionTrue(o.Status.Conditions, typ)
}

func TestAnOrderGoesFromPendingToCompletedWithEveryStepVisible(t *testing.T) {
	c := kube(t)
	s := running(t)
	ns := namespace(t, c)
	ctx := context.Background()
	o := newOrder(ns, "order-001").build()

	// Record every phase and step the status shows, through a watch.
	var list v1alpha1.OrderList
	w, err := crclient.NewWithWatch(stackConfig(), crclient.Options{Scheme: c.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	watch, err := w.Watch(ctx, &list, crclient.InNamespace(ns))
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Stop()
	var mu sync.Mutex
	var seen []string
	go func() {
		for ev := range watch.ResultChan() {
			if got, ok := ev.Object.(*v1alpha1.Order); ok {
				mu.Lock()
				seen = append(seen, string(got.Status.Phase)+"/"+string(got.Status.Step))
				mu.Unlock()
			}
		}
	}()

	if err := c.Create(ctx, o); err != nil {
		t.Fatal(err)
	}
	done := waitFor(t, c, o, "Completed", phase(v1alpha1.PhaseCompleted))
	if !isTrue(done, "Ready") || isTrue(done, "Reconciling") || isTrue(done, "Stalled") {
		t.Fatalf("conditions %+v", done.Status.Conditions)
	}
	for _, step := range contract.Steps {
		if !isTrue(done, string(step)) {
			t.Fatalf("step condition %s not True: %+v", step, done.Status.Conditions)
		}
	}
	st := done.Status
	if st.Total != "1299.99" || st.Currency != "USD" || st.PaymentID == "" || st.Step != v1alpha1.StepCustomerNotified ||
		st.Workflow == nil || st.Workflow.ID != contract.WorkflowID(done.Namespace, done.Name) || st.Workflow.RunID == "" ||
		!strings.Contains(st.Workflow.URL, url.PathEscape(st.Workflow.ID)) || st.StartTime == nil || st.CompletionTime == nil ||
		st.ObservedGeneration != done.Generation {
		t.Fatalf("status %+v", st)
	}
	waitFor(t, c, o, "without finalizer", func(o *v1alpha1.Order) bool { return len(o.Finalizers) == 0 })

	time.Sleep(200 * time.Millisecond) // let the watch deliver the last events
	mu.Lock()
	defer mu.Unlock()
	// Changes closer together than one progress may show as one status
	// write (the step conditions above still record each step): the first
	// status waits for the workflow's first progress (FirstStatusWait), so
	// Pending shows only when none came by then. The status never goes
	// backwards.
	if !slices.Contains(seen, "Completed/CustomerNotified") {
		t.Errorf("status never showed Completed/CustomerNotified; saw %v", seen)
	}
	order := []string{"", "Pending/", "Processing/Accepted", "Processing/InventoryReserved", "Processing/PaymentCaptured", "Processing/CustomerNotified", "Completed/CustomerNotified"}
	last := 0
	for _, s := range seen {
		i := slices.Index(order, s)
		if i == 0 || s == "/" {
			continue
		}
		if i < last {
			t.Fatalf("status went backwards: %v", seen)
		}
		last = i
	}
	if n := s.count(t, `SELECT count(*) FROM payments WHERE order_key = $1 AND kind = 'capture'`, contract.Key(done.Namespace, done.Name)); n != 1 {
		t.Fatalf("%d captures", n)
	}
}

func TestFailedOrdersEndWithTheirReasonAndStalled(t *testing.T) {
	c := kube(t)
	running(t)
	ns := namespace(t, c)
	ctx := context.Background()
	cases := map[string]*v1alpha1.Order{
		contract.ReasonOutOfStock:      newOrder(ns, "out-of-stock").items(item("PROD-003", 1, "")).build(),
		contract.ReasonPaymentDeclined: newOrder(ns, "declined").items(item("PROD-002", 1, "")).pay("pm_card_chargeDeclined").build(),
		contract.ReasonPriceChanged:    newOrder(ns, "price-changed").items(item("PROD-001", 1, "999.00")).build(),
		contract.ReasonUnknownProduct:  newOrder(ns, "unknown").items(item("NO-SUCH", 1, "")).build(),
	}
	for _, o := range cases {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	for reason, o := range cases {
		got := waitFor(t, c, o, "Failed", phase(v1alpha1.PhaseFailed))
		if got.Status.Reason != reason || got.Status.Message == "" || !isTrue(got, "Stalled") || isTrue(got, "Ready") {
			t.Errorf("%s: status %+v", o.Name, got.Status)
		}
	}
}

func TestAnOrderCreatedCancelledEndsCancelledWithNoPayment(t *testing.T) {
	c := kube(t)
	s := running(t)
	ns := namespace(t, c)
	o := newOrder(ns, "born-cancelled").cancelled().build()
	if err := c.Create(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	got := waitFor(t, c, o, "Cancelled", phase(v1alpha1.PhaseCancelled))
	if got.Status.PaymentID != "" || !isTrue(got, "Stalled") {
		t.Fatalf("status %+v", got.Status)
	}
	if n := s.count(t, `SELECT count(*) FROM payments WHERE order_key = $1`, contract.Key(got.Namespace, got.Name)); n != 0 {
		t.Fatalf("%d payments for an order cancelled at birth", n)
	}
}

func patchCancel(t *testing.T, c crclient.Client, o *v1alpha1.Order) {
	t.Helper()
	patch := crclient.RawPatch("application/merge-patch+json", []byte(`{"spec":{"cancel":true}}`))
	if err := c.Patch(context.Background(), o, patch); err != nil {
		t.Fatal(err)
	}
}

func TestCancellingARunningOrderRefundsAndReleases(t *testing.T) {
	c := kube(t)
	s := running(t)
	ns := namespace(t, c)
	o := newOrder(ns, "cancel-me").items(item("BULK", 7, "")).pay(slowMethod).build()
	if err := c.Create(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	// The payment takes 1.5 s: cancel while it is in flight.
	waitFor(t, c, o, "InventoryReserved", func(o *v1alpha1.Order) bool { return o.Status.Step == v1alpha1.StepInventoryReserved })
	patchCancel(t, c, o)
	got := waitFor(t, c, o, "Cancelled", phase(v1alpha1.PhaseCancelled))
	key := contract.Key(got.Namespace, got.Name)
	if got.Status.PaymentID == "" || got.Status.RefundID == "" || got.Status.Reason != contract.ReasonCancelled {
		t.Fatalf("status %+v", got.Status)
	}
	if n := s.count(t, `SELECT count(*) FROM payments WHERE order_key = $1 AND kind = 'refund'`, key); n != 1 {
		t.Fatalf("%d refunds", n)
	}
	if n := s.count(t, `SELECT count(*) FROM inventory_reservations WHERE order_key = $1 AND status = 'released'`, key); n != 1 {
		t.Fatalf("%d released reservations", n)
	}
}

func TestCancellingACompletedOrderIsRefusedVisibly(t *testing.T) {
	c := kube(t)
	s := running(t)
	ns := namespace(t, c)
	o := newOrder(ns, "too-late").items(item("BULK", 1, "")).build()
	if err := c.Create(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	// Finished (its finalizer gone), so the manager's cache holds it trimmed
	// until the cancel arrives.
	waitFor(t, c, o, "Completed and released", func(o *v1alpha1.Order) bool {
		return o.Status.Phase == v1alpha1.PhaseCompleted && len(o.Finalizers) == 0
	})
	patchCancel(t, c, o)
	got := waitFor(t, c, o, "CancelRefused", func(o *v1alpha1.Order) bool { return isTrue(o, v1alpha1.ConditionCancelRefused) })
	if got.Status.Phase != v1alpha1.PhaseCompleted || got.Status.ObservedGeneration != got.Generation {
		t.Fatalf("status %+v", got.Status)
	}
	if n := s.count(t, `SELECT count(*) FROM payments WHERE order_key = $1 AND kind = 'refund'`, contract.Key(got.Namespace, got.Name)); n != 0 {
		t.Fatal("a completed order was refunded")
	}
	waitForEvent(t, c, got, v1alpha1.ReasonCancelRefused)
}

func waitForEvent(t *testing.T, c crclient.Client, o *v1alpha1.Order, reason string) {
	t.Helper()
	waitForEventSaying(t, c, o, reason, "")
}

// waitForEventSaying waits for an Event of the Order with reason whose
// message holds text.
func waitForEventSaying(t *testing.T, c crclient.Client, o *v1alpha1.Order, reason, text string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var evs eventsv1.EventList
		if err := c.List(context.Background(), &evs, crclient.InNamespace(o.Namespace)); err != nil {
			t.Fatal(err)
		}
		for _, e := range evs.Items {
			if e.Regarding.UID == o.UID && e.Reason == reason && strings.Contains(e.Note, text) {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no %s Event saying %q for %s", reason, text, o.Name)
}

func TestDeletingARunningOrderCancelsItBeforeItDisappears(t *testing.T) {
	c := kube(t)
	s := running(t)
	ns := namespace(t, c)
	ctx := context.Background()
	o := newOrder(ns, "delete-me").items(item("BULK", 3, "")).pay(slowMethod).build()
	if err := c.Create(ctx, o); err != nil {
		t.Fatal(err)
	}
	got := waitFor(t, c, o, "InventoryReserved", func(o *v1alpha1.Order) bool {
		return o.Status.Step == v1alpha1.StepInventoryReserved && len(o.Finalizers) == 1
	})
	if got.Finalizers[0] != controllers.Finalizer {
		t.Fatalf("finalizers %v", got.Finalizers)
	}
	if err := c.Delete(ctx, got); err != nil {
		t.Fatal(err)
	}
	gone(t, c, o)
	key := contract.Key(got.Namespace, got.Name)
	if st := s.count(t, `SELECT count(*) FROM orders WHERE key = $1 AND status = 'cancelled'`, key); st != 1 {
		t.Fatal("the deleted order is not recorded as cancelled")
	}
	if n := s.count(t, `SELECT count(*) FROM payments WHERE order_key = $1 AND kind = 'refund'`, key); n != 1 {
		t.Fatalf("%d refunds for a deleted order that was charged", n)
	}
	if n := s.count(t, `SELECT count(*) FROM inventory_reservations WHERE order_key = $1 AND status = 'held'`, key); n != 0 {
		t.Fatal("the deleted order still holds stock")
	}
}

func TestDeletingAFinishedOrderIsImmediateAndKeepsItsRecords(t *testing.T) {
	c := kube(t)
	s := running(t)
	ns := namespace(t, c)
	o := newOrder(ns, "finished").items(item("BULK", 1, "")).build()
	if err := c.Create(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	got := waitFor(t, c, o, "Completed without finalizer", func(o *v1alpha1.Order) bool {
		return o.Status.Phase == v1alpha1.PhaseCompleted && len(o.Finalizers) == 0
	})
	if err := c.Delete(context.Background(), got); err != nil {
		t.Fatal(err)
	}
	gone(t, c, o)
	if n := s.count(t, `SELECT count(*) FROM orders WHERE key = $1 AND status = 'completed'`, contract.Key(got.Namespace, got.Name)); n != 1 {
		t.Fatal("the order's record is gone")
	}
}

func TestRestartingTheManagerMidFlightFinishesEveryOrderExactlyOnce(t *testing.T) {
	c := kube(t)
	s := running(t)
	ns := namespace(t, c)
	ctx := context.Background()
	var orders []*v1alpha1.Order
	for i := 0; i < 20; i++ {
		o := newOrder(ns, "restart-"+string(rune('a'+i))).items(item("BULK", 1, "")).pay(slowMethod).build()
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
		orders = append(orders, o)
	}
	waitFor(t, c, orders[0], "Processing", phase(v1alpha1.PhaseProcessing))
	if err := s.restartManager(); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range orders {
		got := waitFor(t, c, o, "Completed", phase(v1alpha1.PhaseCompleted))
		keys = append(keys, contract.Key(got.Namespace, got.Name))
	}
	if n := s.count(t, `SELECT count(*) FROM payments WHERE kind = 'capture' AND order_key = ANY($1)`, keys); n != len(orders) {
		t.Fatalf("%d captures for %d orders", n, len(orders))
	}
	for _, o := range orders {
		resp, err := s.tc.ListWorkflow(ctx, listRuns(contract.WorkflowID(o.Namespace, o.Name)))
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.GetExecutions()) != 1 {
			t.Fatalf("order %s has %d workflow runs", o.Name, len(resp.GetExecutions()))
		}
	}
}

func TestStartingAWorkflowThatAlreadyEndedAttachesToItAndSaysItEnded(t *testing.T) {
	s := running(t)
	ctx := context.Background()
	wf := &temporal.OrderWorkflows{Client: s.tc, Namespace: "default"}
	// Placed cancelled, it ends at once without touching anything.
	in := contract.OrderInput{UID: "closed-start-" + strconv.FormatInt(time.Now().UnixNano(), 36), Namespace: "shop", Name: "o",
		CustomerID: "C", Items: []contract.Item{{ProductID: "BULK", Quantity: 1}}, Cancel: true}
	first, closed, err := wf.Start(ctx, in)
	if err != nil || closed {
		t.Fatalf("first start: run %q, closed %v, %v", first, closed, err)
	}
	if err := s.tc.GetWorkflow(ctx, in.WorkflowID(), first).Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	again, closed, err := wf.Start(ctx, in)
	if err != nil || !closed || again != first {
		t.Fatalf("second start: run %q (first %q), closed %v, %v", again, first, closed, err)
	}
}

func TestATerminatedWorkflowShowsAsFailedWellBeforeTheResync(t *testing.T) {
	c := kube(t)
	s := running(t)
	ns := namespace(t, c)
	o := newOrder(ns, "terminated").items(item("BULK", 1, "")).pay(slowMethod).build()
	if err := c.Create(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	// Reserved, and the slow charge in flight.
	got := waitFor(t, c, o, "InventoryReserved", func(o *v1alpha1.Order) bool { return o.Status.Step == v1alpha1.StepInventoryReserved })
	if err := s.tc.TerminateWorkflow(context.Background(), got.Status.Workflow.ID, "", "operator says stop"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	got = waitFor(t, c, o, "Failed", phase(v1alpha1.PhaseFailed))
	// No last progress is published by a terminated workflow: its history's
	// close event must show it, not the one-minute resync.
	if waited := time.Since(start); waited > 15*time.Second {
		t.Fatalf("the terminated workflow showed after %s", waited)
	}
	if got.Status.Reason != contract.ReasonWorkflowFailed || !isTrue(got, v1alpha1.ConditionStalled) {
		t.Fatalf("status %+v", got.Status)
	}
}

// TestTheFinalizerIsOnFromCreation: the admission policy puts the finalizer
// on as the Order is created, so the controller needs no write to add it.
func TestTheFinalizerIsOnFromCreation(t *testing.T) {
	c := kube(t)
	ns := namespace(t, c)
	o := newOrder(ns, "finalized").items(item("BULK", 1, "")).build()
	if err := c.Create(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(o.Finalizers, controllers.Finalizer) {
		t.Fatalf("created with finalizers %v; want %s from the admission policy", o.Finalizers, controllers.Finalizer)
	}
}
