package media

import (
	"bytes"
	"testing"
	"time"

	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/pgtest"
	"github.com/kfgate/kfgate/internal/redistest"
)

// TestPostgresExpire: records older than the retention go, and files no
// remaining record names; a file a younger record shares stays.
func TestPostgresExpire(t *testing.T) {
	ctx := t.Context()
	pool, _ := pgtest.Migrated(t)
	s := NewPostgres(pool)
	shared, own := []byte("shared picture"), []byte("own picture")
	for _, r := range []struct {
		id   string
		data []byte
	}{{"old-shared", shared}, {"young-shared", shared}, {"old-own", own}, {"old-pending", nil}, {"young-pending", nil}} {
		if _, err := s.Add(ctx, Record{ID: r.id, Account: "wx1", MediaID: r.id, Kind: KindImage, OpenID: "o1"}); err != nil {
			t.Fatal(err)
		}
		if r.data != nil {
			if err := s.Put(ctx, r.id, r.data, "image/jpeg", 1); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The clock of the test: "now" is a fixed day; the old records were
	// created 100 days before it, the young ones 10.
	now := time.Date(2031, 3, 1, 0, 0, 0, 0, time.UTC)
	if _, err := pool.Exec(ctx, `UPDATE media SET created_at = CASE WHEN id LIKE 'old-%' THEN $1::timestamptz ELSE $2::timestamptz END`,
		now.AddDate(0, 0, -100), now.AddDate(0, 0, -10)); err != nil {
		t.Fatal(err)
	}
	records, files, err := s.Expire(ctx, now.AddDate(0, 0, -90))
	if err != nil || records != 3 || files != 1 {
		t.Fatalf("Expire = %d records, %d files, %v; want 3 and 1 (the own picture)", records, files, err)
	}
	for _, id := range []string{"old-shared", "old-own", "old-pending"} {
		if _, err := s.Get(ctx, id); kf.KindOf(err) != kf.KindNotFound {
			t.Errorf("%s after expiry: %v", id, err)
		}
	}
	young, err := s.Get(ctx, "young-shared")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := s.Open(ctx, young); err != nil || !bytes.Equal(b, shared) {
		t.Errorf("the shared file of a younger record: %q, %v", b, err)
	}
	if _, err := s.Get(ctx, "young-pending"); err != nil {
		t.Errorf("young pending record: %v", err)
	}
	if records, files, err = s.Expire(ctx, now.AddDate(0, 0, -90)); err != nil || records+files != 0 {
		t.Errorf("Expire again = %d, %d, %v", records, files, err)
	}
	// Later, the younger record's time comes too, and with it the file's.
	if records, files, err = s.Expire(ctx, now); err != nil || records != 2 || files != 1 {
		t.Errorf("Expire at now = %d, %d, %v; want 2, 1", records, files, err)
	}
}

// In Redis, records and files live for the shorter of media.ttl and
// archive.retention.
func TestRedisTTL(t *testing.T) {
	for _, c := range []struct{ ttl, retention, want time.Duration }{
		{0, 0, 7 * 24 * time.Hour},
		{time.Hour, 0, time.Hour},
		{48 * time.Hour, 24 * time.Hour, 24 * time.Hour},
		{time.Hour, 24 * time.Hour, time.Hour},
		{0, 24 * time.Hour, 24 * time.Hour},
	} {
		if got := RedisTTL(c.ttl, c.retention); got != c.want {
			t.Errorf("RedisTTL(%v, %v) = %v, want %v", c.ttl, c.retention, got, c.want)
		}
	}
	rdb, prefix := redistest.New(t)
	s := NewRedis(rdb, prefix, RedisTTL(48*time.Hour, time.Hour))
	ctx := t.Context()
	if _, err := s.Add(ctx, Record{ID: "r", Account: "wx1", MediaID: "m", Kind: KindImage, OpenID: "o1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "r", []byte("x"), "image/jpeg", 1); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{s.rec("r"), s.blob(sum([]byte("x")))} {
		if ttl := rdb.PTTL(ctx, key).Val(); ttl <= 0 || ttl > time.Hour {
			t.Errorf("%s lives %v, want at most the retention (1h)", key, ttl)
		}
	}
}
