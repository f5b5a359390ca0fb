// Package config loads kfgate's configuration: one YAML file (path from
// --config or KFGATE_CONFIG) overridden by KFGATE_… environment variables,
// validated as a whole so that every problem is reported, one line each.
package config

import "time"

// Config is the whole configuration. The yaml tags are a contract with the
// operators (README.md, "Configuration"); configs/kfgate.example.yaml
// documents every key.
type Config struct {
	Listen string `yaml:"listen"` // host:port of the HTTP server, default ":8080"

	// ShutdownTimeout bounds graceful shutdown: in-flight callbacks get this
	// long to finish after SIGTERM. Default 20s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// ShutdownDelay is how long /readyz answers 503 after SIGTERM before
	// the replica stops accepting, so that the load balancer sends new
	// requests elsewhere first. Default 5s (tests use 1ms).
	ShutdownDelay time.Duration `yaml:"shutdown_delay"`

	Log       Log       `yaml:"log"`
	Redis     Redis     `yaml:"redis"`
	Postgres  Postgres  `yaml:"postgres"`
	WeChat    WeChat    `yaml:"wechat"`
	Media     Media     `yaml:"media"`
	Intake    Intake    `yaml:"intake"`
	Engine    Engine    `yaml:"engine"`
	Scheduler Scheduler `yaml:"scheduler"`
	Accounts  []Account `yaml:"accounts"`
	Agents    []Agent   `yaml:"agents"`
	Admin     Admin     `yaml:"admin"`
	Server    Server    `yaml:"server"`
	Outbox    Outbox    `yaml:"outbox"`
	Archive   Archive   `yaml:"archive"`
	Debug     Debug     `yaml:"debug"`
}

// Debug is what helps a person find out what a replica is doing.
type Debug struct {
	// Listen is the host:port of a second HTTP server that serves Go's
	// profiler (net/http/pprof) at /debug/pprof/; empty (default) = off.
	// Never the public listener's port: profiles show the process's
	// internals, so keep it on loopback or a private network.
	Listen string `yaml:"listen"`
}

// Scheduler configures the timed work every replica runs: idle warnings
// and closes, the presence sweep, the transfer-after rule.
type Scheduler struct {
	// Every is how often each job looks for due work. Default 1s.
	Every time.Duration `yaml:"every"`
	// KfPoll is how often the online kf accounts of each wechat-mode
	// account are read (getonlinekflist), once for the whole cluster.
	// Default 10s.
	KfPoll time.Duration `yaml:"kf_poll"`
}

// Engine configures the conversation engine: routing, sessions, queues.
type Engine struct {
	// Strategy is how an account picks among its agents unless the account
	// names its own: consistent_hash (default), least_loaded, round_robin
	// or weighted.
	Strategy string `yaml:"strategy"`
	// IntakeOnly makes this replica answer callbacks and the API but leave
	// the conversations (the intake stream) to the other replicas: a
	// callback tier scaled apart from the engine. Default false.
	IntakeOnly   bool          `yaml:"intake_only"`
	ContextSize  int           `yaml:"context_size"`  // messages replayed on transfer; default 20
	IdleTimeout  time.Duration `yaml:"idle_timeout"`  // a session without a user message closes; default 30m
	WarnBefore   time.Duration `yaml:"warn_before"`   // the user is warned this long before; default 5m
	ReturnWindow time.Duration `yaml:"return_window"` // a returning user goes back to the last agent; default 24h
	OfflineAfter time.Duration `yaml:"offline_after"` // an agent silent this long goes offline; default 90s
	QueueLimit   int           `yaml:"queue_limit"`   // users per queue; 0 = no limit
	// TransferAfter moves a session one agent has served this long to the
	// least loaded other agent with room; 0 = never. Default 0.
	TransferAfter time.Duration `yaml:"transfer_after"`
	// TransferKeywords: a user message that is exactly one of them asks for
	// another agent. Default 转人工, 人工.
	TransferKeywords []string `yaml:"transfer_keywords"`
	Notices          Notices  `yaml:"notices"`
	Survey           Survey   `yaml:"survey"`
	// MaxDeliveries is how many times an intake entry is delivered (its
	// handling failed, or killed its replica) before it goes to the
	// dead-letter stream; default 5.
	MaxDeliveries int `yaml:"max_deliveries"`
	// RetryAfter is how long an intake entry whose handling failed waits
	// before it is delivered again (to this replica or another). Default 30s.
	RetryAfter time.Duration `yaml:"retry_after"`

	// QueueUpdates tells a waiting user their new place when it improved.
	QueueUpdates QueueUpdates `yaml:"queue_updates"`
	// QueueTimeout ends a wait this long with notices.queue_timeout (or,
	// with LeaveMessage, notices.leave_message); 0 = never. Default 0.
	QueueTimeout time.Duration `yaml:"queue_timeout"`
	// LeaveMessage: a user whose wait reached queue_timeout stays in the
	// queue, no longer timed, and what they write is kept for the next
	// agent. Default false: the session closes.
	LeaveMessage bool `yaml:"leave_message"`
	// ReplySLA is how long an agent may owe the user an answer before the
	// session is overdue; 0 = no limit.
	ReplySLA ReplySLA `yaml:"reply_sla"`
	// OverdueTransferAfter moves an overdue session to another agent (or
	// the front of its queue) this long after it became overdue; 0 = never.
	OverdueTransferAfter time.Duration `yaml:"overdue_transfer_after"`
	// ReassignAfter is how long an agent that went offline has to come
	// back before its users are transferred. Default 2m.
	ReassignAfter time.Duration `yaml:"reassign_after"`
	// NoAgentEvery is how often one user may get notices.no_agent. Default 10m.
	NoAgentEvery time.Duration `yaml:"no_agent_every"`
	// Greeting is sent to the user when an agent takes the session;
	// "{agent}" is the agent's name. Empty (default): none.
	Greeting string `yaml:"greeting"`
	// MinRating: an agent whose satisfaction score (1–5) is below it gets
	// a new user only when no other agent can take them. 0 = off.
	MinRating float64 `yaml:"min_rating"`
	// RatingWindow is how many of an agent's latest survey answers its
	// score averages. Default 20.
	RatingWindow int `yaml:"rating_window"`
}

// QueueUpdates says when a waiting user hears their place again.
type QueueUpdates struct {
	// Places: told again once their place improved by this many. 0 = off. Default 5.
	Places int `yaml:"places"`
	// Every: told again this long after the last notice, if their place
	// improved at all. 0 = off. Default 10m.
	Every time.Duration `yaml:"every"`
}

// ReplySLA is how long the agent may owe an answer.
type ReplySLA struct {
	First time.Duration `yaml:"first"` // the session's first answer; 0 = no limit (default)
	Next  time.Duration `yaml:"next"`  // every later answer; 0 = no limit (default)
}

// Survey is the satisfaction survey sent when a session closes: a menu of
// choices (WeChat's msgmenu) the user clicks; the click is recorded
// against the session. No choices: no survey.
type Survey struct {
	Head    string   `yaml:"head"`
	Choices []string `yaml:"choices"` // "id=text", ids numeric (WeChat keeps them reliably)
	Tail    string   `yaml:"tail"`
}

// Notices are the automatic messages to users. kfgate sends one only while
// it leaves the user's reply units that the agent needs (WeChat allows 5
// sends per user message).
type Notices struct {
	Queued       string `yaml:"queued"`        // "{ahead}" and "{position}" are replaced
	QueuedNext   string `yaml:"queued_next"`   // instead of queued when nobody is ahead
	QueueUpdate  string `yaml:"queue_update"`  // a better place: "{ahead}", "{position}"
	QueueFull    string `yaml:"queue_full"`    // the queue is at queue_limit
	QueueTimeout string `yaml:"queue_timeout"` // the wait reached queue_timeout; "{minutes}"
	LeaveMessage string `yaml:"leave_message"` // the same with leave_message; "{minutes}"
	OffHours     string `yaml:"off_hours"`     // outside the account's business hours
	NoAgent      string `yaml:"no_agent"`      // no agent online; "{hours}" = business hours
	IdleWarning  string `yaml:"idle_warning"`  // warn_before an idle close; "{minutes}"
	IdleClosed   string `yaml:"idle_closed"`   // the session closed for idleness; "{minutes}"
}

// Agent is a person who answers users, declared in the file (small teams,
// demos). Agents become available when they come online.
type Agent struct {
	ID          string   `yaml:"id"`
	Name        string   `yaml:"name"`
	Accounts    []string `yaml:"accounts"` // appids it serves
	Skills      []string `yaml:"skills"`
	Weight      int      `yaml:"weight"`       // for the weighted strategy; default 1
	MaxSessions int      `yaml:"max_sessions"` // default 5
	// Role is agent (default), supervisor or admin.
	Role string `yaml:"role"`
	// KfAccount is the WeChat kf account (prefix@wechatid) the agent's
	// replies are sent as; the agent must then serve exactly one account.
	KfAccount string `yaml:"kf_account"`
	// Password is the first console password, set while the person has
	// none (demos; in production people get theirs from an admin).
	Password string `yaml:"password"`
}

// Log configures the process log.
type Log struct {
	Level  string `yaml:"level"`  // debug, info (default), warn, error
	Format string `yaml:"format"` // json (default) or text
}

// Redis is where all shared state lives.
type Redis struct {
	// URL is redis://[user:pass@]host:port/db or rediss://…; empty starts
	// an embedded Redis-protocol server in the process (one replica, nothing
	// kept across restarts).
	URL string `yaml:"url"`
	// Prefix starts every key kfgate writes, default "kfgate:". Two kfgate
	// deployments can share one Redis with different prefixes.
	Prefix string `yaml:"prefix"`
	// Sentinel finds the primary through Redis Sentinel and follows it
	// across failovers; set it or URL, not both.
	Sentinel Sentinel `yaml:"sentinel"`
	// MinReplicasAck is how many replicas must hold a callback's record
	// (Redis WAIT) before WeChat is told "success"; fewer within
	// MinReplicasAckTimeout and the callback is answered 503, so WeChat
	// retries. 0 (default) = off: a failover may lose the records of the
	// last moments before it (docs/architecture.md, "Failover").
	MinReplicasAck int `yaml:"min_replicas_ack"`
	// MinReplicasAckTimeout bounds that wait. Default 1s.
	MinReplicasAckTimeout time.Duration `yaml:"min_replicas_ack_timeout"`
}

// Sentinel names a primary watched by Redis Sentinel.
type Sentinel struct {
	MasterName string   `yaml:"master_name"` // the name the sentinels monitor
	Addresses  []string `yaml:"addresses"`   // host:port of sentinels; one is enough, all is better
	// Username and Password log in to the primary and its replicas (ACL
	// user, requirepass); DB is the database number.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	DB       int    `yaml:"db"`
	// SentinelPassword logs in to the sentinels themselves, when they
	// have a password of their own (requirepass in sentinel.conf).
	SentinelPassword string `yaml:"sentinel_password"`
	// TLS speaks TLS to the sentinels and to the primary and replicas
	// they name, each verified against its host name.
	TLS bool `yaml:"tls"`
}

// Postgres is the archive. Empty URL: archive off.
type Postgres struct {
	URL string `yaml:"url"`
	// SkipMigrations leaves the schema alone on serve; then run
	// `kfgate migrate` before starting a new version.
	SkipMigrations bool `yaml:"skip_migrations"`
}

// WeChat configures calls to WeChat's API.
type WeChat struct {
	APIBase string `yaml:"api_base"` // default https://api.weixin.qq.com
}

// Intake configures the callback endpoint /wechat/{appid}.
type Intake struct {
	// DedupTTL is how long a delivery is remembered to drop WeChat's
	// retries (up to 4 deliveries over ≈20 s). Default 5m, at least 60s.
	DedupTTL time.Duration `yaml:"dedup_ttl"`
	// Timeout bounds the work for one callback (Redis included), well
	// inside WeChat's 5-second budget. Default 3s.
	Timeout time.Duration `yaml:"timeout"`
	// MaxClockSkew is how far a callback's timestamp may be from this
	// replica's clock; a callback outside it is refused (403), so that a
	// callback URL seen once cannot be replayed later. Default 5m.
	MaxClockSkew time.Duration `yaml:"max_clock_skew"`
}

// Account is one official account (公众号) whose server URL points at kfgate.
type Account struct {
	AppID  string `yaml:"appid"`
	Name   string `yaml:"name"`    // shown to agents and in logs; default the appid
	Secret string `yaml:"secret"`  // AppSecret, for access tokens
	Token  string `yaml:"token"`   // the server-config Token: 3–32 letters or digits
	AESKey string `yaml:"aes_key"` // EncodingAESKey, 43 characters; empty = plaintext mode only
	// Mode is the message encryption mode (消息加解密方式) set for the account
	// in WeChat's console, which decides the callbacks kfgate accepts: safe
	// (encrypted only), compatible (encrypted or plaintext, while switching)
	// or plaintext. Default safe with an aes_key, plaintext without.
	Mode string `yaml:"mode"`

	// Agents says who answers the account's users: kfgate (its own agents,
	// in the console or the API; the default) or wechat (the account's
	// customer-service accounts, 客服账号, in WeChat's own tool: kfgate
	// routes among those online and hands the user over; README.md,
	// "Agents in kfgate or in WeChat").
	Agents string `yaml:"agents"`
	// KfHandover is how a wechat-mode user is handed to the chosen kf
	// account: session (kfsession/create, the default) or passive (a
	// transfer_customer_service reply naming it, when kfgate already chose).
	KfHandover string `yaml:"kf_handover"`
	// KfMaxSessions is how many sessions one kf account takes before
	// others get new users (its capacity for routing); default 5.
	KfMaxSessions int `yaml:"kf_max_sessions"`
	// KfAccounts give single kf accounts their own capacity, weight and
	// skills; the others get kf_max_sessions, weight 1 and no skill.
	KfAccounts []KfAccount `yaml:"kf_accounts"`

	// TransferToKf is deprecated: it means agents: wechat with
	// kf_handover: passive, and logs a warning at start. It goes in the
	// next release.
	TransferToKf bool `yaml:"transfer_to_kf"`

	// SendRate and DailyQuota override outbox.rate and outbox.daily_quota
	// for this account (its quota grows with its followers); 0 = global.
	SendRate   float64 `yaml:"send_rate"`
	DailyQuota int     `yaml:"daily_quota"`

	Strategy string `yaml:"strategy"` // overrides engine.strategy for this account
	// BusinessHours such as "mon-fri 09:00-18:00" in TimeZone (default
	// Asia/Shanghai); none = always open.
	BusinessHours []string `yaml:"business_hours"`
	TimeZone      string   `yaml:"time_zone"`
	// MenuSkills maps a menu button's key to the skill it asks for, as
	// "KEY=skill"; a click on it opens a session with an agent of that skill.
	MenuSkills []string `yaml:"menu_skills"`
	// KeywordSkills maps a word in the user's message to a skill, "word=skill".
	KeywordSkills []string `yaml:"keyword_skills"`
	// TagSkills maps a WeChat user tag to a skill, "tagid=skill": a user
	// with the tag asks for the skill when nothing else named one.
	TagSkills []string `yaml:"tag_skills"`
	// Notices, Greeting and Survey override engine.notices, engine.greeting
	// and engine.survey for this account, field by field; empty = global.
	Notices  Notices `yaml:"notices"`
	Greeting string  `yaml:"greeting"`
	Survey   Survey  `yaml:"survey"`
}

// KfAccount is the routing view of one of WeChat's customer-service
// accounts of a wechat-mode account.
type KfAccount struct {
	Account     string   `yaml:"kf_account"`   // prefix@公众号微信号
	MaxSessions int      `yaml:"max_sessions"` // 0 = the account's kf_max_sessions
	Weight      int      `yaml:"weight"`       // for the weighted strategy; 0 = 1
	Skills      []string `yaml:"skills"`
}

// Media configures the keeping of the media users send.
type Media struct {
	// FFmpeg is the path of an ffmpeg binary that turns voice messages
	// into mp3 or wav for browsers; empty = download only.
	FFmpeg string `yaml:"ffmpeg"`
	// TTL is how long media kept in Redis (no PostgreSQL) lives. Default 168h.
	TTL time.Duration `yaml:"ttl"`
}

// Admin configures the admin API.
type Admin struct {
	Tokens []string `yaml:"tokens"` // bearer tokens for /api/v1 admin calls
	// MaxAuthFailures is how many refused credentials one client address
	// may have in a minute before its API calls get 429. Default 20.
	MaxAuthFailures int `yaml:"max_auth_failures"`
}

// Server is the HTTP server's trust of its peers.
type Server struct {
	// TrustedProxies are the CIDRs of the proxies (Nginx) whose X-Real-IP
	// or X-Forwarded-For names the client; from any other peer the headers
	// are ignored. Default loopback only: 127.0.0.0/8 and ::1/128.
	TrustedProxies []string `yaml:"trusted_proxies"`
}

// Outbox is the outbox worker's limits.
type Outbox struct {
	// MaxDeliveries is how many more times an entry is taken up after its
	// last retry, its final state never recorded, before it goes to the
	// dead-letter stream; default 5.
	MaxDeliveries int `yaml:"max_deliveries"`
	// Rate is the custom/send calls per second each account may make,
	// shared by every replica, and Burst how many may go back to back.
	// WeChat publishes no per-second limit, only a daily quota and an
	// unpublished minute-level one (docs/wechat.md, "API quotas"). Default
	// 200 and 20; accounts[].send_rate overrides the rate.
	Rate  float64 `yaml:"rate"`
	Burst int     `yaml:"burst"`
	// DailyQuota is each account's custom/send quota a day (China time):
	// 500,000 for a new account, more with followers, as WeChat's console
	// shows. kfgate counts its sends and parks the account's messages
	// until midnight once they reach it. -1: not counted (WeChat's 45009
	// still parks them). Default 500000; accounts[].daily_quota overrides it.
	DailyQuota int `yaml:"daily_quota"`
	// Workers is how many sends each replica makes at once. Default 16.
	Workers int `yaml:"workers"`
}

// Archive is the archive writer's limits.
type Archive struct {
	// MaxDeliveries is how many times an event is delivered (or a batch
	// holding it refused by PostgreSQL) before it goes to the dead-letter
	// stream; default 5.
	MaxDeliveries int `yaml:"max_deliveries"`
	// Retention is how long the archive keeps history: months of messages
	// and transitions entirely older go (their partitions are dropped), and
	// sessions, notes and media older than it. 0 (the default) keeps
	// everything. The audit log is not subject to it.
	Retention Period `yaml:"retention"`
	// ImportEvery is how often the transcripts of WeChat's kf accounts are
	// imported from msgrecord/getmsglist (one run per period for the whole
	// cluster), for the accounts with agents: wechat and those where an
	// agent has a kf_account; default
	// 5m, at least 10s. Needs PostgreSQL.
	ImportEvery time.Duration `yaml:"import_every"`
}
