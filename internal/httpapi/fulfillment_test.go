package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"orderflow.io/orderflow/internal/contract"
	"orderflow.io/orderflow/internal/fulfillment"
	"orderflow.io/orderflow/internal/temporal"
)

func TestCarrierEventsAreVerifiedBeforeTheyReachAnOrder(t *testing.T) {
	secret := []byte("shared")
	var signalled []contract.CarrierEvent
	h := newHarness(t)
	h.s.CarrierEvents = &CarrierEvents{Secret: secret, Signal: func(_ context.Context, ev contract.CarrierEvent) error {
		switch ev.ShipmentID {
		case "ship-shop/nobody":
			return temporal.ErrNotFound
		case "ship-shop/settled":
			return temporal.ErrClosed
		}
		signalled = append(signalled, ev)
		return nil
	}}
	post := func(body, sig string) int {
		req := httptest.NewRequest(http.MethodPost, "/api/fulfillment/events", strings.NewReader(body))
		if sig != "" {
			req.Header.Set(fulfillment.SignatureHeader, sig)
		}
		rec := httptest.NewRecorder()
		h.h.ServeHTTP(rec, req)
		return rec.Code
	}
	ev := func(shipment string) string {
		return `{"id":"e1","shipmentID":"` + shipment + `","state":"Shipped","trackingNumber":"T1","time":"2026-12-01T10:00:00Z"}`
	}
	good := ev("ship-shop/order-1")
	if code := post(good, fulfillment.Sign(secret, []byte(good), time.Now())); code != http.StatusAccepted || len(signalled) != 1 {
		t.Fatalf("a signed event: %d, signalled %v", code, signalled)
	}
	// The same event again is handed on again: the workflow applies an id once.
	if code := post(good, fulfillment.Sign(secret, []byte(good), time.Now())); code != http.StatusAccepted {
		t.Fatalf("sent twice: %d", code)
	}
	refused := map[string]struct {
		body, sig string
		want      int
	}{
		"unsigned":          {good, "", http.StatusUnauthorized},
		"another secret":    {good, fulfillment.Sign([]byte("other"), []byte(good), time.Now()), http.StatusUnauthorized},
		"a replayed one":    {good, fulfillment.Sign(secret, []byte(good), time.Now().Add(-time.Hour)), http.StatusUnauthorized},
		"changed in flight": {strings.Replace(good, "Shipped", "Delivered", 1), fulfillment.Sign(secret, []byte(good), time.Now()), http.StatusUnauthorized},
		"a bad state":       {strings.Replace(good, "Shipped", "Beamed", 1), fulfillment.Sign(secret, []byte(strings.Replace(good, "Shipped", "Beamed", 1)), time.Now()), http.StatusBadRequest},
		"an unknown order":  {ev("ship-shop/nobody"), fulfillment.Sign(secret, []byte(ev("ship-shop/nobody")), time.Now()), http.StatusNotFound},
	}
	for name, c := range refused {
		if code := post(c.body, c.sig); code != c.want {
			t.Errorf("%s: %d; want %d", name, code, c.want)
		}
	}
	if len(signalled) != 2 {
		t.Fatalf("refused events reached an order: %+v", signalled)
	}
	settled := ev("ship-shop/settled")
	if code := post(settled, fulfillment.Sign(secret, []byte(settled), time.Now())); code != http.StatusOK {
		t.Fatalf("an event for a settled parcel: %d; want 200", code)
	}
}

func TestCarrierEventsAreOffWithoutASecret(t *testing.T) {
	h := newHarness(t)
	if code, body := h.do(http.MethodPost, "/api/fulfillment/events", `{}`); code != http.StatusNotFound {
		t.Fatalf("%d %v", code, body)
	}
}
