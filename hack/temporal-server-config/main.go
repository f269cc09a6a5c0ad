// Command temporal-server-config writes the real Temporal server's
// configuration file for the local stack (hack/dev.sh with
// DEV_TEMPORAL=server): the same file the tests' server runs with
// (testenv.TemporalServerConfig), its ports from the frontend's.
//
//	go run ./hack/temporal-server-config -port 7233 -postgres-port 5432 -dir .dev/temporal-server
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"orderflow.io/orderflow/internal/testenv"
)

func main() {
	port := flag.Int("port", 7233, "the frontend's gRPC port: history +1, matching +2, worker +6, HTTP +10; membership 300 below each")
	pgPort := flag.Int("postgres-port", 5432, "the stack's PostgreSQL port")
	user := flag.String("user", "orderflow", "PostgreSQL user (its password is the same word: the local stack's)")
	dir := flag.String("dir", ".dev/temporal-server", "where config.yaml and the empty dynamicconfig.yaml go")
	flag.Parse()
	abs, err := filepath.Abs(*dir)
	if err == nil {
		err = os.MkdirAll(abs, 0o755)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(abs, "dynamicconfig.yaml"), nil, 0o644)
	}
	if err == nil {
		p, m := *port, *port-300
		cfg := testenv.TemporalServerConfig{
			Database: "temporal", VisibilityDatabase: "temporal_visibility", PostgresPort: *pgPort,
			User: *user, Password: *user, Frontend: p, FrontendMembership: m, FrontendHTTP: p + 10,
			History: p + 1, HistoryMembership: m + 1, Matching: p + 2, MatchingMembership: m + 2,
			Worker: p + 6, WorkerMembership: m + 6, DynamicConfigDir: abs,
		}
		err = os.WriteFile(filepath.Join(abs, "config.yaml"), []byte(cfg.YAML()), 0o600)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "temporal-server-config:", err)
		os.Exit(1)
	}
}
