package controllers

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"orderflow.io/orderflow/api/v1alpha1"
	"orderflow.io/orderflow/internal/contract"
	"orderflow.io/orderflow/internal/money"
)

// refundWait is how long a reconcile waits for a refund it started (a
// refund takes well under a second); one still being made brings the
// Order back after refundRecheck.
const (
	refundWait    = 2 * time.Second
	refundRecheck = 2 * time.Second
)

// RefundInput is the refund workflow's input for an entry of the Order's
// spec.refunds.
func RefundInput(o *v1alpha1.Order, req v1alpha1.RefundRequest) contract.RefundInput {
	in := contract.RefundInput{
		Namespace: o.Namespace, Name: o.Name, ID: req.ID, Amount: req.Amount, Reason: req.Reason,
		Restock: req.Restock, CustomerEmail: o.Spec.CustomerEmail,
	}
	for _, it := range req.Items {
		in.Items = append(in.Items, contract.RefundItem{ProductID: it.ProductID, Quantity: it.Quantity})
	}
	return in
}

// refundsPending says whether an entry of spec.refunds has no final state
// in status yet: the controller still has work on the Order.
func refundsPending(o *v1alpha1.Order) bool {
	for _, req := range o.Spec.Refunds {
		if st := refundStatus(&o.Status, req.ID); st == nil || st.State == v1alpha1.RefundPending {
			return true
		}
	}
	return false
}

func refundStatus(st *v1alpha1.OrderStatus, id string) *v1alpha1.RefundStatus {
	for i := range st.Refunds {
		if st.Refunds[i].ID == id {
			return &st.Refunds[i]
		}
	}
	return nil
}

// reconcileRefunds makes the partial refunds of a finished Order (each entry
// of spec.refunds, by its refund workflow) and shows how each stands. A
// Completed order's refunds are made; a Failed or Cancelled order's are
// refused (what it captured was refunded with it). It writes the status
// when it changed, records an Event per refund made or refused, and asks to
// come back while a refund is still being made.
func (r *OrderReconciler) reconcileRefunds(ctx context.Context, order *v1alpha1.Order) (ctrl.Result, error) {
	if !refundsPending(order) && order.Status.ObservedGeneration == order.Generation {
		return ctrl.Result{}, nil
	}
	now := metav1.NewTime(r.now())
	want := desiredStatus(order, nil, nil, now)
	var made, refusals []v1alpha1.RefundStatus
	pending := false
	for _, req := range order.Spec.Refunds {
		if cur := refundStatus(&want, req.ID); cur != nil && cur.State != v1alpha1.RefundPending {
			continue
		}
		next := v1alpha1.RefundStatus{ID: req.ID, State: v1alpha1.RefundPending}
		switch order.Status.Phase {
		case v1alpha1.PhaseCompleted:
			res, done, err := r.Workflows.Refund(ctx, RefundInput(order, req), refundWait)
			if err != nil {
				r.Recorder.Eventf(order, nil, corev1.EventTypeWarning, v1alpha1.ReasonTemporalError, "Refund",
					"Cannot make refund %s: %v", req.ID, err)
				return ctrl.Result{}, err
			}
			if !done {
				pending = true
				break
			}
			next = refundStatusOf(req.ID, res)
		default: // Failed or Cancelled
			next.State, next.Time = v1alpha1.RefundRefused, &now
			next.Message = fmt.Sprintf("the order is %s: only a completed order is refunded in part", strings.ToLower(string(order.Status.Phase)))
		}
		setRefundStatus(&want, next)
		switch next.State {
		case v1alpha1.RefundRefunded:
			made = append(made, next)
		case v1alpha1.RefundRefused:
			refusals = append(refusals, next)
		}
	}
	summarizeRefunds(&want, now)
	if !equalStatus(order.Status, want) {
		orig := order.DeepCopy()
		order.Status = want
		if err := r.Status().Patch(ctx, order, client.MergeFrom(orig)); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
		r.recordAmendment(order, &orig.Status, &want)
		for _, m := range made {
			what := "made"
			if m.Time != nil && m.Time.Before(&order.CreationTimestamp) {
				what = "made before this Order was applied; nothing moved now" // applied again
			}
			r.Recorder.Eventf(order, nil, corev1.EventTypeNormal, v1alpha1.ReasonRefunded, refundAction(m.ID),
				"Refund %s of %s %s %s (%s)", m.ID, m.Amount, want.Currency, what, m.ProviderID)
		}
		for _, m := range refusals {
			r.Recorder.Eventf(order, nil, corev1.EventTypeWarning, v1alpha1.ReasonRefundRefused, refundAction(m.ID),
				"Refund %s refused: %s", m.ID, m.Message)
		}
	}
	if pending {
		return ctrl.Result{RequeueAfter: refundRecheck}, nil
	}
	return ctrl.Result{}, nil
}

// refundAction is the Event action of one refund. The events library
// folds Events that differ only in their message into one series, which
// would keep the first refund's message and hide the others'; the refund's
// id in the action keeps one Event per refund.
func refundAction(id string) string { return "Refund " + id }

// refundStatusOf is how a refund stands, from its workflow's result.
func refundStatusOf(id string, res contract.RefundResult) v1alpha1.RefundStatus {
	st := v1alpha1.RefundStatus{ID: id, State: v1alpha1.RefundState(res.State), Amount: res.Amount, ProviderID: res.ProviderID, Message: res.Message}
	if !res.Time.IsZero() {
		t := metav1.NewTime(res.Time)
		st.Time = &t
	}
	return st
}

func setRefundStatus(st *v1alpha1.OrderStatus, next v1alpha1.RefundStatus) {
	if cur := refundStatus(st, next.ID); cur != nil {
		*cur = next
		return
	}
	st.Refunds = append(st.Refunds, next)
}

// summarizeRefunds sets status.refunded, the sum of the refunds made, and
// condition Refunded: True once everything captured was refunded, else
// False with RefundRefused (naming the refunds refused) or
// PartiallyRefunded.
func summarizeRefunds(st *v1alpha1.OrderStatus, now metav1.Time) {
	if len(st.Refunds) == 0 {
		return
	}
	var sum money.Amount
	var refused []string
	pending := 0
	for _, rf := range st.Refunds {
		switch rf.State {
		case v1alpha1.RefundRefunded:
			if a, err := money.Parse(rf.Amount); err == nil {
				sum, _ = sum.Add(a)
			}
		case v1alpha1.RefundRefused:
			refused = append(refused, rf.ID+": "+rf.Message)
		default:
			pending++
		}
	}
	st.Refunded = sum.String()
	total, _ := money.Parse(st.Total)
	cond := metav1.Condition{Type: v1alpha1.ConditionRefunded, ObservedGeneration: st.ObservedGeneration, LastTransitionTime: now}
	switch {
	case total > 0 && sum >= total:
		cond.Status, cond.Reason = metav1.ConditionTrue, v1alpha1.ReasonRefunded
		cond.Message = fmt.Sprintf("everything captured (%s %s) was refunded", st.Total, st.Currency)
	case len(refused) > 0:
		cond.Status, cond.Reason = metav1.ConditionFalse, v1alpha1.ReasonRefundRefused
		cond.Message = fmt.Sprintf("%s of %s %s refunded; refused: %s", sum, st.Total, st.Currency, strings.Join(refused, "; "))
	default:
		cond.Status, cond.Reason = metav1.ConditionFalse, v1alpha1.ReasonPartiallyRefunded
		cond.Message = fmt.Sprintf("%s of %s %s refunded", sum, st.Total, st.Currency)
		if pending > 0 {
			cond.Message += fmt.Sprintf("; %d refund(s) being made", pending)
		}
	}
	meta.SetStatusCondition(&st.Conditions, cond)
}
