package workflows

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"orderflow.io/orderflow/internal/contract"
	"orderflow.io/orderflow/internal/fulfillment"
)

// fulfillmentChange names the change that ships a completed order when its
// input asks for it, for workflow.GetVersion.
const fulfillmentChange = "fulfillment"

// DefaultShipBy is the shipping deadline of an order whose input sets none.
const DefaultShipBy = 48 * time.Hour

// bookOptions retry a booking while the carrier cannot be reached, for as
// long as it takes; a refused booking ends the shipment.
var bookOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 30 * time.Second,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:    time.Second,
		BackoffCoefficient: 2,
		MaximumInterval:    5 * time.Minute,
	},
}

// BookInput is a booking of an order's shipment.
type BookInput struct {
	Carrier string              `json:"carrier"`
	Booking fulfillment.Booking `json:"booking"`
	// The booking's fields the carrier does not see.
	WorkflowID string `json:"workflowID"`
	Script     string `json:"script,omitempty"`
}

// fulfil ships a completed order: it books the shipment (idempotent on
// contract.ShipmentID), then follows the carrier's events (the
// CarrierEventSignal), each applied once and in the order of the parcel's
// life however they arrive, until the parcel is delivered or lost. The
// shipBy deadline is a durable timer: not shipped by then, the order is
// marked late and the customer told. A lost parcel is refunded (what is
// left of the capture, by the refund workflow). Each change is recorded in
// PostgreSQL and published; the order stays Completed throughout.
func (r *orderRun) fulfil(ctx workflow.Context) (contract.Progress, error) {
	var a *Activities
	logger := workflow.GetLogger(ctx)
	in := *r.in.Fulfillment
	f := r.p.Fulfillment
	booking := fulfillment.Booking{ShipmentID: f.ShipmentID, Order: contract.Key(r.in.Namespace, r.in.Name), Items: r.p.Items}
	if len(booking.Items) == 0 {
		booking.Items = r.in.Items
	}
	var booked fulfillment.Booked
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, bookOptions), a.BookShipment,
		BookInput{Carrier: in.Carrier, Booking: booking, WorkflowID: r.in.WorkflowID(), Script: in.Script}).Get(ctx, &booked)
	if err != nil {
		// Refused: nothing ships; the order stays as it completed.
		_, message := classify(err)
		f.State, f.Message, f.Ended = contract.ShipmentException, "the booking was refused: "+message, true
		logger.Warn("Shipment not booked", "shipment", f.ShipmentID, "error", err)
		return r.p, r.publish(ctx)
	}
	now := workflow.Now(ctx)
	shipBy := in.ShipBy
	if shipBy <= 0 {
		shipBy = DefaultShipBy
	}
	deadline := now.Add(shipBy)
	f.State, f.BookedTime, f.ShipBy, f.TrackingNumber = contract.ShipmentBooked, &now, &deadline, booked.TrackingNumber
	if err := r.recordShipment(ctx); err != nil {
		return r.p, err
	}
	if err := r.publish(ctx); err != nil {
		return r.p, err
	}

	events := workflow.GetSignalChannel(ctx, contract.CarrierEventSignal)
	timerCtx, cancelTimer := workflow.WithCancel(ctx)
	timer := workflow.NewTimer(timerCtx, shipBy)
	s := shipment{f: f, seen: map[string]bool{}}
	for !contract.ShipmentFinal(f.State) {
		before := *f
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(events, func(c workflow.ReceiveChannel, _ bool) {
			var ev contract.CarrierEvent
			c.Receive(ctx, &ev)
			s.apply(ev)
		})
		if timer != nil {
			sel.AddFuture(timer, func(workflow.Future) {
				timer = nil
				if f.ShippedTime == nil {
					f.Late = true
				}
			})
		}
		sel.Select(ctx)
		if *f == before { // a pointer set anew is a change too
			continue // a duplicate, another shipment's, or older news
		}
		if f.ShippedTime != nil && timer != nil {
			cancelTimer()
			timer = nil
		}
		r.tellCustomer(ctx, &before, f)
		if f.State == contract.ShipmentLost {
			res, err := r.refundLost(ctx)
			if err != nil {
				return r.p, err
			}
			f.Refund = &res
		}
		f.Ended = contract.ShipmentFinal(f.State)
		if err := r.recordShipment(ctx); err != nil {
			return r.p, err
		}
		if err := r.publish(ctx); err != nil {
			return r.p, err
		}
	}
	return r.p, nil
}

// recordShipment writes the shipment as it stands to PostgreSQL.
func (r *orderRun) recordShipment(ctx workflow.Context) error {
	var a *Activities
	return workflow.ExecuteLocalActivity(ctx, a.RecordShipment, r.key, *r.p.Fulfillment).Get(ctx, nil)
}

// tellCustomer emails what changed for the customer: shipped (with the
// tracking number), delivered, late, lost. A notification that cannot be
// sent is logged: the parcel's news stands either way.
func (r *orderRun) tellCustomer(ctx workflow.Context, before, f *contract.Fulfillment) {
	var kind, message string
	switch {
	case f.State == contract.ShipmentLost && before.State != contract.ShipmentLost:
		kind, message = "lost", fmt.Sprintf("The parcel of your order %s was lost by the carrier; we refund it.", r.in.Name)
	case f.DeliveredTime != nil && before.DeliveredTime == nil:
		kind, message = "delivered", fmt.Sprintf("Your order %s was delivered.", r.in.Name)
	case f.ShippedTime != nil && before.ShippedTime == nil:
		kind, message = "shipped", fmt.Sprintf("Your order %s has shipped with %s, tracking number %s.", r.in.Name, f.Carrier, f.TrackingNumber)
	case f.Late && !before.Late:
		kind, message = "late", fmt.Sprintf("Your order %s has not shipped yet; we are on it.", r.in.Name)
	default:
		return
	}
	if err := r.notify(ctx, kind, message); err != nil {
		workflow.GetLogger(ctx).Warn("Customer not notified of the shipment", "order", r.in.Name, "kind", kind, "error", err)
	}
}

// refundLost refunds what is left of the capture of an order whose parcel
// was lost, by the refund workflow under the id contract.LostRefundID:
// made once, however often it is asked.
func (r *orderRun) refundLost(ctx workflow.Context) (contract.RefundResult, error) {
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:            contract.RefundWorkflowID(r.in.Namespace, r.in.Name, contract.LostRefundID),
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
	})
	var res contract.RefundResult
	err := workflow.ExecuteChildWorkflow(cctx, RefundWorkflow, contract.RefundInput{
		Namespace: r.in.Namespace, Name: r.in.Name, ID: contract.LostRefundID, Rest: true,
		Reason: "the carrier lost the parcel", CustomerEmail: r.in.CustomerEmail,
	}).Get(ctx, &res)
	return res, err
}

// shipment applies carrier events to a fulfillment: each event once (by
// id), and in the order of the parcel's life rather than of arrival. A
// Delivered or Lost is final; a Shipped after an Exception clears it only
// when it is newer; an event older than the state it would replace is
// kept only for what it adds (a tracking number, a shipped time).
type shipment struct {
	f    *contract.Fulfillment
	seen map[string]bool
	// at is the carrier's time of the event that set the state.
	at time.Time
}

// rank orders the states along the parcel's life.
func rank(state string) int {
	switch state {
	case contract.ShipmentShipped, contract.ShipmentException:
		return 1
	case contract.ShipmentDelivered, contract.ShipmentLost:
		return 2
	}
	return 0
}

func (s *shipment) apply(ev contract.CarrierEvent) {
	f := s.f
	if ev.ShipmentID != f.ShipmentID || s.seen[ev.ID] {
		return
	}
	s.seen[ev.ID] = true
	if ev.TrackingNumber != "" && f.TrackingNumber == "" {
		f.TrackingNumber = ev.TrackingNumber
	}
	if ev.State == contract.ShipmentShipped || ev.State == contract.ShipmentDelivered {
		if t := ev.Time; f.ShippedTime == nil || ev.State == contract.ShipmentShipped && t.Before(*f.ShippedTime) {
			f.ShippedTime = &t
		}
	}
	if contract.ShipmentFinal(f.State) {
		return // the parcel's fate is known: nothing replaces it
	}
	switch r, cur := rank(ev.State), rank(f.State); {
	case r > cur, r == cur && r > 0 && ev.Time.After(s.at):
	default:
		return
	}
	f.State, s.at = ev.State, ev.Time
	switch ev.State {
	case contract.ShipmentDelivered:
		t := ev.Time
		f.DeliveredTime, f.Message = &t, ev.Message
	case contract.ShipmentShipped:
		f.Message = ""
	default:
		f.Message = ev.Message
	}
}

// BookShipment books an order's shipment with its carrier, once per
// shipment id. A refusal is a NonRetryable error.
func (a *Activities) BookShipment(ctx context.Context, in BookInput) (fulfillment.Booked, error) {
	b := in.Booking
	b.WorkflowID, b.Script = in.WorkflowID, in.Script
	booked, err := a.Carriers.Book(ctx, in.Carrier, b)
	return booked, asTemporal(err)
}

// RecordShipment writes how an order's shipment stands to PostgreSQL.
func (a *Activities) RecordShipment(ctx context.Context, key string, f contract.Fulfillment) error {
	return a.Shipments.Record(ctx, key, f)
}

// SandboxCarrierWorkflow plays a sandbox parcel's script: each planned
// event, at its time after the booking, sent to the order's workflow as a
// carrier's event would be. Its id is "sandbox-carrier/<shipment id>".
func SandboxCarrierWorkflow(ctx workflow.Context, run fulfillment.SandboxRun) error {
	start := workflow.Now(ctx)
	for _, p := range fulfillment.Plan(run) {
		if wait := start.Add(p.After).Sub(workflow.Now(ctx)); wait > 0 {
			if err := workflow.Sleep(ctx, wait); err != nil {
				return err
			}
		}
		ev := p.Event
		ev.Time = workflow.Now(ctx)
		err := workflow.SignalExternalWorkflow(ctx, run.WorkflowID, "", contract.CarrierEventSignal, ev).Get(ctx, nil)
		if err != nil {
			// The order's workflow is gone (its parcel's fate was known):
			// nobody is left to tell.
			workflow.GetLogger(ctx).Info("Sandbox event not delivered", "shipment", run.ShipmentID, "error", err)
			return nil
		}
	}
	return nil
}

// SandboxWorkflowID is the sandbox carrier workflow's id for a shipment.
func SandboxWorkflowID(shipmentID string) string { return "sandbox-carrier/" + shipmentID }

// SandboxStarter starts the sandbox carrier's workflow for a parcel, once
// per shipment: a booking retried, or made again after the parcel's script
// ended, finds the one there is. It is the sandbox carrier's Start.
func SandboxStarter(tc client.Client) func(context.Context, fulfillment.SandboxRun) error {
	return func(ctx context.Context, run fulfillment.SandboxRun) error {
		_, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID: SandboxWorkflowID(run.ShipmentID), TaskQueue: contract.TaskQueue,
			WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
			WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		}, SandboxCarrierWorkflow, run)
		var started *serviceerror.WorkflowExecutionAlreadyStarted
		if errors.As(err, &started) {
			return nil
		}
		return err
	}
}
