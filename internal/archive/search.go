package archive

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/kfgate/kfgate/internal/kf"
)

// Query is a search of the archive: messages whose text contains Q (or
// whose user's openid is Q) and users whose openid is Q or whose remark
// contains it, narrowed by the other fields (zero = any).
type Query struct {
	Q              string
	Account, Agent string // Agent: the session's (last) agent
	Label          string // a label of the message's session
	From, To       time.Time
	Limit          int   // default 50, at most 200
	Before         int64 // cursor: the id of the last message of the previous page
}

// Hit is a message the search found.
type Hit struct {
	Message
	Session string `json:"session_id"`
	Account string `json:"account"`
	OpenID  string `json:"openid"`
}

// UserHit is a user the search found by openid or remark.
type UserHit struct {
	Account string `json:"account"`
	OpenID  string `json:"openid"`
	Remark  string `json:"remark"`
}

// Results is a page of a search, newest first; Next is the cursor of the
// next page (0 when this is the last).
type Results struct {
	Messages []Hit     `json:"messages"`
	Users    []UserHit `json:"users"`
	Next     int64     `json:"next_before,omitempty"`
}

// likePattern is q as an ILIKE pattern for "contains", its wildcards escaped.
func likePattern(q string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(q) + "%"
}

// searchSQL finds messages by text (the trigram index messages_content_trgm)
// or openid (messages_openid_created). Texts of fewer than three
// characters have no trigram, and are looked for in every message.
const searchSQL = `SELECT m.id, m.direction, m.type, m.content, m.media_id, m.status, m.reason, m.agent,
		m.kf_account, m.import_key IS NOT NULL, m.created_at, coalesce(m.session_id, ''), m.account, m.openid
	FROM messages m LEFT JOIN sessions s ON s.id = m.session_id
	WHERE (m.content ILIKE $1 OR m.openid = $2)
	AND ($3 = '' OR m.account = $3)
	AND ($4 = '' OR s.agent = $4)
	AND ($5 = '' OR EXISTS (SELECT 1 FROM session_labels l WHERE l.session_id = m.session_id AND l.labels @> ARRAY[$5]))
	AND ($6::timestamptz IS NULL OR m.created_at >= $6) AND ($7::timestamptz IS NULL OR m.created_at < $7)
	AND ($8::bigint = 0 OR (m.created_at, m.id) < (SELECT created_at, id FROM messages WHERE id = $8))
	ORDER BY m.created_at DESC, m.id DESC LIMIT $9`

// Search runs q.
func (r *Reader) Search(ctx context.Context, q Query) (Results, error) {
	q.Q = strings.TrimSpace(q.Q)
	if q.Q == "" || utf8.RuneCountInString(q.Q) > 100 {
		return Results{}, kf.Errorf(kf.KindInvalid, "bad_query", "q must be 1 to 100 characters")
	}
	if q.Limit <= 0 {
		q.Limit = 50
	}
	q.Limit = min(q.Limit, 200)
	var from, to *time.Time
	if !q.From.IsZero() {
		from = &q.From
	}
	if !q.To.IsZero() {
		to = &q.To
	}
	pat := likePattern(q.Q)
	rows, err := r.db.Query(ctx, searchSQL, pat, q.Q, q.Account, q.Agent, q.Label, from, to, q.Before, q.Limit+1)
	if err != nil {
		return Results{}, unavailable("search", err)
	}
	hits, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Hit, error) {
		var h Hit
		err := row.Scan(&h.ID, &h.Direction, &h.Type, &h.Content, &h.MediaID, &h.Status, &h.Reason, &h.Agent,
			&h.KfAccount, &h.Imported, &h.CreatedAt, &h.Session, &h.Account, &h.OpenID)
		return h, err
	})
	if err != nil {
		return Results{}, unavailable("search", err)
	}
	res := Results{Messages: hits, Users: []UserHit{}}
	if len(hits) > q.Limit {
		res.Messages = hits[:q.Limit]
		res.Next = hits[q.Limit-1].ID
	}
	if q.Before == 0 { // users on the first page only
		rows, err := r.db.Query(ctx, `SELECT account, openid, remark FROM wechat_users
			WHERE (remark ILIKE $1 OR openid = $2) AND ($3 = '' OR account = $3)
			ORDER BY updated_at DESC LIMIT 20`, pat, q.Q, q.Account)
		if err != nil {
			return Results{}, unavailable("search", err)
		}
		res.Users, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (UserHit, error) {
			var u UserHit
			err := row.Scan(&u.Account, &u.OpenID, &u.Remark)
			return u, err
		})
		if err != nil {
			return Results{}, unavailable("search", err)
		}
	}
	return res, nil
}

// ExplainSearch returns PostgreSQL's EXPLAIN ANALYZE of the search of q
// (for the benchmark and the test that show the trigram index at work).
func (r *Reader) ExplainSearch(ctx context.Context, q string) (string, error) {
	rows, err := r.db.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+searchSQL, likePattern(q), q, "", "", "", nil, nil, int64(0), 51)
	if err != nil {
		return "", err
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return strings.Join(lines, "\n"), err
}
