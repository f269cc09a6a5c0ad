package store_test

import (
	"context"
	"testing"

	"orderflow.io/orderflow/internal/failure"
	"orderflow.io/orderflow/internal/store"
	"orderflow.io/orderflow/internal/testenv"
)

var stack *testenv.Stack

func TestMain(m *testing.M) {
	testenv.Main(m, testenv.Options{Postgres: true}, &stack)
}

func newStore(t *testing.T) *store.Store {
	testenv.Integration(t)
	return stack.Postgres.TestStore(t, 0, store.DemoCatalog...)
}

func TestMigrationsApplyToAnEmptyDatabaseAndAreIdempotent(t *testing.T) {
	s := newStore(t)
	n, err := s.Migrate(context.Background())
	if err != nil || n != 0 {
		t.Fatalf("second migrate applied %d, %v; want 0, nil", n, err)
	}
	products, err := s.ListProducts(context.Background())
	if err != nil || len(products) != 3 {
		t.Fatalf("products %v, %v", products, err)
	}
}

func TestCreateOrderPricesFromTheCatalogAndIsIdempotent(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	o := store.NewOrder{UID: "u1", Namespace: "ns", Name: "o1", CustomerID: "C1",
		Items: []store.NewItem{{ProductID: "PROD-001", Quantity: 2, UnitPrice: "1299.99"}, {ProductID: "PROD-002", Quantity: 1}}}
	for i := 0; i < 2; i++ {
		p, err := s.CreateOrder(ctx, o)
		if err != nil || p.Total.String() != "2649.88" || p.Currency != "USD" {
			t.Fatalf("attempt %d: %+v %v", i, p, err)
		}
	}
	var items int
	if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM order_items WHERE order_uid = 'u1'`).Scan(&items); err != nil || items != 2 {
		t.Fatalf("items %d %v", items, err)
	}
}

func TestCreateOrderRecordsBusinessFailuresAndRepeatsThem(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		items  []store.NewItem
		cur    string
		reason string
	}{
		{"unknown", []store.NewItem{{ProductID: "NOPE", Quantity: 1}}, "", "UnknownProduct"},
		{"price", []store.NewItem{{ProductID: "PROD-001", Quantity: 1, UnitPrice: "999.00"}}, "", "PriceChanged"},
		{"currency", []store.NewItem{{ProductID: "PROD-001", Quantity: 1}}, "EUR", "CurrencyMismatch"},
	} {
		o := store.NewOrder{UID: "u-" + tc.name, Namespace: "ns", Name: tc.name, CustomerID: "C1", Currency: tc.cur, Items: tc.items}
		for i := 0; i < 2; i++ {
			_, err := s.CreateOrder(ctx, o)
			f, ok := failure.As(err)
			if !ok || f.Reason != tc.reason {
				t.Fatalf("%s attempt %d: %v; want %s", tc.name, i, err, tc.reason)
			}
		}
		if st, err := s.OrderStatus(ctx, o.UID); err != nil || st != store.StatusFailed {
			t.Fatalf("%s: recorded status %q, %v", tc.name, st, err)
		}
	}
}
