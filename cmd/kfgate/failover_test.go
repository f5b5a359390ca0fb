package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/intake"
	"github.com/kfgate/kfgate/internal/redistest"
	"github.com/kfgate/kfgate/internal/sim"
)

// sentinelSet is a primary, its replica and three sentinels watching them
// (quorum 2), all real processes of the test's own.
type sentinelSet struct {
	name      string
	primary   *redistest.Process
	replica   *redistest.Process
	sentinels []*redistest.Process
}

func startSentinelSet(t *testing.T) *sentinelSet {
	t.Helper()
	s := &sentinelSet{name: "kfgate"}
	s.primary = redistest.StartServer(t)
	s.replica = redistest.StartServer(t, "replicaof "+strings.Replace(s.primary.Addr, ":", " ", 1))
	redistest.WaitReplicated(t, s.primary, s.replica)
	// A primary silent for 1 s is down for a sentinel; two agreeing fail
	// it over. Production values are larger (5–30 s) to ride out pauses.
	for range 3 {
		s.sentinels = append(s.sentinels, redistest.StartSentinel(t, s.name, s.primary.Addr, 2,
			"sentinel down-after-milliseconds "+s.name+" 1000",
			"sentinel failover-timeout "+s.name+" 3000",
			"sentinel parallel-syncs "+s.name+" 1"))
	}
	// A failover needs the sentinels to know one another (they meet on
	// the primary every 2 s) and the replica.
	ctx := context.Background()
	deadline := time.Now().Add(20 * time.Second)
	for _, sp := range s.sentinels {
		c := redis.NewSentinelClient(&redis.Options{Addr: sp.Addr, DisableIdentity: true, Protocol: 2})
		for {
			peers, _ := c.Sentinels(ctx, s.name).Result()
			replicas, _ := c.Replicas(ctx, s.name).Result()
			if len(peers) == 2 && len(replicas) == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("sentinel %s knows %d other sentinels and %d replicas, want 2 and 1:\n%s", sp.Addr, len(peers), len(replicas), sp.Log())
			}
			time.Sleep(100 * time.Millisecond)
		}
		_ = c.Close()
	}
	return s
}

// primaryAddr is where the sentinels say the primary is.
func (s *sentinelSet) primaryAddr(ctx context.Context) string {
	for _, sp := range s.sentinels {
		c := redis.NewSentinelClient(&redis.Options{Addr: sp.Addr, DisableIdentity: true, Protocol: 2})
		addr, err := c.GetMasterAddrByName(ctx, s.name).Result()
		_ = c.Close()
		if err == nil && len(addr) == 2 {
			return addr[0] + ":" + addr[1]
		}
	}
	return ""
}

func (s *sentinelSet) addrs() []string {
	var out []string
	for _, sp := range s.sentinels {
		out = append(out, sp.Addr)
	}
	return out
}

// attempt is one post of a callback: its answer and when it came.
type attempt struct {
	status     int // 0: no answer (connection error or the 5 s WeChat waits)
	body       string
	posted, at time.Time
}

// callbackRun is one simulated user message and WeChat's attempts at it.
type callbackRun struct {
	msgID    int64
	sent     time.Time
	attempts []attempt
}

func (r *callbackRun) succeeded() bool {
	return slices.ContainsFunc(r.attempts, func(a attempt) bool { return a.status == 200 && a.body == "success" })
}

// The must-show failover: kfgate on Redis Sentinel with min_replicas_ack 1,
// callbacks at ~500/s through the real HTTP handler, the primary killed
// (SIGKILL). kfgate follows the promoted replica; callbacks in the switch
// get 503 and are retried as WeChat does (5 s apart, three retries);
// every callback ever answered "success" is then in the engine's records —
// the intake stream on the new primary and a message.received event the
// engine wrote for it. The seconds without service are logged.
//
// With one replica, min_replicas_ack 1 cannot be met by the promoted
// replica alone: service resumes once the old primary, restarted after the
// failover (as an operator or a supervisor would), has rejoined as its
// replica. With two replicas it would resume at the switch.
func TestSentinelFailoverLosesNoAcknowledgedCallback(t *testing.T) {
	ctx := context.Background()
	set := startSentinelSet(t)
	wechat := sim.NewAPI(sim.APIOptions{Accounts: map[string]string{testAppID: "failover-secret"}})
	wx := httptest.NewServer(wechat)
	t.Cleanup(wx.Close)
	prefix := redistest.Prefix()
	cfg := writeConfig(t, fmt.Sprintf(`
listen: "127.0.0.1:0"
redis:
  prefix: %q
  sentinel: {master_name: %s, addresses: [%s]}
  min_replicas_ack: 1
wechat: {api_base: %q}
engine: {retry_after: 1s}
accounts:
  - {appid: %s, secret: failover-secret, token: %s}
`, prefix, set.name, strings.Join(set.addrs(), ", "), wx.URL, testAppID, testToken))
	base, stop, logs := startServe(t, cfg, nil)

	// WeChat waits 5 s for an answer.
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 200}}
	p, err := sim.NewPoster(base, sim.Account{AppID: testAppID, Token: testToken}, false, client)
	if err != nil {
		t.Fatal(err)
	}

	var (
		mu      sync.Mutex
		runs    []*callbackRun
		wg      sync.WaitGroup
		killed  atomic.Int64 // Unix nanoseconds of the kill; 0 before
		resumed = make(chan time.Time, 1)
	)
	send := func(i int) {
		defer wg.Done()
		r := &callbackRun{msgID: 9_000_000 + int64(i), sent: time.Now()}
		mu.Lock()
		runs = append(runs, r)
		mu.Unlock()
		pr := p.Prepare(sim.TextXML("gh_failover", fmt.Sprintf("o_failover_%03d", i%300), time.Now().Unix(), "msg", r.msgID))
		// WeChat delivers a push up to four times, about 5 s apart
		// (docs/wechat.md, "Retries and dedup").
		var posted time.Time
		for try := range 4 {
			if try > 0 {
				time.Sleep(time.Until(posted.Add(5 * time.Second)))
			}
			posted = time.Now()
			status, body, err := p.Post(ctx, pr)
			if err != nil {
				status = 0
			}
			a := attempt{status: status, body: string(body), posted: posted, at: time.Now()}
			mu.Lock()
			r.attempts = append(r.attempts, a)
			mu.Unlock()
			if status == 200 {
				if k := killed.Load(); k != 0 && posted.UnixNano() > k {
					select {
					case resumed <- a.at:
					default:
					}
				}
				return
			}
		}
	}
	stopLoad := make(chan struct{})
	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		// 500 a second (100 under the race detector, which makes every
		// callback several times dearer on the same two cores): each tick
		// sends what is due, so that a late tick does not lower the rate.
		rate := 500.0
		if raceEnabled {
			rate = 100
		}
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		start := time.Now()
		for i := 0; ; {
			select {
			case <-stopLoad:
				return
			case <-tick.C:
			}
			for due := int(time.Since(start).Seconds() * rate); i < due; i++ {
				wg.Add(1)
				go send(i)
			}
		}
	}()

	time.Sleep(3 * time.Second)
	killedAt := time.Now()
	killed.Store(killedAt.UnixNano())
	set.primary.Kill()
	t.Logf("primary %s killed", set.primary.Addr)

	var switchedAt time.Time
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if set.primaryAddr(ctx) == set.replica.Addr {
			switchedAt = time.Now()
			break
		}
		if time.Now().After(deadline) {
			close(stopLoad)
			t.Fatalf("the sentinels did not fail over to %s:\n%s", set.replica.Addr, set.sentinels[0].Log())
		}
	}
	// The old primary comes back only after the failover: without
	// persistence it restarts empty, and a replica would copy that.
	set.primary.Start()
	var attached time.Time // when the new primary has an online replica again
	attachedDone := make(chan struct{})
	go func() {
		defer close(attachedDone)
		nc := set.replica.Client()
		defer nc.Close()
		for deadline := time.Now().Add(40 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if info, _ := nc.Info(ctx, "replication").Result(); strings.Contains(info, "state=online") {
				attached = time.Now()
				return
			}
		}
	}()

	var resumedAt time.Time
	select {
	case resumedAt = <-resumed:
	case <-time.After(60 * time.Second):
		close(stopLoad)
		t.Fatalf("no callback answered success in 60 s after the kill; kfgate's log:\n%s", tail(logs.String(), 4000))
	}
	time.Sleep(3 * time.Second)
	close(stopLoad)
	<-loadDone
	loadEnd := time.Now()
	wg.Wait()
	<-attachedDone

	// What WeChat was told.
	var ok, failed, okAfterRetry, noAnswer int
	var other []string
	var lastBefore time.Time
	succeeded := map[int64]bool{}
	for _, r := range runs {
		for _, a := range r.attempts {
			switch {
			case a.status == 200 && a.body == "success":
			case a.status == http.StatusServiceUnavailable:
			case a.status == 0:
				noAnswer++
			default:
				other = append(other, fmt.Sprintf("%d %q", a.status, a.body))
			}
			if a.status == 200 && a.at.Before(killedAt) && a.at.After(lastBefore) {
				lastBefore = a.at
			}
		}
		if r.succeeded() {
			ok++
			succeeded[r.msgID] = true
			if len(r.attempts) > 1 {
				okAfterRetry++
			}
		} else {
			failed++
		}
	}
	if len(other) > 0 {
		t.Errorf("%d answers were neither success nor 503, e.g. %v", len(other), other[:min(5, len(other))])
	}
	// The answers second by second, by when they were posted.
	type second struct{ posted, ok, unavailable, none int }
	var timeline []second
	for _, r := range runs {
		for _, a := range r.attempts {
			i := int(a.posted.Sub(runs[0].sent).Seconds())
			for len(timeline) <= i {
				timeline = append(timeline, second{})
			}
			timeline[i].posted++
			switch a.status {
			case 200:
				timeline[i].ok++
			case http.StatusServiceUnavailable:
				timeline[i].unavailable++
			case 0:
				timeline[i].none++
			}
		}
	}
	kill := int(killedAt.Sub(runs[0].sent).Seconds())
	var table strings.Builder
	for i, s := range timeline {
		fmt.Fprintf(&table, "\n  %+3d s  %5d posted  %5d success  %5d 503  %3d no answer", i-kill, s.posted, s.ok, s.unavailable, s.none)
	}
	t.Logf("attempts by second from the kill (new callbacks and WeChat's retries):%s", table.String())
	elapsed := loadEnd.Sub(runs[0].sent).Seconds()
	t.Logf("%d callbacks posted in %.1f s (%.0f/s): %d answered success (%d of them after WeChat's retries), %d never (WeChat gives up on them), %d attempts without an answer",
		len(runs), elapsed, float64(len(runs))/elapsed, ok, okAfterRetry, failed, noAnswer)
	t.Logf("the sentinels switched %.2f s after the kill; the old primary, restarted then, was an online replica of the new one %.2f s after the kill",
		switchedAt.Sub(killedAt).Seconds(), attached.Sub(killedAt).Seconds())
	t.Logf("seconds without service: %.2f (the kill to the first success of a post made after it; the last success before the kill came %.2f s before it)",
		resumedAt.Sub(killedAt).Seconds(), killedAt.Sub(lastBefore).Seconds())

	// kfgate follows the new primary: the records are there. On a loaded
	// machine the sentinels may fail over once more (the new primary
	// missed their pings for down-after-milliseconds, 1 s here), back to
	// the old one once it is a replica: the records must then be there.
	got := set.primaryAddr(ctx)
	switch got {
	case set.replica.Addr:
	case set.primary.Addr:
		t.Logf("the sentinels failed over a second time, back to %s", got)
	default:
		t.Fatalf("the sentinels name %q as primary, want %s", got, set.replica.Addr)
	}
	nc := redis.NewClient(&redis.Options{Addr: got, DisableIdentity: true, Protocol: 2, MaxRetries: -1})
	defer nc.Close()
	recorded := map[int64]bool{}
	entries, err := nc.XRange(ctx, prefix+intake.StreamKey, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range entries {
		e, err := intake.Decode(x)
		if err != nil {
			t.Fatal(err)
		}
		var id int64
		_, _ = fmt.Sscan(e.Message.MsgID, &id)
		recorded[id] = true
	}
	// The engine's own record of each: a message.received event.
	handled := map[int64]bool{}
	missing := func() []int64 {
		var out []int64
		for id := range succeeded {
			if !handled[id] {
				out = append(out, id)
			}
		}
		return out
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		events, err := nc.XRange(ctx, prefix+"events", "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range events {
			var ev struct {
				Type    string
				Message struct{ ID string }
			}
			s, _ := x.Values["event"].(string)
			if json.Unmarshal([]byte(s), &ev) == nil && ev.Type == "message.received" {
				var id int64
				_, _ = fmt.Sscan(ev.Message.ID, &id)
				handled[id] = true
			}
		}
		if len(missing()) == 0 || time.Now().After(deadline) {
			break
		}
	}
	var notRecorded int
	for id := range succeeded {
		if !recorded[id] {
			notRecorded++
		}
	}
	t.Logf("of %d callbacks answered success: %d in the intake stream on the new primary, %d handled by the engine (message.received); the stream holds %d entries in all",
		len(succeeded), len(succeeded)-notRecorded, len(succeeded)-len(missing()), len(entries))
	if notRecorded > 0 {
		t.Errorf("%d callbacks answered success are not in the intake stream after the failover: a false success", notRecorded)
	}
	if m := missing(); len(m) > 0 {
		t.Errorf("%d callbacks answered success were not handled by the engine, e.g. %v", len(m), m[:min(5, len(m))])
	}

	// kfgate is whole again: ready, and no component gave up on Redis.
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("/readyz = %d after the failover", resp.StatusCode)
	}
	if strings.Contains(logs.String(), "component stopped unexpectedly") {
		t.Errorf("a component stopped during the failover:\n%s", tail(logs.String(), 4000))
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
