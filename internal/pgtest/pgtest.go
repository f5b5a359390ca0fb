// Package pgtest gives tests a real PostgreSQL: the server at
// KFGATE_TEST_POSTGRES_URL (default
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable), with a schema of
// the test's own that is dropped when the test ends. A missing server fails
// the test: in CI that is a failure, never a skip.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kfgate/kfgate/internal/migrate"
)

// URL is the PostgreSQL the tests use.
func URL() string {
	if u := os.Getenv("KFGATE_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// New creates a fresh, empty schema and returns a pool whose connections
// use it (their search_path names it alone) and the URL that does the same,
// for code that opens its own connections. The schema, and everything in
// it, is dropped when the test ends.
func New(tb testing.TB) (*pgxpool.Pool, string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, URL())
	if err != nil {
		tb.Fatalf("the tests need PostgreSQL at %s (start it as README.md, \"Test\", says): %v", URL(), err)
	}
	schema := Schema()
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		_ = admin.Close(ctx)
		tb.Fatalf("pgtest: create schema: %v", err)
	}
	u, err := withSearchPath(URL(), schema)
	if err != nil {
		tb.Fatalf("KFGATE_TEST_POSTGRES_URL: %v", err)
	}
	pool, err := pgxpool.New(ctx, u)
	if err != nil {
		tb.Fatalf("pgtest: pool: %v", err)
	}
	tb.Cleanup(func() {
		pool.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			tb.Errorf("pgtest: drop schema %s: %v", schema, err)
		}
		_ = admin.Close(ctx)
	})
	return pool, u
}

// Migrated is New with kfgate's migrations applied to the schema.
func Migrated(tb testing.TB) (*pgxpool.Pool, string) {
	tb.Helper()
	pool, u := New(tb)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := migrate.Up(ctx, u); err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	return pool, u
}

// Schema returns a schema name no other test uses.
func Schema() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "kfgate_test_" + hex.EncodeToString(b)
}

// withSearchPath returns the connection string s with search_path set to
// schema, in either of the forms pgx accepts: a URL or key=value pairs.
func withSearchPath(s, schema string) (string, error) {
	if !strings.HasPrefix(s, "postgres://") && !strings.HasPrefix(s, "postgresql://") {
		return s + " search_path=" + schema, nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), nil
}
