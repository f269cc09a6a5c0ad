package cmd

import (
	"context"
	"fmt"
	"io"

	"orderflow.io/orderflow/internal/catalog"
	"orderflow.io/orderflow/internal/db"
)

func runMigrate(ctx context.Context, args []string, stdout io.Writer) error {
	f := newFlags("migrate", stdout)
	var pg db.Config
	var demo bool
	registerPostgres(f, &pg)
	f.bool(&demo, "demo-catalog", "", false, "also load the demo catalog (PROD-001..003) where it is missing, never resetting products already there; for the local stack, not production")
	if err := f.parse(args); err != nil {
		return err
	}
	s, err := db.Open(ctx, pg)
	if err != nil {
		return err
	}
	defer s.Close()
	n, err := s.Migrate(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "migrations: %d applied\n", n)
	if demo {
		added, err := catalog.AddMissing(ctx, s, catalog.DemoCatalog)
		if err != nil {
			return fmt.Errorf("load demo catalog: %w", err)
		}
		fmt.Fprintf(stdout, "demo catalog: %d of %d products added (those present keep their price and stock)\n", added, len(catalog.DemoCatalog))
	}
	return nil
}
