package db_test

import (
	"context"
	"testing"

	"orderflow.io/orderflow/internal/catalog"
	"orderflow.io/orderflow/internal/testenv"
)

var stack *testenv.Stack

func TestMain(m *testing.M) {
	testenv.Main(m, testenv.Options{Postgres: true}, &stack)
}

func TestMigrationsApplyToAnEmptyDatabaseAndAreIdempotent(t *testing.T) {
	s := stack.TestDB(t, 0, catalog.DemoCatalog...)
	n, err := s.Migrate(context.Background())
	if err != nil || n != 0 {
		t.Fatalf("second migrate applied %d, %v; want 0, nil", n, err)
	}
	products, err := catalog.List(context.Background(), s)
	if err != nil || len(products) != 3 {
		t.Fatalf("products %v, %v", products, err)
	}
}
