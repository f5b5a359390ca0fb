package config

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/kf"
)

// WeChat's limits that the rules below follow.
const (
	// WeChat redelivers a callback it got no answer to up to three times
	// over about 20 s; a delivery must be remembered well past the last.
	minDedupTTL = 60 * time.Second
	// minRetention: the archive drops whole months.
	minRetention = 31 * 24 * time.Hour
	// WeChat waits 5 s for the answer to a callback.
	wechatBudget = 5 * time.Second
	// The EncodingAESKey is 43 characters of base64 without its "=": 32 bytes.
	aesKeyLen = 43
	// A record waits for at most this many replicas, this long: the Redis
	// client reads an answer for 3 s, and the callback must be answered
	// within WeChat's budget.
	maxReplicasAck, maxReplicasAckTimeout = 16, 2 * time.Second
	// Admin bearer tokens are credentials for the whole gateway.
	minAdminToken = 16
	// A callback's timestamp may differ from our clock by this much.
	minClockSkew, maxClockSkew = 30 * time.Second, time.Hour
)

var (
	reAppID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	// The server-config Token: "必须为英文或数字，长度为3-32字符".
	reToken = regexp.MustCompile(`^[A-Za-z0-9]{3,32}$`)
	reAlnum = regexp.MustCompile(`^[A-Za-z0-9]*$`)
)

// Validate checks the whole configuration and reports every problem, one
// line each ("accounts[1].aes_key: must be 43 characters"), in the order of
// the keys. Call it after SetDefaults: an unset key is a problem here. No
// line ever shows a secret, a token, a key or a URL's password.
func (c Config) Validate() error {
	var p problems

	// Any host: a name, an address or none (every interface). Port 0 picks
	// a free port, which tests use.
	if _, port, err := net.SplitHostPort(c.Listen); err != nil {
		p.add("listen", `must be host:port, such as ":8080" or "127.0.0.1:8080" (got %q)`, c.Listen)
	} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		p.add("listen", "port must be a number from 0 to 65535 (got %q)", port)
	}
	if c.ShutdownTimeout <= 0 {
		p.add("shutdown_timeout", "must be more than 0 (got %s)", c.ShutdownTimeout)
	}
	if c.ShutdownDelay <= 0 || c.ShutdownDelay > time.Minute {
		p.add("shutdown_delay", "must be more than 0 and at most 1m: long enough for the load balancer to see /readyz fail (got %s)", c.ShutdownDelay)
	}

	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		p.add("log.level", "must be debug, info, warn or error (got %q)", c.Log.Level)
	}
	switch c.Log.Format {
	case "json", "text":
	default:
		p.add("log.format", "must be json or text (got %q)", c.Log.Format)
	}

	if c.Redis.URL != "" {
		if msg := checkRedisURL(c.Redis.URL); msg != "" {
			p.add("redis.url", "%s", msg)
		}
	}
	c.validateSentinel(&p)
	switch {
	case c.Redis.Prefix == "":
		p.add("redis.prefix", "must not be empty")
	case strings.IndexFunc(c.Redis.Prefix, unicode.IsSpace) >= 0:
		p.add("redis.prefix", "must not contain spaces")
	}

	switch n := c.Redis.MinReplicasAck; {
	case n < 0 || n > maxReplicasAck:
		p.add("redis.min_replicas_ack", "must be from 0 (off) to %d (got %d)", maxReplicasAck, n)
	case n > 0 && c.Redis.URL == "" && c.Redis.Sentinel.MasterName == "":
		p.add("redis.min_replicas_ack", "needs a Redis server with replicas (redis.url or redis.sentinel); the embedded server has none")
	}
	if t := c.Redis.MinReplicasAckTimeout; c.Redis.MinReplicasAck > 0 && (t <= 0 || t > maxReplicasAckTimeout || (t >= c.Intake.Timeout && c.Intake.Timeout > 0)) {
		p.add("redis.min_replicas_ack_timeout", "must be more than 0, at most %s and less than intake.timeout (%s), so the callback is answered in time (got %s)",
			maxReplicasAckTimeout, c.Intake.Timeout, t)
	}

	if c.Postgres.URL != "" {
		if msg := checkPostgresURL(c.Postgres.URL); msg != "" {
			p.add("postgres.url", "%s", msg)
		}
	}

	if u, err := url.Parse(c.WeChat.APIBase); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.add("wechat.api_base", "must be an absolute http:// or https:// URL")
	}

	if c.Media.TTL <= 0 {
		p.add("media.ttl", "must be more than 0 (got %s)", c.Media.TTL)
	}
	if c.Intake.DedupTTL < minDedupTTL {
		p.add("intake.dedup_ttl", "must be at least 60s, since WeChat redelivers for about 20s (got %s)", c.Intake.DedupTTL)
	}
	if c.Intake.Timeout <= 0 || c.Intake.Timeout >= wechatBudget {
		p.add("intake.timeout", "must be more than 0 and less than 5s, WeChat's wait for an answer (got %s)", c.Intake.Timeout)
	}
	if c.Intake.MaxClockSkew < minClockSkew || c.Intake.MaxClockSkew > maxClockSkew {
		p.add("intake.max_clock_skew", "must be from 30s to 1h: WeChat's clock and ours differ by seconds, and a callback may be replayed within it (got %s)", c.Intake.MaxClockSkew)
	}

	if len(c.Accounts) == 0 {
		p.add("accounts", "at least one account is required (in the file or as KFGATE_ACCOUNTS_0_APPID and the rest)")
	}
	firstIndex := map[string]int{}
	for i, a := range c.Accounts {
		key := fmt.Sprintf("accounts[%d].", i)
		env := fmt.Sprintf("%sACCOUNTS_%d_", EnvPrefix, i)
		switch j, dup := firstIndex[a.AppID]; {
		case a.AppID == "":
			p.add(key+"appid", "required")
		case !reAppID.MatchString(a.AppID):
			p.add(key+"appid", "must be 1 to 64 letters, digits, '_' or '-'")
		case dup:
			p.add(key+"appid", "duplicate of accounts[%d]", j)
		default:
			firstIndex[a.AppID] = i
		}
		if a.Secret == "" {
			p.add(key+"secret", "required (set it here or in %sSECRET)", env)
		}
		switch {
		case a.Token == "":
			p.add(key+"token", "required (set it here or in %sTOKEN)", env)
		case !reToken.MatchString(a.Token):
			p.add(key+"token", "must be 3 to 32 letters or digits")
		}
		if a.AESKey != "" {
			if msg := checkAESKey(a.AESKey); msg != "" {
				p.add(key+"aes_key", "%s", msg)
			}
		}
		switch a.Mode {
		case ModeSafe, ModeCompatible:
			if a.AESKey == "" {
				p.add(key+"mode", "%s needs the account's aes_key (set it here or in %sAES_KEY)", a.Mode, env)
			}
		case ModePlaintext:
		default:
			p.add(key+"mode", "must be safe, compatible or plaintext, as set in WeChat's console (got %q)", a.Mode)
		}
	}

	c.validateEngine(&p)

	if c.Admin.MaxAuthFailures < 1 {
		p.add("admin.max_auth_failures", "must be at least 1")
	}
	for _, m := range []struct {
		key string
		n   int
	}{{"engine.max_deliveries", c.Engine.MaxDeliveries}, {"outbox.max_deliveries", c.Outbox.MaxDeliveries},
		{"archive.max_deliveries", c.Archive.MaxDeliveries}} {
		if m.n < 1 || m.n > 1000 {
			p.add(m.key, "must be 1 to 1000 (got %d)", m.n)
		}
	}
	if c.Archive.ImportEvery < 10*time.Second {
		p.add("archive.import_every", "must be at least 10s (got %s)", c.Archive.ImportEvery)
	}
	c.validateOutbox(&p)
	if r := c.Archive.Retention.Duration(); r < 0 || (r > 0 && r < minRetention) {
		p.add("archive.retention", "must be 0 (keep everything) or at least 31d, a month's partition being the least it drops (got %s)", c.Archive.Retention)
	}
	for i, cidr := range c.Server.TrustedProxies {
		if _, err := netip.ParsePrefix(cidr); err != nil {
			p.add(fmt.Sprintf("server.trusted_proxies[%d]", i), "must be a CIDR such as 10.0.0.0/8 or ::1/128 (got %q)", cidr)
		}
	}
	firstToken := map[string]int{}
	for i, t := range c.Admin.Tokens {
		key := fmt.Sprintf("admin.tokens[%d]", i)
		j, dup := firstToken[t]
		switch {
		case utf8.RuneCountInString(t) < minAdminToken:
			p.add(key, "must be at least %d characters", minAdminToken)
		case strings.IndexFunc(t, unicode.IsSpace) >= 0:
			p.add(key, "must not contain spaces")
		case dup:
			p.add(key, "duplicate of admin.tokens[%d]", j)
		default:
			firstToken[t] = i
		}
	}
	c.validateDebug(&p)

	return p.err()
}

var strategies = []string{"consistent_hash", "least_loaded", "round_robin", "weighted"}

// checkNotices checks the placeholders of notices that must tell the user
// their place.
func checkNotices(p *problems, key string, n Notices) {
	for field, text := range map[string]string{"queued": n.Queued, "queue_update": n.QueueUpdate} {
		if text != "" && !strings.Contains(text, "{ahead}") && !strings.Contains(text, "{position}") {
			p.add(key+field, "should say the user's place with {ahead} or {position}")
		}
	}
}

func checkChoices(p *problems, key string, choices []string) {
	for i, ch := range choices {
		id, text, ok := strings.Cut(ch, "=")
		if _, err := strconv.ParseUint(id, 10, 32); !ok || err != nil || text == "" {
			p.add(fmt.Sprintf("%schoices[%d]", key, i), `must be "number=text", e.g. "101=满意" (got %q)`, ch)
		}
	}
}

// validateEngine checks the engine section, the accounts' routing keys and
// the agents.
func (c Config) validateEngine(p *problems) {
	e := c.Engine
	// The text rule (kf.CheckText) for the texts users see.
	for _, t := range [][2]string{{"engine.notices.queued", e.Notices.Queued},
		{"engine.notices.queue_full", e.Notices.QueueFull}, {"engine.notices.off_hours", e.Notices.OffHours},
		{"engine.notices.no_agent", e.Notices.NoAgent}, {"engine.notices.idle_warning", e.Notices.IdleWarning},
		{"engine.notices.idle_closed", e.Notices.IdleClosed}, {"engine.survey.head", e.Survey.Head},
		{"engine.survey.tail", e.Survey.Tail}} {
		if why := kf.CheckText(t[1]); why != "" {
			p.add(t[0], "%s", why)
		}
	}
	for i, a := range c.Accounts {
		if why := kf.CheckText(a.Name); why != "" {
			p.add(fmt.Sprintf("accounts[%d].name", i), "%s", why)
		}
	}
	if !slices.Contains(strategies, e.Strategy) {
		p.add("engine.strategy", "must be one of %s (got %q)", strings.Join(strategies, ", "), e.Strategy)
	}
	if e.ContextSize < 1 || e.ContextSize > 1000 {
		p.add("engine.context_size", "must be 1 to 1000 (got %d)", e.ContextSize)
	}
	if e.WarnBefore <= 0 || e.IdleTimeout <= e.WarnBefore {
		p.add("engine.idle_timeout", "must be more than engine.warn_before, which must be more than 0 (got %s and %s)", e.IdleTimeout, e.WarnBefore)
	}
	if e.ReturnWindow < 0 {
		p.add("engine.return_window", "must not be negative")
	}
	if e.OfflineAfter < 10*time.Second {
		p.add("engine.offline_after", "must be at least 10s: agents heartbeat every 30s (got %s)", e.OfflineAfter)
	}
	if c.Scheduler.Every < 100*time.Millisecond || c.Scheduler.Every > time.Minute {
		p.add("scheduler.every", "must be 100ms to 1m (got %s)", c.Scheduler.Every)
	}
	if c.Scheduler.KfPoll < 100*time.Millisecond || c.Scheduler.KfPoll > 10*time.Minute {
		p.add("scheduler.kf_poll", "must be 100ms to 10m (got %s)", c.Scheduler.KfPoll)
	}
	if e.TransferAfter < 0 {
		p.add("engine.transfer_after", "must not be negative (0 = never)")
	}
	if e.QueueLimit < 0 {
		p.add("engine.queue_limit", "must not be negative (0 = no limit)")
	}
	checkNotices(p, "engine.notices.", e.Notices)
	for key, d := range map[string]time.Duration{"engine.queue_timeout": e.QueueTimeout, "engine.reply_sla.first": e.ReplySLA.First,
		"engine.reply_sla.next": e.ReplySLA.Next, "engine.overdue_transfer_after": e.OverdueTransferAfter,
		"engine.reassign_after": e.ReassignAfter, "engine.no_agent_every": e.NoAgentEvery, "engine.queue_updates.every": e.QueueUpdates.Every,
		"engine.retry_after": e.RetryAfter} {
		if d < 0 {
			p.add(key, "must not be negative (got %s)", d)
		}
	}
	if e.RetryAfter > 0 && e.RetryAfter < 100*time.Millisecond {
		p.add("engine.retry_after", "must be at least 100ms (got %s)", e.RetryAfter)
	}
	if e.QueueUpdates.Places < 0 {
		p.add("engine.queue_updates.places", "must not be negative (0 = off)")
	}
	if e.MinRating < 0 || e.MinRating > 5 {
		p.add("engine.min_rating", "must be 0 (off) to 5 (got %g)", e.MinRating)
	}
	if e.RatingWindow < 1 || e.RatingWindow > 1000 {
		p.add("engine.rating_window", "must be 1 to 1000 (got %d)", e.RatingWindow)
	}
	checkChoices(p, "engine.survey.", e.Survey.Choices)
	for i, a := range c.Accounts {
		key := fmt.Sprintf("accounts[%d].", i)
		checkNotices(p, key+"notices.", a.Notices)
		checkChoices(p, key+"survey.", a.Survey.Choices)
		checkWeChatAgents(p, key, a)
		if a.Strategy != "" && !slices.Contains(strategies, a.Strategy) {
			p.add(key+"strategy", "must be empty or one of %s (got %q)", strings.Join(strategies, ", "), a.Strategy)
		}
		if _, err := kf.ParseHours(a.BusinessHours, a.TimeZone); err != nil {
			p.add(key+"business_hours", "%v", err)
		}
		for j, m := range a.MenuSkills {
			if k, v, ok := strings.Cut(m, "="); !ok || k == "" || v == "" {
				p.add(fmt.Sprintf("%smenu_skills[%d]", key, j), `must be "KEY=skill" (got %q)`, m)
			}
		}
		for j, m := range a.KeywordSkills {
			if k, v, ok := strings.Cut(m, "="); !ok || k == "" || v == "" {
				p.add(fmt.Sprintf("%skeyword_skills[%d]", key, j), `must be "word=skill" (got %q)`, m)
			}
		}
		for j, m := range a.TagSkills {
			k, v, ok := strings.Cut(m, "=")
			if n, err := strconv.Atoi(k); !ok || err != nil || n < 0 || v == "" {
				p.add(fmt.Sprintf("%stag_skills[%d]", key, j), `must be "tagid=skill" with a numeric tag id (got %q)`, m)
			}
		}
	}
	first := map[string]int{}
	for i, a := range c.Agents {
		key := fmt.Sprintf("agents[%d].", i)
		switch j, dup := first[a.ID]; {
		case a.ID == "":
			p.add(key+"id", "required")
		case !reAppID.MatchString(a.ID):
			p.add(key+"id", "must be 1 to 64 letters, digits, '_' or '-'")
		case dup:
			p.add(key+"id", "duplicate of agents[%d]", j)
		default:
			first[a.ID] = i
		}
		if len(a.Accounts) == 0 {
			p.add(key+"accounts", "must name at least one account's appid")
		}
		for _, appid := range a.Accounts {
			if _, ok := c.Account(appid); !ok {
				p.add(key+"accounts", "%q is not a configured account", appid)
			}
		}
		if a.Weight < 1 {
			p.add(key+"weight", "must be at least 1")
		}
		if a.MaxSessions < 1 {
			p.add(key+"max_sessions", "must be at least 1")
		}
		if field, why := kf.AgentProblem(kf.Agent{Name: a.Name, Accounts: a.Accounts, Skills: a.Skills,
			Weight: a.Weight, MaxSessions: a.MaxSessions, KfAccount: a.KfAccount}); field != "" {
			p.add(key+field, "%s", why)
		}
		switch a.Role {
		case "", "agent", "supervisor", "admin":
		default:
			p.add(key+"role", "must be agent, supervisor or admin")
		}
		if n := utf8.RuneCountInString(a.Password); a.Password != "" && (n < 8 || n > 256) {
			p.add(key+"password", "must be 8 to 256 characters")
		}
	}
}

// checkAESKey returns what is wrong with an EncodingAESKey, or "".
func checkAESKey(k string) string {
	switch {
	case len(k) != aesKeyLen:
		return fmt.Sprintf("must be %d characters", aesKeyLen)
	case !reAlnum.MatchString(k):
		return "must be letters and digits only"
	}
	if b, err := base64.StdEncoding.DecodeString(k + "="); err != nil || len(b) != 32 {
		return "must decode (base64) to 32 bytes"
	}
	return ""
}

// checkRedisURL returns what is wrong with a Redis URL, or "".
func checkRedisURL(s string) string {
	if _, err := url.Parse(s); err != nil {
		return badURL(s, "redis://[user:password@]host:port/db or rediss://…")
	}
	if _, err := redis.ParseURL(s); err != nil {
		return scrub(strings.TrimPrefix(err.Error(), "redis: "), s)
	}
	return ""
}

// checkPostgresURL returns what is wrong with a PostgreSQL URL, or "".
func checkPostgresURL(s string) string {
	if !strings.HasPrefix(s, "postgres://") && !strings.HasPrefix(s, "postgresql://") {
		return "must be a postgres:// or postgresql:// URL"
	}
	if _, err := url.Parse(s); err != nil {
		return badURL(s, "postgres://user:password@host:5432/db?sslmode=…")
	}
	if _, err := pgx.ParseConfig(s); err != nil {
		// "cannot parse `postgres://u:xxxxx@h/db`: invalid port (…)": keep
		// what is wrong, drop the echo of the URL.
		msg := err.Error()
		if rest, ok := strings.CutPrefix(msg, "cannot parse `"); ok {
			if _, after, ok := strings.Cut(rest, "`: "); ok {
				msg = after
			}
		}
		return scrub(msg, s)
	}
	return ""
}

// badURL describes a URL that net/url cannot parse. Its error is shown only
// when the URL holds no credentials, since it may quote part of them.
func badURL(s, want string) string {
	if _, err := url.Parse(s); err != nil && !strings.Contains(s, "@") && !strings.Contains(s, "password") {
		if ue, ok := err.(*url.Error); ok {
			return fmt.Sprintf("not a valid URL: %v (want %s)", ue.Err, want)
		}
	}
	return "not a valid URL (want " + want + ")"
}

// problems collects a Config's problems, one line each.
type problems []string

func (p *problems) add(key, format string, args ...any) {
	*p = append(*p, key+": "+fmt.Sprintf(format, args...))
}

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return joinLines(p)
}

// validateOutbox checks the sending limits, global and per account.
func (c *Config) validateOutbox(p *problems) {
	o := c.Outbox
	if o.Rate <= 0 || o.Rate > 10_000 {
		p.add("outbox.rate", "must be more than 0 and at most 10000 sends a second (got %g)", o.Rate)
	}
	if o.Burst < 1 || o.Burst > 10_000 {
		p.add("outbox.burst", "must be 1 to 10000 (got %d)", o.Burst)
	}
	if o.DailyQuota < -1 || o.DailyQuota == 0 {
		p.add("outbox.daily_quota", "must be the account's quota a day, or -1 not to count (got %d)", o.DailyQuota)
	}
	if o.Workers < 1 || o.Workers > 1000 {
		p.add("outbox.workers", "must be 1 to 1000 (got %d)", o.Workers)
	}
	for i, a := range c.Accounts {
		key := fmt.Sprintf("accounts[%d].", i)
		if a.SendRate < 0 || a.SendRate > 10_000 {
			p.add(key+"send_rate", "must be 0 (outbox.rate) to 10000 sends a second (got %g)", a.SendRate)
		}
		if a.DailyQuota < -1 {
			p.add(key+"daily_quota", "must be the account's quota a day, 0 for outbox.daily_quota or -1 not to count (got %d)", a.DailyQuota)
		}
	}
}

// checkWeChatAgents checks the keys of who answers the account's users.
func checkWeChatAgents(p *problems, key string, a Account) {
	switch a.Agents {
	case "", AgentsKfgate: // "" in a Config built in code: the default
		if a.TransferToKf {
			p.add(key+"transfer_to_kf", "is deprecated and means agents: wechat; it cannot go with agents: kfgate")
		}
	case AgentsWeChat:
	default:
		p.add(key+"agents", "must be kfgate or wechat (got %q)", a.Agents)
	}
	if a.KfHandover != "" && a.KfHandover != HandoverSession && a.KfHandover != HandoverPassive {
		p.add(key+"kf_handover", "must be session or passive (got %q)", a.KfHandover)
	}
	if a.KfMaxSessions < 0 || a.KfMaxSessions > 1000 {
		p.add(key+"kf_max_sessions", "must be 1 to 1000 (got %d)", a.KfMaxSessions)
	}
	seen := map[string]bool{}
	for j, k := range a.KfAccounts {
		kk := fmt.Sprintf("%skf_accounts[%d].", key, j)
		switch {
		case !reKfAccount.MatchString(k.Account):
			p.add(kk+"kf_account", "must be prefix@wechat-id: up to 10 letters, digits or '_', '@', up to 30 more (got %q)", k.Account)
		case seen[k.Account]:
			p.add(kk+"kf_account", "duplicate %q", k.Account)
		}
		seen[k.Account] = true
		if k.MaxSessions < 0 || k.MaxSessions > 1000 {
			p.add(kk+"max_sessions", "must be 0 (the account's kf_max_sessions) to 1000 (got %d)", k.MaxSessions)
		}
		if k.Weight < 0 || k.Weight > 1000 {
			p.add(kk+"weight", "must be 0 (1) to 1000 (got %d)", k.Weight)
		}
	}
}

// reKfAccount is a kf account's name, prefix@公众号微信号 (docs/wechat.md,
// "Customer-service API").
var reKfAccount = regexp.MustCompile(`^[A-Za-z0-9_]{1,10}@[A-Za-z0-9_-]{1,30}$`)

// validateSentinel checks redis.sentinel, set instead of redis.url.
func (c Config) validateSentinel(p *problems) {
	s := c.Redis.Sentinel
	if s.MasterName == "" {
		if len(s.Addresses) > 0 || s.Username != "" || s.Password != "" || s.SentinelPassword != "" || s.DB != 0 || s.TLS {
			p.add("redis.sentinel.master_name", "required when redis.sentinel is set: the name the sentinels monitor")
		}
		return
	}
	if c.Redis.URL != "" {
		p.add("redis.sentinel", "set redis.url or redis.sentinel, not both")
	}
	if len(s.Addresses) == 0 {
		p.add("redis.sentinel.addresses", "at least one sentinel host:port is required")
	}
	for i, a := range s.Addresses {
		if host, port, err := net.SplitHostPort(a); err != nil || host == "" {
			p.add(fmt.Sprintf("redis.sentinel.addresses[%d]", i), `must be host:port, such as "sentinel-1:26379" (got %q)`, truncate(a, 80))
		} else if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
			p.add(fmt.Sprintf("redis.sentinel.addresses[%d]", i), "port must be a number from 1 to 65535 (got %q)", truncate(port, 20))
		}
	}
	if s.DB < 0 {
		p.add("redis.sentinel.db", "must be 0 or more (got %d)", s.DB)
	}
}

// validateDebug checks debug.listen: a host:port, never on the public
// listener's port (two servers cannot share it, and profiles must not be
// served where WeChat and the agents connect).
func (c Config) validateDebug(p *problems) {
	if c.Debug.Listen == "" {
		return
	}
	_, port, err := net.SplitHostPort(c.Debug.Listen)
	if err != nil {
		p.add("debug.listen", `must be host:port, such as "127.0.0.1:6060" (got %q)`, truncate(c.Debug.Listen, 80))
		return
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		p.add("debug.listen", "port must be a number from 0 to 65535 (got %q)", truncate(port, 20))
		return
	}
	if _, public, err := net.SplitHostPort(c.Listen); err == nil && port == public && port != "0" {
		p.add("debug.listen", "must not use the port of listen (%s): the profiler is never served on the public port", c.Listen)
	}
}
