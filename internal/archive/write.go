package archive

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// The staging table: one row per event of a batch, created once per
// connection and emptied at each COMMIT. COPY fills it; the statements
// below move its rows into the archive's tables, skipping what is there.
const createStage = `CREATE TEMP TABLE IF NOT EXISTS archive_stage (
	event_id text, event_ms bigint, event_seq bigint, kind text, type text,
	session_id text, account text, openid text, state text, agent text, from_agent text,
	skill text, actor text, reason text, at timestamptz, key_at timestamptz,
	m_id text, m_kind text, m_type text, m_content text, m_media_id text, m_event text,
	m_status text, m_reason text, m_code text, m_errcode int, m_attempts int, m_payload text
) ON COMMIT DELETE ROWS`

var stageColumns = []string{"event_id", "event_ms", "event_seq", "kind", "type",
	"session_id", "account", "openid", "state", "agent", "from_agent",
	"skill", "actor", "reason", "at", "key_at",
	"m_id", "m_kind", "m_type", "m_content", "m_media_id", "m_event",
	"m_status", "m_reason", "m_code", "m_errcode", "m_attempts", "m_payload"}

func stageRow(e *event) []any {
	m := e.Msg
	id, kind, typ, content, media, agent := string(m.ID), m.Kind, m.Type, m.Content, m.MediaID, e.Agent
	if e.kind() == "out" {
		id = e.OutboxID
		if e.Out.Found {
			typ, content, media = e.Out.MsgType, e.Out.Content, e.Out.MediaID
			if kind == "" {
				kind = e.Out.Kind
			}
			if e.Out.Agent != "" {
				agent = e.Out.Agent // who wrote it, rather than who serves the session now
			}
		}
	}
	payload := ""
	if e.kind() == "in" && !m.Rich.IsZero() {
		b, _ := json.Marshal(&m.Rich)
		payload = string(b)
	}
	return []any{e.ID, e.MS, e.Seq, e.kind(), e.Type,
		e.Session, e.Account, e.OpenID, e.State, agent, e.From,
		e.Skill, e.Actor, e.Reason, e.At, e.KeyAt,
		id, kind, typ, content, media, m.Event,
		m.Status, m.Reason, m.Code, int32(m.ErrCode), int32(m.Attempts), payload}
}

// The statements of a batch, in order, with the table each writes to.
var statements = []struct{ table, sql string }{
	{"session_transitions", `INSERT INTO session_transitions (event_id, event_ms, event_seq, session_id,
		account, openid, at, type, to_state, agent, from_agent, skill, actor, reason)
	SELECT event_id, event_ms, event_seq, session_id, account, openid, at, type, state, agent,
		from_agent, skill, actor, reason
	FROM pg_temp.archive_stage WHERE kind = 'transition'
	ON CONFLICT (event_id, at) DO NOTHING`},

	// Inbound messages, and outbound ones the outbox refused before queueing
	// (no outbox id): one row per event.
	{"messages", `INSERT INTO messages (event_id, key_at, session_id, account, openid, direction, kind, type,
		content, media_id, event, msg_id, status, reason, code, errcode, attempts, agent,
		status_ms, status_seq, created_at, updated_at, payload)
	SELECT event_id, key_at, NULLIF(session_id, ''), account, openid,
		CASE kind WHEN 'in' THEN 'in' ELSE 'out' END, m_kind, m_type, m_content, m_media_id, m_event,
		CASE kind WHEN 'in' THEN m_id ELSE '' END,
		CASE WHEN kind = 'out' THEN m_status WHEN state = 'rejected' THEN 'rejected' ELSE 'received' END,
		CASE kind WHEN 'in' THEN reason ELSE m_reason END, m_code, m_errcode, m_attempts, agent,
		event_ms, event_seq, at, at, NULLIF(m_payload, '')::jsonb
	FROM pg_temp.archive_stage WHERE kind = 'in' OR (kind = 'out' AND m_id = '')
	ON CONFLICT (event_id, key_at) DO NOTHING`},

	// Outbound messages: one row per outbox entry, its status that of the
	// latest message.status event by entry id; content is filled from the
	// first event whose outbox entry was found.
	{"messages", `INSERT INTO messages (outbox_id, key_at, session_id, account, openid, direction, kind, type,
		content, media_id, status, reason, code, errcode, attempts, agent,
		status_ms, status_seq, created_at, updated_at)
	SELECT l.m_id, l.key_at, NULLIF(l.session_id, ''), l.account, l.openid, 'out', l.m_kind, coalesce(c.m_type, ''),
		coalesce(c.m_content, ''), coalesce(c.m_media_id, ''), l.m_status, l.m_reason, l.m_code, l.m_errcode, l.m_attempts,
		coalesce(c.agent, l.agent), l.event_ms, l.event_seq, f.first_at, l.at
	FROM (SELECT DISTINCT ON (m_id) * FROM pg_temp.archive_stage WHERE kind = 'out' AND m_id <> ''
		ORDER BY m_id, event_ms DESC, event_seq DESC) l
	JOIN (SELECT m_id, min(at) AS first_at FROM pg_temp.archive_stage WHERE kind = 'out' AND m_id <> ''
		GROUP BY m_id) f USING (m_id)
	LEFT JOIN (SELECT DISTINCT ON (m_id) m_id, m_type, m_content, m_media_id, agent
		FROM pg_temp.archive_stage WHERE kind = 'out' AND m_id <> '' AND m_type <> ''
		ORDER BY m_id, event_ms, event_seq) c USING (m_id)
	ON CONFLICT (outbox_id, key_at) DO UPDATE SET
		type     = CASE WHEN messages.type = '' THEN EXCLUDED.type ELSE messages.type END,
		content  = CASE WHEN messages.type = '' THEN EXCLUDED.content ELSE messages.content END,
		media_id = CASE WHEN messages.type = '' THEN EXCLUDED.media_id ELSE messages.media_id END,
		kind     = CASE WHEN messages.kind = '' THEN EXCLUDED.kind ELSE messages.kind END,
		created_at = LEAST(messages.created_at, EXCLUDED.created_at),
		status   = CASE WHEN (EXCLUDED.status_ms, EXCLUDED.status_seq) > (messages.status_ms, messages.status_seq) THEN EXCLUDED.status ELSE messages.status END,
		reason   = CASE WHEN (EXCLUDED.status_ms, EXCLUDED.status_seq) > (messages.status_ms, messages.status_seq) THEN EXCLUDED.reason ELSE messages.reason END,
		code     = CASE WHEN (EXCLUDED.status_ms, EXCLUDED.status_seq) > (messages.status_ms, messages.status_seq) THEN EXCLUDED.code ELSE messages.code END,
		errcode  = CASE WHEN (EXCLUDED.status_ms, EXCLUDED.status_seq) > (messages.status_ms, messages.status_seq) THEN EXCLUDED.errcode ELSE messages.errcode END,
		attempts = CASE WHEN (EXCLUDED.status_ms, EXCLUDED.status_seq) > (messages.status_ms, messages.status_seq) THEN EXCLUDED.attempts ELSE messages.attempts END,
		status_ms  = CASE WHEN (EXCLUDED.status_ms, EXCLUDED.status_seq) > (messages.status_ms, messages.status_seq) THEN EXCLUDED.status_ms ELSE messages.status_ms END,
		status_seq = CASE WHEN (EXCLUDED.status_ms, EXCLUDED.status_seq) > (messages.status_ms, messages.status_seq) THEN EXCLUDED.status_seq ELSE messages.status_seq END,
		updated_at = GREATEST(messages.updated_at, EXCLUDED.updated_at)
	WHERE (EXCLUDED.status_ms, EXCLUDED.status_seq) > (messages.status_ms, messages.status_seq)
		OR (messages.type = '' AND EXCLUDED.type <> '')
		OR EXCLUDED.created_at < messages.created_at`},

	// Every session the batch touched is recomputed from all its archived
	// transitions, so the result does not depend on the order of delivery.
	// Only session.* events set the state; other session-scoped events (a
	// survey answer …) are kept as transitions for the audit trail.
	// A transfer counts once: the router's later assignment of a queued
	// transfer (actor "router") is not another one.
	{"sessions", `INSERT INTO sessions (id, account, openid, skill, agent, state, transfers,
		created_at, updated_at, closed_at, closed_by, close_reason)
	SELECT t.session_id, l.account, l.openid, coalesce(sk.skill, ''), coalesce(ag.agent, ''),
		l.to_state, a.transfers, a.created_at,
		GREATEST(a.updated_at, (SELECT max(created_at) FROM messages m
			WHERE m.session_id = t.session_id AND m.direction = 'in')),
		c.at, c.actor, c.reason
	FROM (SELECT DISTINCT session_id FROM pg_temp.archive_stage
		WHERE kind IN ('transition', 'in') AND session_id <> '') t
	CROSS JOIN LATERAL (SELECT account, openid, to_state FROM session_transitions s
		WHERE s.session_id = t.session_id AND type LIKE 'session.%' ORDER BY event_ms DESC, event_seq DESC LIMIT 1) l
	CROSS JOIN LATERAL (SELECT min(at) AS created_at, max(at) AS updated_at,
		count(*) FILTER (WHERE type = 'session.transferred' AND actor <> 'router') AS transfers
		FROM session_transitions s WHERE s.session_id = t.session_id) a
	LEFT JOIN LATERAL (SELECT agent FROM session_transitions s
		WHERE s.session_id = t.session_id AND agent <> ''
		ORDER BY event_ms DESC, event_seq DESC LIMIT 1) ag ON true
	LEFT JOIN LATERAL (SELECT skill FROM session_transitions s
		WHERE s.session_id = t.session_id AND skill <> ''
		ORDER BY event_ms DESC, event_seq DESC LIMIT 1) sk ON true
	LEFT JOIN LATERAL (SELECT at, actor, reason FROM session_transitions s
		WHERE s.session_id = t.session_id AND type = 'session.closed'
		ORDER BY event_ms, event_seq LIMIT 1) c ON true
	ON CONFLICT (id) DO UPDATE SET account = EXCLUDED.account, openid = EXCLUDED.openid,
		skill = EXCLUDED.skill, agent = EXCLUDED.agent, state = EXCLUDED.state,
		transfers = EXCLUDED.transfers, created_at = EXCLUDED.created_at,
		updated_at = EXCLUDED.updated_at, closed_at = EXCLUDED.closed_at,
		closed_by = EXCLUDED.closed_by, close_reason = EXCLUDED.close_reason
	WHERE (sessions.state, sessions.agent, sessions.transfers, sessions.updated_at, sessions.skill,
		sessions.closed_at IS NULL)
		IS DISTINCT FROM (EXCLUDED.state, EXCLUDED.agent, EXCLUDED.transfers, EXCLUDED.updated_at,
		EXCLUDED.skill, EXCLUDED.closed_at IS NULL)`},
}

// write archives a batch in one transaction and returns the rows written
// (inserted or changed) per table. Nothing is written unless all is.
// lockSessions takes a transaction lock on every session the batch touches.
const lockSessions = `SELECT count(pg_advisory_xact_lock(hashtextextended('kfgate archive ' || session_id, 0)))
	FROM (SELECT DISTINCT session_id FROM pg_temp.archive_stage
		WHERE kind IN ('transition', 'in') AND session_id <> '' ORDER BY session_id) s`

func write(ctx context.Context, db beginner, evs []event) (map[string]int64, error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("archive: begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, createStage); err != nil {
		return nil, fmt.Errorf("archive: staging table: %w", err)
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"pg_temp", "archive_stage"}, stageColumns,
		pgx.CopyFromSlice(len(evs), func(i int) ([]any, error) { return stageRow(&evs[i]), nil })); err != nil {
		return nil, fmt.Errorf("archive: copy: %w", err)
	}
	rows := make(map[string]int64, 3)
	for _, st := range statements {
		if st.table == "sessions" {
			// Replicas write batches concurrently. A session's row is
			// recomputed from all its transitions, so the recompute that
			// runs last must see every other batch's transitions: lock the
			// sessions (in id order, no deadlock) before the statement
			// takes its snapshot; a batch committing meanwhile then waits,
			// and whichever recomputes second sees the first's rows.
			if _, err := tx.Exec(ctx, lockSessions); err != nil {
				return nil, fmt.Errorf("archive: lock sessions: %w", err)
			}
		}
		tag, err := tx.Exec(ctx, st.sql)
		if err != nil {
			return nil, fmt.Errorf("archive: %s: %w", st.table, err)
		}
		rows[st.table] += tag.RowsAffected()
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("archive: commit: %w", err)
	}
	return rows, nil
}
