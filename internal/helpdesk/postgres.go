package helpdesk

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kfgate/kfgate/internal/kf"
)

// Postgres keeps the tools' records in PostgreSQL
// (migrations/00011_desk.sql).
type Postgres struct{ db *pgxpool.Pool }

// NewPostgres returns a Postgres store on db.
func NewPostgres(db *pgxpool.Pool) *Postgres { return &Postgres{db: db} }

var _ Store = (*Postgres)(nil)

const cannedColumns = `id, account, shortcut, title, content, created_at, updated_at`

func scanCanned(row pgx.Row) (Canned, error) {
	var c Canned
	err := row.Scan(&c.ID, &c.Account, &c.Shortcut, &c.Title, &c.Content, &c.CreatedAt, &c.UpdatedAt)
	return c, err
}

// Canned implements Store.
func (s *Postgres) Canned(ctx context.Context, account string) ([]Canned, error) {
	rows, err := s.db.Query(ctx, `SELECT `+cannedColumns+` FROM canned_replies
		WHERE $1 = '' OR account IN ('', $1) ORDER BY account, shortcut`, account)
	if err != nil {
		return nil, down(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Canned, error) { return scanCanned(r) })
	if err != nil {
		return nil, down(err)
	}
	return out, nil
}

// GetCanned implements Store.
func (s *Postgres) GetCanned(ctx context.Context, id string) (Canned, error) {
	c, err := scanCanned(s.db.QueryRow(ctx, `SELECT `+cannedColumns+` FROM canned_replies WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Canned{}, kf.Errorf(kf.KindNotFound, "no_canned", "no canned reply %q", truncate(id))
	}
	if err != nil {
		return Canned{}, down(err)
	}
	return c, nil
}

// PutCanned implements Store.
func (s *Postgres) PutCanned(ctx context.Context, c Canned, create bool) error {
	var tag pgconn.CommandTag
	var err error
	if create {
		tag, err = s.db.Exec(ctx, `INSERT INTO canned_replies (`+cannedColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			c.ID, c.Account, c.Shortcut, c.Title, c.Content, c.CreatedAt, c.UpdatedAt)
	} else {
		tag, err = s.db.Exec(ctx, `UPDATE canned_replies SET account = $2, shortcut = $3, title = $4, content = $5,
			updated_at = $6 WHERE id = $1`, c.ID, c.Account, c.Shortcut, c.Title, c.Content, c.UpdatedAt)
	}
	if pe, ok := errors.AsType[*pgconn.PgError](err); ok && pe.Code == "23505" {
		return kf.Errorf(kf.KindConflict, "shortcut_taken", "shortcut %q is taken", c.Shortcut)
	}
	if err != nil {
		return down(err)
	}
	if tag.RowsAffected() == 0 {
		return kf.Errorf(kf.KindNotFound, "no_canned", "no canned reply %q", truncate(c.ID))
	}
	return nil
}

// DeleteCanned implements Store.
func (s *Postgres) DeleteCanned(ctx context.Context, id string) error {
	tag, err := s.db.Exec(ctx, `DELETE FROM canned_replies WHERE id = $1`, id)
	if err != nil {
		return down(err)
	}
	if tag.RowsAffected() == 0 {
		return kf.Errorf(kf.KindNotFound, "no_canned", "no canned reply %q", truncate(id))
	}
	return nil
}

// AddNote implements Store.
func (s *Postgres) AddNote(ctx context.Context, n Note) error {
	_, err := s.db.Exec(ctx, `INSERT INTO session_notes (id, session_id, account, openid, author, text, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, n.ID, n.Session, n.Account, n.OpenID, n.Author, n.Text, n.CreatedAt)
	if err != nil {
		return down(err)
	}
	return nil
}

func (s *Postgres) notes(ctx context.Context, sql string, args ...any) ([]Note, error) {
	rows, err := s.db.Query(ctx, `SELECT id, session_id, account, openid, author, text, created_at FROM session_notes `+sql, args...)
	if err != nil {
		return nil, down(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Note, error) {
		var n Note
		err := r.Scan(&n.ID, &n.Session, &n.Account, &n.OpenID, &n.Author, &n.Text, &n.CreatedAt)
		return n, err
	})
	if err != nil {
		return nil, down(err)
	}
	return out, nil
}

// Notes implements Store.
func (s *Postgres) Notes(ctx context.Context, session string) ([]Note, error) {
	return s.notes(ctx, `WHERE session_id = $1 ORDER BY created_at, id`, session)
}

// UserNotes implements Store.
func (s *Postgres) UserNotes(ctx context.Context, account, openid string, limit int) ([]Note, error) {
	return s.notes(ctx, `WHERE account = $1 AND openid = $2 ORDER BY created_at DESC, id DESC LIMIT $3`, account, openid, limit)
}

// SetLabels implements Store.
func (s *Postgres) SetLabels(ctx context.Context, session, account string, labels []string) error {
	_, err := s.db.Exec(ctx, `INSERT INTO session_labels (session_id, account, labels) VALUES ($1, $2, $3)
		ON CONFLICT (session_id) DO UPDATE SET labels = $3, updated_at = now()`, session, account, labels)
	if err != nil {
		return down(err)
	}
	return nil
}

// Labels implements Store.
func (s *Postgres) Labels(ctx context.Context, session string) ([]string, error) {
	var out []string
	err := s.db.QueryRow(ctx, `SELECT labels FROM session_labels WHERE session_id = $1`, session).Scan(&out)
	if errors.Is(err, pgx.ErrNoRows) {
		return []string{}, nil
	}
	if err != nil {
		return nil, down(err)
	}
	return out, nil
}
