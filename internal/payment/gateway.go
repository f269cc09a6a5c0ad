// Package payment captures and refunds order payments through a Gateway,
// recording each in the payments table under an idempotency key derived
// from the order, so a retried capture or refund never moves money twice.
package payment

import (
	"context"
	"errors"

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
