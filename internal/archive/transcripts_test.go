package archive

import (
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/kfgate/kfgate/internal/agents"
	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/pgtest"
	"github.com/kfgate/kfgate/internal/redistest"
	"github.com/kfgate/kfgate/internal/sim"
	"github.com/kfgate/kfgate/internal/wxapi"
)

// simClock is the time of the simulator and of the importer.
type simClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *simClock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *simClock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// transcriptEnv is the archive's env with the simulated WeChat, a client
// of it, an agent ann mapped to the kf account ann@gh_shop and an importer.
type transcriptEnv struct {
	*env
	api *sim.API
	wx  *wxapi.Client
	clk *simClock
	im  *Importer
}

func newTranscriptEnv(t testing.TB, pageSize int) *transcriptEnv {
	t.Helper()
	rdb, prefix := redistest.New(t)
	pool, _ := pgtest.Migrated(t)
	e := &env{rdb: rdb, prefix: prefix, pool: pool}
	clk := &simClock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	accounts := map[string]string{"wx1": "secret1"}
	api := sim.NewAPI(sim.APIOptions{Accounts: accounts, Now: clk.Now})
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	tokens, err := wxapi.NewTokens(wxapi.TokenOptions{Redis: e.rdb, Prefix: e.prefix, Accounts: accounts,
		BaseURL: srv.URL, BackupURL: srv.URL, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	wx, err := wxapi.New(wxapi.Options{Tokens: tokens, BaseURL: srv.URL, BackupURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if err := wx.AddKf(t.Context(), "wx1", "ann@gh_shop", "Ann"); err != nil {
		t.Fatal(err)
	}
	people := agents.NewRedis(e.rdb, e.prefix)
	if err := people.Create(t.Context(), kf.Agent{ID: "ann", Accounts: []string{"wx1"}, Weight: 1, MaxSessions: 5,
		KfAccount: "ann@gh_shop"}, nil); err != nil {
		t.Fatal(err)
	}
	im := NewImporter(ImportOptions{DB: e.pool, Redis: e.rdb, Prefix: e.prefix, WeChat: wx, Agents: people,
		Every: time.Minute, Lag: time.Minute, PageSize: pageSize, Now: clk.Now})
	return &transcriptEnv{env: e, api: api, wx: wx, clk: clk, im: im}
}

func (te *transcriptEnv) follow(t testing.TB, openid string) {
	t.Helper()
	if err := te.api.Interact("wx1", openid, sim.InteractMessage, time.Time{}); err != nil {
		t.Fatal(err)
	}
}

func (te *transcriptEnv) kfSent(t testing.TB, openid, text string) {
	t.Helper()
	if err := te.api.KfSent("wx1", openid, "ann@gh_shop", text, time.Time{}); err != nil {
		t.Fatal(err)
	}
}

func (te *transcriptEnv) importNow(t *testing.T) int {
	t.Helper()
	n, err := te.im.ImportAccount(t.Context(), "wx1")
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Messages a kf account wrote in WeChat (and the user's answers there)
// land once in the archive, in the session kfgate archived for the user
// or in an imported one; kfgate's own send, which WeChat records as well,
// is not imported again; a second run writes nothing.
func TestTranscriptImportOnce(t *testing.T) {
	te := newTranscriptEnv(t, 10000)
	ctx := t.Context()
	t0 := te.clk.Now()
	te.follow(t, "o_a")
	te.follow(t, "o_b")

	// kfgate's own session with o_a and its answer as ann@gh_shop, as the
	// archive writer stores them, and the send WeChat records.
	_, err := te.pool.Exec(ctx, `INSERT INTO sessions (id, account, openid, agent, state, created_at, updated_at)
		VALUES ('s-a', 'wx1', 'o_a', 'ann', 'serving', $1, $1)`, t0)
	must(t, err)
	// The test's clock is in a month before the archive's partitions:
	// the first import makes room for its records itself, the fixture here.
	must(t, te.im.makeRoom(ctx, []record{{at: t0}}))
	_, err = te.pool.Exec(ctx, `INSERT INTO messages (outbox_id, key_at, session_id, account, openid, direction, kind, type, content, status, agent, created_at, updated_at)
		VALUES ('1-1', $1, 's-a', 'wx1', 'o_a', 'out', 'agent', 'text', '您好，我是Ann', 'sent', 'ann', $1, $1)`, t0.Add(5*time.Second))
	must(t, err)
	te.clk.Advance(5 * time.Second)
	msg := wxapi.TextMessage("o_a", "您好，我是Ann")
	msg.CustomService = &wxapi.CustomService{KfAccount: "ann@gh_shop"}
	must(t, te.wx.SendCustom(ctx, "wx1", msg))

	// What happened in WeChat's own tool.
	te.clk.Advance(time.Minute)
	te.kfSent(t, "o_a", "退款已经提交")
	te.clk.Advance(10 * time.Second)
	must(t, te.api.KfReceived("wx1", "o_a", "ann@gh_shop", "谢谢", time.Time{}))
	te.clk.Advance(time.Minute)
	te.kfSent(t, "o_b", "您的快递明天到")

	// Within the lag nothing is due yet: o_b's message is 0 s old.
	te.clk.Advance(30 * time.Second)
	if n := te.importNow(t); n != 2 {
		t.Errorf("first run wrote %d, want 2 (o_a's two records older than the lag)", n)
	}
	te.clk.Advance(2 * time.Minute)
	if n := te.importNow(t); n != 1 {
		t.Errorf("second run wrote %d, want 1 (o_b's)", n)
	}
	if n := te.importNow(t); n != 0 {
		t.Errorf("third run wrote %d, want 0", n)
	}
	// A run that reads the same records again (a cursor lost, two replicas
	// at once) writes nothing either: the records' keys are unique.
	_, err = te.pool.Exec(ctx, `DELETE FROM transcript_cursors`)
	must(t, err)
	if n := te.importNow(t); n != 0 {
		t.Errorf("a run from the start again wrote %d, want 0", n)
	}

	if n := count(t, te.pool, `SELECT count(*) FROM messages WHERE account = 'wx1'`); n != 4 {
		t.Errorf("%d messages archived, want 4 (kfgate's answer and three imported)", n)
	}
	for _, text := range []string{"您好，我是Ann", "退款已经提交", "谢谢", "您的快递明天到"} {
		if n := count(t, te.pool, `SELECT count(*) FROM messages WHERE content = $1`, text); n != 1 {
			t.Errorf("%q archived %d times, want once", text, n)
		}
	}

	// o_a's transcript: kfgate's answer, then what happened in WeChat.
	r := NewReader(te.pool)
	msgs, _, err := r.Messages(ctx, "s-a", 50, 0)
	must(t, err)
	type line struct {
		Author, Content, Agent, KfAccount string
		Imported                          bool
	}
	var got []line
	for _, m := range msgs {
		got = append(got, line{m.Author, m.Content, m.Agent, m.KfAccount, m.Imported})
	}
	want := []line{
		{"agent", "您好，我是Ann", "ann", "", false},
		{"agent", "退款已经提交", "ann", "ann@gh_shop", true},
		{"user", "谢谢", "", "ann@gh_shop", true},
	}
	if len(got) != len(want) {
		t.Fatalf("s-a transcript = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("s-a message %d = %+v, want %+v", i, got[i], want[i])
		}
	}

	// o_b had no kfgate session: an imported one, closed, ann's.
	list, err := r.UserSessions(ctx, "wx1", "o_b", 10)
	must(t, err)
	if len(list) != 1 || list[0].State != kf.StateClosed || list[0].Agent != "ann" || list[0].CloseReason != "imported" {
		t.Fatalf("o_b's sessions = %+v, want one imported, closed, ann's", list)
	}
	msgs, _, err = r.Messages(ctx, list[0].ID, 50, 0)
	must(t, err)
	if len(msgs) != 1 || msgs[0].Content != "您的快递明天到" || !msgs[0].Imported {
		t.Errorf("o_b's imported session holds %+v", msgs)
	}
	// Search covers the imported messages.
	res, err := r.Search(ctx, Query{Q: "快递明天"})
	must(t, err)
	if len(res.Messages) != 1 {
		t.Errorf("search found %d imported messages, want 1", len(res.Messages))
	}
}

// The cursor moves window by window: a run after more than a day reads
// every 24-hour window since (WeChat refuses longer queries), page by page.
func TestTranscriptImportWindowsAndPages(t *testing.T) {
	te := newTranscriptEnv(t, 2) // two records a page
	te.follow(t, "o_a")
	for i := range 5 {
		te.kfSent(t, "o_a", "first day "+string(rune('a'+i)))
	}
	te.clk.Advance(10 * time.Minute)
	if n := te.importNow(t); n != 5 {
		t.Fatalf("first run wrote %d, want 5", n)
	}
	te.clk.Advance(30 * time.Hour)
	te.follow(t, "o_a")
	for i := range 3 {
		te.kfSent(t, "o_a", "next day "+string(rune('a'+i)))
	}
	te.clk.Advance(30 * time.Hour)
	calls := te.api.Calls("/customservice/msgrecord/getmsglist")
	if n := te.importNow(t); n != 3 {
		t.Fatalf("run after 60 hours wrote %d, want 3", n)
	}
	if got := te.api.Calls("/customservice/msgrecord/getmsglist") - calls; got < 4 {
		t.Errorf("%d getmsglist calls for 60 hours, want at least 4 (three windows, one of them two pages)", got)
	}
	if n := count(t, te.pool, `SELECT count(*) FROM messages WHERE import_key IS NOT NULL`); n != 8 {
		t.Errorf("%d messages imported, want 8", n)
	}
}

// Run takes one lease per account and period: a second replica's run in
// the same period does not call WeChat.
func TestTranscriptImportLease(t *testing.T) {
	te := newTranscriptEnv(t, 10000)
	te.follow(t, "o_a")
	te.kfSent(t, "o_a", "hello")
	te.clk.Advance(5 * time.Minute)
	n, err := te.im.Run(t.Context())
	if err != nil || n != 1 {
		t.Fatalf("Run = %d, %v; want 1", n, err)
	}
	calls := te.api.Calls("/customservice/msgrecord/getmsglist")
	other := NewImporter(te.im.o) // another replica
	if n, err := other.Run(t.Context()); err != nil || n != 0 {
		t.Errorf("second replica's Run = %d, %v; want 0", n, err)
	}
	if got := te.api.Calls("/customservice/msgrecord/getmsglist"); got != calls {
		t.Errorf("the second run called getmsglist %d times, want 0", got-calls)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// BenchmarkTranscriptImport imports one full page of WeChat's chat records
// (10,000, the most a query returns) for 500 users, half of them with an
// archived session; each iteration starts from an empty import.
func BenchmarkTranscriptImport(b *testing.B) {
	te := newTranscriptEnv(b, 10000)
	ctx := b.Context()
	t0 := te.clk.Now()
	for u := range 500 {
		openid := fmt.Sprintf("o_%03d", u)
		te.follow(b, openid)
		if u%2 == 0 {
			_, err := te.pool.Exec(ctx, `INSERT INTO sessions (id, account, openid, state, created_at, updated_at)
				VALUES ($1, 'wx1', $2, 'serving', $3, $3)`, fmt.Sprintf("s-%03d", u), openid, t0)
			must(b, err)
		}
	}
	for i := range 10000 {
		te.clk.Advance(time.Second)
		must(b, te.api.KfSent("wx1", fmt.Sprintf("o_%03d", i%500), "ann@gh_shop", fmt.Sprintf("第 %d 条回复", i), time.Time{}))
	}
	te.clk.Advance(time.Hour)
	for b.Loop() {
		b.StopTimer()
		_, err := te.pool.Exec(ctx, `DELETE FROM messages; DELETE FROM transcript_cursors; DELETE FROM sessions WHERE close_reason = 'imported'`)
		must(b, err)
		b.StartTimer()
		n, err := te.im.ImportAccount(ctx, "wx1")
		must(b, err)
		if n != 10000 {
			b.Fatalf("imported %d, want 10000", n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/10000, "µs/record")
}
