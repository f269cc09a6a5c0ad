package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"orderflow.io/orderflow/internal/catalog"
	"orderflow.io/orderflow/internal/contract"
	"orderflow.io/orderflow/internal/db"
	"orderflow.io/orderflow/internal/orders"
)

// Postgres is a started PostgreSQL server in a temporary data directory,
// with trust authentication on 127.0.0.1.
type Postgres struct {
	Port    int
	dir     string
	binDir  string
	asUser  string // run the server tools as this user ("" = as we are)
	Started time.Duration
}

// PostgresBinDir finds the directory of initdb and pg_ctl.
func PostgresBinDir() (string, error) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if resolved, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Dir(resolved), nil
		}
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(matches) == 0 {
		return "", fmt.Errorf("testenv: PostgreSQL server binaries not found (pg_ctl): install the postgresql package")
	}
	return filepath.Dir(matches[len(matches)-1]), nil
}

// StartPostgres initialises a data directory and starts a server on a free
// port, made for speed over durability (no fsync).
func StartPostgres(ctx context.Context) (*Postgres, error) {
	start := time.Now()
	dir, err := os.MkdirTemp("", "orderflow-pg-")
	if err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err == nil {
		var p *Postgres
		if p, err = NewPostgres(dir, port); err == nil {
			if err = p.Init(ctx, "--no-sync"); err == nil {
				err = p.StartServer(ctx, filepath.Join(dir, "server.log"),
					"fsync=off", "synchronous_commit=off", "full_page_writes=off", "max_connections=200")
			}
			if err == nil {
				p.Started = time.Since(start)
				return p, nil
			}
		}
	}
	os.RemoveAll(dir)
	return nil, err
}

// NewPostgres is a PostgreSQL server whose data is (or is to be) in
// dir/data, its socket in dir, on port of 127.0.0.1. initdb and the server
// refuse to run as root, so as root the tools run as the postgres user, and
// dir is given to it.
func NewPostgres(dir string, port int) (*Postgres, error) {
	bin, err := PostgresBinDir()
	if err != nil {
		return nil, err
	}
	p := &Postgres{Port: port, dir: dir, binDir: bin}
	if os.Geteuid() != 0 {
		return p, nil
	}
	p.asUser = "postgres"
	if err := p.own(dir); err != nil {
		return nil, err
	}
	return p, nil
}

// own gives path to the user the server runs as.
func (p *Postgres) own(path string) error {
	if p.asUser == "" {
		return nil
	}
	u, err := user.Lookup(p.asUser)
	if err != nil {
		return fmt.Errorf("testenv: running as root needs a %s user to run PostgreSQL: %w", p.asUser, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return os.Chown(path, uid, gid)
}

// Initialised reports whether the data directory holds a database cluster.
func (p *Postgres) Initialised() bool {
	_, err := os.Stat(filepath.Join(p.dir, "data", "PG_VERSION"))
	return err == nil
}

// Init makes the database cluster (superuser postgres, trusted on
// loopback), with initdb's extra arguments.
func (p *Postgres) Init(ctx context.Context, extra ...string) error {
	args := append([]string{"-D", filepath.Join(p.dir, "data"), "-U", "postgres", "-A", "trust", "-E", "UTF8"}, extra...)
	if out, err := p.run(ctx, "initdb", args...); err != nil {
		return fmt.Errorf("testenv: initdb: %w\n%s", err, out)
	}
	return nil
}

// Running reports whether the server runs on the data directory.
func (p *Postgres) Running(ctx context.Context) bool {
	_, err := p.run(ctx, "pg_ctl", "-D", filepath.Join(p.dir, "data"), "status")
	return err == nil
}

// StartServer starts the server with its log in logFile and the given
// settings (name=value), and waits until it accepts connections.
func (p *Postgres) StartServer(ctx context.Context, logFile string, settings ...string) error {
	f, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	f.Close()
	if err := p.own(logFile); err != nil {
		return err
	}
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1", p.Port, p.dir)
	for _, s := range settings {
		opts += " -c " + s
	}
	if out, err := p.run(ctx, "pg_ctl", "-D", filepath.Join(p.dir, "data"), "-o", opts, "-l", logFile, "-w", "-t", "60", "start"); err != nil {
		logText, _ := os.ReadFile(logFile)
		return fmt.Errorf("testenv: start PostgreSQL on port %d: %w\n%s\n%s", p.Port, err, out, logText)
	}
	return nil
}

// StopServer stops the server (mode fast, smart or immediate) and keeps
// its data.
func (p *Postgres) StopServer(ctx context.Context, mode string) error {
	if out, err := p.run(ctx, "pg_ctl", "-D", filepath.Join(p.dir, "data"), "-m", mode, "-w", "stop"); err != nil {
		return fmt.Errorf("testenv: stop PostgreSQL: %w\n%s", err, out)
	}
	return nil
}

// EnsureRole makes a login role with password unless it exists.
func (p *Postgres) EnsureRole(ctx context.Context, name, password string) error {
	return p.ensure(ctx, `SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $1)`, name,
		fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s'", pgx.Identifier{name}.Sanitize(), strings.ReplaceAll(password, "'", "''")))
}

// EnsureDatabase creates database name, owned by owner, unless it exists.
func (p *Postgres) EnsureDatabase(ctx context.Context, name, owner string) error {
	return p.ensure(ctx, `SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)`, name,
		fmt.Sprintf("CREATE DATABASE %s OWNER %s", pgx.Identifier{name}.Sanitize(), pgx.Identifier{owner}.Sanitize()))
}

// ensure runs create as the superuser unless exists (a query of name) says
// the object is there. (CREATE DATABASE cannot run inside a DO block.)
func (p *Postgres) ensure(ctx context.Context, exists, name, create string) error {
	conn, err := pgx.Connect(ctx, p.DSN("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var there bool
	if err := conn.QueryRow(ctx, exists, name).Scan(&there); err != nil || there {
		return err
	}
	_, err = conn.Exec(ctx, create)
	return err
}

func (p *Postgres) run(ctx context.Context, tool string, args ...string) ([]byte, error) {
	path := filepath.Join(p.binDir, tool)
	var cmd *exec.Cmd
	if p.asUser != "" {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", p.asUser, "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	cmd.Dir = p.dir
	return cmd.CombinedOutput()
}

// DSN returns the connection string of a database on the server.
func (p *Postgres) DSN(database string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", p.Port, database)
}

// CreateDatabase creates an empty database and returns its DSN.
func (p *Postgres) CreateDatabase(ctx context.Context, name string) (string, error) {
	conn, err := pgx.Connect(ctx, p.DSN("postgres"))
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{strings.ToLower(name)}.Sanitize()); err != nil {
		return "", fmt.Errorf("testenv: create database %s: %w", name, err)
	}
	return p.DSN(strings.ToLower(name)), nil
}

// Stop stops the server at once and removes its data.
func (p *Postgres) Stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = p.StopServer(ctx, "immediate")
	os.RemoveAll(p.dir)
}

// Restart stops the server and starts it again on the same port and data,
// for fault tests.
func (p *Postgres) Restart(ctx context.Context) error {
	data := filepath.Join(p.dir, "data")
	if out, err := p.run(ctx, "pg_ctl", "-D", data, "-m", "fast", "-w", "restart"); err != nil {
		return fmt.Errorf("testenv: restart PostgreSQL: %w\n%s", err, out)
	}
	return nil
}

// NewDB creates a database, opens a pool on it, applies the migrations
// and loads the given products.
func (p *Postgres) NewDB(ctx context.Context, name string, maxConns int32, products ...catalog.Product) (*db.DB, error) {
	dsn, err := p.CreateDatabase(ctx, name)
	if err != nil {
		return nil, err
	}
	s, err := db.Open(ctx, db.Config{DSN: dsn, MaxConns: maxConns})
	if err != nil {
		return nil, err
	}
	if _, err := s.Migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := catalog.Upsert(ctx, s, products); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Catalog is the demo catalog plus BULK, a product with stock enough for
// any number of test orders.
func Catalog() []catalog.Product {
	return append(append([]catalog.Product(nil), catalog.DemoCatalog...),
		catalog.Product{ID: "BULK", Name: "Bulk", Price: 100, Currency: "USD", Stock: 1_000_000})
}

var dbSeq atomic.Int64

// TestDB is NewDB on a database of its own for one test, closed when the
// test ends; the test fails if it cannot be made.
func (p *Postgres) TestDB(t testing.TB, maxConns int32, products ...catalog.Product) *db.DB {
	t.Helper()
	Integration(t)
	s, err := p.NewDB(context.Background(), fmt.Sprintf("test_%d", dbSeq.Add(1)), maxConns, products...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// PlaceOrder records an order of qty of one product, as the workflow's
// first step does; the test fails if it cannot.
func PlaceOrder(t testing.TB, d *db.DB, uid, product string, qty int32) {
	t.Helper()
	if _, err := (&orders.Service{DB: d}).Create(context.Background(), orders.NewOrder{Key: uid, ObjectUID: uid, Namespace: "ns", Name: uid,
		CustomerID: "C", Items: []contract.Item{{ProductID: product, Quantity: qty}}}); err != nil {
		t.Fatal(err)
	}
}

// TestDB is Postgres.TestDB, skipped under -short (when the stack was not
// started).
func (s *Stack) TestDB(t testing.TB, maxConns int32, products ...catalog.Product) *db.DB {
	t.Helper()
	Integration(t)
	return s.Postgres.TestDB(t, maxConns, products...)
}
