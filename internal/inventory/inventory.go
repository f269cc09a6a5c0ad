// Package inventory reserves and releases stock for orders, and puts back
// what partial refunds return (Restock). A reservation
// is all items or none, taken in one transaction; stock never goes below
// zero, however many orders reserve at once.
//
// Reserve and Release are fenced against each other and against the
// order's end: each locks the order's row first, a reservation for an order
// that finished is refused, and a release that finds nothing reserved
// writes the order's items as fenced, so a reservation arriving late (from
// a worker that stalled and ran an old task after the order was cancelled)
// takes nothing.
package inventory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"orderflow.io/orderflow/internal/catalog"
	"orderflow.io/orderflow/internal/contract"
	"orderflow.io/orderflow/internal/db"
	"orderflow.io/orderflow/internal/failure"
	"orderflow.io/orderflow/internal/orders"
)

// Service reserves and releases stock.
type Service struct {
	DB *db.DB
}

// Reserve takes stock for every item of the order, or none. A repeated call
// finds the existing reservation and takes nothing more; so does a call
// after Release. Not enough stock is the OutOfStock business failure; an
// order that already finished is refused (WorkflowFailed).
func (s *Service) Reserve(ctx context.Context, orderKey string) error {
	var short []string
	var ended string
	err := s.DB.Tx(ctx, func(tx pgx.Tx) error {
		phase, err := orders.Lock(ctx, tx, orderKey)
		if err != nil {
			return err
		}
		if phase.Terminal() {
			ended = strings.ToLower(string(phase))
			return nil
		}
		var existing int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM inventory_reservations WHERE order_key = $1`, orderKey).Scan(&existing); err != nil {
			return err
		}
		if existing > 0 {
			return nil
		}
		// Items in product order: concurrent reservations lock product rows
		// in the same order and cannot deadlock.
		rows, err := tx.Query(ctx, `SELECT product_id, quantity FROM order_items WHERE order_key = $1 ORDER BY product_id`, orderKey)
		if err != nil {
			return err
		}
		type line struct {
			product string
			qty     int32
		}
		var lines []line
		for rows.Next() {
			var l line
			if err := rows.Scan(&l.product, &l.qty); err != nil {
				rows.Close()
				return err
			}
			lines = append(lines, l)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(lines) == 0 {
			return fmt.Errorf("inventory: order %s has no recorded items", orderKey)
		}
		for _, l := range lines {
			took, err := catalog.Take(ctx, tx, l.product, int64(l.qty))
			if err != nil {
				return err
			}
			if !took {
				short = append(short, l.product)
			}
		}
		if len(short) > 0 {
			return errRollback
		}
		for _, l := range lines {
			if _, err := tx.Exec(ctx, `
				INSERT INTO inventory_reservations (order_key, product_id, quantity, status) VALUES ($1, $2, $3, 'held')`,
				orderKey, l.product, l.qty); err != nil {
				return err
			}
		}
		return orders.MarkReserved(ctx, tx, orderKey)
	})
	if ended != "" {
		return failure.New(contract.ReasonWorkflowFailed, "order %s is already %s: nothing reserved", orderKey, ended)
	}
	if len(short) > 0 {
		return failure.New(contract.ReasonOutOfStock, "not enough stock of %s", strings.Join(short, ", "))
	}
	if err != nil {
		return fmt.Errorf("inventory: reserve: %w", err)
	}
	return nil
}

// errRollback makes a transaction roll back without being reported.
var errRollback = errors.New("rollback")

// Release puts back the stock of the order's held reservations. Released or
// committed reservations are left alone, so a repeated call does nothing.
// When nothing was reserved, it fences the order's items: a Reserve that
// comes after takes nothing. An order with no record (cancelled before its
// first step ran, its first workflow task lost) holds nothing: releasing it
// records it cancelled (orders.Tombstone), so its first step, should a
// stalled worker still run it, records and reserves nothing.
func (s *Service) Release(ctx context.Context, orderKey string) error {
	err := s.DB.Tx(ctx, func(tx pgx.Tx) error {
		_, err := orders.Lock(ctx, tx, orderKey)
		if errors.Is(err, orders.ErrNotRecorded) {
			// Cancelled before its first step ran: nothing is held, and
			// the tombstone keeps a late first step from taking any.
			if err := orders.Tombstone(ctx, tx, orderKey); err != nil {
				return err
			}
			_, err = orders.Lock(ctx, tx, orderKey)
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO inventory_reservations (order_key, product_id, quantity, status)
			SELECT order_key, product_id, quantity, 'fenced' FROM order_items
			WHERE order_key = $1 AND NOT EXISTS (SELECT 1 FROM inventory_reservations WHERE order_key = $1)`, orderKey); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `
			UPDATE inventory_reservations SET status = 'released', updated_at = now()
			WHERE order_key = $1 AND status = 'held' RETURNING product_id, quantity`, orderKey)
		if err != nil {
			return err
		}
		back := map[string]int32{}
		var ids []string
		for rows.Next() {
			var id string
			var q int32
			if err := rows.Scan(&id, &q); err != nil {
				rows.Close()
				return err
			}
			back[id] = q
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		slices.Sort(ids)
		for _, id := range ids {
			if err := catalog.Put(ctx, tx, id, int64(back[id])); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("inventory: release: %w", err)
	}
	return nil
}

// Readjust makes an amended order's held reservation match its items, in
// the caller's transaction (which holds the order's lock and has just
// replaced the items): per product it puts back what the order no longer
// holds and takes what it now needs, all or nothing. It returns the
// products short of stock; the caller then rolls back, and the old
// reservation stands. An order with nothing held yet is left alone: its
// reservation step takes the new items.
func Readjust(ctx context.Context, tx pgx.Tx, orderKey string) (short []string, err error) {
	rows, err := tx.Query(ctx, `
		SELECT coalesce(i.product_id, r.product_id), coalesce(i.quantity, 0), coalesce(r.quantity, 0)
		FROM (SELECT product_id, quantity FROM order_items WHERE order_key = $1) i
		FULL JOIN (SELECT product_id, quantity FROM inventory_reservations WHERE order_key = $1 AND status = 'held') r
		  ON i.product_id = r.product_id
		ORDER BY 1`, orderKey)
	if err != nil {
		return nil, err
	}
	type change struct {
		product   string
		want, has int32
	}
	var changes []change
	held := false
	for rows.Next() {
		var c change
		if err := rows.Scan(&c.product, &c.want, &c.has); err != nil {
			rows.Close()
			return nil, err
		}
		held = held || c.has > 0
		changes = append(changes, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil || !held {
		return nil, err
	}
	// Product order, as Reserve locks them: no deadlock between the two.
	for _, c := range changes {
		delta := int64(c.want) - int64(c.has)
		if delta == 0 {
			continue
		}
		if delta < 0 {
			if err := catalog.Put(ctx, tx, c.product, -delta); err != nil {
				return nil, err
			}
			continue
		}
		took, err := catalog.Take(ctx, tx, c.product, delta)
		if err != nil {
			return nil, err
		}
		if !took {
			short = append(short, c.product)
		}
	}
	if len(short) > 0 {
		return short, nil
	}
	for _, c := range changes {
		switch {
		case c.want == 0:
			_, err = tx.Exec(ctx, `DELETE FROM inventory_reservations WHERE order_key = $1 AND product_id = $2`, orderKey, c.product)
		case c.has == 0:
			_, err = tx.Exec(ctx, `INSERT INTO inventory_reservations (order_key, product_id, quantity, status) VALUES ($1, $2, $3, 'held')`, orderKey, c.product, c.want)
		case c.want != c.has:
			_, err = tx.Exec(ctx, `UPDATE inventory_reservations SET quantity = $3, updated_at = now() WHERE order_key = $1 AND product_id = $2`, orderKey, c.product, c.want)
		}
		if err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// Line is a quantity of one product.
type Line struct {
	ProductID string
	Quantity  int32
}

// Restock puts back in stock what a partial refund of a completed order
// returns, once: a repeated call for the same refund adds nothing
// (inventory_returns remembers each refund's lines).
func (s *Service) Restock(ctx context.Context, orderKey, refundID string, lines []Line) error {
	lines = slices.Clone(lines)
	// Product order, as Reserve locks them: no deadlock between the two.
	slices.SortFunc(lines, func(a, b Line) int { return strings.Compare(a.ProductID, b.ProductID) })
	err := s.DB.Tx(ctx, func(tx pgx.Tx) error {
		if _, err := orders.Lock(ctx, tx, orderKey); err != nil {
			return err
		}
		for _, l := range lines {
			tag, err := tx.Exec(ctx, `
				INSERT INTO inventory_returns (order_key, refund_id, product_id, quantity) VALUES ($1, $2, $3, $4)
				ON CONFLICT DO NOTHING`, orderKey, refundID, l.ProductID, l.Quantity)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				continue // put back before
			}
			if err := catalog.Put(ctx, tx, l.ProductID, int64(l.Quantity)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("inventory: restock: %w", err)
	}
	return nil
}
