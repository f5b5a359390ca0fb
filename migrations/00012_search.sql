-- The archive's search (GET /api/v1/search): substring search of message
-- texts and of users' remarks, Chinese included, with trigram GIN indexes
-- (pg_trgm, a trusted extension shipped with PostgreSQL: Debian's
-- postgresql-15 package includes it). pg_trgm cuts text into
-- three-character pieces; with a UTF-8 database whose LC_CTYPE classifies
-- CJK characters as letters (C.UTF-8, en_US.UTF-8, zh_CN.UTF-8), a Chinese
-- query of three or more characters is answered from the index. The
-- extension may already live in another schema: the operator class is
-- named through the schema it is in.

-- +goose Up
-- Extensions are per database: migrations of two schemas at once (two
-- deployments, parallel tests) would both try to create it; a lock for the
-- transaction makes the second find it.
SELECT pg_advisory_xact_lock(7493016254093011);
CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public;

-- +goose StatementBegin
DO $$
DECLARE
    ext_schema text := (SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pg_trgm');
BEGIN
    EXECUTE format('CREATE INDEX messages_content_trgm ON messages USING gin (content %I.gin_trgm_ops)', ext_schema);
    EXECUTE format('CREATE INDEX wechat_users_remark_trgm ON wechat_users USING gin (remark %I.gin_trgm_ops)', ext_schema);
END
$$;
-- +goose StatementEnd

-- No index on created_at alone, on purpose: with one, the planner may walk
-- all messages newest first looking for a rare text instead of asking the
-- trigram index.
CREATE INDEX messages_openid_created ON messages (openid, created_at);

-- +goose Down
DROP INDEX messages_openid_created;
DROP INDEX wechat_users_remark_trgm;
DROP INDEX messages_content_trgm;
