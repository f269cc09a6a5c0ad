-- +goose Up
CREATE TABLE products (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    price_cents BIGINT NOT NULL CHECK (price_cents >= 0),
    currency    CHAR(3) NOT NULL DEFAULT 'USD',
    stock       BIGINT NOT NULL CHECK (stock >= 0),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- One row per Order resource, keyed by its UID.
CREATE TABLE orders (
    uid            TEXT PRIMARY KEY,
    namespace      TEXT NOT NULL,
    name           TEXT NOT NULL,
    customer_id    TEXT NOT NULL,
    customer_email TEXT NOT NULL DEFAULT '',
    currency       CHAR(3) NOT NULL,
    total_cents    BIGINT NOT NULL DEFAULT 0,
    status         TEXT NOT NULL CHECK (status IN ('created', 'reserved', 'paid', 'completed', 'failed', 'cancelled')),
    reason         TEXT NOT NULL DEFAULT '',
    message        TEXT NOT NULL DEFAULT '',
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE order_items (
    order_uid        TEXT NOT NULL REFERENCES orders (uid),
    product_id       TEXT NOT NULL REFERENCES products (id),
    quantity         INTEGER NOT NULL CHECK (quantity > 0),
    unit_price_cents BIGINT NOT NULL CHECK (unit_price_cents >= 0),
    PRIMARY KEY (order_uid, product_id)
);

CREATE TABLE inventory_reservations (
    order_uid  TEXT NOT NULL REFERENCES orders (uid),
    product_id TEXT NOT NULL REFERENCES products (id),
    quantity   INTEGER NOT NULL CHECK (quantity > 0),
    status     TEXT NOT NULL CHECK (status IN ('held', 'released', 'committed')),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (order_uid, product_id)
);

-- Charges and refunds. The idempotency key makes a retried capture or
-- refund find the first one instead of moving money again.
CREATE TABLE payments (
    id              TEXT PRIMARY KEY,
    order_uid       TEXT NOT NULL REFERENCES orders (uid),
    kind            TEXT NOT NULL CHECK (kind IN ('capture', 'refund')),
    amount_cents    BIGINT NOT NULL CHECK (amount_cents >= 0),
    currency        CHAR(3) NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX payments_order_uid ON payments (order_uid);

CREATE TABLE notifications (
    id           BIGSERIAL PRIMARY KEY,
    order_uid    TEXT NOT NULL REFERENCES orders (uid),
    kind         TEXT NOT NULL,
    recipient    TEXT NOT NULL,
    message      TEXT NOT NULL,
    delivered_at TIMESTAMPTZ,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (order_uid, kind)
);

-- +goose Down
DROP TABLE notifications;
DROP TABLE payments;
DROP TABLE inventory_reservations;
DROP TABLE order_items;
DROP TABLE orders;
DROP TABLE products;
