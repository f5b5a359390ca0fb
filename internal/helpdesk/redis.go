package helpdesk

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/kf"
)

// Redis keeps the tools' records in Redis (no PostgreSQL): canned replies
// in one hash, a session's notes and a user's notes in lists, a session's
// labels in a string. Notes and labels expire after keep (the embedded
// default keeps nothing across restarts anyway).
type Redis struct {
	rdb    redis.Cmdable
	prefix string
	keep   time.Duration
}

// NewRedis returns a Redis store; keep 0 means 90 days.
func NewRedis(rdb redis.Cmdable, prefix string, keep time.Duration) *Redis {
	if keep <= 0 {
		keep = 90 * 24 * time.Hour
	}
	return &Redis{rdb: rdb, prefix: prefix, keep: keep}
}

var _ Store = (*Redis)(nil)

func down(err error) error {
	return kf.Wrap(kf.KindUnavailable, "unavailable", err, "the desk's store is unavailable")
}

func (s *Redis) cannedKey() string { return s.prefix + "canned" }

// Canned implements Store.
func (s *Redis) Canned(ctx context.Context, account string) ([]Canned, error) {
	all, err := s.rdb.HVals(ctx, s.cannedKey()).Result()
	if err != nil {
		return nil, down(err)
	}
	out := []Canned{}
	for _, v := range all {
		var c Canned
		if json.Unmarshal([]byte(v), &c) == nil && (account == "" || c.Account == "" || c.Account == account) {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b Canned) int {
		return strings.Compare(a.Account+"\x00"+a.Shortcut, b.Account+"\x00"+b.Shortcut)
	})
	return out, nil
}

// GetCanned implements Store.
func (s *Redis) GetCanned(ctx context.Context, id string) (Canned, error) {
	v, err := s.rdb.HGet(ctx, s.cannedKey(), id).Result()
	if errors.Is(err, redis.Nil) {
		return Canned{}, kf.Errorf(kf.KindNotFound, "no_canned", "no canned reply %q", truncate(id))
	}
	if err != nil {
		return Canned{}, down(err)
	}
	var c Canned
	return c, json.Unmarshal([]byte(v), &c)
}

// putCanned writes a reply unless another of the same scope has its
// shortcut; one script, so that two admins cannot both take one.
var putCanned = redis.NewScript(`
local key, id, scope, body = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
if ARGV[4] == '0' and redis.call('HEXISTS', key, id) == 0 then return 'missing' end
for _, v in ipairs(redis.call('HVALS', key)) do
  local c = cjson.decode(v)
  if c.id ~= id and (c.account .. '\0' .. c.shortcut) == scope then return 'taken' end
end
redis.call('HSET', key, id, body)
return 'ok'`)

// PutCanned implements Store.
func (s *Redis) PutCanned(ctx context.Context, c Canned, create bool) error {
	body, _ := json.Marshal(c)
	flag := "0"
	if create {
		flag = "1"
	}
	r, err := putCanned.Run(ctx, s.rdb, []string{s.cannedKey()}, c.ID, c.Account+"\x00"+c.Shortcut, body, flag).Text()
	switch {
	case err != nil:
		return down(err)
	case r == "taken":
		return kf.Errorf(kf.KindConflict, "shortcut_taken", "shortcut %q is taken", c.Shortcut)
	case r == "missing":
		return kf.Errorf(kf.KindNotFound, "no_canned", "no canned reply %q", truncate(c.ID))
	}
	return nil
}

// DeleteCanned implements Store.
func (s *Redis) DeleteCanned(ctx context.Context, id string) error {
	n, err := s.rdb.HDel(ctx, s.cannedKey(), id).Result()
	if err != nil {
		return down(err)
	}
	if n == 0 {
		return kf.Errorf(kf.KindNotFound, "no_canned", "no canned reply %q", truncate(id))
	}
	return nil
}

// AddNote implements Store.
func (s *Redis) AddNote(ctx context.Context, n Note) error {
	body, _ := json.Marshal(n)
	sk, uk := s.prefix+"notes:"+n.Session, s.prefix+"notes:user:"+n.Account+":"+n.OpenID
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.RPush(ctx, sk, body)
		p.Expire(ctx, sk, s.keep)
		p.LPush(ctx, uk, body)
		p.LTrim(ctx, uk, 0, 999)
		p.Expire(ctx, uk, s.keep)
		return nil
	})
	if err != nil {
		return down(err)
	}
	return nil
}

func (s *Redis) notes(ctx context.Context, key string, limit int64) ([]Note, error) {
	vals, err := s.rdb.LRange(ctx, key, 0, limit-1).Result()
	if err != nil {
		return nil, down(err)
	}
	out := make([]Note, 0, len(vals))
	for _, v := range vals {
		var n Note
		if json.Unmarshal([]byte(v), &n) == nil {
			out = append(out, n)
		}
	}
	return out, nil
}

// Notes implements Store.
func (s *Redis) Notes(ctx context.Context, session string) ([]Note, error) {
	return s.notes(ctx, s.prefix+"notes:"+session, 0)
}

// UserNotes implements Store.
func (s *Redis) UserNotes(ctx context.Context, account, openid string, limit int) ([]Note, error) {
	return s.notes(ctx, s.prefix+"notes:user:"+account+":"+openid, int64(limit))
}

// SetLabels implements Store.
func (s *Redis) SetLabels(ctx context.Context, session, _ string, labels []string) error {
	body, _ := json.Marshal(labels)
	if err := s.rdb.Set(ctx, s.prefix+"labels:"+session, body, s.keep).Err(); err != nil {
		return down(err)
	}
	return nil
}

// Labels implements Store.
func (s *Redis) Labels(ctx context.Context, session string) ([]string, error) {
	b, err := s.rdb.Get(ctx, s.prefix+"labels:"+session).Bytes()
	if errors.Is(err, redis.Nil) {
		return []string{}, nil
	}
	if err != nil {
		return nil, down(err)
	}
	var out []string
	_ = json.Unmarshal(b, &out)
	return out, nil
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
