-- The durable registry of agents (package agents). Status and load are not
-- here: they live in Redis, in the engine's routing view.

-- +goose Up
CREATE TABLE agents (
    id           text        PRIMARY KEY CHECK (id <> ''),
    name         text        NOT NULL,
    accounts     text[]      NOT NULL,              -- appids the agent serves
    skills       text[]      NOT NULL DEFAULT '{}',
    weight       int         NOT NULL DEFAULT 1 CHECK (weight > 0),
    max_sessions int         NOT NULL CHECK (max_sessions > 0),
    -- SHA-256 of the agent's bearer token; NULL when it has none (revoked,
    -- deleted, or an agent who works only in WeChat's own kf tool).
    token_hash   bytea       CHECK (octet_length(token_hash) = 32),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    -- Soft delete: the archive's sessions and messages keep naming the agent.
    deleted_at   timestamptz
);

CREATE UNIQUE INDEX agents_token_hash_key ON agents (token_hash) WHERE token_hash IS NOT NULL;

-- +goose Down
DROP TABLE agents;
