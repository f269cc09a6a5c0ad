// Package orders owns the orders and order_items tables: an order recorded
// as placed, priced from the catalog (its unitPrices checked), and where it
// stands (Status*). Recording is idempotent on the order's identity.
package orders

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"

	"orderflow.io/orderflow/api/v1alpha1"
	"orderflow.io/orderflow/internal/db"
	"orderflow.io/orderflow/internal/failure"
	"orderflow.io/orderflow/internal/money"
)

// Service records orders and their outcomes.
type Service struct {
	DB *db.DB
}

// Order statuses in the orders table.
const (
	StatusCreated   = "created"
	StatusReserved  = "reserved"
	StatusPaid      = "paid"
	StatusCompleted = "completed"
	StatusFailed    = "failed"
	StatusCancelled = "cancelled"
)

// NewOrder is an order to record, as placed.
type NewOrder struct {
	UID           string
	Namespace     string
	Name          string
	CustomerID    string
	CustomerEmail string
	Currency      string // empty: the catalog's
	Items         []NewItem
}

// NewItem is one line of a NewOrder. UnitPrice is empty when the customer
// agreed to no price.
type NewItem struct {
	ProductID string
	Quantity  int32
	UnitPrice string
}

// Priced is an order as recorded: its total and currency.
type Priced struct {
	Total    money.Amount
	Currency string
}

// Create records an order and its items, priced from the catalog. It is
// idempotent on the order's UID: a repeated call returns what the first one
// recorded, including its business failure (UnknownProduct, PriceChanged,
// CurrencyMismatch), which is recorded too.
func (s *Service) Create(ctx context.Context, o NewOrder) (Priced, error) {
	var out Priced
	var bizErr error
	err := s.DB.Tx(ctx, func(tx pgx.Tx) error {
		var status, reason, message, currency string
		var total int64
		err := tx.QueryRow(ctx, `SELECT status, reason, message, currency, total_cents FROM orders WHERE uid = $1`, o.UID).
			Scan(&status, &reason, &message, &currency, &total)
		switch {
		case err == nil:
			out = Priced{Total: money.Amount(total), Currency: currency}
			if status == StatusFailed && reason != "" && isPricingReason(reason) {
				bizErr = &failure.Error{Reason: reason, Message: message}
			}
			return nil
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}

		priced, lines, perr := s.price(ctx, tx, o)
		if perr != nil {
			f, ok := failure.As(perr)
			if !ok {
				return perr
			}
			bizErr = f
			cur := o.Currency
			if cur == "" {
				cur = "USD"
			}
			_, err := tx.Exec(ctx, `
				INSERT INTO orders (uid, namespace, name, customer_id, customer_email, currency, status, reason, message)
				VALUES ($1, $2, $3, $4, $5, $6, 'failed', $7, $8)`,
				o.UID, o.Namespace, o.Name, o.CustomerID, o.CustomerEmail, cur, f.Reason, f.Message)
			return err
		}
		out = priced
		if _, err := tx.Exec(ctx, `
			INSERT INTO orders (uid, namespace, name, customer_id, customer_email, currency, total_cents, status)
			VALUES ($1, $2, $3, $4, $5, $6, $7, 'created')`,
			o.UID, o.Namespace, o.Name, o.CustomerID, o.CustomerEmail, priced.Currency, int64(priced.Total)); err != nil {
			return err
		}
		for _, l := range lines {
			if _, err := tx.Exec(ctx, `
				INSERT INTO order_items (order_uid, product_id, quantity, unit_price_cents) VALUES ($1, $2, $3, $4)`,
				o.UID, l.ProductID, l.Quantity, int64(l.price)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return Priced{}, fmt.Errorf("orders: create: %w", err)
	}
	return out, bizErr
}

func isPricingReason(r string) bool {
	return r == v1alpha1.ReasonUnknownProduct || r == v1alpha1.ReasonPriceChanged || r == v1alpha1.ReasonCurrencyMismatch
}

type pricedLine struct {
	NewItem
	price money.Amount
}

// price checks the order against the catalog and computes its total.
func (s *Service) price(ctx context.Context, tx pgx.Tx, o NewOrder) (Priced, []pricedLine, error) {
	ids := make([]string, len(o.Items))
	for i, it := range o.Items {
		ids[i] = it.ProductID
	}
	rows, err := tx.Query(ctx, `SELECT id, price_cents, currency FROM products WHERE id = ANY($1)`, ids)
	if err != nil {
		return Priced{}, nil, err
	}
	type entry struct {
		price    money.Amount
		currency string
	}
	catalog := map[string]entry{}
	for rows.Next() {
		var id, cur string
		var cents int64
		if err := rows.Scan(&id, &cents, &cur); err != nil {
			rows.Close()
			return Priced{}, nil, err
		}
		catalog[id] = entry{money.Amount(cents), cur}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return Priced{}, nil, err
	}

	var unknown []string
	for _, id := range ids {
		if _, ok := catalog[id]; !ok {
			unknown = append(unknown, id)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return Priced{}, nil, failure.New(v1alpha1.ReasonUnknownProduct, "unknown product %s", strings.Join(unknown, ", "))
	}

	currency := o.Currency
	var total money.Amount
	lines := make([]pricedLine, 0, len(o.Items))
	for _, it := range o.Items {
		e := catalog[it.ProductID]
		if currency == "" {
			currency = e.currency
		}
		if e.currency != currency {
			return Priced{}, nil, failure.New(v1alpha1.ReasonCurrencyMismatch,
				"product %s is priced in %s, the order in %s", it.ProductID, e.currency, currency)
		}
		if it.UnitPrice != "" {
			agreed, err := money.Parse(it.UnitPrice)
			if err != nil {
				return Priced{}, nil, failure.New(v1alpha1.ReasonPriceChanged, "product %s: %v", it.ProductID, err)
			}
			if agreed != e.price {
				return Priced{}, nil, failure.New(v1alpha1.ReasonPriceChanged,
					"product %s costs %s %s now, not %s", it.ProductID, e.price, currency, agreed)
			}
		}
		line, err := e.price.Mul(int64(it.Quantity))
		if err != nil {
			return Priced{}, nil, err
		}
		if total, err = total.Add(line); err != nil {
			return Priced{}, nil, err
		}
		lines = append(lines, pricedLine{NewItem: it, price: e.price})
	}
	return Priced{Total: total, Currency: currency}, lines, nil
}

// SetStatus records where an order stands. Completing an order commits
// its held reservations in the same transaction.
func (s *Service) SetStatus(ctx context.Context, uid, status, reason, message string) error {
	return s.DB.Tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `
			UPDATE orders SET status = $2, reason = $3, message = $4, updated_at = now() WHERE uid = $1`,
			uid, status, reason, message); err != nil {
			return err
		}
		if status == StatusCompleted {
			_, err := tx.Exec(ctx, `
				UPDATE inventory_reservations SET status = 'committed', updated_at = now()
				WHERE order_uid = $1 AND status = 'held'`, uid)
			return err
		}
		return nil
	})
}

// Status returns the recorded status of an order.
func (s *Service) Status(ctx context.Context, uid string) (string, error) {
	var status string
	err := s.DB.Pool.QueryRow(ctx, `SELECT status FROM orders WHERE uid = $1`, uid).Scan(&status)
	return status, err
}
