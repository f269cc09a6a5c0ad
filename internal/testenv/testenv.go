// Package testenv starts the real components integration tests run
// against: kube-apiserver + etcd (controller-runtime's envtest, binaries
// from ./bin), a Temporal dev server (the CLI from ./bin) and a PostgreSQL
// server in a temporary data directory, and the providers' stand-ins:
// stripe-mock for Stripe's API, mailpit for SMTP. Each starts on free ports and stops
// cleanly. A component that cannot start is an error that says why: tests
// fail, they never skip.
package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
)

// Root returns the repository root (the directory holding go.mod).
func Root() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("testenv: cannot locate the repository")
	}
	dir := filepath.Dir(file)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("testenv: go.mod not found above " + file)
		}
		dir = parent
	}
}

// Bin returns the path of a tool built into ./bin by `make tools`.
func Bin(name string) (string, error) {
	root, err := Root()
	if err != nil {
		return "", err
	}
	p := filepath.Join(root, "bin", name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("testenv: %s is missing: run `make tools` (%w)", p, err)
	}
	return p, nil
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Stack is a set of started components; Stop stops them all.
type Stack struct {
	Kube     *Kube
	Temporal *Temporal
	Postgres *Postgres
	// StripeMock and Mailpit stand in for Stripe's API and an SMTP server.
	StripeMock *Server
	Mailpit    *Server
}

// Options says which components Start brings up.
type Options struct {
	Kube     bool
	Temporal bool
	Postgres bool
	// TemporalServer runs the real Temporal server on the PostgreSQL
	// (Postgres must be set) instead of the dev server.
	TemporalServer bool
	// StripeMock and Mailpit start stripe-mock and mailpit.
	StripeMock bool
	Mailpit    bool
	// CRDDirs are installed into the API server, relative to the repository root.
	CRDDirs []string
	// Manifests are applied to the API server once the CRDs are in, as
	// YAML files relative to the repository root.
	Manifests []string
}

// Start brings up the components named in opts. On error, whatever started
// is stopped again.
func Start(ctx context.Context, opts Options) (*Stack, error) {
	s := &Stack{}
	var err error
	if opts.Postgres {
		if s.Postgres, err = StartPostgres(ctx); err != nil {
			s.Stop()
			return nil, err
		}
	}
	if opts.Temporal && opts.TemporalServer {
		if s.Temporal, err = StartTemporalServer(ctx, s.Postgres); err != nil {
			s.Stop()
			return nil, err
		}
	} else if opts.Temporal {
		if s.Temporal, err = StartTemporal(ctx); err != nil {
			s.Stop()
			return nil, err
		}
	}
	if opts.StripeMock {
		if s.StripeMock, err = StartStripeMock(ctx); err != nil {
			s.Stop()
			return nil, err
		}
	}
	if opts.Mailpit {
		if s.Mailpit, err = StartMailpit(ctx); err != nil {
			s.Stop()
			return nil, err
		}
	}
	if opts.Kube {
		if s.Kube, err = StartKube(opts.CRDDirs, opts.Manifests...); err != nil {
			s.Stop()
			return nil, err
		}
	}
	return s, nil
}

// Stop stops every started component, in reverse order of start.
func (s *Stack) Stop() {
	if s == nil {
		return
	}
	if s.Kube != nil {
		s.Kube.Stop()
	}
	s.Mailpit.Stop()
	s.StripeMock.Stop()
	if s.Temporal != nil {
		s.Temporal.Stop()
	}
	if s.Postgres != nil {
		s.Postgres.Stop()
	}
}
