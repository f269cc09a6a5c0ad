package orders_test

import (
	"context"
	"testing"

	"orderflow.io/orderflow/internal/catalog"
	"orderflow.io/orderflow/internal/failure"
	"orderflow.io/orderflow/internal/orders"
	"orderflow.io/orderflow/internal/testenv"
)

var stack *testenv.Stack

func TestMain(m *testing.M) {
	testenv.Main(m, testenv.Options{Postgres: true}, &stack)
}

func newOrders(t *testing.T) *orders.Service {
	return &orders.Service{DB: stack.TestDB(t, 0, catalog.DemoCatalog...)}
}

func TestCreateOrderPricesFromTheCatalogAndIsIdempotent(t *testing.T) {
	s := newOrders(t)
	ctx := context.Background()
	o := orders.NewOrder{UID: "u1", Namespace: "ns", Name: "o1", CustomerID: "C1",
		Items: []orders.NewItem{{ProductID: "PROD-001", Quantity: 2, UnitPrice: "1299.99"}, {ProductID: "PROD-002", Quantity: 1}}}
	for i := 0; i < 2; i++ {
		p, err := s.Create(ctx, o)
		if err != nil || p.Total.String() != "2649.88" || p.Currency != "USD" {
			t.Fatalf("attempt %d: %+v %v", i, p, err)
		}
	}
	var items int
	if err := s.DB.Pool.QueryRow(ctx, `SELECT count(*) FROM order_items WHERE order_uid = 'u1'`).Scan(&items); err != nil || items != 2 {
		t.Fatalf("items %d %v", items, err)
	}
}

func TestCreateOrderRecordsBusinessFailuresAndRepeatsThem(t *testing.T) {
	s := newOrders(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		items  []orders.NewItem
		cur    string
		reason string
	}{
		{"unknown", []orders.NewItem{{ProductID: "NOPE", Quantity: 1}}, "", "UnknownProduct"},
		{"price", []orders.NewItem{{ProductID: "PROD-001", Quantity: 1, UnitPrice: "999.00"}}, "", "PriceChanged"},
		{"currency", []orders.NewItem{{ProductID: "PROD-001", Quantity: 1}}, "EUR", "CurrencyMismatch"},
	} {
		o := orders.NewOrder{UID: "u-" + tc.name, Namespace: "ns", Name: tc.name, CustomerID: "C1", Currency: tc.cur, Items: tc.items}
		for i := 0; i < 2; i++ {
			_, err := s.Create(ctx, o)
			f, ok := failure.As(err)
			if !ok || f.Reason != tc.reason {
				t.Fatalf("%s attempt %d: %v; want %s", tc.name, i, err, tc.reason)
			}
		}
		if st, err := s.Status(ctx, o.UID); err != nil || st != orders.StatusFailed {
			t.Fatalf("%s: recorded status %q, %v", tc.name, st, err)
		}
	}
}
