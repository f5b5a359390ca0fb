package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kfgate/kfgate/internal/pgtest"
	"github.com/kfgate/kfgate/internal/redistest"
)

// One user among 1,000 asks for their data, then for its erasure: the
// export holds that user's rows and keys and nobody else's; the erasure
// removes exactly them, in PostgreSQL and Redis, and leaves the other 999
// users whole; the audit log records both calls — who, which user, when —
// without the content.
func TestExportAndEraseOneUserAmong1000(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := redistest.New(t)
	pool, pgURL := pgtest.New(t)
	const admin = "pipl-admin-token-000000001"
	cfg := writeConfig(t, fmt.Sprintf(`
listen: "127.0.0.1:0"
redis: {url: %q, prefix: %q}
postgres: {url: %q}
accounts:
  - {appid: %s, secret: s, token: %s}
admin:
  tokens: [%s]
`, redistest.URL(), prefix, pgURL, testAppID, testToken, admin))
	base, stop, _ := startServe(t, cfg, nil)
	defer stop()

	// 1,000 users, each with a closed session, two transitions, two
	// messages, a note, a label, a medium and a profile; and Redis state.
	_, err := pool.Exec(ctx, `
INSERT INTO sessions (id, account, openid, agent, state, created_at, updated_at, closed_at)
  SELECT 's' || i, $1, 'u' || i, 'a1', 'closed', now(), now(), now() FROM generate_series(1, 1000) i;
`, testAppID)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO session_transitions (event_id, event_ms, event_seq, session_id, account, openid, at, type, to_state)
		   SELECT i || '-' || k, i, k, 's' || i, $1, 'u' || i, now(), 'session.assigned', 'serving'
		   FROM generate_series(1, 1000) i, generate_series(0, 1) k`,
		`INSERT INTO messages (event_id, key_at, session_id, account, openid, direction, type, content, status, created_at, updated_at)
		   SELECT 'm' || i || '-' || k, now(), 's' || i, $1, 'u' || i, 'in', 'text', 'secret words of u' || i, 'received', now(), now()
		   FROM generate_series(1, 1000) i, generate_series(0, 1) k`,
		`INSERT INTO session_notes (id, session_id, account, openid, author, text, created_at)
		   SELECT 'n' || i, 's' || i, $1, 'u' || i, 'a1', 'note on u' || i, now() FROM generate_series(1, 1000) i`,
		`INSERT INTO session_labels (session_id, account, labels) SELECT 's' || i, $1, '{vip}' FROM generate_series(1, 1000) i`,
		`INSERT INTO media_files (sha256, content_type, size, bytes)
		   SELECT sha256(('pic' || i)::bytea), 'image/jpeg', 3, 'pic'::bytea FROM generate_series(1, 1000) i`,
		`INSERT INTO media (id, account, media_id, kind, session_id, openid, status, sha256)
		   SELECT $1 || ':mid' || i, $1, 'mid' || i, 'image', 's' || i, 'u' || i, 'stored', sha256(('pic' || i)::bytea)
		   FROM generate_series(1, 1000) i`,
		`INSERT INTO wechat_users (account, openid, remark) SELECT $1, 'u' || i, 'remark of u' || i FROM generate_series(1, 1000) i`,
	} {
		var args []any
		if strings.Contains(q, "$1") {
			args = append(args, testAppID)
		}
		if _, err := pool.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%v\n%s", err, q)
		}
	}
	for i := 1; i <= 1000; i++ {
		u := fmt.Sprintf("%s:u%d", testAppID, i)
		rdb.HSet(ctx, prefix+"quota:"+u, "left", 3, "until", time.Now().Add(time.Hour).UnixMilli())
		rdb.Set(ctx, prefix+"last:"+u, "a1", time.Hour)
	}
	counts := func() map[string]int {
		out := map[string]int{}
		for _, tbl := range []string{"sessions", "session_transitions", "messages", "session_notes", "session_labels", "media", "media_files", "wechat_users"} {
			var n int
			if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+tbl).Scan(&n); err != nil {
				t.Fatal(err)
			}
			out[tbl] = n
		}
		return out
	}
	before := counts()

	status, exp := apiCall(t, base, "GET", "/api/v1/users/"+testAppID+"/u500/export", admin, "")
	if status != 200 {
		t.Fatalf("export = %d %v", status, exp)
	}
	raw, _ := json.Marshal(exp)
	for _, want := range []string{"secret words of u500", "note on u500", "remark of u500", `"s500"`, `"mid500"`, `"last_agent":"a1"`, `"window":{`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("the export lacks %s", want)
		}
	}
	if strings.Contains(string(raw), "u501") || strings.Contains(string(raw), "u499") {
		t.Error("the export holds another user's data")
	}
	pg, _ := exp["postgres"].(map[string]any)
	for tbl, n := range map[string]int{"sessions": 1, "session_transitions": 2, "messages": 2, "session_notes": 1, "session_labels": 1, "media": 1, "wechat_users": 1} {
		if rows, _ := pg[tbl].([]any); len(rows) != n {
			t.Errorf("export %s: %d rows, want %d", tbl, len(rows), n)
		}
	}

	status, out := apiCall(t, base, "DELETE", "/api/v1/users/"+testAppID+"/u500", admin, "")
	if status != 200 {
		t.Fatalf("erase = %d %v", status, out)
	}
	after := counts()
	for tbl, n := range map[string]int{"sessions": 1, "session_transitions": 2, "messages": 2, "session_notes": 1, "session_labels": 1, "media": 1, "media_files": 1, "wechat_users": 1} {
		if before[tbl]-after[tbl] != n {
			t.Errorf("%s: %d rows before, %d after; want %d fewer", tbl, before[tbl], after[tbl], n)
		}
	}
	if n := rdb.Exists(ctx, prefix+"quota:"+testAppID+":u500", prefix+"last:"+testAppID+":u500").Val(); n != 0 {
		t.Errorf("%d Redis keys of u500 left", n)
	}
	if n := rdb.Exists(ctx, prefix+"quota:"+testAppID+":u501", prefix+"last:"+testAppID+":u499").Val(); n != 2 {
		t.Errorf("other users' Redis keys: %d of 2 left", n)
	}
	status, exp = apiCall(t, base, "GET", "/api/v1/users/"+testAppID+"/u500/export", admin, "")
	raw, _ = json.Marshal(exp)
	left := 0
	pg, _ = exp["postgres"].(map[string]any)
	for _, rows := range pg {
		l, _ := rows.([]any)
		left += len(l)
	}
	if red, _ := exp["redis"].(map[string]any); status != 200 || left != 0 || len(red) != 0 || len(pg) == 0 {
		t.Errorf("export after the erasure = %d %s", status, raw)
	}

	status, aud := apiCall(t, base, "GET", "/api/v1/audit", admin, "")
	if status != 200 {
		t.Fatalf("audit = %d", status)
	}
	entries, _ := aud["entries"].([]any)
	var actions []string
	for _, e := range entries {
		m := e.(map[string]any)
		actions = append(actions, fmt.Sprint(m["action"], " ", m["target"], " ", m["status"]))
		if m["actor"] == "" || m["from"] == "" || m["at"] == "" {
			t.Errorf("audit entry without who, where or when: %v", m)
		}
	}
	want := []string{
		"GET /api/v1/users/{account}/{openid}/export account=" + testAppID + " openid=u500 200",
		"DELETE /api/v1/users/{account}/{openid} account=" + testAppID + " openid=u500 200",
		"GET /api/v1/users/{account}/{openid}/export account=" + testAppID + " openid=u500 200",
	}
	if strings.Join(actions, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit log:\n%s\nwant:\n%s", strings.Join(actions, "\n"), strings.Join(want, "\n"))
	}
	rawAudit, _ := json.Marshal(aud)
	if strings.Contains(string(rawAudit), "secret") || strings.Contains(string(rawAudit), "remark") {
		t.Errorf("the audit log holds content: %s", rawAudit)
	}
}
