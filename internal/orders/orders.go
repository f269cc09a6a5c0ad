// Package orders owns the orders and order_items tables: an order recorded
// as placed, priced from the catalog (its unitPrices checked), and where it
// stands. An order's record is keyed by its identity, the Order's
// namespace/name (older records by the Order's UID), and remembers what was
// ordered (a fingerprint): recording the same order again finds the first
// record, and a different order under a used name is refused (NameReused).
package orders

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"orderflow.io/orderflow/internal/catalog"
	"orderflow.io/orderflow/internal/contract"
	"orderflow.io/orderflow/internal/db"
	"orderflow.io/orderflow/internal/failure"
	"orderflow.io/orderflow/internal/money"
)

// Service records orders and their outcomes.
type Service struct {
	DB *db.DB
}

// Record statuses in the orders table's status column: how the record
// spells where the order stands. Outside this package an order's standing
// is the contract's Phase.
const (
	statusCreated   = "created"
	statusReserved  = "reserved"
	statusPaid      = "paid"
	statusCompleted = "completed"
	statusFailed    = "failed"
	statusCancelled = "cancelled"
)

// phaseOf is the phase a record status stands for.
func phaseOf(status string) contract.Phase {
	switch status {
	case statusCompleted:
		return contract.PhaseCompleted
	case statusFailed:
		return contract.PhaseFailed
	case statusCancelled:
		return contract.PhaseCancelled
	}
	return contract.PhaseProcessing
}

// finalStatus is the record status of a terminal phase.
func finalStatus(p contract.Phase) (string, error) {
	switch p {
	case contract.PhaseCompleted:
		return statusCompleted, nil
	case contract.PhaseFailed:
		return statusFailed, nil
	case contract.PhaseCancelled:
		return statusCancelled, nil
	}
	return "", failure.New(contract.ReasonWorkflowFailed, "orders: %q is not a final phase", p)
}

// NewOrder is an order to record, as placed.
type NewOrder struct {
	// Key keys the record: the order's identity, <namespace>/<name> (the
	// Order's UID for orders placed before identity by name).
	Key string
	// ObjectUID is the UID of the Order object that placed it.
	ObjectUID string
	// Fingerprint says what was ordered; empty: not checked.
	Fingerprint   string
	Namespace     string
	Name          string
	CustomerID    string
	CustomerEmail string
	Currency      string // empty: the catalog's
	Items         []contract.Item
}

// Priced is an order as recorded: its total and currency, the key its
// record and payments go by (NewOrder.Key, or the key of the earlier record
// of the same order), and, when the order had already finished, how.
type Priced struct {
	Total    money.Amount
	Currency string
	Key      string
	Finished *Outcome
}

// Outcome is how a recorded order ended, with what the workflow reports of
// it: for an order applied again after it finished.
type Outcome struct {
	Phase     contract.Phase // Completed, Failed or Cancelled
	Reason    string
	Message   string
	PaymentID string
	RefundID  string
	// Steps are the times the steps completed, by step.
	Steps     map[contract.Step]time.Time
	PlacedAt  time.Time
	Completed time.Time
}

// Create records an order and its items, priced from the catalog. It is
// idempotent on the order's identity: a repeated call finds the record the
// first one made (by its key, or an older record of the same
// namespace/name) and returns what it recorded, including its business
// failure (UnknownProduct, PriceChanged, CurrencyMismatch) or, for an order
// that finished, its outcome. A record of a different order under the same
// namespace/name is the NameReused business failure; it is left untouched.
func (s *Service) Create(ctx context.Context, o NewOrder) (Priced, error) {
	var out Priced
	var bizErr error
	err := s.DB.Tx(ctx, func(tx pgx.Tx) error {
		var key, status, reason, message, currency, customer string
		var fingerprint *string
		var total int64
		var placed, updated time.Time
		err := tx.QueryRow(ctx, `
			SELECT key, status, reason, message, currency, total_cents, fingerprint, customer_id, created_at, updated_at
			FROM orders WHERE key = $1 OR current_key = $2 ORDER BY key = $1 DESC LIMIT 1 FOR UPDATE`, o.Key, o.Namespace+"/"+o.Name).
			Scan(&key, &status, &reason, &message, &currency, &total, &fingerprint, &customer, &placed, &updated)
		switch {
		case err == nil:
			same, err := sameOrder(ctx, tx, key, fingerprint, customer, o)
			if err != nil {
				return err
			}
			if !same {
				bizErr = failure.New(contract.ReasonNameReused,
					"%s/%s was already used for a different order, placed %s; this one was not processed",
					o.Namespace, o.Name, placed.UTC().Format(time.RFC3339))
				return nil
			}
			out = Priced{Total: money.Amount(total), Currency: currency, Key: key}
			if status == statusFailed && reason != "" && isPricingReason(reason) {
				bizErr = &failure.Error{Reason: reason, Message: message}
				return nil
			}
			if finished(status) {
				out.Finished, err = outcome(ctx, tx, key, status, reason, message, placed, updated)
			}
			return err
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}

		var fp *string
		if o.Fingerprint != "" {
			fp = &o.Fingerprint
		}
		orderKey := o.Namespace + "/" + o.Name
		priced, lines, perr := price(ctx, tx, o)
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
				INSERT INTO orders (key, current_key, object_uid, fingerprint, namespace, name, customer_id, customer_email, currency, status, reason, message)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'failed', $10, $11)`,
				o.Key, orderKey, o.ObjectUID, fp, o.Namespace, o.Name, o.CustomerID, o.CustomerEmail, cur, f.Reason, f.Message)
			return err
		}
		out = priced
		out.Key = o.Key
		if _, err := tx.Exec(ctx, `
			INSERT INTO orders (key, current_key, object_uid, fingerprint, namespace, name, customer_id, customer_email, currency, total_cents, status)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'created')`,
			o.Key, orderKey, o.ObjectUID, fp, o.Namespace, o.Name, o.CustomerID, o.CustomerEmail, priced.Currency, int64(priced.Total)); err != nil {
			return err
		}
		for _, l := range lines {
			if _, err := tx.Exec(ctx, `
				INSERT INTO order_items (order_key, product_id, quantity, unit_price_cents) VALUES ($1, $2, $3, $4)`,
				o.Key, l.ProductID, l.Quantity, int64(l.price)); err != nil {
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

// sameOrder says whether the record under key is the order o. Records that
// carry a fingerprint compare it; older ones compare the customer and the
// items (product and quantity), all they hold of what was ordered.
func sameOrder(ctx context.Context, tx pgx.Tx, key string, fingerprint *string, customer string, o NewOrder) (bool, error) {
	if key == o.Key {
		// The record this very order made (a retried step), or an order
		// placed under its UID continuing.
		return fingerprint == nil || o.Fingerprint == "" || *fingerprint == o.Fingerprint, nil
	}
	if fingerprint != nil && o.Fingerprint != "" {
		return *fingerprint == o.Fingerprint, nil
	}
	if customer != o.CustomerID {
		return false, nil
	}
	rows, err := tx.Query(ctx, `SELECT product_id, quantity FROM order_items WHERE order_key = $1`, key)
	if err != nil {
		return false, err
	}
	recorded := map[string]int32{}
	for rows.Next() {
		var id string
		var q int32
		if err := rows.Scan(&id, &q); err != nil {
			rows.Close()
			return false, err
		}
		recorded[id] = q
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return false, err
	}
	if len(recorded) != len(o.Items) {
		return false, nil
	}
	for _, it := range o.Items {
		if recorded[it.ProductID] != it.Quantity {
			return false, nil
		}
	}
	return true, nil
}

func finished(status string) bool {
	return phaseOf(status).Terminal()
}

// outcome reads how the finished order under key ended: its payments and
// when each step completed. (A fenced reservation row is Release's fence,
// not a reservation: see inventory.)
func outcome(ctx context.Context, tx pgx.Tx, key, status, reason, message string, placed, updated time.Time) (*Outcome, error) {
	out := &Outcome{Phase: phaseOf(status), Reason: reason, Message: message, PlacedAt: placed, Completed: updated,
		Steps: map[contract.Step]time.Time{contract.StepAccepted: placed}}
	var reserved, captured, notified *time.Time
	err := tx.QueryRow(ctx, `
		SELECT (SELECT min(created_at) FROM inventory_reservations WHERE order_key = $1 AND status <> 'fenced'),
		       (SELECT min(created_at) FROM payments WHERE order_key = $1 AND kind = 'capture'),
		       (SELECT coalesce(delivered_at, created_at) FROM notifications WHERE order_key = $1 AND kind = 'completed')`, key).
		Scan(&reserved, &captured, &notified)
	if err != nil {
		return nil, err
	}
	for step, at := range map[contract.Step]*time.Time{contract.StepInventoryReserved: reserved,
		contract.StepPaymentCaptured: captured, contract.StepCustomerNotified: notified} {
		if at != nil {
			out.Steps[step] = *at
		}
	}
	rows, err := tx.Query(ctx, `SELECT id, kind FROM payments WHERE order_key = $1 ORDER BY created_at`, key)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id, kind string
		if err := rows.Scan(&id, &kind); err != nil {
			return nil, err
		}
		if kind == "capture" {
			out.PaymentID = id
		} else {
			out.RefundID = id
		}
	}
	return out, rows.Err()
}

func isPricingReason(r string) bool {
	return r == contract.ReasonUnknownProduct || r == contract.ReasonPriceChanged || r == contract.ReasonCurrencyMismatch
}

type pricedLine struct {
	contract.Item
	price money.Amount
}

// price checks the order against the catalog and computes its total.
func price(ctx context.Context, tx pgx.Tx, o NewOrder) (Priced, []pricedLine, error) {
	ids := make([]string, len(o.Items))
	for i, it := range o.Items {
		ids[i] = it.ProductID
	}
	prices, err := catalog.Prices(ctx, tx, ids)
	if err != nil {
		return Priced{}, nil, err
	}

	var unknown []string
	for _, id := range ids {
		if _, ok := prices[id]; !ok {
			unknown = append(unknown, id)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return Priced{}, nil, failure.New(contract.ReasonUnknownProduct, "unknown product %s", strings.Join(unknown, ", "))
	}

	currency := o.Currency
	var total money.Amount
	lines := make([]pricedLine, 0, len(o.Items))
	for _, it := range o.Items {
		e := prices[it.ProductID]
		if currency == "" {
			currency = e.Currency
		}
		if e.Currency != currency {
			return Priced{}, nil, failure.New(contract.ReasonCurrencyMismatch,
				"product %s is priced in %s, the order in %s", it.ProductID, e.Currency, currency)
		}
		if it.UnitPrice != "" {
			agreed, err := money.Parse(it.UnitPrice)
			if err != nil {
				return Priced{}, nil, failure.New(contract.ReasonPriceChanged, "product %s: %v", it.ProductID, err)
			}
			if agreed != e.Amount {
				return Priced{}, nil, failure.New(contract.ReasonPriceChanged,
					"product %s costs %s %s now, not %s", it.ProductID, e.Amount, currency, agreed)
			}
		}
		line, err := e.Amount.Mul(int64(it.Quantity))
		if err != nil {
			return Priced{}, nil, err
		}
		if total, err = total.Add(line); err != nil {
			return Priced{}, nil, err
		}
		lines = append(lines, pricedLine{Item: it, price: e.Amount})
	}
	return Priced{Total: total, Currency: currency}, lines, nil
}

// Finish records an order's outcome: phase is Completed, Failed or
// Cancelled. Completing an order commits its held reservations in the same
// transaction. A finished order's outcome stands: it is never changed again.
func (s *Service) Finish(ctx context.Context, key string, phase contract.Phase, reason, message string) error {
	status, err := finalStatus(phase)
	if err != nil {
		return err
	}
	return s.DB.Tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			UPDATE orders SET status = $2, reason = $3, message = $4, updated_at = now()
			WHERE key = $1 AND status NOT IN ('completed', 'failed', 'cancelled')`,
			key, status, reason, message)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			// Not recorded (cancelled before CreateOrder ran: nothing to
			// finish), finished the same way before (a repeated step), or
			// finished otherwise: that outcome stands, and saying so
			// beats pretending this one was recorded.
			var was string
			err := tx.QueryRow(ctx, `SELECT status FROM orders WHERE key = $1`, key).Scan(&was)
			switch {
			case errors.Is(err, pgx.ErrNoRows):
				return nil
			case err != nil:
				return err
			case was != status:
				return failure.New(contract.ReasonWorkflowFailed, "order %s is already %s: it cannot become %s", key, was, status)
			}
			return nil
		}
		if phase == contract.PhaseCompleted {
			_, err = tx.Exec(ctx, `
				UPDATE inventory_reservations SET status = 'committed', updated_at = now()
				WHERE order_key = $1 AND status = 'held'`, key)
			return err
		}
		return nil
	})
}

// Amend replaces the items and email of an order whose payment was not
// captured yet, in the caller's transaction (which holds the order's lock):
// the new items are priced from the catalog as a new order's are, in the
// order's currency, and the record takes the new fingerprint, so applying
// the amended Order again finds it. A pricing failure is the business
// failure (UnknownProduct, PriceChanged, CurrencyMismatch) and changes
// nothing. It returns the new total.
func Amend(ctx context.Context, tx pgx.Tx, key, fingerprint, email string, items []contract.Item) (money.Amount, error) {
	var currency string
	if err := tx.QueryRow(ctx, `SELECT currency FROM orders WHERE key = $1`, key).Scan(&currency); err != nil {
		return 0, err
	}
	priced, lines, err := price(ctx, tx, NewOrder{Currency: currency, Items: items})
	if err != nil {
		return 0, err
	}
	var fp *string
	if fingerprint != "" {
		fp = &fingerprint
	}
	if _, err := tx.Exec(ctx, `UPDATE orders SET total_cents = $2, customer_email = $3, fingerprint = coalesce($4, fingerprint), updated_at = now() WHERE key = $1`,
		key, int64(priced.Total), email, fp); err != nil {
		return 0, err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM order_items WHERE order_key = $1`, key); err != nil {
		return 0, err
	}
	for _, l := range lines {
		if _, err := tx.Exec(ctx, `INSERT INTO order_items (order_key, product_id, quantity, unit_price_cents) VALUES ($1, $2, $3, $4)`,
			key, l.ProductID, l.Quantity, int64(l.price)); err != nil {
			return 0, err
		}
	}
	return priced.Total, nil
}

// Standing says where the locked order's record stands: its phase, and
// whether its payment was captured or closed.
func Standing(ctx context.Context, tx pgx.Tx, key string) (phase contract.Phase, paid bool, err error) {
	var status string
	var closed bool
	err = tx.QueryRow(ctx, `SELECT status, payment_closed FROM orders WHERE key = $1`, key).Scan(&status, &closed)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, fmt.Errorf("order %s: %w", key, ErrNotRecorded)
	}
	return phaseOf(status), status == statusPaid || closed, err
}

// Tombstone records, in the caller's transaction, an order cancelled before
// its first step ran: a record in status cancelled with no items, total 0
// and currency XXX (ISO 4217's "no currency"). A CreateOrder that comes
// after (a stalled worker's old task) finds the order finished and records
// nothing, and a reservation after it takes nothing. It does nothing when
// the order has a record by then.
func Tombstone(ctx context.Context, tx pgx.Tx, key string) error {
	namespace, name, ok := strings.Cut(key, "/")
	var orderKey *string
	if ok {
		orderKey = &key
	} else {
		name = key // an order keyed by its UID
	}
	_, err := tx.Exec(ctx, `
		INSERT INTO orders (key, current_key, namespace, name, customer_id, currency, status, reason, message)
		VALUES ($1, $2, $3, $4, '', 'XXX', 'cancelled', $5, 'cancelled before its first step ran')
		ON CONFLICT DO NOTHING`, key, orderKey, namespace, name, contract.ReasonCancelled)
	return err
}

// ErrNotRecorded is a step for an order that has no record.
var ErrNotRecorded = errors.New("order is not recorded")

// Lock locks the order's record for the caller's transaction and returns
// where it stands: Processing until it finished. Every step that moves
// money or stock locks it first and moves nothing for a finished order, so
// a late step (a stalled worker's, a retried one's) cannot act after the
// outcome is recorded, and steps of one order happen one at a time.
func Lock(ctx context.Context, tx pgx.Tx, key string) (contract.Phase, error) {
	var status string
	err := tx.QueryRow(ctx, `SELECT status FROM orders WHERE key = $1 FOR UPDATE`, key).Scan(&status)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("order %s: %w", key, ErrNotRecorded)
	}
	return phaseOf(status), err
}

// LockPayment is Lock for the payment's steps: it also says whether the
// order's payment is closed (ClosePayment).
func LockPayment(ctx context.Context, tx pgx.Tx, key string) (phase contract.Phase, closed bool, err error) {
	var status string
	err = tx.QueryRow(ctx, `SELECT status, payment_closed FROM orders WHERE key = $1 FOR UPDATE`, key).Scan(&status, &closed)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, fmt.Errorf("order %s: %w", key, ErrNotRecorded)
	}
	return phaseOf(status), closed, err
}

// ClosePayment records, in the caller's transaction (which holds the
// order's lock), that the order takes no more money: its refund step ran.
// A capture recorded after it is refunded at once.
func ClosePayment(ctx context.Context, tx pgx.Tx, key string) error {
	return mark(ctx, tx, key, `UPDATE orders SET payment_closed = true, updated_at = now() WHERE key = $1`)
}

// MarkReserved records, in the caller's transaction, that the order's
// stock is reserved (the inventory's step). The caller locked the order and
// found it Processing.
func MarkReserved(ctx context.Context, tx pgx.Tx, key string) error {
	return mark(ctx, tx, key, `UPDATE orders SET status = CASE status WHEN 'created' THEN 'reserved' ELSE status END, updated_at = now()
		WHERE key = $1 AND status IN ('created', 'reserved', 'paid')`)
}

// MarkPaid records, in the caller's transaction, that the order's payment
// was captured (the payment's step). The caller locked the order and found
// it Processing.
func MarkPaid(ctx context.Context, tx pgx.Tx, key string) error {
	return mark(ctx, tx, key, `UPDATE orders SET status = 'paid', updated_at = now() WHERE key = $1 AND status IN ('created', 'reserved', 'paid')`)
}

// mark runs a status write that must change the order's row.
func mark(ctx context.Context, tx pgx.Tx, key, update string) error {
	tag, err := tx.Exec(ctx, update, key)
	if err != nil {
		return err
	}
	if tag.RowsAffected() != 1 {
		var status string
		if err := tx.QueryRow(ctx, `SELECT status FROM orders WHERE key = $1`, key).Scan(&status); errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("order %s: %w", key, ErrNotRecorded)
		}
		return fmt.Errorf("order %s is %s: its status was not changed", key, status)
	}
	return nil
}

// Phase returns where the recorded order stands: Processing until it
// finished.
func (s *Service) Phase(ctx context.Context, key string) (contract.Phase, error) {
	var status string
	err := s.DB.Pool.QueryRow(ctx, `SELECT status FROM orders WHERE key = $1`, key).Scan(&status)
	return phaseOf(status), err
}

// Records is what PostgreSQL holds of an order beyond its status: the
// money it moved and the notifications sent about it.
type Records struct {
	Payments      []Payment      `json:"payments"`
	Notifications []Notification `json:"notifications"`
}

// Payment is a capture or a refund.
type Payment struct {
	ID       string    `json:"id"`
	Kind     string    `json:"kind"` // capture or refund
	Amount   string    `json:"amount"`
	Currency string    `json:"currency"`
	At       time.Time `json:"at"`
}

// Notification is a message recorded for the customer.
type Notification struct {
	Kind        string     `json:"kind"`
	Recipient   string     `json:"recipient,omitempty"`
	At          time.Time  `json:"at"`
	DeliveredAt *time.Time `json:"deliveredAt,omitempty"`
}

// Records reads the payments and notifications of the order under key,
// oldest first; an order with none has empty lists.
func (s *Service) Records(ctx context.Context, key string) (Records, error) {
	out := Records{Payments: []Payment{}, Notifications: []Notification{}}
	rows, err := s.DB.Pool.Query(ctx, `SELECT id, kind, amount_cents, currency, created_at FROM payments WHERE order_key = $1 ORDER BY created_at`, key)
	if err != nil {
		return out, err
	}
	for rows.Next() {
		var p Payment
		var cents int64
		if err := rows.Scan(&p.ID, &p.Kind, &cents, &p.Currency, &p.At); err != nil {
			rows.Close()
			return out, err
		}
		p.Amount = money.Amount(cents).String()
		out.Payments = append(out.Payments, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return out, err
	}
	rows, err = s.DB.Pool.Query(ctx, `SELECT kind, recipient, created_at, delivered_at FROM notifications WHERE order_key = $1 ORDER BY created_at`, key)
	if err != nil {
		return out, err
	}
	defer rows.Close()
	for rows.Next() {
		var n Notification
		if err := rows.Scan(&n.Kind, &n.Recipient, &n.At, &n.DeliveredAt); err != nil {
			return out, err
		}
		out.Notifications = append(out.Notifications, n)
	}
	return out, rows.Err()
}

// Summary is what a customer is told an order holds: its lines and total.
type Summary struct {
	Lines    []Line
	Total    money.Amount
	Currency string
}

// Line is one product of an order.
type Line struct {
	ProductID string
	Name      string
	Quantity  int32
	UnitPrice money.Amount
}

// Summary reads the lines and total of the order under key.
func (s *Service) Summary(ctx context.Context, key string) (Summary, error) {
	var out Summary
	var total int64
	if err := s.DB.Pool.QueryRow(ctx, `SELECT total_cents, currency FROM orders WHERE key = $1`, key).Scan(&total, &out.Currency); err != nil {
		return out, fmt.Errorf("orders: summary of %s: %w", key, err)
	}
	out.Total = money.Amount(total)
	rows, err := s.DB.Pool.Query(ctx, `
		SELECT i.product_id, p.name, i.quantity, i.unit_price_cents
		FROM order_items i JOIN products p ON p.id = i.product_id
		WHERE i.order_key = $1 ORDER BY i.product_id`, key)
	if err != nil {
		return out, fmt.Errorf("orders: summary of %s: %w", key, err)
	}
	defer rows.Close()
	for rows.Next() {
		var l Line
		var cents int64
		if err := rows.Scan(&l.ProductID, &l.Name, &l.Quantity, &cents); err != nil {
			return out, err
		}
		l.UnitPrice = money.Amount(cents)
		out.Lines = append(out.Lines, l)
	}
	return out, rows.Err()
}
