// Package db is the plumbing of the PostgreSQL system of record: the
// connection settings, the pool, transactions and the embedded schema
// migrations. The tables' own packages (catalog, orders, inventory,
// payment, notification) work on the one pool it opens.
package db

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is an open PostgreSQL connection pool.
type DB struct {
	Pool *pgxpool.Pool
}

// Config says how to reach PostgreSQL. DSN wins when set; otherwise the
// parts build one (the original OrderFlow's POSTGRES_* variables).
type Config struct {
	DSN      string
	Host     string
	Port     int
	User     string
	Password string
	Database string
	SSLMode  string
	MaxConns int32
	// ConnectWait is how long Open waits for PostgreSQL to answer (a
	// database starting beside OrderFlow); zero: it tries once. Waiting,
	// when set, hears of the first failure.
	ConnectWait time.Duration
	Waiting     func(err error)
}

// ConnString returns the connection string the config describes.
func (c Config) ConnString() string {
	if c.DSN != "" {
		return c.DSN
	}
	u := url.URL{
		Scheme: "postgres",
		User:   url.UserPassword(c.User, c.Password),
		Host:   c.Host + ":" + strconv.Itoa(c.Port),
		Path:   "/" + c.Database,
	}
	q := url.Values{}
	if c.SSLMode != "" {
		q.Set("sslmode", c.SSLMode)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// Open connects to PostgreSQL and checks the connection.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	pc, err := pgxpool.ParseConfig(cfg.ConnString())
	if err != nil {
		// The parse error may quote the connection string: keep it out.
		return nil, errors.New("db: invalid PostgreSQL connection settings")
	}
	if cfg.MaxConns > 0 {
		pc.MaxConns = cfg.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("db: connect to %s:%d: %w", pc.ConnConfig.Host, pc.ConnConfig.Port, err)
	}
	deadline := time.Now().Add(cfg.ConnectWait)
	for attempt := 1; ; attempt++ {
		err := pool.Ping(ctx)
		if err == nil {
			return &DB{Pool: pool}, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			pool.Close()
			return nil, fmt.Errorf("db: connect to %s:%d: %w", pc.ConnConfig.Host, pc.ConnConfig.Port, err)
		}
		if attempt == 1 && cfg.Waiting != nil {
			cfg.Waiting(err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
		}
	}
}

// Close closes the pool.
func (s *DB) Close() { s.Pool.Close() }

// Migrate applies the embedded migrations that have not been applied yet.
// A PostgreSQL advisory lock lets workers starting together migrate once.
func (s *DB) Migrate(ctx context.Context) (applied int, err error) {
	return s.MigrateTo(ctx, math.MaxInt64)
}

// MigrateTo applies the embedded migrations up to version, as Migrate does:
// for tests of data written under an older schema.
func (s *DB) MigrateTo(ctx context.Context, version int64) (applied int, err error) {
	db := stdlib.OpenDBFromPool(s.Pool)
	defer db.Close()
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return 0, err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, mustSub(migrations, "migrations"), goose.WithSessionLocker(locker))
	if err != nil {
		return 0, fmt.Errorf("db: migrations: %w", err)
	}
	res, err := p.UpTo(ctx, version)
	if err != nil {
		return 0, fmt.Errorf("db: migrate: %w", err)
	}
	return len(res), nil
}

// Tx runs fn in a transaction and commits it unless fn fails.
func (s *DB) Tx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.Pool, fn)
}

// Ready answers a readiness probe: an error naming PostgreSQL when it
// cannot be reached.
func (s *DB) Ready(ctx context.Context) error {
	if err := s.Pool.Ping(ctx); err != nil {
		return errors.New("postgres: unreachable")
	}
	return nil
}
