package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/kfgate/kfgate/internal/migrate"
)

// migrateCommand applies the pending migrations of postgres.url.
func migrateCommand(ctx context.Context, args []string, getenv func(string) string, environ []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg, err := loadConfig(fs, args, getenv, environ)
	if err != nil {
		return err
	}
	if cfg.Postgres.URL == "" {
		return fmt.Errorf("postgres.url is empty: there is nothing to migrate")
	}
	applied, err := migrate.Up(ctx, cfg.Postgres.URL)
	if err != nil {
		return err
	}
	for _, name := range applied {
		fmt.Fprintln(stdout, "applied", name)
	}
	fmt.Fprintf(stdout, "%d migrations applied; the schema is up to date\n", len(applied))
	return nil
}
