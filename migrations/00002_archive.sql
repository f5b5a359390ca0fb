-- The archive (package internal/archive): sessions with every transition and
-- messages in both directions, written from the Redis stream <prefix>events
-- (and the outbox entries it names). Every row is keyed by a Redis stream
-- entry id, so a replay of the stream writes nothing twice.

-- +goose Up
-- One row per session, derived from its transitions (recomputed by the
-- archive after each batch, so the order in which events arrive does not
-- matter).
CREATE TABLE sessions (
    id           text        PRIMARY KEY CHECK (id <> ''),
    account      text        NOT NULL,               -- appid
    openid       text        NOT NULL,
    skill        text        NOT NULL DEFAULT '',
    agent        text        NOT NULL DEFAULT '',    -- the last agent that served it
    state        text        NOT NULL,               -- waiting | serving | transferring | closed
    transfers    int         NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    closed_at    timestamptz,
    closed_by    text,                               -- actor: agent, user, scheduler, admin …
    close_reason text
);

CREATE INDEX sessions_account_created ON sessions (account, created_at DESC, id DESC);
CREATE INDEX sessions_agent_created ON sessions (agent, created_at DESC, id DESC);
CREATE INDEX sessions_created ON sessions (created_at DESC, id DESC);

-- One row per session event of the events stream (message events excepted).
CREATE TABLE session_transitions (
    event_id   text        PRIMARY KEY,             -- the <prefix>events entry id
    event_ms   bigint      NOT NULL,                -- the entry id's two parts, for ordering
    event_seq  bigint      NOT NULL,
    session_id text        NOT NULL,
    account    text        NOT NULL,
    openid     text        NOT NULL,
    at         timestamptz NOT NULL,
    type       text        NOT NULL,                -- session.assigned, session.queued …
    to_state   text        NOT NULL,
    agent      text        NOT NULL DEFAULT '',
    from_agent text        NOT NULL DEFAULT '',
    skill      text        NOT NULL DEFAULT '',
    actor      text        NOT NULL DEFAULT '',
    reason     text        NOT NULL DEFAULT ''
);

CREATE INDEX session_transitions_session ON session_transitions (session_id, event_ms, event_seq);

-- Messages in both directions. An inbound message is keyed by its event's
-- entry id (event_id); an outbound one by its outbox entry id (outbox_id),
-- its status following the message.status events; an outbound message the
-- outbox refused before queueing it has no outbox id and is keyed by the
-- event's entry id.
CREATE TABLE messages (
    id         bigserial   PRIMARY KEY,
    event_id   text        UNIQUE,
    outbox_id  text        UNIQUE,
    session_id text,                                -- NULL for a rejected inbound message
    account    text        NOT NULL,
    openid     text        NOT NULL,
    direction  text        NOT NULL CHECK (direction IN ('in', 'out')),
    kind       text        NOT NULL DEFAULT '',     -- out: agent, notice, survey
    type       text        NOT NULL DEFAULT '',     -- text, image, event, msgmenu …
    content    text        NOT NULL DEFAULT '',
    media_id   text        NOT NULL DEFAULT '',
    event      text        NOT NULL DEFAULT '',     -- in: WeChat's Event of an event message
    msg_id     text        NOT NULL DEFAULT '',     -- in: WeChat's MsgId
    status     text        NOT NULL,                -- in: received | rejected; out: queued | sent | failed
    reason     text        NOT NULL DEFAULT '',
    code       text        NOT NULL DEFAULT '',
    errcode    int         NOT NULL DEFAULT 0,
    attempts   int         NOT NULL DEFAULT 0,
    agent      text        NOT NULL DEFAULT '',
    status_ms  bigint      NOT NULL DEFAULT 0,      -- entry id of the event that set status
    status_seq bigint      NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    CHECK (event_id IS NOT NULL OR outbox_id IS NOT NULL)
);

CREATE INDEX messages_session_created ON messages (session_id, created_at, id);
CREATE INDEX messages_account_openid_created ON messages (account, openid, created_at);

-- +goose Down
DROP TABLE messages;
DROP TABLE session_transitions;
DROP TABLE sessions;
