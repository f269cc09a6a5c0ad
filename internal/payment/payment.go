package payment

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"orderflow.io/orderflow/internal/contract"
	"orderflow.io/orderflow/internal/db"
	"orderflow.io/orderflow/internal/failure"
	"orderflow.io/orderflow/internal/money"
	"orderflow.io/orderflow/internal/orders"
)

// Service captures and refunds order payments.
type Service struct {
	DB      *db.DB
	Gateway Gateway
}

// CaptureKey and RefundKey are the idempotency keys of an order's payments.
func CaptureKey(orderUID string) string { return "capture-" + orderUID }
func RefundKey(orderUID string) string  { return "refund-" + orderUID }

// Capture charges the order's total once. A repeated call returns the first
// capture's id. A declined card is the PaymentDeclined business failure.
func (s *Service) Capture(ctx context.Context, orderUID string, amount money.Amount, currency, method string) (string, error) {
	key := CaptureKey(orderUID)
	if id, err := s.byKey(ctx, key); err != nil || id != "" {
		return id, err
	}
	id, err := s.Gateway.Charge(ctx, ChargeRequest{IdempotencyKey: key, Reference: orderUID, Amount: amount, Currency: currency, PaymentMethod: method})
	var declined *DeclinedError
	if errors.As(err, &declined) {
		return "", failure.New(contract.ReasonPaymentDeclined, "the card was declined (%s)", declined.Code)
	}
	var refused *RefusedError
	if errors.As(err, &refused) {
		return "", failure.New(contract.ReasonPaymentDeclined, "%s", refused.Error())
	}
	if err != nil {
		return "", fmt.Errorf("payment: charge: %w", err)
	}
	return s.record(ctx, id, orderUID, "capture", amount, currency, key, true)
}

// Refund refunds the order's capture in full, once. It returns "" when the
// order has no capture (nothing was charged).
func (s *Service) Refund(ctx context.Context, orderUID string) (string, error) {
	key := RefundKey(orderUID)
	if id, err := s.byKey(ctx, key); err != nil || id != "" {
		return id, err
	}
	var chargeID, currency string
	var cents int64
	err := s.DB.Pool.QueryRow(ctx, `SELECT id, amount_cents, currency FROM payments WHERE idempotency_key = $1`, CaptureKey(orderUID)).
		Scan(&chargeID, &cents, &currency)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("payment: refund: %w", err)
	}
	id, err := s.Gateway.Refund(ctx, RefundRequest{IdempotencyKey: key, Reference: orderUID, ChargeID: chargeID, Amount: money.Amount(cents), Currency: currency})
	if err != nil {
		return "", fmt.Errorf("payment: refund: %w", err)
	}
	return s.record(ctx, id, orderUID, "refund", money.Amount(cents), currency, key, false)
}

func (s *Service) byKey(ctx context.Context, key string) (string, error) {
	var id string
	err := s.DB.Pool.QueryRow(ctx, `SELECT id FROM payments WHERE idempotency_key = $1`, key).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("payment: %w", err)
	}
	return id, nil
}

// record stores a payment; when two attempts race, the first row wins and
// both return its id.
func (s *Service) record(ctx context.Context, id, orderUID, kind string, amount money.Amount, currency, key string, paid bool) (string, error) {
	var winner string
	err := s.DB.Tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `
			INSERT INTO payments (id, order_uid, kind, amount_cents, currency, idempotency_key)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (idempotency_key) DO NOTHING`,
			id, orderUID, kind, int64(amount), currency, key); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT id FROM payments WHERE idempotency_key = $1`, key).Scan(&winner); err != nil {
			return err
		}
		if paid {
			return orders.MarkPaid(ctx, tx, orderUID)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("payment: record %s: %w", kind, err)
	}
	return winner, nil
}
