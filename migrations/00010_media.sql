-- Media users sent (package internal/media): one record per WeChat media id
-- of an account, naming the session and user it belongs to and whether its
-- download succeeded; the files themselves once per SHA-256 (a picture sent
-- twice is kept once). Numbered 00010 to leave 00003–00009 to work landing
-- alongside.

-- +goose Up
CREATE TABLE media_files (
    sha256       bytea       PRIMARY KEY CHECK (octet_length(sha256) = 32),
    content_type text        NOT NULL,
    size         bigint      NOT NULL,
    bytes        bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE media (
    id           text        PRIMARY KEY,            -- media.ID(account, media_id)
    account      text        NOT NULL,
    media_id     text        NOT NULL,
    kind         text        NOT NULL,               -- image, voice, video, shortvideo, thumb
    session_id   text        NOT NULL DEFAULT '',
    openid       text        NOT NULL,
    status       text        NOT NULL CHECK (status IN ('pending', 'stored', 'failed')),
    attempts     int         NOT NULL DEFAULT 0,
    error        text        NOT NULL DEFAULT '',
    sha256       bytea       REFERENCES media_files (sha256),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX media_session ON media (session_id);

-- +goose Down
DROP TABLE media;
DROP TABLE media_files;
