// Package refunds owns partial refunds of completed orders (an Order's
// spec.refunds): the record of each refund an order asked for (tables
// order_refunds and order_refund_items), what it comes to, and the rule that
// an order's refunds never take back more than was captured. The money
// moves through internal/payment, the stock through internal/inventory.
//
// A refund is decided once (Accept) and its record answers every later ask,
// so a refund asked again by a retried step, by an Order deleted and applied
// again or after Temporal forgot the workflow finds its first answer.
package refunds

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"orderflow.io/orderflow/internal/contract"
	"orderflow.io/orderflow/internal/db"
	"orderflow.io/orderflow/internal/failure"
	"orderflow.io/orderflow/internal/inventory"
	"orderflow.io/orderflow/internal/money"
	"orderflow.io/orderflow/internal/orders"
	"orderflow.io/orderflow/internal/payment"
)

// Service decides, makes and records partial refunds.
type Service struct {
	DB        *db.DB
	Payments  *payment.Service
	Inventory *inventory.Service
}

// Record states in order_refunds.
const (
	stateAccepted = "accepted"
	stateRefunded = "refunded"
	stateRefused  = "refused"
)

// Decision is where a refund stands in its record.
type Decision struct {
	// OrderKey is the key of the order's record.
	OrderKey string
	// State is Pending (accepted, not yet made), Refunded or Refused.
	State      string
	Amount     money.Amount
	Currency   string
	ProviderID string
	Message    string
	Restock    bool
	Time       time.Time
}

// Result is the decision as the workflow reports it.
func (d Decision) Result() contract.RefundResult {
	return contract.RefundResult{State: d.State, Amount: d.Amount.String(), Currency: d.Currency,
		ProviderID: d.ProviderID, Message: d.Message, Time: d.Time}
}

// request is the canonical text of what a refund asks, to tell the same
// request from another one under the same id.
func request(in contract.RefundInput) string {
	if in.Rest {
		return "the rest"
	}
	if in.Amount != "" {
		return "amount " + in.Amount
	}
	items := slices.Clone(in.Items)
	slices.SortFunc(items, func(a, b contract.RefundItem) int { return strings.Compare(a.ProductID, b.ProductID) })
	var b strings.Builder
	b.WriteString("items")
	for _, it := range items {
		fmt.Fprintf(&b, " %s×%d", it.ProductID, it.Quantity)
	}
	if in.Restock {
		b.WriteString(" restock")
	}
	return b.String()
}

// Accept decides a refund, once, with the order's record locked so
// refunds of one order are decided one at a time: it is refused when the
// order did not complete, when it names what the order does not hold, or
// when with the refunds accepted before it would exceed the capture;
// otherwise it is accepted and counted against the capture. A refund
// decided before is answered from its record. An order still processing is
// an error to retry: its refunds wait until it completes.
func (s *Service) Accept(ctx context.Context, in contract.RefundInput) (Decision, error) {
	var d Decision
	err := s.DB.Tx(ctx, func(tx pgx.Tx) error {
		key, err := recordKey(ctx, tx, in.Namespace, in.Name)
		if err != nil {
			return err
		}
		d.OrderKey = key
		phase, err := orders.Lock(ctx, tx, key)
		if err != nil {
			return err
		}
		if found, err := s.recorded(ctx, tx, key, in, &d); err != nil || found {
			return err
		}
		switch {
		case phase == contract.PhaseFailed || phase == contract.PhaseCancelled:
			return refuse(ctx, tx, in, &d, 0, fmt.Sprintf("order %s was %s: only a completed order is refunded in part", contract.Key(in.Namespace, in.Name), strings.ToLower(string(phase))))
		case phase != contract.PhaseCompleted:
			return fmt.Errorf("order %s has not completed yet: its refunds wait", contract.Key(in.Namespace, in.Name))
		}
		captured, err := capture(ctx, tx, key, &d)
		if err != nil {
			return err
		}
		var before int64
		if err := tx.QueryRow(ctx, `SELECT coalesce(sum(amount_cents), 0) FROM order_refunds WHERE order_key = $1 AND state <> $2`,
			key, stateRefused).Scan(&before); err != nil {
			return err
		}
		left := captured - money.Amount(before)
		amount, why, err := price(ctx, tx, key, in)
		if in.Rest {
			amount, why, err = left, "", nil
			if left <= 0 {
				why = fmt.Sprintf("refund %s: nothing is left of the capture (%s %s) to refund", in.ID, captured, d.Currency)
			}
		}
		if err != nil {
			return err
		}
		if why != "" {
			return refuse(ctx, tx, in, &d, amount, why)
		}
		if amount > left {
			return refuse(ctx, tx, in, &d, amount, fmt.Sprintf("refund %s of %s %s would exceed what is left of the capture (%s of %s %s)",
				in.ID, amount, d.Currency, left, captured, d.Currency))
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO order_refunds (order_key, refund_id, request, amount_cents, restock, reason, state)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, key, in.ID, request(in), int64(amount), in.Restock && len(in.Items) > 0, in.Reason, stateAccepted); err != nil {
			return err
		}
		for _, it := range in.Items {
			if _, err := tx.Exec(ctx, `INSERT INTO order_refund_items (order_key, refund_id, product_id, quantity) VALUES ($1, $2, $3, $4)`,
				key, in.ID, it.ProductID, it.Quantity); err != nil {
				return err
			}
		}
		d.State, d.Amount, d.Restock = contract.RefundPending, amount, in.Restock && len(in.Items) > 0
		return tx.QueryRow(ctx, `SELECT updated_at FROM order_refunds WHERE order_key = $1 AND refund_id = $2`, key, in.ID).Scan(&d.Time)
	})
	if err != nil {
		return Decision{}, fmt.Errorf("refunds: accept %s: %w", contract.RefundKey(in.Namespace, in.Name, in.ID), err)
	}
	return d, nil
}

// recordKey finds the key of the record of the order in namespace with
// name (its identity, or the UID of an order placed before identity by name).
func recordKey(ctx context.Context, tx pgx.Tx, namespace, name string) (string, error) {
	var key string
	err := tx.QueryRow(ctx, `SELECT key FROM orders WHERE current_key = $1`, contract.Key(namespace, name)).Scan(&key)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("order %s: %w", contract.Key(namespace, name), orders.ErrNotRecorded)
	}
	return key, err
}

// recorded answers a refund decided before from its record; a request
// other than the recorded one under the same id is refused, and nothing
// recorded changes.
func (s *Service) recorded(ctx context.Context, tx pgx.Tx, key string, in contract.RefundInput, d *Decision) (bool, error) {
	var req, state string
	var cents int64
	err := tx.QueryRow(ctx, `SELECT request, amount_cents, restock, state, message, provider_id, updated_at FROM order_refunds WHERE order_key = $1 AND refund_id = $2`,
		key, in.ID).Scan(&req, &cents, &d.Restock, &state, &d.Message, &d.ProviderID, &d.Time)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if _, err := capture(ctx, tx, key, d); err != nil {
		return false, err
	}
	d.Amount = money.Amount(cents)
	d.State = map[string]string{stateAccepted: contract.RefundPending, stateRefunded: contract.RefundRefunded, stateRefused: contract.RefundRefused}[state]
	if req != request(in) {
		d.State, d.ProviderID, d.Restock = contract.RefundRefused, "", false
		d.Message = fmt.Sprintf("refund %s was asked before as %q: an entry of spec.refunds never changes", in.ID, req)
	}
	return true, nil
}

// capture reads the order's captured amount and its currency.
func capture(ctx context.Context, tx pgx.Tx, key string, d *Decision) (money.Amount, error) {
	var cents int64
	err := tx.QueryRow(ctx, `SELECT amount_cents, currency FROM payments WHERE idempotency_key = $1`, payment.CaptureKey(key)).Scan(&cents, &d.Currency)
	if errors.Is(err, pgx.ErrNoRows) {
		err = tx.QueryRow(ctx, `SELECT currency FROM orders WHERE key = $1`, key).Scan(&d.Currency)
	}
	return money.Amount(cents), err
}

// price is what a refund comes to: its amount, or its items at the price
// they were charged. why says what makes it impossible: a product the
// order does not hold, or more of one than is left unrefunded.
func price(ctx context.Context, tx pgx.Tx, key string, in contract.RefundInput) (amount money.Amount, why string, err error) {
	if in.Amount != "" {
		a, err := money.Parse(in.Amount)
		if err != nil || a <= 0 {
			return 0, fmt.Sprintf("refund %s: amount %q is not a sum above zero", in.ID, in.Amount), nil
		}
		return a, "", nil
	}
	if len(in.Items) == 0 {
		return 0, fmt.Sprintf("refund %s names neither items nor an amount", in.ID), nil
	}
	for _, it := range in.Items {
		var ordered int32
		var unit int64
		err := tx.QueryRow(ctx, `SELECT quantity, unit_price_cents FROM order_items WHERE order_key = $1 AND product_id = $2`, key, it.ProductID).Scan(&ordered, &unit)
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, fmt.Sprintf("refund %s: the order holds no %s", in.ID, it.ProductID), nil
		}
		if err != nil {
			return 0, "", err
		}
		var refunded int32
		if err := tx.QueryRow(ctx, `
			SELECT coalesce(sum(i.quantity), 0) FROM order_refund_items i
			JOIN order_refunds r ON r.order_key = i.order_key AND r.refund_id = i.refund_id
			WHERE i.order_key = $1 AND i.product_id = $2 AND r.state <> $3`, key, it.ProductID, stateRefused).Scan(&refunded); err != nil {
			return 0, "", err
		}
		if it.Quantity > ordered-refunded {
			return 0, fmt.Sprintf("refund %s: %d × %s asked, %d of the %d ordered are left to refund", in.ID, it.Quantity, it.ProductID, ordered-refunded, ordered), nil
		}
		line, err := money.Amount(unit).Mul(int64(it.Quantity))
		if err != nil {
			return 0, "", err
		}
		if amount, err = amount.Add(line); err != nil {
			return 0, "", err
		}
	}
	return amount, "", nil
}

// refuse records a refused refund with why.
func refuse(ctx context.Context, tx pgx.Tx, in contract.RefundInput, d *Decision, amount money.Amount, why string) error {
	d.State, d.Amount, d.Message = contract.RefundRefused, amount, why
	return tx.QueryRow(ctx, `
		INSERT INTO order_refunds (order_key, refund_id, request, amount_cents, reason, state, message)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING updated_at`,
		d.OrderKey, in.ID, request(in), int64(amount), in.Reason, stateRefused, why).Scan(&d.Time)
}

// Make has the provider refund an accepted refund, once (its idempotency
// key is contract.RefundKey's), and records it refunded; a refund made
// before is answered from its record. The provider refusing it records it
// refused: it no longer counts against the capture.
func (s *Service) Make(ctx context.Context, namespace, name, id string) (Decision, error) {
	in := contract.RefundInput{Namespace: namespace, Name: name, ID: id}
	var d Decision
	var state string
	err := s.DB.Tx(ctx, func(tx pgx.Tx) error {
		key, err := recordKey(ctx, tx, namespace, name)
		if err != nil {
			return err
		}
		d.OrderKey = key
		var cents int64
		if err := tx.QueryRow(ctx, `SELECT amount_cents, state, provider_id, message, restock, updated_at FROM order_refunds WHERE order_key = $1 AND refund_id = $2`,
			key, id).Scan(&cents, &state, &d.ProviderID, &d.Message, &d.Restock, &d.Time); err != nil {
			return err
		}
		d.Amount = money.Amount(cents)
		_, err = capture(ctx, tx, key, &d)
		return err
	})
	if err != nil {
		return Decision{}, fmt.Errorf("refunds: make %s: %w", contract.RefundKey(namespace, name, id), err)
	}
	if state != stateAccepted {
		d.State = map[string]string{stateRefunded: contract.RefundRefunded, stateRefused: contract.RefundRefused}[state]
		return d, nil
	}
	providerID, err := s.Payments.RefundPart(ctx, d.OrderKey, contract.RefundKey(namespace, name, id), d.Amount)
	if f, ok := failure.As(err); ok {
		d.State, d.Message = contract.RefundRefused, f.Message
		err = s.DB.Pool.QueryRow(ctx, `
			UPDATE order_refunds SET state = $3, message = $4, updated_at = now() WHERE order_key = $1 AND refund_id = $2 AND state = $5
			RETURNING updated_at`, d.OrderKey, id, stateRefused, f.Message, stateAccepted).Scan(&d.Time)
		if err != nil {
			return Decision{}, fmt.Errorf("refunds: record %s refused: %w", contract.RefundKey(in.Namespace, in.Name, id), err)
		}
		return d, nil
	}
	if err != nil {
		return Decision{}, err
	}
	d.State, d.ProviderID = contract.RefundRefunded, providerID
	if err := s.DB.Pool.QueryRow(ctx, `
		UPDATE order_refunds SET state = $3, provider_id = $4, updated_at = now() WHERE order_key = $1 AND refund_id = $2
		RETURNING updated_at`, d.OrderKey, id, stateRefunded, providerID).Scan(&d.Time); err != nil {
		return Decision{}, fmt.Errorf("refunds: record %s refunded: %w", contract.RefundKey(namespace, name, id), err)
	}
	return d, nil
}

// Restock puts back in stock what a refund made with restock returns, once.
func (s *Service) Restock(ctx context.Context, orderKey, id string) error {
	rows, err := s.DB.Pool.Query(ctx, `SELECT product_id, quantity FROM order_refund_items WHERE order_key = $1 AND refund_id = $2`, orderKey, id)
	if err != nil {
		return fmt.Errorf("refunds: restock %s/%s: %w", orderKey, id, err)
	}
	lines, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (inventory.Line, error) {
		var l inventory.Line
		return l, r.Scan(&l.ProductID, &l.Quantity)
	})
	if err != nil {
		return fmt.Errorf("refunds: restock %s/%s: %w", orderKey, id, err)
	}
	return s.Inventory.Restock(ctx, orderKey, id, lines)
}
