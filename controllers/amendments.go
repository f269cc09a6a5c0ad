package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"orderflow.io/orderflow/api/v1alpha1"
	"orderflow.io/orderflow/internal/contract"
	"orderflow.io/orderflow/internal/temporal"
)

// amendWait is how long a reconcile waits for the answer to an amendment
// it sent (well under a second while a worker runs); one not answered yet
// brings the Order back after amendRecheck.
const (
	amendWait    = 5 * time.Second
	amendRecheck = 2 * time.Second
)

// AmendRequest is the amendment the Order's spec asks of its running order.
func AmendRequest(o *v1alpha1.Order) contract.AmendRequest {
	in := OrderInput(o)
	return contract.AmendRequest{Generation: o.Generation, Fingerprint: in.Fingerprint, CustomerEmail: in.CustomerEmail, Items: in.Items}
}

// paidOrEnding says the order went past the point where it can change: its
// payment was captured, or it is ending.
func paidOrEnding(phase contract.Phase, step contract.Step) bool {
	return phase.Terminal() || phase == contract.PhaseCancelling ||
		step == contract.StepPaymentCaptured || step == contract.StepCustomerNotified
}

// amend sends the running order the change of its Order's items or email,
// when the spec asks for one the workflow has not answered yet, and returns
// the snapshot with the answer in it; retry is set while the answer is
// still being decided. A change after the payment is not sent: the status
// shows it refused (amendmentOf).
func (r *OrderReconciler) amend(ctx context.Context, order *v1alpha1.Order, snap *temporal.Snapshot) (_ *temporal.Snapshot, retry bool, _ error) {
	if snap == nil || snap.Closed || reused(order, snap) {
		return snap, false, nil
	}
	p := snap.Progress
	if p.Fingerprint == "" || p.Fingerprint == Fingerprint(order.Spec) || paidOrEnding(p.Phase, p.Step) {
		return snap, false, nil
	}
	if p.Amendment != nil && p.Amendment.Generation >= order.Generation {
		return snap, false, nil
	}
	if c := meta.FindStatusCondition(order.Status.Conditions, v1alpha1.ConditionAmended); c != nil &&
		c.ObservedGeneration == order.Generation && c.Reason != v1alpha1.ReasonAmending {
		return snap, false, nil // answered before
	}
	req := AmendRequest(order)
	res, done, err := r.Workflows.Amend(ctx, workflowID(order), req, amendWait)
	if errors.Is(err, temporal.ErrClosed) {
		return snap, false, nil // the next progress shows how it ended
	}
	if err != nil {
		r.Recorder.Eventf(order, nil, corev1.EventTypeWarning, v1alpha1.ReasonTemporalError, "Amend",
			"Cannot pass the change of generation %d on to the workflow: %v", order.Generation, err)
		return snap, false, err
	}
	if !done {
		return snap, true, nil
	}
	answered := *snap
	answered.Progress.Amendment = &res
	if res.Accepted {
		answered.Progress.Fingerprint, answered.Progress.Items = req.Fingerprint, req.Items
		if res.Total != "" {
			answered.Progress.Total = res.Total
		}
	}
	return &answered, false, nil
}

// amendmentOf is the Amended condition the Order should show, given what
// its order runs with (st.Fingerprint, from the workflow) and what the spec
// asks, or nil when the spec never asked for a change. A refused change
// stands until the spec is put back or changed again.
func amendmentOf(o *v1alpha1.Order, st *v1alpha1.OrderStatus, snap *temporal.Snapshot) *metav1.Condition {
	if st.Fingerprint == "" || st.Reason == contract.ReasonNameReused {
		return nil // the workflow has not said what it runs with
	}
	cond := func(status metav1.ConditionStatus, reason, message string) *metav1.Condition {
		return &metav1.Condition{Type: v1alpha1.ConditionAmended, Status: status, Reason: reason, Message: message}
	}
	cur := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionAmended)
	var answer *contract.AmendResult
	if snap != nil && snap.Progress.Amendment != nil && snap.Progress.Amendment.Generation == o.Generation {
		answer = snap.Progress.Amendment
	}
	if Fingerprint(o.Spec) == st.Fingerprint {
		switch {
		case answer != nil && answer.Accepted:
			return cond(metav1.ConditionTrue, v1alpha1.ReasonAmended, answer.Message)
		case cur == nil:
			return nil // never changed
		case cur.Reason == v1alpha1.ReasonAmending:
			return cond(metav1.ConditionTrue, v1alpha1.ReasonAmended, "the order runs with the changed spec")
		case cur.Status == metav1.ConditionFalse && cur.Reason != v1alpha1.ReasonReverted:
			return cond(metav1.ConditionFalse, v1alpha1.ReasonReverted, "the refused change was put back: the order runs with the spec as it is")
		}
		return cond(cur.Status, cur.Reason, cur.Message)
	}
	// The spec asks for something the order does not run with.
	if answer != nil && !answer.Accepted {
		return cond(metav1.ConditionFalse, answer.Reason, fmt.Sprintf("the change of generation %d was refused: %s; the order goes on as it was", o.Generation, answer.Message))
	}
	if cur != nil && cur.ObservedGeneration == o.Generation && cur.Status == metav1.ConditionFalse &&
		cur.Reason != v1alpha1.ReasonAmending && cur.Reason != v1alpha1.ReasonReverted {
		return cond(cur.Status, cur.Reason, cur.Message) // refused before
	}
	if paidOrEnding(contract.Phase(st.Phase), contract.Step(st.Step)) {
		why := "the payment was captured: items and email change only before it"
		if st.Phase.Terminal() && st.Phase != v1alpha1.PhaseCompleted {
			why = fmt.Sprintf("the order is %s: it can no longer be changed", st.Phase)
		}
		return cond(metav1.ConditionFalse, v1alpha1.ReasonTooLate, fmt.Sprintf("the change of generation %d was refused: %s; the order goes on as it was", o.Generation, why))
	}
	return cond(metav1.ConditionFalse, v1alpha1.ReasonAmending, fmt.Sprintf("the change of generation %d is being applied", o.Generation))
}

// refusedChange returns the Amended condition when it says a change was
// refused: Stalled is True with it until the spec is put back.
func refusedChange(c *metav1.Condition) *metav1.Condition {
	if c == nil || c.Status != metav1.ConditionFalse || slices.Contains([]string{v1alpha1.ReasonAmending, v1alpha1.ReasonReverted}, c.Reason) {
		return nil
	}
	return c
}

// recordAmendment records an Event when the Amended condition says
// something new: a Normal one for a change made or put back, a Warning for
// a change refused.
func (r *OrderReconciler) recordAmendment(order *v1alpha1.Order, old, now *v1alpha1.OrderStatus) {
	c := meta.FindStatusCondition(now.Conditions, v1alpha1.ConditionAmended)
	if c == nil || c.Reason == v1alpha1.ReasonAmending {
		return
	}
	if was := meta.FindStatusCondition(old.Conditions, v1alpha1.ConditionAmended); was != nil &&
		was.Status == c.Status && was.Reason == c.Reason && was.Message == c.Message {
		return
	}
	action := fmt.Sprintf("Amend %d", order.Generation)
	switch {
	case c.Status == metav1.ConditionTrue:
		r.Recorder.Eventf(order, nil, corev1.EventTypeNormal, v1alpha1.ReasonAmended, action,
			"Order amended: %s; total %s %s", c.Message, now.Total, now.Currency)
	case c.Reason == v1alpha1.ReasonReverted:
		r.Recorder.Eventf(order, nil, corev1.EventTypeNormal, v1alpha1.ReasonReverted, action, "Change put back: %s", c.Message)
	default:
		r.Recorder.Eventf(order, nil, corev1.EventTypeWarning, c.Reason, action, "Change refused (%s): %s", c.Reason, c.Message)
	}
}

// maxEditWindow bounds the edit window an Order may ask for.
const maxEditWindow = 24 * time.Hour

// editWindow is the Order's edit window: its annotation's, else def. An
// annotation that is not a duration from 0s to 24h is an error naming it,
// and def applies.
func editWindow(o *v1alpha1.Order, def time.Duration) (time.Duration, error) {
	raw, ok := o.Annotations[v1alpha1.EditWindowAnnotation]
	if !ok {
		return def, nil
	}
	d, err := time.ParseDuration(raw)
	if err != nil || d < 0 || d > maxEditWindow {
		return def, fmt.Errorf("annotation %s=%q is not a duration from 0s to 24h", v1alpha1.EditWindowAnnotation, raw)
	}
	return d, nil
}
