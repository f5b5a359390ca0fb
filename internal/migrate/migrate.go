// Package migrate applies kfgate's PostgreSQL migrations (package
// migrations, run by goose) to a database: for `kfgate migrate`, and for
// `kfgate serve` at start unless the config disables it.
//
// Every replica may run Up as it starts. The replicas take turns: Up holds a
// PostgreSQL advisory lock for the whole run, so the second replica waits
// for the first, then finds nothing pending and applies nothing.
package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"path"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/kfgate/kfgate/migrations"
)

// Up applies the pending migrations to the database at databaseURL, in the
// schema its search_path names (public by default), and returns the names
// of the files it applied, in order: none when the schema is up to date.
//
// Up blocks while another process migrates the same schema; ctx bounds the
// wait.
func Up(ctx context.Context, databaseURL string) (applied []string, err error) {
	return UpTo(ctx, databaseURL, 0)
}

// UpTo is Up stopping after the migration numbered version (0: all): tests
// of a migration fill the schema as the version before it left it.
func UpTo(ctx context.Context, databaseURL string, version int64) (applied []string, err error) {
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("migrate: database URL: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()

	unlock, err := lock(ctx, db)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, unlock()) }()

	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS,
		goose.WithDisableGlobalRegistry(true),
		goose.WithLogger(goose.NopLogger()))
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	var results []*goose.MigrationResult
	if version > 0 {
		results, err = p.UpTo(ctx, version)
	} else {
		results, err = p.Up(ctx)
	}
	for _, r := range results {
		if r.Error == nil {
			applied = append(applied, path.Base(r.Source.Path))
		}
	}
	if err != nil {
		return applied, fmt.Errorf("migrate: %w", err)
	}
	return applied, nil
}

// lock takes the migration lock of the connection's current schema: a
// session-level advisory lock on a connection of its own, held until unlock
// (or until the connection ends, should the process die). goose's own
// session locker polls pg_try_advisory_lock every 5 s and leaves HasPending
// and the creation of its version table outside the lock; pg_advisory_lock
// covers the whole run and wakes the waiter as soon as the holder is done.
//
// The lock's key is a hash of the schema's name, so tests migrating schemas
// of their own in one database do not wait for each other.
func lock(ctx context.Context, db *sql.DB) (unlock func() error, err error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: connect: %w", err)
	}
	var schema string
	if err := conn.QueryRowContext(ctx, "SELECT coalesce(current_schema(), '')").Scan(&schema); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("migrate: current schema: %w", err)
	}
	if schema == "" {
		_ = conn.Close()
		return nil, errors.New("migrate: no schema to migrate: the search_path names none that exists")
	}
	h := fnv.New64a()
	h.Write([]byte("kfgate migrate " + schema))
	key := int64(h.Sum64())
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("migrate: waiting for the migration lock: %w", err)
	}
	return func() error {
		// Closing the connection would release the lock too, but database/sql
		// may keep it in its pool: unlock explicitly, then close.
		_, err := conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", key)
		return errors.Join(err, conn.Close())
	}, nil
}
