// Package payment captures and refunds order payments through a Gateway,
// recording each in the payments table under an idempotency key derived
// from the order, so a retried capture or refund never moves money twice.
package payment

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"orderflow.io/orderflow/internal/money"
)

// Gateway moves money. Implementations must be idempotent on the request's
// IdempotencyKey, as card gateways are.
type Gateway interface {
	Charge(ctx context.Context, req ChargeRequest) (id string, err error)
	Refund(ctx context.Context, req RefundRequest) (id string, err error)
}

// ChargeRequest asks a gateway to capture an amount.
type ChargeRequest struct {
	IdempotencyKey string
	// Reference names the order (namespace/name) for the provider's records.
	Reference     string
	Amount        money.Amount
	Currency      string
	PaymentMethod string
}

// RefundRequest asks a gateway to refund a charge in full.
type RefundRequest struct {
	IdempotencyKey string
	Reference      string
	ChargeID       string
	Amount         money.Amount
	Currency       string
}

// DeclinedError is a charge the card network refused; retrying cannot help.
type DeclinedError struct {
	Code string
}

func (e *DeclinedError) Error() string { return "card declined: " + e.Code }

// ErrTransient is wrapped by gateway errors that a retry may cure.
var ErrTransient = errors.New("payment gateway unavailable")

// Sandbox is the built-in gateway. It follows the card-network test
// convention: pm_card_visa (and any other method) approves,
// pm_card_chargeDeclined and pm_card_chargeDeclinedInsufficientFunds
// decline. Ids are derived from the idempotency key, so a repeated request
// returns the same id. With FailureRate above zero it fails transiently
// with that probability, and with Latency each charge takes that long: for
// fault tests and for acting on an order while its payment is in flight.
type Sandbox struct {
	FailureRate float64
	Latency     time.Duration
}

var sandboxDeclines = map[string]string{
	"pm_card_chargeDeclined":                  "card_declined",
	"pm_card_chargeDeclinedInsufficientFunds": "insufficient_funds",
}

func (s *Sandbox) Charge(ctx context.Context, req ChargeRequest) (string, error) {
	if s.Latency > 0 {
		select {
		case <-time.After(s.Latency):
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	if err := s.maybeFail(); err != nil {
		return "", err
	}
	if code, ok := sandboxDeclines[req.PaymentMethod]; ok {
		return "", &DeclinedError{Code: code}
	}
	return "pay_" + digest(req.IdempotencyKey), nil
}

func (s *Sandbox) Refund(_ context.Context, req RefundRequest) (string, error) {
	if err := s.maybeFail(); err != nil {
		return "", err
	}
	return "re_" + digest(req.IdempotencyKey), nil
}

func (s *Sandbox) maybeFail() error {
	if s.FailureRate > 0 && rand.Float64() < s.FailureRate {
		return fmt.Errorf("%w: sandbox timeout", ErrTransient)
	}
	return nil
}

func digest(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:12])
}
