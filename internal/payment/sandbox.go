package payment

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"orderflow.io/orderflow/internal/money"
)

// Sandbox is the built-in gateway: a payment provider with books of its
// own (Ledger), as Stripe keeps them. It follows the card-network test
// convention: pm_card_visa (and any other method) approves,
// pm_card_chargeDeclined and pm_card_chargeDeclinedInsufficientFunds
// decline and charge nothing. A charge is booked when the request arrives
// and answered Latency later, so a caller that dies meanwhile leaves money
// moved that only its idempotency key can find again. With FailureRate above
// zero a request fails transiently, before it reaches the books, with that
// probability.
type Sandbox struct {
	Ledger      *Ledger
	FailureRate float64
	Latency     time.Duration
}

var sandboxDeclines = map[string]string{
	"pm_card_chargeDeclined":                  "card_declined",
	"pm_card_chargeDeclinedInsufficientFunds": "insufficient_funds",
}

func (s *Sandbox) Charge(ctx context.Context, req ChargeRequest) (string, error) {
	if err := s.maybeFail(); err != nil {
		return "", err
	}
	if code, ok := sandboxDeclines[req.PaymentMethod]; ok {
		return "", &DeclinedError{Code: code}
	}
	id, err := s.Ledger.charge(ctx, req)
	if err != nil {
		return "", err
	}
	if s.Latency > 0 {
		select {
		case <-time.After(s.Latency):
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	return id, s.Ledger.answered(ctx, id)
}

func (s *Sandbox) Refund(ctx context.Context, req RefundRequest) (string, error) {
	if err := s.maybeFail(); err != nil {
		return "", err
	}
	id, err := s.Ledger.refund(ctx, req)
	if err != nil || s.Latency <= 0 {
		return id, err
	}
	// Booked, then answered: a caller that dies meanwhile leaves a refund
	// made that only its idempotency key finds again.
	select {
	case <-time.After(s.Latency):
		return id, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func (s *Sandbox) maybeFail() error {
	if s.FailureRate > 0 && mathrand.Float64() < s.FailureRate {
		return fmt.Errorf("%w: sandbox timeout", ErrTransient)
	}
	return nil
}

// Ledger is the sandbox provider's books: its charges and refunds, in a
// PostgreSQL schema of its own (payment_sandbox), written in transactions
// of its own and never in OrderFlow's tables. It is idempotent by key as a
// card provider is: a key seen before returns the first result and moves
// nothing new; a new key is a new charge. Audits read it to count money
// where it moved rather than where OrderFlow recorded it.
type Ledger struct {
	pool *pgxpool.Pool
}

// ledgerSchema is created when a ledger opens; the advisory lock lets
// replicas open it at once.
const ledgerSchema = `
SELECT pg_advisory_xact_lock(7370001);
CREATE SCHEMA IF NOT EXISTS payment_sandbox;
CREATE TABLE IF NOT EXISTS payment_sandbox.charges (
	id              text PRIMARY KEY,
	idempotency_key text NOT NULL UNIQUE,
	reference       text NOT NULL,
	amount_cents    bigint NOT NULL CHECK (amount_cents > 0),
	currency        text NOT NULL,
	payment_method  text NOT NULL,
	created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
	answered_at     timestamptz
);
CREATE INDEX IF NOT EXISTS charges_reference ON payment_sandbox.charges (reference);
CREATE TABLE IF NOT EXISTS payment_sandbox.refunds (
	id              text PRIMARY KEY,
	idempotency_key text NOT NULL UNIQUE,
	charge_id       text NOT NULL REFERENCES payment_sandbox.charges (id),
	amount_cents    bigint NOT NULL CHECK (amount_cents > 0),
	created_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS refunds_charge ON payment_sandbox.refunds (charge_id);
`

// OpenLedger opens the sandbox provider's books on pool, creating its
// schema when it is missing.
func OpenLedger(ctx context.Context, pool *pgxpool.Pool) (*Ledger, error) {
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, ledgerSchema)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("payment sandbox: create its books: %w", err)
	}
	return &Ledger{pool: pool}, nil
}

// IdempotencyError is a key sent again with a different request: the
// provider refuses it, as Stripe does.
type IdempotencyError struct{ Key string }

func (e *IdempotencyError) Error() string {
	return fmt.Sprintf("idempotency key %s was used before with a different request", e.Key)
}

func (l *Ledger) charge(ctx context.Context, req ChargeRequest) (string, error) {
	if req.Amount <= 0 {
		return "", &RefusedError{Status: 400, Code: "amount_too_small", Message: "amount must be positive"}
	}
	var id, reference, currency string
	var cents int64
	err := l.pool.QueryRow(ctx, `
		WITH booked AS (
			INSERT INTO payment_sandbox.charges (id, idempotency_key, reference, amount_cents, currency, payment_method)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (idempotency_key) DO NOTHING
			RETURNING id, reference, amount_cents, currency)
		SELECT id, reference, amount_cents, currency FROM booked
		UNION ALL
		SELECT id, reference, amount_cents, currency FROM payment_sandbox.charges WHERE idempotency_key = $2
		LIMIT 1`,
		newID("ch_"), req.IdempotencyKey, req.Reference, int64(req.Amount), req.Currency, req.PaymentMethod).
		Scan(&id, &reference, &cents, &currency)
	if errors.Is(err, pgx.ErrNoRows) {
		// A request with the same key committed while this one waited on
		// it, after this statement's snapshot: read it now.
		err = l.pool.QueryRow(ctx, `SELECT id, reference, amount_cents, currency FROM payment_sandbox.charges WHERE idempotency_key = $1`,
			req.IdempotencyKey).Scan(&id, &reference, &cents, &currency)
	}
	if err != nil {
		return "", fmt.Errorf("%w: sandbox books: %v", ErrTransient, err)
	}
	if reference != req.Reference || cents != int64(req.Amount) || currency != req.Currency {
		return "", &IdempotencyError{Key: req.IdempotencyKey}
	}
	return id, nil
}

func (l *Ledger) answered(ctx context.Context, id string) error {
	if _, err := l.pool.Exec(ctx, `UPDATE payment_sandbox.charges SET answered_at = clock_timestamp() WHERE id = $1 AND answered_at IS NULL`, id); err != nil {
		return fmt.Errorf("%w: sandbox books: %v", ErrTransient, err)
	}
	return nil
}

// errNoSuchCharge and errOverRefund are refunds the provider refuses.
var (
	errNoSuchCharge = errors.New("no such charge")
	errOverRefund   = errors.New("the refunds would exceed the captured amount")
)

func (l *Ledger) refund(ctx context.Context, req RefundRequest) (string, error) {
	var id string
	err := pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		var captured, refunded int64
		err := tx.QueryRow(ctx, `SELECT amount_cents FROM payment_sandbox.charges WHERE id = $1 FOR UPDATE`, req.ChargeID).Scan(&captured)
		if errors.Is(err, pgx.ErrNoRows) {
			return errNoSuchCharge
		}
		if err != nil {
			return err
		}
		var chargeID string
		var cents int64
		err = tx.QueryRow(ctx, `SELECT id, charge_id, amount_cents FROM payment_sandbox.refunds WHERE idempotency_key = $1`, req.IdempotencyKey).Scan(&id, &chargeID, &cents)
		if err == nil {
			if chargeID != req.ChargeID || cents != int64(req.Amount) {
				return &IdempotencyError{Key: req.IdempotencyKey}
			}
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT coalesce(sum(amount_cents), 0) FROM payment_sandbox.refunds WHERE charge_id = $1`, req.ChargeID).Scan(&refunded); err != nil {
			return err
		}
		if req.Amount <= 0 || refunded+int64(req.Amount) > captured {
			return errOverRefund
		}
		id = newID("re_")
		_, err = tx.Exec(ctx, `INSERT INTO payment_sandbox.refunds (id, idempotency_key, charge_id, amount_cents) VALUES ($1, $2, $3, $4)`,
			id, req.IdempotencyKey, req.ChargeID, int64(req.Amount))
		return err
	})
	var idem *IdempotencyError
	switch {
	case errors.As(err, &idem):
		return "", err
	case errors.Is(err, errNoSuchCharge), errors.Is(err, errOverRefund):
		return "", &RefusedError{Status: 400, Code: "refund_refused", Message: fmt.Sprintf("refund %s of charge %s: %v", req.IdempotencyKey, req.ChargeID, err)}
	case err != nil:
		return "", fmt.Errorf("%w: sandbox books: %v", ErrTransient, err)
	}
	return id, nil
}

func newID(prefix string) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// Account is what the provider's books hold for one reference (an order):
// its charges and the cents refunded of each.
type Account struct {
	Charges []BookedCharge
}

// BookedCharge is one charge in the provider's books.
type BookedCharge struct {
	ID             string
	IdempotencyKey string
	Amount         money.Amount
	Currency       string
	Refunded       money.Amount
	Refunds        int
}

// Captured is the sum of the account's charges; Refunded of its refunds.
func (a Account) Captured() (n money.Amount) {
	for _, c := range a.Charges {
		n += c.Amount
	}
	return n
}

func (a Account) Refunded() (n money.Amount) {
	for _, c := range a.Charges {
		n += c.Refunded
	}
	return n
}

// Querier is what reading the books needs: a pool or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// ReadBooks returns the sandbox provider's account of every reference it
// holds, for audits.
func ReadBooks(ctx context.Context, q Querier) (map[string]Account, error) {
	rows, err := q.Query(ctx, `
		SELECT c.reference, c.id, c.idempotency_key, c.amount_cents, c.currency,
			coalesce(sum(r.amount_cents), 0), count(r.id)
		FROM payment_sandbox.charges c LEFT JOIN payment_sandbox.refunds r ON r.charge_id = c.id
		GROUP BY c.id ORDER BY c.created_at`)
	if err != nil {
		return nil, fmt.Errorf("payment sandbox: read its books: %w", err)
	}
	defer rows.Close()
	books := map[string]Account{}
	for rows.Next() {
		var ref string
		var c BookedCharge
		var amount, refunded int64
		if err := rows.Scan(&ref, &c.ID, &c.IdempotencyKey, &amount, &c.Currency, &refunded, &c.Refunds); err != nil {
			return nil, err
		}
		c.Amount, c.Refunded = money.Amount(amount), money.Amount(refunded)
		a := books[ref]
		a.Charges = append(a.Charges, c)
		books[ref] = a
	}
	return books, rows.Err()
}

// ChargesInFlight counts the charges the provider booked but has not
// answered yet, of references starting with prefix, among those that
// arrived within the last window (a charge whose caller died stays
// unanswered for good).
func ChargesInFlight(ctx context.Context, q Querier, prefix string, window time.Duration) (int, error) {
	var n int
	err := q.QueryRow(ctx, `SELECT count(*) FROM payment_sandbox.charges
		WHERE answered_at IS NULL AND starts_with(reference, $1) AND created_at > clock_timestamp() - make_interval(secs => $2)`,
		prefix, window.Seconds()).Scan(&n)
	return n, err
}
