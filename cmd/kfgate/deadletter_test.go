package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/sim"
)

// A poison intake entry (the engine fails on it, through a test hook) is
// tried engine.max_deliveries times and goes to the dead-letter stream with
// its error, while 1,000 other messages flow past it; once the fault is
// gone, the admin API retries it and the engine handles it.
func TestPoisonEntryDeadLettered(t *testing.T) {
	const adminToken = "poison-admin-token-00000001"
	var poisoned atomic.Bool
	poisoned.Store(true)
	engineFault = func(m *kf.Message) error {
		if poisoned.Load() && m.Content == "POISON" {
			return errors.New("injected fault: cannot handle this message")
		}
		return nil
	}
	t.Cleanup(func() { engineFault = nil })
	setup := newSimulated(t, simulatedOptions{secret: "poison-secret", adminToken: adminToken, plaintext: true,
		extra: "engine: {max_deliveries: 3, retry_after: 200ms}"})
	rdb, prefix := setup.rdb, setup.prefix
	base, _, _ := startServe(t, setup.config, nil)
	ctx := context.Background()
	// A Poster is one simulated client: one per goroutine.
	poster := func() func(user, content string, id int64) {
		p, err := sim.NewPoster(base, sim.Account{AppID: testAppID, Token: testToken}, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		return func(user, content string, id int64) {
			if status, body, err := p.Post(ctx, p.Prepare(sim.TextXML("gh_poison", user, time.Now().Unix(), content, id))); err != nil || status != 200 {
				t.Errorf("callback = %d %s %v", status, body, err)
			}
		}
	}
	poster()("o_poisoner", "POISON", 1)
	var wg sync.WaitGroup
	for w := range 4 {
		post := poster()
		wg.Go(func() {
			for i := w; i < 1000; i += 4 {
				post(fmt.Sprintf("o_user%02d", i%50), fmt.Sprintf("message %d", i), int64(1000+i))
			}
		})
	}
	wg.Wait()
	received := func(content string) int {
		n := 0
		for _, x := range rdb.XRange(ctx, prefix+"events", "-", "+").Val() {
			if x.Values["type"] == kf.EventMessageReceived && strings.Contains(x.Values["event"].(string), `"content":"`+content) {
				n++
			}
		}
		return n
	}
	waitFor(t, "the 1,000 messages handled and the poison dead-lettered", func() bool {
		return received("message ") == 1000 && rdb.XLen(ctx, prefix+"deadletter").Val() == 1
	})
	if n := received("POISON"); n != 0 {
		t.Fatalf("the poison was handled %d times while the fault was on", n)
	}
	status, out := apiCall(t, base, "GET", "/api/v1/deadletters", adminToken, "")
	list, _ := out["deadletters"].([]any)
	if status != 200 || len(list) != 1 {
		t.Fatalf("GET /api/v1/deadletters = %d %v", status, out)
	}
	dead := list[0].(map[string]any)
	if dead["stream"] != "intake" || dead["group"] != "engine" || dead["deliveries"] != float64(3) ||
		!strings.Contains(dead["error"].(string), "injected fault") {
		t.Errorf("dead letter = %v, want the intake entry, 3 deliveries, and the engine's error", dead)
	}

	poisoned.Store(false)
	if status, out := apiCall(t, base, "POST", "/api/v1/deadletters/"+dead["id"].(string)+"/retry", adminToken, ""); status != 202 {
		t.Fatalf("retry = %d %v", status, out)
	}
	waitFor(t, "the retried entry handled", func() bool { return received("POISON") == 1 })
	if n := rdb.XLen(ctx, prefix+"deadletter").Val(); n != 0 {
		t.Errorf("%d dead letters after the retry", n)
	}
}
