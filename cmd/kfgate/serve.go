package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
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
	"github.com/kfgate/kfgate/internal/metrics"
	"github.com/kfgate/kfgate/internal/migrate"
	"github.com/kfgate/kfgate/internal/outbox"
	"github.com/kfgate/kfgate/internal/redisconn"
	"github.com/kfgate/kfgate/internal/routing"
	"github.com/kfgate/kfgate/internal/server"
	"github.com/kfgate/kfgate/internal/session"
	"github.com/kfgate/kfgate/internal/team"
	"github.com/kfgate/kfgate/internal/trim"
	"github.com/kfgate/kfgate/internal/wxapi"
	"github.com/kfgate/kfgate/internal/wxcrypto"
)

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

	// Agent records live in PostgreSQL when there is one, else in Redis.
	var records team.Records = agents.NewRedis(rdb, cfg.Redis.Prefix)
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
	appids := make([]string, len(cfg.Accounts))
	for i, a := range cfg.Accounts {
		appids[i] = a.AppID
	}
	tm := team.New(records, eng, appids)
	declared := make([]kf.Agent, len(cfg.Agents))
	for i, a := range cfg.Agents {
		declared[i] = kf.Agent{ID: a.ID, Name: a.Name, Accounts: a.Accounts, Skills: a.Skills, Weight: a.Weight, MaxSessions: a.MaxSessions}
	}
	if err := tm.Declare(ctx, declared); err != nil {
		return fmt.Errorf("agents: %w", err)
	}
	ectx, stopEngine := context.WithCancel(context.WithoutCancel(ctx))
	engineDone := make(chan error, 1)
	go func() {
		if cfg.Engine.IntakeOnly {
			log.Info("engine.intake_only: the conversations are left to the other replicas")
			engineDone <- nil
			return
		}
		engineDone <- (&engine.Consumer{Engine: eng, RDB: rdb, Stream: store.Stream(), Name: consumerName()}).Run(ectx)
	}()
	defer func() {
		stopEngine()
		if err := <-engineDone; err != nil {
			log.Error("engine stopped with an error", "err", err)
		}
	}()

	// The outbox sends what the engine and the agents queue for WeChat,
	// with one shared access token per account.
	reg := metrics.New()
	reg.Registry.MustRegister(engine.NewCollector(rdb, cfg.Redis.Prefix))
	wx, err := newOutbox(cfg, rdb.Client, reg, log)
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
		Redis: rdb.Client, Prefix: cfg.Redis.Prefix, Authenticate: tm.Authenticate,
		Heartbeat:  func(ctx context.Context, id string) error { _, err := tm.Heartbeat(ctx, id); return err },
		Registerer: reg.Registry, Logger: log,
	})
	if err != nil {
		return fmt.Errorf("agent websocket: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hub.Close(cctx)
	}()

	// The archive: every event into PostgreSQL, in batches.
	var reader server.Archive
	if pool != nil {
		w, err := archive.New(archive.Options{Redis: rdb.Client, Prefix: cfg.Redis.Prefix, DB: pool,
			Consumer: consumerName(), Logger: log, Registerer: reg.Registry})
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

	// Streams do not grow forever: what every reader is done with goes.
	go trimStreams(ectx, rdb.Client, cfg.Redis.Prefix, log)

	handler := server.New(server.Options{
		Logger:       log,
		Metrics:      reg,
		Callback:     callback.New(accounts, store, callback.Options{Timeout: cfg.Intake.Timeout, MaxClockSkew: cfg.Intake.MaxClockSkew}),
		Checks:       checks,
		Team:         tm,
		Desk:         desk.New(eng, wx.outbox, wx.client),
		Accounts:     accountsInfo(cfg, wx.tokens),
		AgentWS:      hub,
		Archive:      reader,
		AdminTokens:  cfg.Admin.Tokens,
		AuthFailures: cfg.Admin.MaxAuthFailures,
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

// newEngine builds the conversation engine from the configuration.
func newEngine(cfg *config.Config, rdb *redis.Client, log *slog.Logger) (*engine.Engine, error) {
	e := cfg.Engine
	ec := engine.Config{
		Strategy:        map[string]routing.Strategy{},
		Keywords:        e.TransferKeywords,
		MenuSkills:      map[string]map[string]string{},
		TextSkills:      map[string]map[string]string{},
		QueueNotice:     e.Notices.Queued,
		QueueLimit:      e.QueueLimit,
		QueueFullNotice: e.Notices.QueueFull,
		OffHoursNotice:  e.Notices.OffHours,
		NoAgentNotice:   e.Notices.NoAgent,
		WarnNotice:      e.Notices.IdleWarning,
		CloseNotice:     e.Notices.IdleClosed,
		Hours:           map[string]kf.Hours{},
		OfflineAfter:    e.OfflineAfter,
		TransferAfter:   e.TransferAfter,
	}
	pairs := func(list []string) map[string]string {
		m := map[string]string{}
		for _, kv := range list {
			k, v, _ := strings.Cut(kv, "=")
			m[k] = v
		}
		return m
	}
	for _, a := range cfg.Accounts {
		ec.Strategy[a.AppID] = routing.Strategy(cmp.Or(a.Strategy, e.Strategy))
		ec.MenuSkills[a.AppID] = pairs(a.MenuSkills)
		ec.TextSkills[a.AppID] = pairs(a.KeywordSkills)
		if len(a.BusinessHours) > 0 {
			h, err := kf.ParseHours(a.BusinessHours, a.TimeZone)
			if err != nil {
				return nil, err // validated already
			}
			ec.Hours[a.AppID] = h
		}
	}
	store := session.NewStore(rdb, cfg.Redis.Prefix, session.Options{ContextSize: e.ContextSize,
		IdleTimeout: e.IdleTimeout, WarnBefore: e.WarnBefore, ReturnWindow: e.ReturnWindow, Reserve: 2,
		Survey: surveyBody(e.Survey)})
	return engine.New(store, routing.NewRouter(routing.Options{}), rdb, cfg.Redis.Prefix, ec, log), nil
}

// wechatSide is what talks to WeChat: tokens, the API client, the outbox
// and its worker.
type wechatSide struct {
	tokens *wxapi.Tokens
	client *wxapi.Client
	outbox *outbox.Outbox
	worker *outbox.Worker
}

// newOutbox builds the outbox worker of this replica: the WeChat API
// client with tokens shared through Redis, and the outbox's metrics.
func newOutbox(cfg *config.Config, rdb *redis.Client, reg *metrics.Metrics, log *slog.Logger) (wechatSide, error) {
	secrets := make(map[string]string, len(cfg.Accounts))
	for _, a := range cfg.Accounts {
		secrets[a.AppID] = a.Secret
	}
	// WeChat's own host fails over to api2.weixin.qq.com; another base
	// (the simulator, a proxy) has no second host.
	backup := ""
	if cfg.WeChat.APIBase != config.DefaultAPIBase {
		backup = cfg.WeChat.APIBase
	}
	tokens, err := wxapi.NewTokens(wxapi.TokenOptions{Redis: rdb, Prefix: cfg.Redis.Prefix, Accounts: secrets,
		BaseURL: cfg.WeChat.APIBase, BackupURL: backup})
	if err != nil {
		return wechatSide{}, err
	}
	client, err := wxapi.New(wxapi.Options{Tokens: tokens, BaseURL: cfg.WeChat.APIBase, BackupURL: backup})
	if err != nil {
		return wechatSide{}, err
	}
	ob, err := outbox.New(outbox.Options{Redis: rdb, Prefix: cfg.Redis.Prefix})
	if err != nil {
		return wechatSide{}, err
	}
	om, err := outbox.NewMetrics(reg.Registry, ob)
	if err != nil {
		return wechatSide{}, err
	}
	w, err := outbox.NewWorker(outbox.WorkerOptions{Outbox: ob, Sender: client, Consumer: consumerName(), Metrics: om, Logger: log})
	return wechatSide{tokens: tokens, client: client, outbox: ob, worker: w}, err
}

// accountsInfo lists the configured accounts with their token's health,
// for GET /api/v1/accounts.
func accountsInfo(cfg *config.Config, tokens *wxapi.Tokens) func(context.Context) ([]server.Account, error) {
	return func(ctx context.Context) ([]server.Account, error) {
		out := make([]server.Account, 0, len(cfg.Accounts))
		for _, a := range cfg.Accounts {
			h, err := tokens.Health(ctx, a.AppID)
			if err != nil {
				return nil, err
			}
			out = append(out, server.Account{AppID: a.AppID, Name: a.Name, SafeMode: a.SafeMode(), TransferToKf: a.TransferToKf, Token: h})
		}
		return out, nil
	}
}

// surveyBody is the msgmenu object of custom/send (WECHAT.md §6.1) for the
// survey, "" when it has no choices.
func surveyBody(s config.Survey) string {
	if len(s.Choices) == 0 {
		return ""
	}
	type item struct {
		ID      string `json:"id"`
		Content string `json:"content"`
	}
	menu := struct {
		Head string `json:"head_content,omitempty"`
		List []item `json:"list"`
		Tail string `json:"tail_content,omitempty"`
	}{Head: s.Head, Tail: s.Tail}
	for _, c := range s.Choices {
		id, text, _ := strings.Cut(c, "=")
		menu.List = append(menu.List, item{ID: id, Content: text})
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(menu)
	return strings.TrimSpace(b.String())
}

// trimStreams trims kfgate's streams once a minute: the intake once the
// engine has it, the outbox once sent (kept a day, for the archive's
// lookups), the events once archived — or, without an archive, their last
// 100,000.
func trimStreams(ctx context.Context, rdb *redis.Client, prefix string, log *slog.Logger) {
	streams := []trim.Stream{
		{Key: prefix + intake.StreamKey, Groups: []string{engine.Group}, MinAge: time.Hour},
		{Key: prefix + "outbox", Groups: []string{"outbox"}, MinAge: 24 * time.Hour},
		{Key: prefix + "events", Groups: []string{"archive"}, KeepWithoutGroups: 100000, MinAge: time.Hour},
	}
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, err := trim.Run(ctx, rdb, streams, time.Now()); err != nil {
			log.Warn("trimming streams failed", "err", err)
		} else if n > 0 {
			log.Debug("streams trimmed", "entries", n)
		}
	}
}

// consumerName names this replica in the intake's consumer group.
func consumerName() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%d", cmp.Or(host, "kfgate"), os.Getpid())
}

func callbackAccounts(accounts []config.Account) ([]callback.Account, error) {
	out := make([]callback.Account, 0, len(accounts))
	for i, a := range accounts {
		ca := callback.Account{AppID: a.AppID, Token: a.Token, Mode: callback.Mode(a.Mode), TransferToKf: a.TransferToKf}
		if a.AESKey != "" {
			c, err := wxcrypto.NewCipher(a.AppID, a.AESKey)
			if err != nil {
				return nil, fmt.Errorf("accounts[%d].aes_key: %w", i, err)
			}
			ca.Cipher = c
		}
		out = append(out, ca)
	}
	return out, nil
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level)) // validated by config
	opts := &slog.HandlerOptions{Level: level}
	if strings.EqualFold(c.Format, "text") {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// healthcheck asks the gateway on this machine for /healthz; the
// container's HEALTHCHECK runs it, since the image has no curl.
func healthcheck(ctx context.Context, args []string, getenv func(string) string, environ []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg, err := loadConfig(fs, args, getenv, environ)
	if err != nil {
		return err
	}
	_, port, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:"+port+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthz answered %s", resp.Status)
	}
	return nil
}

// migrateCommand applies the pending migrations of postgres.url.
func migrateCommand(ctx context.Context, args []string, getenv func(string) string, environ []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg, err := loadConfig(fs, args, getenv, environ)
	if err != nil {
		return err
	}
	if cfg.Postgres.URL == "" {
		return fmt.Errorf("postgres.url is empty: there is nothing to migrate")
	}
	applied, err := migrate.Up(ctx, cfg.Postgres.URL)
	if err != nil {
		return err
	}
	for _, name := range applied {
		fmt.Fprintln(stdout, "applied", name)
	}
	fmt.Fprintf(stdout, "%d migrations applied; the schema is up to date\n", len(applied))
	return nil
}
