package migrate_test

import (
	"context"
	"fmt"
	"io/fs"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kfgate/kfgate/internal/migrate"
	"github.com/kfgate/kfgate/internal/pgtest"
	"github.com/kfgate/kfgate/migrations"
)

// all is every migration file, in order.
var all = func() []string {
	names, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil || len(names) < 2 {
		panic(fmt.Sprint("migrations: ", names, err))
	}
	slices.Sort(names)
	return names
}()

func TestUpTwice(t *testing.T) {
	pool, dsn := pgtest.New(t)
	ctx := t.Context()
	applied, err := migrate.Up(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(applied, all) {
		t.Errorf("first Up applied %q, want %q", applied, all)
	}
	var table *string
	if err := pool.QueryRow(ctx, "SELECT to_regclass('agents')::text").Scan(&table); err != nil || table == nil {
		t.Fatalf("table agents after Up: %v, %v", table, err)
	}
	applied, err = migrate.Up(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != 0 {
		t.Errorf("second Up applied %q, want nothing", applied)
	}
}

// TestUpConcurrent starts several replicas' Up at once on one fresh schema:
// all succeed, and each migration is applied exactly once.
func TestUpConcurrent(t *testing.T) {
	_, dsn := pgtest.New(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	const n = 4
	applied := make([][]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { applied[i], errs[i] = migrate.Up(ctx, dsn) })
	}
	wg.Wait()
	var total []string
	for i := range n {
		if errs[i] != nil {
			t.Errorf("Up %d: %v", i, errs[i])
		}
		total = append(total, applied[i]...)
	}
	if !slices.Equal(total, all) {
		t.Errorf("the concurrent Ups applied %q in all, want %q once", total, all)
	}
}

func TestUpWithoutSchema(t *testing.T) {
	// A search_path naming no schema that exists: nowhere to migrate.
	u, err := url.Parse(pgtest.URL())
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", pgtest.Schema())
	u.RawQuery = q.Encode()
	if _, err := migrate.Up(t.Context(), u.String()); err == nil {
		t.Error("Up into a schema that does not exist succeeded")
	}
}

func TestUpBadURL(t *testing.T) {
	if _, err := migrate.Up(t.Context(), "postgres://%zz"); err == nil {
		t.Error("Up with a malformed URL succeeded")
	}
}
