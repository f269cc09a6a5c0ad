package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	ctrl "sigs.k8s.io/controller-runtime"

	"orderflow.io/orderflow/api/v1alpha1"
	"orderflow.io/orderflow/internal/contract"
)

// fulfillmentOf is what the Order's workflow is told about shipping: its
// spec.fulfillment, else the manager's default carrier (none: not
// shipped). The sandbox carrier's script comes from SandboxCarrierAnnotation.
func fulfillmentOf(o *v1alpha1.Order, defaultCarrier string, defaultShipBy time.Duration) *contract.FulfillmentInput {
	in := &contract.FulfillmentInput{Carrier: defaultCarrier, ShipBy: defaultShipBy, Script: o.Annotations[v1alpha1.SandboxCarrierAnnotation]}
	if f := o.Spec.Fulfillment; f != nil {
		in.Carrier = f.Carrier
		if d, err := time.ParseDuration(f.ShipBy); err == nil && d > 0 {
			in.ShipBy = d // the schema has checked it
		}
	}
	if in.Carrier == "" {
		return nil
	}
	return in
}

// shipping says the controller still follows the Order's parcel: the order
// completed with a shipment whose fate is not known yet.
func shipping(o *v1alpha1.Order) bool {
	if o.Status.Phase != v1alpha1.PhaseCompleted || o.Status.Fulfillment == nil {
		return false
	}
	c := meta.FindStatusCondition(o.Status.Conditions, v1alpha1.ConditionDelivered)
	return c == nil || !fulfillmentEnded(c.Reason)
}

// fulfillmentEnded says a Delivered condition's reason is the parcel's last.
func fulfillmentEnded(reason string) bool {
	return reason == v1alpha1.ReasonDelivered || reason == v1alpha1.ReasonParcelLost || reason == v1alpha1.ReasonBookingRefused
}

// shippingResync is how often, in Resyncs, a shipping order is read
// again when nothing came from the watcher: a parcel's news is rare and
// not urgent, and thousands of parcels may be on their way.
const shippingResync = 10

// reconcileShipping mirrors the parcel of a completed order into its status
// while its workflow follows it. The workflow is parked (not followed: see
// temporal.HistoryFollower); its changes come from the watcher's listing.
// The cached progress is applied as it comes; with none cached (a manager
// just started), the workflow is read once, as the resync's read limiter
// allows, and the Order otherwise comes back every shippingResync Resyncs.
func (r *OrderReconciler) reconcileShipping(ctx context.Context, order *v1alpha1.Order) (ctrl.Result, error) {
	id := workflowID(order)
	later := ctrl.Result{RequeueAfter: wait.Jitter(shippingResync*r.Resync, 0.5)}
	snap, ok := r.Progress.Get(id)
	if !ok || r.now().Sub(snap.Fetched) > shippingResync*r.Resync {
		if r.ResyncReads != nil && !r.ResyncReads.Allow() && ok {
			return later, nil // busy: the cached progress stands a while longer
		}
		read, err := r.snapshot(ctx, order, id)
		if err != nil {
			return ctrl.Result{}, err
		}
		if read == nil {
			return later, nil
		}
		snap = *read
	}
	if err := r.writeStatus(ctx, order, nil, &snap); err != nil {
		return ctrl.Result{}, err
	}
	if !shipping(order) {
		r.written.Delete(order.UID)
		return ctrl.Result{}, nil
	}
	return later, nil
}

// applyFulfillment copies the parcel's progress into the status and sets
// conditions Shipped and Delivered from it.
func applyFulfillment(st *v1alpha1.OrderStatus, f *contract.Fulfillment, closed bool, now metav1.Time) {
	if f == nil {
		return
	}
	fs := &v1alpha1.FulfillmentStatus{State: v1alpha1.ShipmentState(f.State), Carrier: f.Carrier,
		TrackingNumber: f.TrackingNumber, Message: f.Message,
		ShipBy: metaTime(f.ShipBy), ShippedTime: metaTime(f.ShippedTime), DeliveredTime: metaTime(f.DeliveredTime)}
	st.Fulfillment = fs
	set := func(typ string, status metav1.ConditionStatus, reason, message string, at *metav1.Time) {
		t := now
		if at != nil {
			t = *at
		}
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: typ, Status: status, Reason: reason, Message: message,
			ObservedGeneration: st.ObservedGeneration, LastTransitionTime: t})
	}
	ended := f.Ended || closed
	switch {
	case f.BookedTime == nil && ended:
		set(v1alpha1.ConditionShipped, metav1.ConditionFalse, v1alpha1.ReasonBookingRefused, f.Message, nil)
		set(v1alpha1.ConditionDelivered, metav1.ConditionFalse, v1alpha1.ReasonBookingRefused, f.Message, nil)
		return
	case f.BookedTime == nil:
		msg := fmt.Sprintf("the parcel is being booked with %s", f.Carrier)
		set(v1alpha1.ConditionShipped, metav1.ConditionFalse, v1alpha1.ReasonBooking, msg, nil)
		set(v1alpha1.ConditionDelivered, metav1.ConditionFalse, v1alpha1.ReasonBooking, msg, nil)
		return
	}
	if fs.ShippedTime != nil {
		set(v1alpha1.ConditionShipped, metav1.ConditionTrue, v1alpha1.ReasonShipped,
			fmt.Sprintf("shipped with %s, tracking number %s", f.Carrier, f.TrackingNumber), fs.ShippedTime)
	} else if f.Late {
		set(v1alpha1.ConditionShipped, metav1.ConditionFalse, v1alpha1.ReasonShipByMissed,
			fmt.Sprintf("booked with %s, not shipped by its deadline %s", f.Carrier, deadline(f)), nil)
	} else {
		set(v1alpha1.ConditionShipped, metav1.ConditionFalse, v1alpha1.ReasonBooked,
			fmt.Sprintf("booked with %s, to ship by %s", f.Carrier, deadline(f)), nil)
	}
	switch f.State {
	case contract.ShipmentDelivered:
		set(v1alpha1.ConditionDelivered, metav1.ConditionTrue, v1alpha1.ReasonDelivered, "the parcel was delivered", fs.DeliveredTime)
	case contract.ShipmentLost:
		msg := "the carrier lost the parcel: " + f.Message
		if rf := f.Refund; rf != nil {
			msg += fmt.Sprintf("; refund %s: %s %s", contract.LostRefundID, rf.State, rf.Amount)
		}
		set(v1alpha1.ConditionDelivered, metav1.ConditionFalse, v1alpha1.ReasonParcelLost, msg, nil)
	case contract.ShipmentException:
		set(v1alpha1.ConditionDelivered, metav1.ConditionFalse, v1alpha1.ReasonShipException, "the carrier reports: "+f.Message, nil)
	case contract.ShipmentShipped:
		set(v1alpha1.ConditionDelivered, metav1.ConditionFalse, v1alpha1.ReasonInTransit, "the parcel is on its way", nil)
	default:
		set(v1alpha1.ConditionDelivered, metav1.ConditionFalse, v1alpha1.ReasonBooked, "the parcel has not shipped yet", nil)
	}
	if rf := f.Refund; rf != nil && f.State == contract.ShipmentLost {
		next := v1alpha1.RefundStatus{ID: contract.LostRefundID, State: v1alpha1.RefundState(rf.State), Amount: rf.Amount,
			ProviderID: rf.ProviderID, Message: rf.Message, Time: metaTime(&rf.Time)}
		setRefundStatus(st, next)
		summarizeRefunds(st, now)
	}
}

func deadline(f *contract.Fulfillment) string {
	if f.ShipBy == nil {
		return "?"
	}
	return f.ShipBy.UTC().Format(time.RFC3339)
}

func metaTime(t *time.Time) *metav1.Time {
	if t == nil || t.IsZero() {
		return nil
	}
	m := metav1.NewTime(*t)
	return &m
}

// recordShipping records the Events a person needs about a parcel: a
// Warning when it is late, meets an exception, is lost or cannot be
// booked; a Normal one when it is delivered.
func (r *OrderReconciler) recordShipping(order *v1alpha1.Order, old, now *v1alpha1.OrderStatus) {
	was := meta.FindStatusCondition(old.Conditions, v1alpha1.ConditionDelivered)
	is := meta.FindStatusCondition(now.Conditions, v1alpha1.ConditionDelivered)
	shippedWas := meta.FindStatusCondition(old.Conditions, v1alpha1.ConditionShipped)
	shippedIs := meta.FindStatusCondition(now.Conditions, v1alpha1.ConditionShipped)
	if shippedIs != nil && shippedIs.Reason == v1alpha1.ReasonShipByMissed && (shippedWas == nil || shippedWas.Reason != shippedIs.Reason) {
		r.Recorder.Eventf(order, nil, corev1.EventTypeWarning, v1alpha1.ReasonShipByMissed, "Ship", "The parcel was not shipped by its deadline: %s", shippedIs.Message)
	}
	if is == nil || was != nil && was.Reason == is.Reason && was.Message == is.Message {
		return
	}
	switch is.Reason {
	case v1alpha1.ReasonDelivered:
		r.Recorder.Eventf(order, nil, corev1.EventTypeNormal, v1alpha1.ReasonDelivered, "Deliver", "The parcel was delivered (%s %s)", now.Fulfillment.Carrier, now.Fulfillment.TrackingNumber)
	case v1alpha1.ReasonShipException, v1alpha1.ReasonParcelLost, v1alpha1.ReasonBookingRefused:
		r.Recorder.Eventf(order, nil, corev1.EventTypeWarning, is.Reason, "Ship", "%s", is.Message)
	}
}
