package controllers

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	"orderflow.io/orderflow/api/v1alpha1"
	"orderflow.io/orderflow/internal/contract"
)

// parcelStatus is the status of a completed order whose parcel's workflow
// reported f.
func parcelStatus(f *contract.Fulfillment, closed bool) v1alpha1.OrderStatus {
	done := t0.Add(5 * time.Second)
	s := snap(contract.Progress{Phase: contract.PhaseCompleted, Step: contract.StepCustomerNotified, Steps: steps(4),
		Total: "10.00", Currency: "USD", CompletionTime: &done, Fulfillment: f})
	s.Closed = closed
	return desiredStatus(newOrder().build(), nil, s, now)
}

func conditionReason(st v1alpha1.OrderStatus, typ string) string {
	c := meta.FindStatusCondition(st.Conditions, typ)
	if c == nil {
		return ""
	}
	return string(c.Status) + "/" + c.Reason
}

func TestAParcelsLifeShowsInItsConditionsAndTheOrderStaysReady(t *testing.T) {
	booked, shipped, delivered := t0.Add(time.Minute), t0.Add(time.Hour), t0.Add(2*time.Hour)
	deadline := booked.Add(48 * time.Hour)
	base := func() *contract.Fulfillment {
		return &contract.Fulfillment{Carrier: "sandbox", ShipmentID: "ship-shop/o1", BookedTime: &booked, ShipBy: &deadline, TrackingNumber: "T1"}
	}
	cases := []struct {
		name              string
		f                 func(*contract.Fulfillment)
		closed            bool
		shipped, delivers string
		stillShipping     bool
	}{
		{"booking", func(f *contract.Fulfillment) { f.BookedTime, f.ShipBy = nil, nil }, false, "False/Booking", "False/Booking", true},
		{"booked", func(f *contract.Fulfillment) { f.State = contract.ShipmentBooked }, false, "False/Booked", "False/Booked", true},
		{"late", func(f *contract.Fulfillment) { f.State, f.Late = contract.ShipmentBooked, true }, false, "False/ShipByMissed", "False/Booked", true},
		{"shipped", func(f *contract.Fulfillment) { f.State, f.ShippedTime = contract.ShipmentShipped, &shipped }, false, "True/Shipped", "False/InTransit", true},
		{"exception", func(f *contract.Fulfillment) {
			f.State, f.ShippedTime, f.Message = contract.ShipmentException, &shipped, "nobody home"
		}, false, "True/Shipped", "False/ShipmentException", true},
		{"delivered", func(f *contract.Fulfillment) {
			f.State, f.ShippedTime, f.DeliveredTime, f.Ended = contract.ShipmentDelivered, &shipped, &delivered, true
		}, true, "True/Shipped", "True/Delivered", false},
		{"lost", func(f *contract.Fulfillment) {
			f.State, f.ShippedTime, f.Ended = contract.ShipmentLost, &shipped, true
			f.Refund = &contract.RefundResult{State: contract.RefundRefunded, Amount: "10.00", ProviderID: "re_1", Time: delivered}
		}, true, "True/Shipped", "False/ParcelLost", false},
		{"refused", func(f *contract.Fulfillment) {
			f.BookedTime, f.ShipBy, f.State, f.Ended, f.Message = nil, nil, contract.ShipmentException, true, "the booking was refused"
		}, true, "False/BookingRefused", "False/BookingRefused", false},
	}
	for _, c := range cases {
		f := base()
		c.f(f)
		st := parcelStatus(f, c.closed)
		if got := conditionReason(st, v1alpha1.ConditionShipped); got != c.shipped {
			t.Errorf("%s: Shipped %s; want %s", c.name, got, c.shipped)
		}
		if got := conditionReason(st, v1alpha1.ConditionDelivered); got != c.delivers {
			t.Errorf("%s: Delivered %s; want %s", c.name, got, c.delivers)
		}
		if got := conditionReason(st, v1alpha1.ConditionReady); got != "True/Completed" || st.Phase != v1alpha1.PhaseCompleted {
			t.Errorf("%s: Ready %s, phase %s; a shipping order stays Completed and Ready", c.name, got, st.Phase)
		}
		o := newOrder().withStatus(st).build()
		if shipping(o) != c.stillShipping {
			t.Errorf("%s: shipping %v; want %v", c.name, shipping(o), c.stillShipping)
		}
		o.Status.ObservedGeneration = o.Generation
		if finished(o) == c.stillShipping {
			t.Errorf("%s: finished (trimmed in the cache) %v while shipping %v", c.name, finished(o), c.stillShipping)
		}
		if c.name == "lost" {
			if rf := refundStatus(&st, contract.LostRefundID); rf == nil || rf.State != v1alpha1.RefundRefunded || st.Refunded != "10.00" {
				t.Errorf("lost: refunds %+v refunded %q", st.Refunds, st.Refunded)
			}
		}
	}
}

func TestAnOrdersFulfillmentComesFromItsSpecOrTheManagersDefault(t *testing.T) {
	o := newOrder().build()
	if in := fulfillmentOf(o, "", 0); in != nil {
		t.Fatalf("no carrier anywhere: %+v", in)
	}
	if in := fulfillmentOf(o, "sandbox", time.Hour); in == nil || in.Carrier != "sandbox" || in.ShipBy != time.Hour {
		t.Fatalf("the manager's default: %+v", in)
	}
	o.Spec.Fulfillment = &v1alpha1.FulfillmentSpec{Carrier: "webhook", ShipBy: "72h"}
	o.Annotations = map[string]string{v1alpha1.SandboxCarrierAnnotation: "lose"}
	if in := fulfillmentOf(o, "sandbox", time.Hour); in.Carrier != "webhook" || in.ShipBy != 72*time.Hour || in.Script != "lose" {
		t.Fatalf("the spec's: %+v", in)
	}
}
