package archive

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/pgtest"
)

// events returns n synthetic inbound-message events with ids from seq on.
func benchEvents(b *testing.B, seq *int64, n int) []event {
	b.Helper()
	evs := make([]event, n)
	for i := range evs {
		*seq++
		body, _ := json.Marshal(map[string]any{"type": "message.received", "session": fmt.Sprintf("s%d", *seq%1000),
			"account": "wx1", "openid": fmt.Sprintf("u%d", *seq%1000), "state": "serving", "agent": "a1",
			"actor": "user", "reason": "", "at": time.Now().UnixMilli(),
			"message": map[string]any{"id": fmt.Sprint(*seq), "type": "text", "content": "hello, I need help with my order", "at": 1}})
		e, err := parse(redis.XMessage{ID: fmt.Sprintf("1700000000000-%d", *seq), Values: map[string]any{"event": string(body)}})
		if err != nil {
			b.Fatal(err)
		}
		evs[i] = e
	}
	return evs
}

// BenchmarkWrite compares the archive's batch (COPY into the staging table,
// then INSERT … SELECT) with one row per transaction.
func BenchmarkWrite(b *testing.B) {
	pool, _ := pgtest.Migrated(b)
	var seq int64
	for _, size := range []int{500, 100, 1} {
		b.Run(fmt.Sprintf("copy-batch-%d", size), func(b *testing.B) {
			rows := 0
			for b.Loop() {
				b.StopTimer()
				evs := benchEvents(b, &seq, size)
				b.StartTimer()
				if _, err := write(b.Context(), pool, evs); err != nil {
					b.Fatal(err)
				}
				rows += size
			}
			b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
		})
	}
	b.Run("insert-one-row-per-tx", func(b *testing.B) {
		rows := 0
		for b.Loop() {
			seq++
			tx, err := pool.Begin(b.Context())
			if err != nil {
				b.Fatal(err)
			}
			_, err = tx.Exec(b.Context(), `INSERT INTO messages (event_id, key_at, session_id, account, openid, direction,
				type, content, msg_id, status, agent, created_at, updated_at)
				VALUES ($1, now(), $2, 'wx1', $3, 'in', 'text', 'hello, I need help with my order', $4, 'received', 'a1', now(), now())
				ON CONFLICT (event_id, key_at) DO NOTHING`,
				fmt.Sprintf("1700000000000-%d", seq), fmt.Sprintf("s%d", seq%1000), fmt.Sprintf("u%d", seq%1000), fmt.Sprint(seq))
			if err != nil {
				b.Fatal(err)
			}
			if err := tx.Commit(b.Context()); err != nil {
				b.Fatal(err)
			}
			rows++
		}
		b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
	})
}
