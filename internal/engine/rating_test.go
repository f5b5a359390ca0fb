package engine_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/engine"
	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/redistest"
	"github.com/kfgate/kfgate/internal/routing"
	"github.com/kfgate/kfgate/internal/session"
)

// The rating rule, under every strategy: an agent whose users answered the
// survey with the lowest choice scores 1, below engine.min_rating 3, and
// that answer flags the session for the supervisors. Of 20 new users over
// three agents of 5 sessions each, the low-rated agent gets users only once
// the other two are full.
func TestMinRating(t *testing.T) {
	for _, strategy := range []routing.Strategy{routing.ConsistentHash, routing.LeastLoaded, routing.RoundRobin, routing.Weighted} {
		t.Run(string(strategy), func(t *testing.T) {
			ctx := context.Background()
			rdb, prefix := redistest.New(t)
			opts := storeOpts
			opts.Survey = `{"head_content":"满意吗","list":[]}`
			e := engine.New(session.NewStore(rdb, prefix, opts), routing.NewRouter(routing.Options{}), rdb, prefix,
				engine.Config{Strategy: map[string]routing.Strategy{"wxs": strategy}, QueueNotice: "wait {ahead}",
					MinRating: 3, SurveyChoices: []string{"101", "102", "103"}},
				slog.New(slog.NewTextHandler(io.Discard, nil)))
			// "low" serves a user, who rates it with the lowest choice.
			putAgents(t, e, kf.Agent{ID: "low", MaxSessions: 5})
			if err := e.Handle(ctx, text("wxs", "rater", 1), engine.Entry{}); err != nil {
				t.Fatal(err)
			}
			if _, err := e.Close(ctx, "wxs", "rater", "", "agent:low", "done"); err != nil {
				t.Fatal(err)
			}
			answer := &kf.Message{Account: "wxs", OpenID: "rater", Type: kf.MsgText, Content: "不满意", BizMsgMenuID: "103", MsgID: "2"}
			if err := e.Handle(ctx, answer, engine.Entry{}); err != nil {
				t.Fatal(err)
			}
			if n := countEvents(rdb, prefix, "session.flagged"); n != 1 {
				t.Errorf("%d sessions flagged, want 1", n)
			}
			if n := counterValue(t, rdb, prefix, "kfgate_sessions_flagged_total"); n != 1 {
				t.Errorf("kfgate_sessions_flagged_total = %v, want 1", n)
			}
			agents, err := e.Agents(ctx)
			if err != nil || len(agents) != 1 || agents[0].Rating != 1 {
				t.Fatalf("agents %+v (%v), want low rated 1", agents, err)
			}
			rdb.Del(ctx, prefix+"last:wxs:rater", prefix+"events")

			putAgents(t, e, kf.Agent{ID: "good1", MaxSessions: 5}, kf.Agent{ID: "good2", MaxSessions: 5})
			for i := range 20 {
				if err := e.Handle(ctx, text("wxs", fmt.Sprintf("u%02d", i), 10+i), engine.Entry{}); err != nil {
					t.Fatal(err)
				}
			}
			load := map[string]int{}
			for i, a := range assignments(t, rdb, prefix) {
				if a.Agent == "low" && (load["good1"] < 5 || load["good2"] < 5) {
					t.Errorf("assignment %d went to low while good1 had %d and good2 %d of 5", i, load["good1"], load["good2"])
				}
				load[a.Agent]++
			}
			if load["good1"] != 5 || load["good2"] != 5 || load["low"] != 5 {
				t.Errorf("loads %v, want 5 each", load)
			}
			if q, _ := e.Queue(ctx, "wxs", ""); len(q) != 5 {
				t.Errorf("%d waiting, want 5", len(q))
			}
		})
	}
}

// counterValue reads a counter of the engine's collector.
func counterValue(t *testing.T, rdb *redis.Client, prefix, name string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(engine.NewCollector(session.NewStore(rdb, prefix, storeOpts)))
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			return f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("%s not collected", name)
	return 0
}
