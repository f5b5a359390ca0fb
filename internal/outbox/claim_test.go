package outbox

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/redistest"
	"github.com/kfgate/kfgate/internal/wxapi"
)

// A worker that read an entry and vanished (here: read by hand and never
// acked) leaves it pending; another worker claims it after ClaimIdle and
// delivers it.
func TestAbandonedEntryIsClaimed(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.open(t, "alice", time.Time{})
	id := e.enqueue(t, "alice", "claimed")
	if err := e.rdb.XGroupCreateMkStream(ctx, e.prefix+"outbox", "outbox", "0").Err(); err != nil {
		t.Fatal(err)
	}
	got, err := e.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "outbox", Consumer: "dead",
		Streams: []string{e.prefix + "outbox", ">"}, Count: 1}).Result()
	if err != nil || got[0].Messages[0].ID != id {
		t.Fatalf("dead worker read %v, %v", got, err)
	}
	start := time.Now()
	run(t, fast(e, "w2"))
	ev := e.final(t, id, 5*time.Second)
	if ev.Message.Status != "sent" || len(e.contents("alice")) != 1 {
		t.Fatalf("%+v; alice got %q", ev.Message, e.contents("alice"))
	}
	t.Logf("claimed and sent after %v (ClaimIdle 1s)", time.Since(start).Round(time.Millisecond))
}

// helperEnv is set in the environment of the helper process TestKilledWorker starts.
const helperEnv = "KFGATE_OUTBOX_HELPER_PREFIX"

// A worker process SIGKILLed in the middle of a custom/send call: the entry
// stays pending, and a worker of another process claims it and delivers it,
// once.
func TestKilledWorker(t *testing.T) {
	e := newEnv(t)
	e.open(t, "bob", time.Time{})
	id := e.enqueue(t, "bob", "survives a kill")

	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWorkerProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+e.prefix)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() && !strings.HasPrefix(sc.Text(), "sending") {
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no deferred code, no ack
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if st, _ := e.box.Status(context.Background(), id); st.Status != "queued" {
		t.Fatalf("after the kill the status is %+v, want queued", st)
	}
	killed := time.Now()

	run(t, fast(e, "survivor"))
	ev := e.final(t, id, 10*time.Second)
	if ev.Message.Status != "sent" || ev.Message.Attempts != 2 {
		t.Fatalf("%+v", ev.Message)
	}
	if got := e.contents("bob"); len(got) != 1 || got[0] != "survives a kill" {
		t.Fatalf("bob got %q", got)
	}
	t.Logf("killed mid-send; claimed and sent after %v, attempt %d, delivered once",
		time.Since(killed).Round(time.Millisecond), ev.Message.Attempts)
}

// stuckSender announces a send and never returns: a call hanging when the
// process is killed.
type stuckSender struct{}

func (stuckSender) SendCustom(ctx context.Context, appid string, msg wxapi.CustomMessage) error {
	fmt.Println("sending", msg.ToUser)
	select {}
}

// TestHelperWorkerProcess is the worker process TestKilledWorker kills; it
// does nothing in a normal run.
func TestHelperWorkerProcess(t *testing.T) {
	prefix := os.Getenv(helperEnv)
	if prefix == "" {
		return
	}
	opts, err := redis.ParseURL(redistest.URL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	box, err := New(Options{Redis: rdb, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewWorker(WorkerOptions{Outbox: box, Sender: stuckSender{}, Consumer: "doomed", Workers: 1,
		ClaimIdle: time.Second, Poll: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	_ = w.Run(context.Background())
}

// An entry whose final state could never be recorded (here: its attempts
// counter says it was taken up MaxDeliveries times past its last retry)
// goes to the dead-letter stream instead of being claimed for ever; the
// next message is sent.
func TestEndlessEntryDeadLettered(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.open(t, "carol", time.Time{})
	id := e.enqueue(t, "carol", "never final")
	if err := e.rdb.XGroupCreateMkStream(ctx, e.prefix+"outbox", "outbox", "0").Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "outbox", Consumer: "dead",
		Streams: []string{e.prefix + "outbox", ">"}, Count: 1}).Result(); err != nil {
		t.Fatal(err)
	}
	o := fast(e, "w2")
	o.MaxDeliveries = 2
	e.rdb.HSet(ctx, e.prefix+"outbox:attempts", id, o.Retries+1+o.MaxDeliveries) // the next is one too many
	next := e.enqueue(t, "carol", "next")
	run(t, o)
	if ev := e.final(t, next, 5*time.Second); ev.Message.Status != "sent" {
		t.Fatalf("next message %+v", ev.Message)
	}
	waitFor(t, 5*time.Second, func() bool { return e.rdb.XLen(ctx, e.prefix+"deadletter").Val() == 1 })
	d, err := e.rdb.XRange(ctx, e.prefix+"deadletter", "-", "+").Result()
	if err != nil || d[0].Values["id"] != id || !strings.Contains(fmt.Sprint(d[0].Values["error"]), "without a final state") {
		t.Fatalf("dead letter %+v %v", d, err)
	}
	if p, _ := e.rdb.XPending(ctx, e.prefix+"outbox", "outbox").Result(); p.Count != 0 {
		t.Fatalf("%d entries pending", p.Count)
	}
	if got := e.contents("carol"); len(got) != 1 || got[0] != "next" {
		t.Fatalf("carol got %q", got)
	}
}
