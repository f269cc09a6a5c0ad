package controllers

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"orderflow.io/orderflow/api/v1alpha1"
	"orderflow.io/orderflow/internal/contract"
	"orderflow.io/orderflow/internal/temporal"
)

// scriptedWorkflows answers as a test tells it to and records what it was
// asked, in order.
type scriptedWorkflows struct {
	startClosed bool
	startErr    error
	cancelErr   error
	describe    temporal.Snapshot
	describeErr error
	// refund answers Refund; refundDone says it ended.
	refund     contract.RefundResult
	refundDone bool
	// amend answers Amend; amendDone says it was decided.
	amend     contract.AmendResult
	amendDone bool
	amendErr  error
	calls     []string
	// ids are the workflow ids Cancel and Describe were asked about.
	ids []string
}

func (w *scriptedWorkflows) Start(context.Context, contract.OrderInput) (string, bool, error) {
	w.calls = append(w.calls, "Start")
	if w.startErr != nil {
		return "", false, w.startErr
	}
	return "run-1", w.startClosed, nil
}

func (w *scriptedWorkflows) Cancel(_ context.Context, id, _ string) error {
	w.calls, w.ids = append(w.calls, "Cancel"), append(w.ids, id)
	return w.cancelErr
}

func (w *scriptedWorkflows) Describe(_ context.Context, id string) (temporal.Snapshot, error) {
	w.calls, w.ids = append(w.calls, "Describe"), append(w.ids, id)
	return w.describe, w.describeErr
}

func (w *scriptedWorkflows) URL(string, string) string { return "" }

func (w *scriptedWorkflows) Amend(_ context.Context, id string, req contract.AmendRequest, _ time.Duration) (contract.AmendResult, bool, error) {
	w.calls, w.ids = append(w.calls, "Amend"), append(w.ids, id+"#"+contract.AmendUpdateID(req.Generation))
	return w.amend, w.amendDone, w.amendErr
}

func (w *scriptedWorkflows) Refund(_ context.Context, in contract.RefundInput, _ time.Duration) (contract.RefundResult, bool, error) {
	w.calls, w.ids = append(w.calls, "Refund"), append(w.ids, contract.RefundWorkflowID(in.Namespace, in.Name, in.ID))
	return w.refund, w.refundDone, nil
}

// TestReconcileBranches drives one reconcile of an Order through each of
// the reconciler's branches against a fake API server and a scripted
// Temporal, and checks what it asked of Temporal, the Order it left and the
// Events it recorded.
func TestReconcileBranches(t *testing.T) {
	unreachable := errors.New("dial tcp 127.0.0.1:7233: connection refused")
	running := func(p v1alpha1.OrderPhase) v1alpha1.OrderStatus {
		return v1alpha1.OrderStatus{Phase: p, ObservedGeneration: 1,
			Workflow: &v1alpha1.WorkflowRef{ID: contract.WorkflowID("shop", "o1"), RunID: "run-1"}}
	}
	progress := func(p v1alpha1.OrderPhase, closed bool) temporal.Snapshot {
		s := temporal.Snapshot{RunID: "run-1", Closed: closed, Fetched: time.Now(),
			Progress: contract.Progress{Seq: 5, Namespace: "shop", Name: "o1", Phase: contract.Phase(p), Total: "1299.99", Currency: "USD"}}
		if closed {
			s.CloseStatus = "Completed"
		}
		return s
	}
	for _, tc := range []struct {
		name      string
		order     *v1alpha1.Order
		wf        scriptedWorkflows
		wantErr   bool
		wantCalls []string
		// wantPhase "" with wantGone: the Order was deleted.
		wantPhase     v1alpha1.OrderPhase
		wantFinalizer bool
		wantGone      bool
		wantEvent     string
		wantRequeue   bool
		// wantRefund is the state status.refunds shows for the first refund.
		wantRefund v1alpha1.RefundState
	}{
		{
			name:      "a new Order starts its workflow and is held by the finalizer",
			order:     newOrder().build(),
			wantCalls: []string{"Start"}, wantPhase: v1alpha1.PhasePending, wantFinalizer: true,
			wantRequeue: true,
		},
		{
			name:      "Temporal unreachable at start: an error to retry and a Warning, no workflow recorded",
			order:     newOrder().build(),
			wf:        scriptedWorkflows{startErr: unreachable},
			wantErr:   true,
			wantCalls: []string{"Start"}, wantPhase: "", wantFinalizer: true,
			wantEvent: "Warning " + v1alpha1.ReasonTemporalError,
		},
		{
			name:      "a start that finds its workflow already ended attaches to that run and shows its end",
			order:     newOrder().build(),
			wf:        scriptedWorkflows{startClosed: true, describe: progress(v1alpha1.PhaseCompleted, true)},
			wantCalls: []string{"Start", "Describe"}, wantPhase: v1alpha1.PhaseCompleted, wantFinalizer: false,
			wantEvent: "Normal " + v1alpha1.ReasonReattached,
		},
		{
			name:      "spec.cancel is passed on to a running workflow",
			order:     newOrder().cancelled().withStatus(running(v1alpha1.PhaseProcessing)).build(),
			wf:        scriptedWorkflows{describe: progress(v1alpha1.PhaseProcessing, false)},
			wantCalls: []string{"Describe", "Cancel"}, wantPhase: v1alpha1.PhaseProcessing, wantFinalizer: true,
			wantRequeue: true,
		},
		{
			name:      "spec.cancel is not passed on again once the workflow is cancelling",
			order:     newOrder().cancelled().withStatus(running(v1alpha1.PhaseProcessing)).build(),
			wf:        scriptedWorkflows{describe: progress(v1alpha1.PhaseCancelling, false)},
			wantCalls: []string{"Describe"}, wantPhase: v1alpha1.PhaseCancelling, wantFinalizer: true,
			wantRequeue: true,
		},
		{
			name:      "Temporal unreachable when passing a cancel on: an error to retry and a Warning",
			order:     newOrder().cancelled().withStatus(running(v1alpha1.PhaseProcessing)).build(),
			wf:        scriptedWorkflows{describe: progress(v1alpha1.PhaseProcessing, false), cancelErr: unreachable},
			wantErr:   true,
			wantCalls: []string{"Describe", "Cancel"}, wantPhase: v1alpha1.PhaseProcessing, wantFinalizer: true,
			wantEvent: "Warning " + v1alpha1.ReasonTemporalError,
		},
		{
			name:      "a workflow of the same name with another spec is another order's: NameReused, and it is not cancelled",
			order:     newOrder().cancelled().withStatus(running(v1alpha1.PhasePending)).build(),
			wf:        scriptedWorkflows{describe: otherOrder(progress(v1alpha1.PhaseProcessing, false))},
			wantCalls: []string{"Describe"}, wantPhase: v1alpha1.PhaseFailed, wantFinalizer: false,
			wantEvent: "Warning " + contract.ReasonNameReused,
		},
		{
			name:      "deleting a running Order with deletionPolicy Orphan lets it go at once and leaves the workflow alone",
			order:     deleted(orphan(newOrder().withStatus(running(v1alpha1.PhaseProcessing)).build())),
			wantCalls: nil, wantGone: true,
		},
		{
			name:      "a terminal Order lets go of its finalizer and asks Temporal nothing",
			order:     newOrder().withStatus(v1alpha1.OrderStatus{Phase: v1alpha1.PhaseCompleted, ObservedGeneration: 1}).build(),
			wantCalls: nil, wantPhase: v1alpha1.PhaseCompleted, wantFinalizer: false,
		},
		{
			name:      "a finished Order whose TTL has passed is deleted",
			order:     ttl(newOrder().withStatus(finishedAt(t0)).build(), 60),
			wantCalls: nil, wantGone: true,
		},
		{
			name:      "a finished Order whose TTL has not passed comes back when it will have",
			order:     ttl(newOrder().withStatus(finishedAt(t0)).build(), 31536000),
			wantCalls: nil, wantPhase: v1alpha1.PhaseCompleted, wantRequeue: true,
		},
		{
			name:      "a refund appended to a Completed Order is made by its refund workflow and shown",
			order:     refunding(newOrder().withStatus(finishedAt(t0)).build()),
			wf:        scriptedWorkflows{refundDone: true, refund: contract.RefundResult{State: contract.RefundRefunded, Amount: "10.00", ProviderID: "re_1", Time: t0}},
			wantCalls: []string{"Refund"}, wantPhase: v1alpha1.PhaseCompleted, wantRefund: v1alpha1.RefundRefunded,
			wantEvent: "Normal " + v1alpha1.ReasonRefunded,
		},
		{
			name:      "a refund still being made shows Pending and brings the Order back",
			order:     refunding(newOrder().withStatus(finishedAt(t0)).build()),
			wantCalls: []string{"Refund"}, wantPhase: v1alpha1.PhaseCompleted, wantRefund: v1alpha1.RefundPending,
			wantRequeue: true,
		},
		{
			name:      "a refund its workflow refused is shown Refused with a Warning",
			order:     refunding(newOrder().withStatus(finishedAt(t0)).build()),
			wf:        scriptedWorkflows{refundDone: true, refund: contract.RefundResult{State: contract.RefundRefused, Amount: "10.00", Message: "it would exceed what is left", Time: t0}},
			wantCalls: []string{"Refund"}, wantPhase: v1alpha1.PhaseCompleted, wantRefund: v1alpha1.RefundRefused,
			wantEvent: "Warning " + v1alpha1.ReasonRefundRefused,
		},
		{
			name: "a refund of a Cancelled Order is refused without asking Temporal",
			order: refunding(newOrder().withStatus(v1alpha1.OrderStatus{Phase: v1alpha1.PhaseCancelled, ObservedGeneration: 1,
				CompletionTime: &metav1.Time{Time: t0}}).build()),
			wantCalls: nil, wantPhase: v1alpha1.PhaseCancelled, wantRefund: v1alpha1.RefundRefused,
			wantEvent: "Warning " + v1alpha1.ReasonRefundRefused,
		},
		{
			name: "a refund shown Refunded is not asked for again",
			order: refunding(newOrder().withStatus(v1alpha1.OrderStatus{Phase: v1alpha1.PhaseCompleted, ObservedGeneration: 1, CompletionTime: &metav1.Time{Time: t0},
				Refunds: []v1alpha1.RefundStatus{{ID: "r1", State: v1alpha1.RefundRefunded, Amount: "10.00"}}}).build()),
			wantCalls: nil, wantPhase: v1alpha1.PhaseCompleted, wantRefund: v1alpha1.RefundRefunded,
		},
		{
			name:      "a completed Order's parcel is read once and shown; it comes back while the parcel is on its way, its TTL waiting",
			order:     ttl(newOrder().withStatus(shippingSince(t0)).build(), 60),
			wf:        scriptedWorkflows{describe: parcel(progress(v1alpha1.PhaseCompleted, false), contract.ShipmentShipped)},
			wantCalls: []string{"Describe"}, wantPhase: v1alpha1.PhaseCompleted, wantRequeue: true,
		},
		{
			name:      "a delivered parcel is shown with an Event, and then the Order's TTL runs",
			order:     ttl(newOrder().withStatus(shippingSince(t0)).build(), 60),
			wf:        scriptedWorkflows{describe: parcel(progress(v1alpha1.PhaseCompleted, true), contract.ShipmentDelivered)},
			wantCalls: []string{"Describe"}, wantGone: true,
			wantEvent: "Normal " + v1alpha1.ReasonDelivered,
		},
		{
			name:      "a lost parcel is shown with a Warning",
			order:     newOrder().withStatus(shippingSince(t0)).build(),
			wf:        scriptedWorkflows{describe: parcel(progress(v1alpha1.PhaseCompleted, true), contract.ShipmentLost)},
			wantCalls: []string{"Describe"}, wantPhase: v1alpha1.PhaseCompleted,
			wantEvent: "Warning " + v1alpha1.ReasonParcelLost,
		},
		{
			name:      "deleting a running Order cancels its workflow and holds the Order until it has unwound",
			order:     deleted(newOrder().withStatus(running(v1alpha1.PhaseProcessing)).build()),
			wf:        scriptedWorkflows{describe: progress(v1alpha1.PhaseCancelling, false)},
			wantCalls: []string{"Cancel", "Describe"}, wantPhase: v1alpha1.PhaseCancelling, wantFinalizer: true,
			wantRequeue: true,
		},
		{
			name:      "deleting an Order whose workflow never started lets it go at once",
			order:     deleted(newOrder().withStatus(running(v1alpha1.PhasePending)).build()),
			wf:        scriptedWorkflows{cancelErr: temporal.ErrNotFound},
			wantCalls: []string{"Cancel"}, wantGone: true,
		},
		{
			name:      "deleting while Temporal is unreachable keeps the finalizer and warns",
			order:     deleted(newOrder().withStatus(running(v1alpha1.PhaseProcessing)).build()),
			wf:        scriptedWorkflows{cancelErr: unreachable},
			wantErr:   true,
			wantCalls: []string{"Cancel"}, wantPhase: v1alpha1.PhaseProcessing, wantFinalizer: true,
			wantEvent: "Warning " + v1alpha1.ReasonTemporalError,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.order
			o.UID = "uid-1"
			if !o.DeletionTimestamp.IsZero() || o.Status.Phase.Terminal() || o.Status.Workflow != nil {
				controllerutil.AddFinalizer(o, Finalizer)
			}
			c := fake.NewClientBuilder().WithScheme(v1alpha1.NewScheme()).WithObjects(o).WithStatusSubresource(&v1alpha1.Order{}).Build()
			rec := events.NewFakeRecorder(20)
			wf := tc.wf
			r := &OrderReconciler{Client: c, Recorder: rec, Workflows: &wf, Progress: temporal.NewProgressCache(), Resync: time.Minute}

			res, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(o)})
			if (err != nil) != tc.wantErr {
				t.Fatalf("Reconcile error = %v, want error: %v", err, tc.wantErr)
			}
			if !slices.Equal(wf.calls, tc.wantCalls) {
				t.Errorf("asked Temporal %v, want %v", wf.calls, tc.wantCalls)
			}
			if got := res.RequeueAfter > 0; got != tc.wantRequeue {
				t.Errorf("requeue after %s, want a requeue: %v", res.RequeueAfter, tc.wantRequeue)
			}
			got := &v1alpha1.Order{}
			err = c.Get(context.Background(), types.NamespacedName{Namespace: o.Namespace, Name: o.Name}, got)
			if tc.wantGone {
				if !apierrors.IsNotFound(err) {
					t.Fatalf("the Order is still there (%v): finalizers %v", err, got.Finalizers)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				if got.Status.Phase != tc.wantPhase {
					t.Errorf("phase %q, want %q", got.Status.Phase, tc.wantPhase)
				}
				if has := controllerutil.ContainsFinalizer(got, Finalizer); has != tc.wantFinalizer {
					t.Errorf("finalizer held: %v, want %v", has, tc.wantFinalizer)
				}
				if tc.wantRefund != "" && (len(got.Status.Refunds) != 1 || got.Status.Refunds[0].State != tc.wantRefund) {
					t.Errorf("status.refunds %+v, want one %s", got.Status.Refunds, tc.wantRefund)
				}
			}
			var recorded []string
			for len(rec.Events) > 0 {
				recorded = append(recorded, <-rec.Events)
			}
			if tc.wantEvent == "" && len(recorded) > 0 {
				t.Errorf("events %q, want none: a person needs no Event for this", recorded)
			}
			if tc.wantEvent != "" && !slices.ContainsFunc(recorded, func(e string) bool { return strings.HasPrefix(e, tc.wantEvent+" ") }) {
				t.Errorf("events %q, want one starting %q", recorded, tc.wantEvent)
			}
		})
	}
}

// otherOrder makes a snapshot report on an order with another spec.
func otherOrder(s temporal.Snapshot) temporal.Snapshot {
	s.Progress.Fingerprint = "v1:another"
	return s
}

// ttl sets ttlSecondsAfterFinished.
func ttl(o *v1alpha1.Order, seconds int32) *v1alpha1.Order {
	o.Spec.TTLSecondsAfterFinished = &seconds
	return o
}

// finishedAt is the status of an Order that completed at t.
func finishedAt(t time.Time) v1alpha1.OrderStatus {
	return v1alpha1.OrderStatus{Phase: v1alpha1.PhaseCompleted, ObservedGeneration: 1, CompletionTime: &metav1.Time{Time: t}}
}

// shippingSince is the status of an Order that completed at t with its
// parcel booked.
func shippingSince(t time.Time) v1alpha1.OrderStatus {
	st := finishedAt(t)
	st.Fulfillment = &v1alpha1.FulfillmentStatus{Carrier: "sandbox", State: v1alpha1.ShipmentState(contract.ShipmentBooked)}
	return st
}

// parcel makes a snapshot report a parcel in state (a final one ends it).
func parcel(s temporal.Snapshot, state string) temporal.Snapshot {
	booked, at := t0, t0.Add(time.Hour)
	s.Progress.Fulfillment = &contract.Fulfillment{Carrier: "sandbox", ShipmentID: "ship-shop/o1", State: state, BookedTime: &booked,
		ShippedTime: &at, TrackingNumber: "T1", Ended: contract.ShipmentFinal(state), Message: "gone"}
	if state == contract.ShipmentDelivered {
		s.Progress.Fulfillment.DeliveredTime = &at
	}
	return s
}

// refunding appends a refund of 10.00 (r1) to spec.refunds.
func refunding(o *v1alpha1.Order) *v1alpha1.Order {
	o.Spec.Refunds = append(o.Spec.Refunds, v1alpha1.RefundRequest{ID: "r1", Amount: "10.00", Reason: "damaged"})
	return o
}

// orphan sets deletionPolicy Orphan.
func orphan(o *v1alpha1.Order) *v1alpha1.Order {
	o.Spec.DeletionPolicy = v1alpha1.DeletionOrphan
	return o
}

// deleted marks an Order as being deleted.
func deleted(o *v1alpha1.Order) *v1alpha1.Order {
	o.DeletionTimestamp = &metav1.Time{Time: t0}
	return o
}

// TestAnOrderPlacedUnderItsUIDKeepsItsWorkflow reconciles an Order whose
// status names a workflow from before identity by name (order-<uid>): the
// reconciler reads, cancels and deletes through that workflow, never the
// one its name would give.
func TestAnOrderPlacedUnderItsUIDKeepsItsWorkflow(t *testing.T) {
	o := newOrder().cancelled().withStatus(v1alpha1.OrderStatus{Phase: v1alpha1.PhaseProcessing, ObservedGeneration: 1,
		Workflow: &v1alpha1.WorkflowRef{ID: "order-uid-1", RunID: "run-1"}}).build()
	o.UID = "uid-1"
	controllerutil.AddFinalizer(o, Finalizer)
	c := fake.NewClientBuilder().WithScheme(v1alpha1.NewScheme()).WithObjects(o).WithStatusSubresource(&v1alpha1.Order{}).Build()
	wf := &scriptedWorkflows{describe: temporal.Snapshot{RunID: "run-1", Fetched: time.Now(),
		Progress: contract.Progress{Seq: 3, Phase: contract.PhaseProcessing}}}
	r := &OrderReconciler{Client: c, Recorder: events.NewFakeRecorder(20), Workflows: wf, Progress: temporal.NewProgressCache(), Resync: time.Minute}
	if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(o)}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(wf.ids, []string{"order-uid-1", "order-uid-1"}) {
		t.Fatalf("asked Temporal about %v", wf.ids)
	}
}

// TestTheFirstStatusWaitsForTheFirstProgress: a new order's first status
// write waits (FirstStatusWait) for its workflow's first progress and goes
// out with it, one write where there were two, without starting the
// workflow again; with no progress by then, Pending with the workflow's
// link is written.
func TestTheFirstStatusWaitsForTheFirstProgress(t *testing.T) {
	for _, progressArrives := range []bool{true, false} {
		o := newOrder().build()
		o.UID = "uid-1"
		controllerutil.AddFinalizer(o, Finalizer)
		c := fake.NewClientBuilder().WithScheme(v1alpha1.NewScheme()).WithObjects(o).WithStatusSubresource(&v1alpha1.Order{}).Build()
		writes := 0
		counting := interceptStatusWrites(c, &writes)
		wf := &scriptedWorkflows{describeErr: temporal.ErrNotFound}
		now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
		started := now
		r := &OrderReconciler{Client: counting, Recorder: events.NewFakeRecorder(20), Workflows: wf, Progress: temporal.NewProgressCache(),
			Resync: time.Minute, FirstStatusWait: 300 * time.Millisecond, Now: func() time.Time { return now }}
		req := ctrl.Request{NamespacedName: client.ObjectKeyFromObject(o)}
		res, err := r.Reconcile(context.Background(), req)
		if err != nil || res.RequeueAfter != 300*time.Millisecond || writes != 0 {
			t.Fatalf("first reconcile: %+v, %v, %d status writes; want a requeue after the wait and no write yet", res, err, writes)
		}
		now = now.Add(100 * time.Millisecond)
		if progressArrives {
			r.Progress.Put(contract.WorkflowID("shop", "o1"), temporal.Snapshot{RunID: "run-1", Fetched: now,
				Progress: contract.Progress{Seq: 2, Namespace: "shop", Name: "o1", Phase: contract.PhaseProcessing, Step: contract.StepInventoryReserved,
					Total: "1299.99", Currency: "USD", Steps: []contract.StepRecord{{Step: contract.StepAccepted, Time: now}, {Step: contract.StepInventoryReserved, Time: now}}}})
		} else {
			now = now.Add(300 * time.Millisecond)
		}
		if _, err := r.Reconcile(context.Background(), req); err != nil {
			t.Fatal(err)
		}
		got := &v1alpha1.Order{}
		if err := c.Get(context.Background(), req.NamespacedName, got); err != nil {
			t.Fatal(err)
		}
		wantPhase := v1alpha1.PhaseProcessing
		if !progressArrives {
			wantPhase = v1alpha1.PhasePending
		}
		if writes != 1 || got.Status.Phase != wantPhase || got.Status.Workflow == nil || got.Status.Workflow.RunID != "run-1" {
			t.Errorf("progress arrives %v: %d status writes, phase %q, workflow %+v; want one write, %s, naming run-1",
				progressArrives, writes, got.Status.Phase, got.Status.Workflow, wantPhase)
		}
		if got.Status.StartTime == nil || !got.Status.StartTime.Time.Equal(started) {
			t.Errorf("progress arrives %v: startTime %v, want when the workflow was started (%v)", progressArrives, got.Status.StartTime, started)
		}
		if n := slices.Index(wf.calls, "Start"); n != 0 || slices.Index(wf.calls[1:], "Start") >= 0 {
			t.Errorf("progress arrives %v: asked Temporal %v: want the workflow started once", progressArrives, wf.calls)
		}
	}
}

// interceptStatusWrites counts the status writes made through c.
func interceptStatusWrites(c client.WithWatch, n *int) client.Client {
	return interceptor.NewClient(c, interceptor.Funcs{
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			*n++
			return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
		},
	})
}
