package fulfillment

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"orderflow.io/orderflow/internal/contract"
	"orderflow.io/orderflow/internal/db"
)

// Store keeps each order's shipment in the shipments table.
type Store struct {
	DB *db.DB
}

// Record writes how the shipment of the order under key stands. It is
// idempotent: recording the same state again changes nothing, and a
// record never goes back (a final state stays).
func (s *Store) Record(ctx context.Context, key string, f contract.Fulfillment) error {
	if f.BookedTime == nil {
		return fmt.Errorf("fulfillment: record %s: not booked", f.ShipmentID)
	}
	_, err := s.DB.Pool.Exec(ctx, `
		INSERT INTO shipments (shipment_id, order_key, carrier, state, tracking_number, booked_at, shipped_at, delivered_at, late)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (shipment_id) DO UPDATE SET
			state = EXCLUDED.state, tracking_number = EXCLUDED.tracking_number, shipped_at = EXCLUDED.shipped_at,
			delivered_at = EXCLUDED.delivered_at, late = EXCLUDED.late, updated_at = now()
		WHERE shipments.state NOT IN ($10, $11)`,
		f.ShipmentID, key, f.Carrier, f.State, f.TrackingNumber, *f.BookedTime, f.ShippedTime, f.DeliveredTime, f.Late,
		contract.ShipmentDelivered, contract.ShipmentLost)
	if err != nil {
		return fmt.Errorf("fulfillment: record %s: %w", f.ShipmentID, err)
	}
	return nil
}

// Find returns the shipment recorded for the order under key, or nil. A
// recorded shipment is read as the workflow left it: its fate known
// (Ended), since only a closed workflow's order is read back this way.
func (s *Store) Find(ctx context.Context, key string) (*contract.Fulfillment, error) {
	var f contract.Fulfillment
	var booked time.Time
	err := s.DB.Pool.QueryRow(ctx, `
		SELECT shipment_id, carrier, state, tracking_number, booked_at, shipped_at, delivered_at, late
		FROM shipments WHERE order_key = $1`, key).Scan(&f.ShipmentID, &f.Carrier, &f.State, &f.TrackingNumber, &booked, &f.ShippedTime, &f.DeliveredTime, &f.Late)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fulfillment: find the shipment of %s: %w", key, err)
	}
	f.BookedTime, f.Ended = &booked, true
	return &f, nil
}
