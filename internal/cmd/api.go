package cmd

import (
	"context"
	"errors"
	"io"
)

func runAPI(_ context.Context, args []string, stdout io.Writer) error {
	f := newFlags("api", stdout)
	var port int
	f.int(&port, "port", "API_PORT", 8080, "port of the REST API and web page")
	if err := f.parse(args); err != nil {
		return err
	}
	return errors.New("not yet implemented")
}
