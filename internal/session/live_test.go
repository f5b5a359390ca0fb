package session_test

import (
	"context"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/redistest"
	"github.com/kfgate/kfgate/internal/session"
)

// liveFixture opens n sessions: user u<i> of account wxlive<i%2> writes at
// t0 + i seconds; the first `served` are assigned to agents (one session
// each), the rest wait.
func liveFixture(tb testing.TB, rdb *redis.Client, prefix string, n, served int) *session.Store {
	tb.Helper()
	ctx := context.Background()
	store := session.NewStore(rdb, prefix, opts)
	for i := range served {
		id := "ag" + strconv.Itoa(i)
		if err := store.PutAgent(ctx, kf.Agent{ID: id, Accounts: []string{"wxlive0", "wxlive1"}, MaxSessions: 1, Status: kf.AgentOnline}, t0); err != nil {
			tb.Fatal(err)
		}
	}
	for i := range n {
		proposed := ""
		if i < served {
			proposed = "ag" + strconv.Itoa(i)
		}
		_, err := store.Inbound(ctx, session.Inbound{Account: "wxlive" + strconv.Itoa(i%2), OpenID: "u" + strconv.Itoa(i),
			Now: t0.Add(time.Duration(i) * time.Second), SessionID: "s" + strconv.Itoa(i), Proposed: proposed,
			Message: []byte(`{"type":"text"}`), Preview: []byte(`{"direction":"in","author":"user","type":"text","text":"hi","at":1}`),
			QuotaGrant: 5, QuotaWindow: 48 * time.Hour})
		if err != nil {
			tb.Fatal(err)
		}
	}
	return store
}

func ids(p session.LivePage) []string {
	var out []string
	for _, s := range p.Sessions {
		out = append(out, s.ID)
	}
	return out
}

// The live list: the served sessions by activity, newest first, then the
// queued ones in the order they will be taken, merged across the queues;
// filtered, paged by cursor without losing or repeating a session; closed
// sessions leave it.
func TestListLive(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := redistest.New(t)
	store := liveFixture(t, rdb, prefix, 7, 3) // s0..s2 serving, s3..s6 waiting (two accounts, two queues)
	now := t0.Add(time.Minute)
	tests := []struct {
		name string
		f    session.LiveFilter
		want []string
	}{
		{"all", session.LiveFilter{}, []string{"s2", "s1", "s0", "s3", "s4", "s5", "s6"}},
		{"waiting", session.LiveFilter{State: kf.StateWaiting}, []string{"s3", "s4", "s5", "s6"}},
		{"serving of one account", session.LiveFilter{State: kf.StateServing, Account: "wxlive0"}, []string{"s2", "s0"}},
		{"one account", session.LiveFilter{Account: "wxlive1"}, []string{"s1", "s3", "s5"}},
		{"an agent", session.LiveFilter{Agent: "ag1"}, []string{"s1"}},
		{"an agent, the wrong account", session.LiveFilter{Agent: "ag1", Account: "wxlive0"}, nil},
		{"an agent, serving", session.LiveFilter{Agent: "ag1", State: kf.StateServing}, []string{"s1"}},
		{"an agent, waiting", session.LiveFilter{Agent: "ag1", State: kf.StateWaiting}, nil},
		{"nobody", session.LiveFilter{Account: "wxnone"}, nil},
	}
	for _, tt := range tests {
		p, err := store.ListLive(ctx, tt.f, now)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids(p), tt.want) || p.Total != 7 {
			t.Errorf("%s: %v (total %d), want %v", tt.name, ids(p), p.Total, tt.want)
		}
		queued := 4 // s3..s6, two of each account
		if tt.f.Account == "wxnone" {
			queued = 0
		} else if tt.f.Account != "" {
			queued = 2
		}
		if p.Queued != queued {
			t.Errorf("%s: %d queued, want %d", tt.name, p.Queued, queued)
		}
	}
	// Pages, with a filter and a small budget too, still add up to the
	// list, across the served part and the queues.
	walk := func(f session.LiveFilter) []string {
		var all []string
		for pages := 0; pages < 20; pages++ {
			p, err := store.ListLive(ctx, f, now)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, ids(p)...)
			if p.Next == "" {
				break
			}
			f.Cursor = p.Next
		}
		return all
	}
	for _, f := range []session.LiveFilter{{Limit: 1}, {Limit: 2}, {Limit: 3}, {Limit: 1, Budget: 1}} {
		if all, want := walk(f), []string{"s2", "s1", "s0", "s3", "s4", "s5", "s6"}; !slices.Equal(all, want) {
			t.Errorf("pages of %+v: %v, want %v", f, all, want)
		}
	}
	if all, want := walk(session.LiveFilter{Limit: 1, State: kf.StateWaiting, Budget: 1}), []string{"s3", "s4", "s5", "s6"}; !slices.Equal(all, want) {
		t.Errorf("pages of the waiting: %v, want %v", all, want)
	}
	// A transfer to the front of a queue (its agent left) lists the
	// session first among the queued, and no longer among the served.
	if _, err := store.TransferFront(ctx, "wxlive1", "u1", "", "", "admin", "agent left", true, now); err != nil {
		t.Fatal(err)
	}
	if all, want := walk(session.LiveFilter{Limit: 2}), []string{"s2", "s0", "s1", "s3", "s4", "s5", "s6"}; !slices.Equal(all, want) {
		t.Errorf("after moving s1 to the front: %v, want %v", all, want)
	}
	if p, _ := store.ListLive(ctx, session.LiveFilter{State: kf.StateTransferring}, now); !slices.Equal(ids(p), []string{"s1"}) {
		t.Errorf("transferring: %v, want [s1]", ids(p))
	}
	// The view of one session: waiting since its message, one unread;
	// queued and last updated when it opened (a session that opens queued
	// keeps only `created` for those).
	l, err := store.LiveSession(ctx, "s3", now)
	if err != nil {
		t.Fatal(err)
	}
	opened := t0.Add(3 * time.Second)
	if l.State != kf.StateWaiting || l.Unread != 1 || l.WaitingSince == nil || !l.WaitingSince.Equal(opened) ||
		*l.Waited != 57 || l.QueuedAt == nil || !l.QueuedAt.Equal(opened) || !l.UpdatedAt.Equal(opened) ||
		l.LastMessage == nil || l.LastMessage.Text != "hi" {
		t.Errorf("s3 = %+v", l)
	}
	// Closed sessions leave the index.
	if _, err := store.Close(ctx, "wxlive1", "u3", "", "admin", "closed", "", now); err != nil {
		t.Fatal(err)
	}
	if p, _ := store.ListLive(ctx, session.LiveFilter{State: kf.StateWaiting}, now); !slices.Equal(ids(p), []string{"s4", "s5", "s6"}) || p.Total != 6 {
		t.Errorf("after closing s3: %v (total %d)", ids(p), p.Total)
	}
	if _, err := store.LiveSession(ctx, "s3", now); err == nil {
		t.Error("a closed session is still live")
	}
	// The queue, with since.
	w, err := store.QueueSince(ctx, "wxlive0", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(w) != 2 || w[0].OpenID != "u4" || w[0].Session != "s4" || !w[0].Since.Equal(t0.Add(4*time.Second)) || w[1].Position != 2 {
		t.Errorf("queue = %+v", w)
	}
}

// A cursor from a client: anything but a previous page's next is a 400,
// never a panic or a Redis error.
func FuzzListLiveCursor(f *testing.F) {
	rdb, prefix := redistest.New(f)
	store := liveFixture(f, rdb, prefix, 3, 1)
	for _, s := range []string{"", "1796061902000:wxlive0:u1", "x:y", ":", "12:", "-1:a", "99999999999999999999:a",
		"q:1796061902000002:wxlive0:u2", "q:-1796061902000002:wxlive1:u1", "q:", "q:x:y", "q:q:1:a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, cursor string) {
		_, err := store.ListLive(context.Background(), session.LiveFilter{Cursor: cursor, Limit: 2}, t0)
		if err != nil && kf.KindOf(err) != kf.KindInvalid {
			t.Fatalf("cursor %q: %v", cursor, err)
		}
	})
}

// roundTrips counts the commands and pipelines go-redis sends.
type roundTrips struct{ n atomic.Int64 }

func (h *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { h.n.Add(1); return next(ctx, cmd) }
}
func (h *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { h.n.Add(1); return next(ctx, cmds) }
}

// BenchmarkListLive reads pages of 50 of 10,000 live sessions on real
// Redis: unfiltered, by state (a quarter waiting), by account and state,
// and one agent's; it reports Redis round trips and index entries looked at
// per page.
func BenchmarkListLive(b *testing.B) {
	rdb, prefix := redistest.New(b)
	const n, served = 10000, 7500
	store := liveFixture(b, rdb, prefix, n, served)
	hook := &roundTrips{}
	rdb.AddHook(hook)
	for _, c := range []struct {
		name string
		f    session.LiveFilter
	}{
		{"all", session.LiveFilter{Limit: 50}},
		{"waiting", session.LiveFilter{Limit: 50, State: kf.StateWaiting}},
		{"account+serving", session.LiveFilter{Limit: 50, State: kf.StateServing, Account: "wxlive1"}},
		{"agent", session.LiveFilter{Limit: 50, Agent: "ag42"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			before, scanned, pages := hook.n.Load(), 0, 0
			f := c.f
			for b.Loop() {
				p, err := store.ListLive(ctx, f, t0)
				if err != nil {
					b.Fatal(err)
				}
				if len(p.Sessions) == 0 && f.Cursor == "" {
					b.Fatal("an empty first page")
				}
				scanned += p.Scanned
				pages++
				f.Cursor = p.Next // walk the list, then start again
			}
			b.ReportMetric(float64(hook.n.Load()-before)/float64(pages), "roundtrips/page")
			b.ReportMetric(float64(scanned)/float64(pages), "scanned/page")
		})
	}
}

// The index is brought to this version's form once, by the first start:
// served sessions an earlier version opened before the index existed go
// in, queued sessions an earlier version indexed come out; a session the
// scripts indexed keeps its score.
func TestIndexLive(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := redistest.New(t)
	store := liveFixture(t, rdb, prefix, 4, 3)                                       // s0..s2 serving, s3 waiting
	rdb.ZRem(ctx, prefix+"live", prefix+"sess:wxlive0:u0", prefix+"sess:wxlive1:u1") // as before the index existed
	rdb.ZAdd(ctx, prefix+"live", redis.Z{Score: 42, Member: prefix + "sess:wxlive0:u2"},
		redis.Z{Score: 43, Member: prefix + "sess:wxlive1:u3"}) // an earlier version indexed the waiting too
	rdb.Set(ctx, prefix+"live:indexed", "1", 0)
	// Before: the stale entry is not listed twice.
	p, err := store.ListLive(ctx, session.LiveFilter{}, t0)
	if err != nil || !slices.Equal(ids(p), []string{"s2", "s3"}) {
		t.Errorf("before indexing: %v, %v", ids(p), err)
	}
	n, err := store.IndexLive(ctx)
	if err != nil || n != 3 {
		t.Fatalf("IndexLive = %d, %v; want 3 (two in, one out)", n, err)
	}
	if n, err := store.IndexLive(ctx); err != nil || n != 0 {
		t.Errorf("a second IndexLive = %d, %v; want nothing to do", n, err)
	}
	p, err = store.ListLive(ctx, session.LiveFilter{}, t0)
	if err != nil || !slices.Equal(ids(p), []string{"s1", "s0", "s2", "s3"}) {
		t.Errorf("after indexing: %v, %v", ids(p), err)
	}
	if in, _ := rdb.ZScore(ctx, prefix+"live", prefix+"sess:wxlive1:u3").Result(); in != 0 {
		t.Errorf("the waiting session is still in the index (score %v)", in)
	}
}
