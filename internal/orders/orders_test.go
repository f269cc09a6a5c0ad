package orders_test

import (
	"context"
	"strings"
	"testing"

	"orderflow.io/orderflow/internal/catalog"
	"orderflow.io/orderflow/internal/contract"
	"orderflow.io/orderflow/internal/db"
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
	o := orders.NewOrder{Key: "u1", Namespace: "ns", Name: "o1", CustomerID: "C1",
		Items: []contract.Item{{ProductID: "PROD-001", Quantity: 2, UnitPrice: "1299.99"}, {ProductID: "PROD-002", Quantity: 1}}}
	for i := 0; i < 2; i++ {
		p, err := s.Create(ctx, o)
		if err != nil || p.Total.String() != "2649.88" || p.Currency != "USD" {
			t.Fatalf("attempt %d: %+v %v", i, p, err)
		}
	}
	var items int
	if err := s.DB.Pool.QueryRow(ctx, `SELECT count(*) FROM order_items WHERE order_key = 'u1'`).Scan(&items); err != nil || items != 2 {
		t.Fatalf("items %d %v", items, err)
	}
}

func TestCreateOrderRecordsBusinessFailuresAndRepeatsThem(t *testing.T) {
	s := newOrders(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		items  []contract.Item
		cur    string
		reason string
	}{
		{"unknown", []contract.Item{{ProductID: "NOPE", Quantity: 1}}, "", "UnknownProduct"},
		{"price", []contract.Item{{ProductID: "PROD-001", Quantity: 1, UnitPrice: "999.00"}}, "", "PriceChanged"},
		{"currency", []contract.Item{{ProductID: "PROD-001", Quantity: 1}}, "EUR", "CurrencyMismatch"},
	} {
		o := orders.NewOrder{Key: "u-" + tc.name, Namespace: "ns", Name: tc.name, CustomerID: "C1", Currency: tc.cur, Items: tc.items}
		for i := 0; i < 2; i++ {
			_, err := s.Create(ctx, o)
			f, ok := failure.As(err)
			if !ok || f.Reason != tc.reason {
				t.Fatalf("%s attempt %d: %v; want %s", tc.name, i, err, tc.reason)
			}
		}
		if st, err := s.Phase(ctx, o.Key); err != nil || st != contract.PhaseFailed {
			t.Fatalf("%s: recorded status %q, %v", tc.name, st, err)
		}
	}
}

func placeAndFinish(t *testing.T, s *orders.Service, o orders.NewOrder, status contract.Phase) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.Create(ctx, o); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB.Pool.Exec(ctx, `INSERT INTO payments (id, order_key, kind, amount_cents, currency, idempotency_key) VALUES ($1, $2, 'capture', 129999, 'USD', $3)`,
		"pay-"+o.Name, o.Key, "capture-"+o.Key); err != nil {
		t.Fatal(err)
	}
	if err := s.Finish(ctx, o.Key, status, "", ""); err != nil {
		t.Fatal(err)
	}
}

func TestTheSameOrderRecordedAgainFindsItsOutcome(t *testing.T) {
	s := newOrders(t)
	ctx := context.Background()
	o := orders.NewOrder{Key: "ns/again", ObjectUID: "uid-1", Fingerprint: "v1:a", Namespace: "ns", Name: "again", CustomerID: "C1",
		Items: []contract.Item{{ProductID: "PROD-001", Quantity: 1}}}
	placeAndFinish(t, s, o, contract.PhaseCompleted)
	o.ObjectUID = "uid-2" // the Order deleted and applied again
	p, err := s.Create(ctx, o)
	if err != nil || p.Key != "ns/again" || p.Total.String() != "1299.99" || p.Finished == nil {
		t.Fatalf("%+v, %v", p, err)
	}
	if f := p.Finished; f.Phase != contract.PhaseCompleted || f.PaymentID != "pay-again" || f.Steps["PaymentCaptured"].IsZero() || f.Completed.IsZero() {
		t.Fatalf("outcome %+v", f)
	}
}

func TestAnotherOrderUnderAUsedNameIsRefusedAndTheRecordStays(t *testing.T) {
	s := newOrders(t)
	ctx := context.Background()
	o := orders.NewOrder{Key: "ns/taken", Fingerprint: "v1:a", Namespace: "ns", Name: "taken", CustomerID: "C1",
		Items: []contract.Item{{ProductID: "PROD-001", Quantity: 1}}}
	placeAndFinish(t, s, o, contract.PhaseCompleted)
	other := o
	other.Fingerprint, other.Items = "v1:b", []contract.Item{{ProductID: "PROD-002", Quantity: 3}}
	_, err := s.Create(ctx, other)
	if f, ok := failure.As(err); !ok || f.Reason != "NameReused" || !strings.Contains(f.Message, "placed 20") {
		t.Fatalf("%v; want NameReused naming when the first was placed", err)
	}
	var items int
	if err := s.DB.Pool.QueryRow(ctx, `SELECT count(*) FROM order_items WHERE order_key = 'ns/taken' AND product_id = 'PROD-001'`).Scan(&items); err != nil || items != 1 {
		t.Fatalf("the first order's items changed: %d, %v", items, err)
	}
}

// TestAnOrderPlacedUnderItsUIDIsFoundByItsNameAfterTheMigration writes
// orders as the schema before identity by name did (keyed by UID, in the
// columns uid and order_uid that migration 00006 renames), migrates,
// and records the same order and another one under the name.
func TestAnOrderPlacedUnderItsUIDIsFoundByItsNameAfterTheMigration(t *testing.T) {
	testenv.Integration(t)
	ctx := context.Background()
	dsn, err := stack.Postgres.CreateDatabase(ctx, "legacy")
	if err != nil {
		t.Fatal(err)
	}
	d, err := db.Open(ctx, db.Config{DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.MigrateTo(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := catalog.Upsert(ctx, d, catalog.DemoCatalog); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		// An older incarnation of shop/o1, then the one that completed.
		`INSERT INTO orders (uid, namespace, name, customer_id, currency, total_cents, status, created_at) VALUES ('uid-old', 'shop', 'o1', 'C1', 'USD', 4990, 'cancelled', now() - interval '1 day')`,
		`INSERT INTO orders (uid, namespace, name, customer_id, currency, total_cents, status) VALUES ('uid-new', 'shop', 'o1', 'C1', 'USD', 129999, 'completed')`,
		`INSERT INTO order_items (order_uid, product_id, quantity, unit_price_cents) VALUES ('uid-new', 'PROD-001', 1, 129999)`,
		`INSERT INTO payments (id, order_uid, kind, amount_cents, currency, idempotency_key) VALUES ('pay-legacy', 'uid-new', 'capture', 129999, 'USD', 'capture-uid-new')`,
	} {
		if _, err := d.Pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	s := &orders.Service{DB: d}
	same := orders.NewOrder{Key: "shop/o1", ObjectUID: "uid-3", Fingerprint: "v1:x", Namespace: "shop", Name: "o1", CustomerID: "C1",
		Items: []contract.Item{{ProductID: "PROD-001", Quantity: 1}}}
	p, err := s.Create(ctx, same)
	if err != nil || p.Key != "uid-new" || p.Finished == nil || p.Finished.PaymentID != "pay-legacy" {
		t.Fatalf("%+v, %v; want the completed UID-keyed record", p, err)
	}
	other := same
	other.Items = []contract.Item{{ProductID: "PROD-002", Quantity: 1}}
	if _, err := s.Create(ctx, other); !isReason(err, "NameReused") {
		t.Fatalf("another order under the name: %v", err)
	}
}

func isReason(err error, reason string) bool {
	f, ok := failure.As(err)
	return ok && f.Reason == reason
}
