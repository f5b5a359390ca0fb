package kf

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits of an agent's settings, the same for the API and the
// configuration. They keep an agent's record and its routing view in
// Redis small (the skills are one comma-joined field, read at every
// assignment) and the numbers far from PostgreSQL's int range.
const (
	MaxAgentName  = 64   // characters
	MaxSkills     = 50   // skills per agent
	MaxSkill      = 32   // characters of one skill
	MaxWeight     = 1000 // for the weighted strategy
	MaxAgentLoad  = 1000 // max_sessions
	MaxAgentLists = 100  // accounts per agent
)

// CheckSkill returns why s cannot be a skill, or "": 1 to MaxSkill
// characters of the text rule, no white space and no comma (skills are
// stored comma-joined).
func CheckSkill(s string) string {
	switch {
	case s == "":
		return "is empty"
	case CheckText(s) != "":
		return CheckText(s)
	case utf8.RuneCountInString(s) > MaxSkill:
		return fmt.Sprintf("is longer than %d characters", MaxSkill)
	case strings.IndexFunc(s, func(r rune) bool { return r == ',' || unicode.IsSpace(r) || unicode.Is(unicode.Cf, r) }) >= 0:
		return "has a comma, a space or an invisible character"
	}
	return ""
}

// AgentProblem returns the first setting of a that breaks the limits (its
// JSON name) and why, or "", "". The id, the accounts' existence and
// the minimums are the caller's.
func AgentProblem(a Agent) (field, why string) {
	if why := CheckText(a.Name); why != "" {
		return "name", why
	}
	if utf8.RuneCountInString(a.Name) > MaxAgentName {
		return "name", fmt.Sprintf("is longer than %d characters", MaxAgentName)
	}
	if len(a.Skills) > MaxSkills {
		return "skills", fmt.Sprintf("has more than %d skills", MaxSkills)
	}
	seen := make(map[string]bool, len(a.Skills))
	for _, s := range a.Skills {
		if why := CheckSkill(s); why != "" {
			return "skills", fmt.Sprintf("%q %s", clip(s), why)
		}
		if seen[s] {
			return "skills", fmt.Sprintf("lists %q twice", s)
		}
		seen[s] = true
	}
	if len(a.Accounts) > MaxAgentLists {
		return "accounts", fmt.Sprintf("has more than %d accounts", MaxAgentLists)
	}
	seen = make(map[string]bool, len(a.Accounts))
	for _, acct := range a.Accounts {
		if seen[acct] {
			return "accounts", fmt.Sprintf("lists %q twice", clip(acct))
		}
		seen[acct] = true
	}
	if a.Weight > MaxWeight {
		return "weight", fmt.Sprintf("must be at most %d", MaxWeight)
	}
	if a.MaxSessions > MaxAgentLoad {
		return "max_sessions", fmt.Sprintf("must be at most %d", MaxAgentLoad)
	}
	if a.KfAccount != "" {
		if why := CheckKfAccount(a.KfAccount); why != "" {
			return "kf_account", why
		}
		if len(a.Accounts) != 1 {
			return "kf_account", "belongs to one official account: the agent must serve exactly one"
		}
	}
	return "", ""
}

// kfAccountRe is WeChat's form of a kf account: a prefix of at most 10
// letters, digits or underscores, '@', and the official account's WeChat
// ID (docs/wechat.md, "Customer-service API").
var kfAccountRe = regexp.MustCompile(`^[A-Za-z0-9_]{1,10}@[A-Za-z0-9_-]{1,30}$`)

// CheckKfAccount returns why s cannot be a kf account, or "".
func CheckKfAccount(s string) string {
	if !kfAccountRe.MatchString(s) {
		return "must be prefix@wechatid: 1 to 10 letters, digits or '_', '@', the account's WeChat ID"
	}
	return ""
}

// clip keeps a client's value short and printable in a reason.
func clip(s string) string {
	s = SafeText(s)
	if utf8.RuneCountInString(s) > 32 {
		s = string([]rune(s)[:32]) + "…"
	}
	return s
}
