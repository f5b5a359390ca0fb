package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/archive"
	"github.com/kfgate/kfgate/internal/callback"
	"github.com/kfgate/kfgate/internal/config"
	"github.com/kfgate/kfgate/internal/engine"
	"github.com/kfgate/kfgate/internal/intake"
	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/media"
	"github.com/kfgate/kfgate/internal/metrics"
	"github.com/kfgate/kfgate/internal/outbox"
	"github.com/kfgate/kfgate/internal/routing"
	"github.com/kfgate/kfgate/internal/server"
	"github.com/kfgate/kfgate/internal/session"
	"github.com/kfgate/kfgate/internal/stream"
	"github.com/kfgate/kfgate/internal/trim"
	"github.com/kfgate/kfgate/internal/wxapi"
	"github.com/kfgate/kfgate/internal/wxcrypto"
	"github.com/kfgate/kfgate/internal/wxkf"
)

// The pieces serve assembles, each built from the configuration.

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

		QueuedNextNotice:     e.Notices.QueuedNext,
		QueueUpdateNotice:    e.Notices.QueueUpdate,
		QueueTimeoutNotice:   e.Notices.QueueTimeout,
		LeaveMessageNotice:   e.Notices.LeaveMessage,
		Greeting:             e.Greeting,
		SurveyChoices:        choiceIDs(e.Survey.Choices),
		Accounts:             map[string]engine.Texts{},
		HoursText:            map[string]string{},
		QueueUpdatePlaces:    e.QueueUpdates.Places,
		QueueUpdateEvery:     e.QueueUpdates.Every,
		QueueTimeout:         e.QueueTimeout,
		LeaveMessage:         e.LeaveMessage,
		OverdueTransferAfter: e.OverdueTransferAfter,
		ReassignAfter:        e.ReassignAfter,
		NoAgentEvery:         e.NoAgentEvery,
		MinRating:            e.MinRating,
		RatingWindow:         e.RatingWindow,
		Fault:                engineFault,
	}
	ec.ReplySLA.First, ec.ReplySLA.Next = e.ReplySLA.First, e.ReplySLA.Next
	surveys := map[string]string{}
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
		n := a.Notices
		ec.Accounts[a.AppID] = engine.Texts{Queued: n.Queued, QueuedNext: n.QueuedNext, QueueUpdate: n.QueueUpdate,
			QueueFull: n.QueueFull, QueueTimeout: n.QueueTimeout, LeaveMessage: n.LeaveMessage, OffHours: n.OffHours,
			NoAgent: n.NoAgent, IdleWarning: n.IdleWarning, IdleClosed: n.IdleClosed, Greeting: a.Greeting}
		if a.Survey.Head != "" || a.Survey.Tail != "" || len(a.Survey.Choices) > 0 {
			sv := config.Survey{Head: cmp.Or(a.Survey.Head, e.Survey.Head), Tail: cmp.Or(a.Survey.Tail, e.Survey.Tail),
				Choices: a.Survey.Choices}
			if len(sv.Choices) == 0 {
				sv.Choices = e.Survey.Choices
			}
			surveys[a.AppID] = surveyBody(sv)
			t := ec.Accounts[a.AppID]
			t.Choices = choiceIDs(sv.Choices)
			ec.Accounts[a.AppID] = t
		}
		if a.WeChatAgents() {
			w := engine.WeChatAccount{Passive: a.KfHandover == config.HandoverPassive, MaxSessions: a.KfMaxSessions,
				Kf: map[string]engine.KfTarget{}}
			for _, k := range a.KfAccounts {
				w.Kf[k.Account] = engine.KfTarget{MaxSessions: k.MaxSessions, Weight: k.Weight, Skills: k.Skills}
			}
			if ec.WeChat == nil {
				ec.WeChat = map[string]engine.WeChatAccount{}
			}
			ec.WeChat[a.AppID] = w
		}
		ec.HoursText[a.AppID] = strings.Join(a.BusinessHours, ", ")
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
		Survey: surveyBody(e.Survey), SurveyFor: surveys})
	return engine.New(store, routing.NewRouter(routing.Options{}), rdb, cfg.Redis.Prefix, ec, log), nil
}

// engineFault, set by tests only, fails the engine's handling of the
// messages it returns an error for (a poison message).
var engineFault func(*kf.Message) error

// choiceIDs returns the ids of survey choices ("id=text"), in order.
func choiceIDs(choices []string) []string {
	ids := make([]string, 0, len(choices))
	for _, c := range choices {
		id, _, _ := strings.Cut(c, "=")
		ids = append(ids, id)
	}
	return ids
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
func newOutbox(cfg *config.Config, rdb *redis.Client, reg *metrics.Metrics, dead *stream.DeadLetter, sent func(context.Context, outbox.Message), log *slog.Logger) (wechatSide, error) {
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
		BaseURL: cfg.WeChat.APIBase, BackupURL: backup, Observe: reg.WeChat()})
	if err != nil {
		return wechatSide{}, err
	}
	client, err := wxapi.New(wxapi.Options{Tokens: tokens, BaseURL: cfg.WeChat.APIBase, BackupURL: backup, Observe: reg.WeChat()})
	if err != nil {
		return wechatSide{}, err
	}
	ob, err := outbox.New(outbox.Options{Redis: rdb, Prefix: cfg.Redis.Prefix, ContextSize: cfg.Engine.ContextSize})
	if err != nil {
		return wechatSide{}, err
	}
	om, err := outbox.NewMetrics(reg.Registry, ob)
	if err != nil {
		return wechatSide{}, err
	}
	limits := map[string]outbox.Limit{}
	for _, a := range cfg.Accounts {
		if a.SendRate > 0 || a.DailyQuota != 0 {
			limits[a.AppID] = outbox.Limit{Rate: a.SendRate, DailyQuota: a.DailyQuota}
		}
	}
	w, err := outbox.NewWorker(outbox.WorkerOptions{Outbox: ob, Sender: client, Consumer: consumerName(), Metrics: om, Sent: sent, Logger: log,
		MaxDeliveries: cfg.Outbox.MaxDeliveries, DeadLetter: dead, Workers: cfg.Outbox.Workers,
		Rate: cfg.Outbox.Rate, Burst: cfg.Outbox.Burst, DailyQuota: cfg.Outbox.DailyQuota, Limits: limits})
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
			out = append(out, server.Account{AppID: a.AppID, Name: a.Name, SafeMode: a.SafeMode(),
				TransferToKf: a.WeChatAgents() && a.KfHandover == config.HandoverPassive, Agents: a.Agents, Token: h})
		}
		return out, nil
	}
}

// surveyBody is the msgmenu object of custom/send (docs/wechat.md, "Customer-service API") for the
// survey, "" when it has no choices.
// surveyChoices are the ids of the survey's choices (the metrics' labels).
func surveyChoices(s config.Survey) []string {
	ids := make([]string, len(s.Choices))
	for i, c := range s.Choices {
		ids[i], _, _ = strings.Cut(c, "=")
	}
	return ids
}

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
// lookups), the events once archived and read by the media worker — or,
// without an archive, once read by the media worker but never their last
// 100,000; the media downloads once done.
func trimStreams(ctx context.Context, rdb *redis.Client, prefix string, archived, wechatAgents bool, log *slog.Logger) {
	events := trim.Stream{Key: prefix + session.EventsStream, Groups: []string{archive.Group, media.Group}, MinAge: time.Hour}
	if !archived {
		events = trim.Stream{Key: prefix + session.EventsStream, Groups: []string{media.Group}, KeepWithoutGroups: 100000,
			MinKeep: 100000, MinAge: time.Hour}
	}
	if wechatAgents {
		// The bridge to WeChat's kf sessions reads them too.
		events.Groups = append(events.Groups, wxkf.Group)
	}
	streams := []trim.Stream{
		{Key: prefix + intake.StreamKey, Groups: []string{engine.Group}, MinAge: time.Hour},
		{Key: prefix + outbox.StreamKey, Groups: []string{outbox.Group}, MinAge: 24 * time.Hour},
		events,
		{Key: prefix + media.StreamKey, Groups: []string{media.Group}, MinAge: time.Hour},
		// The dead-letter stream has no reader; it is bounded as it grows
		// (stream.MaxDeadLetters) and emptied by a person.
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

func callbackAccounts(accounts []config.Account, eng *engine.Engine) ([]callback.Account, error) {
	out := make([]callback.Account, 0, len(accounts))
	for i, a := range accounts {
		ca := callback.Account{AppID: a.AppID, Token: a.Token, Mode: callback.Mode(a.Mode)}
		if a.WeChatAgents() && a.KfHandover == config.HandoverPassive {
			// The passive hand-over: every user message goes to WeChat's
			// tool, to the kf account kfgate's routing chose if it did.
			appid := a.AppID
			ca.TransferToKf = true
			ca.KfFor = func(ctx context.Context, openid string) string {
				s, err := eng.Store().Session(ctx, appid, openid)
				if err != nil || s.State != kf.StateServing {
					return ""
				}
				k, _ := engine.KfAccountOf(s.Agent)
				return k
			}
		}
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

// trustedProxies parses server.trusted_proxies (validated already).
func trustedProxies(cidrs []string) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(cidrs))
	for _, c := range cidrs {
		if p, err := netip.ParsePrefix(c); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
}

// wechatWaiting gives WeChat's own queue (getwaitcase) of the accounts
// whose agents work in WeChat's tool, for GET /api/v1/queue.
func wechatWaiting(eng *engine.Engine, client *wxapi.Client) func(context.Context, string) (server.WeChatWaiting, bool, error) {
	return func(ctx context.Context, account string) (server.WeChatWaiting, bool, error) {
		if _, ok := eng.WeChat(account); !ok {
			return server.WeChatWaiting{}, false, nil
		}
		count, list, err := client.WaitCase(ctx, account)
		if err != nil {
			return server.WeChatWaiting{}, true, err
		}
		w := server.WeChatWaiting{Count: count, Waiting: make([]server.WeChatWaitCase, len(list))}
		for i, c := range list {
			w.Waiting[i] = server.WeChatWaitCase{OpenID: c.OpenID, Latest: c.Latest}
		}
		return w, true, nil
	}
}
