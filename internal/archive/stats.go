package archive

import (
	"context"
	"time"
)

// StatsFilter selects what the statistics count: sessions created in
// [From, To), of one account and/or one (last) agent when given.
type StatsFilter struct {
	Account, Agent string
	From, To       time.Time
}

// Percentiles are durations in seconds; nil when nothing was measured.
type Percentiles struct {
	P50 *float64 `json:"p50"`
	P90 *float64 `json:"p90"`
}

// Stats are the figures of GET /api/v1/stats.
type Stats struct {
	Sessions  int `json:"sessions"`  // created in the range
	Closed    int `json:"closed"`    // of those, closed
	Abandoned int `json:"abandoned"` // closed without ever being served: users who left the queue
	// FirstResponse is from a session's first assignment to its agent's
	// first message; Handling from creation to close.
	FirstResponse Percentiles    `json:"first_response_seconds"`
	Handling      Percentiles    `json:"handling_seconds"`
	MessagesIn    int            `json:"messages_in"`
	MessagesOut   int            `json:"messages_out"`
	Satisfaction  map[string]int `json:"satisfaction"` // survey answers: "<id> <text>" → count
}

// sessionsIn is the set of sessions the filter selects, for every query.
const sessionsIn = `SELECT id FROM sessions WHERE created_at >= $1 AND created_at < $2
	AND ($3 = '' OR account = $3) AND ($4 = '' OR agent = $4)`

// Stats computes the figures for f.
func (r *Reader) Stats(ctx context.Context, f StatsFilter) (Stats, error) {
	args := []any{f.From, f.To, f.Account, f.Agent}
	var st Stats
	err := r.db.QueryRow(ctx, `SELECT count(*), count(closed_at),
		count(*) FILTER (WHERE closed_at IS NOT NULL AND NOT EXISTS (
			SELECT 1 FROM session_transitions t WHERE t.session_id = s.id AND t.agent <> ''))
		FROM sessions s WHERE s.id IN (`+sessionsIn+`)`, args...).Scan(&st.Sessions, &st.Closed, &st.Abandoned)
	if err != nil {
		return Stats{}, unavailable("stats", err)
	}
	err = r.db.QueryRow(ctx, `WITH firsts AS (
			SELECT (SELECT min(at) FROM session_transitions t WHERE t.session_id = s.id AND t.agent <> '') AS assigned,
				(SELECT min(created_at) FROM messages m WHERE m.session_id = s.id AND m.direction = 'out' AND m.kind = 'agent') AS answered
			FROM sessions s WHERE s.id IN (`+sessionsIn+`))
		SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM answered - assigned)),
			percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM answered - assigned))
		FROM firsts WHERE assigned IS NOT NULL AND answered IS NOT NULL AND answered >= assigned`, args...).
		Scan(&st.FirstResponse.P50, &st.FirstResponse.P90)
	if err != nil {
		return Stats{}, unavailable("stats", err)
	}
	err = r.db.QueryRow(ctx, `SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM closed_at - created_at)),
			percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM closed_at - created_at))
		FROM sessions WHERE closed_at IS NOT NULL AND id IN (`+sessionsIn+`)`, args...).
		Scan(&st.Handling.P50, &st.Handling.P90)
	if err != nil {
		return Stats{}, unavailable("stats", err)
	}
	err = r.db.QueryRow(ctx, `SELECT count(*) FILTER (WHERE direction = 'in'), count(*) FILTER (WHERE direction = 'out')
		FROM messages WHERE session_id IN (`+sessionsIn+`)`, args...).Scan(&st.MessagesIn, &st.MessagesOut)
	if err != nil {
		return Stats{}, unavailable("stats", err)
	}
	rows, err := r.db.Query(ctx, `SELECT reason, count(*) FROM session_transitions
		WHERE type = 'survey.answered' AND session_id IN (`+sessionsIn+`) GROUP BY reason`, args...)
	if err != nil {
		return Stats{}, unavailable("stats", err)
	}
	defer rows.Close()
	st.Satisfaction = map[string]int{}
	for rows.Next() {
		var answer string
		var n int
		if err := rows.Scan(&answer, &n); err != nil {
			return Stats{}, unavailable("stats", err)
		}
		st.Satisfaction[answer] = n
	}
	if err := rows.Err(); err != nil {
		return Stats{}, unavailable("stats", err)
	}
	return st, nil
}
