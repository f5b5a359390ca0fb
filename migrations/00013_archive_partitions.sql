-- The archive's two growing tables, session_transitions and messages, are
-- partitioned by month (native declarative partitioning), so that
-- archive.retention drops whole months (DROP TABLE of a partition) instead
-- of deleting rows. See docs/architecture.md, "Retention".
--
-- A unique key of a partitioned table must include the partition key. The
-- archive's writes are idempotent through unique keys (ON CONFLICT on the
-- stream entry id), so the partition key of a row is a value the entry id
-- itself decides, the same every time the entry is delivered:
--   * session_transitions: `at`, the time the event carries (or, for an
--     event without one, the time in its entry id). Key (event_id, at).
--   * messages: `key_at`, a new column: the time in the entry id that keys
--     the row — the outbox entry id of an outbound message, the event's
--     entry id otherwise. created_at is no good: an outbound message's
--     created_at is the earliest of its status events and may move back
--     when a late one arrives. Keys (event_id, key_at), (outbox_id, key_at).
--
-- Existing rows are copied into the new tables, with one partition per
-- month from the oldest row's to two months after the present; kfgate
-- creates the later months itself (internal/archive/partitions.go).

-- +goose Up
ALTER TABLE session_transitions RENAME TO session_transitions_unpartitioned;
ALTER TABLE messages RENAME TO messages_unpartitioned;

CREATE TABLE session_transitions (
    event_id   text        NOT NULL,
    event_ms   bigint      NOT NULL,
    event_seq  bigint      NOT NULL,
    session_id text        NOT NULL,
    account    text        NOT NULL,
    openid     text        NOT NULL,
    at         timestamptz NOT NULL,
    type       text        NOT NULL,
    to_state   text        NOT NULL,
    agent      text        NOT NULL DEFAULT '',
    from_agent text        NOT NULL DEFAULT '',
    skill      text        NOT NULL DEFAULT '',
    actor      text        NOT NULL DEFAULT '',
    reason     text        NOT NULL DEFAULT ''
) PARTITION BY RANGE (at);

CREATE TABLE messages (
    id         bigint      NOT NULL DEFAULT nextval('messages_id_seq'),
    key_at     timestamptz NOT NULL,                -- the time of the entry id that keys the row
    event_id   text,
    outbox_id  text,
    session_id text,
    account    text        NOT NULL,
    openid     text        NOT NULL,
    direction  text        NOT NULL CHECK (direction IN ('in', 'out')),
    kind       text        NOT NULL DEFAULT '',
    type       text        NOT NULL DEFAULT '',
    content    text        NOT NULL DEFAULT '',
    media_id   text        NOT NULL DEFAULT '',
    event      text        NOT NULL DEFAULT '',
    msg_id     text        NOT NULL DEFAULT '',
    status     text        NOT NULL,
    reason     text        NOT NULL DEFAULT '',
    code       text        NOT NULL DEFAULT '',
    errcode    int         NOT NULL DEFAULT 0,
    attempts   int         NOT NULL DEFAULT 0,
    agent      text        NOT NULL DEFAULT '',
    status_ms  bigint      NOT NULL DEFAULT 0,
    status_seq bigint      NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    payload    jsonb,
    CHECK (event_id IS NOT NULL OR outbox_id IS NOT NULL)
) PARTITION BY RANGE (key_at);

-- The ids go on from where they were (the API's message cursors).
ALTER SEQUENCE messages_id_seq OWNED BY messages.id;

-- One partition per month (UTC), named <table>_yYYYYmMM.
-- +goose StatementBegin
DO $$
DECLARE
    first timestamp := date_trunc('month', least(now(),
        (SELECT min(at) FROM session_transitions_unpartitioned),
        (SELECT min(timestamptz 'epoch' + split_part(coalesce(outbox_id, event_id), '-', 1)::bigint * interval '1 millisecond')
            FROM messages_unpartitioned)) AT TIME ZONE 'UTC');
    last timestamp := date_trunc('month', greatest(now() + interval '2 months',
        (SELECT max(at) FROM session_transitions_unpartitioned),
        (SELECT max(timestamptz 'epoch' + split_part(coalesce(outbox_id, event_id), '-', 1)::bigint * interval '1 millisecond')
            FROM messages_unpartitioned)) AT TIME ZONE 'UTC');
    m timestamp := first;
    t text;
BEGIN
    WHILE m <= last LOOP
        FOREACH t IN ARRAY ARRAY['session_transitions', 'messages'] LOOP
            EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                t || '_y' || to_char(m, 'YYYY') || 'm' || to_char(m, 'MM'), t,
                to_char(m, 'YYYY-MM-DD') || ' 00:00:00+00',
                to_char(m + interval '1 month', 'YYYY-MM-DD') || ' 00:00:00+00');
        END LOOP;
        m := m + interval '1 month';
    END LOOP;
END
$$;
-- +goose StatementEnd

INSERT INTO session_transitions (event_id, event_ms, event_seq, session_id, account, openid, at, type,
    to_state, agent, from_agent, skill, actor, reason)
SELECT event_id, event_ms, event_seq, session_id, account, openid, at, type,
    to_state, agent, from_agent, skill, actor, reason
FROM session_transitions_unpartitioned;

INSERT INTO messages (id, key_at, event_id, outbox_id, session_id, account, openid, direction, kind, type,
    content, media_id, event, msg_id, status, reason, code, errcode, attempts, agent, status_ms, status_seq,
    created_at, updated_at, payload)
SELECT id, timestamptz 'epoch' + split_part(coalesce(outbox_id, event_id), '-', 1)::bigint * interval '1 millisecond',
    event_id, outbox_id, session_id, account, openid, direction, kind, type,
    content, media_id, event, msg_id, status, reason, code, errcode, attempts, agent, status_ms, status_seq,
    created_at, updated_at, payload
FROM messages_unpartitioned;

DROP TABLE session_transitions_unpartitioned;
DROP TABLE messages_unpartitioned;

-- Keys and indexes, built once the rows are in (every partition gets its own).
ALTER TABLE session_transitions ADD CONSTRAINT session_transitions_pkey PRIMARY KEY (event_id, at);
CREATE INDEX session_transitions_session ON session_transitions (session_id, event_ms, event_seq);
CREATE INDEX session_transitions_user ON session_transitions (account, openid, agent);

ALTER TABLE messages ADD CONSTRAINT messages_pkey PRIMARY KEY (id, key_at);
ALTER TABLE messages ADD CONSTRAINT messages_event_id_key UNIQUE (event_id, key_at);
ALTER TABLE messages ADD CONSTRAINT messages_outbox_id_key UNIQUE (outbox_id, key_at);
CREATE INDEX messages_session_created ON messages (session_id, created_at, id);
CREATE INDEX messages_account_openid_created ON messages (account, openid, created_at);
CREATE INDEX messages_openid_created ON messages (openid, created_at);

-- +goose StatementBegin
DO $$
DECLARE
    ext_schema text := (SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pg_trgm');
BEGIN
    EXECUTE format('CREATE INDEX messages_content_trgm ON messages USING gin (content %I.gin_trgm_ops)', ext_schema);
END
$$;
-- +goose StatementEnd

-- +goose Down
ALTER TABLE session_transitions RENAME TO session_transitions_partitioned;
ALTER TABLE messages RENAME TO messages_partitioned;
ALTER TABLE session_transitions_partitioned DROP CONSTRAINT session_transitions_pkey;
ALTER TABLE messages_partitioned DROP CONSTRAINT messages_pkey, DROP CONSTRAINT messages_event_id_key,
    DROP CONSTRAINT messages_outbox_id_key;
DROP INDEX session_transitions_session, session_transitions_user, messages_session_created,
    messages_account_openid_created, messages_openid_created, messages_content_trgm;

CREATE TABLE session_transitions (LIKE session_transitions_partitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
INSERT INTO session_transitions SELECT * FROM session_transitions_partitioned;
ALTER TABLE session_transitions ADD PRIMARY KEY (event_id);
CREATE INDEX session_transitions_session ON session_transitions (session_id, event_ms, event_seq);
CREATE INDEX session_transitions_user ON session_transitions (account, openid, agent);

CREATE TABLE messages (LIKE messages_partitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
INSERT INTO messages SELECT * FROM messages_partitioned;
ALTER SEQUENCE messages_id_seq OWNED BY messages.id;
ALTER TABLE messages DROP COLUMN key_at;
ALTER TABLE messages ADD PRIMARY KEY (id), ADD UNIQUE (event_id), ADD UNIQUE (outbox_id);
CREATE INDEX messages_session_created ON messages (session_id, created_at, id);
CREATE INDEX messages_account_openid_created ON messages (account, openid, created_at);
CREATE INDEX messages_openid_created ON messages (openid, created_at);

DROP TABLE session_transitions_partitioned;
DROP TABLE messages_partitioned;

-- +goose StatementBegin
DO $$
DECLARE
    ext_schema text := (SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pg_trgm');
BEGIN
    EXECUTE format('CREATE INDEX messages_content_trgm ON messages USING gin (content %I.gin_trgm_ops)', ext_schema);
END
$$;
-- +goose StatementEnd
