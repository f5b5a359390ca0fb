package archive

import (
	"context"
	"time"
)

// Hour is one hour of the statistics' series: the sessions created in it,
// how many of those closed, and their first-response percentiles.
type Hour struct {
	At            time.Time   `json:"at"` // the hour's start (UTC)
	Sessions      int         `json:"sessions"`
	Closed        int         `json:"closed"`
	FirstResponse Percentiles `json:"first_response_seconds"`
}

// Hourly returns f's sessions hour by hour, oldest first; hours without
// sessions are left out (the console draws them as zero).
func (r *Reader) Hourly(ctx context.Context, f StatsFilter) ([]Hour, error) {
	rows, err := r.db.Query(ctx, `WITH s AS (
			SELECT s.id, date_trunc('hour', s.created_at AT TIME ZONE 'UTC') AS hour, s.closed_at,
				(SELECT min(at) FROM session_transitions t WHERE t.session_id = s.id AND t.agent <> '') AS assigned,
				(SELECT min(created_at) FROM messages m WHERE m.session_id = s.id AND m.direction = 'out' AND m.kind = 'agent') AS answered
			FROM sessions s WHERE s.id IN (`+sessionsIn+`))
		SELECT hour, count(*), count(closed_at),
			percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM answered - assigned)) FILTER (WHERE answered >= assigned),
			percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM answered - assigned)) FILTER (WHERE answered >= assigned)
		FROM s GROUP BY hour ORDER BY hour`, f.From, f.To, f.Account, f.Agent)
	if err != nil {
		return nil, unavailable("hourly", err)
	}
	defer rows.Close()
	out := []Hour{}
	for rows.Next() {
		var h Hour
		if err := rows.Scan(&h.At, &h.Sessions, &h.Closed, &h.FirstResponse.P50, &h.FirstResponse.P90); err != nil {
			return nil, unavailable("hourly", err)
		}
		h.At = h.At.UTC()
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable("hourly", err)
	}
	return out, nil
}
