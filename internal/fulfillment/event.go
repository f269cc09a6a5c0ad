package fulfillment

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"orderflow.io/orderflow/internal/contract"
)

// ErrInvalidEvent is wrapped by every event refused for its content.
var ErrInvalidEvent = errors.New("invalid carrier event")

// DecodeEvent reads one carrier event, strictly: unknown fields, a missing
// id, time or shipment, a shipment id that names no order, or a state that
// is not a shipment state are refused with what was wrong.
func DecodeEvent(body []byte) (contract.CarrierEvent, error) {
	var ev contract.CarrierEvent
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil {
		return ev, fmt.Errorf("%w: %v", ErrInvalidEvent, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return ev, fmt.Errorf("%w: one JSON object expected", ErrInvalidEvent)
	}
	switch {
	case ev.ID == "" || len(ev.ID) > 128:
		return ev, fmt.Errorf("%w: id: 1-128 characters required", ErrInvalidEvent)
	case ev.Time.IsZero():
		return ev, fmt.Errorf("%w: time: an RFC 3339 time required", ErrInvalidEvent)
	case !slices.Contains(contract.ShipmentStates, ev.State):
		return ev, fmt.Errorf("%w: state %q: want one of %s", ErrInvalidEvent, ev.State, strings.Join(contract.ShipmentStates, ", "))
	case len(ev.TrackingNumber) > 64:
		return ev, fmt.Errorf("%w: trackingNumber: at most 64 characters", ErrInvalidEvent)
	case len(ev.Message) > 512:
		return ev, fmt.Errorf("%w: message: at most 512 characters", ErrInvalidEvent)
	}
	if _, _, ok := contract.ParseShipmentID(ev.ShipmentID); !ok {
		return ev, fmt.Errorf("%w: shipmentID %q: want ship-<namespace>/<name>", ErrInvalidEvent, ev.ShipmentID)
	}
	return ev, nil
}
