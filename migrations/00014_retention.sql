-- archive.retention (internal/archive/partitions.go, internal/media): what
-- is older than the limit and not in a monthly partition goes by DELETE —
-- sessions by their last activity, notes and media records by their
-- creation — and a media file once no record names it. These indexes find
-- those rows without reading the tables whole.

-- +goose Up
CREATE INDEX sessions_updated ON sessions (updated_at);
CREATE INDEX session_notes_created ON session_notes (created_at);
CREATE INDEX media_created ON media (created_at);
CREATE INDEX media_sha256 ON media (sha256);

-- +goose Down
DROP INDEX media_sha256;
DROP INDEX media_created;
DROP INDEX session_notes_created;
DROP INDEX sessions_updated;
