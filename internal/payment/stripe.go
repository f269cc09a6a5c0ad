package payment

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v82"
)

// StripeURL is Stripe's API; tests point the gateway at stripe-mock instead.
const StripeURL = "https://api.stripe.com"

// Stripe captures payments as PaymentIntents and refunds them with Stripe's
// Refunds, through the official Go library. Every request carries the
// order's idempotency key, so a capture retried after a lost response is
// answered with the first PaymentIntent and charges nothing more (Stripe
// keeps keys for 24 hours; the payments table keeps them for good). The
// library's own retries are off: the activity's retry policy owns retrying.
type Stripe struct {
	client *stripe.Client
}

// StripeConfig says how to reach Stripe.
type StripeConfig struct {
	// APIKey is a secret (sk_…) or restricted (rk_…) key. It never appears
	// in errors or logs.
	APIKey string
	// URL is the API's base URL; empty means StripeURL.
	URL string
	// Timeout bounds each request; zero means 30 seconds.
	Timeout time.Duration
}

var stripeKeyPattern = regexp.MustCompile(`^(sk|rk)_(test|live)_[0-9A-Za-z]+$`)

// NewStripe checks the configuration and returns the gateway. A missing or
// malformed key is an error naming the problem (not the key).
func NewStripe(cfg StripeConfig) (*Stripe, error) {
	key := strings.TrimSpace(cfg.APIKey)
	switch {
	case key == "":
		return nil, errors.New("stripe: no API key: set STRIPE_API_KEY or --stripe-api-key-file (a Secret's key)")
	case strings.HasPrefix(key, "pk_"):
		return nil, errors.New("stripe: the API key is a publishable key (pk_…); the gateway needs a secret key (sk_…) or a restricted key (rk_…)")
	case !stripeKeyPattern.MatchString(key):
		return nil, errors.New("stripe: the API key is malformed: want sk_test_…, sk_live_…, rk_test_… or rk_live_… with no spaces")
	}
	url := cfg.URL
	if url == "" {
		url = StripeURL
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	backend := stripe.GetBackendWithConfig(stripe.APIBackend, &stripe.BackendConfig{
		URL:               stripe.String(url),
		HTTPClient:        &http.Client{Timeout: timeout},
		MaxNetworkRetries: stripe.Int64(0),
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull},
		EnableTelemetry:   stripe.Bool(false),
	})
	backends := &stripe.Backends{API: backend, Connect: backend, Uploads: backend, MeterEvents: backend}
	return &Stripe{client: stripe.NewClient(key, stripe.WithBackends(backends))}, nil
}

// Charge creates and confirms a PaymentIntent for the amount with the
// order's payment method; it is captured automatically when it succeeds.
func (s *Stripe) Charge(ctx context.Context, req ChargeRequest) (string, error) {
	params := &stripe.PaymentIntentCreateParams{
		Amount:             stripe.Int64(int64(req.Amount)),
		Currency:           stripe.String(strings.ToLower(req.Currency)),
		PaymentMethod:      stripe.String(req.PaymentMethod),
		PaymentMethodTypes: []*string{stripe.String("card")},
		Confirm:            stripe.Bool(true),
		// An order has no customer at hand to pass 3-D Secure: ask Stripe to
		// fail instead of waiting for an action nobody will take.
		ErrorOnRequiresAction: stripe.Bool(true),
	}
	params.SetIdempotencyKey(req.IdempotencyKey)
	if req.Reference != "" {
		params.AddMetadata("order", req.Reference)
	}
	pi, err := s.client.V1PaymentIntents.Create(ctx, params)
	if err != nil {
		return "", stripeError("capture", err)
	}
	switch pi.Status {
	case stripe.PaymentIntentStatusSucceeded, stripe.PaymentIntentStatusProcessing:
		return pi.ID, nil
	case stripe.PaymentIntentStatusRequiresAction:
		return "", &DeclinedError{Code: "authentication_required"}
	default:
		code := string(pi.Status)
		if e := pi.LastPaymentError; e != nil && (e.DeclineCode != "" || e.Code != "") {
			code = firstNonEmpty(string(e.DeclineCode), string(e.Code))
		}
		return "", &DeclinedError{Code: code}
	}
}

// Refund refunds the PaymentIntent in full.
func (s *Stripe) Refund(ctx context.Context, req RefundRequest) (string, error) {
	params := &stripe.RefundCreateParams{
		PaymentIntent: stripe.String(req.ChargeID),
		Amount:        stripe.Int64(int64(req.Amount)),
	}
	params.SetIdempotencyKey(req.IdempotencyKey)
	if req.Reference != "" {
		params.AddMetadata("order", req.Reference)
	}
	r, err := s.client.V1Refunds.Create(ctx, params)
	if err != nil {
		return "", stripeError("refund", err)
	}
	if r.Status == stripe.RefundStatusFailed || r.Status == stripe.RefundStatusCanceled {
		return "", fmt.Errorf("stripe: refund %s of %s is %s (%s)", r.ID, req.ChargeID, r.Status, r.FailureReason)
	}
	return r.ID, nil
}

// stripeError sorts Stripe's errors: card errors are declines, rate limits,
// conflicts, server and network errors are transient, and the rest are
// requests Stripe will refuse again. Stripe's messages never echo a full
// key, but authentication errors are worded here all the same.
func stripeError(op string, err error) error {
	var se *stripe.Error
	if !errors.As(err, &se) {
		return fmt.Errorf("%w: stripe %s: %v", ErrTransient, op, err)
	}
	switch {
	case se.Type == stripe.ErrorTypeCard:
		return &DeclinedError{Code: firstNonEmpty(string(se.DeclineCode), string(se.Code), "card_declined")}
	case se.HTTPStatusCode == http.StatusTooManyRequests, se.HTTPStatusCode == http.StatusConflict,
		se.HTTPStatusCode >= 500, se.Type == stripe.ErrorTypeAPI:
		return fmt.Errorf("%w: stripe %s: %d %s", ErrTransient, op, se.HTTPStatusCode, firstNonEmpty(string(se.Code), se.Msg))
	case se.HTTPStatusCode == http.StatusUnauthorized:
		return fmt.Errorf("stripe %s: Stripe refused the API key (401); check the Secret holding STRIPE_API_KEY", op)
	case se.HTTPStatusCode == http.StatusForbidden:
		return fmt.Errorf("stripe %s: the API key may not do this (403): %s", op, se.Msg)
	default:
		return &RefusedError{Status: se.HTTPStatusCode, Code: firstNonEmpty(string(se.Code), string(se.Type)), Message: se.Msg}
	}
}

// RefusedError is a request the provider will refuse however often it is
// sent (an amount below the minimum, an unknown payment method).
type RefusedError struct {
	Status  int
	Code    string
	Message string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("the payment provider refused the request (%d %s): %s", e.Status, e.Code, e.Message)
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
