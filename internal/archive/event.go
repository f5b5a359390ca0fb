package archive

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/kf"
)

// event is one entry of the events stream, flattened into the columns of the
// staging table.
type event struct {
	ID      string // stream entry id
	MS, Seq int64  // the id's two parts
	Type    string
	Session string
	Account string
	OpenID  string
	State   string
	Agent   string
	From    string // from_agent
	Skill   string
	Actor   string
	Reason  string
	At      time.Time
	// KeyAt is the time in the entry id that keys the event's message row
	// (the outbox entry's for an outbound message, the event's own
	// otherwise): the messages table's partition key, the same at every
	// delivery of the entry (migrations/00013_archive_partitions.sql).
	KeyAt    time.Time
	Msg      eventMessage
	OutboxID string // message.status: the outbox entry id ("" when refused before queueing)
	Out      outboxEntry
}

type eventMessage struct {
	// Rich is every other field of a user's message (kf.Item), kept as the
	// row's payload.
	kf.Rich
	ID       string `json:"id"`
	Type     string `json:"type"`
	Content  string `json:"content"`
	MediaID  string `json:"media_id"`
	Event    string `json:"event"`
	Status   string `json:"status"`
	Reason   string `json:"reason"`
	Code     string `json:"code"`
	ErrCode  int64  `json:"errcode"`
	Kind     string `json:"kind"`
	Attempts int64  `json:"attempts"`
}

// outboxEntry is what the archive keeps of an outbox entry.
type outboxEntry struct {
	Found   bool
	Kind    string
	MsgType string
	Content string
	MediaID string
	Agent   string
}

type rawEvent struct {
	Type       string          `json:"type"`
	Session    string          `json:"session"`
	Account    string          `json:"account"`
	OpenID     string          `json:"openid"`
	State      string          `json:"state"`
	Agent      string          `json:"agent"`
	FromAgent  string          `json:"from_agent"`
	Skill      string          `json:"skill"`
	Actor      string          `json:"actor"`
	Reason     string          `json:"reason"`
	At         unixMS          `json:"at"`
	RawMessage json.RawMessage `json:"message"`
}

// parseID splits a stream entry id "ms-seq".
func parseID(id string) (ms, seq int64, err error) {
	a, b, ok := strings.Cut(id, "-")
	if !ok {
		return 0, 0, fmt.Errorf("stream id %q", id)
	}
	if ms, err = strconv.ParseInt(a, 10, 64); err != nil {
		return 0, 0, fmt.Errorf("stream id %q: %w", id, err)
	}
	if seq, err = strconv.ParseInt(b, 10, 64); err != nil {
		return 0, 0, fmt.Errorf("stream id %q: %w", id, err)
	}
	return ms, seq, nil
}

// parse decodes one stream entry. An error means the entry can never be
// archived (malformed), not that it should be retried.
func parse(m redis.XMessage) (event, error) {
	ms, seq, err := parseID(m.ID)
	if err != nil {
		return event{}, err
	}
	body, _ := m.Values["event"].(string)
	var r rawEvent
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		return event{}, fmt.Errorf("event %s: %w", m.ID, err)
	}
	e := event{ID: m.ID, MS: ms, Seq: seq, Type: r.Type, Session: r.Session, Account: r.Account,
		OpenID: r.OpenID, State: r.State, Agent: r.Agent, From: r.FromAgent, Skill: r.Skill,
		Actor: r.Actor, Reason: r.Reason, At: time.UnixMilli(int64(r.At)).UTC()}
	if e.Type == "" {
		e.Type, _ = m.Values["type"].(string)
	}
	if e.Session == "" {
		e.Session, _ = m.Values["session"].(string)
	}
	if r.At == 0 {
		e.At = time.UnixMilli(ms).UTC() // the entry id is the time Redis added it
	}
	// cjson encodes an empty Lua table as {} and a message as an object;
	// anything else is no message.
	if len(r.RawMessage) > 0 && r.RawMessage[0] == '{' {
		if err := json.Unmarshal(r.RawMessage, &e.Msg); err != nil {
			return event{}, fmt.Errorf("event %s: message: %w", m.ID, err)
		}
	}
	e.KeyAt = time.UnixMilli(ms).UTC()
	if e.Type == kf.EventMessageStatus {
		e.OutboxID = string(e.Msg.ID)
		if e.OutboxID != "" {
			oms, _, err := parseID(e.OutboxID)
			if err != nil {
				return event{}, fmt.Errorf("event %s: outbox entry: %w", m.ID, err)
			}
			e.KeyAt = time.UnixMilli(oms).UTC()
		}
	}
	return e, nil
}

// The event types the archive treats apart (kf.EventMessageReceived,
// kf.EventMessageStatus, kf.EventNoteAdded); every other type with a
// session id is a transition.

// kind says where an event goes.
func (e *event) kind() string {
	switch e.Type {
	case kf.EventMessageReceived:
		return "in"
	case kf.EventMessageStatus:
		return "out"
	case kf.EventNoteAdded:
		return "" // kept by package helpdesk itself
	}
	if e.Session == "" {
		return "" // a session event without a session: nothing to record
	}
	return "transition"
}

// entryOf reads an outbox stream entry's fields.
func entryOf(v map[string]any) outboxEntry {
	s := func(k string) string { x, _ := v[k].(string); return x }
	o := outboxEntry{Found: true, Kind: s("kind"), MsgType: s("msgtype"), Content: s("content"), Agent: s("agent")}
	if o.MsgType == "" {
		o.MsgType = "text"
	}
	if body := s("body"); body != "" {
		var b struct {
			MediaID string `json:"media_id"`
		}
		if json.Unmarshal([]byte(body), &b) == nil {
			o.MediaID = b.MediaID
		}
		if o.Content == "" {
			o.Content = body // e.g. a msgmenu survey: its JSON object
		}
	}
	return o
}

// unixMS is an event's "at": Unix milliseconds, a JSON number. The session
// scripts of kfgate before the events were documented (docs/events.md)
// wrote it as a string; such entries are still read, so that an upgrade
// does not dead-letter what an older replica left in the stream.
type unixMS int64

func (n *unixMS) UnmarshalJSON(b []byte) error {
	v, err := strconv.ParseInt(string(bytes.Trim(b, `"`)), 10, 64)
	if err != nil {
		return fmt.Errorf("at: want Unix milliseconds, got %s", b)
	}
	*n = unixMS(v)
	return nil
}
