package archive

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// UserSessions returns a user's sessions, newest first (at most limit,
// default 20, at most 100).
func (r *Reader) UserSessions(ctx context.Context, account, openid string, limit int) ([]Session, error) {
	if limit <= 0 {
		limit = 20
	}
	limit = min(limit, 100)
	rows, err := r.db.Query(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE account = $1 AND openid = $2
		ORDER BY created_at DESC, id DESC LIMIT $3`, account, openid, limit)
	if err != nil {
		return nil, unavailable("user sessions", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Session, error) { return scanSession(row) })
	if err != nil {
		return nil, unavailable("user sessions", err)
	}
	return out, nil
}

// ServedUser reports whether agent ever served a session of the user.
func (r *Reader) ServedUser(ctx context.Context, account, openid, agent string) (bool, error) {
	var ok bool
	err := r.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM session_transitions
		WHERE account = $1 AND openid = $2 AND agent = $3)`, account, openid, agent).Scan(&ok)
	if err != nil {
		return false, unavailable("served user", err)
	}
	return ok, nil
}
