package controllers

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	"orderflow.io/orderflow/api/v1alpha1"
	"orderflow.io/orderflow/internal/contract"
)

// TestKstatusReadsEveryPhaseRight computes kstatus, what Flux and Helm's
// --wait read, for the status the controller writes in every phase: a
// running Order is InProgress from the first reconcile on (its Pending
// write), Current only once Completed, Failed when it failed or was
// cancelled. Saving writes must never make a pipeline think an order done.
func TestKstatusReadsEveryPhaseRight(t *testing.T) {
	ref := &v1alpha1.WorkflowRef{ID: "order/shop/o1", RunID: "run-1"}
	for _, tc := range []struct {
		name string
		snap *contract.Progress
		want status.Status
	}{
		{"Pending, at the first reconcile", nil, status.InProgressStatus},
		{"Processing", &contract.Progress{Seq: 1, Phase: contract.PhaseProcessing, Step: contract.StepInventoryReserved, Steps: steps(2)}, status.InProgressStatus},
		{"Cancelling", &contract.Progress{Seq: 2, Phase: contract.PhaseCancelling, Step: contract.StepInventoryReserved, Steps: steps(2)}, status.InProgressStatus},
		{"Completed", &contract.Progress{Seq: 2, Phase: contract.PhaseCompleted, Step: contract.StepCustomerNotified, Steps: steps(4)}, status.CurrentStatus},
		{"Failed", &contract.Progress{Seq: 2, Phase: contract.PhaseFailed, Reason: contract.ReasonPaymentDeclined, Steps: steps(2)}, status.FailedStatus},
		{"Cancelled", &contract.Progress{Seq: 3, Phase: contract.PhaseCancelled, Reason: contract.ReasonCancelled, Steps: steps(2)}, status.FailedStatus},
	} {
		o := newOrder().build()
		o.APIVersion, o.Kind = v1alpha1.GroupVersion.String(), "Order"
		if tc.snap != nil {
			o.Status = desiredStatus(o, ref, nil, now)
			o.Status = desiredStatus(o, nil, snap(*tc.snap), now)
		} else {
			o.Status = desiredStatus(o, ref, nil, now)
		}
		raw, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
		if err != nil {
			t.Fatal(err)
		}
		res, err := status.Compute(&unstructured.Unstructured{Object: raw})
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != tc.want {
			t.Errorf("%s: kstatus %s (%s); want %s", tc.name, res.Status, res.Message, tc.want)
		}
	}

	// A spec edit the status does not describe yet (cancel just set) reads
	// InProgress, whatever the phase said.
	o := newOrder().build()
	o.APIVersion, o.Kind = v1alpha1.GroupVersion.String(), "Order"
	o.Status = desiredStatus(o, ref, snap(contract.Progress{Seq: 1, Phase: contract.PhaseProcessing}), now)
	o.Generation = 2
	raw, _ := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
	if res, _ := status.Compute(&unstructured.Unstructured{Object: raw}); res.Status != status.InProgressStatus {
		t.Errorf("a status behind the spec: kstatus %s; want InProgress", res.Status)
	}
}
