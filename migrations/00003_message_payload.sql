-- Rich messages (issue 10.2): what a message carries besides its type, text
-- and media id — a picture's PicUrl, a place, a link's title and URL, a
-- voice's Format and Recognition, a video's thumb, a file's or a mini
-- program card's fields, a menu click's key, kfgate's media_url — as the
-- JSON of kf.Rich (internal/kf/item.go). NULL when the message has none.

-- +goose Up
ALTER TABLE messages ADD COLUMN payload jsonb;

-- +goose Down
ALTER TABLE messages DROP COLUMN payload;
