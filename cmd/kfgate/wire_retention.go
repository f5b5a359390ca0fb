package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/archive"
	"github.com/kfgate/kfgate/internal/audit"
	"github.com/kfgate/kfgate/internal/config"
	"github.com/kfgate/kfgate/internal/media"
	"github.com/kfgate/kfgate/internal/scheduler"
	"github.com/kfgate/kfgate/internal/server"
)

// retentionEvery is how often the retention job runs. Its work is monthly
// (a partition to create or drop) or a cheap check; hourly means a month's
// partition is dropped within the hour its last row passes the limit.
const retentionEvery = time.Hour

// retention is the archive's upkeep (docs/architecture.md, "Retention"):
// the monthly partitions of messages and transitions created ahead, and
// with archive.retention set, what is older dropped or deleted — archive
// and media alike. Every replica runs it; one at a time does the work.
type retention struct {
	arch  *archive.Retention
	media *media.Postgres
	log   *slog.Logger
}

func newRetention(cfg *config.Config, pool *pgxpool.Pool, log *slog.Logger) *retention {
	return &retention{arch: &archive.Retention{DB: pool, Keep: cfg.Archive.Retention.Duration(), Logger: log},
		media: media.NewPostgres(pool), log: log}
}

// retentionTimeout bounds one round (PostgreSQL hanging must not stall
// serve's start, nor the job for good).
const retentionTimeout = 5 * time.Minute

// run does one round and returns how many partitions, rows and files went
// or came.
func (r *retention) run(ctx context.Context) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, retentionTimeout)
	defer cancel()
	res, err := r.arch.Run(ctx)
	if err != nil || res.Skipped {
		return 0, err
	}
	n := len(res.Created) + len(res.Dropped) + int(res.Sessions+res.Notes)
	cutoff := r.arch.Cutoff()
	if cutoff.IsZero() {
		return n, nil
	}
	records, files, err := r.media.Expire(ctx, cutoff)
	if err != nil {
		return n, err
	}
	if records > 0 {
		r.log.Info("media retention", "records_deleted", records, "files_deleted", files)
	}
	return n + int(records+files), nil
}

// job is the scheduler's view of it.
func (r *retention) job() scheduler.Job {
	return scheduler.Job{Name: "retention", Every: retentionEvery, Run: r.run}
}

// auditLog is the audit log: in PostgreSQL when kfgate has one (Redis
// then buffers what PostgreSQL cannot take at the moment), else in Redis.
// Either way archive.retention does not apply to it.
func auditLog(rdb redis.Cmdable, prefix string, pool *pgxpool.Pool) server.AuditLog {
	if pool != nil {
		return audit.NewPostgres(pool, rdb, prefix)
	}
	return audit.New(rdb, prefix)
}
