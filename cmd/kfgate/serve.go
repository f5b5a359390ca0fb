package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/agents"
	"github.com/kfgate/kfgate/internal/agentws"
	"github.com/kfgate/kfgate/internal/archive"
	"github.com/kfgate/kfgate/internal/audit"
	"github.com/kfgate/kfgate/internal/callback"
	"github.com/kfgate/kfgate/internal/config"
	"github.com/kfgate/kfgate/internal/desk"
	"github.com/kfgate/kfgate/internal/engine"
	"github.com/kfgate/kfgate/internal/intake"
	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/metrics"
	"github.com/kfgate/kfgate/internal/migrate"
	"github.com/kfgate/kfgate/internal/outbox"
	"github.com/kfgate/kfgate/internal/redisconn"
	"github.com/kfgate/kfgate/internal/scheduler"
	"github.com/kfgate/kfgate/internal/server"
	"github.com/kfgate/kfgate/internal/stream"
	"github.com/kfgate/kfgate/internal/userdata"
)

// serveMetrics, when a test sets it, is given the metrics serve registers
// everything on (cmd/kfgate's dashboards test compares them with what the
// dashboard and the alert rules use).
var serveMetrics func(*metrics.Metrics)

// loadConfig reads the configuration named by --config or KFGATE_CONFIG.
func loadConfig(fs *flag.FlagSet, args []string, getenv func(string) string, environ []string) (*config.Config, error) {
	path := fs.String("config", getenv("KFGATE_CONFIG"), "configuration file (YAML); KFGATE_CONFIG")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return config.Load(*path, getenv, environ)
}

func serve(ctx context.Context, args []string, getenv func(string) string, environ []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg, err := loadConfig(fs, args, getenv, environ)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, stderr)

	rdb, err := redisconn.Open(ctx, cfg.Redis.URL)
	if err != nil {
		return err
	}
	defer rdb.Close()
	if rdb.Embedded {
		log.Warn("using the embedded Redis-protocol server: for trying kfgate with one replica; nothing is kept across restarts; set redis.url in production")
	}
	checks := []server.Check{{Name: "redis", Fn: func(ctx context.Context) error { return rdb.Ping(ctx).Err() }}}
	reg := metrics.New()
	if serveMetrics != nil {
		serveMetrics(reg)
	}
	reg.BuildInfo(version)
	reg.RegisterRedisPool(rdb.Client)

	// Agent records live in PostgreSQL when there is one, else in Redis.
	var records agents.Records = agents.NewRedis(rdb, cfg.Redis.Prefix)
	var pool *pgxpool.Pool
	if cfg.Postgres.URL != "" {
		if !cfg.Postgres.SkipMigrations {
			applied, err := migrate.Up(ctx, cfg.Postgres.URL)
			if err != nil {
				return fmt.Errorf("migrations: %w", err)
			}
			for _, name := range applied {
				log.Info("migration applied", "file", name)
			}
		}
		pool, err = pgxpool.New(ctx, cfg.Postgres.URL)
		if err != nil {
			return fmt.Errorf("postgres.url: %w", err)
		}
		defer pool.Close()
		checks = append(checks, server.Check{Name: "postgres", Fn: pool.Ping})
		reg.RegisterPostgresPool(pool)
		records = agents.NewPostgres(pool)
	} else {
		log.Info("postgres.url is empty: the archive is off, agent records are kept in Redis")
	}

	accounts, err := callbackAccounts(cfg.Accounts)
	if err != nil {
		return err
	}
	store := intake.NewStore(rdb, cfg.Redis.Prefix, cfg.Intake.DedupTTL)

	// The conversation engine consumes what the intake records; it stops
	// after the HTTP server, so that nothing accepted waits for a replica
	// that is going away (what it has not acknowledged another replica
	// claims).
	eng, err := newEngine(cfg, rdb.Client, log)
	if err != nil {
		return err
	}
	if err := engineMetrics(ctx, reg, cfg, rdb.Client, eng, store.Stream(), log); err != nil {
		return err
	}
	appids := make([]string, len(cfg.Accounts))
	for i, a := range cfg.Accounts {
		appids[i] = a.AppID
	}
	tm := agents.NewTeam(records, eng, appids)
	declared := make([]kf.Agent, len(cfg.Agents))
	for i, a := range cfg.Agents {
		declared[i] = kf.Agent{ID: a.ID, Name: a.Name, Accounts: a.Accounts, Skills: a.Skills, Weight: a.Weight, MaxSessions: a.MaxSessions}
	}
	if err := tm.Declare(ctx, declared); err != nil {
		return fmt.Errorf("agents: %w", err)
	}
	// Entries the engine, the outbox or the archive cannot handle go to one
	// dead-letter stream, so that none of them stalls.
	dead, err := stream.NewDeadLetter(rdb.Client, cfg.Redis.Prefix, reg.Registry)
	if err != nil {
		return err
	}
	ectx, stopEngine := context.WithCancel(context.WithoutCancel(ctx))
	engineDone := make(chan error, 1)
	go func() {
		if cfg.Engine.IntakeOnly {
			log.Info("engine.intake_only: the conversations are left to the other replicas")
			engineDone <- nil
			return
		}
		engineDone <- (&engine.Consumer{Engine: eng, RDB: rdb, Stream: store.Stream(), Name: consumerName(),
			MaxDeliveries: cfg.Engine.MaxDeliveries, DeadLetter: dead}).Run(ectx)
	}()
	defer func() {
		stopEngine()
		if err := <-engineDone; err != nil {
			log.Error("engine stopped with an error", "err", err)
		}
	}()

	// The scheduler: idle expiry, the presence sweep and the
	// transfer-after rule, on every replica (intake-only ones too).
	sched, err := scheduler.New(eng.Jobs(cfg.Scheduler.Every), reg.Registry, log)
	if err != nil {
		return err
	}
	schedDone := make(chan struct{})
	go func() { sched.Run(ectx); close(schedDone) }()
	defer func() {
		stopEngine()
		<-schedDone
	}()
	// The outbox sends what the engine and the agents queue for WeChat,
	// with one shared access token per account; an agent's first answer
	// in a session sent gives the first-reply time.
	firstReply := func(ctx context.Context, m outbox.Message) {
		d, first, err := eng.Store().FirstReply(ctx, m.Account, m.OpenID, m.Session, time.Now())
		if err != nil {
			log.Warn("first reply time not recorded", "account", m.Account, "err", err)
		} else if first {
			reg.FirstReply.WithLabelValues(m.Account).Observe(d.Seconds())
		}
	}
	wx, err := newOutbox(cfg, rdb.Client, reg, dead, firstReply, log)
	if err != nil {
		return err
	}
	outboxDone := make(chan error, 1)
	go func() { outboxDone <- wx.worker.Run(ectx) }()
	defer func() {
		stopEngine()
		if err := <-outboxDone; err != nil {
			log.Error("outbox stopped with an error", "err", err)
		}
	}()

	// The agents' WebSocket: events fanned out from Redis to whichever
	// replica holds the agent's connection.
	hub, err := agentws.NewHub(ctx, agentws.Options{
		Redis: rdb.Client, Prefix: cfg.Redis.Prefix,
		Heartbeat:  func(ctx context.Context, id string) error { _, err := tm.Heartbeat(ctx, id); return err },
		Registerer: reg.Registry, Logger: log,
	})
	if err != nil {
		return fmt.Errorf("agent websocket: %w", err)
	}
	tm.OnRevoke(func(ctx context.Context, id string) error {
		return agentws.Revoke(ctx, rdb.Client, cfg.Redis.Prefix, id)
	})
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hub.Close(cctx)
	}()

	// The archive: every event into PostgreSQL, in batches.
	var reader server.Archive
	if pool != nil {
		w, err := archive.New(archive.Options{Redis: rdb.Client, Prefix: cfg.Redis.Prefix, DB: pool,
			Consumer: consumerName(), Logger: log, Registerer: reg.Registry,
			DeadLetter: dead, MaxDeliveries: cfg.Archive.MaxDeliveries})
		if err != nil {
			return fmt.Errorf("archive: %w", err)
		}
		archiveDone := make(chan error, 1)
		go func() { archiveDone <- w.Run(ectx) }()
		defer func() {
			stopEngine()
			if err := <-archiveDone; err != nil {
				log.Error("archive stopped with an error", "err", err)
			}
		}()
		reader = archive.NewReader(pool)
	}

	// The media users send, downloaded before WeChat deletes them.
	library, mediaDone, err := startMedia(ectx, cfg, rdb.Client, pool, wx.client, log)
	if err != nil {
		return fmt.Errorf("media: %w", err)
	}
	defer func() {
		stopEngine()
		mediaDone()
	}()

	// Streams do not grow forever: what every reader is done with goes.
	go trimStreams(ectx, rdb.Client, cfg.Redis.Prefix, pool != nil, log)

	dk := desk.New(eng, wx.outbox, wx.client)
	data := newDeskData(cfg, rdb.Client, pool, wx.client, eng, log)
	handler := server.New(server.Options{
		Logger:         log,
		Metrics:        reg,
		Callback:       callback.New(accounts, store, cfg.Intake.Timeout),
		Checks:         checks,
		Team:           tm,
		Desk:           dk,
		Live:           eng,
		Accounts:       accountsInfo(cfg, wx.tokens),
		AgentWS:        hub,
		Archive:        reader,
		Media:          library,
		Users:          data.users,
		UserSessions:   eng,
		FollowUps:      dk,
		History:        data.history,
		Tools:          data.tools,
		AdminTokens:    cfg.Admin.Tokens,
		AuthFailures:   cfg.Admin.MaxAuthFailures,
		DeadLetters:    dead,
		TrustedProxies: trustedProxies(cfg.Server.TrustedProxies),
		Audit:          audit.New(rdb.Client, cfg.Redis.Prefix),
		UserData:       &userdata.Service{DB: pool, Redis: rdb.Client, Prefix: cfg.Redis.Prefix, Closer: eng},
	})

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	log.Info("listening", "addr", ln.Addr().String(), "accounts", len(accounts), "version", version)
	for _, a := range cfg.Accounts {
		log.Info("callback url", "account", a.Name, "path", "/wechat/"+a.AppID, "safe_mode", a.AESKey != "")
	}
	return serveHTTP(ctx, ln, handler, log, cfg.ShutdownTimeout)
}

// engineMetrics registers the engine's metrics: the counts the session
// scripts keep (rebuilt once for a Redis older than them), the times they
// measure, and the lag of the streams.
func engineMetrics(ctx context.Context, reg *metrics.Metrics, cfg *config.Config, rdb redis.Cmdable, eng *engine.Engine, intakeStream string, log *slog.Logger) error {
	if rebuilt, err := eng.Store().Recount(ctx); err != nil {
		return fmt.Errorf("session counts: %w", err)
	} else if rebuilt {
		log.Info("session counts rebuilt from the live sessions")
	}
	eng.Store().Observe(metrics.SessionObserver{M: reg, Choices: surveyChoices(cfg.Engine.Survey)})
	reg.Registry.MustRegister(eng.Collector())
	reg.RegisterStreams(rdb, []metrics.Stream{
		{Name: "intake", Key: intakeStream, Group: engine.Group},
		{Name: "outbox", Key: cfg.Redis.Prefix + "outbox", Group: "outbox"},
		{Name: "events", Key: cfg.Redis.Prefix + "events", Group: "archive"},
	})
	return nil
}

// serveHTTP serves handler on ln until ctx ends, then shuts down
// gracefully: it stops accepting and gives in-flight requests (callbacks
// whose answers tell WeChat the message is recorded) up to timeout to
// finish. What the caller opened closes after it returns.
func serveHTTP(ctx context.Context, ln net.Listener, handler http.Handler, log *slog.Logger, timeout time.Duration) error {
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", timeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}
