// Tests of the Stripe gateway. Two kinds of server answer it:
//
//   - stripe-mock (real, started by testenv): Stripe's own mock, which
//     checks every request against Stripe's published OpenAPI spec, so a
//     parameter the API does not take fails here. It is stateless and
//     answers from fixtures, so it cannot decline or replay.
//   - stripeFake (an httptest server in this file): speaks Stripe's wire
//     format (form bodies, Idempotency-Key, JSON errors) for what stripe-mock
//     cannot model: declines, rate limits, server errors, a response lost
//     after the charge was made, and idempotent replays.
package payment_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"orderflow.io/orderflow/internal/catalog"
	"orderflow.io/orderflow/internal/failure"
	"orderflow.io/orderflow/internal/payment"
	"orderflow.io/orderflow/internal/testenv"
)

const testKey = "sk_test_4eC39HqLyjWDarjtT1zdp7dc"

func TestTheStripeGatewayRefusesAMissingOrMalformedKey(t *testing.T) {
	for key, want := range map[string]string{
		"":                      "no API key",
		"   ":                   "no API key",
		"pk_test_abc":           "publishable key",
		"sk_test_abc def":       "malformed",
		"hunter2":               "malformed",
		"sk_prod_123":           "malformed",
		"sk_test_abc\nsk_test_": "malformed",
	} {
		_, err := payment.NewStripe(payment.StripeConfig{APIKey: key})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("key %q: %v; want an error saying %q", key, err, want)
		}
		if err != nil && key != "" && strings.TrimSpace(key) != "" && strings.Contains(err.Error(), strings.TrimSpace(key)) {
			t.Errorf("the error repeats the key: %v", err)
		}
	}
	for _, key := range []string{testKey, "rk_live_51Habc", "sk_live_x1"} {
		if _, err := payment.NewStripe(payment.StripeConfig{APIKey: key}); err != nil {
			t.Errorf("key of the right form refused: %v", err)
		}
	}
}

func TestStripeMockAcceptsTheGatewaysCapturesAndRefunds(t *testing.T) {
	testenv.Integration(t)
	gw, err := payment.NewStripe(payment.StripeConfig{APIKey: testKey, URL: stack.StripeMock.URL})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	id, err := gw.Charge(ctx, payment.ChargeRequest{IdempotencyKey: "capture-default/order-1", Reference: "default/order-1", Amount: 139979, Currency: "USD", PaymentMethod: "pm_card_visa"})
	if err != nil {
		t.Fatalf("capture: %v", err)
	}
	if !strings.HasPrefix(id, "pi_") {
		t.Fatalf("capture id %q; want a PaymentIntent id", id)
	}
	rid, err := gw.Refund(ctx, payment.RefundRequest{IdempotencyKey: "refund-default/order-1", Reference: "default/order-1", ChargeID: id, Amount: 139979, Currency: "USD"})
	if err != nil {
		t.Fatalf("refund: %v", err)
	}
	if !strings.HasPrefix(rid, "re_") {
		t.Fatalf("refund id %q; want a Refund id", rid)
	}

	// Through the payment service against PostgreSQL: the PaymentIntent's
	// id is what the order records.
	d := stack.TestDB(t, 10)
	if err := catalog.Upsert(ctx, d, catalog.DemoCatalog); err != nil {
		t.Fatal(err)
	}
	testenv.PlaceOrder(t, d, "default/order-2", "PROD-002", 1)
	pay := &payment.Service{DB: d, Gateway: gw}
	got, err := pay.Capture(ctx, "default/order-2", 4990, "USD", "pm_card_visa")
	if err != nil || !strings.HasPrefix(got, "pi_") {
		t.Fatalf("service capture: %q, %v", got, err)
	}
	// Partial refunds, each under its own key (refund-<namespace>/<name>/<id>):
	// stripe-mock checks each request against Stripe's API; asked again, a
	// refund answers the first one's id.
	first, err := pay.RefundPart(ctx, "default/order-2", "default/order-2/damaged", 1990)
	if err != nil || !strings.HasPrefix(first, "re_") {
		t.Fatalf("partial refund: %q, %v", first, err)
	}
	if second, err := pay.RefundPart(ctx, "default/order-2", "default/order-2/goodwill", 1000); err != nil || !strings.HasPrefix(second, "re_") {
		t.Fatalf("second partial refund: %q, %v", second, err)
	}
	if again, err := pay.RefundPart(ctx, "default/order-2", "default/order-2/damaged", 1990); err != nil || again != first {
		t.Fatalf("the same refund asked again: %q, %v; want %q", again, err, first)
	}
	var n int
	if err := d.Pool.QueryRow(ctx, `SELECT count(*) FROM payments WHERE order_key = 'default/order-2' AND kind = 'refund'`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("%d refunds recorded (%v), want 2", n, err)
	}
}

// stripeFake answers POST /v1/payment_intents and /v1/refunds as Stripe
// does, remembering each Idempotency-Key's response.
type stripeFake struct {
	mu        sync.Mutex
	responses map[string]string // Idempotency-Key -> body
	charges   int               // PaymentIntents made (not replayed)
	// next, when set, answers the next request instead: a status and body,
	// or status 0 to make the charge and then drop the connection.
	next []fakeAnswer
}

type fakeAnswer struct {
	status int
	body   string
}

func (f *stripeFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+testKey {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":{"type":"invalid_request_error","message":"Invalid API Key provided: sk_test_****"}}`)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	key := r.Header.Get("Idempotency-Key")
	f.mu.Lock()
	defer f.mu.Unlock()
	if body, ok := f.responses[key]; ok {
		w.Header().Set("Idempotent-Replayed", "true")
		fmt.Fprint(w, body)
		return
	}
	var answer *fakeAnswer
	if len(f.next) > 0 {
		answer, f.next = &f.next[0], f.next[1:]
	}
	if answer != nil && answer.status != 0 {
		w.WriteHeader(answer.status)
		fmt.Fprint(w, answer.body)
		return
	}
	var body string
	switch r.URL.Path {
	case "/v1/payment_intents":
		if r.PostForm.Get("confirm") != "true" || r.PostForm.Get("payment_method") == "" || r.PostForm.Get("metadata[order]") == "" {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"error":{"type":"invalid_request_error","message":"unexpected form %v"}}`, r.PostForm)
			return
		}
		f.charges++
		body = fmt.Sprintf(`{"id":"pi_fake%d","object":"payment_intent","status":"succeeded","amount":%s,"currency":%q}`,
			f.charges, r.PostForm.Get("amount"), r.PostForm.Get("currency"))
	case "/v1/refunds":
		body = fmt.Sprintf(`{"id":"re_fake_%s","object":"refund","status":"succeeded"}`, r.PostForm.Get("payment_intent"))
	default:
		http.NotFound(w, r)
		return
	}
	f.responses[key] = body
	if answer != nil { // made, but the caller never hears of it
		hj, _ := w.(http.Hijacker)
		conn, _, _ := hj.Hijack()
		conn.Close()
		return
	}
	fmt.Fprint(w, body)
}

func newStripeFake(t *testing.T, next ...fakeAnswer) (*stripeFake, payment.Gateway) {
	f := &stripeFake{responses: map[string]string{}, next: next}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	gw, err := payment.NewStripe(payment.StripeConfig{APIKey: testKey, URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return f, gw
}

func TestStripeErrorsAreSortedIntoDeclinesTransientAndRefused(t *testing.T) {
	req := payment.ChargeRequest{IdempotencyKey: "capture-default/o", Reference: "default/o", Amount: 4990, Currency: "USD", PaymentMethod: "pm_card_visa"}
	for _, tc := range []struct {
		name   string
		answer fakeAnswer
		check  func(error) bool
		want   string
	}{
		{"card declined", fakeAnswer{402, `{"error":{"type":"card_error","code":"card_declined","decline_code":"insufficient_funds","message":"Your card has insufficient funds."}}`},
			func(err error) bool {
				var d *payment.DeclinedError
				return errors.As(err, &d) && d.Code == "insufficient_funds"
			}, "declined (insufficient_funds)"},
		{"expired card", fakeAnswer{402, `{"error":{"type":"card_error","code":"expired_card","message":"Your card has expired."}}`},
			func(err error) bool {
				var d *payment.DeclinedError
				return errors.As(err, &d) && d.Code == "expired_card"
			}, "declined (expired_card)"},
		{"rate limited", fakeAnswer{429, `{"error":{"type":"invalid_request_error","code":"rate_limit","message":"Too many requests"}}`},
			func(err error) bool { return errors.Is(err, payment.ErrTransient) }, "transient"},
		{"server error", fakeAnswer{500, `{"error":{"type":"api_error","message":"Something went wrong"}}`},
			func(err error) bool { return errors.Is(err, payment.ErrTransient) }, "transient"},
		{"idempotent request in flight", fakeAnswer{409, `{"error":{"type":"idempotency_error","code":"idempotency_key_in_use","message":"in use"}}`},
			func(err error) bool { return errors.Is(err, payment.ErrTransient) }, "transient"},
		{"amount too small", fakeAnswer{400, `{"error":{"type":"invalid_request_error","code":"amount_too_small","message":"Amount must be at least $0.50 usd"}}`},
			func(err error) bool {
				var r *payment.RefusedError
				return errors.As(err, &r) && r.Code == "amount_too_small"
			}, "refused"},
		{"requires authentication", fakeAnswer{200, `{"id":"pi_3ds","object":"payment_intent","status":"requires_action"}`},
			func(err error) bool {
				var d *payment.DeclinedError
				return errors.As(err, &d) && d.Code == "authentication_required"
			}, "declined (authentication_required)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, gw := newStripeFake(t, tc.answer)
			_, err := gw.Charge(context.Background(), req)
			if !tc.check(err) {
				t.Fatalf("%v; want %s", err, tc.want)
			}
		})
	}
	t.Run("network error", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		srv.Close()
		gw, err := payment.NewStripe(payment.StripeConfig{APIKey: testKey, URL: srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := gw.Charge(context.Background(), req); !errors.Is(err, payment.ErrTransient) {
			t.Fatalf("%v; want transient", err)
		}
	})
	t.Run("wrong key", func(t *testing.T) {
		srv := httptest.NewServer(&stripeFake{responses: map[string]string{}})
		t.Cleanup(srv.Close)
		key := "sk_test_wrongwrongwrong"
		gw, err := payment.NewStripe(payment.StripeConfig{APIKey: key, URL: srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		_, err = gw.Charge(context.Background(), req)
		if err == nil || errors.Is(err, payment.ErrTransient) || !strings.Contains(err.Error(), "API key (401)") || strings.Contains(err.Error(), key) {
			t.Fatalf("%v; want an error naming the refused key, without it", err)
		}
	})
}

// A capture whose response was lost is retried by the activity; the retry
// carries the same Idempotency-Key and gets the first PaymentIntent back:
// one charge, and the order records its id.
func TestACaptureRetriedAfterALostResponseChargesOnce(t *testing.T) {
	testenv.Integration(t)
	fake, gw := newStripeFake(t, fakeAnswer{status: 0})
	ctx := context.Background()
	d := stack.TestDB(t, 10)
	if err := catalog.Upsert(ctx, d, catalog.DemoCatalog); err != nil {
		t.Fatal(err)
	}
	testenv.PlaceOrder(t, d, "default/lost", "PROD-002", 1)
	pay := &payment.Service{DB: d, Gateway: gw}
	_, err := pay.Capture(ctx, "default/lost", 4990, "USD", "pm_card_visa")
	if err == nil {
		t.Fatal("the first capture's response was dropped, yet it succeeded")
	}
	if _, ok := failure.As(err); ok {
		t.Fatalf("a lost response is a business failure: %v", err)
	}
	id, err := pay.Capture(ctx, "default/lost", 4990, "USD", "pm_card_visa")
	if err != nil {
		t.Fatal(err)
	}
	fake.mu.Lock()
	charges := fake.charges
	fake.mu.Unlock()
	if charges != 1 || id != "pi_fake1" {
		t.Fatalf("%d PaymentIntents made, recorded %q; want 1 and pi_fake1", charges, id)
	}
	var recorded string
	if err := d.Pool.QueryRow(ctx, `SELECT id FROM payments WHERE idempotency_key = 'capture-default/lost'`).Scan(&recorded); err != nil || recorded != id {
		t.Fatalf("payments row: %q, %v", recorded, err)
	}
}

func TestADeclineOrRefusalFromStripeEndsTheOrderWithPaymentDeclined(t *testing.T) {
	testenv.Integration(t)
	ctx := context.Background()
	d := stack.TestDB(t, 10)
	if err := catalog.Upsert(ctx, d, catalog.DemoCatalog); err != nil {
		t.Fatal(err)
	}
	for i, answer := range []fakeAnswer{
		{402, `{"error":{"type":"card_error","code":"card_declined","decline_code":"stolen_card","message":"Your card was declined."}}`},
		{400, `{"error":{"type":"invalid_request_error","code":"amount_too_small","message":"Amount must be at least $0.50 usd"}}`},
	} {
		_, gw := newStripeFake(t, answer)
		order := fmt.Sprintf("default/declined-%d", i)
		testenv.PlaceOrder(t, d, order, "PROD-002", 1)
		_, err := (&payment.Service{DB: d, Gateway: gw}).Capture(ctx, order, 4990, "USD", "pm_card_visa")
		f, ok := failure.As(err)
		if !ok || f.Reason != "PaymentDeclined" {
			t.Fatalf("%s: %v; want PaymentDeclined", answer.body, err)
		}
		if want := []string{"stolen_card", "amount_too_small"}[i]; !strings.Contains(f.Message, want) {
			t.Fatalf("message %q does not name %s", f.Message, want)
		}
	}
}
