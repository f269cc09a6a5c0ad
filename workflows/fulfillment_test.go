package workflows

import (
	"context"
	"go.temporal.io/sdk/workflow"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"orderflow.io/orderflow/internal/contract"
	"orderflow.io/orderflow/internal/fulfillment"
)

const shipmentID = "ship-shop/order-001"

// shipping mocks the booking and its record, and counts the
// notifications sent by kind.
func (s *scenario) shipping(kinds map[string]int) *scenario {
	s.env.OnActivity(a.SendNotification, mock.Anything, mock.Anything).After(time.Second).Return(func(_ context.Context, in NotifyInput) error {
		s.mu.Lock()
		kinds[in.Kind]++
		s.mu.Unlock()
		return nil
	})
	s.happy()
	s.env.OnActivity(a.BookShipment, mock.Anything, mock.Anything).Return(fulfillment.Booked{Reference: "bk-1"}, nil).Maybe()
	s.env.OnActivity(a.RecordShipment, mock.Anything, mock.Anything, mock.Anything).Return(nil).Maybe()
	return s
}

// carrier sends a carrier event after d (of skipped workflow time).
func (s *scenario) carrier(d time.Duration, id, state string, at time.Time) *scenario {
	s.env.RegisterDelayedCallback(func() {
		s.env.SignalWorkflow(contract.CarrierEventSignal, contract.CarrierEvent{
			ID: id, ShipmentID: shipmentID, State: state, TrackingNumber: "TRK-1", Time: at})
	}, d)
	return s
}

func shipped() contract.OrderInput {
	in := order()
	in.Key, in.CustomerEmail = "shop/order-001", "ada@example.com"
	in.Fulfillment = &contract.FulfillmentInput{Carrier: "sandbox", ShipBy: 48 * time.Hour}
	return in
}

var day0 = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

func TestAParcelDeliveredAfterThreeDaysEndsTheWorkflowDelivered(t *testing.T) {
	kinds := map[string]int{}
	s := newScenario(t).shipping(kinds).
		carrier(24*time.Hour, "e1", contract.ShipmentShipped, day0.Add(24*time.Hour)).
		carrier(72*time.Hour, "e2", contract.ShipmentDelivered, day0.Add(72*time.Hour))
	p := s.run(shipped())
	f := p.Fulfillment
	if p.Phase != contract.PhaseCompleted || f == nil || f.State != contract.ShipmentDelivered || !f.Ended || f.Late {
		t.Fatalf("progress %+v, fulfillment %+v", p, f)
	}
	if f.TrackingNumber != "TRK-1" || !f.ShippedTime.Equal(day0.Add(24*time.Hour)) || !f.DeliveredTime.Equal(day0.Add(72*time.Hour)) {
		t.Fatalf("fulfillment %+v", f)
	}
	if kinds["completed"] != 1 || kinds["shipped"] != 1 || kinds["delivered"] != 1 || kinds["late"] != 0 {
		t.Fatalf("notifications %v", kinds)
	}
}

func TestAParcelThatDoesNotShipByItsDeadlineIsLateOnce(t *testing.T) {
	kinds := map[string]int{}
	s := newScenario(t).shipping(kinds).
		carrier(96*time.Hour, "e1", contract.ShipmentDelivered, day0.Add(96*time.Hour))
	var mid contract.Progress
	s.env.RegisterDelayedCallback(func() {
		v, err := s.env.QueryWorkflow(contract.ProgressQuery)
		if err == nil {
			err = v.Get(&mid)
		}
		if err != nil {
			t.Error(err)
		}
	}, 72*time.Hour)
	p := s.run(shipped())
	if mid.Fulfillment == nil || mid.Fulfillment.State != contract.ShipmentBooked || !mid.Fulfillment.Late {
		t.Fatalf("after three days, unshipped: %+v", mid.Fulfillment)
	}
	if p.Fulfillment.State != contract.ShipmentDelivered || !p.Fulfillment.Late {
		t.Fatalf("fulfillment %+v", p.Fulfillment)
	}
	if kinds["late"] != 1 {
		t.Fatalf("notifications %v; want one late", kinds)
	}
}

func TestEventsTwiceAndOutOfOrderAreAppliedOnceInTheParcelsOrder(t *testing.T) {
	kinds := map[string]int{}
	s := newScenario(t).shipping(kinds).
		// The exception happened after the shipping, but arrives first.
		carrier(time.Hour, "e2", contract.ShipmentException, day0.Add(30*time.Hour)).
		carrier(2*time.Hour, "e1", contract.ShipmentShipped, day0.Add(24*time.Hour)).
		carrier(3*time.Hour, "e1", contract.ShipmentShipped, day0.Add(24*time.Hour)).
		carrier(4*time.Hour, "e2", contract.ShipmentException, day0.Add(30*time.Hour)).
		// An id names one event: the same id sent again with other news is
		// the same event, not a newer one.
		carrier(4*time.Hour+time.Minute, "e1", contract.ShipmentShipped, day0.Add(35*time.Hour))
	s.env.RegisterDelayedCallback(func() {
		// Another order's event changes nothing here.
		s.env.SignalWorkflow(contract.CarrierEventSignal, contract.CarrierEvent{
			ID: "x", ShipmentID: "ship-shop/other", State: contract.ShipmentLost, Time: day0.Add(40 * time.Hour)})
	}, 5*time.Hour)
	var mid contract.Progress
	s.env.RegisterDelayedCallback(func() {
		v, _ := s.env.QueryWorkflow(contract.ProgressQuery)
		_ = v.Get(&mid)
	}, 6*time.Hour)
	s.carrier(7*time.Hour, "e3", contract.ShipmentDelivered, day0.Add(50*time.Hour)).
		carrier(8*time.Hour, "e3", contract.ShipmentDelivered, day0.Add(50*time.Hour))
	p := s.run(shipped())
	if mid.Fulfillment.State != contract.ShipmentException || !mid.Fulfillment.ShippedTime.Equal(day0.Add(24*time.Hour)) {
		t.Fatalf("before delivery: %+v; want the newer Exception, shipped at the Shipped event's time", mid.Fulfillment)
	}
	if p.Fulfillment.State != contract.ShipmentDelivered || !p.Fulfillment.DeliveredTime.Equal(day0.Add(50*time.Hour)) {
		t.Fatalf("fulfillment %+v", p.Fulfillment)
	}
	if kinds["shipped"] != 1 || kinds["delivered"] != 1 {
		t.Fatalf("notifications %v; want one of each", kinds)
	}
}

func TestALostParcelIsRefundedOnceForWhatIsLeft(t *testing.T) {
	kinds := map[string]int{}
	s := newScenario(t).shipping(kinds).
		carrier(time.Hour, "e1", contract.ShipmentShipped, day0.Add(time.Hour)).
		carrier(2*time.Hour, "e2", contract.ShipmentLost, day0.Add(2*time.Hour)).
		carrier(3*time.Hour, "e2", contract.ShipmentLost, day0.Add(2*time.Hour)).
		carrier(4*time.Hour, "e3", contract.ShipmentDelivered, day0.Add(4*time.Hour))
	var refunds []contract.RefundInput
	s.env.RegisterWorkflow(RefundWorkflow)
	s.env.OnWorkflow(RefundWorkflow, mock.Anything, mock.Anything).Return(func(_ workflow.Context, in contract.RefundInput) (contract.RefundResult, error) {
		refunds = append(refunds, in)
		return contract.RefundResult{State: contract.RefundRefunded, Amount: "1299.99", ProviderID: "re_9"}, nil
	})
	p := s.run(shipped())
	if len(refunds) != 1 || refunds[0].ID != contract.LostRefundID || !refunds[0].Rest || refunds[0].Amount != "" {
		t.Fatalf("refunds %+v; want one of the rest, %s", refunds, contract.LostRefundID)
	}
	f := p.Fulfillment
	if f.State != contract.ShipmentLost || f.DeliveredTime != nil || f.Refund == nil || f.Refund.ProviderID != "re_9" || !f.Ended {
		t.Fatalf("fulfillment %+v", f)
	}
	if kinds["lost"] != 1 || kinds["delivered"] != 0 {
		t.Fatalf("notifications %v", kinds)
	}
}

func TestARefusedBookingEndsTheShipmentAndLeavesTheOrderCompleted(t *testing.T) {
	s := newScenario(t)
	s.env.OnActivity(a.BookShipment, mock.Anything, mock.Anything).Return(fulfillment.Booked{},
		temporal.NewNonRetryableApplicationError(`carrier "ups" is not configured on the worker`, fulfillment.ReasonBookingRefused, nil))
	s.happy()
	p := s.run(shipped())
	if p.Phase != contract.PhaseCompleted || p.Fulfillment == nil || !p.Fulfillment.Ended || p.Fulfillment.State != contract.ShipmentException {
		t.Fatalf("progress %+v fulfillment %+v", p, p.Fulfillment)
	}
}

func TestAnOrderWithoutFulfillmentEndsWhenCompleted(t *testing.T) {
	s := newScenario(t).happy()
	p := s.run(order())
	if p.Fulfillment != nil {
		t.Fatalf("fulfillment %+v", p.Fulfillment)
	}
	s.wantCalls("CreateOrder", "ReserveInventory", "ProcessPayment", "SendNotification", "FinishOrder")
}

func TestTheSandboxCarrierPlaysItsScript(t *testing.T) {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	var got []contract.CarrierEvent
	var at []time.Duration
	start := env.Now()
	env.OnSignalExternalWorkflow(mock.Anything, "order/shop/order-001", "", contract.CarrierEventSignal, mock.Anything).Return(
		func(_, _, _ string, _ string, arg any) error {
			got = append(got, arg.(contract.CarrierEvent))
			at = append(at, env.Now().Sub(start).Round(time.Second))
			return nil
		})
	run := fulfillment.SandboxRun{ShipmentID: shipmentID, WorkflowID: "order/shop/order-001", Script: fulfillment.ScriptChaos,
		TrackingNumber: fulfillment.TrackingNumber(shipmentID), ShipAfter: time.Hour, DeliverAfter: 48 * time.Hour}
	env.ExecuteWorkflow(SandboxCarrierWorkflow, run)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || got[0].State != contract.ShipmentDelivered || got[1].State != contract.ShipmentShipped || got[2].ID != got[0].ID {
		t.Fatalf("events %+v", got)
	}
	if at[0] != 49*time.Hour || got[0].TrackingNumber != run.TrackingNumber {
		t.Fatalf("first event at %s, %+v", at[0], got[0])
	}
}
