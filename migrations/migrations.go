// Package migrations holds kfgate's PostgreSQL schema as goose SQL
// migrations, embedded in the binary. Files are named NNNNN_what.sql and
// applied in that order by package migrate (kfgate migrate, and serve at
// start); a migration, once released, is never edited: add the next one.
package migrations

import "embed"

// FS holds the migration files.
//
//go:embed *.sql
var FS embed.FS
