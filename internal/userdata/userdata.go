// Package userdata gives a WeChat user's data on request and erases it
// (China's PIPL gives users both rights): everything kfgate holds about one
// user of one account, in PostgreSQL (the archive's sessions, transitions
// and messages, media records, notes, labels, the profile) and in Redis
// (the live session, its context, the reply window, the last agent, an open
// survey, the notices already given).
//
// Erasing closes the user's live session first (its agent is told), then
// deletes the rows in one transaction and the keys. Media files shared with
// other users (one file per SHA-256) stay while another record names them.
// Events of the user still waiting for the archive when the erasure runs
// would be written after it: erase again once kfgate_archive_backlog is 0.
package userdata

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/kf"
)

// Closer closes the user's live session, if any (the engine).
type Closer interface {
	Close(ctx context.Context, account, openid, sessionID, actor, reason string) (string, error)
}

// Service exports and erases users' data.
type Service struct {
	DB     *pgxpool.Pool // nil: no archive
	Redis  redis.Cmdable
	Prefix string
	Closer Closer
}

// tables are the archive's tables that name a user by account and openid,
// in the order an erasure deletes them (children first).
var tables = []string{"session_labels", "session_notes", "media", "messages", "session_transitions", "sessions", "wechat_users"}

// where selects a table's rows of the user ($1 account, $2 openid).
func where(table string) string {
	if table == "session_labels" { // keyed by session only
		return "session_id IN (SELECT id FROM sessions WHERE account = $1 AND openid = $2)"
	}
	return "account = $1 AND openid = $2"
}

// redisKeys are the user's keys (the live session's are read before it closes).
func (s *Service) redisKeys(account, openid string) map[string]string {
	u := account + ":" + openid
	return map[string]string{"session": s.Prefix + "sess:" + u, "context": s.Prefix + "ctx:" + u,
		"window": s.Prefix + "quota:" + u, "last_agent": s.Prefix + "last:" + u, "survey": s.Prefix + "survey:" + u}
}

// told are the reasons a user is told once why no session opens (the
// engine's gates, lua/inbound.lua).
var told = []string{"off_hours", "no_agent", "queue_full"}

// Export returns everything kfgate holds about the user, as JSON values:
// "postgres" maps each table to its rows, "redis" each key kind to its value.
func (s *Service) Export(ctx context.Context, account, openid string) (map[string]any, error) {
	out := map[string]any{"account": account, "openid": openid}
	if s.DB != nil {
		pg := map[string][]json.RawMessage{}
		for _, t := range tables {
			rows, err := s.DB.Query(ctx, "SELECT row_to_json(t)::text FROM "+pgx.Identifier{t}.Sanitize()+" t WHERE "+where(t), account, openid)
			if err != nil {
				return nil, unavailable("export "+t, err)
			}
			list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (json.RawMessage, error) {
				var s string
				err := r.Scan(&s)
				return json.RawMessage(s), err
			})
			if err != nil {
				return nil, unavailable("export "+t, err)
			}
			pg[t] = append([]json.RawMessage{}, list...)
		}
		out["postgres"] = pg
	}
	rd := map[string]any{}
	keys := s.redisKeys(account, openid)
	for name, key := range keys {
		typ, err := s.Redis.Type(ctx, key).Result()
		if err != nil {
			return nil, unavailable("export "+name, err)
		}
		var v any
		switch typ {
		case "hash":
			v, err = s.Redis.HGetAll(ctx, key).Result()
		case "list":
			v, err = s.Redis.LRange(ctx, key, 0, -1).Result()
		case "string":
			v, err = s.Redis.Get(ctx, key).Result()
		default:
			continue
		}
		if err != nil {
			return nil, unavailable("export "+name, err)
		}
		rd[name] = v
	}
	out["redis"] = rd
	return out, nil
}

// Erase deletes the user's data and returns how many rows or keys went, by
// table or key kind (never their content).
func (s *Service) Erase(ctx context.Context, account, openid string) (map[string]int64, error) {
	gone := map[string]int64{}
	if s.Closer != nil {
		if _, err := s.Closer.Close(ctx, account, openid, "", "admin", "user data erased"); err != nil && !errors.Is(err, kf.ErrNotFound) {
			return nil, err
		}
	}
	if s.DB != nil {
		err := pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
			for _, t := range tables {
				tag, err := tx.Exec(ctx, "DELETE FROM "+pgx.Identifier{t}.Sanitize()+" WHERE "+where(t), account, openid)
				if err != nil {
					return fmt.Errorf("%s: %w", t, err)
				}
				gone[t] = tag.RowsAffected()
			}
			// Files no record names any more (the user's own pictures).
			tag, err := tx.Exec(ctx, "DELETE FROM media_files f WHERE NOT EXISTS (SELECT 1 FROM media m WHERE m.sha256 = f.sha256)")
			gone["media_files"] = tag.RowsAffected()
			return err
		})
		if err != nil {
			return nil, unavailable("erase", err)
		}
	}
	keys := s.redisKeys(account, openid)
	for _, r := range told {
		keys["told_"+r] = s.Prefix + "told:" + account + ":" + openid + ":" + r
	}
	for name, key := range keys {
		n, err := s.Redis.Del(ctx, key).Result()
		if err != nil {
			return nil, unavailable("erase "+name, err)
		}
		if n > 0 {
			gone["redis_"+name] = n
		}
	}
	return gone, nil
}

func unavailable(op string, err error) error {
	return kf.Wrap(kf.KindUnavailable, "unavailable", fmt.Errorf("userdata %s: %w", op, err), "the user's data cannot be reached now")
}
