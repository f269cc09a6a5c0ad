//go:build tools

// Package tools keeps the Temporal server's commands in this module's
// build list.
package tools

import (
	_ "go.temporal.io/server/cmd/server"
	_ "go.temporal.io/server/cmd/tools/sql"
)
