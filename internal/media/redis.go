package media

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/kf"
)

// Redis keeps media in Redis when there is no PostgreSQL: a hash per record
// (<prefix>media:rec:<id>) and a string per file (<prefix>media:blob:<sha256>),
// both expiring TTL after they were stored; a file shared by several records
// lives as long as the newest.
type Redis struct {
	rdb    redis.Cmdable
	prefix string
	ttl    time.Duration
	now    func() time.Time
}

// DefaultTTL is how long media kept in Redis live unless media.ttl says.
const DefaultTTL = 7 * 24 * time.Hour

// RedisTTL is how long media kept in Redis live: media.ttl (0: DefaultTTL),
// or archive.retention when that is shorter (0: no limit) — kfgate keeps
// nothing longer than the retention.
func RedisTTL(ttl, retention time.Duration) time.Duration {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	if retention > 0 && retention < ttl {
		return retention
	}
	return ttl
}

// NewRedis returns a Redis store; ttl 0 means DefaultTTL.
func NewRedis(rdb redis.Cmdable, prefix string, ttl time.Duration) *Redis {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	return &Redis{rdb: rdb, prefix: prefix, ttl: ttl, now: time.Now}
}

var _ Store = (*Redis)(nil)

func (s *Redis) rec(id string) string   { return s.prefix + "media:rec:" + id }
func (s *Redis) blob(sha string) string { return s.prefix + "media:blob:" + sha }

func unavailable(err error) error {
	return kf.Wrap(kf.KindUnavailable, "unavailable", err, "media store unavailable")
}

// addScript creates a record unless it exists, with its TTL, in one step.
var addScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1`)

// Add implements Store.
func (s *Redis) Add(ctx context.Context, r Record) (bool, error) {
	now := s.now().UnixMilli()
	n, err := addScript.Run(ctx, s.rdb, []string{s.rec(r.ID)}, s.ttl.Milliseconds(), "id", r.ID, "account", r.Account,
		"media_id", r.MediaID, "kind", string(r.Kind), "session", r.Session, "openid", r.OpenID,
		"status", string(StatusPending), "attempts", 0, "created", now, "updated", now).Int()
	if err != nil {
		return false, unavailable(err)
	}
	return n == 1, nil
}

// Get implements Store.
func (s *Redis) Get(ctx context.Context, id string) (Record, error) {
	h, err := s.rdb.HGetAll(ctx, s.rec(id)).Result()
	if err != nil {
		return Record{}, unavailable(err)
	}
	if h["id"] == "" || h["account"] == "" {
		return Record{}, notFound(id)
	}
	num := func(k string) int64 { n, _ := strconv.ParseInt(h[k], 10, 64); return n }
	return Record{ID: id, Account: h["account"], MediaID: h["media_id"], Kind: Kind(h["kind"]), Session: h["session"],
		OpenID: h["openid"], Status: Status(h["status"]), Attempts: int(num("attempts")), Error: h["error"],
		SHA256: h["sha256"], ContentType: h["content_type"], Size: num("size"),
		CreatedAt: time.UnixMilli(num("created")).UTC(), UpdatedAt: time.UnixMilli(num("updated")).UTC(), URL: "/api/v1/media/" + id}, nil
}

// Put implements Store.
func (s *Redis) Put(ctx context.Context, id string, data []byte, contentType string, attempts int) error {
	sha := sum(data)
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, s.blob(sha), data, s.ttl)
		p.HSet(ctx, s.rec(id), "status", string(StatusStored), "sha256", sha, "content_type", contentType,
			"size", len(data), "attempts", attempts, "error", "", "updated", s.now().UnixMilli())
		p.Expire(ctx, s.rec(id), s.ttl)
		return nil
	})
	if err != nil {
		return unavailable(err)
	}
	return nil
}

// Attempt implements Store.
func (s *Redis) Attempt(ctx context.Context, id string, attempts int, reason string, final bool) error {
	status := StatusPending
	if final {
		status = StatusFailed
	}
	err := s.rdb.HSet(ctx, s.rec(id), "status", string(status), "attempts", attempts, "error", reason,
		"updated", s.now().UnixMilli()).Err()
	if err != nil {
		return unavailable(err)
	}
	return nil
}

// Open implements Store.
func (s *Redis) Open(ctx context.Context, r Record) ([]byte, error) {
	b, err := s.rdb.Get(ctx, s.blob(r.SHA256)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, kf.Errorf(kf.KindNotFound, "media_expired", "the media file has expired")
	}
	if err != nil {
		return nil, unavailable(err)
	}
	return b, nil
}
