package controllers

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	"orderflow.io/orderflow/api/v1alpha1"
	"orderflow.io/orderflow/internal/contract"
)

// kstatusOf is what Flux, Argo CD and Helm's --wait read of the Order.
func kstatusOf(t *testing.T, o *v1alpha1.Order) status.Status {
	t.Helper()
	o = o.DeepCopy()
	o.APIVersion, o.Kind = v1alpha1.GroupVersion.String(), "Order"
	raw, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
	if err != nil {
		t.Fatal(err)
	}
	res, err := status.Compute(&unstructured.Unstructured{Object: raw})
	if err != nil {
		t.Fatal(err)
	}
	return res.Status
}

// edit changes the Order's items as `kubectl edit` would: a new generation.
func edit(o *v1alpha1.Order, items ...v1alpha1.OrderItem) {
	o.Spec.Items = items
	o.Generation++
}

// TestARefusedChangeReadsFailedUntilTheSpecIsPutBack follows an Order
// through a change made after its payment: the status says it was refused
// (Amended False, TooLate; Stalled True), kstatus reads Failed, so a
// GitOps tool shows it; putting the spec back makes the Order Current
// again, with Amended saying Reverted.
func TestARefusedChangeReadsFailedUntilTheSpecIsPutBack(t *testing.T) {
	ref := &v1alpha1.WorkflowRef{ID: "order/shop/o1", RunID: "run-1"}
	o := newOrder().build()
	o.UID = "uid-1"
	placed := OrderInput(o)
	done := contract.Progress{Seq: 2, Phase: contract.PhaseCompleted, Step: contract.StepCustomerNotified, Steps: steps(4),
		Total: "10.00", Currency: "USD", Fingerprint: placed.Fingerprint, OrderUID: "uid-1", Items: placed.Items}
	o.Status = desiredStatus(o, ref, snap(done), now)
	if got := kstatusOf(t, o); got != status.CurrentStatus {
		t.Fatalf("completed: kstatus %s", got)
	}
	if c := cond(o.Status, v1alpha1.ConditionAmended); c != nil {
		t.Fatalf("never changed, yet %+v", c)
	}

	original := o.Spec.Items
	edit(o, v1alpha1.OrderItem{ProductID: "PROD-001", Quantity: 3})
	if reused(o, snap(done)) {
		t.Fatal("a change of the Order's own spec was taken for another order")
	}
	o.Status = desiredStatus(o, nil, snap(done), now)
	c := cond(o.Status, v1alpha1.ConditionAmended)
	if c == nil || c.Status != "False" || c.Reason != contract.ReasonTooLate {
		t.Fatalf("Amended %+v; want False TooLate", c)
	}
	if s := cond(o.Status, v1alpha1.ConditionStalled); s.Status != "True" || s.Reason != contract.ReasonTooLate {
		t.Fatalf("Stalled %+v; want True TooLate", s)
	}
	if o.Status.Phase != v1alpha1.PhaseCompleted || o.Status.ObservedGeneration != 2 || o.Status.Total != "10.00" {
		t.Fatalf("status %+v", o.Status)
	}
	if got := kstatusOf(t, o); got != status.FailedStatus {
		t.Fatalf("refused change: kstatus %s; want Failed", got)
	}
	// Written once: the next reconcile finds nothing to change.
	if again := desiredStatus(o, nil, snap(done), now); !equalStatus(o.Status, again) {
		t.Fatal("the refused change's status is not stable")
	}

	edit(o, original...)
	o.Status = desiredStatus(o, nil, snap(done), now)
	if c := cond(o.Status, v1alpha1.ConditionAmended); c.Reason != v1alpha1.ReasonReverted {
		t.Fatalf("Amended %+v; want Reverted", c)
	}
	if got := kstatusOf(t, o); got != status.CurrentStatus {
		t.Fatalf("put back: kstatus %s; want Current", got)
	}
}

// TestAnAnsweredChangeIsShown covers the answers a running order gives:
// accepted (new total and items, Amended True, no stall) and refused by
// the workflow (Amended False with its reason, Stalled True while the order
// goes on; kstatus InProgress until it ends, then Failed).
func TestAnAnsweredChangeIsShown(t *testing.T) {
	o := newOrder().build()
	o.UID = "uid-1"
	placed := OrderInput(o)
	running := contract.Progress{Seq: 1, Phase: contract.PhaseProcessing, Step: contract.StepInventoryReserved, Steps: steps(2),
		Total: "10.00", Currency: "USD", Fingerprint: placed.Fingerprint, OrderUID: "uid-1", Items: placed.Items}
	o.Status = desiredStatus(o, &v1alpha1.WorkflowRef{ID: "order/shop/o1", RunID: "run-1"}, snap(running), now)

	edit(o, v1alpha1.OrderItem{ProductID: "PROD-002", Quantity: 2})
	pending := desiredStatus(o, nil, snap(running), now)
	if c := cond(pending, v1alpha1.ConditionAmended); c.Reason != v1alpha1.ReasonAmending {
		t.Fatalf("before the answer: %+v", c)
	}

	accepted := running
	accepted.Seq, accepted.Total, accepted.Fingerprint = 2, "30.00", Fingerprint(o.Spec)
	accepted.Items = []contract.Item{{ProductID: "PROD-002", Quantity: 2}}
	accepted.Amendment = &contract.AmendResult{Generation: 2, Accepted: true, Reason: contract.ReasonAmended, Message: "the order runs with the changed items (PROD-002×2)", Total: "30.00"}
	st := desiredStatus(o, nil, snap(accepted), now)
	if c := cond(st, v1alpha1.ConditionAmended); c.Status != "True" || st.Total != "30.00" || len(st.Items) != 1 || st.Items[0].ProductID != "PROD-002" {
		t.Fatalf("accepted: Amended %+v, total %s, items %+v", c, st.Total, st.Items)
	}
	if s := cond(st, v1alpha1.ConditionStalled); s.Status != "False" {
		t.Fatalf("accepted, yet Stalled %+v", s)
	}

	edit(o, v1alpha1.OrderItem{ProductID: "PROD-003", Quantity: 50})
	refused := accepted
	refused.Seq, refused.Amendment = 3, &contract.AmendResult{Generation: 3, Reason: contract.ReasonOutOfStock, Message: "not enough stock of PROD-003"}
	o.Status = desiredStatus(o, nil, snap(refused), now)
	if c := cond(o.Status, v1alpha1.ConditionAmended); c.Status != "False" || c.Reason != contract.ReasonOutOfStock || o.Status.Total != "30.00" {
		t.Fatalf("refused: Amended %+v, total %s", c, o.Status.Total)
	}
	if got := kstatusOf(t, o); got != status.InProgressStatus {
		t.Fatalf("refused while running: kstatus %s; want InProgress", got)
	}
	finished := refused
	finished.Seq, finished.Phase, finished.Step, finished.Steps = 4, contract.PhaseCompleted, contract.StepCustomerNotified, steps(4)
	o.Status = desiredStatus(o, nil, snap(finished), now)
	if c := cond(o.Status, v1alpha1.ConditionAmended); c.Reason != contract.ReasonOutOfStock {
		t.Fatalf("finished: Amended %+v; want the refusal kept", c)
	}
	if got := kstatusOf(t, o); got != status.FailedStatus {
		t.Fatalf("refused, then completed: kstatus %s; want Failed", got)
	}
}
