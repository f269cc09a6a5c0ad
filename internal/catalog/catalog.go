// Package catalog owns the products table: what is sold, at what price, in
// which currency, with how much stock (the stock moves through inventory).
package catalog

import (
	"context"

	"orderflow.io/orderflow/internal/db"
	"orderflow.io/orderflow/internal/money"
)

// Product is a catalog entry.
type Product struct {
	ID       string       `json:"productID"`
	Name     string       `json:"name"`
	Price    money.Amount `json:"-"`
	Currency string       `json:"currency"`
	Stock    int64        `json:"stock"`
}

// DemoCatalog is the catalog the local stack and the tests load.
var DemoCatalog = []Product{
	{ID: "PROD-001", Name: "Laptop", Price: 129999, Currency: "USD", Stock: 1000},
	{ID: "PROD-002", Name: "Mouse", Price: 4990, Currency: "USD", Stock: 1000},
	{ID: "PROD-003", Name: "Monitor", Price: 39900, Currency: "USD", Stock: 0},
}

// Upsert writes products into the catalog, replacing price and stock of
// those that exist.
func Upsert(ctx context.Context, d *db.DB, products []Product) error {
	for _, p := range products {
		if _, err := d.Pool.Exec(ctx, `
			INSERT INTO products (id, name, price_cents, currency, stock) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (id) DO UPDATE SET name = $2, price_cents = $3, currency = $4, stock = $5, updated_at = now()`,
			p.ID, p.Name, int64(p.Price), p.Currency, p.Stock); err != nil {
			return err
		}
	}
	return nil
}

// AddMissing adds the products the catalog does not hold and leaves those
// it holds as they are (their price and stock stand), returning how many it
// added: loading the demo catalog again never resets its stock.
func AddMissing(ctx context.Context, d *db.DB, products []Product) (int, error) {
	added := 0
	for _, p := range products {
		tag, err := d.Pool.Exec(ctx, `
			INSERT INTO products (id, name, price_cents, currency, stock) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (id) DO NOTHING`,
			p.ID, p.Name, int64(p.Price), p.Currency, p.Stock)
		if err != nil {
			return added, err
		}
		added += int(tag.RowsAffected())
	}
	return added, nil
}

// List returns the catalog ordered by id.
func List(ctx context.Context, d *db.DB) ([]Product, error) {
	rows, err := d.Pool.Query(ctx, `SELECT id, name, price_cents, currency, stock FROM products ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Product
	for rows.Next() {
		var p Product
		var cents int64
		if err := rows.Scan(&p.ID, &p.Name, &cents, &p.Currency, &p.Stock); err != nil {
			return nil, err
		}
		p.Price = money.Amount(cents)
		out = append(out, p)
	}
	return out, rows.Err()
}
