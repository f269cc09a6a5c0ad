package workflows

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/temporal"

	"orderflow.io/orderflow/internal/contract"
	"orderflow.io/orderflow/internal/db"
	"orderflow.io/orderflow/internal/orders"
)

// TestFinishingAnOrderWhileTheDatabaseIsOutOfReachIsRetried: recording an
// outcome with PostgreSQL out of reach (connections exhausted, a restart)
// is an error to retry, not a failure of the order's workflow, which would
// leave its captured payment unrefunded and its stock held (the fault
// suite's stalled worker on the real server did that).
func TestFinishingAnOrderWhileTheDatabaseIsOutOfReachIsRetried(t *testing.T) {
	pool, err := pgxpool.New(context.Background(), "postgres://orderflow@127.0.0.1:1/orderflow?connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	a := &Activities{Orders: &orders.Service{DB: &db.DB{Pool: pool}}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = a.FinishOrder(ctx, FinishInput{Key: "shop/o1", Phase: contract.PhaseCancelled})
	if err == nil {
		t.Fatal("finished with no database")
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.NonRetryable() {
		t.Fatalf("a database out of reach failed the order for good: %v", err)
	}
}
