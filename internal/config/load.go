package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Defaults for keys left unset in both the file and the environment.
const (
	DefaultListen          = ":8080"
	DefaultShutdownTimeout = 20 * time.Second
	DefaultShutdownDelay   = 5 * time.Second
	DefaultLogLevel        = "info"
	DefaultLogFormat       = "json"
	DefaultRedisPrefix     = "kfgate:"
	DefaultAPIBase         = "https://api.weixin.qq.com"
	DefaultDedupTTL        = 5 * time.Minute
	DefaultIntakeTimeout   = 3 * time.Second
	DefaultMaxClockSkew    = 5 * time.Minute
)

// Load reads the YAML file at path (none if path is ""), applies the
// KFGATE_… variables of environ (their values read with getenv), fills in
// the defaults and validates the result.
//
// The error, if any, has one line per problem: first the file's (syntax,
// unknown keys, values of the wrong type, each naming the file and the line),
// then the environment's; only when both are clean is the result validated,
// so that a misspelt key is reported as such and not also as a missing value.
// A file that cannot be read is reported alone (errors.Is(err,
// fs.ErrNotExist) works). No line ever carries a secret, a token, a key or a
// URL's password.
func Load(path string, getenv func(string) string, environ []string) (*Config, error) {
	var (
		c       Config
		fileErr error
	)
	if path != "" {
		fileErr = decodeFile(path, &c)
		var pathErr *fs.PathError
		if errors.As(fileErr, &pathErr) {
			return nil, fileErr // unreadable: nothing else is worth saying
		}
	}
	return finish(&c, fileErr, getenv, environ)
}

// finish applies the environment to c decoded with fileErr, then the
// defaults, then validates.
func finish(c *Config, fileErr error, getenv func(string) string, environ []string) (*Config, error) {
	problems := applyEnv(c, getenv, environ)
	if fileErr != nil || len(problems) > 0 {
		return nil, errors.Join(fileErr, joinLines(problems))
	}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// SetDefaults fills every unset key with its default. Load calls it; a
// Config built in code (a test's, say) can too, before Validate.
func (c *Config) SetDefaults() {
	setDefault(&c.Listen, DefaultListen)
	setDefault(&c.ShutdownTimeout, DefaultShutdownTimeout)
	setDefault(&c.ShutdownDelay, DefaultShutdownDelay)
	setDefault(&c.Log.Level, DefaultLogLevel)
	setDefault(&c.Log.Format, DefaultLogFormat)
	setDefault(&c.Redis.Prefix, DefaultRedisPrefix)
	setDefault(&c.Redis.MinReplicasAckTimeout, time.Second)
	if len(c.Redis.Sentinel.Addresses) == 0 {
		c.Redis.Sentinel.Addresses = nil // "addresses: []" in a file is unset too
	}
	setDefault(&c.WeChat.APIBase, DefaultAPIBase)
	// Callers append paths such as "/cgi-bin/token" to the base.
	c.WeChat.APIBase = strings.TrimRight(c.WeChat.APIBase, "/")
	setDefault(&c.Media.TTL, 7*24*time.Hour)
	setDefault(&c.Intake.DedupTTL, DefaultDedupTTL)
	setDefault(&c.Intake.Timeout, DefaultIntakeTimeout)
	setDefault(&c.Intake.MaxClockSkew, DefaultMaxClockSkew)
	for i := range c.Accounts {
		a := &c.Accounts[i]
		setDefault(&a.Name, a.AppID)
		if a.TransferToKf {
			// The deprecated key: the passive hand-over it always was.
			setDefault(&a.Agents, AgentsWeChat)
			setDefault(&a.KfHandover, HandoverPassive)
		}
		setDefault(&a.Agents, AgentsKfgate)
		setDefault(&a.KfHandover, HandoverSession)
		setDefault(&a.KfMaxSessions, 5)
		if a.AESKey != "" {
			setDefault(&a.Mode, ModeSafe)
		} else {
			setDefault(&a.Mode, ModePlaintext)
		}
	}
	setDefault(&c.Admin.MaxAuthFailures, 20)
	if c.Server.TrustedProxies == nil {
		c.Server.TrustedProxies = []string{"127.0.0.0/8", "::1/128"}
	}
	setDefault(&c.Engine.MaxDeliveries, 5)
	setDefault(&c.Outbox.MaxDeliveries, 5)
	setDefault(&c.Outbox.Rate, 200)
	setDefault(&c.Outbox.Burst, 20)
	setDefault(&c.Outbox.DailyQuota, 500_000)
	setDefault(&c.Outbox.Workers, 16)
	setDefault(&c.Archive.MaxDeliveries, 5)
	setDefault(&c.Archive.ImportEvery, 5*time.Minute)
	setDefault(&c.Scheduler.Every, time.Second)
	setDefault(&c.Scheduler.KfPoll, 10*time.Second)
	e := &c.Engine
	setDefault(&e.Strategy, DefaultStrategy)
	setDefault(&e.ContextSize, 20)
	setDefault(&e.IdleTimeout, 30*time.Minute)
	setDefault(&e.WarnBefore, 5*time.Minute)
	setDefault(&e.ReturnWindow, 24*time.Hour)
	setDefault(&e.OfflineAfter, 90*time.Second)
	if e.TransferKeywords == nil {
		e.TransferKeywords = []string{"转人工", "人工"}
	}
	n := &e.Notices
	setDefault(&e.RetryAfter, 30*time.Second)
	setDefault(&e.QueueUpdates.Places, 5)
	setDefault(&e.QueueUpdates.Every, 10*time.Minute)
	setDefault(&e.ReassignAfter, 2*time.Minute)
	setDefault(&e.NoAgentEvery, 10*time.Minute)
	setDefault(&e.RatingWindow, 20)
	setDefault(&n.Queued, DefaultNotices.Queued)
	setDefault(&n.QueuedNext, DefaultNotices.QueuedNext)
	setDefault(&n.QueueUpdate, DefaultNotices.QueueUpdate)
	setDefault(&n.QueueFull, DefaultNotices.QueueFull)
	setDefault(&n.QueueTimeout, DefaultNotices.QueueTimeout)
	setDefault(&n.LeaveMessage, DefaultNotices.LeaveMessage)
	setDefault(&n.OffHours, DefaultNotices.OffHours)
	setDefault(&n.NoAgent, DefaultNotices.NoAgent)
	setDefault(&n.IdleWarning, DefaultNotices.IdleWarning)
	setDefault(&n.IdleClosed, DefaultNotices.IdleClosed)
	if e.Survey.Choices == nil {
		e.Survey.Choices = []string{"101=满意", "102=一般", "103=不满意"}
	}
	setDefault(&e.Survey.Head, "您对本次服务满意吗？")
	setDefault(&e.Survey.Tail, "感谢您的评价。")
	for i := range c.Agents {
		a := &c.Agents[i]
		setDefault(&a.Name, a.ID)
		setDefault(&a.Weight, 1)
		setDefault(&a.MaxSessions, 5)
	}
}

// DefaultNotices are the notices of a configuration that sets none.
var DefaultNotices = Notices{
	Queued:       "客服繁忙，您前面还有 {ahead} 位用户，请稍候。",
	QueuedNext:   "客服繁忙，您是下一位，请稍候。",
	QueueUpdate:  "您前面还有 {ahead} 位用户，请继续稍候。",
	QueueFull:    "当前咨询人数较多，请稍后再试。",
	QueueTimeout: "抱歉，您已等待 {minutes} 分钟仍无客服接入，请稍后再试。",
	LeaveMessage: "抱歉，您已等待 {minutes} 分钟仍无客服接入。请留言，客服接入后会第一时间回复您。",
	OffHours:     "现在是非工作时间，我们上班后会尽快回复您。",
	NoAgent:      "当前无客服在线，您已进入排队，客服上线后会第一时间回复您。",
	IdleWarning:  "您已经有一段时间没有回复，会话将在 {minutes} 分钟后结束。",
	IdleClosed:   "会话已结束，感谢您的咨询。",
}

// DefaultStrategy is the routing strategy of an account that names none.
const DefaultStrategy = "consistent_hash"

func setDefault[T comparable](p *T, def T) {
	var zero T
	if *p == zero {
		*p = def
	}
}

// decodeFile decodes the YAML file at path into c, strictly: a key that
// names no field is an error.
func decodeFile(path string, c *Config) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err // *fs.PathError: "open configs/x.yaml: no such file or directory"
	}
	return decodeData(path, data, c)
}

// decodeData decodes YAML data, read from path, into c.
func decodeData(path string, data []byte, c *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(c)
	if errors.Is(err, io.EOF) {
		return nil // an empty file: defaults and environment only
	}
	if err == nil {
		var extra yaml.Node
		if dec.Decode(&extra) == nil {
			line := extra.Line
			if len(extra.Content) > 0 {
				line = extra.Content[0].Line
			}
			return fmt.Errorf("%s: line %d: a second YAML document; the file must hold one", path, line)
		}
		return nil
	}
	var typeErr *yaml.TypeError
	if !errors.As(err, &typeErr) {
		// A syntax error: "yaml: line 3: mapping values are not allowed in this context".
		return fmt.Errorf("%s: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var doc yaml.Node
	_ = yaml.Unmarshal(data, &doc) // it decoded once; the tree only adds key paths to the lines
	ix := newNodeIndex(&doc)
	lines := make([]string, 0, len(typeErr.Errors))
	for _, e := range typeErr.Errors {
		lines = append(lines, path+": "+ix.rewrite(e))
	}
	return joinLines(lines)
}

// joinLines returns one error whose text is lines, one per line.
func joinLines(lines []string) error {
	errs := make([]error, len(lines))
	for i, l := range lines {
		errs[i] = errors.New(l)
	}
	return errors.Join(errs...)
}
