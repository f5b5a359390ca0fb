package stream

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/kf"
)

// DeadLetterKey is the dead-letter stream's key after the prefix.
const DeadLetterKey = "deadletter"

// MaxDeadLetters bounds the dead-letter stream (approximately, MAXLEN ~):
// it is for a person to look at, not a second archive; past it the oldest
// entries go.
const MaxDeadLetters = 100_000

// The fields of a dead-letter entry. The source entry's own fields follow
// as fieldPrefix+name, byte for byte (an entry may be dead because its
// bytes are bad: they are kept as they were, for a faithful retry).
const (
	fStream     = "stream"
	fID         = "id"
	fGroup      = "group"
	fConsumer   = "consumer"
	fError      = "error"
	fDeliveries = "deliveries"
	fAt         = "at"
	fieldPrefix = "f:"
)

//go:embed retry.lua
var retrySrc string

var retryScript = redis.NewScript(retrySrc)

// DeadLetter is the dead-letter stream, <prefix>deadletter, shared by every
// consumer group of kfgate.
type DeadLetter struct {
	rdb    redis.Cmdable
	prefix string
	key    string
	total  *prometheus.CounterVec
}

// NewDeadLetter returns the dead-letter stream under prefix. With reg it
// registers kfgate_deadletter_total{stream} and kfgate_deadletter_length
// (read from Redis at each scrape, so every replica reports the same).
func NewDeadLetter(rdb redis.Cmdable, prefix string, reg prometheus.Registerer) (*DeadLetter, error) {
	d := &DeadLetter{rdb: rdb, prefix: prefix, key: prefix + DeadLetterKey,
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kfgate_deadletter_total",
			Help: "Entries this replica moved to the dead-letter stream, by source stream.",
		}, []string{"stream"})}
	if reg == nil {
		return d, nil
	}
	if err := reg.Register(d.total); err != nil {
		are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err)
		if !ok {
			return nil, err
		}
		d.total = are.ExistingCollector.(*prometheus.CounterVec)
		return d, nil // the length gauge came with it
	}
	if err := reg.Register(lengthCollector{d}); err != nil {
		return nil, err
	}
	return d, nil
}

// Key returns the dead-letter stream's key.
func (d *DeadLetter) Key() string { return d.key }

// add appends m of g with reason and acknowledges m in g, atomically.
func (d *DeadLetter) add(ctx context.Context, g *Group, m redis.XMessage, reason error, deliveries int64) error {
	values := []any{fStream, g.Stream, fID, m.ID, fGroup, g.Name, fConsumer, g.Consumer,
		fError, oneLine(reason.Error()), fDeliveries, deliveries, fAt, time.Now().UnixMilli()}
	for _, k := range slices.Sorted(maps.Keys(m.Values)) {
		values = append(values, fieldPrefix+k, m.Values[k])
	}
	_, err := d.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.XAdd(ctx, &redis.XAddArgs{Stream: d.key, MaxLen: MaxDeadLetters, Approx: true, Values: values})
		p.XAck(ctx, g.Stream, g.Name, m.ID)
		return nil
	})
	if err != nil {
		return fmt.Errorf("dead-letter %s %s: %w", g.Stream, m.ID, err)
	}
	d.total.WithLabelValues(strings.TrimPrefix(g.Stream, d.prefix)).Inc()
	return nil
}

// oneLine keeps an error readable in a list: one line, at most 1,000 bytes.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 1000 {
		s = s[:1000]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return s
}

// Entry is one dead entry.
type Entry struct {
	ID         string            `json:"id"`        // in the dead-letter stream
	Stream     string            `json:"stream"`    // the source stream, without the key prefix
	SourceID   string            `json:"source_id"` // the entry's id there
	Group      string            `json:"group"`
	Consumer   string            `json:"consumer"`
	Error      string            `json:"error"`
	Deliveries int64             `json:"deliveries"`
	At         time.Time         `json:"at"`
	Fields     map[string]string `json:"fields"` // invalid UTF-8 shown as U+FFFD; kept as it was for a retry
}

func (d *DeadLetter) entry(m redis.XMessage) Entry {
	str := func(k string) string { s, _ := m.Values[k].(string); return s }
	e := Entry{ID: m.ID, Stream: strings.TrimPrefix(str(fStream), d.prefix), SourceID: str(fID),
		Group: str(fGroup), Consumer: str(fConsumer), Error: str(fError), Fields: map[string]string{}}
	e.Deliveries, _ = strconv.ParseInt(str(fDeliveries), 10, 64)
	if ms, err := strconv.ParseInt(str(fAt), 10, 64); err == nil {
		e.At = time.UnixMilli(ms).UTC()
	}
	for k, v := range m.Values {
		if name, ok := strings.CutPrefix(k, fieldPrefix); ok {
			s, _ := v.(string)
			e.Fields[name] = s
		}
	}
	return e
}

var reEntryID = regexp.MustCompile(`^[0-9]{1,20}-[0-9]{1,20}$`)

// ValidID reports whether id has the form of a stream entry id, ms-seq.
func ValidID(id string) bool { return reEntryID.MatchString(id) }

func badID() error {
	return kf.Errorf(kf.KindInvalid, "bad_id", "a dead-letter id is a stream entry id such as 1700000000000-0")
}

// List returns up to limit dead entries after the entry id after ("" from
// the oldest), oldest first, and the id to pass as after for the next page
// ("" at the end).
func (d *DeadLetter) List(ctx context.Context, after string, limit int) ([]Entry, string, error) {
	start := "-"
	if after != "" {
		if !ValidID(after) {
			return nil, "", badID()
		}
		start = "(" + after
	}
	msgs, err := d.rdb.XRangeN(ctx, d.key, start, "+", int64(limit)).Result()
	if err != nil {
		return nil, "", kf.Wrap(kf.KindUnavailable, "redis", err, "redis unavailable")
	}
	out := make([]Entry, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, d.entry(m))
	}
	next := ""
	if len(msgs) == limit && limit > 0 {
		next = msgs[len(msgs)-1].ID
	}
	return out, next, nil
}

// Len returns how many entries the dead-letter stream holds.
func (d *DeadLetter) Len(ctx context.Context) (int64, error) {
	return d.rdb.XLen(ctx, d.key).Result()
}

// Retry appends the dead entry id to its source stream again, as a new
// entry with the same fields, and removes it from the dead-letter stream;
// it returns the new entry's id. The consumer group then delivers it like
// any new entry.
func (d *DeadLetter) Retry(ctx context.Context, id string) (string, error) {
	if !ValidID(id) {
		return "", badID()
	}
	newID, err := retryScript.Run(ctx, d.rdb, nil, d.key, id, d.prefix).Text()
	switch {
	case errors.Is(err, redis.Nil):
		return "", kf.Errorf(kf.KindNotFound, "no_entry", "no dead-letter entry %s", id)
	case err != nil && strings.Contains(err.Error(), "bad_entry"):
		return "", kf.Errorf(kf.KindConflict, "bad_entry", "dead-letter entry %s names no stream of kfgate's", id)
	case err != nil:
		return "", kf.Wrap(kf.KindUnavailable, "redis", err, "redis unavailable")
	}
	return newID, nil
}

// Delete removes the dead entry id for good.
func (d *DeadLetter) Delete(ctx context.Context, id string) error {
	if !ValidID(id) {
		return badID()
	}
	n, err := d.rdb.XDel(ctx, d.key, id).Result()
	if err != nil {
		return kf.Wrap(kf.KindUnavailable, "redis", err, "redis unavailable")
	}
	if n == 0 {
		return kf.Errorf(kf.KindNotFound, "no_entry", "no dead-letter entry %s", id)
	}
	return nil
}

var lengthDesc = prometheus.NewDesc("kfgate_deadletter_length",
	"Entries in the dead-letter stream, waiting for a person to retry or delete them.", nil, nil)

type lengthCollector struct{ d *DeadLetter }

func (c lengthCollector) Describe(ch chan<- *prometheus.Desc) { ch <- lengthDesc }

func (c lengthCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	n, err := c.d.Len(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(lengthDesc, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(lengthDesc, prometheus.GaugeValue, float64(n))
}
