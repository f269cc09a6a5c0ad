// Package amendments owns the change of a placed order before its payment
// is captured (an Order's spec.items or customerEmail edited): the new
// items priced from the catalog, the reservation adjusted to them, the
// record's items, total, email and fingerprint replaced, all in one
// transaction or not at all. The order's workflow decides when an
// amendment may come (before the payment starts); this package holds the
// same line in PostgreSQL, under the order's lock, so a change can never
// land after the capture.
package amendments

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"orderflow.io/orderflow/internal/contract"
	"orderflow.io/orderflow/internal/db"
	"orderflow.io/orderflow/internal/failure"
	"orderflow.io/orderflow/internal/inventory"
	"orderflow.io/orderflow/internal/money"
	"orderflow.io/orderflow/internal/orders"
)

// Service amends orders.
type Service struct {
	DB *db.DB
}

// Change is an amendment of the order under Key.
type Change struct {
	Key         string
	Fingerprint string
	Email       string
	Items       []contract.Item
}

// Apply amends the order, all or nothing, and returns its new total. A
// change that cannot be made is a business failure that changed nothing:
// TooLate (the payment was captured or the order ended), OutOfStock (the
// old reservation stands), UnknownProduct, PriceChanged or
// CurrencyMismatch. Applying the same change again changes nothing and
// returns the same total, so a retried step is harmless.
func (s *Service) Apply(ctx context.Context, c Change) (money.Amount, error) {
	var total money.Amount
	var refusal error
	err := s.DB.Tx(ctx, func(tx pgx.Tx) error {
		if _, err := orders.Lock(ctx, tx, c.Key); err != nil {
			return err
		}
		phase, paid, err := orders.Standing(ctx, tx, c.Key)
		if err != nil {
			return err
		}
		switch {
		case phase.Terminal():
			refusal = failure.New(contract.ReasonTooLate, "the order is %s: it can no longer be changed", strings.ToLower(string(phase)))
			return nil
		case paid:
			refusal = failure.New(contract.ReasonTooLate, "the payment was captured: items and email change only before it")
			return nil
		}
		total, err = orders.Amend(ctx, tx, c.Key, c.Fingerprint, c.Email, c.Items)
		if f, ok := failure.As(err); ok {
			refusal = f
			return errRollback
		}
		if err != nil {
			return err
		}
		short, err := inventory.Readjust(ctx, tx, c.Key)
		if err != nil {
			return err
		}
		if len(short) > 0 {
			slices.Sort(short)
			refusal = failure.New(contract.ReasonOutOfStock, "not enough stock of %s for the change; the order keeps its items", strings.Join(short, ", "))
			return errRollback
		}
		return nil
	})
	if refusal != nil {
		return 0, refusal
	}
	if err != nil {
		return 0, fmt.Errorf("amendments: apply: %w", err)
	}
	return total, nil
}

// errRollback rolls the transaction back without being reported.
var errRollback = errors.New("rollback")
