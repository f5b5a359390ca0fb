// Package intake is the durable hand-off between the callback endpoint and
// the rest of kfgate. Record drops WeChat's retries and appends each new
// delivery to a Redis stream in one atomic script, shared by every replica,
// so a message is acknowledged to WeChat only once it is safely recorded
// and is recorded exactly once however many times WeChat delivers it.
//
// The package owns its stream: it writes the entries (Record) and reads
// them (Decode); nobody else knows their fields. An entry holds the message
// already decoded (kf.Message as JSON) and the user's openid on its own,
// so the reader neither parses WeChat's XML again nor needs the whole
// message to tell whose it is.
package intake

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/wxmsg"
)

// StreamKey is the name, after the prefix, of the stream of accepted
// messages that the conversation engine consumes.
const StreamKey = "intake"

// Fields of a stream entry; Decode reads them.
const (
	fieldAccount  = "account"  // appid of the official account
	fieldKey      = "key"      // the dedup key of the delivery
	fieldOpenID   = "openid"   // FromUserName: the user
	fieldMessage  = "msg"      // the decoded kf.Message as JSON (without Raw)
	fieldReceived = "received" // Unix milliseconds when kfgate accepted it

	// legacyXML is where earlier versions kept the message: its XML.
	legacyXML = "xml"
)

//go:embed record.lua
var recordLua string

var recordScript = redis.NewScript(recordLua)

// Store records deliveries in Redis.
type Store struct {
	rdb    redis.Cmdable
	prefix string
	ttl    time.Duration
	stream string
	now    func() time.Time
	// replicas is how many replicas must hold a record before Record
	// returns it, waiting up to replicaWait; 0 = none.
	replicas    int
	replicaWait time.Duration
	// While replicas are missing (a WAIT fell short within the last
	// second, until one succeeds), records do not wait: one every
	// probeEvery waits in full, to find the replicas back, and the rest
	// are recorded and answered 503 at once. Each waiting would hold a
	// Redis connection for replicaWait; at hundreds of callbacks a second
	// that exhausts the pool, and the queue for it outlives the outage.
	missingUntil atomic.Int64 // Unix nanoseconds
	lastProbe    atomic.Int64 // Unix nanoseconds
	// waits bounds the records waiting at once to the connections
	// pipelines have. WAIT normally answers in a round trip, so a place
	// is free within a millisecond; none within slotWait means the
	// replicas are slow or gone before a WAIT has timed out to say so,
	// and a record that queued for a connection would only answer past
	// the callback's deadline (at hundreds a second, a queue that
	// outlives the outage). It is recorded and answered 503 at once.
	waits chan struct{}
}

const (
	probeEvery  = 100 * time.Millisecond
	missingTerm = time.Second
	slotWait    = 10 * time.Millisecond
)

// NewStore returns a Store writing keys that start with prefix and
// remembering deliveries for ttl (at least WeChat's ≈20 s of retries).
func NewStore(rdb redis.Cmdable, prefix string, ttl time.Duration) *Store {
	return &Store{rdb: rdb, prefix: prefix, ttl: ttl, stream: prefix + StreamKey, now: time.Now}
}

// RequireReplicas makes Record wait (Redis WAIT) until n replicas hold
// the record, for up to timeout, before it answers; fewer is an error of
// kind unavailable, which WeChat is told as 503 and retries. A retry that
// finds the record waits the same way, so "success" is only ever said of
// a record n replicas hold (docs/architecture.md, "Failover"). Call it
// before the Store is used.
func (s *Store) RequireReplicas(n int, timeout time.Duration) {
	s.replicas, s.replicaWait = n, timeout
	s.waits = make(chan struct{}, 10*runtime.GOMAXPROCS(0)) // go-redis's pool size
}

// Stream returns the full key of the intake stream.
func (s *Store) Stream() string { return s.stream }

// Delivery is one accepted callback to record.
type Delivery struct {
	Message *kf.Message // decoded; Account and Raw set
	// Answer is what WeChat gets for this delivery: a passive reply's
	// plaintext XML, or empty for "success". A retry gets the answer of the
	// first delivery, even if the configuration changed in between.
	Answer []byte
	// Pair is the callback's "timestamp:nonce" and BodyHash a hash of its
	// body. The pair is remembered with the hash for PairTTL: the same pair
	// with another body is a replay, refused (403); with the same body it
	// is WeChat's retry. An empty Pair skips the check.
	Pair     string
	BodyHash []byte
	PairTTL  time.Duration
}

// Result says what Record did.
type Result struct {
	Duplicate bool   // a retry of a delivery already recorded
	Answer    []byte // the answer to give: this delivery's, or the first one's
	ID        string // the stream entry id when not a duplicate
}

// Record appends d to the intake stream unless its dedup key was seen within
// the TTL, after refusing a replayed (timestamp, nonce) pair. The checks and
// the append are one Lua script: one round trip, and two replicas racing on
// the same delivery record it once.
func (s *Store) Record(ctx context.Context, d Delivery) (Result, error) {
	m := d.Message
	key := DedupKey(m)
	pairKey, pairTTL, hash := s.prefix+"nonce:"+m.Account+":"+d.Pair, max(d.PairTTL.Milliseconds(), 1), d.BodyHash
	if d.Pair == "" {
		pairKey, hash = s.prefix+"nonce:", nil // the script skips the check, and the key
	}
	body, err := json.Marshal(m)
	if err != nil {
		return Result{}, fmt.Errorf("intake: encode the message: %w", err)
	}
	keys := []string{s.prefix + "dedup:" + m.Account + ":" + key, s.stream, pairKey}
	touch := "0"
	if s.replicas > 0 {
		touch = "1"
	}
	args := []any{s.ttl.Milliseconds(), d.Answer, hash, pairTTL, touch,
		fieldAccount, m.Account,
		fieldKey, key,
		fieldOpenID, m.OpenID,
		fieldMessage, body,
		fieldReceived, s.now().UnixMilli(),
	}
	var res []any
	if s.replicas > 0 {
		res, err = s.recordReplicated(ctx, keys, args)
	} else if res, err = recordScript.Run(ctx, s.rdb, keys, args...).Slice(); err != nil {
		err = unavailable(err)
	}
	if err != nil {
		return Result{}, err
	}
	if len(res) != 2 {
		return Result{}, fmt.Errorf("intake: record script returned %d values", len(res))
	}
	fresh, _ := res[0].(int64)
	val, _ := res[1].(string)
	if fresh == 2 {
		return Result{}, kf.Errorf(kf.KindForbidden, "replayed_nonce", "timestamp and nonce already used with another body")
	}
	if fresh == 1 {
		return Result{ID: val, Answer: d.Answer}, nil
	}
	return Result{Duplicate: true, Answer: []byte(val)}, nil
}

// recordReplicated runs the record script and WAIT on one connection, in
// one round trip: WAIT counts the replicas that hold this connection's
// writes so far, the script's included. The script is sent whole only
// when Redis does not have it yet.
func (s *Store) recordReplicated(ctx context.Context, keys []string, args []any) ([]any, error) {
	// Missing replicas: only a probe waits; the rest are answered at once.
	now := time.Now().UnixNano()
	wait, probe := true, false
	if now < s.missingUntil.Load() {
		last := s.lastProbe.Load()
		probe = now-last >= int64(probeEvery) && s.lastProbe.CompareAndSwap(last, now)
		wait = probe
	}
	if wait && s.takeSlot(ctx) {
		defer func() { <-s.waits }()
		// The replicas may have been found missing while this one queued.
		wait = probe || time.Now().UnixNano() >= s.missingUntil.Load()
	} else {
		wait = false
	}
	if !wait {
		res, err := recordScript.Run(ctx, s.rdb, keys, args...).Slice()
		if err != nil {
			return nil, unavailable(err)
		}
		if len(res) != 2 {
			return res, nil // Record reports it
		}
		if code, _ := res[0].(int64); code == 2 {
			return res, nil
		}
		return nil, kf.Errorf(kf.KindUnavailable, "not_replicated",
			"the message is recorded, but replicas are missing or slow to acknowledge; WeChat will retry")
	}
	run := func(eval func(ctx context.Context, c redis.Scripter, keys []string, args ...any) *redis.Cmd) (*redis.Cmd, *redis.Cmd) {
		var rec *redis.Cmd
		var acked *redis.Cmd
		_, _ = s.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
			rec = eval(ctx, pipe, keys, args...)
			// WAIT blocks for up to its timeout, within the client's read
			// timeout (config keeps min_replicas_ack_timeout at most 2s).
			acked = pipe.Do(ctx, "wait", s.replicas, s.replicaWait.Milliseconds())
			return nil
		})
		return rec, acked
	}
	rec, acked := run(recordScript.EvalSha)
	if redis.HasErrorPrefix(rec.Err(), "NOSCRIPT") {
		rec, acked = run(recordScript.Eval)
	}
	res, err := rec.Slice()
	if err != nil {
		return nil, unavailable(err)
	}
	if len(res) != 2 {
		return res, nil // Record reports it
	}
	if code, _ := res[0].(int64); code == 2 {
		return res, nil // refused: nothing was recorded to wait for
	}
	n, err := acked.Int64()
	if err != nil {
		return nil, unavailable(err)
	}
	if n < int64(s.replicas) {
		s.missingUntil.Store(time.Now().Add(missingTerm).UnixNano())
		return nil, kf.Errorf(kf.KindUnavailable, "not_replicated",
			"the message is recorded on %d of the %d replicas required within %s; WeChat will retry", n, s.replicas, s.replicaWait)
	}
	if s.missingUntil.Load() != 0 {
		s.missingUntil.Store(0)
	}
	return res, nil
}

// takeSlot takes a place among the records waiting for replicas, waiting
// for one up to slotWait; false: none came.
func (s *Store) takeSlot(ctx context.Context) bool {
	select {
	case s.waits <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(slotWait)
	defer t.Stop()
	select {
	case s.waits <- struct{}{}:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

// unavailable is Record's error when Redis cannot be reached or refuses:
// WeChat is answered 503 and retries.
func unavailable(err error) error {
	return kf.Wrap(kf.KindUnavailable, "unavailable", err, "cannot record the message now; WeChat will retry")
}

// DedupKey identifies a delivery across WeChat's retries (docs/wechat.md,
// "Retries and dedup"):
// MsgId for a message; FromUserName, CreateTime, Event and EventKey for an
// event (two events of one user can share a second), plus the MsgID that
// job-finish events carry (two template results can share a second too),
// plus, for the kf_* session events, the kf accounts they name (a user
// switched twice in one second). A push with neither falls back to its
// sender, time and type.
func DedupKey(m *kf.Message) string {
	switch {
	case m.MsgID != "" && !m.IsEvent():
		return "m:" + m.MsgID
	case m.IsEvent() && (m.KfAccount != "" || m.FromKfAccount != "" || m.ToKfAccount != ""):
		return "e:" + m.OpenID + ":" + strconv.FormatInt(m.CreateTime, 10) + ":" + string(m.Event) + ":" + m.EventKey + ":" + m.MsgID +
			":" + m.KfAccount + ":" + m.FromKfAccount + ":" + m.ToKfAccount
	case m.IsEvent():
		return "e:" + m.OpenID + ":" + strconv.FormatInt(m.CreateTime, 10) + ":" + string(m.Event) + ":" + m.EventKey + ":" + m.MsgID
	default:
		return "t:" + m.OpenID + ":" + strconv.FormatInt(m.CreateTime, 10) + ":" + string(m.Type)
	}
}

// Entry is one accepted message as read back from the intake stream.
type Entry struct {
	ID       string     // the stream entry id
	Key      string     // the delivery's dedup key
	Message  kf.Message // Account set; Raw is not kept
	Received time.Time  // when kfgate accepted it
}

// OpenID returns the user of a stream entry without decoding its message,
// e.g. to choose which lane handles it.
func OpenID(x redis.XMessage) string { v, _ := x.Values[fieldOpenID].(string); return v }

// Decode reads a stream entry that Record wrote. An error means the entry
// can never be read (it was not written by Record), not that a retry would
// help.
func Decode(x redis.XMessage) (Entry, error) {
	str := func(k string) string { v, _ := x.Values[k].(string); return v }
	e := Entry{ID: x.ID, Key: str(fieldKey)}
	switch body := str(fieldMessage); {
	case body != "":
		if err := json.Unmarshal([]byte(body), &e.Message); err != nil {
			return Entry{}, fmt.Errorf("intake: entry %s: %w", x.ID, err)
		}
	case str(legacyXML) != "":
		// Written by a replica of an earlier version (the raw XML), still
		// pending during a rolling upgrade: decode it as that version did.
		m, err := wxmsg.Decode([]byte(str(legacyXML)))
		if err != nil {
			return Entry{}, fmt.Errorf("intake: entry %s: %w", x.ID, err)
		}
		m.Raw = nil
		e.Message = m
	default:
		return Entry{}, fmt.Errorf("intake: entry %s has no message", x.ID)
	}
	if a := str(fieldAccount); a != "" {
		e.Message.Account = a
	}
	if ms, err := strconv.ParseInt(str(fieldReceived), 10, 64); err == nil {
		e.Received = time.UnixMilli(ms)
	}
	return e, nil
}
