-- +goose Up
-- Names that say what the columns hold. Since identity by name an order's
-- record is keyed by '<namespace>/<name>' (rows placed before keep the
-- Order's UID as their key): orders.uid becomes orders.key, and every
-- order_uid that refers to it order_key. The column that finds the current
-- record of a namespace/name (NULL on older incarnations) was order_key: it
-- becomes current_key. Renames only: no row changes.
ALTER TABLE orders RENAME COLUMN order_key TO current_key;
ALTER INDEX orders_order_key RENAME TO orders_current_key;
ALTER TABLE orders RENAME COLUMN uid TO key;
ALTER TABLE order_items RENAME COLUMN order_uid TO order_key;
ALTER TABLE inventory_reservations RENAME COLUMN order_uid TO order_key;
ALTER TABLE payments RENAME COLUMN order_uid TO order_key;
ALTER INDEX payments_order_uid RENAME TO payments_order_key;
ALTER TABLE notifications RENAME COLUMN order_uid TO order_key;
ALTER TABLE order_refunds RENAME COLUMN order_uid TO order_key;
ALTER TABLE order_refund_items RENAME COLUMN order_uid TO order_key;
ALTER TABLE inventory_returns RENAME COLUMN order_uid TO order_key;
ALTER TABLE shipments RENAME COLUMN order_uid TO order_key;

-- +goose Down
ALTER TABLE shipments RENAME COLUMN order_key TO order_uid;
ALTER TABLE inventory_returns RENAME COLUMN order_key TO order_uid;
ALTER TABLE order_refund_items RENAME COLUMN order_key TO order_uid;
ALTER TABLE order_refunds RENAME COLUMN order_key TO order_uid;
ALTER TABLE notifications RENAME COLUMN order_key TO order_uid;
ALTER INDEX payments_order_key RENAME TO payments_order_uid;
ALTER TABLE payments RENAME COLUMN order_key TO order_uid;
ALTER TABLE inventory_reservations RENAME COLUMN order_key TO order_uid;
ALTER TABLE order_items RENAME COLUMN order_key TO order_uid;
ALTER TABLE orders RENAME COLUMN key TO uid;
ALTER INDEX orders_current_key RENAME TO orders_order_key;
ALTER TABLE orders RENAME COLUMN current_key TO order_key;
