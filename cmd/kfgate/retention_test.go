package main

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/kfgate/kfgate/internal/config"
	"github.com/kfgate/kfgate/internal/media"
	"github.com/kfgate/kfgate/internal/pgtest"
)

// The retention job as serve runs it, on an injected clock: months of the
// archive created ahead and dropped when past archive.retention, and the
// media of the same age with them; the rest stays.
func TestRetentionJob(t *testing.T) {
	ctx := t.Context()
	pool, _ := pgtest.Migrated(t)
	cfg := &config.Config{Archive: config.Archive{Retention: config.Period(90 * 24 * time.Hour)}}
	r := newRetention(cfg, pool, slog.New(slog.NewTextHandler(io.Discard, nil)))
	now := time.Date(2032, 1, 10, 0, 0, 0, 0, time.UTC)
	r.arch.Now = func() time.Time { return now }
	store := media.NewPostgres(pool)
	for i, age := range []int{200, 100, 20} { // days before the clock's now
		id := []string{"m200", "m100", "m20"}[i]
		if _, err := store.Add(ctx, media.Record{ID: id, Account: "wx1", MediaID: id, Kind: media.KindImage, OpenID: "o1"}); err != nil {
			t.Fatal(err)
		}
		if err := store.Put(ctx, id, []byte("picture "+id), "image/jpeg", 1); err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(ctx, `UPDATE media SET created_at = $2 WHERE id = $1`, id, now.AddDate(0, 0, -age)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.run(ctx); err != nil {
		t.Fatal(err)
	}
	now = now.AddDate(0, 1, 0) // 2032-02-10: the limit is 2031-11-12
	if _, err := r.run(ctx); err != nil {
		t.Fatal(err)
	}
	var have []string
	rows, _ := pool.Query(ctx, `SELECT id FROM media ORDER BY id`)
	for rows.Next() {
		var id string
		_ = rows.Scan(&id)
		have = append(have, id)
	}
	if len(have) != 1 || have[0] != "m20" {
		t.Errorf("media left %v, want m20 only", have)
	}
	var files, parts int
	_ = pool.QueryRow(ctx, `SELECT count(*) FROM media_files`).Scan(&files)
	_ = pool.QueryRow(ctx, `SELECT count(*) FROM pg_inherits WHERE inhparent = 'session_transitions'::regclass`).Scan(&parts)
	if files != 1 {
		t.Errorf("media files left %d, want 1", files)
	}
	// The migration's months (around the real present) long past the
	// limit, dropped; 2032-01 to 2032-04 created by the two runs, kept.
	if parts != 4 {
		t.Errorf("transitions partitions %d, want 4 (2032-01 to 2032-04)", parts)
	}
}
