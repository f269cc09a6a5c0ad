package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"orderflow.io/orderflow/internal/money"
	"orderflow.io/orderflow/internal/payment"
)

// Provider is where the audit counts money: the provider's own books.
type Provider interface {
	// Books returns each reference's (order's) account.
	Books(ctx context.Context) (map[string]payment.Account, error)
	// ChargesInFlight counts charges of references starting with prefix
	// that the provider received and has not answered.
	ChargesInFlight(ctx context.Context, prefix string) (int, error)
}

// StripeRecorder is a recording layer in front of stripe-mock: it keeps the
// books Stripe would keep and stripe-mock does not. It answers a request
// whose Idempotency-Key it has seen with the first answer and sends nothing
// on, as Stripe does, so the books count what Stripe would have charged: a
// PaymentIntent per distinct key, under the order its metadata[order]
// names, and the refunds of each. A request is carried through to
// stripe-mock even when its caller goes away (a worker killed mid-charge:
// the money moved), and answered Latency after stripe-mock answered, so
// faults meet charges in flight.
type StripeRecorder struct {
	Latency time.Duration

	proxy    *httputil.ReverseProxy
	mu       sync.Mutex
	answers  map[string]*recordedAnswer // idempotency key -> first answer
	charges  map[string]*payment.BookedCharge
	orders   map[string][]string // order -> its PaymentIntent ids
	inFlight map[string]int      // order -> charges received, not answered
	seq      int
}

type recordedAnswer struct {
	done   chan struct{}
	status int
	header http.Header
	body   []byte
}

// NewStripeRecorder records in front of the stripe-mock at target.
func NewStripeRecorder(target string) (*StripeRecorder, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	return &StripeRecorder{proxy: httputil.NewSingleHostReverseProxy(u), answers: map[string]*recordedAnswer{},
		charges: map[string]*payment.BookedCharge{}, orders: map[string][]string{}, inFlight: map[string]int{}}, nil
}

func (s *StripeRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Idempotency-Key")
	kind := map[string]string{"/v1/payment_intents": "charge", "/v1/refunds": "refund"}[r.URL.Path]
	if r.Method != http.MethodPost || kind == "" || key == "" {
		s.proxy.ServeHTTP(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(body))
	order := form.Get("metadata[order]")
	s.mu.Lock()
	a, seen := s.answers[key]
	if !seen {
		a = &recordedAnswer{done: make(chan struct{})}
		s.answers[key] = a
		if kind == "charge" {
			s.inFlight[order]++
		}
	}
	s.mu.Unlock()
	if !seen {
		// Carried through whatever the caller does, as Stripe would.
		req := r.Clone(context.WithoutCancel(r.Context()))
		req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		rec := httptest.NewRecorder()
		s.proxy.ServeHTTP(rec, req)
		a.status, a.header, a.body = rec.Code, rec.Header(), s.uniqueID(kind, rec.Code, rec.Body.Bytes())
		s.book(kind, key, order, form, a)
		time.Sleep(s.Latency)
		s.mu.Lock()
		if kind == "charge" {
			s.inFlight[order]--
		}
		s.mu.Unlock()
		close(a.done)
	}
	select {
	case <-a.done:
	case <-r.Context().Done():
		return
	}
	for k, v := range a.header {
		w.Header()[k] = v
	}
	w.Header().Del("Content-Length") // the body's id was rewritten
	w.WriteHeader(a.status)
	_, _ = w.Write(a.body)
}

// uniqueID gives a created object an id of its own, as Stripe does:
// stripe-mock answers every create with its fixture's id.
func (s *StripeRecorder) uniqueID(kind string, status int, body []byte) []byte {
	var obj map[string]any
	if status != http.StatusOK || json.Unmarshal(body, &obj) != nil {
		return body
	}
	s.mu.Lock()
	s.seq++
	n := s.seq
	s.mu.Unlock()
	obj["id"] = fmt.Sprintf("%s_recorded%06d", map[string]string{"charge": "pi", "refund": "re"}[kind], n)
	out, err := json.Marshal(obj)
	if err != nil {
		return body
	}
	return out
}

// book records a successful charge or refund in the books.
func (s *StripeRecorder) book(kind, key, order string, form url.Values, a *recordedAnswer) {
	if a.status != http.StatusOK {
		return
	}
	var obj struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(a.body, &obj)
	amount, _ := strconv.ParseInt(form.Get("amount"), 10, 64)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch kind {
	case "charge":
		s.charges[obj.ID] = &payment.BookedCharge{ID: obj.ID, IdempotencyKey: key, Amount: money.Amount(amount), Currency: strings.ToUpper(form.Get("currency"))}
		s.orders[order] = append(s.orders[order], obj.ID)
	case "refund":
		if c := s.charges[form.Get("payment_intent")]; c != nil {
			c.Refunded += money.Amount(amount)
			c.Refunds++
		}
	}
}

func (s *StripeRecorder) Books(context.Context) (map[string]payment.Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	books := map[string]payment.Account{}
	for order, ids := range s.orders {
		var a payment.Account
		for _, id := range ids {
			a.Charges = append(a.Charges, *s.charges[id])
		}
		books[order] = a
	}
	return books, nil
}

func (s *StripeRecorder) ChargesInFlight(_ context.Context, prefix string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for order, c := range s.inFlight {
		if strings.HasPrefix(order, prefix) {
			n += c
		}
	}
	return n, nil
}

// sandboxBooks reads the sandbox provider's books in its PostgreSQL schema.
type sandboxBooks struct{ q payment.Querier }

func (b sandboxBooks) Books(ctx context.Context) (map[string]payment.Account, error) {
	return payment.ReadBooks(ctx, b.q)
}

func (b sandboxBooks) ChargesInFlight(ctx context.Context, prefix string) (int, error) {
	return payment.ChargesInFlight(ctx, b.q, prefix, 5*time.Second)
}
