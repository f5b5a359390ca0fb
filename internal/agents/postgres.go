package agents

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kfgate/kfgate/internal/kf"
)

// Postgres is the registry in PostgreSQL's table agents. Every method is
// one statement, so each is atomic on its own.
type Postgres struct {
	pool *pgxpool.Pool
}

// NewPostgres returns the registry in pool's database; the table comes
// from the migrations (package migrate).
func NewPostgres(pool *pgxpool.Pool) *Postgres {
	return &Postgres{pool: pool}
}

const columns = `id, name, accounts, skills, weight, max_sessions, role, disabled, kf_account`

// selected is columns as read: no kf account is "".
const selected = `id, name, accounts, skills, weight, max_sessions, role, disabled, coalesce(kf_account, '')`

// Create inserts the agent, or revives a deleted one with its id: the
// upsert's WHERE leaves a live row alone, and no row changed is the
// conflict.
func (p *Postgres) Create(ctx context.Context, a kf.Agent, tokenHash []byte) error {
	if err := check(a); err != nil {
		return err
	}
	if err := checkHash(tokenHash); err != nil {
		return err
	}
	a = record(a)
	tag, err := p.pool.Exec(ctx, `
		INSERT INTO agents (`+columns+`, token_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULLIF($10, ''), $9)
		ON CONFLICT (id) DO UPDATE SET
			name = excluded.name, accounts = excluded.accounts, skills = excluded.skills,
			weight = excluded.weight, max_sessions = excluded.max_sessions,
			role = excluded.role, disabled = excluded.disabled, kf_account = excluded.kf_account,
			token_hash = excluded.token_hash, password_hash = NULL,
			created_at = now(), updated_at = now(), deleted_at = NULL
		WHERE agents.deleted_at IS NOT NULL`,
		a.ID, a.Name, a.Accounts, a.Skills, a.Weight, a.MaxSessions, a.Role, a.Disabled, tokenHash, a.KfAccount)
	if err != nil {
		return pgErr("create", err)
	}
	if tag.RowsAffected() == 0 {
		return errExists
	}
	return nil
}

// Get returns the agent id.
func (p *Postgres) Get(ctx context.Context, id string) (kf.Agent, error) {
	rows, _ := p.pool.Query(ctx, `SELECT `+selected+` FROM agents WHERE id = $1 AND deleted_at IS NULL`, id)
	a, err := pgx.CollectExactlyOneRow(rows, scan)
	if errors.Is(err, pgx.ErrNoRows) {
		return kf.Agent{}, notFound(id)
	}
	if err != nil {
		return kf.Agent{}, pgErr("get", err)
	}
	return a, nil
}

// List returns the live agents by id; COLLATE "C" sorts bytewise, as the
// Redis registry does, whatever the database's collation.
func (p *Postgres) List(ctx context.Context) ([]kf.Agent, error) {
	rows, _ := p.pool.Query(ctx, `SELECT `+selected+` FROM agents WHERE deleted_at IS NULL ORDER BY id COLLATE "C"`)
	all, err := pgx.CollectRows(rows, scan)
	if err != nil {
		return nil, pgErr("list", err)
	}
	return all, nil
}

// Update sets the agent's settings.
func (p *Postgres) Update(ctx context.Context, a kf.Agent) error {
	if err := check(a); err != nil {
		return err
	}
	a = record(a)
	tag, err := p.pool.Exec(ctx, `
		UPDATE agents SET name = $2, accounts = $3, skills = $4, weight = $5, max_sessions = $6,
			role = $7, disabled = $8, kf_account = NULLIF($9, ''), updated_at = now()
		WHERE id = $1 AND deleted_at IS NULL`,
		a.ID, a.Name, a.Accounts, a.Skills, a.Weight, a.MaxSessions, a.Role, a.Disabled, a.KfAccount)
	if err != nil {
		return pgErr("update", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound(a.ID)
	}
	return nil
}

// Delete marks the agent deleted and clears its token hash; its kf
// account is free for another agent (the unique index skips deleted rows).
func (p *Postgres) Delete(ctx context.Context, id string) error {
	tag, err := p.pool.Exec(ctx, `
		UPDATE agents SET deleted_at = now(), updated_at = now(), token_hash = NULL
		WHERE id = $1 AND deleted_at IS NULL`, id)
	if err != nil {
		return pgErr("delete", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound(id)
	}
	return nil
}

// SetTokenHash sets or (nil) clears the agent's token hash.
func (p *Postgres) SetTokenHash(ctx context.Context, id string, hash []byte) error {
	if err := checkHash(hash); err != nil {
		return err
	}
	tag, err := p.pool.Exec(ctx, `
		UPDATE agents SET token_hash = $2, updated_at = now()
		WHERE id = $1 AND deleted_at IS NULL`, id, hash)
	if err != nil {
		return pgErr("set token", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound(id)
	}
	return nil
}

// ByTokenHash returns the agent with the token hash, through the unique
// index on token_hash.
func (p *Postgres) ByTokenHash(ctx context.Context, hash []byte) (kf.Agent, error) {
	if len(hash) == 0 {
		return kf.Agent{}, errNoToken
	}
	rows, _ := p.pool.Query(ctx, `SELECT `+selected+` FROM agents WHERE token_hash = $1 AND deleted_at IS NULL`, hash)
	a, err := pgx.CollectExactlyOneRow(rows, scan)
	if errors.Is(err, pgx.ErrNoRows) {
		return kf.Agent{}, errNoToken
	}
	if err != nil {
		return kf.Agent{}, pgErr("by token", err)
	}
	return a, nil
}

// SetPassword sets the agent's password hash ("" for none).
func (p *Postgres) SetPassword(ctx context.Context, id, hash string) error {
	tag, err := p.pool.Exec(ctx, `
		UPDATE agents SET password_hash = NULLIF($2, ''), updated_at = now()
		WHERE id = $1 AND deleted_at IS NULL`, id, hash)
	if err != nil {
		return pgErr("set password", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound(id)
	}
	return nil
}

// Credentials returns the agent and its password hash ("" for none).
func (p *Postgres) Credentials(ctx context.Context, id string) (kf.Agent, string, error) {
	var hash *string
	var a kf.Agent
	err := p.pool.QueryRow(ctx, `SELECT `+selected+`, password_hash FROM agents WHERE id = $1 AND deleted_at IS NULL`, id).
		Scan(&a.ID, &a.Name, &a.Accounts, &a.Skills, &a.Weight, &a.MaxSessions, &a.Role, &a.Disabled, &a.KfAccount, &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return kf.Agent{}, "", notFound(id)
	}
	if err != nil {
		return kf.Agent{}, "", pgErr("credentials", err)
	}
	if hash == nil {
		return record(a), "", nil
	}
	return record(a), *hash, nil
}

func scan(row pgx.CollectableRow) (kf.Agent, error) {
	var a kf.Agent
	err := row.Scan(&a.ID, &a.Name, &a.Accounts, &a.Skills, &a.Weight, &a.MaxSessions, &a.Role, &a.Disabled, &a.KfAccount)
	return record(a), err
}

// pgErr is wrap, with the unique index on token_hash as a conflict.
func pgErr(op string, err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" && pe.ConstraintName == "agents_token_hash_key" {
		return errTokenInUse
	}
	if errors.As(err, &pe) && pe.Code == "23505" && pe.ConstraintName == "agents_kf_account_key" {
		return errKfAccountInUse
	}
	return wrap(op, err)
}
