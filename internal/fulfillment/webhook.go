package fulfillment

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"orderflow.io/orderflow/internal/failure"
)

// Webhook is a carrier reached through a fulfillment service: each booking
// is POSTed to URL as JSON (a Booking), signed with Secret in
// SignatureHeader and carrying its shipment id as Idempotency-Key, so the
// service can both trust it and take a retried booking once. A 2xx answer
// books it (a JSON Booked body is optional); 408, 429 and 5xx are retried;
// any other answer refuses the booking. The service's events come back
// signed with the same secret on the API's POST /api/fulfillment/events.
type Webhook struct {
	URL    string
	Secret []byte
	// Client is the HTTP client (nil: one with a 10 s timeout).
	Client *http.Client
	// Now is the clock signatures are made with (nil: time.Now).
	Now func() time.Time
}

func (w *Webhook) Book(ctx context.Context, b Booking) (Booked, error) {
	body, err := json.Marshal(b)
	if err != nil {
		return Booked{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return Booked{}, failure.New(ReasonBookingRefused, "fulfillment URL: %v", err)
	}
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", b.ShipmentID)
	req.Header.Set(SignatureHeader, Sign(w.Secret, body, now()))
	client := w.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return Booked{}, fmt.Errorf("%w: %v", ErrTransient, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		var booked Booked
		if len(bytes.TrimSpace(answer)) > 0 {
			if err := json.Unmarshal(answer, &booked); err != nil {
				return Booked{}, failure.New(ReasonBookingRefused, "the fulfillment service answered %d with a body that is not a booking: %v", resp.StatusCode, err)
			}
		}
		return booked, nil
	case resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return Booked{}, fmt.Errorf("%w: the fulfillment service answered %s", ErrTransient, resp.Status)
	default:
		return Booked{}, failure.New(ReasonBookingRefused, "the fulfillment service refused the booking: %s %s", resp.Status, snippet(answer))
	}
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
