package engine_test

import (
	"context"
	"sync"
	"testing"

	"github.com/kfgate/kfgate/internal/engine"
	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/redistest"
	"github.com/kfgate/kfgate/internal/routing"
)

// With accounts[].tag_skills, the user's tags decide the skill of a new
// session — and are read only then: a served session's messages cost no
// lookup (the profile cache's GET, or on a miss WeChat's user/info in the
// user's lane).
func TestTagSkillLookedUpOnlyForNewSessions(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := redistest.New(t)
	e := newEngine(rdb, prefix, routing.LeastLoaded)
	for _, a := range []kf.Agent{
		{ID: "plain", Accounts: []string{"wxprop"}, MaxSessions: 5, Status: kf.AgentOnline},
		{ID: "vipdesk", Accounts: []string{"wxprop"}, Skills: []string{"vip"}, MaxSessions: 5, Status: kf.AgentOnline},
	} {
		if err := e.PutAgent(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	lookups := map[string]int{}
	e.SetTagSkills(map[string]map[int]string{"wxprop": {101: "vip"}}, func(_ context.Context, _, openid string) ([]int, error) {
		mu.Lock()
		defer mu.Unlock()
		lookups[openid]++
		if openid == "vip1" {
			return []int{7, 101}, nil
		}
		return nil, nil
	})
	for _, user := range []string{"vip1", "other"} {
		for i := range 5 {
			if err := e.Handle(ctx, text("wxprop", user, i), engine.Entry{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for user, want := range map[string]string{"vip1": "vipdesk", "other": "plain"} {
		s, err := e.UserSession(ctx, "wxprop", user)
		if err != nil {
			t.Fatal(err)
		}
		if s.Agent != want || s.State != kf.StateServing {
			t.Errorf("%s: %s with %q, want serving with %s", user, s.State, s.Agent, want)
		}
	}
	if lookups["vip1"] != 1 || lookups["other"] != 1 {
		t.Errorf("tag lookups %v: want one per new session, none for the 4 later messages of each", lookups)
	}
}
