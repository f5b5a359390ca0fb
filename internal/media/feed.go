package media

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/kfgate/kfgate/internal/kf"
	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/stream"
)

// Group is the consumer group of the media downloads: on the events stream
// (which messages carry media) and on the download queue <prefix>media.
const Group = "media"

// The events stream is read eventsBatch entries at a time; after a read that
// found fewer, the worker waits eventsSettle before the next, so that a busy
// stream is read in full batches (a read and an acknowledgement per batch)
// rather than an entry or two per XADD. A download starts at most that much
// later: WeChat keeps a user's media for 3 days.
const (
	eventsBatch  = 500
	eventsSettle = 100 * time.Millisecond
)

// StreamKey is the name, after the prefix, of the download queue.
const StreamKey = "media"

// mediaKinds are the message types whose media kfgate downloads.
var mediaKinds = map[string]Kind{"image": KindImage, "voice": KindVoice, "video": KindVideo, "shortvideo": KindShortVideo}

// job is one file to download, as the queue's entry carries it.
type job struct {
	ID, Account, MediaID, Kind string
}

// Jobs returns the downloads a message.received event asks for: its media
// and, for a video or shortvideo, the thumbnail (the event's message
// carries WeChat's MediaId and ThumbMediaId as media_id and thumb_media_id).
// Other events ask for none.
func Jobs(body string) []Record {
	if !mayAsk(body) {
		return nil
	}
	var ev struct {
		Type    string          `json:"type"`
		Session string          `json:"session"`
		Account string          `json:"account"`
		OpenID  string          `json:"openid"`
		Message json.RawMessage `json:"message"`
	}
	if json.Unmarshal([]byte(body), &ev) != nil || ev.Type != kf.EventMessageReceived || len(ev.Message) == 0 || ev.Message[0] != '{' {
		return nil
	}
	var m struct {
		Type    string `json:"type"`
		MediaID string `json:"media_id"`
		Thumb   string `json:"thumb_media_id"`
	}
	if json.Unmarshal(ev.Message, &m) != nil || ev.Account == "" {
		return nil
	}
	kind, ok := mediaKinds[m.Type]
	if !ok || m.MediaID == "" {
		return nil
	}
	rec := func(k Kind, mediaID string) Record {
		return Record{ID: ID(ev.Account, mediaID), Account: ev.Account, MediaID: mediaID, Kind: k, Session: ev.Session, OpenID: ev.OpenID}
	}
	out := []Record{rec(kind, m.MediaID)}
	if m.Thumb != "" && (kind == KindVideo || kind == KindShortVideo) {
		out = append(out, rec(KindThumb, m.Thumb))
	}
	return out
}

// mayAsk is Jobs's first look at an event, before decoding it: only a
// message that names a media_id asks for a download. JSON escapes a quote
// inside a string, so the quoted name appears only as a key (or as a whole
// value, which the decoding then rules out). During a surge nearly every event is a transition or a text
// message, and decoding each in full cost this worker a fifth of a
// replica's CPU.
func mayAsk(body string) bool {
	return strings.Contains(body, `"media_id"`)
}

// feed reads the events stream in group "media" and turns every media
// message into a record (pending) and an entry of the download queue. An
// event is acknowledged only after both, so a replica that dies between
// them leaves it to be read again (both steps are idempotent).
func (w *Worker) feed(ctx context.Context) {
	w.consume(ctx, w.events, eventsBatch, eventsSettle, func(ctx context.Context, msgs []redis.XMessage) {
		ids := make([]string, 0, len(msgs))
		for _, m := range msgs {
			body, _ := m.Values["event"].(string)
			if err := w.enqueue(ctx, Jobs(body)); err != nil {
				if ctx.Err() == nil {
					w.o.Logger.Warn("queueing a media download failed; the event stays pending", "event", m.ID, "err", err)
				}
				continue
			}
			ids = append(ids, m.ID)
		}
		if len(ids) > 0 {
			if err := w.o.Redis.XAck(ctx, w.events, Group, ids...).Err(); err != nil {
				w.o.Logger.Warn("acknowledging events failed", "err", err)
			}
		}
	})
}

// enqueue records each file and queues its download, unless it is stored
// or failed already.
func (w *Worker) enqueue(ctx context.Context, recs []Record) error {
	for _, r := range recs {
		if _, err := w.o.Store.Add(ctx, r); err != nil {
			return err
		}
		cur, err := w.o.Store.Get(ctx, r.ID)
		if err != nil {
			return err
		}
		if cur.Status != StatusPending {
			continue
		}
		err = w.o.Redis.XAdd(ctx, &redis.XAddArgs{Stream: w.queue, Values: map[string]any{
			"id": r.ID, "account": r.Account, "media_id": r.MediaID, "kind": string(r.Kind)}}).Err()
		if err != nil {
			return unavailable(err)
		}
	}
	return nil
}

// group is the consumer group "media" on the stream key, as this worker reads it
// (package stream). Both of the worker's consumers are idempotent: a group
// Redis lost is created again from the start of what is left.
func (w *Worker) group(key string) *stream.Group {
	return &stream.Group{RDB: w.o.Redis, Stream: key, Name: Group, Consumer: w.o.Consumer, Restart: "0", Logger: w.o.Logger}
}

// consume reads the stream key in the group until ctx ends: this consumer's own
// pending entries first (a restart), then new ones, and every ClaimIdle/2
// the entries another consumer left pending longer than ClaimIdle.
func (w *Worker) consume(ctx context.Context, key string, count int64, settle time.Duration, handle func(context.Context, []redis.XMessage)) {
	g := w.group(key)
	for attempt := 0; ; attempt++ {
		err := g.Create(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		w.o.Logger.Warn("creating the media consumer group failed", "stream", key, "err", err)
		sleep(ctx, w.backoff(attempt))
	}
	// This consumer's pending entries, after the last one seen each time
	// (they stay pending while being worked on).
	for after := "0"; ctx.Err() == nil; {
		msgs, err := g.Read(ctx, after, count, -1)
		if err != nil || len(msgs) == 0 {
			break
		}
		handle(ctx, msgs)
		after = msgs[len(msgs)-1].ID
	}
	lastClaim := time.Time{}
	for attempt := 0; ctx.Err() == nil; {
		if time.Since(lastClaim) >= w.o.ClaimIdle/2 {
			if _, err := g.Claim(ctx, w.o.ClaimIdle, count, handle); err != nil && ctx.Err() == nil {
				w.o.Logger.Warn("claiming media stream entries failed", "stream", key, "err", err)
			}
			lastClaim = time.Now()
		}
		msgs, err := g.Read(ctx, ">", count, w.o.Block)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			w.o.Logger.Warn("reading a media stream failed", "stream", key, "err", err)
			sleep(ctx, w.backoff(attempt))
			attempt++
			continue
		}
		attempt = 0
		if len(msgs) > 0 {
			handle(ctx, msgs)
		}
		if settle > 0 && int64(len(msgs)) < count {
			sleep(ctx, settle)
		}
	}
}
