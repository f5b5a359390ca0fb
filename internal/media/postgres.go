package media

import (
	"context"
	"encoding/hex"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kfgate/kfgate/internal/kf"
)

// Postgres keeps media in PostgreSQL (migrations/00010_media.sql): records
// in media, files in media_files keyed by their SHA-256.
type Postgres struct{ db *pgxpool.Pool }

// NewPostgres returns a Postgres store on db.
func NewPostgres(db *pgxpool.Pool) *Postgres { return &Postgres{db: db} }

var _ Store = (*Postgres)(nil)

// Add implements Store.
func (s *Postgres) Add(ctx context.Context, r Record) (bool, error) {
	tag, err := s.db.Exec(ctx, `INSERT INTO media (id, account, media_id, kind, session_id, openid, status)
		VALUES ($1, $2, $3, $4, $5, $6, 'pending') ON CONFLICT (id) DO NOTHING`,
		r.ID, r.Account, r.MediaID, string(r.Kind), r.Session, r.OpenID)
	if err != nil {
		return false, unavailable(err)
	}
	return tag.RowsAffected() == 1, nil
}

// Get implements Store.
func (s *Postgres) Get(ctx context.Context, id string) (Record, error) {
	var r Record
	var sha []byte
	var ctype *string
	var size *int64
	err := s.db.QueryRow(ctx, `SELECT m.account, m.media_id, m.kind, m.session_id, m.openid, m.status, m.attempts,
			m.error, m.sha256, f.content_type, f.size, m.created_at, m.updated_at
		FROM media m LEFT JOIN media_files f ON f.sha256 = m.sha256 WHERE m.id = $1`, id).
		Scan(&r.Account, &r.MediaID, &r.Kind, &r.Session, &r.OpenID, &r.Status, &r.Attempts, &r.Error, &sha,
			&ctype, &size, &r.CreatedAt, &r.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Record{}, notFound(id)
	}
	if err != nil {
		return Record{}, unavailable(err)
	}
	r.ID, r.URL, r.SHA256 = id, "/api/v1/media/"+id, hex.EncodeToString(sha)
	if ctype != nil {
		r.ContentType, r.Size = *ctype, *size
	}
	return r, nil
}

// Put implements Store.
func (s *Postgres) Put(ctx context.Context, id string, data []byte, contentType string, attempts int) error {
	sha, _ := hex.DecodeString(sum(data))
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO media_files (sha256, content_type, size, bytes) VALUES ($1, $2, $3, $4)
			ON CONFLICT (sha256) DO NOTHING`, sha, contentType, len(data), data); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE media SET status = 'stored', sha256 = $2, attempts = $3, error = '',
			updated_at = now() WHERE id = $1`, id, sha, attempts)
		return err
	})
	if err != nil {
		return unavailable(err)
	}
	return nil
}

// Attempt implements Store.
func (s *Postgres) Attempt(ctx context.Context, id string, attempts int, reason string, final bool) error {
	status := StatusPending
	if final {
		status = StatusFailed
	}
	_, err := s.db.Exec(ctx, `UPDATE media SET status = $2, attempts = $3, error = $4, updated_at = now()
		WHERE id = $1 AND status <> 'stored'`, id, string(status), attempts, reason)
	if err != nil {
		return unavailable(err)
	}
	return nil
}

// Open implements Store.
func (s *Postgres) Open(ctx context.Context, r Record) ([]byte, error) {
	sha, err := hex.DecodeString(r.SHA256)
	if err != nil || len(sha) != 32 {
		return nil, kf.Errorf(kf.KindNotFound, "no_media", "the media is not stored")
	}
	var b []byte
	err = s.db.QueryRow(ctx, `SELECT bytes FROM media_files WHERE sha256 = $1`, sha).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, kf.Errorf(kf.KindNotFound, "no_media", "the media is not stored")
	}
	if err != nil {
		return nil, unavailable(err)
	}
	return b, nil
}

// Expire deletes the records created before cutoff (archive.retention)
// and then the files no record names any more: a file another, younger
// record still names stays. It returns how many records and files went.
func (s *Postgres) Expire(ctx context.Context, cutoff time.Time) (records, files int64, err error) {
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `DELETE FROM media WHERE created_at < $1 AND sha256 IS NOT NULL RETURNING sha256`, cutoff)
		if err != nil {
			return err
		}
		shas, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM media WHERE created_at < $1`, cutoff) // never stored
		if err != nil {
			return err
		}
		records = int64(len(shas)) + tag.RowsAffected()
		if len(shas) == 0 {
			return nil
		}
		// A record added meanwhile that names one of these files holds a
		// lock on it (the foreign key) until it commits, and then counts.
		tag, err = tx.Exec(ctx, `DELETE FROM media_files f WHERE f.sha256 = ANY($1)
			AND NOT EXISTS (SELECT 1 FROM media m WHERE m.sha256 = f.sha256)`, shas)
		if err != nil {
			return err
		}
		files = tag.RowsAffected()
		return nil
	})
	if err != nil {
		return 0, 0, unavailable(err)
	}
	return records, files, nil
}
