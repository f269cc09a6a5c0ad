package testenv

import (
	"context"
	"flag"
	"fmt"
	"os"
	"testing"
	"time"
)

// Main is a TestMain for an integration test package: it starts the
// components named in opts once for the package (not under -short), runs
// the tests and stops the components whatever happened. If a component
// cannot start, every test of the package fails with the reason.
func Main(m *testing.M, opts Options, stack **Stack) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	s, err := Start(ctx, opts)
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: the integration stack did not start: %v\n", err)
		os.Exit(1)
	}
	*stack = s
	code := m.Run()
	s.Stop()
	os.Exit(code)
}

// Integration skips a test under -short: integration tests need the
// components Main started.
func Integration(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: runs without -short")
	}
}
