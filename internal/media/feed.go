package media

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// Group is the consumer group of the media downloads: on the events stream
// (which messages carry media) and on the download queue <prefix>media.
const Group = "media"

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
	var ev struct {
		Type    string          `json:"type"`
		Session string          `json:"session"`
		Account string          `json:"account"`
		OpenID  string          `json:"openid"`
		Message json.RawMessage `json:"message"`
	}
	if json.Unmarshal([]byte(body), &ev) != nil || ev.Type != "message.received" || len(ev.Message) == 0 || ev.Message[0] != '{' {
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

// feed reads the events stream in group "media" and turns every media
// message into a record (pending) and an entry of the download queue. An
// event is acknowledged only after both, so a replica that dies between
// them leaves it to be read again (both steps are idempotent).
func (w *Worker) feed(ctx context.Context) {
	w.createGroup(ctx, w.events)
	w.consume(ctx, w.events, 100, func(ctx context.Context, msgs []redis.XMessage) {
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

// createGroup creates the group on stream from its start (old entries are
// read too: media still within WeChat's 3 days gets saved).
func (w *Worker) createGroup(ctx context.Context, stream string) {
	for attempt := 0; ctx.Err() == nil; attempt++ {
		err := w.o.Redis.XGroupCreateMkStream(ctx, stream, Group, "0").Err()
		if err == nil || redis.HasErrorPrefix(err, "BUSYGROUP") {
			return
		}
		w.o.Logger.Warn("creating the media consumer group failed", "stream", stream, "err", err)
		sleep(ctx, w.backoff(attempt))
	}
}

// consume reads stream in the group until ctx ends: this consumer's own
// pending entries first (a restart), then new ones, and every ClaimIdle/2
// the entries another consumer left pending longer than ClaimIdle.
func (w *Worker) consume(ctx context.Context, stream string, count int64, handle func(context.Context, []redis.XMessage)) {
	read := func(id string, block time.Duration) (string, error) {
		res, err := w.o.Redis.XReadGroup(ctx, &redis.XReadGroupArgs{Group: Group, Consumer: w.o.Consumer,
			Streams: []string{stream, id}, Count: count, Block: block}).Result()
		if errors.Is(err, redis.Nil) {
			return "", nil
		}
		if redis.HasErrorPrefix(err, "NOGROUP") {
			w.createGroup(ctx, stream)
			return "", nil
		}
		if err != nil {
			return "", err
		}
		last := ""
		for _, s := range res {
			if len(s.Messages) > 0 {
				last = s.Messages[len(s.Messages)-1].ID
				handle(ctx, s.Messages)
			}
		}
		return last, nil
	}
	// This consumer's pending entries, after the last one seen each time
	// (they stay pending while being worked on).
	for after := "0"; ctx.Err() == nil; {
		last, err := read(after, -1)
		if err != nil || last == "" {
			break
		}
		after = last
	}
	lastClaim := time.Time{}
	for attempt := 0; ctx.Err() == nil; {
		if time.Since(lastClaim) >= w.o.ClaimIdle/2 {
			msgs, _, err := w.o.Redis.XAutoClaim(ctx, &redis.XAutoClaimArgs{Stream: stream, Group: Group,
				Consumer: w.o.Consumer, MinIdle: w.o.ClaimIdle, Start: "0", Count: count}).Result()
			if err == nil && len(msgs) > 0 {
				handle(ctx, msgs)
			}
			lastClaim = time.Now()
		}
		if _, err := read(">", w.o.Block); err != nil {
			if ctx.Err() != nil {
				return
			}
			w.o.Logger.Warn("reading a media stream failed", "stream", stream, "err", err)
			sleep(ctx, w.backoff(attempt))
			attempt++
			continue
		}
		attempt = 0
	}
}
