package agentws

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/kfgate/kfgate/internal/redistest"
)

// A client that stops reading is dropped without slowing the others: one
// tab of agent a never reads while events are published as fast as the
// other tab takes them; the reading tab gets every event promptly, the
// stuck one is taken out of the fan-out when its buffer overflows and,
// once it reads again, finds the events it had, the resync frame and close
// status 1013.
func TestSlowClientDropped(t *testing.T) {
	rdb, prefix := redistest.New(t)
	r := newReplica(t, rdb, prefix, func(o *Options) {
		o.PingEvery = time.Minute
	})
	slow := r.dial(t, "tok-a")
	fast := r.dial(t, "tok-a")

	got := make(chan string, 1024)
	go func() {
		defer close(got)
		for {
			_, b, err := fast.Read(context.Background())
			if err != nil {
				return
			}
			got <- string(b)
		}
	}()

	pad := strings.Repeat("x", 4000) // events of ~4 kB fill the socket buffers sooner
	ev := func(i int) string {
		return fmt.Sprintf(`{"type":"message.received","session":"s%d","seq":%d,"message":{"content":%q}}`, i%4, i, pad)
	}
	const batch, limit, after = 32, 30000, 30
	var (
		sent, droppedAt, batchesAfter int
		worst                         time.Duration
		start                         = time.Now()
		dropTime                      time.Duration
	)
	for sent < limit && (droppedAt == 0 || batchesAfter < after) {
		events := make([]string, batch)
		for i := range events {
			events[i] = ev(sent + i)
		}
		t0 := time.Now()
		publish(t, rdb, prefix, "a", events...)
		for i, want := range events {
			select {
			case g := <-got:
				if g != want {
					t.Fatalf("fast client, event %d: got %.80s…, want %.80s…", sent+i, g, want)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("fast client stalled at event %d", sent+i)
			}
		}
		worst = max(worst, time.Since(t0))
		sent += batch
		if droppedAt == 0 && r.hub.Connections() == 1 {
			droppedAt, dropTime = sent, time.Since(start)
		} else if droppedAt != 0 {
			batchesAfter++
		}
	}
	if droppedAt == 0 {
		t.Fatalf("the client that never reads was not dropped after %d events", sent)
	}
	t.Logf("fast client got all %d events (%.1f MB) in %v, slowest batch of %d %v; "+
		"the stuck client was dropped after %d events, %v in",
		sent, float64(sent*len(ev(0)))/1e6, time.Since(start).Round(time.Millisecond),
		batch, worst.Round(time.Microsecond), droppedAt, dropTime.Round(time.Millisecond))
	if worst > 2*time.Second {
		t.Errorf("a batch took %v to reach the fast client", worst)
	}

	// The stuck client reads again: the events it had, in order, then the
	// resync frame and the close.
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	var n int
	var last string
	for {
		_, b, err := slow.Read(ctx)
		if err != nil {
			if s := websocket.CloseStatus(err); s != websocket.StatusTryAgainLater {
				t.Fatalf("stuck client ended with %v, want close 1013", err)
			}
			break
		}
		last = string(b)
		var f struct {
			Type string
			Seq  int
		}
		if err := json.Unmarshal(b, &f); err != nil {
			t.Fatal(err)
		}
		if f.Type == "resync" {
			continue
		}
		if f.Seq != n {
			t.Fatalf("stuck client: event seq %d, want %d", f.Seq, n)
		}
		n++
	}
	if last != string(frameResyncSlow) {
		t.Errorf("last frame %.80s, want %s", last, frameResyncSlow)
	}
	if n >= sent {
		t.Errorf("stuck client got all %d events", n)
	}
	if got := testutil.ToFloat64(r.hub.resyncs.WithLabelValues("slow")); got != 1 {
		t.Errorf("kfgate_agent_ws_resyncs_total{reason=\"slow\"} = %v, want 1", got)
	}
	t.Logf("the stuck client had %d events buffered before the resync frame", n)
}

// A client that never reads again is cut within two write timeouts of
// being dropped (the write in flight, then the resync frame), and no
// event waits for it meanwhile.
func TestStuckClientClosed(t *testing.T) {
	rdb, prefix := redistest.New(t)
	logs := &logSink{ch: make(chan string, 64)}
	const timeout = 200 * time.Millisecond
	r := newReplica(t, rdb, prefix, func(o *Options) {
		o.SendBuffer = 16
		o.WriteTimeout = timeout
		o.PingEvery = time.Minute
		o.Logger = slog.New(logs)
	})
	r.dial(t, "tok-a")
	<-logs.ch // agent connected
	pad := strings.Repeat("x", 8000)
	var dropped time.Time
	for i := 0; dropped.IsZero(); i++ {
		if i == 100 {
			t.Fatal("not dropped after 100 batches")
		}
		events := make([]string, 20)
		for j := range events {
			events[j] = fmt.Sprintf(`{"type":"message.received","seq":%d,"pad":%q}`, i*20+j, pad)
		}
		publish(t, rdb, prefix, "a", events...)
		time.Sleep(time.Millisecond)
		if r.hub.Connections() == 0 {
			dropped = time.Now()
		}
	}
	select {
	case msg := <-logs.ch:
		took := time.Since(dropped)
		t.Logf("%s %v after the drop", msg, took.Round(time.Millisecond))
		if msg != "agent disconnected reason=too_slow" {
			t.Errorf("log %q", msg)
		}
		if took > 2*timeout+100*time.Millisecond {
			t.Errorf("cut %v after the drop, want within 2 × %v", took, timeout)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stuck connection was never closed")
	}
}

// logSink passes on the messages kfgate logs, with their reason if any.
type logSink struct{ ch chan string }

func (l *logSink) Enabled(context.Context, slog.Level) bool { return true }
func (l *logSink) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logSink) WithGroup(string) slog.Handler            { return l }
func (l *logSink) Handle(_ context.Context, r slog.Record) error {
	msg := r.Message
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "reason" {
			msg += " reason=" + a.Value.String()
		}
		return true
	})
	l.ch <- msg
	return nil
}
