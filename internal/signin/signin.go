// Package signin keeps the console's sign-in sessions in Redis: a person
// signs in with a password and gets a random session id in a cookie; any
// replica finds the session by the id's hash. Sessions expire a fixed time
// after sign-in, and a person can end all of theirs at once (sign-out
// everywhere; also done when an admin resets their password or disables
// them).
//
// Keys, under the prefix:
//
//	signin:<sha256 hex of the id>   hash: agent, created_at (Unix ms); expires
//	signin:agent:<agent id>         set of the person's session hashes; expires
//	                                with the newest session
//
// Only the hash of a session id is stored, so reading Redis does not give
// anyone a usable cookie.
package signin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/kf"
)

// Store is the sign-in sessions in Redis.
type Store struct {
	rdb    redis.Cmdable
	prefix string
	ttl    time.Duration
	now    func() time.Time
}

// New returns the store; a session lives ttl after sign-in.
func New(rdb redis.Cmdable, prefix string, ttl time.Duration) *Store {
	return &Store{rdb: rdb, prefix: prefix + "signin:", ttl: ttl, now: time.Now}
}

// TTL is how long a session lives.
func (s *Store) TTL() time.Duration { return s.ttl }

func hashOf(id string) string {
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:])
}

// Create starts a session for the agent and returns its id (32 random
// bytes, base64url): the cookie's value.
func (s *Store) Create(ctx context.Context, agent string) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	id := base64.RawURLEncoding.EncodeToString(b)
	h := hashOf(id)
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, s.prefix+h, "agent", agent, "created_at", strconv.FormatInt(s.now().UnixMilli(), 10))
		p.Expire(ctx, s.prefix+h, s.ttl)
		p.SAdd(ctx, s.prefix+"agent:"+agent, h)
		p.Expire(ctx, s.prefix+"agent:"+agent, s.ttl)
		return nil
	})
	if err != nil {
		return "", kf.Wrap(kf.KindUnavailable, "redis", err, "signin: create")
	}
	return id, nil
}

var errSignedOut = kf.Errorf(kf.KindUnauthorized, "signed_out", "signed out")

// Agent returns the agent whose session id this is; unauthorized when the
// session does not exist (expired, signed out, or never was).
func (s *Store) Agent(ctx context.Context, id string) (string, error) {
	if id == "" || len(id) > 100 {
		return "", errSignedOut
	}
	agent, err := s.rdb.HGet(ctx, s.prefix+hashOf(id), "agent").Result()
	if errors.Is(err, redis.Nil) {
		return "", errSignedOut
	}
	if err != nil {
		return "", kf.Wrap(kf.KindUnavailable, "redis", err, "signin: read")
	}
	return agent, nil
}

// Delete ends one session (sign-out).
func (s *Store) Delete(ctx context.Context, id string) error {
	h := hashOf(id)
	agent, err := s.Agent(ctx, id)
	if err != nil {
		return nil // already gone
	}
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, s.prefix+h)
		p.SRem(ctx, s.prefix+"agent:"+agent, h)
		return nil
	})
	if err != nil {
		return kf.Wrap(kf.KindUnavailable, "redis", err, "signin: delete")
	}
	return nil
}

// DeleteAll ends every session of the agent (sign-out everywhere).
func (s *Store) DeleteAll(ctx context.Context, agent string) error {
	set := s.prefix + "agent:" + agent
	hashes, err := s.rdb.SMembers(ctx, set).Result()
	if err != nil {
		return kf.Wrap(kf.KindUnavailable, "redis", err, "signin: delete all")
	}
	keys := []string{set}
	for _, h := range hashes {
		keys = append(keys, s.prefix+h)
	}
	// One key at a time: the keys may live on different cluster slots.
	for _, k := range keys {
		if err := s.rdb.Del(ctx, k).Err(); err != nil {
			return kf.Wrap(kf.KindUnavailable, "redis", err, "signin: delete all")
		}
	}
	return nil
}
