package server

import (
	"context"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/stream"
)

// DeadLetters is the dead-letter stream: the entries the engine, the
// outbox or the archive could not handle, for an admin to look at, retry
// or delete.
type DeadLetters interface {
	List(ctx context.Context, after string, limit int) ([]stream.Entry, string, error)
	Retry(ctx context.Context, id string) (string, error)
	Delete(ctx context.Context, id string) error
}

var _ DeadLetters = (*stream.DeadLetter)(nil)

// listDeadLetters returns the dead entries, oldest first, paged by
// ?after=<id>&limit= (default 100, at most 500).
func (s *server) listDeadLetters(w http.ResponseWriter, r *http.Request) {
	var err error
	after := r.URL.Query().Get("after")
	if after != "" && !stream.ValidID(after) {
		err = kf.Errorf(kf.KindInvalid, "bad_query", "after must be a dead-letter id such as 1700000000000-0")
	}
	limit := 100
	if v := r.URL.Query().Get("limit"); err == nil && v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > 500 {
			err = kf.Errorf(kf.KindInvalid, "bad_query", "limit must be 1 to 500")
		}
	}
	var list []stream.Entry
	var next string
	if err == nil {
		list, next, err = s.dead.List(r.Context(), after, limit)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := map[string]any{"deadletters": list}
	if next != "" {
		out["next_after"] = next
	}
	writeJSON(w, http.StatusOK, out)
}

// retryDeadLetter appends the dead entry to its source stream again.
func (s *server) retryDeadLetter(w http.ResponseWriter, r *http.Request) {
	id, err := s.deadID(r)
	var newID string
	if err == nil {
		newID, err = s.dead.Retry(r.Context(), id)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"id": newID})
}

func (s *server) deleteDeadLetter(w http.ResponseWriter, r *http.Request) {
	id, err := s.deadID(r)
	if err == nil {
		err = s.dead.Delete(r.Context(), id)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *server) deadID(r *http.Request) (string, error) {
	id := chi.URLParam(r, "id")
	if !stream.ValidID(id) {
		return "", kf.Errorf(kf.KindInvalid, "bad_id", "a dead-letter id is a stream entry id such as 1700000000000-0")
	}
	return id, nil
}
