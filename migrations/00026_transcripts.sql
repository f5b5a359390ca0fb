-- Transcripts imported from WeChat (package internal/archive, transcripts.go):
-- what kf accounts wrote inside WeChat's own customer-service tool, and
-- what users wrote to them, read from msgrecord/getmsglist. Such a message
-- passed through no Redis stream, so it is keyed by its import_key — the
-- SHA-256 of WeChat's record (account, openid, time, worker, opercode,
-- text) — and an import run twice writes it once. Its key_at (the
-- partition key, 00013) is the record's time, which the record decides
-- as well.

-- +goose Up
ALTER TABLE messages
    ADD COLUMN import_key text,
    -- The kf account that wrote (out) or received (in) an imported message.
    ADD COLUMN kf_account text NOT NULL DEFAULT '';
ALTER TABLE messages ADD CONSTRAINT messages_import_key_key UNIQUE (import_key, key_at);
-- The check that a message has a key (named messages_check or
-- messages_check1, depending on the path the table took through 00013)
-- admits the import's key too.
-- +goose StatementBegin
DO $$
DECLARE
    c text;
BEGIN
    FOR c IN SELECT conname FROM pg_constraint
        WHERE conrelid = 'messages'::regclass AND contype = 'c'
        AND pg_get_constraintdef(oid) = 'CHECK (((event_id IS NOT NULL) OR (outbox_id IS NOT NULL)))'
    LOOP
        EXECUTE format('ALTER TABLE messages DROP CONSTRAINT %I', c);
    END LOOP;
END
$$;
-- +goose StatementEnd
ALTER TABLE messages ADD CONSTRAINT messages_key_check
    CHECK (event_id IS NOT NULL OR outbox_id IS NOT NULL OR import_key IS NOT NULL);

-- The import finds the user's session open at a record's time.
CREATE INDEX sessions_account_openid_created ON sessions (account, openid, created_at DESC);

-- Where each account's import goes on: the start of the 24-hour window it
-- reads and WeChat's msgid cursor inside it.
CREATE TABLE transcript_cursors (
    account    text        PRIMARY KEY,
    since      timestamptz NOT NULL,
    msgid      bigint      NOT NULL DEFAULT 1,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE transcript_cursors;
DROP INDEX sessions_account_openid_created;
DELETE FROM messages WHERE import_key IS NOT NULL;
ALTER TABLE messages DROP CONSTRAINT messages_import_key_key;
ALTER TABLE messages DROP CONSTRAINT messages_key_check;
ALTER TABLE messages ADD CHECK (event_id IS NOT NULL OR outbox_id IS NOT NULL);
ALTER TABLE messages DROP COLUMN import_key, DROP COLUMN kf_account;
