package fulfillment

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"orderflow.io/orderflow/internal/contract"
	"orderflow.io/orderflow/internal/failure"
)

var secret = []byte("s3cret-shared-with-the-service")

func TestASignatureIsVerifiedAndAnyChangeRefusesIt(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	body := []byte(`{"id":"e1"}`)
	sig := Sign(secret, body, now)
	if err := Verify(secret, sig, body, now.Add(time.Minute)); err != nil {
		t.Fatalf("a good signature: %v", err)
	}
	for name, c := range map[string]struct {
		secret []byte
		header string
		body   string
		at     time.Time
	}{
		"another body":    {secret, sig, `{"id":"e2"}`, now},
		"another secret":  {[]byte("other"), sig, string(body), now},
		"too old":         {secret, sig, string(body), now.Add(SignatureTolerance + time.Second)},
		"from the future": {secret, sig, string(body), now.Add(-SignatureTolerance - time.Second)},
		"no header":       {secret, "", string(body), now},
		"no v1":           {secret, "t=" + strings.Split(sig, ",")[0][2:], string(body), now},
		"no secret here":  {nil, sig, string(body), now},
	} {
		if err := Verify(c.secret, c.header, []byte(c.body), c.at); !errors.Is(err, ErrSignature) {
			t.Errorf("%s: %v; want ErrSignature", name, err)
		}
	}
}

func TestEventsAreDecodedStrictly(t *testing.T) {
	good := `{"id":"e1","shipmentID":"ship-shop/order-1","state":"Shipped","trackingNumber":"T1","time":"2026-12-01T10:00:00Z"}`
	ev, err := DecodeEvent([]byte(good))
	if err != nil || ev.State != contract.ShipmentShipped || ev.TrackingNumber != "T1" {
		t.Fatalf("%+v %v", ev, err)
	}
	for name, body := range map[string]string{
		"unknown field": `{"id":"e1","shipmentID":"ship-shop/o","state":"Shipped","time":"2026-12-01T10:00:00Z","x":1}`,
		"no id":         `{"shipmentID":"ship-shop/o","state":"Shipped","time":"2026-12-01T10:00:00Z"}`,
		"no time":       `{"id":"e1","shipmentID":"ship-shop/o","state":"Shipped"}`,
		"bad state":     `{"id":"e1","shipmentID":"ship-shop/o","state":"Teleported","time":"2026-12-01T10:00:00Z"}`,
		"bad shipment":  `{"id":"e1","shipmentID":"order-1","state":"Shipped","time":"2026-12-01T10:00:00Z"}`,
		"two objects":   good + good,
		"not json":      `state=Shipped`,
	} {
		if _, err := DecodeEvent([]byte(body)); !errors.Is(err, ErrInvalidEvent) {
			t.Errorf("%s: %v; want ErrInvalidEvent", name, err)
		}
	}
}

// service is a fulfillment service in the test: it verifies each booking's
// signature as a real one would, answers with code, and books each
// shipment id once.
type service struct {
	mu     sync.Mutex
	code   int
	booked map[string]int
	bad    int
}

func (s *service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := Verify(secret, r.Header.Get(SignatureHeader), body, time.Now()); err != nil {
		s.bad++
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var b Booking
	if err := json.Unmarshal(body, &b); err != nil || b.ShipmentID != r.Header.Get("Idempotency-Key") {
		http.Error(w, "bad booking", http.StatusBadRequest)
		return
	}
	if s.code != 0 {
		w.WriteHeader(s.code)
		return
	}
	s.booked[b.ShipmentID]++
	_ = json.NewEncoder(w).Encode(Booked{Reference: "bk-" + b.ShipmentID, TrackingNumber: "TRK-9"})
}

func TestTheWebhookCarrierBooksSignedAndSortsTheAnswers(t *testing.T) {
	svc := &service{booked: map[string]int{}}
	srv := httptest.NewServer(svc)
	defer srv.Close()
	b := Booking{ShipmentID: "ship-shop/order-1", Order: "shop/order-1", Items: []contract.Item{{ProductID: "P", Quantity: 1}}}
	good := Carriers{"webhook": &Webhook{URL: srv.URL, Secret: secret}}
	got, err := good.Book(context.Background(), "webhook", b)
	if err != nil || got.TrackingNumber != "TRK-9" || svc.booked[b.ShipmentID] != 1 {
		t.Fatalf("booked %+v, %v; service %+v", got, err, svc)
	}

	// Signed with another secret: the service refuses it, for good.
	_, err = Carriers{"webhook": &Webhook{URL: srv.URL, Secret: []byte("wrong")}}.Book(context.Background(), "webhook", b)
	if f, ok := failure.As(err); !ok || f.Reason != ReasonBookingRefused || svc.bad != 1 {
		t.Fatalf("wrong secret: %v (bad %d); want BookingRefused", err, svc.bad)
	}
	// A service that is down is retried; one that refuses is not.
	svc.code = http.StatusServiceUnavailable
	if _, err = good.Book(context.Background(), "webhook", b); !errors.Is(err, ErrTransient) {
		t.Fatalf("503: %v; want ErrTransient", err)
	}
	svc.code = http.StatusUnprocessableEntity
	if _, err = good.Book(context.Background(), "webhook", b); !isRefused(err) {
		t.Fatalf("422: %v; want BookingRefused", err)
	}
	if _, err = good.Book(context.Background(), "ups", b); !isRefused(err) || !strings.Contains(err.Error(), `"ups"`) {
		t.Fatalf("unknown carrier: %v", err)
	}
}

func isRefused(err error) bool {
	f, ok := failure.As(err)
	return ok && f.Reason == ReasonBookingRefused
}

func TestSandboxScriptsPlayTheirEvents(t *testing.T) {
	run := SandboxRun{ShipmentID: "ship-shop/o", Script: ScriptLose, TrackingNumber: TrackingNumber("ship-shop/o"), ShipAfter: time.Second, DeliverAfter: 2 * time.Second}
	p := Plan(run)
	if len(p) != 2 || p[0].Event.State != contract.ShipmentShipped || p[1].Event.State != contract.ShipmentLost || p[1].After != 3*time.Second {
		t.Fatalf("lose: %+v", p)
	}
	run.Script = ScriptStuck
	if p := Plan(run); len(p) != 0 {
		t.Fatalf("stuck: %+v", p)
	}
	var started []SandboxRun
	sb := &Sandbox{Start: func(_ context.Context, r SandboxRun) error { started = append(started, r); return nil }}
	if _, err := sb.Book(context.Background(), Booking{ShipmentID: "ship-shop/o", Script: "teleport"}); !isRefused(err) {
		t.Fatalf("unknown script: %v", err)
	}
	if _, err := sb.Book(context.Background(), Booking{ShipmentID: "ship-shop/o", WorkflowID: "order/shop/o"}); err != nil || len(started) != 1 || started[0].Script != ScriptDeliver {
		t.Fatalf("%v %+v", err, started)
	}
	if TrackingNumber("ship-shop/o") != TrackingNumber("ship-shop/o") || TrackingNumber("ship-shop/o") == TrackingNumber("ship-shop/p") {
		t.Fatal("tracking numbers are per shipment and stable")
	}
}
