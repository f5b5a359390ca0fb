package engine

import (
	"context"
)

// TagSource returns a user's WeChat tag ids (package customer: cached
// user/info).
type TagSource func(ctx context.Context, account, openid string) ([]int, error)

// tagSkills maps WeChat user tags to skills, per account
// (accounts[].tag_skills).
type tagSkills struct {
	skills map[string]map[int]string
	source TagSource
}

// SetTagSkills makes the user's WeChat tags a source of skills: a user
// message that names no skill (menu click, keyword) asks for the skill of
// the user's first tag that has one. Safe to call while the engine runs.
func (e *Engine) SetTagSkills(skills map[string]map[int]string, source TagSource) {
	e.tags.Store(&tagSkills{skills: skills, source: source})
}

// hasTagSkills reports whether account maps user tags to skills.
func (e *Engine) hasTagSkills(account string) bool {
	t := e.tags.Load()
	return t != nil && len(t.skills[account]) > 0
}

// tagSkill returns the skill the user's tags ask for, "" for none. A user
// whose tags cannot be read is routed without one.
func (e *Engine) tagSkill(ctx context.Context, account, openid string) string {
	t := e.tags.Load()
	if t == nil || len(t.skills[account]) == 0 {
		return ""
	}
	ids, err := t.source(ctx, account, openid)
	if err != nil {
		e.log.Warn("reading a user's tags for routing failed; routing without them", "account", account, "err", err)
		return ""
	}
	for _, id := range ids {
		if skill, ok := t.skills[account][id]; ok {
			return skill
		}
	}
	return ""
}
