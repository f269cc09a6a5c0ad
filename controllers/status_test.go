package controllers

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"orderflow.io/orderflow/api/v1alpha1"
	"orderflow.io/orderflow/internal/contract"
	"orderflow.io/orderflow/internal/temporal"
)

var (
	t0  = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	now = metav1.NewTime(t0.Add(time.Hour))
)

// orderBuilder builds Orders for status tests.
type orderBuilder struct{ o v1alpha1.Order }

func newOrder() *orderBuilder {
	b := &orderBuilder{}
	b.o.Name, b.o.Namespace, b.o.Generation = "o1", "shop", 1
	b.o.Spec = v1alpha1.OrderSpec{CustomerID: "C1", Items: []v1alpha1.OrderItem{{ProductID: "PROD-001", Quantity: 1}}}
	return b
}

func (b *orderBuilder) cancelled() *orderBuilder {
	b.o.Spec.Cancel = true
	b.o.Generation = 2
	return b
}
func (b *orderBuilder) withStatus(s v1alpha1.OrderStatus) *orderBuilder {
	b.o.Status = s
	return b
}
func (b *orderBuilder) build() *v1alpha1.Order { return b.o.DeepCopy() }

func steps(n int) []contract.StepRecord {
	var out []contract.StepRecord
	for i, s := range contract.Steps[:n] {
		out = append(out, contract.StepRecord{Step: s, Time: t0.Add(time.Duration(i+1) * time.Second)})
	}
	return out
}

func snap(p contract.Progress) *temporal.Snapshot {
	return &temporal.Snapshot{RunID: "run-1", Progress: p}
}

func cond(st v1alpha1.OrderStatus, typ string) *metav1.Condition {
	return meta.FindStatusCondition(st.Conditions, typ)
}

func TestWhatTheWorkflowReportsBecomesTheStatus(t *testing.T) {
	completion := t0.Add(5 * time.Second)
	for _, tc := range []struct {
		name                        string
		order                       *v1alpha1.Order
		snap                        *temporal.Snapshot
		phase                       v1alpha1.OrderPhase
		ready, reconciling, stalled metav1.ConditionStatus
		reason                      string
		stepsTrue                   int
	}{
		{"no report yet is Pending", newOrder().build(), nil,
			v1alpha1.PhasePending, "False", "True", "False", "Pending", 0},
		{"a step done is Processing", newOrder().build(),
			snap(contract.Progress{Phase: contract.PhaseProcessing, Step: contract.StepInventoryReserved, Steps: steps(2), Total: "1299.99"}),
			v1alpha1.PhaseProcessing, "False", "True", "False", "InventoryReserved", 2},
		{"every step done is Completed and Ready", newOrder().build(),
			snap(contract.Progress{Phase: contract.PhaseCompleted, Step: contract.StepCustomerNotified, Steps: steps(4), PaymentID: "pay_1", CompletionTime: &completion}),
			v1alpha1.PhaseCompleted, "True", "False", "False", "Completed", 4},
		{"a business failure is Failed and Stalled", newOrder().build(),
			snap(contract.Progress{Phase: contract.PhaseFailed, Step: contract.StepAccepted, Steps: steps(1), Reason: "OutOfStock", Message: "not enough stock"}),
			v1alpha1.PhaseFailed, "False", "False", "True", "OutOfStock", 1},
		{"compensating after a cancel is Cancelling and still Reconciling", newOrder().cancelled().build(),
			snap(contract.Progress{Phase: contract.PhaseCancelling, Step: contract.StepPaymentCaptured, Steps: steps(3), Reason: "Cancelled"}),
			v1alpha1.PhaseCancelling, "False", "True", "False", "PaymentCaptured", 3},
		{"a cancelled order is Stalled", newOrder().cancelled().build(),
			snap(contract.Progress{Phase: contract.PhaseCancelled, Reason: "Cancelled", Message: "cancelled"}),
			v1alpha1.PhaseCancelled, "False", "False", "True", "Cancelled", 0},
		{"a workflow terminated mid-way is a failed order", newOrder().build(),
			&temporal.Snapshot{Closed: true, CloseStatus: "Terminated", Progress: contract.Progress{Phase: contract.PhaseProcessing, Step: contract.StepAccepted, Steps: steps(1)}},
			v1alpha1.PhaseFailed, "False", "False", "True", "WorkflowFailed", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := desiredStatus(tc.order, nil, tc.snap, now)
			if st.Phase != tc.phase {
				t.Fatalf("phase %s; want %s", st.Phase, tc.phase)
			}
			if st.ObservedGeneration != tc.order.Generation {
				t.Fatalf("observedGeneration %d; want %d", st.ObservedGeneration, tc.order.Generation)
			}
			for typ, want := range map[string]metav1.ConditionStatus{"Ready": tc.ready, "Reconciling": tc.reconciling, "Stalled": tc.stalled} {
				if c := cond(st, typ); c == nil || c.Status != want {
					t.Fatalf("%s = %+v; want %s", typ, c, want)
				}
			}
			main := "Reconciling"
			if tc.phase.Terminal() {
				main = "Ready"
			}
			if c := cond(st, main); c.Reason != tc.reason {
				t.Fatalf("%s reason %q; want %q", main, c.Reason, tc.reason)
			}
			trues := 0
			for _, s := range contract.Steps {
				c := cond(st, string(s))
				if c == nil {
					t.Fatalf("no %s condition", s)
				}
				if c.Status == metav1.ConditionTrue {
					trues++
				}
			}
			if trues != tc.stepsTrue {
				t.Fatalf("%d step conditions True; want %d", trues, tc.stepsTrue)
			}
		})
	}
}

func TestAStepConditionCarriesTheTimeTheStepCompleted(t *testing.T) {
	st := desiredStatus(newOrder().build(), nil, snap(contract.Progress{Phase: contract.PhaseProcessing, Step: contract.StepAccepted, Steps: steps(1)}), now)
	if c := cond(st, "Accepted"); !c.LastTransitionTime.Time.Equal(t0.Add(time.Second)) {
		t.Fatalf("Accepted at %s; want %s", c.LastTransitionTime, t0.Add(time.Second))
	}
}

func TestTheSameReportTwiceChangesNothing(t *testing.T) {
	o := newOrder().build()
	s := snap(contract.Progress{Phase: contract.PhaseProcessing, Step: contract.StepAccepted, Steps: steps(1), Total: "1.00"})
	o.Status = desiredStatus(o, &v1alpha1.WorkflowRef{ID: "order-x", RunID: "r"}, s, now)
	later := metav1.NewTime(now.Add(time.Hour))
	again := desiredStatus(o, nil, s, later)
	if !equalStatus(o.Status, again) {
		t.Fatalf("status changed on a repeated report:\n%+v\n%+v", o.Status, again)
	}
}

func TestCancellingACompletedOrderIsRefusedVisibly(t *testing.T) {
	completion := t0.Add(5 * time.Second)
	o := newOrder().cancelled().withStatus(v1alpha1.OrderStatus{Phase: v1alpha1.PhaseCompleted, CompletionTime: &metav1.Time{Time: completion}}).build()
	st := desiredStatus(o, nil, nil, now)
	c := cond(st, v1alpha1.ConditionCancelRefused)
	if c == nil || c.Status != metav1.ConditionTrue || c.Reason != v1alpha1.ReasonOrderCompleted {
		t.Fatalf("CancelRefused = %+v", c)
	}
	if st.Phase != v1alpha1.PhaseCompleted || cond(st, "Ready").Status != metav1.ConditionTrue {
		t.Fatalf("a refused cancel changed the outcome: %+v", st)
	}
}
