//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"orderflow.io/orderflow/internal/fulfillment"
)

// A fulfillment service sends its events to the API, signed with the
// secret it shares with OrderFlow: the order's parcel moves Booked →
// Shipped → Delivered as kubectl shows it; events sent twice or late
// change nothing; unsigned, badly signed and unknown ones are refused.
func TestSignedCarrierEventsPostedToTheAPIMoveTheParcel(t *testing.T) {
	secret, err := os.ReadFile(filepath.Join(root, ".e2e", "fulfillment-secret"))
	if err != nil {
		t.Fatal(err)
	}
	secret = bytes.TrimSpace(secret)
	// The sandbox's "stuck" script books the parcel and sends nothing:
	// every event comes through the API.
	out, err := target(t).Kubectl(`apiVersion: orderflow.io/v1alpha1
kind: Order
metadata:
  name: ship-by-events
  annotations: {orderflow.io/sandbox-carrier: stuck}
spec:
  customerID: CUST-021
  items:
  - {productID: PROD-002, quantity: 1}
  fulfillment: {carrier: sandbox}
`, "-n", "default", "apply", "-f", "-")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	waitJSONPath(t, "order/ship-by-events", "{.status.fulfillment.state}", "Booked")
	post := func(body string, sign []byte) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, apiURL+"/api/fulfillment/events", strings.NewReader(body))
		if sign != nil {
			req.Header.Set(fulfillment.SignatureHeader, fulfillment.Sign(sign, []byte(body), time.Now()))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	event := func(id, shipment, state string, at time.Time) string {
		return fmt.Sprintf(`{"id":%q,"shipmentID":%q,"state":%q,"trackingNumber":"TRK-E2E","time":%q}`, id, shipment, state, at.UTC().Format(time.RFC3339))
	}
	const shipment = "ship-default/ship-by-events"
	t0 := time.Now().Add(-time.Hour)
	shipped := event("ev-1", shipment, "Shipped", t0)
	if code := post(shipped, nil); code != http.StatusUnauthorized {
		t.Fatalf("unsigned: %d; want 401", code)
	}
	if code := post(shipped, []byte("not-the-secret")); code != http.StatusUnauthorized {
		t.Fatalf("badly signed: %d; want 401", code)
	}
	if got := kubectl(t, "get", "order", "ship-by-events", "-o", "jsonpath={.status.fulfillment.state}"); got != "Booked" {
		t.Fatalf("a refused event moved the parcel: %s", got)
	}
	if code := post(event("ev-x", "ship-default/nobody", "Shipped", t0), secret); code != http.StatusNotFound {
		t.Fatalf("an unknown order's event: %d; want 404", code)
	}
	if code := post(shipped, secret); code != http.StatusAccepted {
		t.Fatalf("signed: %d; want 202", code)
	}
	kubectl(t, "wait", "--for=condition=Shipped", "order/ship-by-events", "--timeout=60s")
	delivered := event("ev-2", shipment, "Delivered", t0.Add(30*time.Minute))
	for range 2 {
		if code := post(delivered, secret); code != http.StatusAccepted && code != http.StatusOK {
			t.Fatalf("delivered: %d", code)
		}
	}
	kubectl(t, "wait", "--for=condition=Delivered", "order/ship-by-events", "--timeout=60s")
	// Late news after the delivery: taken, and it changes nothing.
	if code := post(event("ev-3", shipment, "Exception", t0.Add(10*time.Minute)), secret); code != http.StatusOK && code != http.StatusAccepted {
		t.Fatalf("a late event: %d", code)
	}
	got := kubectl(t, "get", "order", "ship-by-events", "-o", "jsonpath={.status.phase} {.status.fulfillment.state} {.status.fulfillment.trackingNumber}")
	if got != "Completed Delivered TRK-E2E" {
		t.Fatalf("status %q", got)
	}
	if wide := kubectl(t, "get", "order", "ship-by-events", "-o", "wide"); !strings.Contains(wide, "Delivered") {
		t.Fatalf("wide:\n%s", wide)
	}
}

// The webhook carrier on the local stack: the worker POSTs the booking to
// a fulfillment service (here, the test's, on 127.0.0.1:18099), signed
// with the shared secret and keyed by the shipment id; the service checks
// the signature, books it with its tracking number, and sends its events
// back to the API, signed; the Order shows the parcel delivered.
func TestTheWebhookCarrierBooksWithAServiceThatAnswersWithEvents(t *testing.T) {
	secret, err := os.ReadFile(filepath.Join(root, ".e2e", "fulfillment-secret"))
	if err != nil {
		t.Fatal(err)
	}
	secret = bytes.TrimSpace(secret)
	type booking struct {
		key  string
		body fulfillment.Booking
		err  error
	}
	bookings := make(chan booking, 4)
	ln, err := net.Listen("tcp", "127.0.0.1:18099")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		b := booking{key: r.Header.Get("Idempotency-Key")}
		if b.err = fulfillment.Verify(secret, r.Header.Get(fulfillment.SignatureHeader), body, time.Now()); b.err == nil {
			b.err = json.Unmarshal(body, &b.body)
		}
		bookings <- b
		if b.err != nil {
			http.Error(w, b.err.Error(), http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte(`{"reference":"bk-1","trackingNumber":"WH-TRACK-1"}`))
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	out, err := target(t).Kubectl(`apiVersion: orderflow.io/v1alpha1
kind: Order
metadata: {name: ship-by-webhook}
spec:
  customerID: CUST-022
  items:
  - {productID: PROD-002, quantity: 2}
  fulfillment: {carrier: webhook}
`, "-n", "default", "apply", "-f", "-")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var b booking
	select {
	case b = <-bookings:
	case <-time.After(60 * time.Second):
		t.Fatal("no booking reached the fulfillment service")
	}
	if b.err != nil || b.key != "ship-default/ship-by-webhook" || b.body.Order != "default/ship-by-webhook" || len(b.body.Items) != 1 || b.body.Items[0].Quantity != 2 {
		t.Fatalf("booking %+v", b)
	}
	waitJSONPath(t, "order/ship-by-webhook", "{.status.fulfillment.trackingNumber}", "WH-TRACK-1")
	for i, state := range []string{"Shipped", "Delivered"} {
		body := fmt.Sprintf(`{"id":"wh-%d","shipmentID":"ship-default/ship-by-webhook","state":%q,"time":%q}`, i, state, time.Now().UTC().Format(time.RFC3339))
		req, _ := http.NewRequest(http.MethodPost, apiURL+"/api/fulfillment/events", strings.NewReader(body))
		req.Header.Set(fulfillment.SignatureHeader, fulfillment.Sign(secret, []byte(body), time.Now()))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("%s: %d", state, resp.StatusCode)
		}
	}
	kubectl(t, "wait", "--for=condition=Delivered", "order/ship-by-webhook", "--timeout=60s")
}
