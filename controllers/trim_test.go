package controllers

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"orderflow.io/orderflow/api/v1alpha1"
)

func TestTrimFinishedKeepsWholeEveryOrderTheControllerStillActsOn(t *testing.T) {
	refusal := metav1.Condition{Type: v1alpha1.ConditionCancelRefused, Status: metav1.ConditionTrue, Reason: "OrderCompleted"}
	deleting := metav1.NewTime(t0)
	cases := []struct {
		name    string
		order   func(o *v1alpha1.Order)
		trimmed bool
	}{
		{"pending", func(o *v1alpha1.Order) {}, false},
		{"processing, finalizer held", func(o *v1alpha1.Order) {
			o.Status.Phase, o.Finalizers = v1alpha1.PhaseProcessing, []string{Finalizer}
		}, false},
		{"completed, finalizer still held", func(o *v1alpha1.Order) {
			o.Status.Phase, o.Finalizers = v1alpha1.PhaseCompleted, []string{Finalizer}
		}, false},
		{"cancelling, being deleted", func(o *v1alpha1.Order) {
			o.Status.Phase, o.Finalizers, o.DeletionTimestamp = v1alpha1.PhaseCancelling, []string{Finalizer}, &deleting
		}, false},
		{"completed, cancel set, refusal not yet written", func(o *v1alpha1.Order) {
			o.Status.Phase, o.Spec.Cancel = v1alpha1.PhaseCompleted, true
		}, false},
		{"completed and released", func(o *v1alpha1.Order) { o.Status.Phase = v1alpha1.PhaseCompleted }, true},
		{"failed and released", func(o *v1alpha1.Order) { o.Status.Phase = v1alpha1.PhaseFailed }, true},
		{"cancelled and released", func(o *v1alpha1.Order) {
			o.Status.Phase, o.Spec.Cancel = v1alpha1.PhaseCancelled, true
		}, true},
		{"completed, cancel refused", func(o *v1alpha1.Order) {
			o.Status.Phase, o.Spec.Cancel = v1alpha1.PhaseCompleted, true
			meta.SetStatusCondition(&o.Status.Conditions, refusal)
		}, true},
		{"completed, a spec change not yet shown", func(o *v1alpha1.Order) {
			o.Status.Phase, o.Generation = v1alpha1.PhaseCompleted, 3
		}, false},
		{"completed, a refund not yet shown", func(o *v1alpha1.Order) {
			o.Status.Phase = v1alpha1.PhaseCompleted
			o.Spec.Refunds = []v1alpha1.RefundRequest{{ID: "r1", Amount: "1.00"}}
		}, false},
		{"completed, a refund being made", func(o *v1alpha1.Order) {
			o.Status.Phase = v1alpha1.PhaseCompleted
			o.Spec.Refunds = []v1alpha1.RefundRequest{{ID: "r1", Amount: "1.00"}}
			o.Status.Refunds = []v1alpha1.RefundStatus{{ID: "r1", State: v1alpha1.RefundPending}}
		}, false},
		{"completed, every refund shown", func(o *v1alpha1.Order) {
			o.Status.Phase = v1alpha1.PhaseCompleted
			o.Spec.Refunds = []v1alpha1.RefundRequest{{ID: "r1", Amount: "1.00"}, {ID: "r2", Amount: "99.00"}}
			o.Status.Refunds = []v1alpha1.RefundStatus{{ID: "r1", State: v1alpha1.RefundRefunded}, {ID: "r2", State: v1alpha1.RefundRefused}}
		}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := newOrder().build()
			o.UID, o.ResourceVersion = "u1", "42"
			o.Labels = map[string]string{"shop": "eu"}
			o.Annotations = map[string]string{"note": "gift"}
			o.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}
			o.Status.Total, o.Status.PaymentID = "49.90", "pay_1"
			o.Generation, o.Status.ObservedGeneration = 2, 2
			tc.order(o)
			want := o.DeepCopy()
			want.ManagedFields = nil

			out, err := TrimFinished(o)
			if err != nil {
				t.Fatal(err)
			}
			got := out.(*v1alpha1.Order)
			if trimmed(got) != tc.trimmed {
				t.Fatalf("trimmed = %v, want %v", trimmed(got), tc.trimmed)
			}
			if got.ManagedFields != nil {
				t.Fatal("managed fields kept")
			}
			if !tc.trimmed {
				if !equality.Semantic.DeepEqual(got, want) {
					t.Fatalf("an Order the controller acts on was changed:\n got %+v\nwant %+v", got, want)
				}
				return
			}
			// What the reconciler and the gauge read survives.
			if got.Name != "o1" || got.Namespace != "shop" || got.UID != "u1" || got.ResourceVersion != "42" ||
				got.Generation != want.Generation || got.Labels["shop"] != "eu" ||
				got.Spec.Cancel != want.Spec.Cancel || got.Status.Phase != want.Status.Phase {
				t.Fatalf("trimmed too much: %+v", got)
			}
			if len(got.Spec.Items) != 0 || got.Status.Total != "" || got.Annotations["note"] != "" || len(got.Status.Conditions) != 0 {
				t.Fatalf("not trimmed: %+v", got)
			}
		})
	}
}
