package fulfillment

import (
	"context"
	"fmt"

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
		INSERT INTO shipments (shipment_id, order_uid, carrier, state, tracking_number, booked_at, shipped_at, delivered_at, late)
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
