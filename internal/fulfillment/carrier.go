// Package fulfillment owns shipping an order with a carrier: the Carrier
// interface a booking goes through, the built-in sandbox carrier (its
// script of events, run by the worker as a workflow of its own), the
// webhook carrier (bookings POSTed to a fulfillment service, HMAC-signed),
// the signature both directions use, and the carrier events that come
// back (Event decoding and validation). What an event does to an order is
// the order workflow's (workflows/fulfillment.go).
package fulfillment

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"orderflow.io/orderflow/internal/contract"
	"orderflow.io/orderflow/internal/failure"
)

// Booking asks a carrier to ship an order. Carriers must be idempotent on
// ShipmentID, as a retried booking sends the same one again.
type Booking struct {
	ShipmentID string          `json:"shipmentID"`
	Order      string          `json:"order"`
	Items      []contract.Item `json:"items"`
	// WorkflowID is the order workflow the carrier's events go to (the
	// sandbox signals it; a webhook carrier's come back through the API).
	WorkflowID string `json:"-"`
	// Script is the sandbox carrier's behaviour (SandboxScripts).
	Script string `json:"-"`
}

// Booked is a carrier's answer to a booking.
type Booked struct {
	Reference      string `json:"reference,omitempty"`
	TrackingNumber string `json:"trackingNumber,omitempty"`
}

// Carrier books shipments.
type Carrier interface {
	Book(ctx context.Context, b Booking) (Booked, error)
}

// ReasonBookingRefused is the failure of a booking no retry can cure: an
// unknown carrier, or one that refused it (the contract's word).
const ReasonBookingRefused = contract.ReasonBookingRefused

// ErrTransient is wrapped by carrier errors that a retry may cure.
var ErrTransient = errors.New("carrier unavailable")

// Carriers are the carriers a worker can book with, by name.
type Carriers map[string]Carrier

// Book books with the named carrier; an unknown one is a BookingRefused
// failure that names the carriers there are.
func (cs Carriers) Book(ctx context.Context, carrier string, b Booking) (Booked, error) {
	c, ok := cs[carrier]
	if !ok {
		names := make([]string, 0, len(cs))
		for n := range cs {
			names = append(names, n)
		}
		sort.Strings(names)
		return Booked{}, failure.New(ReasonBookingRefused, "carrier %q is not configured on the worker (it has: %s)", carrier, strings.Join(names, ", "))
	}
	booked, err := c.Book(ctx, b)
	if err != nil {
		return Booked{}, fmt.Errorf("carrier %s: %w", carrier, err)
	}
	return booked, nil
}
