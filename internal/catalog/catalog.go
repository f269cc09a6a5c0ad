// Package catalog owns the products table: what is sold, at what price, in
// which currency, with how much stock. It is the table's only writer:
// inventory moves stock through Take and Put inside its own transactions,
// orders reads prices through Prices.
package catalog

import (
	"context"

	"github.com/jackc/pgx/v5"

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

// Price is what a product costs and in which currency.
type Price struct {
	Amount   money.Amount
	Currency string
}

// Prices returns the prices of the products among ids that the catalog
// holds, read within tx; a product it does not hold is missing from the map.
func Prices(ctx context.Context, tx pgx.Tx, ids []string) (map[string]Price, error) {
	rows, err := tx.Query(ctx, `SELECT id, price_cents, currency FROM products WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]Price{}
	for rows.Next() {
		var id, cur string
		var cents int64
		if err := rows.Scan(&id, &cents, &cur); err != nil {
			return nil, err
		}
		out[id] = Price{money.Amount(cents), cur}
	}
	return out, rows.Err()
}

// Take takes qty of a product's stock within tx, and reports false (taking
// nothing) when the product has less than qty. Callers that take several
// products take them in product order, so two transactions never wait on
// each other's rows in a cycle.
func Take(ctx context.Context, tx pgx.Tx, id string, qty int64) (bool, error) {
	tag, err := tx.Exec(ctx, `UPDATE products SET stock = stock - $2, updated_at = now() WHERE id = $1 AND stock >= $2`, id, qty)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() > 0, nil
}

// Put puts qty of a product's stock back within tx.
func Put(ctx context.Context, tx pgx.Tx, id string, qty int64) error {
	_, err := tx.Exec(ctx, `UPDATE products SET stock = stock + $2, updated_at = now() WHERE id = $1`, id, qty)
	return err
}
