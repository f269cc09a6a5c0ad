-- +goose Up
-- Partial refunds of completed orders (an Order's spec.refunds). One row
-- per refund an order asked for, keyed by the order's record and the
-- refund's id, so a refund asked again (a retried step, an Order deleted
-- and applied again, a workflow Temporal no longer remembers) finds its
-- first answer and moves nothing.
CREATE TABLE order_refunds (
    order_uid    TEXT NOT NULL REFERENCES orders (uid),
    refund_id    TEXT NOT NULL,
    -- What was asked, written canonically: the same id asked with another
    -- request is refused.
    request      TEXT NOT NULL,
    amount_cents BIGINT NOT NULL CHECK (amount_cents >= 0),
    restock      BOOLEAN NOT NULL DEFAULT false,
    reason       TEXT NOT NULL DEFAULT '',
    -- accepted: counted against the capture, the provider not yet answered.
    state        TEXT NOT NULL CHECK (state IN ('accepted', 'refunded', 'refused')),
    message      TEXT NOT NULL DEFAULT '',
    provider_id  TEXT NOT NULL DEFAULT '',
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (order_uid, refund_id)
);

-- The lines a refund by items takes back.
CREATE TABLE order_refund_items (
    order_uid  TEXT NOT NULL,
    refund_id  TEXT NOT NULL,
    product_id TEXT NOT NULL,
    quantity   INTEGER NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (order_uid, refund_id, product_id),
    FOREIGN KEY (order_uid, refund_id) REFERENCES order_refunds (order_uid, refund_id)
);

-- Stock put back by a refund with restock: one row per refund and product,
-- so a repeated restock adds nothing.
CREATE TABLE inventory_returns (
    order_uid  TEXT NOT NULL REFERENCES orders (uid),
    refund_id  TEXT NOT NULL,
    product_id TEXT NOT NULL REFERENCES products (id),
    quantity   INTEGER NOT NULL CHECK (quantity > 0),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (order_uid, refund_id, product_id)
);

-- +goose Down
DROP TABLE inventory_returns;
DROP TABLE order_refund_items;
DROP TABLE order_refunds;
