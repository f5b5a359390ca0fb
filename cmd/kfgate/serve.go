package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	iofs "io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/agents"
	"github.com/kfgate/kfgate/internal/agentws"
	"github.com/kfgate/kfgate/internal/archive"
	"github.com/kfgate/kfgate/internal/callback"
	"github.com/kfgate/kfgate/internal/config"
	"github.com/kfgate/kfgate/internal/desk"
	"github.com/kfgate/kfgate/internal/engine"
	"github.com/kfgate/kfgate/internal/intake"
	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/kfaccounts"
	"github.com/kfgate/kfgate/internal/metrics"
	"github.com/kfgate/kfgate/internal/migrate"
	"github.com/kfgate/kfgate/internal/outbox"
	"github.com/kfgate/kfgate/internal/redisconn"
	"github.com/kfgate/kfgate/internal/scheduler"
	"github.com/kfgate/kfgate/internal/server"
	"github.com/kfgate/kfgate/internal/signin"
	"github.com/kfgate/kfgate/internal/stream"
	"github.com/kfgate/kfgate/internal/userdata"
	"github.com/kfgate/kfgate/internal/wxkf"
	"github.com/kfgate/kfgate/web"
)

// serveMetrics, when a test sets it, is given the metrics serve registers
// everything on (cmd/kfgate's dashboards test compares them with what the
// dashboard and the alert rules use).
var serveMetrics func(*metrics.Metrics)

// errNoConfig is serve's answer when nothing names a configuration.
var errNoConfig = errors.New("no configuration: pass --config FILE or set KFGATE_CONFIG " +
	"(in the container, mount a file at /etc/kfgate/kfgate.yaml: docker run -v $PWD/kfgate.yaml:/etc/kfgate/kfgate.yaml:ro …); " +
	"`kfgate serve --demo` runs the built-in example")

// errNoConfigFile is loadConfig's answer when the file named does not exist.
var errNoConfigFile = errors.New("no configuration file")

// loadConfig reads the configuration named by --config or KFGATE_CONFIG.
// With --demo (a flag of serve's) and no file named, it is the example
// built into the binary. No file and no KFGATE_ key in the environment is
// an error that says how to give one, on one line.
func loadConfig(fs *flag.FlagSet, args []string, getenv func(string) string, environ []string) (*config.Config, error) {
	path := fs.String("config", getenv("KFGATE_CONFIG"), "configuration file (YAML); KFGATE_CONFIG")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	demo := fs.Lookup("demo") != nil && fs.Lookup("demo").Value.String() == "true"
	switch {
	case *path == "" && demo:
		return config.LoadDemo(getenv, environ)
	case *path == "" && !envConfigured(environ):
		return nil, errNoConfig
	}
	cfg, err := config.Load(*path, getenv, environ)
	if errors.Is(err, iofs.ErrNotExist) {
		return nil, fmt.Errorf("%w at %s: mount yours there "+
			"(docker run -v $PWD/kfgate.yaml:%s:ro …) or name another with --config or KFGATE_CONFIG; "+
			"`kfgate serve --demo` runs the built-in example", errNoConfigFile, *path, *path)
	}
	return cfg, err
}

// envConfigured reports whether environ sets a configuration key
// (KFGATE_… other than KFGATE_CONFIG): a configuration from the
// environment alone.
func envConfigured(environ []string) bool {
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, config.EnvPrefix) && k != "KFGATE_CONFIG" && v != "" {
			return true
		}
	}
	return false
}

func serve(ctx context.Context, args []string, getenv func(string) string, environ []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	demo := fs.Bool("demo", false, "accept the example's public demo secrets; with no --config, run the example built into the binary")
	cfg, err := loadConfig(fs, args, getenv, environ)
	if err != nil {
		return err
	}
	if !*demo {
		// The example's secrets are public: a gateway on the internet with
		// them is anyone's.
		if err := cfg.RefuseDemo(); err != nil {
			return err
		}
	}
	log := newLogger(cfg.Log, stderr)
	redisconn.Log(log)
	for _, d := range cfg.Deprecations() {
		log.Warn(d)
	}
	if *demo {
		log.Warn("--demo: the example's public demo tokens and secrets are accepted; for trying kfgate only")
	}

	rdb, err := redisconn.Open(ctx, redisOptions(cfg.Redis))
	if err != nil {
		return err
	}
	defer rdb.Close()
	if rdb.Embedded {
		log.Warn("using the embedded Redis-protocol server: for trying kfgate with one replica; nothing is kept across restarts; set redis.url in production")
	}
	for _, w := range rdb.Warnings {
		log.Warn("redis startup check", "warning", w)
	}
	// Readiness: Redis and the components below decide; PostgreSQL is
	// reported only, since callbacks never touch it and the archive rides
	// out its outages in Redis.
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
		checks = append(checks, server.Check{Name: "postgres", Fn: pool.Ping, Optional: true})
		reg.RegisterPostgresPool(pool)
		records = agents.NewPostgres(pool)
	} else {
		log.Info("postgres.url is empty: the archive is off, agent records are kept in Redis")
	}

	store := intake.NewStore(rdb, cfg.Redis.Prefix, cfg.Intake.DedupTTL)
	if n := cfg.Redis.MinReplicasAck; n > 0 {
		// "success" only for a callback n replicas hold: a failover to one
		// of them loses none (docs/architecture.md, "Failover").
		store.RequireReplicas(n, cfg.Redis.MinReplicasAckTimeout)
		log.Info("callbacks are answered once replicas hold them", "min_replicas_ack", n, "timeout", cfg.Redis.MinReplicasAckTimeout.String())
	}

	eng, err := newEngine(cfg, rdb.Client, log)
	if err != nil {
		return err
	}
	// The scripts of the messages the engine handles at once (one per
	// lane) share round trips; closed after the engine stopped (deferred
	// before comps.stop).
	batch := redisconn.NewBatcher(rdb.Client, 2, engine.DefaultParallel)
	defer batch.Close()
	eng.Store().Pipelined(batch)
	accounts, err := callbackAccounts(cfg.Accounts, eng)
	if err != nil {
		return err
	}
	if n, err := eng.IndexLive(ctx); err != nil {
		log.Warn("indexing the live sessions of an earlier version failed; the next start tries again", "err", err)
	} else if n > 0 {
		log.Info("live sessions of an earlier version indexed", "sessions", n)
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
		declared[i] = kf.Agent{ID: a.ID, Name: a.Name, Accounts: a.Accounts, Skills: a.Skills, Weight: a.Weight, MaxSessions: a.MaxSessions, Role: kf.Role(a.Role), KfAccount: a.KfAccount}
	}
	if err := tm.Declare(ctx, declared); err != nil {
		return fmt.Errorf("agents: %w", err)
	}
	for _, a := range cfg.Agents {
		if a.Password == "" {
			continue
		}
		if err := tm.DeclarePassword(ctx, a.ID, a.Password); err != nil {
			return fmt.Errorf("agents: %s: %w", a.ID, err)
		}
	}

	// Entries the engine, the outbox or the archive cannot handle go to one
	// dead-letter stream, so that none of them stalls.
	dead, err := stream.NewDeadLetter(rdb.Client, cfg.Redis.Prefix, reg.Registry)
	if err != nil {
		return err
	}
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
	jobs := eng.Jobs(cfg.Scheduler.Every)
	wechatAgents := len(eng.WeChatAccounts()) > 0
	if wechatAgents {
		// The kf accounts online, read once per period for the cluster.
		poller := &wxkf.Poller{Engine: eng, API: wx.client, RDB: rdb.Client, Prefix: cfg.Redis.Prefix, Every: cfg.Scheduler.KfPoll}
		jobs = append(jobs, scheduler.Job{Name: "kf_poll", Every: cfg.Scheduler.KfPoll, Run: poller.Poll})
	}
	if pool != nil {
		// A round at start, beside the listener rather than before it: the
		// migrations created the months around now, and the writer
		// creates a month it lacks, so nothing waits for it.
		ret := newRetention(cfg, pool, log)
		rctx, stopRet := context.WithCancel(ctx)
		retDone := make(chan struct{})
		go func() {
			defer close(retDone)
			if _, err := ret.run(rctx); err != nil && rctx.Err() == nil {
				log.Warn("archive retention failed at start", "err", err)
			}
		}()
		defer func() { stopRet(); <-retDone }() // before the pool closes
		jobs = append(jobs, ret.job())
	}
	if pool != nil {
		// What kf accounts wrote in WeChat's own tool, into the archive
		// (one run per period and account for the whole cluster).
		im := archive.NewImporter(archive.ImportOptions{DB: pool, Redis: rdb.Client, Prefix: cfg.Redis.Prefix,
			WeChat: wx.client, Agents: records, Accounts: eng.WeChatAccounts(), Every: cfg.Archive.ImportEvery, Log: log})
		jobs = append(jobs, scheduler.Job{Name: "transcripts", Every: cfg.Archive.ImportEvery, Run: im.Run})
	} else {
		log.Info("the import of kf accounts' transcripts is off: it needs PostgreSQL")
	}
	sched, err := scheduler.New(jobs, reg.Registry, log)
	if err != nil {
		return err
	}
	var arch *archive.Writer
	var reader server.Archive
	if pool != nil {
		arch, err = archive.New(archive.Options{Redis: rdb.Client, Prefix: cfg.Redis.Prefix, DB: pool,
			Consumer: consumerName(), Logger: log, Registerer: reg.Registry,
			DeadLetter: dead, MaxDeliveries: cfg.Archive.MaxDeliveries, Retention: cfg.Archive.Retention.Duration()})
		if err != nil {
			return fmt.Errorf("archive: %w", err)
		}
		reader = archive.NewReader(pool)
	}

	// The components run beside the HTTP server and stop after it, in
	// this order: the engine (what it has not acknowledged another replica
	// claims), the scheduler, the outbox (sending what the engine queued),
	// the archive (writing what both produced; the rest waits in Redis),
	// the media downloads, the stream trimmer.
	comps := &components{log: log}
	defer comps.stop()
	if cfg.Engine.IntakeOnly {
		log.Info("engine.intake_only: the conversations are left to the other replicas")
	} else {
		comps.start(ctx, "engine", (&engine.Consumer{Engine: eng, RDB: rdb, Stream: store.Stream(), Name: consumerName(),
			MaxDeliveries: cfg.Engine.MaxDeliveries, ClaimIdle: cfg.Engine.RetryAfter, DeadLetter: dead}).Run)
	}
	// Idle expiry, the presence sweep and the transfer-after rule run on
	// every replica (intake-only ones too).
	comps.start(ctx, "scheduler", func(ctx context.Context) error { sched.Run(ctx); return nil })
	comps.start(ctx, "outbox", wx.worker.Run)
	if wechatAgents {
		// WeChat's kf sessions follow kfgate's.
		comps.start(ctx, "wxkf", (&wxkf.Bridge{Engine: eng, API: wx.client, RDB: rdb.Client, Prefix: cfg.Redis.Prefix,
			Name: consumerName(), Logger: log, DeadLetter: dead}).Run)
	}
	if arch != nil {
		comps.start(ctx, "archive", arch.Run)
	}
	// The media users send, downloaded before WeChat deletes them.
	mctx, stopMedia := context.WithCancel(context.WithoutCancel(ctx))
	library, mediaDone, err := startMedia(mctx, cfg, rdb.Client, pool, wx.client, log)
	if err != nil {
		stopMedia()
		return fmt.Errorf("media: %w", err)
	}
	comps.attach("media", stopMedia, mediaDone)
	// Streams do not grow forever: what every reader is done with goes.
	comps.start(ctx, "trim", func(ctx context.Context) error {
		trimStreams(ctx, rdb.Client, cfg.Redis.Prefix, pool != nil, wechatAgents, log)
		return nil
	})
	checks = append(checks, comps.checks()...)

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
	// Revoking an agent closes its sockets on every replica at once.
	tm.OnRevoke(func(ctx context.Context, id string) error {
		return agentws.Revoke(ctx, rdb.Client, cfg.Redis.Prefix, id)
	})
	closeHub := sync.OnceFunc(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		n := hub.Connections()
		_ = hub.Close(cctx)
		log.Info("stopped", "component", "agent websockets", "closed", n)
	})
	defer closeHub()

	var draining atomic.Bool
	dk := desk.New(eng, wx.outbox, wx.client)
	data := newDeskData(cfg, rdb.Client, pool, wx.client, eng, log)
	handler := server.New(server.Options{
		Logger:         log,
		Metrics:        reg,
		Callback:       callback.New(accounts, store, callback.Options{Timeout: cfg.Intake.Timeout, MaxClockSkew: cfg.Intake.MaxClockSkew}),
		Checks:         checks,
		Draining:       draining.Load,
		Team:           tm,
		Desk:           dk,
		Live:           eng,
		Accounts:       accountsInfo(cfg, wx.tokens),
		WeChatWaiting:  wechatWaiting(eng, wx.client),
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
		SignIns:        signin.New(rdb.Client, cfg.Redis.Prefix, 12*time.Hour),
		Console:        web.Handler(),
		Audit:          auditLog(rdb.Client, cfg.Redis.Prefix, pool),
		UserData:       &userdata.Service{DB: pool, Redis: rdb.Client, Prefix: cfg.Redis.Prefix, Closer: eng},
		KfAccounts:     kfaccounts.New(wx.client, tm),
	})

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	var dbg *debugServer
	if cfg.Debug.Listen != "" {
		if dbg, err = startDebug(cfg.Debug.Listen, log); err != nil {
			_ = ln.Close()
			return err
		}
	}
	log.Info("listening", "addr", ln.Addr().String(), "accounts", len(accounts), "version", version)
	for _, a := range cfg.Accounts {
		log.Info("callback url", "account", a.Name, "path", "/wechat/"+a.AppID, "mode", a.Mode)
	}
	err = serveHTTP(ctx, ln, handler, log, shutdown{draining: &draining, delay: cfg.ShutdownDelay, timeout: cfg.ShutdownTimeout})
	// Then, in order: the agents' sockets (told to reconnect, to another
	// replica), the components, and — by the defers — the pool and Redis.
	closeHub()
	comps.stop()
	// The profiler last, so that a stuck shutdown can still be profiled.
	dbg.stop(5 * time.Second)
	if err == nil {
		log.Info("shut down")
	}
	return err
}

// redisOptions says which Redis the configuration names.
func redisOptions(r config.Redis) redisconn.Options {
	s := r.Sentinel
	return redisconn.Options{URL: r.URL, Sentinel: redisconn.Sentinel{MasterName: s.MasterName, Addresses: s.Addresses,
		Username: s.Username, Password: s.Password, DB: s.DB, SentinelPassword: s.SentinelPassword, TLS: s.TLS}}
}

// shutdown is how serveHTTP stops: /readyz answers 503 (draining) for
// delay while everything is still served, so that the load balancer moves
// new requests to other replicas; then the server stops accepting and
// in-flight requests get up to timeout to finish.
type shutdown struct {
	draining *atomic.Bool
	delay    time.Duration
	timeout  time.Duration
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
// gracefully as sd says. In-flight callbacks finish: their answers tell
// WeChat the message is recorded. What the caller opened closes after it
// returns.
func serveHTTP(ctx context.Context, ln net.Listener, handler http.Handler, log *slog.Logger, sd shutdown) error {
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
	sd.draining.Store(true)
	log.Info("draining: /readyz answers 503 while the load balancer moves traffic away", "delay", sd.delay.String())
	select {
	case <-time.After(sd.delay):
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	}
	log.Info("stopping HTTP: no new connections; in-flight requests finish", "timeout", sd.timeout.String())
	start := time.Now()
	sctx, cancel := context.WithTimeout(context.Background(), sd.timeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped", "component", "http", "took", time.Since(start).String())
	return nil
}
