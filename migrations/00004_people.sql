-- People sign in to the console (package internal/agents): a role and a
-- password hash per agent, and a switch that disables someone without
-- deleting their history.

-- +goose Up
ALTER TABLE agents
    ADD COLUMN role          text    NOT NULL DEFAULT 'agent' CHECK (role IN ('agent', 'supervisor', 'admin')),
    -- argon2id in the PHC string format; NULL: the person cannot sign in.
    ADD COLUMN password_hash text,
    ADD COLUMN disabled      boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE agents DROP COLUMN role, DROP COLUMN password_hash, DROP COLUMN disabled;
