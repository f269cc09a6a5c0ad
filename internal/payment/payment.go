package payment

import (
	"context"
	"errors"
	"fmt"
	"strings"

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
func CaptureKey(orderKey string) string { return "capture-" + orderKey }
func RefundKey(orderKey string) string  { return "refund-" + orderKey }

// Capture charges the order's total once. A repeated call returns the first
// capture's id. A declined card is the PaymentDeclined business failure.
//
// Capture is fenced as Reserve is: it charges nothing for an order already
// finished or refunded, and a charge that lands after the order finished or
// its refund ran (a stalled worker's late attempt) is refunded at once,
// under the order's refund key, and reported as the WorkflowFailed failure.
func (s *Service) Capture(ctx context.Context, orderKey string, amount money.Amount, currency, method string) (string, error) {
	key := CaptureKey(orderKey)
	if id, err := s.byKey(ctx, key); err != nil || id != "" {
		return id, err
	}
	if err := s.fence(ctx, orderKey); err != nil {
		return "", err
	}
	id, err := s.Gateway.Charge(ctx, ChargeRequest{IdempotencyKey: key, Reference: orderKey, Amount: amount, Currency: currency, PaymentMethod: method})
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
	winner, ended, err := s.record(ctx, id, orderKey, "capture", amount, currency, key)
	if err != nil {
		return "", err
	}
	if ended != "" {
		refund, err := s.refund(ctx, orderKey)
		if err != nil {
			return "", fmt.Errorf("payment: refund the charge that came after order %s was %s: %w", orderKey, ended, err)
		}
		return "", failure.New(contract.ReasonWorkflowFailed, "order %s was %s while its payment was in flight: charge %s was refunded (%s)", orderKey, ended, winner, refund)
	}
	return winner, nil
}

// Refund refunds the order's capture in full, once, and closes the order's
// payment: a capture recorded after it is refunded at once. It returns ""
// when the order has no capture (nothing was charged). A completed order is
// never refunded: its outcome stands.
func (s *Service) Refund(ctx context.Context, orderKey string) (string, error) {
	if id, err := s.byKey(ctx, RefundKey(orderKey)); err != nil || id != "" {
		return id, err
	}
	var phase contract.Phase
	err := s.DB.Tx(ctx, func(tx pgx.Tx) (err error) {
		if phase, _, err = orders.LockPayment(ctx, tx, orderKey); err != nil || phase == contract.PhaseCompleted {
			return err
		}
		return orders.ClosePayment(ctx, tx, orderKey)
	})
	if errors.Is(err, orders.ErrNotRecorded) {
		return "", nil // cancelled before it was recorded: nothing was charged
	}
	if err != nil {
		return "", fmt.Errorf("payment: refund: %w", err)
	}
	if phase == contract.PhaseCompleted {
		return "", failure.New(contract.ReasonWorkflowFailed, "order %s is completed: its payment is not refunded", orderKey)
	}
	return s.refund(ctx, orderKey)
}

// refund refunds the recorded capture under the order's refund key.
func (s *Service) refund(ctx context.Context, orderKey string) (string, error) {
	key := RefundKey(orderKey)
	if id, err := s.byKey(ctx, key); err != nil || id != "" {
		return id, err
	}
	var chargeID, currency string
	var cents int64
	err := s.DB.Pool.QueryRow(ctx, `SELECT id, amount_cents, currency FROM payments WHERE idempotency_key = $1`, CaptureKey(orderKey)).
		Scan(&chargeID, &cents, &currency)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("payment: refund: %w", err)
	}
	id, err := s.Gateway.Refund(ctx, RefundRequest{IdempotencyKey: key, Reference: orderKey, ChargeID: chargeID, Amount: money.Amount(cents), Currency: currency})
	if err != nil {
		return "", fmt.Errorf("payment: refund: %w", err)
	}
	winner, _, err := s.record(ctx, id, orderKey, "refund", money.Amount(cents), currency, key)
	return winner, err
}

// RefundPart refunds amount of the order's capture under the partial
// refund's key (contract.RefundKey), once: a repeated call returns the
// first refund's id. The provider refusing it (it would exceed what is
// left of the charge, or there is no charge) is a RefundRefused failure.
func (s *Service) RefundPart(ctx context.Context, orderKey, refundKey string, amount money.Amount) (string, error) {
	key := RefundKey(refundKey)
	if id, err := s.byKey(ctx, key); err != nil || id != "" {
		return id, err
	}
	var chargeID, currency string
	err := s.DB.Pool.QueryRow(ctx, `SELECT id, currency FROM payments WHERE idempotency_key = $1`, CaptureKey(orderKey)).Scan(&chargeID, &currency)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", failure.New(contract.ReasonRefundRefused, "order %s has no capture to refund", orderKey)
	}
	if err != nil {
		return "", fmt.Errorf("payment: refund %s: %w", refundKey, err)
	}
	id, err := s.Gateway.Refund(ctx, RefundRequest{IdempotencyKey: key, Reference: refundKey, ChargeID: chargeID, Amount: amount, Currency: currency})
	var refused *RefusedError
	if errors.As(err, &refused) {
		return "", failure.New(contract.ReasonRefundRefused, "the payment provider refused the refund: %s", refused.Error())
	}
	if err != nil {
		return "", fmt.Errorf("payment: refund %s: %w", refundKey, err)
	}
	winner, _, err := s.record(ctx, id, orderKey, "refund", amount, currency, key)
	return winner, err
}

// fence refuses a capture for an order that finished or whose payment is
// closed.
func (s *Service) fence(ctx context.Context, orderKey string) error {
	var phase contract.Phase
	var closed bool
	err := s.DB.Tx(ctx, func(tx pgx.Tx) (err error) {
		phase, closed, err = orders.LockPayment(ctx, tx, orderKey)
		return err
	})
	switch {
	case err != nil:
		return fmt.Errorf("payment: %w", err)
	case phase.Terminal():
		return failure.New(contract.ReasonWorkflowFailed, "order %s is already %s: nothing was charged", orderKey, strings.ToLower(string(phase)))
	case closed:
		return failure.New(contract.ReasonWorkflowFailed, "order %s is being refunded: nothing was charged", orderKey)
	}
	return nil
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

// record stores a payment, with the order's record locked; when two
// attempts race, the first row wins and both return its id. A capture of an
// order still in flight marks it paid; ended says how an order that failed,
// was cancelled or began its refund meanwhile stands, and then nothing is
// marked.
func (s *Service) record(ctx context.Context, id, orderKey, kind string, amount money.Amount, currency, key string) (winner, ended string, err error) {
	err = s.DB.Tx(ctx, func(tx pgx.Tx) error {
		phase, closed, err := orders.LockPayment(ctx, tx, orderKey)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO payments (id, order_key, kind, amount_cents, currency, idempotency_key)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (idempotency_key) DO NOTHING`,
			id, orderKey, kind, int64(amount), currency, key); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT id FROM payments WHERE idempotency_key = $1`, key).Scan(&winner); err != nil {
			return err
		}
		switch {
		case kind != "capture", phase == contract.PhaseCompleted:
			// A late attempt of a completed order's capture: the provider
			// answered it with the capture on record (one key, one charge).
			return nil
		case phase.Terminal():
			ended = strings.ToLower(string(phase))
			return nil
		case closed:
			ended = "being refunded"
			return nil
		}
		return orders.MarkPaid(ctx, tx, orderKey)
	})
	if err != nil {
		return "", "", fmt.Errorf("payment: record %s: %w", kind, err)
	}
	return winner, ended, nil
}
