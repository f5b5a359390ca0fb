package media

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/kfgate/kfgate/internal/kf"
)

// Status is where a media file stands.
type Status string

// The statuses of a media record: queued for download (and being retried),
// stored, or failed for good (the reason says why: expired at WeChat,
// too large, retries used up).
const (
	StatusPending Status = "pending"
	StatusStored  Status = "stored"
	StatusFailed  Status = "failed"
)

// Kind is what a media file is: a user's image, voice, video or
// shortvideo, or the thumbnail of a video.
type Kind string

// The kinds of media kfgate downloads.
const (
	KindImage      Kind = "image"
	KindVoice      Kind = "voice"
	KindVideo      Kind = "video"
	KindShortVideo Kind = "shortvideo"
	KindThumb      Kind = "thumb"
)

// Record is what kfgate knows of one media file: whose it is (account,
// session, user) and whether and how it is stored. The file itself is kept
// once per SHA-256, however many records name it.
type Record struct {
	ID          string    `json:"id"`
	Account     string    `json:"account"`
	MediaID     string    `json:"media_id"`
	Kind        Kind      `json:"kind"`
	Session     string    `json:"session_id,omitempty"`
	OpenID      string    `json:"openid"`
	Status      Status    `json:"status"`
	Attempts    int       `json:"attempts"`
	Error       string    `json:"error,omitempty"`
	SHA256      string    `json:"sha256,omitempty"` // hex
	ContentType string    `json:"content_type,omitempty"`
	Size        int64     `json:"size,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	URL         string    `json:"url"`
}

// Store keeps media records and files: PostgreSQL when the archive is on,
// Redis (with a TTL) otherwise.
type Store interface {
	// Add records a media file to download; it reports false, changing
	// nothing, when the record exists already.
	Add(ctx context.Context, r Record) (bool, error)
	// Get returns a record; a kf not-found error when there is none.
	Get(ctx context.Context, id string) (Record, error)
	// Put stores the file of record id and marks it stored.
	Put(ctx context.Context, id string, data []byte, contentType string, attempts int) error
	// Attempt notes a failed download attempt: still pending, or, with
	// final, failed for good.
	Attempt(ctx context.Context, id string, attempts int, reason string, final bool) error
	// Open returns the file of a stored record.
	Open(ctx context.Context, r Record) ([]byte, error)
}

func notFound(id string) error {
	if len(id) > 64 {
		id = id[:64] + "…"
	}
	return kf.Errorf(kf.KindNotFound, "no_media", "no media %q", id)
}

func sum(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}
