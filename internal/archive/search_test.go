package archive

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kfgate/kfgate/internal/pgtest"
)

// seedSearch fills a fresh archive with n messages of random Chinese text
// (from 3,000 common CJK code points) in n/10 sessions of 1,000 users and
// two agents, and plants needles: returns the pool.
func seedSearch(tb testing.TB, n int) *pgxpool.Pool {
	tb.Helper()
	pool, _ := pgtest.Migrated(tb)
	ctx := context.Background()
	// The rows go back n seconds, which near the start of a month is into
	// the month before, which the migrations did not create (the writer
	// creates a month it lacks; these rows are inserted directly).
	tx, err := pool.Begin(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now()
	if _, err := createMonths(ctx, tx, []time.Time{month(now.Add(-time.Duration(n) * time.Second)), month(now)}); err != nil {
		tb.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		tb.Fatal(err)
	}
	exec := func(sql string) {
		tb.Helper()
		for _, stmt := range strings.Split(sql, ";\n") {
			if strings.TrimSpace(stmt) == "" {
				continue
			}
			var args []any
			if strings.Contains(stmt, "$1") {
				args = []any{n}
			}
			if _, err := pool.Exec(ctx, stmt, args...); err != nil {
				tb.Fatalf("%s: %v", stmt, err)
			}
		}
	}
	exec(`
		INSERT INTO sessions (id, account, openid, agent, state, created_at, updated_at)
		SELECT 's' || i, CASE WHEN i % 2 = 0 THEN 'wxa' ELSE 'wxb' END, 'o' || (i % 1000),
			CASE WHEN i % 3 = 0 THEN 'alice' ELSE 'bob' END, 'closed',
			now() - make_interval(secs => $1 - i * 10), now()
		FROM generate_series(0, $1 / 10 - 1) i;
		INSERT INTO messages (event_id, key_at, session_id, account, openid, direction, type, content, status, created_at, updated_at)
		SELECT 'e' || i, now() - make_interval(secs => $1 - i), 's' || (i / 10), CASE WHEN (i / 10) % 2 = 0 THEN 'wxa' ELSE 'wxb' END, 'o' || ((i / 10) % 1000),
			'in', 'text',
			(SELECT string_agg(chr(19968 + ((i * 7919 + k * 104729) % 3000)), '') FROM generate_series(1, 12 + i % 20) k),
			'received', now() - make_interval(secs => $1 - i), now()
		FROM generate_series(0, $1 - 1) i;
`)
	// Needles: one message in the middle, two in labelled sessions.
	exec(`
		UPDATE messages SET content = '您好，我的退款申请单号是 A1234，请帮我查一下' WHERE event_id = 'e' || ($1 / 2);
		UPDATE messages SET content = '退款申请单号已经提交' WHERE event_id IN ('e20', 'e31');
		INSERT INTO session_labels (session_id, account, labels) VALUES ('s2', 'wxa', '{refund,vip}');
		INSERT INTO wechat_users (account, openid, remark) VALUES ('wxa', 'o2', '退款大客户王先生');
		ANALYZE;
`)
	return pool
}

// Search finds a message by a Chinese substring among 100,000 archived
// messages, through the trigram index; filters and paging narrow it.
func TestSearchChinese(t *testing.T) {
	const n = 100_000
	pool := seedSearch(t, n)
	r := NewReader(pool)
	ctx := t.Context()

	res, err := r.Search(ctx, Query{Q: "申请单号"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range res.Messages {
		got = append(got, h.Content)
	}
	if len(res.Messages) != 3 || !strings.Contains(got[0], "A1234") {
		t.Fatalf("search 申请单号 = %q, want the 3 needles, newest first", got)
	}
	if len(res.Users) != 0 {
		t.Errorf("users = %v", res.Users)
	}
	// Filters: the label, the account, the agent; an openid; a remark.
	for _, c := range []struct {
		q     Query
		wantN int
	}{
		{Query{Q: "申请单号", Label: "refund"}, 1},
		{Query{Q: "申请单号", Label: "none"}, 0},
		{Query{Q: "申请单号", Account: "wxb"}, 1}, // e31 is in session s3, account wxb
		{Query{Q: "申请单号", Agent: "bob"}, 2},
		{Query{Q: "申请单号", From: time.Now().Add(-time.Duration(n*6/10) * time.Second)}, 1},
	} {
		res, err := r.Search(ctx, c.q)
		if err != nil || len(res.Messages) != c.wantN {
			t.Errorf("%+v: %d messages, %v; want %d", c.q, len(res.Messages), err, c.wantN)
		}
	}
	res, _ = r.Search(ctx, Query{Q: "大客户"})
	if len(res.Users) != 1 || res.Users[0].OpenID != "o2" {
		t.Errorf("search by remark: users %v", res.Users)
	}
	res, _ = r.Search(ctx, Query{Q: "o7", Limit: 4})
	if len(res.Messages) != 4 || res.Next == 0 || res.Messages[0].OpenID != "o7" {
		t.Fatalf("search by openid: %d messages, next %d", len(res.Messages), res.Next)
	}
	page2, _ := r.Search(ctx, Query{Q: "o7", Limit: 4, Before: res.Next})
	if len(page2.Messages) != 4 || !page2.Messages[0].CreatedAt.Before(res.Messages[3].CreatedAt) ||
		slices.ContainsFunc(page2.Messages, func(h Hit) bool { return h.ID == res.Messages[3].ID }) {
		t.Errorf("page 2 does not follow page 1")
	}
	if _, err := r.Search(ctx, Query{Q: "  "}); err == nil {
		t.Error("an empty query was accepted")
	}

	plan, err := r.ExplainSearch(ctx, "申请单号")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("EXPLAIN ANALYZE of the search of 申请单号 among %d messages:\n%s", n, plan)
	// Each month's partition has its own copy of messages_content_trgm.
	if !strings.Contains(plan, "Index Cond: (content ~~*") {
		t.Errorf("the search does not use the trigram index:\n%s", plan)
	}
	// Latency, logged (measured, not asserted): 200 searches of needles
	// and of random three-character pieces of the texts.
	var took []time.Duration
	for i := range 200 {
		q := "申请单号"
		if i%2 == 1 {
			q = string([]rune{rune(19968 + (i*31)%3000), rune(19968 + (i*37)%3000), rune(19968 + (i*41)%3000)})
		}
		start := time.Now()
		if _, err := r.Search(ctx, Query{Q: q}); err != nil {
			t.Fatal(err)
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	t.Logf("search latency over %d messages: p50 %v, p99 %v", n, took[len(took)/2], took[len(took)*99/100])
}

// BenchmarkSearch measures one search of a Chinese substring among 100,000
// archived messages.
func BenchmarkSearch(b *testing.B) {
	pool := seedSearch(b, 100_000)
	r := NewReader(pool)
	ctx := context.Background()
	for b.Loop() {
		if _, err := r.Search(ctx, Query{Q: "申请单号"}); err != nil {
			b.Fatal(err)
		}
	}
}
