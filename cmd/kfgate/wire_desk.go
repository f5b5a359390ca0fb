package main

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/archive"
	"github.com/kfgate/kfgate/internal/config"
	"github.com/kfgate/kfgate/internal/customer"
	"github.com/kfgate/kfgate/internal/engine"
	"github.com/kfgate/kfgate/internal/helpdesk"
	"github.com/kfgate/kfgate/internal/server"
	"github.com/kfgate/kfgate/internal/wxapi"
)

// deskData is what the API serves about users and the agents' tools.
type deskData struct {
	users   *customer.Service
	tools   *helpdesk.Service
	history server.History // nil without PostgreSQL
}

// tagLookup bounds how long a new user's first message waits for WeChat's
// user/info when tags are routing skills.
const tagLookup = 2 * time.Second

// newDeskData builds the customer service and the tools (PostgreSQL when
// there is one, else Redis) and makes WeChat user tags routing skills of
// the accounts that map them (accounts[].tag_skills).
func newDeskData(cfg *config.Config, rdb *redis.Client, pool *pgxpool.Pool, client *wxapi.Client, eng *engine.Engine, log *slog.Logger) deskData {
	d := deskData{users: customer.New(customer.Options{Redis: rdb, Prefix: cfg.Redis.Prefix, WeChat: client, DB: pool})}
	var store helpdesk.Store = helpdesk.NewRedis(rdb, cfg.Redis.Prefix, 0)
	if pool != nil {
		store = helpdesk.NewPostgres(pool)
		d.history = archive.NewReader(pool)
	}
	d.tools = helpdesk.New(store, rdb, cfg.Redis.Prefix)

	skills := map[string]map[int]string{}
	for _, a := range cfg.Accounts {
		for _, kv := range a.TagSkills {
			k, v, _ := strings.Cut(kv, "=")
			id, _ := strconv.Atoi(k) // validated by config
			if skills[a.AppID] == nil {
				skills[a.AppID] = map[int]string{}
			}
			skills[a.AppID][id] = v
		}
	}
	if len(skills) > 0 {
		eng.SetTagSkills(skills, func(ctx context.Context, account, openid string) ([]int, error) {
			return d.users.TagsOf(ctx, account, openid, tagLookup)
		})
		log.Info("WeChat user tags route users to skills", "accounts", len(skills))
	}
	return d
}
