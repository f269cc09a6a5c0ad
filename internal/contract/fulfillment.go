package contract

import (
	"strings"
	"time"
)

// Shipment states, as a carrier reports them and status.fulfillment shows
// them. Booked → Shipped → Delivered is the happy path; Exception is a
// carrier's trouble report that a later Shipped or Delivered overrides;
// Delivered and Lost are final.
const (
	ShipmentBooked    = "Booked"
	ShipmentShipped   = "Shipped"
	ShipmentDelivered = "Delivered"
	ShipmentException = "Exception"
	ShipmentLost      = "Lost"
)

// ShipmentStates are the states a carrier event may carry.
var ShipmentStates = []string{ShipmentBooked, ShipmentShipped, ShipmentDelivered, ShipmentException, ShipmentLost}

// ShipmentFinal says a shipment's state is its last.
func ShipmentFinal(state string) bool { return state == ShipmentDelivered || state == ShipmentLost }

// CarrierEventSignal is the signal that brings a carrier event to the
// order's workflow.
const CarrierEventSignal = "carrier-event"

// LostRefundID is the id of the refund made when a carrier loses the
// parcel (its workflow is RefundWorkflowID(namespace, name, LostRefundID)).
const LostRefundID = "parcel-lost"

// Reasons about a shipment, for conditions and Events.
const (
	ReasonShipped       = "Shipped"
	ReasonDelivered     = "Delivered"
	ReasonBooked        = "Booked"
	ReasonInTransit     = "InTransit"
	ReasonShipException = "ShipmentException"
	ReasonParcelLost    = "ParcelLost"
	ReasonShipByMissed  = "ShipByMissed"
	// ReasonBookingRefused: a booking no retry can cure (an unknown
	// carrier, or one that refused it).
	ReasonBookingRefused = "BookingRefused"
)

const shipmentPrefix = "ship-"

// ShipmentID is the id of an order's shipment: the carrier's idempotency
// key for the booking and what its events name.
func ShipmentID(namespace, name string) string { return shipmentPrefix + Key(namespace, name) }

// ParseShipmentID returns the namespace and name of the order a shipment
// id names; ok is false for anything else.
func ParseShipmentID(id string) (namespace, name string, ok bool) {
	rest, found := strings.CutPrefix(id, shipmentPrefix)
	if !found {
		return "", "", false
	}
	namespace, name, ok = strings.Cut(rest, "/")
	if !ok || namespace == "" || name == "" || strings.Contains(name, "/") {
		return "", "", false
	}
	return namespace, name, true
}

// FulfillmentInput says that and how an order is shipped once it
// completed: the carrier to book it with and how long it may take to ship.
type FulfillmentInput struct {
	Carrier string        `json:"carrier"`
	ShipBy  time.Duration `json:"shipBy,omitempty"`
	// Script tells the sandbox carrier how to behave (see
	// fulfillment.SandboxScripts); other carriers ignore it.
	Script string `json:"script,omitempty"`
}

// CarrierEvent is one update from a carrier about a shipment. Events are
// identified by ID (the same event sent twice is applied once) and may
// arrive in any order.
type CarrierEvent struct {
	ID             string    `json:"id"`
	ShipmentID     string    `json:"shipmentID"`
	State          string    `json:"state"`
	TrackingNumber string    `json:"trackingNumber,omitempty"`
	Time           time.Time `json:"time"`
	Message        string    `json:"message,omitempty"`
}

// Fulfillment is how an order's shipment stands, as its workflow reports it.
type Fulfillment struct {
	State          string     `json:"state"`
	Carrier        string     `json:"carrier"`
	ShipmentID     string     `json:"shipmentID"`
	TrackingNumber string     `json:"trackingNumber,omitempty"`
	BookedTime     *time.Time `json:"bookedTime,omitempty"`
	ShippedTime    *time.Time `json:"shippedTime,omitempty"`
	DeliveredTime  *time.Time `json:"deliveredTime,omitempty"`
	// ShipBy is the deadline for shipping; Late is set once it passed
	// with the parcel not shipped.
	ShipBy *time.Time `json:"shipBy,omitempty"`
	Late   bool       `json:"late,omitempty"`
	// Message is the carrier's last word on an exception or a loss.
	Message string `json:"message,omitempty"`
	// Ended is set once the workflow stopped following the shipment:
	// delivered, lost, or the booking refused.
	Ended bool `json:"ended,omitempty"`
	// Refund is how the refund of a lost parcel ended.
	Refund *RefundResult `json:"refund,omitempty"`
}
