-- +goose Up
-- The refund step closes an order's payment: a capture recorded after it
-- (a stalled worker's late attempt) is refunded at once, so a late charge
-- can never slip in between an order's refund and its outcome.
ALTER TABLE orders ADD COLUMN payment_closed BOOLEAN NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE orders DROP COLUMN payment_closed;
