-- The agents' working tools (package internal/helpdesk) and what kfgate
-- knows of users (package internal/customer).

-- +goose Up
-- Canned replies: global (account '') or of one account; a shortcut is
-- unique within its scope.
CREATE TABLE canned_replies (
    id         text        PRIMARY KEY,
    account    text        NOT NULL DEFAULT '',
    shortcut   text        NOT NULL CHECK (shortcut <> ''),
    title      text        NOT NULL DEFAULT '',
    content    text        NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    UNIQUE (account, shortcut)
);

-- Internal notes on sessions: never sent to the user.
CREATE TABLE session_notes (
    id         text        PRIMARY KEY,
    session_id text        NOT NULL,
    account    text        NOT NULL,
    openid     text        NOT NULL,
    author     text        NOT NULL,
    text       text        NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE INDEX session_notes_session ON session_notes (session_id, created_at);
CREATE INDEX session_notes_user ON session_notes (account, openid, created_at DESC);

-- Labels on sessions, for reports and search.
CREATE TABLE session_labels (
    session_id text        PRIMARY KEY,
    account    text        NOT NULL,
    labels     text[]      NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX session_labels_labels ON session_labels USING gin (labels);

-- Users' WeChat profiles as kfgate last read them (user/info), so that the
-- archive's search finds a user by the account's remark.
CREATE TABLE wechat_users (
    account    text        NOT NULL,
    openid     text        NOT NULL,
    remark     text        NOT NULL DEFAULT '',
    tag_ids    int[]       NOT NULL DEFAULT '{}',
    subscribed boolean     NOT NULL DEFAULT true,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account, openid)
);

-- Who served a user (the API's check that an agent may read a customer).
CREATE INDEX session_transitions_user ON session_transitions (account, openid, agent);

-- +goose Down
DROP INDEX session_transitions_user;
DROP TABLE wechat_users;
DROP TABLE session_labels;
DROP TABLE session_notes;
DROP TABLE canned_replies;
