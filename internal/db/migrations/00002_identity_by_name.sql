-- +goose Up
-- An order's identity is its Order's namespace and name, not the object's
-- UID: rows placed from now on are keyed by '<namespace>/<name>' (in uid),
-- and order_key finds the record of a namespace/name whatever its key. Rows
-- placed before keep their UID key and their children; order_key makes the
-- newest of each namespace/name findable by the new key.
ALTER TABLE orders ADD COLUMN order_key TEXT;
-- The UID of the Order object that placed the order (which incarnation).
ALTER TABLE orders ADD COLUMN object_uid TEXT NOT NULL DEFAULT '';
-- What was ordered, as the controller fingerprints the spec; NULL for rows
-- placed before fingerprints.
ALTER TABLE orders ADD COLUMN fingerprint TEXT;

UPDATE orders SET object_uid = uid;
UPDATE orders o SET order_key = o.namespace || '/' || o.name
WHERE o.uid = (SELECT n.uid FROM orders n WHERE n.namespace = o.namespace AND n.name = o.name
               ORDER BY n.created_at DESC, n.uid DESC LIMIT 1);
CREATE UNIQUE INDEX orders_order_key ON orders (order_key);

-- 'fenced': released before anything was reserved, so a reservation that
-- arrives late (a stalled worker's) takes nothing.
ALTER TABLE inventory_reservations DROP CONSTRAINT inventory_reservations_status_check;
ALTER TABLE inventory_reservations ADD CONSTRAINT inventory_reservations_status_check
    CHECK (status IN ('held', 'released', 'committed', 'fenced'));

-- +goose Down
DELETE FROM inventory_reservations WHERE status = 'fenced';
ALTER TABLE inventory_reservations DROP CONSTRAINT inventory_reservations_status_check;
ALTER TABLE inventory_reservations ADD CONSTRAINT inventory_reservations_status_check
    CHECK (status IN ('held', 'released', 'committed'));
DROP INDEX orders_order_key;
ALTER TABLE orders DROP COLUMN fingerprint;
ALTER TABLE orders DROP COLUMN object_uid;
ALTER TABLE orders DROP COLUMN order_key;
