package media

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/pgtest"
	"github.com/kfgate/kfgate/internal/redistest"
	"github.com/kfgate/kfgate/internal/sim"
	"github.com/kfgate/kfgate/internal/wxapi"
)

func TestID(t *testing.T) {
	a, b := ID("wx1", "m1"), ID("wx2", "m1")
	if a == b || len(a) != 22 || ID("wx1", "m1") != a || URL("wx1", "m1") != "/api/v1/media/"+a {
		t.Errorf("ID(wx1, m1) = %q, ID(wx2, m1) = %q", a, b)
	}
	// The separator keeps ("wx1", "0m") and ("wx10", "m") apart.
	if ID("wx1", "0m") == ID("wx10", "m") {
		t.Error("ids collide without the separator")
	}
}

func TestJobs(t *testing.T) {
	ev := func(typ string, msg map[string]any) string {
		b, _ := json.Marshal(map[string]any{"type": typ, "session": "s1", "account": "wx1", "openid": "o1", "message": msg})
		return string(b)
	}
	for _, c := range []struct {
		name, body string
		want       []Kind
	}{
		{"image", ev("message.received", map[string]any{"type": "image", "media_id": "m1"}), []Kind{KindImage}},
		{"voice", ev("message.received", map[string]any{"type": "voice", "media_id": "m1", "format": "amr"}), []Kind{KindVoice}},
		{"video with thumb", ev("message.received", map[string]any{"type": "video", "media_id": "m1", "thumb_media_id": "t1"}), []Kind{KindVideo, KindThumb}},
		{"shortvideo with thumb", ev("message.received", map[string]any{"type": "shortvideo", "media_id": "m1", "thumb_media_id": "t1"}), []Kind{KindShortVideo, KindThumb}},
		{"text", ev("message.received", map[string]any{"type": "text", "content": "hi"}), nil},
		{"image without id", ev("message.received", map[string]any{"type": "image"}), nil},
		{"another event", ev("session.assigned", map[string]any{"type": "image", "media_id": "m1"}), nil},
		{"no message", `{"type":"message.received","account":"wx1"}`, nil},
		{"a message that is not an object", `{"type":"message.received","account":"wx1","message":[]}`, nil},
		{"not JSON", `{`, nil},
	} {
		var got []Kind
		for _, r := range Jobs(c.body) {
			got = append(got, r.Kind)
			if r.Account != "wx1" || r.Session != "s1" || r.OpenID != "o1" || r.ID != ID("wx1", r.MediaID) {
				t.Errorf("%s: record %+v", c.name, r)
			}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: kinds %v, want %v", c.name, got, c.want)
		}
	}
}

func FuzzJobs(f *testing.F) {
	f.Add(`{"type":"message.received","account":"wx1","message":{"type":"video","media_id":"m","thumb_media_id":"t"}}`)
	f.Add(`{"type":"message.received","message":{}}`)
	f.Fuzz(func(t *testing.T, body string) {
		for _, r := range Jobs(body) {
			if r.Account == "" || r.MediaID == "" || r.ID != ID(r.Account, r.MediaID) {
				t.Fatalf("bad record %+v from %q", r, body)
			}
		}
	})
}

func TestTranscodeArgs(t *testing.T) {
	args, ctype, err := transcodeArgs("mp3")
	want := []string{"-hide_banner", "-loglevel", "error", "-nostdin", "-i", "pipe:0", "-vn", "-f", "mp3",
		"-codec:a", "libmp3lame", "-q:a", "5", "pipe:1"}
	if err != nil || ctype != "audio/mpeg" || !slices.Equal(args, want) {
		t.Errorf("mp3: %q %q %v", args, ctype, err)
	}
	if _, ctype, err := transcodeArgs("wav"); err != nil || ctype != "audio/wav" {
		t.Errorf("wav: %q %v", ctype, err)
	}
	if _, _, err := transcodeArgs("flac"); kf.KindOf(err) != kf.KindInvalid {
		t.Errorf("flac: %v, want invalid", err)
	}
	lib := &Library{}
	if _, _, err := lib.Transcode(t.Context(), Record{Kind: KindVoice}, []byte("#!AMR\n"), "mp3"); kf.KindOf(err) != kf.KindNotFound {
		t.Errorf("without ffmpeg: %v, want not found", err)
	}
	lib.FFmpeg = "/bin/false"
	if _, _, err := lib.Transcode(t.Context(), Record{Kind: KindImage}, []byte("x"), "mp3"); kf.KindOf(err) != kf.KindInvalid {
		t.Errorf("an image: %v, want invalid", err)
	}
	if _, _, err := lib.Transcode(t.Context(), Record{Kind: KindVoice}, []byte("x"), "mp3"); kf.KindOf(err) != kf.KindInternal {
		t.Errorf("a failing ffmpeg: %v, want internal", err)
	}
}

// Both stores keep records and files alike; PostgreSQL keeps a file sent
// twice once.
func TestStores(t *testing.T) {
	rdb, prefix := redistest.New(t)
	pool, _ := pgtest.Migrated(t)
	for name, s := range map[string]Store{"redis": NewRedis(rdb, prefix, time.Hour), "postgres": NewPostgres(pool)} {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			data := []byte("\x89PNG\r\n\x1a\n the picture")
			for _, id := range []string{"a", "b"} {
				r := Record{ID: name + id, Account: "wx1", MediaID: "m" + id, Kind: KindImage, Session: "s1", OpenID: "o1"}
				if ok, err := s.Add(ctx, r); !ok || err != nil {
					t.Fatalf("Add = %v %v", ok, err)
				}
				if ok, _ := s.Add(ctx, r); ok {
					t.Error("Add twice added")
				}
				if err := s.Attempt(ctx, r.ID, 1, "system error", false); err != nil {
					t.Fatal(err)
				}
				if got, _ := s.Get(ctx, r.ID); got.Status != StatusPending || got.Attempts != 1 || got.Error != "system error" {
					t.Errorf("after a failed attempt: %+v", got)
				}
				if err := s.Put(ctx, r.ID, data, "image/png", 2); err != nil {
					t.Fatal(err)
				}
				got, err := s.Get(ctx, r.ID)
				if err != nil || got.Status != StatusStored || got.Size != int64(len(data)) || got.ContentType != "image/png" ||
					got.SHA256 != sum(data) || got.Session != "s1" || got.Error != "" || got.URL != "/api/v1/media/"+r.ID {
					t.Fatalf("stored: %+v %v", got, err)
				}
				if b, err := s.Open(ctx, got); err != nil || !bytes.Equal(b, data) {
					t.Errorf("Open = %q %v", b, err)
				}
			}
			if _, err := s.Get(ctx, "nope"); kf.KindOf(err) != kf.KindNotFound {
				t.Errorf("Get unknown = %v", err)
			}
			if err := s.Attempt(ctx, name+"a", 9, "late", true); err != nil {
				t.Fatal(err)
			}
		})
	}
	var files int
	if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM media_files`).Scan(&files); err != nil || files != 1 {
		t.Errorf("media_files has %d rows (%v), want the file once", files, err)
	}
	if got, _ := NewPostgres(pool).Get(t.Context(), "postgresa"); got.Status != StatusStored {
		t.Errorf("a late failure overwrote a stored record: %+v", got)
	}
}

// fakeWeChat serves media/get from memory, failing the first calls.
type fakeWeChat struct {
	fail  atomic.Int32
	calls atomic.Int32
	data  []byte
}

func (f *fakeWeChat) GetMedia(_ context.Context, _, mediaID string) (wxapi.Media, error) {
	f.calls.Add(1)
	if f.fail.Add(-1) >= 0 {
		return wxapi.Media{}, &wxapi.Error{Code: -1, Msg: "system error"}
	}
	if mediaID == "expired" {
		return wxapi.Media{}, &wxapi.Error{Code: 40007, Msg: "invalid media_id"}
	}
	return wxapi.Media{Data: f.data, ContentType: "image/jpeg"}, nil
}

func addEvent(t testing.TB, rdb *redis.Client, prefix, mediaID string) {
	b, _ := json.Marshal(map[string]any{"type": "message.received", "session": "s1", "account": "wx1", "openid": "o1",
		"message": map[string]any{"type": "image", "media_id": mediaID}})
	if err := rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: prefix + "events", Values: []any{"type", "message.received", "event", string(b)}}).Err(); err != nil {
		t.Fatal(err)
	}
}

// Retries end stored; a permanent error and retries used up end failed.
func TestWorkerRetries(t *testing.T) {
	rdb, prefix := redistest.New(t)
	store := NewRedis(rdb, prefix, time.Hour)
	wx := &fakeWeChat{data: []byte("jpeg")}
	wx.fail.Store(2)
	w, err := NewWorker(Options{Redis: rdb, Prefix: prefix, Store: store, WeChat: wx, MinBackoff: time.Millisecond,
		MaxBackoff: 5 * time.Millisecond, Attempts: 3, Block: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	wait := func(id string, want Status) Record {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if r, err := store.Get(ctx, id); err == nil && r.Status == want {
				return r
			}
		}
		r, err := store.Get(ctx, id)
		t.Fatalf("%s never %s: %+v %v", id, want, r, err)
		return Record{}
	}
	addEvent(t, rdb, prefix, "m1")
	if r := wait(ID("wx1", "m1"), StatusStored); r.Attempts != 3 {
		t.Errorf("stored after %d attempts, want 3", r.Attempts)
	}
	addEvent(t, rdb, prefix, "expired")
	if r := wait(ID("wx1", "expired"), StatusFailed); r.Attempts != 1 || !strings.Contains(r.Error, "40007") {
		t.Errorf("expired: %+v", r)
	}
	wx.fail.Store(10)
	addEvent(t, rdb, prefix, "m2")
	if r := wait(ID("wx1", "m2"), StatusFailed); r.Attempts != 3 || !bytes.Contains([]byte(r.Error), []byte("gave up after 3 attempts")) {
		t.Errorf("after 3 failures: %+v", r)
	}
	// Everything acknowledged: nothing pending in either group.
	for _, stream := range []string{prefix + "events", prefix + "media"} {
		p, err := rdb.XPending(ctx, stream, Group).Result()
		if err != nil || p.Count != 0 {
			t.Errorf("%s pending: %+v %v", stream, p, err)
		}
	}
}

// BenchmarkDownloadStore measures media downloads from the simulated
// WeChat (HTTP, 30 KB images) stored in Redis or PostgreSQL, four at a
// time: one iteration is one file from event to stored.
func BenchmarkDownloadStore(b *testing.B) {
	b.Run("redis", func(b *testing.B) {
		rdb, prefix := redistest.New(b)
		benchDownload(b, rdb, prefix, NewRedis(rdb, prefix, time.Hour))
	})
	b.Run("postgres", func(b *testing.B) {
		rdb, prefix := redistest.New(b)
		pool, _ := pgtest.Migrated(b)
		benchDownload(b, rdb, prefix, NewPostgres(pool))
	})
}

func benchDownload(b *testing.B, rdb *redis.Client, prefix string, store Store) {
	api := sim.NewAPI(sim.APIOptions{Accounts: map[string]string{"wx1": "secret"}})
	srv := httptest.NewServer(api)
	defer srv.Close()
	tokens, err := wxapi.NewTokens(wxapi.TokenOptions{Redis: rdb, Prefix: prefix, Accounts: map[string]string{"wx1": "secret"},
		BaseURL: srv.URL, BackupURL: srv.URL})
	if err != nil {
		b.Fatal(err)
	}
	client, err := wxapi.New(wxapi.Options{Tokens: tokens, BaseURL: srv.URL, BackupURL: srv.URL})
	if err != nil {
		b.Fatal(err)
	}
	w, _ := NewWorker(Options{Redis: rdb, Prefix: prefix, Store: store, WeChat: client, Block: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	img := append([]byte{0xff, 0xd8, 0xff, 0xe0}, bytes.Repeat([]byte{1, 2, 3}, 10_000)...)
	var ids []string
	start := time.Now()
	for b.Loop() {
		img[5]++ // a new file each time (no deduplication)
		id, _ := api.AddMedia("wx1", "image", img, "")
		addEvent(b, rdb, prefix, id)
		ids = append(ids, ID("wx1", id))
	}
	for _, id := range ids {
		for {
			if r, err := store.Get(ctx, id); err == nil && r.Status != StatusPending {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
	b.ReportMetric(float64(len(ids))/time.Since(start).Seconds(), "files/s")
}
