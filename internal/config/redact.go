package config

import (
	"cmp"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Mask stands in for every secret, token, key and URL password that
// Redacted, String and LogValue render.
const Mask = "***"

// Redacted returns a copy of c with every account's secret, token and
// aes_key, every admin token, every agent's password and every password in
// a URL replaced by Mask
// (an empty value stays empty, so the copy still shows what is unset).
func (c Config) Redacted() Config {
	r := c
	r.Redis.URL = redactURL(c.Redis.URL)
	r.Redis.Sentinel.Password = mask(c.Redis.Sentinel.Password)
	r.Redis.Sentinel.SentinelPassword = mask(c.Redis.Sentinel.SentinelPassword)
	r.Postgres.URL = redactURL(c.Postgres.URL)
	r.WeChat.APIBase = redactURL(c.WeChat.APIBase)
	r.Accounts = slices.Clone(c.Accounts)
	for i := range r.Accounts {
		a := &r.Accounts[i]
		a.Secret, a.Token, a.AESKey = mask(a.Secret), mask(a.Token), mask(a.AESKey)
	}
	r.Agents = slices.Clone(c.Agents)
	for i := range r.Agents {
		r.Agents[i].Password = mask(r.Agents[i].Password)
	}
	r.Admin.Tokens = slices.Clone(c.Admin.Tokens)
	for i := range r.Admin.Tokens {
		r.Admin.Tokens[i] = mask(r.Admin.Tokens[i])
	}
	return r
}

// String renders the redacted configuration as YAML, in the file's format.
// Being defined on the value, it also keeps fmt from printing a Config's
// secrets.
func (c Config) String() string {
	b, err := yaml.Marshal(c.Redacted())
	if err != nil {
		return "config: " + err.Error()
	}
	return string(b)
}

// LogValue logs the configuration redacted, one attribute per setting, and
// the accounts by appid.
func (c Config) LogValue() slog.Value {
	r := c.Redacted()
	appids := make([]string, len(r.Accounts))
	for i, a := range r.Accounts {
		appids[i] = a.AppID
	}
	return slog.GroupValue(
		slog.String("listen", r.Listen),
		slog.Duration("shutdown_timeout", r.ShutdownTimeout),
		slog.String("log_level", r.Log.Level),
		slog.String("log_format", r.Log.Format),
		slog.String("redis_url", r.Redis.URL),
		slog.String("redis_prefix", r.Redis.Prefix),
		slog.String("redis_sentinel_master", r.Redis.Sentinel.MasterName),
		slog.Any("redis_sentinel_addresses", r.Redis.Sentinel.Addresses),
		slog.Int("redis_min_replicas_ack", r.Redis.MinReplicasAck),
		slog.String("debug_listen", r.Debug.Listen),
		slog.String("postgres_url", r.Postgres.URL),
		slog.String("wechat_api_base", r.WeChat.APIBase),
		slog.Duration("intake_dedup_ttl", r.Intake.DedupTTL),
		slog.Duration("intake_timeout", r.Intake.Timeout),
		slog.Any("accounts", appids),
		slog.Int("admin_tokens", len(r.Admin.Tokens)),
	)
}

// String shows the account without its secret, token or key.
func (a Account) String() string {
	mode := "plaintext"
	if a.SafeMode() {
		mode = "safe mode"
	}
	return fmt.Sprintf("%s (%s, %s)", a.AppID, a.Name, mode)
}

// LogValue logs the account without its secret, token or key.
func (a Account) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("appid", a.AppID),
		slog.String("name", a.Name),
		slog.Bool("safe_mode", a.SafeMode()),
		slog.String("agents", a.Agents),
		slog.String("kf_handover", a.KfHandover),
		slog.Bool("transfer_to_kf", a.TransferToKf),
	)
}

func mask(s string) string {
	if s == "" {
		return ""
	}
	return Mask
}

// redactURL masks the password of a URL, in its userinfo and in any query
// parameter whose name holds "password" (pgx reads password= and
// sslpassword=). A URL too broken to parse that may hold one is masked whole.
func redactURL(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil {
		if strings.Contains(s, "@") || strings.Contains(strings.ToLower(s), "password") {
			return Mask
		}
		return s
	}
	if u.RawQuery != "" {
		params := strings.Split(u.RawQuery, "&")
		for i, kv := range params {
			k, _, ok := strings.Cut(kv, "=")
			if ok && isPasswordParam(k) {
				params[i] = k + "=" + Mask
			}
		}
		u.RawQuery = strings.Join(params, "&")
	}
	// URL.Redacted writes the userinfo password as "xxxxx"; a username
	// cannot hold an unescaped ':', so the first ":xxxxx@" is the password.
	if _, ok := u.User.Password(); ok {
		return strings.Replace(u.Redacted(), ":xxxxx@", ":"+Mask+"@", 1)
	}
	return u.String()
}

func isPasswordParam(rawKey string) bool {
	k, err := url.QueryUnescape(rawKey)
	if err != nil {
		k = rawKey
	}
	return strings.Contains(strings.ToLower(k), "password")
}

// scrub masks in msg, a library's error about rawURL, every form of the
// passwords that rawURL holds, for a library may quote the URL or part of it.
func scrub(msg, rawURL string) string {
	for _, p := range urlPasswords(rawURL) {
		msg = strings.ReplaceAll(msg, p, Mask)
	}
	return msg
}

// urlPasswords returns the passwords in rawURL, raw and unescaped, longest
// first, found by hand so as not to depend on the URL parsing cleanly.
func urlPasswords(rawURL string) []string {
	var raw []string
	if _, rest, ok := strings.Cut(rawURL, "://"); ok {
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if _, pw, ok := strings.Cut(rest[:at], ":"); ok {
				raw = append(raw, pw)
			}
		}
	}
	if _, query, ok := strings.Cut(rawURL, "?"); ok {
		query, _, _ = strings.Cut(query, "#")
		for kv := range strings.SplitSeq(query, "&") {
			if k, v, ok := strings.Cut(kv, "="); ok && isPasswordParam(k) {
				raw = append(raw, v)
			}
		}
	}
	var all []string
	for _, p := range raw {
		all = append(all, p)
		if u, err := url.PathUnescape(p); err == nil {
			all = append(all, u)
		}
		if u, err := url.QueryUnescape(p); err == nil {
			all = append(all, u)
		}
	}
	all = slices.DeleteFunc(all, func(s string) bool { return s == "" })
	slices.SortFunc(all, func(a, b string) int { return cmp.Or(len(b)-len(a), strings.Compare(a, b)) })
	return slices.Compact(all)
}
