package httpapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"orderflow.io/orderflow/internal/contract"
	"orderflow.io/orderflow/internal/fulfillment"
	"orderflow.io/orderflow/internal/temporal"
)

// CarrierEvents takes the events a fulfillment service sends back about
// the parcels the webhook carrier booked.
type CarrierEvents struct {
	// Secret is shared with the fulfillment service: every event is
	// verified against it.
	Secret []byte
	// Signal brings an event to its order's workflow
	// (temporal.OrderWorkflows.CarrierEvent): temporal.ErrNotFound for an
	// unknown order, temporal.ErrClosed for one whose parcel is settled.
	Signal func(context.Context, contract.CarrierEvent) error
	// Now is the clock signatures are checked against (nil: time.Now).
	Now func() time.Time
}

// carrierEvent serves POST /api/fulfillment/events. It is not under
// Kubernetes auth: a fulfillment service has no Kubernetes identity. The
// HMAC signature over the body (fulfillment.SignatureHeader) is its
// credential: an event without a good one is refused (401) and logged,
// never applied. A good event is handed to its order's workflow, which
// applies each event id once and in the parcel's order, so the service
// may send an event again, or late: 202 either way. An event for an order
// that does not exist is refused (404) and logged; one for an order whose
// parcel is settled is accepted and changes nothing (200).
func (s *Server) carrierEvent(w http.ResponseWriter, r *http.Request) {
	ce := s.CarrierEvents
	if ce == nil {
		writeError(w, &apiError{Status: http.StatusNotFound, Code: "NotFound",
			Message: "carrier events are not taken here: the API runs without a fulfillment webhook secret"})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.MaxBody))
	if err != nil {
		writeError(w, &apiError{Status: http.StatusRequestEntityTooLarge, Code: "TooLarge", Message: err.Error()})
		return
	}
	now := time.Now
	if ce.Now != nil {
		now = ce.Now
	}
	if err := fulfillment.Verify(ce.Secret, r.Header.Get(fulfillment.SignatureHeader), body, now()); err != nil {
		s.Log.Info("Carrier event refused", "reason", err.Error(), "remote", r.RemoteAddr)
		writeError(w, &apiError{Status: http.StatusUnauthorized, Code: "BadSignature", Message: err.Error()})
		return
	}
	ev, err := fulfillment.DecodeEvent(body)
	if err != nil {
		s.Log.Info("Carrier event refused", "reason", err.Error())
		writeError(w, &apiError{Status: http.StatusBadRequest, Code: "Invalid", Message: err.Error()})
		return
	}
	err = ce.Signal(r.Context(), ev)
	switch {
	case errors.Is(err, temporal.ErrNotFound):
		s.Log.Info("Carrier event for an unknown order refused", "event", ev.ID, "shipment", ev.ShipmentID)
		writeError(w, &apiError{Status: http.StatusNotFound, Code: "NotFound", Message: "no order ships as " + ev.ShipmentID})
	case errors.Is(err, temporal.ErrClosed):
		writeJSON(w, http.StatusOK, map[string]any{"id": ev.ID, "applied": false,
			"message": "the shipment's fate is settled: the event changes nothing"})
	case err != nil:
		s.Log.Error(err, "Carrier event not delivered", "event", ev.ID)
		writeError(w, &apiError{Status: http.StatusServiceUnavailable, Code: "TemporalUnavailable", Message: "the event could not be delivered: send it again"})
	default:
		writeJSON(w, http.StatusAccepted, map[string]any{"id": ev.ID, "accepted": true})
	}
}
