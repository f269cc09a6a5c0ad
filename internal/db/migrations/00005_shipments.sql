-- +goose Up
-- One shipment per order, as the order's workflow last recorded it. The
-- audit reads it beside the payments and the provider's ledger: every
-- shipped order paid, none shipped that was cancelled, none both delivered
-- and refunded as lost.
CREATE TABLE shipments (
    shipment_id     TEXT PRIMARY KEY,
    order_uid       TEXT NOT NULL UNIQUE REFERENCES orders (uid),
    carrier         TEXT NOT NULL,
    state           TEXT NOT NULL,
    tracking_number TEXT NOT NULL DEFAULT '',
    booked_at       TIMESTAMPTZ NOT NULL,
    shipped_at      TIMESTAMPTZ,
    delivered_at    TIMESTAMPTZ,
    late            BOOLEAN NOT NULL DEFAULT false,
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE shipments;
