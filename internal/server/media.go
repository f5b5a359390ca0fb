package server

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/media"
)

// MediaLibrary is what the API serves users' media from.
type MediaLibrary interface {
	Get(ctx context.Context, id string) (media.Record, error)
	Open(ctx context.Context, r media.Record) ([]byte, error)
	Transcode(ctx context.Context, r media.Record, data []byte, format string) ([]byte, string, error)
}

var _ MediaLibrary = (*media.Library)(nil)

// mayReadSession lets an admin or a supervisor read anything of session
// id, and an agent only a session it serves now or served last (in the
// archive).
func (s *server) mayReadSession(r *http.Request, id string) error {
	if roleOf(r).Sees() {
		return nil
	}
	me := agentOf(r).ID
	if id != "" {
		if sess, err := s.live.Session(r.Context(), id); err == nil && sess.Agent == me {
			return nil
		}
		if s.archive != nil {
			if sess, err := s.archive.Session(r.Context(), id); err == nil && sess.Agent == me {
				return nil
			}
		}
	}
	return kf.Errorf(kf.KindForbidden, "not_your_session", "the session is not yours")
}

// mediaRecord returns the record of the URL's media if the caller may see it.
func (s *server) mediaRecord(r *http.Request) (media.Record, error) {
	rec, err := s.media.Get(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		return media.Record{}, err
	}
	if err := s.mayReadSession(r, rec.Session); err != nil {
		return media.Record{}, err
	}
	return rec, nil
}

// mediaInfo answers GET /api/v1/media/{id}/info: the record, with its
// download status (pending, stored, failed and why).
func (s *server) mediaInfo(w http.ResponseWriter, r *http.Request) {
	rec, err := s.mediaRecord(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"media": rec})
}

// mediaFile answers GET /api/v1/media/{id}: the file as WeChat sent it, or
// a voice message transcoded (?format=mp3|wav, with media.ffmpeg), with
// Range and conditional requests (http.ServeContent), an ETag of its
// SHA-256, and private immutable caching: a media id never changes content.
func (s *server) mediaFile(w http.ResponseWriter, r *http.Request) {
	rec, err := s.mediaRecord(r)
	if err == nil && rec.Status != media.StatusStored {
		msg := "the media is still being downloaded"
		if rec.Status == media.StatusFailed {
			msg = "the media could not be downloaded: " + rec.Error
		}
		err = kf.Errorf(kf.KindConflict, "media_"+string(rec.Status), "%s", msg)
	}
	var data []byte
	if err == nil {
		data, err = s.media.Open(r.Context(), rec)
	}
	ctype, etag := rec.ContentType, rec.SHA256
	if format := r.URL.Query().Get("format"); err == nil && format != "" {
		data, ctype, err = s.media.Transcode(r.Context(), rec, data, format)
		etag += "-" + format
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("ETag", `"`+etag+`"`)
	h.Set("Cache-Control", "private, max-age=31536000, immutable")
	h.Set("X-Content-Type-Options", "nosniff")
	// A file from a user is shown, never run: no scripts even if it
	// claims to be HTML or SVG.
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'")
	h.Set("Content-Disposition", `inline; filename="`+rec.ID+extension(ctype)+`"`)
	http.ServeContent(w, r, "", rec.UpdatedAt.Truncate(time.Second), bytes.NewReader(data))
}

// extension names a file of the content type.
func extension(ctype string) string {
	switch {
	case ctype == "image/jpeg":
		return ".jpg"
	case ctype == "audio/amr":
		return ".amr"
	case ctype == "audio/mpeg":
		return ".mp3"
	case strings.Contains(ctype, "/"):
		sub := ctype[strings.Index(ctype, "/")+1:]
		if i := strings.IndexAny(sub, ";+ "); i >= 0 {
			sub = sub[:i]
		}
		if sub != "" && len(sub) <= 8 && !strings.ContainsAny(sub, `"\`) {
			return "." + sub
		}
	}
	return ""
}
