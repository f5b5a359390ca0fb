package archive

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/outbox"
	"github.com/kfgate/kfgate/internal/session"
	"github.com/kfgate/kfgate/internal/stream"
)

// beginner is what the writer needs of PostgreSQL.
type beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

var _ beginner = (*pgxpool.Pool)(nil)

// Options configure a Writer.
type Options struct {
	Redis redis.UniversalClient
	// Prefix starts every key, as for the session store and the outbox.
	Prefix string
	DB     *pgxpool.Pool
	// Group is the consumer group on <prefix>events. Default "archive".
	Group string
	// Consumer names this writer in the group; unique per replica. Default
	// host-pid-random.
	Consumer string
	// Batch is the most entries written in one transaction. Default 500.
	Batch int
	// Block is how long a read waits for new entries. Default 1 s.
	Block time.Duration
	// ClaimIdle is how long an entry stays pending with another consumer
	// before this one takes it over (a replica that died between read and
	// ack). Default 1 min.
	ClaimIdle time.Duration
	// MinBackoff and MaxBackoff bound the wait between retries of a batch
	// PostgreSQL (or Redis) refused. Defaults 100 ms and 10 s.
	MinBackoff, MaxBackoff time.Duration
	Logger                 *slog.Logger
	// Registerer, if set, gets kfgate_archive_backlog and
	// kfgate_archive_rows_total.
	Registerer prometheus.Registerer
	// DeadLetter receives the entries that cannot be archived; default the
	// stream <prefix>deadletter without metrics.
	DeadLetter *stream.DeadLetter
	// MaxDeliveries is how many deliveries an entry gets before it goes to
	// the dead-letter stream (an entry whose writing kills the replica, or
	// that stays pending through replica after replica). An entry
	// PostgreSQL refuses for its data goes there at once. Default 5.
	MaxDeliveries int
	// Retention is archive.retention: an event older than it, whose month
	// was dropped already (a late replay), is not written. 0: keep forever.
	Retention time.Duration
	// Now is the clock the writer judges Retention by (tests); default
	// time.Now.
	Now func() time.Time
}

// Writer moves the events stream into PostgreSQL.
type Writer struct {
	o      Options
	stream string
	outbox string
	group  *stream.Group
	rows   *prometheus.CounterVec
}

// New returns a Writer; Run starts it.
// Group is the archive's consumer group on the events stream.
const Group = "archive"

// New returns the archive's writer.
func New(o Options) (*Writer, error) {
	if o.Redis == nil || o.DB == nil {
		return nil, errors.New("archive: Options.Redis and Options.DB are required")
	}
	if o.Group == "" {
		o.Group = Group
	}
	if o.Consumer == "" {
		host, _ := os.Hostname()
		b := make([]byte, 4)
		_, _ = crand.Read(b)
		o.Consumer = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
	}
	if o.Batch <= 0 {
		o.Batch = 500
	}
	if o.Block <= 0 {
		o.Block = time.Second
	}
	if o.ClaimIdle <= 0 {
		o.ClaimIdle = time.Minute
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 100 * time.Millisecond
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(10*time.Second, o.MinBackoff)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxDeliveries <= 0 {
		o.MaxDeliveries = 5
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.DeadLetter == nil {
		dl, err := stream.NewDeadLetter(o.Redis, o.Prefix, nil)
		if err != nil {
			return nil, err
		}
		o.DeadLetter = dl
	}
	w := &Writer{o: o, stream: o.Prefix + session.EventsStream, outbox: o.Prefix + outbox.StreamKey}
	// Archiving is idempotent: a group created again after Redis lost it
	// starts from what is left of the stream.
	w.group = &stream.Group{RDB: o.Redis, Stream: w.stream, Name: o.Group, Consumer: o.Consumer, Restart: "0",
		MaxDeliveries: int64(o.MaxDeliveries), Dead: o.DeadLetter, Logger: o.Logger}
	if o.Registerer != nil {
		rows, err := registerMetrics(o.Registerer, w)
		if err != nil {
			return nil, err
		}
		w.rows = rows
	}
	return w, nil
}

// Run archives until ctx ends, then returns nil. A batch interrupted by
// the end of ctx is not acknowledged: it is delivered again (to this
// consumer name at its next start, or to another replica after ClaimIdle).
func (w *Writer) Run(ctx context.Context) error {
	for attempt := 0; ; attempt++ {
		err := w.group.Create(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		w.o.Logger.Warn("archive group create failed", "err", err)
		if !w.sleep(ctx, attempt) {
			return nil
		}
	}
	// Entries this consumer name read before a restart and never acked.
	for ctx.Err() == nil {
		n, err := w.read(ctx, "0")
		if err != nil || n == 0 {
			break
		}
	}
	var lastClaim time.Time
	for attempt := 0; ctx.Err() == nil; {
		if time.Since(lastClaim) >= w.o.ClaimIdle/2 {
			if _, err := w.group.Claim(ctx, w.o.ClaimIdle, int64(w.o.Batch), w.process); err != nil && ctx.Err() == nil {
				w.o.Logger.Warn("archive claim failed", "consumer", w.o.Consumer, "err", err)
			}
			lastClaim = time.Now()
		}
		if _, err := w.read(ctx, ">"); err != nil {
			if ctx.Err() != nil {
				break
			}
			w.o.Logger.Warn("archive read failed", "consumer", w.o.Consumer, "err", err)
			w.sleep(ctx, attempt)
			attempt++
			continue
		}
		attempt = 0
	}
	return nil
}

// read reads one batch from id (">" new entries, "0" own pending ones) and
// archives it; it returns how many entries it read.
func (w *Writer) read(ctx context.Context, id string) (int, error) {
	block := w.o.Block
	if id != ">" {
		block = -1 // no BLOCK argument: pending entries are there or not
	}
	msgs, err := w.group.Read(ctx, id, int64(w.o.Batch), block)
	if err != nil {
		return 0, err
	}
	w.process(ctx, msgs)
	return len(msgs), nil
}

// process archives msgs and acks them. A batch PostgreSQL refuses because
// of what one of its entries holds (poison: a NUL, bytes that are not
// UTF-8, a value out of range) is split in halves until the entry is alone;
// that entry goes to the dead-letter stream with the error and the rest is
// archived. Any other failure (PostgreSQL or Redis away) is retried, with
// backoff, until it succeeds or ctx ends: nothing is skipped for an outage.
// Entries that cannot be parsed go to the dead-letter stream at once.
func (w *Writer) process(ctx context.Context, msgs []redis.XMessage) {
	if len(msgs) == 0 {
		return
	}
	evs := make([]event, 0, len(msgs))
	byID := make(map[string]redis.XMessage, len(msgs))
	stuck := map[string]bool{} // dead-letter failed: left pending
	for _, m := range msgs {
		if m.Values == nil {
			continue // deleted from the stream while pending
		}
		e, err := parse(m)
		if err != nil {
			w.deadLetter(ctx, m, fmt.Errorf("malformed event: %w", err), stuck)
			continue
		}
		if e.kind() == "" {
			continue
		}
		byID[m.ID] = m
		evs = append(evs, e)
	}
	if !w.archive(ctx, evs, byID, stuck) {
		return // ctx ended: nothing acked, delivered again
	}
	ids := make([]string, 0, len(msgs))
	for _, m := range msgs {
		if !stuck[m.ID] {
			ids = append(ids, m.ID)
		}
	}
	if err := w.group.Ack(ctx, ids...); err != nil {
		// Written but not acked: delivered again later, and written as nothing new.
		w.o.Logger.Warn("archive ack failed", "entries", len(ids), "err", err)
	}
}

// archive writes evs, splitting the batch around poison entries (which it
// dead-letters); false if ctx ended first.
func (w *Writer) archive(ctx context.Context, evs []event, byID map[string]redis.XMessage, stuck map[string]bool) bool {
	roomMade := false
	for attempt := 0; len(evs) > 0; attempt++ {
		err := w.fillOutbox(ctx, evs)
		var rows map[string]int64
		if err == nil {
			rows, err = write(ctx, w.o.DB, evs)
		}
		if err == nil {
			w.count(rows)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		if noPartition(err) {
			// A month without its partition: created ahead by Retention,
			// but an event may come from further (a clock ahead, a replay
			// of old entries). Create it, or leave out what retention has
			// dropped already, and write again.
			left, expired, rerr := makeRoom(ctx, w.o.DB, evs, w.o.Retention, w.o.Now())
			if rerr != nil {
				err = rerr
			} else {
				if expired > 0 {
					w.o.Logger.Info("archive left out events older than archive.retention", "entries", expired)
				}
				evs = left
				if !roomMade {
					roomMade = true
					attempt--
					continue
				}
			}
		}
		if poisoned(err) {
			if len(evs) == 1 {
				w.deadLetter(ctx, byID[evs[0].ID], err, stuck)
				return true
			}
			half := len(evs) / 2
			return w.archive(ctx, evs[:half], byID, stuck) && w.archive(ctx, evs[half:], byID, stuck)
		}
		w.o.Logger.Warn("archive write failed, will retry", "entries", len(evs), "attempt", attempt+1, "err", err)
		if !w.sleep(ctx, attempt) {
			return false
		}
	}
	return true
}

// poisoned reports whether err is PostgreSQL refusing the data of a batch
// rather than failing to serve it: a cardinality violation (class 21), a
// data exception (22: a NUL, bytes that are not UTF-8, a number out of
// range), an integrity violation (23) or a limit (54). Any other error (a
// connection lost, a missing table, a server shutting down) says nothing
// about the entries: the batch is retried as it is, for as long as it
// takes, and nothing good is dead-lettered because of an outage.
func poisoned(err error) bool {
	pe, ok := errors.AsType[*pgconn.PgError](err)
	if !ok || len(pe.Code) < 2 || noPartition(err) {
		return false
	}
	switch pe.Code[:2] {
	case "21", "22", "23", "54":
		return true
	}
	return false
}

// deadLetter moves m to the dead-letter stream; if Redis cannot take it,
// m is marked stuck: left pending, it comes back (to this or another
// replica, after ClaimIdle).
func (w *Writer) deadLetter(ctx context.Context, m redis.XMessage, reason error, stuck map[string]bool) {
	if err := w.group.DeadLetter(ctx, m, reason); err != nil {
		w.o.Logger.Warn("archive could not dead-letter an entry", "id", m.ID, "err", err)
		stuck[m.ID] = true
	}
}

// fillOutbox reads the outbox entries the batch's message.status events
// name, in one round trip.
func (w *Writer) fillOutbox(ctx context.Context, evs []event) error {
	var idx []int
	for i := range evs {
		if evs[i].Type == kf.EventMessageStatus && evs[i].OutboxID != "" && !evs[i].Out.Found {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return nil
	}
	cmds := make([]*redis.XMessageSliceCmd, len(idx))
	_, err := w.o.Redis.Pipelined(ctx, func(p redis.Pipeliner) error {
		for j, i := range idx {
			cmds[j] = p.XRange(ctx, w.outbox, evs[i].OutboxID, evs[i].OutboxID)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("archive: outbox entries: %w", err)
	}
	for j, i := range idx {
		if es := cmds[j].Val(); len(es) > 0 {
			evs[i].Out = entryOf(es[0].Values)
		}
	}
	return nil
}

func (w *Writer) count(rows map[string]int64) {
	if w.rows == nil {
		return
	}
	for table, n := range rows {
		w.rows.WithLabelValues(table).Add(float64(n))
	}
}

// sleep waits the backoff of the given attempt (exponential with jitter),
// reporting false if ctx ended first.
func (w *Writer) sleep(ctx context.Context, attempt int) bool {
	d := w.o.MinBackoff << min(attempt, 20)
	if d > w.o.MaxBackoff || d <= 0 {
		d = w.o.MaxBackoff
	}
	d = d/2 + rand.N(d/2+1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Backlog returns the events not archived yet: pending in the group (read,
// not acked) plus its lag (not read yet).
func (w *Writer) Backlog(ctx context.Context) (int64, error) {
	groups, err := w.o.Redis.XInfoGroups(ctx, w.stream).Result()
	if err != nil {
		if redis.HasErrorPrefix(err, "no such key") {
			return 0, nil
		}
		return 0, fmt.Errorf("archive backlog: %w", err)
	}
	for _, g := range groups {
		if g.Name == w.o.Group {
			lag := g.Lag
			if lag < 0 { // unknown after a deletion inside the range: estimate
				n, err := w.o.Redis.XLen(ctx, w.stream).Result()
				if err != nil {
					return 0, fmt.Errorf("archive backlog: %w", err)
				}
				lag = max(n-g.EntriesRead, 0)
			}
			return g.Pending + lag, nil
		}
	}
	n, err := w.o.Redis.XLen(ctx, w.stream).Result() // no group yet: nothing read
	if err != nil {
		return 0, fmt.Errorf("archive backlog: %w", err)
	}
	return n, nil
}
