-- An agent may answer as one of the official account's WeChat
-- customer-service accounts (package internal/agents): its replies carry
-- customservice.kf_account. One live agent per kf account, so that the
-- admin API can link each kf account to its agent.

-- +goose Up
ALTER TABLE agents ADD COLUMN kf_account text CHECK (kf_account <> '');
CREATE UNIQUE INDEX agents_kf_account_key ON agents (kf_account) WHERE kf_account IS NOT NULL AND deleted_at IS NULL;

-- +goose Down
DROP INDEX agents_kf_account_key;
ALTER TABLE agents DROP COLUMN kf_account;
