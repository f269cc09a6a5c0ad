// Command orderflow is the single binary of OrderFlow: `orderflow manager`,
// `orderflow worker`, `orderflow api` and `orderflow migrate`.
package main

import (
	"os"

	"orderflow.io/orderflow/internal/cmd"
)

func main() {
	os.Exit(cmd.Main(os.Args[1:], os.Stdout, os.Stderr))
}
