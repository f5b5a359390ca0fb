-- The audit log in PostgreSQL (package internal/audit), when kfgate has
-- one: what admins did — who (a fingerprint of the admin token, never the
-- token), what (the call), on what (its path parameters), when, from
-- where (the client's address) and how it ended (the HTTP status). Never
-- the content of a call. archive.retention does not apply: it is kept
-- until deleted by hand. Without PostgreSQL the log is the Redis stream
-- <prefix>audit.

-- +goose Up
CREATE TABLE audit_log (
    id     bigserial   PRIMARY KEY,
    at     timestamptz NOT NULL,
    actor  text        NOT NULL,
    action text        NOT NULL,
    target text        NOT NULL DEFAULT '',
    client text        NOT NULL DEFAULT '',             -- the API's "from"
    status int         NOT NULL,
    -- A record that waited in the Redis stream while PostgreSQL was away:
    -- its stream id, so that two replicas moving it write it once.
    buffered_id text   UNIQUE
);

CREATE INDEX audit_log_at ON audit_log (at, id);
CREATE INDEX audit_log_actor ON audit_log (actor, id);
CREATE INDEX audit_log_action ON audit_log (action, id);

-- +goose Down
DROP TABLE audit_log;
