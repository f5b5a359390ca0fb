package session

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/kf"
)

var (
	liveScript  = script("live")
	queueScript = script("queue")
)

// Live is a live session as the admins' live list shows it: the session,
// and what a desk needs to see at a glance.
type Live struct {
	kf.Session
	// WaitingSince is when the user's oldest message without an answer
	// arrived: nil once the agent has written since the user last did.
	WaitingSince *time.Time `json:"waiting_since"`
	// Waited is how long the user has waited for an answer so far, in
	// seconds (from WaitingSince to now); nil when WaitingSince is.
	Waited *float64 `json:"waited"`
	// Unread counts the user's messages since the agent last wrote.
	Unread int `json:"unread"`
	// LastMessage previews the session's last message, either side.
	LastMessage *kf.Preview `json:"last_message"`
	// QueuedAt is when the user joined the queue (waiting, transferring).
	QueuedAt  *time.Time `json:"queued_at,omitempty"`
	FromAgent string     `json:"from_agent,omitempty"` // transferring: who handed it over
	Transfers int        `json:"transfers"`
}

// LiveFilter selects live sessions; zero fields select all.
type LiveFilter struct {
	Account, Agent string
	State          kf.State // waiting, serving or transferring
	Limit          int      // default 50, at most 500
	// Cursor is the Next of the previous page ("" = from the most recent).
	Cursor string
	// Budget bounds the index entries one call looks at with an account or
	// state filter; default 5000.
	Budget int
}

// LivePage is one page of the live list.
type LivePage struct {
	Sessions []Live
	Next     string // cursor of the next page; "" when this one is the last
	Total    int    // live sessions in all (unfiltered)
	Scanned  int    // index entries looked at
	// Queued counts the users in the queues (waiting, transferring), of
	// the filter's account if it has one.
	Queued int
}

// ListLive reads a page of the live sessions in one round trip (see
// lua/live.lua): the served ones, the most recently active first, then the
// queued ones in the order they will be taken.
func (s *Store) ListLive(ctx context.Context, f LiveFilter, now time.Time) (LivePage, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	f.Limit = min(f.Limit, 500)
	if f.Budget <= 0 {
		f.Budget = 5000
	}
	// A cursor is "<score>:<account>:<openid>" in the served part, and
	// "q:<score>:<account>:<openid>" in the queued part.
	var part, cscore, ckey string
	if f.Cursor != "" {
		c, queued := strings.CutPrefix(f.Cursor, "q:")
		score, key, ok := strings.Cut(c, ":")
		if _, err := strconv.ParseInt(score, 10, 64); !ok || err != nil || key == "" {
			return LivePage{}, kf.Errorf(kf.KindInvalid, "bad_cursor", "cursor must be the next of a previous page")
		}
		part, cscore, ckey = "s", score, s.prefix+"sess:"+key
		if queued {
			part = "q"
		}
	}
	r, err := liveScript.Run(ctx, s.rdb, nil, s.prefix, f.Account, string(f.State), f.Agent, part, cscore, ckey,
		f.Limit, f.Budget).Slice()
	if err != nil {
		return LivePage{}, s.fail("live list", err)
	}
	if len(r) < 6 {
		return LivePage{}, fmt.Errorf("session: live script returned %d values", len(r))
	}
	page := LivePage{Sessions: make([]Live, 0, len(r)-6)}
	if score, _ := r[1].(string); score != "" {
		key, _ := r[2].(string)
		page.Next = score + ":" + strings.TrimPrefix(key, s.prefix+"sess:")
		if r[0] == "q" {
			page.Next = "q:" + page.Next
		}
	}
	total, _ := r[3].(int64)
	scanned, _ := r[4].(int64)
	queued, _ := r[5].(int64)
	page.Total, page.Scanned, page.Queued = int(total), int(scanned), int(queued)
	for _, x := range r[6:] {
		flat, _ := x.([]any)
		h := make(map[string]string, len(flat)/2)
		for i := 0; i+1 < len(flat); i += 2 {
			k, _ := flat[i].(string)
			v, _ := flat[i+1].(string)
			h[k] = v
		}
		page.Sessions = append(page.Sessions, liveFromHash(h, now))
	}
	return page, nil
}

// LiveSession returns the live view of one live session by id.
func (s *Store) LiveSession(ctx context.Context, id string, now time.Time) (Live, error) {
	sess, err := s.SessionByID(ctx, id)
	if err != nil {
		return Live{}, err
	}
	h, err := s.rdb.HGetAll(ctx, s.prefix+"sess:"+sess.Account+":"+sess.OpenID).Result()
	if err != nil {
		return Live{}, s.fail("live session", err)
	}
	if h["id"] != id {
		return Live{}, ErrNoSession
	}
	h["account"], h["openid"] = sess.Account, sess.OpenID // in the key, not the hash
	return liveFromHash(h, now), nil
}

func liveFromHash(h map[string]string, now time.Time) Live {
	msOf := func(k string) (time.Time, bool) {
		n, err := strconv.ParseInt(h[k], 10, 64)
		return time.UnixMilli(n), err == nil && n > 0
	}
	// A session that opened queued has only `created` until it changes:
	// updated, queued_at at that time (lua/inbound.lua).
	created, _ := msOf("created")
	updated, ok := msOf("updated")
	if !ok {
		updated = created
	}
	l := Live{Session: kf.Session{ID: h["id"], Account: h["account"], OpenID: h["openid"], State: kf.State(h["state"]),
		Agent: h["agent"], Skill: h["skill"], CreatedAt: created, UpdatedAt: updated}, FromAgent: h["from_agent"]}
	l.Unread, _ = strconv.Atoi(h["unread"])
	l.Transfers, _ = strconv.Atoi(h["transfers"])
	if t, ok := msOf("waiting_since"); ok {
		waited := max(now.Sub(t), 0).Seconds()
		l.WaitingSince, l.Waited = &t, &waited
	}
	if l.State != kf.StateServing {
		if t, ok := msOf("queued_at"); ok {
			l.QueuedAt = &t
		} else if !created.IsZero() {
			l.QueuedAt = &created
		}
	}
	if p := h["last"]; p != "" {
		if pv, ok := kf.ParseStoredPreview(p); ok {
			l.LastMessage = &pv
		}
	}
	return l
}

// Waiting is a user in a queue.
type Waiting struct {
	OpenID   string    `json:"openid"`
	Session  string    `json:"session"`
	Position int       `json:"position"`
	Since    time.Time `json:"since"` // when the user joined the queue
	State    kf.State  `json:"state"` // waiting, or transferring
}

// QueueSince returns who waits for (account, skill), first first, with
// since when, in one round trip.
func (s *Store) QueueSince(ctx context.Context, account, skill string) ([]Waiting, error) {
	r, err := queueScript.Run(ctx, s.rdb, nil, s.prefix, account, skill).StringSlice()
	if err != nil {
		return nil, s.fail("queue", err)
	}
	out := make([]Waiting, 0, len(r)/4)
	for i := 0; i+3 < len(r); i += 4 {
		ms, _ := strconv.ParseInt(r[i+2], 10, 64)
		out = append(out, Waiting{OpenID: r[i], Session: r[i+1], Position: len(out) + 1, Since: time.UnixMilli(ms),
			State: kf.State(r[i+3])})
	}
	return out, nil
}

var indexScript = redis.NewScript(`
-- Put served sessions into the live index (KEYS[1]) by their last
-- activity, unless the scripts indexed them meanwhile, and take queued
-- ones out (their queues list them). ARGV: session keys.
local n = 0
for _, key in ipairs(ARGV) do
  local f = redis.call('HMGET', key, 'state', 'updated', 'created', 'id')
  if f[1] == 'serving' and f[4] then
    n = n + redis.call('ZADD', KEYS[1], 'NX', tonumber(f[2] or f[3] or '0'), key)
  elseif f[1] then
    n = n + redis.call('ZREM', KEYS[1], key)
  end
end
return n`)

// liveIndexVersion is <prefix>live:indexed once IndexLive ran: "1" when an
// earlier version indexed every live session, "2" since the index holds
// the served ones only.
const liveIndexVersion = "2"

// IndexLive brings the live index to this version's form, once per Redis:
// it puts in the served sessions an earlier version opened before the
// index existed, and takes out the queued ones an earlier version put in.
// The first replica to start claims it (SET <prefix>live:indexed 2 GET)
// and walks the session keys with SCAN, once; from then on the scripts
// keep the index, and the live list never scans. It returns the sessions
// added or taken out.
func (s *Store) IndexLive(ctx context.Context) (int, error) {
	flag := s.prefix + "live:indexed"
	was, err := s.rdb.SetArgs(ctx, flag, liveIndexVersion, redis.SetArgs{Get: true}).Result()
	if errors.Is(err, redis.Nil) {
		was, err = "", nil
	}
	if err != nil || was == liveIndexVersion {
		return 0, s.fail("index live sessions", err)
	}
	undo := func() { // let the next start try again
		if was == "" {
			_ = s.rdb.Del(ctx, flag).Err()
		} else {
			_ = s.rdb.Set(ctx, flag, was, 0).Err()
		}
	}
	changed := 0
	var cursor uint64
	for {
		keys, next, err := s.rdb.Scan(ctx, cursor, globEscape(s.prefix)+"sess:*", 500).Result()
		if err != nil {
			undo()
			return changed, s.fail("index live sessions", err)
		}
		if len(keys) > 0 {
			args := make([]any, len(keys))
			for i, k := range keys {
				args[i] = k
			}
			n, err := indexScript.Run(ctx, s.rdb, []string{s.prefix + "live"}, args...).Int()
			if err != nil {
				undo()
				return changed, s.fail("index live sessions", err)
			}
			changed += n
		}
		if cursor = next; cursor == 0 {
			return changed, nil
		}
	}
}

// globEscape quotes the characters SCAN's MATCH treats as a pattern.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
