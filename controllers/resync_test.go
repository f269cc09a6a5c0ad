package controllers

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"orderflow.io/orderflow/api/v1alpha1"
	"orderflow.io/orderflow/internal/contract"
	"orderflow.io/orderflow/internal/temporal"
)

// countingWorkflows is a Temporal whose workflows all run and never change;
// it counts the reads and cancels it is asked for.
type countingWorkflows struct {
	mu                 sync.Mutex
	describes, cancels int
}

func (w *countingWorkflows) Start(context.Context, contract.OrderInput) (string, bool, error) {
	return "run", false, nil
}

func (w *countingWorkflows) Cancel(context.Context, string, string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.cancels++
	return nil
}

func (w *countingWorkflows) Describe(context.Context, string) (temporal.Snapshot, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.describes++
	return temporal.Snapshot{RunID: "run", Fetched: time.Now(), Progress: contract.Progress{Phase: contract.PhaseProcessing, Step: contract.StepInventoryReserved}}, nil
}

func (w *countingWorkflows) URL(string, string) string { return "" }

func (w *countingWorkflows) Amend(context.Context, string, contract.AmendRequest, time.Duration) (contract.AmendResult, bool, error) {
	return contract.AmendResult{}, false, nil
}

func (w *countingWorkflows) Refund(context.Context, contract.RefundInput, time.Duration) (contract.RefundResult, bool, error) {
	return contract.RefundResult{}, false, nil
}

// TestTheSafetyNetReadsNoMoreWorkflowsThanItMay resyncs 50 running Orders
// the watcher has said nothing about: with 5 reads allowed, 5 are read, the
// rest keep their status and come back at the next resync. A cancel is
// read and passed on all the same.
func TestTheSafetyNetReadsNoMoreWorkflowsThanItMay(t *testing.T) {
	var objs []client.Object
	for i := range 51 {
		o := newOrder().build()
		o.Name, o.UID = fmt.Sprintf("o%02d", i), types.UID(fmt.Sprintf("uid-%02d", i))
		o.Finalizers = []string{Finalizer}
		o.Status = v1alpha1.OrderStatus{Phase: v1alpha1.PhasePending, ObservedGeneration: o.Generation,
			Workflow: &v1alpha1.WorkflowRef{ID: contract.WorkflowID(o.Namespace, o.Name), RunID: "run"}}
		if i == 50 {
			o.Spec.Cancel = true
		}
		objs = append(objs, o)
	}
	c := fake.NewClientBuilder().WithScheme(v1alpha1.NewScheme()).WithObjects(objs...).WithStatusSubresource(&v1alpha1.Order{}).Build()
	wf := &countingWorkflows{}
	r := &OrderReconciler{Client: c, Recorder: events.NewFakeRecorder(1000), Workflows: wf, Progress: temporal.NewProgressCache(),
		Resync: time.Minute, ResyncReads: rate.NewLimiter(rate.Every(time.Hour), 5)}
	for _, o := range objs {
		res, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(o)})
		if err != nil {
			t.Fatal(err)
		}
		if res.RequeueAfter < time.Minute || res.RequeueAfter > 90*time.Second {
			t.Fatalf("%s: requeued after %s", o.GetName(), res.RequeueAfter)
		}
	}
	if wf.describes != 6 || wf.cancels != 1 {
		t.Fatalf("%d workflow reads and %d cancels; want 5 + 1 for the cancel, and 1", wf.describes, wf.cancels)
	}
	var read, kept int
	for _, o := range objs {
		got := &v1alpha1.Order{}
		if err := c.Get(context.Background(), client.ObjectKeyFromObject(o), got); err != nil {
			t.Fatal(err)
		}
		switch got.Status.Phase {
		case v1alpha1.PhaseProcessing:
			read++
		case v1alpha1.PhasePending:
			kept++
		}
	}
	if read != 6 || kept != 45 {
		t.Fatalf("%d Orders updated from a read, %d kept as they were", read, kept)
	}
}
