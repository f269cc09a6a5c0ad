package fulfillment

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"orderflow.io/orderflow/internal/contract"
	"orderflow.io/orderflow/internal/failure"
)

// The sandbox carrier's scripts: how a booked parcel goes. An Order picks
// one with the annotation orderflow.io/sandbox-carrier; the default
// delivers.
const (
	// ScriptDeliver ships after ShipAfter and delivers DeliverAfter later.
	ScriptDeliver = "deliver"
	// ScriptLose ships, then loses the parcel.
	ScriptLose = "lose"
	// ScriptStuck never ships: the shipBy deadline passes.
	ScriptStuck = "stuck"
	// ScriptException ships, reports an exception, then delivers.
	ScriptException = "exception"
	// ScriptChaos sends every event twice and Delivered before Shipped.
	ScriptChaos = "chaos"
)

// SandboxScripts are the scripts the sandbox knows.
var SandboxScripts = []string{ScriptDeliver, ScriptLose, ScriptStuck, ScriptException, ScriptChaos}

// SandboxRun is one booked sandbox parcel: what the sandbox carrier's
// workflow plays (Plan) and whom it tells.
type SandboxRun struct {
	ShipmentID     string        `json:"shipmentID"`
	WorkflowID     string        `json:"workflowID"`
	Script         string        `json:"script"`
	TrackingNumber string        `json:"trackingNumber"`
	ShipAfter      time.Duration `json:"shipAfter"`
	DeliverAfter   time.Duration `json:"deliverAfter"`
}

// Sandbox is the built-in carrier: it books every parcel and has Start
// play the parcel's script (the worker starts the sandbox carrier's
// workflow, idempotent on the shipment id), which sends the events to the
// order's workflow as a real carrier's would come back through the API.
type Sandbox struct {
	Start        func(ctx context.Context, run SandboxRun) error
	ShipAfter    time.Duration
	DeliverAfter time.Duration
}

func (s *Sandbox) Book(ctx context.Context, b Booking) (Booked, error) {
	script := b.Script
	if script == "" {
		script = ScriptDeliver
	}
	if !slices.Contains(SandboxScripts, script) {
		return Booked{}, failure.New(ReasonBookingRefused, "sandbox script %q: want one of %s", script, strings.Join(SandboxScripts, ", "))
	}
	run := SandboxRun{ShipmentID: b.ShipmentID, WorkflowID: b.WorkflowID, Script: script,
		TrackingNumber: TrackingNumber(b.ShipmentID), ShipAfter: s.ShipAfter, DeliverAfter: s.DeliverAfter}
	if err := s.Start(ctx, run); err != nil {
		return Booked{}, fmt.Errorf("%w: start the sandbox parcel: %v", ErrTransient, err)
	}
	return Booked{Reference: "sandbox/" + b.ShipmentID}, nil
}

// TrackingNumber is the sandbox's tracking number of a shipment: the same
// for the same shipment every time.
func TrackingNumber(shipmentID string) string {
	sum := sha256.Sum256([]byte(shipmentID))
	return "SBX" + strings.ToUpper(hex.EncodeToString(sum[:6]))
}

// Planned is one event of a sandbox script, After the booking.
type Planned struct {
	After time.Duration
	Event contract.CarrierEvent
}

// Plan is the events a sandbox script sends, in the order it sends them.
// Their Time is left for the player to stamp.
func Plan(run SandboxRun) []Planned {
	ev := func(n int, state, message string) contract.CarrierEvent {
		e := contract.CarrierEvent{ID: fmt.Sprintf("%s/%d", run.ShipmentID, n), ShipmentID: run.ShipmentID, State: state, Message: message}
		if state != contract.ShipmentBooked {
			e.TrackingNumber = run.TrackingNumber
		}
		return e
	}
	ship, done := run.ShipAfter, run.ShipAfter+run.DeliverAfter
	switch run.Script {
	case ScriptStuck:
		return nil
	case ScriptLose:
		return []Planned{{ship, ev(1, contract.ShipmentShipped, "")}, {done, ev(2, contract.ShipmentLost, "the parcel was lost in transit")}}
	case ScriptException:
		return []Planned{{ship, ev(1, contract.ShipmentShipped, "")},
			{ship + run.DeliverAfter/2, ev(2, contract.ShipmentException, "delivery attempt failed: nobody home")},
			{done, ev(3, contract.ShipmentDelivered, "")}}
	case ScriptChaos:
		shipped, delivered := ev(1, contract.ShipmentShipped, ""), ev(2, contract.ShipmentDelivered, "")
		return []Planned{{done, delivered}, {done, shipped}, {done, delivered}, {done, shipped}}
	default:
		return []Planned{{ship, ev(1, contract.ShipmentShipped, "")}, {done, ev(2, contract.ShipmentDelivered, "")}}
	}
}
