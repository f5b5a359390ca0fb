package main

import (
	"context"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/config"
	"github.com/kfgate/kfgate/internal/media"
	"github.com/kfgate/kfgate/internal/wxapi"
)

// startMedia starts this replica's media worker (unless it is an
// intake-only replica) and returns the library the API serves media from,
// and a function that waits for the worker to stop after ctx ends.
func startMedia(ctx context.Context, cfg *config.Config, rdb *redis.Client, pool *pgxpool.Pool, client *wxapi.Client, log *slog.Logger) (*media.Library, func(), error) {
	var store media.Store = media.NewRedis(rdb, cfg.Redis.Prefix, media.RedisTTL(cfg.Media.TTL, cfg.Archive.Retention.Duration()))
	if pool != nil {
		store = media.NewPostgres(pool)
	}
	lib := &media.Library{Store: store, FFmpeg: cfg.Media.FFmpeg}
	if cfg.Engine.IntakeOnly {
		return lib, func() {}, nil
	}
	w, err := media.NewWorker(media.Options{Redis: rdb, Prefix: cfg.Redis.Prefix, Store: store, WeChat: client,
		Consumer: consumerName(), Logger: log})
	if err != nil {
		return nil, nil, err
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	return lib, func() { <-done }, nil
}
