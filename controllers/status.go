package controllers

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"orderflow.io/orderflow/api/v1alpha1"
	"orderflow.io/orderflow/internal/contract"
	"orderflow.io/orderflow/internal/temporal"
)

// desiredStatus is the status an Order should show, given its current
// status, what its workflow last reported (nil before it did) and the time
// to stamp on conditions that change. It is a pure function: the reconciler
// writes its result only when it differs from the current status.
func desiredStatus(o *v1alpha1.Order, wf *v1alpha1.WorkflowRef, snap *temporal.Snapshot, now metav1.Time) v1alpha1.OrderStatus {
	st := *o.Status.DeepCopy()
	st.ObservedGeneration = o.Generation
	if wf != nil {
		st.Workflow = wf
	}
	if st.Phase == "" {
		st.Phase = v1alpha1.PhasePending
	}
	switch {
	case reused(o, snap):
		nameReused(&st, snap, now)
		snap = nil // its steps are another order's
	case snap != nil:
		applyProgress(&st, snap)
		applyFulfillment(&st, snap.Progress.Fulfillment, snap.Closed, now)
	}
	if wf != nil && st.StartTime == nil {
		st.StartTime = &now
	}
	amended := amendmentOf(o, &st, snap)
	setConditions(&st, o.Spec.Cancel, snap, amended, now)
	return st
}

// reused says the workflow snap reports on is another order's: one placed
// under the same namespace/name with a different spec.
// The Order the workflow was started for is never another order: a change
// of its spec is an amendment.
func reused(o *v1alpha1.Order, snap *temporal.Snapshot) bool {
	return snap != nil && snap.Progress.Fingerprint != "" && snap.Progress.Fingerprint != Fingerprint(o.Spec) &&
		snap.Progress.OrderUID != string(o.UID)
}

// nameReused is the status of an Order refused because its name was used
// for another order: failed, with nothing of the other order's in it.
func nameReused(st *v1alpha1.OrderStatus, snap *temporal.Snapshot, now metav1.Time) {
	st.Phase, st.Step = v1alpha1.PhaseFailed, ""
	st.Total, st.Currency, st.PaymentID, st.RefundID = "", "", "", ""
	st.Items, st.Fingerprint = nil, ""
	st.Reason = contract.ReasonNameReused
	st.Message = fmt.Sprintf("%s/%s was already used for a different order, placed %s; this one was not processed",
		snap.Progress.Namespace, snap.Progress.Name, snap.Progress.StartTime.UTC().Format(time.RFC3339))
	if st.CompletionTime == nil {
		st.CompletionTime = &now
	}
}

// applyProgress copies the workflow's progress into the status. A workflow
// that ended without reaching a terminal phase (terminated, timed out) is a
// failed order.
func applyProgress(st *v1alpha1.OrderStatus, snap *temporal.Snapshot) {
	p := snap.Progress
	if p.Phase != "" {
		st.Phase = v1alpha1.OrderPhase(p.Phase)
	}
	st.Step = v1alpha1.OrderStep(p.Step)
	st.Total, st.Currency = p.Total, p.Currency
	st.Reason, st.Message = p.Reason, p.Message
	st.PaymentID, st.RefundID = p.PaymentID, p.RefundID
	if p.Fingerprint != "" {
		st.Fingerprint = p.Fingerprint
	}
	if len(p.Items) > 0 {
		st.Items = st.Items[:0]
		for _, it := range p.Items {
			st.Items = append(st.Items, v1alpha1.OrderItem{ProductID: it.ProductID, Quantity: it.Quantity, UnitPrice: it.UnitPrice})
		}
	}
	if !p.StartTime.IsZero() && (st.StartTime == nil || p.Restored) {
		t := metav1.NewTime(p.StartTime)
		st.StartTime = &t
	}
	if p.CompletionTime != nil {
		t := metav1.NewTime(*p.CompletionTime)
		st.CompletionTime = &t
	}
	if snap.Closed && !st.Phase.Terminal() {
		st.Phase = v1alpha1.PhaseFailed
		st.Reason = contract.ReasonWorkflowFailed
		st.Message = fmt.Sprintf("the order's workflow ended (%s) before the order finished", snap.CloseStatus)
	}
}

func setConditions(st *v1alpha1.OrderStatus, cancelRequested bool, snap *temporal.Snapshot, amended *metav1.Condition, now metav1.Time) {
	set := func(typ string, status metav1.ConditionStatus, reason, message string, at metav1.Time) {
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{
			Type: typ, Status: status, Reason: reason, Message: message,
			ObservedGeneration: st.ObservedGeneration, LastTransitionTime: at,
		})
	}
	phase := st.Phase
	outcome := st.Reason
	if outcome == "" {
		outcome = string(phase)
	}
	progressReason := string(v1alpha1.ReasonPending)
	if st.Step != "" {
		progressReason = string(st.Step)
	}

	refusal := refusedChange(amended)
	switch {
	case phase == v1alpha1.PhaseCompleted:
		set(v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonCompleted, "the order completed", now)
		set(v1alpha1.ConditionReconciling, metav1.ConditionFalse, v1alpha1.ReasonCompleted, "", now)
		if refusal != nil {
			set(v1alpha1.ConditionStalled, metav1.ConditionTrue, refusal.Reason, refusal.Message, now)
		} else {
			set(v1alpha1.ConditionStalled, metav1.ConditionFalse, v1alpha1.ReasonCompleted, "", now)
		}
	case phase.Terminal(): // Failed or Cancelled
		set(v1alpha1.ConditionReady, metav1.ConditionFalse, outcome, st.Message, now)
		set(v1alpha1.ConditionReconciling, metav1.ConditionFalse, outcome, "", now)
		set(v1alpha1.ConditionStalled, metav1.ConditionTrue, outcome, st.Message, now)
	default:
		message := fmt.Sprintf("the order is %s", phase)
		if st.Step != "" {
			message = fmt.Sprintf("the order is %s; last step: %s", phase, st.Step)
		}
		set(v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonInProgress, message, now)
		set(v1alpha1.ConditionReconciling, metav1.ConditionTrue, progressReason, message, now)
		if refusal != nil {
			set(v1alpha1.ConditionStalled, metav1.ConditionTrue, refusal.Reason, refusal.Message, now)
		} else {
			set(v1alpha1.ConditionStalled, metav1.ConditionFalse, v1alpha1.ReasonInProgress, "", now)
		}
	}
	if amended != nil {
		set(amended.Type, amended.Status, amended.Reason, amended.Message, now)
	}

	// One condition per step: True from the moment the step completed.
	done := map[contract.Step]metav1.Time{}
	if snap != nil {
		for _, r := range snap.Progress.Steps {
			done[r.Step] = metav1.NewTime(r.Time)
		}
	}
	for _, step := range contract.Steps {
		if at, ok := done[step]; ok {
			set(string(step), metav1.ConditionTrue, string(step), "", at)
			continue
		}
		if c := meta.FindStatusCondition(st.Conditions, string(step)); c != nil && c.Status == metav1.ConditionTrue {
			continue // known done; a snapshot without step times changes nothing
		}
		reason, message := "Waiting", "the step has not run yet"
		if phase.Terminal() {
			reason, message = outcome, "the step did not run"
		}
		set(string(step), metav1.ConditionFalse, reason, message, now)
	}

	if cancelRequested && phase == v1alpha1.PhaseCompleted {
		set(v1alpha1.ConditionCancelRefused, metav1.ConditionTrue, v1alpha1.ReasonOrderCompleted,
			"cancel was requested after the order completed; completed orders cannot be cancelled", now)
	}
}

// equalStatus reports whether two statuses say the same thing.
func equalStatus(a, b v1alpha1.OrderStatus) bool {
	return equality.Semantic.DeepEqual(a, b)
}
